"""Shared fixtures: one tiny PPO trainer per session, so its chunk compiles once for all tests."""

import pytest

from hopjax.algos.ppo import PPOConfig

TINY_ENV = dict(height=4, width=4, num_walls=0, max_steps=10)
TINY = PPOConfig(
    name="tiny", env_kwargs=TINY_ENV, num_envs=8, num_minibatches=2, hidden_sizes=(32,),
    total_steps=8 * 10 * 8, chunk_updates=2, lr=3e-3, anneal_lr=False,
)


@pytest.fixture(scope="session")
def tiny_trainer():
    from hopjax.train import Trainer

    return Trainer(TINY)
