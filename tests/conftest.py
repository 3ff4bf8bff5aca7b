"""Shared tiny configs and session fixtures: each tiny trainer (and its chunk) compiles once for
all the tests that use it, the golden set (tests/golden) included."""

import dataclasses
import functools
import signal

import pytest

from hopjax.algos.hop import HOPConfig
from hopjax.algos.ppo import PPOConfig
from hopjax.algos.ppo.config import MOAConfig, OMGConfig, OpponentModelConfig, PPOUpdateConfig

# ------------------------------------------------------------------ PPO
TINY_ENV = dict(height=4, width=4, num_walls=0, max_steps=10)
TINY = PPOConfig(
    name="tiny", env_kwargs=TINY_ENV, num_envs=8, hidden_sizes=(32,), total_steps=8 * 10 * 8,
    chunk_updates=2, ppo=PPOUpdateConfig(num_minibatches=2, lr=3e-3, anneal_lr=False),
)
TINY_SCRIPTED = dataclasses.replace(TINY, name="tiny_scripted", agents=("learner", "stag", "hare", "random"))
# GRU + fixed-length segments across episode boundaries (auto-reset), one shared network
TINY_GRU = dataclasses.replace(TINY, name="tiny_gru", gru_size=8, rollout_length=7, shared_params=True,
                               total_steps=8 * 7 * 4)

# ------------------------------------------------------------------ PPO + opponent model
OM_ENVS, OM_STEPS, OM_CHUNK = 16, 10, 5
OMG = PPOConfig(
    name="tiny_omg", env_kwargs=dict(height=4, width=4, num_walls=0, num_hares=1, max_steps=OM_STEPS),
    agents=("learner", "stag", "hare", "stag"), num_envs=OM_ENVS, hidden_sizes=(32,),
    total_steps=OM_ENVS * OM_STEPS * OM_CHUNK * 16, chunk_updates=OM_CHUNK,
    ppo=PPOUpdateConfig(num_minibatches=2, lr=3e-3, anneal_lr=False),
    opponent_model=OpponentModelConfig(
        kind="omg", hidden=64, gru=32, lr=3e-3, omg=OMGConfig(subgoal_dim=16, horizon=3),
        # the first chunk (5 updates x 16 episodes = 80) stays below can_sample(96)
        buffer_capacity=96, min_episodes=96, batch_episodes=16, train_steps=8),
)
MOA = dataclasses.replace(
    OMG, name="tiny_moa", total_steps=OM_ENVS * OM_STEPS * OM_CHUNK * 6,
    opponent_model=dataclasses.replace(OMG.opponent_model, kind="moa", min_episodes=32,
                                       moa=MOAConfig(influence_coef=0.05)))

# ------------------------------------------------------------------ HOP
TINY_HOP = HOPConfig(
    name="tiny_hop", env_kwargs=dict(height=4, width=4, num_walls=0, max_steps=8), num_envs=4,
    num_simulations=4, num_trees=1, hidden_sizes=(32,), buffer_episodes=16, batch_episodes=8,
    sgd_steps=2, chunk_updates=2, total_steps=4 * 8 * 4, lr=3e-3,
)
# Functions that compile big (a tree search inside) but run little in these tests: XLA's
# cheaper backend optimisation compiles about 3x faster and changes no result they check
# (it does change float rounding: the golden set records HOP under it).
QUICK_COMPILE = {"xla_backend_optimization_level": 0}


@functools.cache
def loop_of(trainer):
    """The :class:`hopjax.loop.Loop` of ``trainer`` (no mesh), one per trainer object, so that
    its chunk compiles once for all the tests that share the trainer."""
    from hopjax.loop import Loop

    return Loop(trainer)


@functools.cache
def quick_loop(trainer):
    """The Loop of ``trainer`` jitted with QUICK_COMPILE, one per trainer object."""
    from hopjax.loop import Loop

    return Loop(trainer, compiler_options=QUICK_COMPILE)


def quick_chunk(trainer):
    """``trainer``'s chunk (the same function as ``loop_of(trainer).chunk``) jitted with
    QUICK_COMPILE, one per trainer object."""
    return quick_loop(trainer).chunk


def _ppo(cfg):
    from hopjax.algos.ppo.trainer import Trainer

    return Trainer(cfg)


@pytest.fixture(scope="session")
def tiny_trainer():
    return _ppo(TINY)


@pytest.fixture(scope="session")
def tiny_scripted_trainer():
    return _ppo(TINY_SCRIPTED)


@pytest.fixture(scope="session")
def tiny_gru_trainer():
    return _ppo(TINY_GRU)


@pytest.fixture(scope="session")
def omg_trainer():
    return _ppo(OMG)


@pytest.fixture(scope="session")
def moa_trainer():
    return _ppo(MOA)


@pytest.fixture(scope="session")
def hop_trainer():
    from hopjax.algos.hop import HOPTrainer

    return HOPTrainer(TINY_HOP)


@pytest.fixture(scope="session")
def hop_chunk(hop_trainer):
    return quick_chunk(hop_trainer)


@pytest.fixture
def default_sigint():
    """Ctrl-C raising KeyboardInterrupt, as in a terminal, whatever this process inherited
    (a job started in the background ignores SIGINT); restored afterwards."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)
