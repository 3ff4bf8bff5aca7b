"""The algorithms: :mod:`hopjax.algos.ppo` (multi-policy PPO with optional opponent models) and
:mod:`hopjax.algos.hop` (HOP). Importing this package does not import JAX."""
