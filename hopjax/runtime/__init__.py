"""The host side: experiment (progress, CSV, checkpoints, resume, sweeps), run dirs,
checkpoints, the device mesh, evaluation and adaptation, plots and the ``hopjax`` command.
Everything here drives :class:`hopjax.loop.Loop`; nothing below imports it."""
