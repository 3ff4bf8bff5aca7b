"""Multi-policy PPO: ``PPOConfig`` (:mod:`.config`, JAX-free), the masked loss (:mod:`.loss`),
masked GAE (:mod:`.gae`), the trainer (:mod:`.trainer`) and the opponent models behind one
protocol (:mod:`.opponent`).

Importing this package does not import JAX: ``Trainer``, ``RunnerState`` and ``make_train`` are
loaded from :mod:`.trainer` on first access.
"""

from hopjax.algos.ppo.config import LEARNER, PPOConfig

_LAZY = {"Trainer", "RunnerState", "make_train"}

__all__ = ["LEARNER", "PPOConfig", *sorted(_LAZY)]


def __getattr__(name: str):
    if name in _LAZY:
        from hopjax.algos.ppo import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
