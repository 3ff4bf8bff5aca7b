"""HOP (Huang et al., "Efficient Adaptation in Mixed-Motive Environments via Hierarchical
Opponent Modeling and Planning", ICML 2024): ``HOPConfig`` (:mod:`.config`, JAX-free), beliefs
(:mod:`.beliefs`), the MCTS planner (:mod:`.planner`), losses (:mod:`.losses`) and the trainer
(:mod:`.trainer`).

Importing this package does not import JAX: ``HOPTrainer`` and ``HOPState`` are loaded from
:mod:`.trainer` on first access.
"""

from hopjax.algos.hop.config import HOPConfig

_LAZY = {"HOPTrainer", "HOPState"}

__all__ = ["HOPConfig", *sorted(_LAZY)]


def __getattr__(name: str):
    if name in _LAZY:
        from hopjax.algos.hop import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
