"""hopjax: hierarchical opponent modelling and planning for multi-agent RL, in JAX.

Fixed-shape episode pytrees with explicit ``filled``/``alive`` masks replace PyMARL's dynamic
trimming, so rollout, opponent models, PPO updates and planning all jit once and vmap.
"""

__version__ = "0.1.0"
