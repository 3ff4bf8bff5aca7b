"""Evaluating a trained PPO-family policy: one function for every evaluation protocol.

:func:`play_policy` plays one episode in each of E envs with the trained policy (and its
opponent model, if any) in the learner seats and the given scripted co-players elsewhere, on
the same :class:`~hopjax.rollout.Rollout` as training. ``hopjax eval`` on a PPO run
(:func:`hopjax.experiment.evaluate`) and the few-shot adaptation protocol
(:func:`hopjax.adaptation.policy_adaptation`) both call it.
"""

from __future__ import annotations

from typing import Any, Callable

import jax

from hopjax.rollout import Rollout


def play_policy(trainer: Any, runner: Any, num_envs: int, scripted: dict[int, Callable],
                k_reset: jax.Array, k_run: jax.Array):
    """One episode per env from fresh resets (key ``k_reset``), played with key ``k_run``.

    trainer: a :class:`hopjax.algos.ppo.trainer.Trainer` (its env, policy and opponent-model
    hook); runner: its RunnerState (``params``, ``om``); scripted: seat -> scripted policy.
    Jittable (build it inside a jitted function). -> (batch [E, T+1, ...], stats as
    :meth:`Rollout.run`).
    """
    hook = getattr(trainer.rollout, "om_hook", None)
    kwargs = {} if hook is None else dict(om_hook=hook, extra_fields=trainer.om.batch_fields())
    ro = Rollout(trainer.env, trainer.env_params, trainer.policy, num_envs, 0, scripted,
                 sparse_obs=trainer.cfg.sparse_rollout, **kwargs)
    om_params = None if hook is None else runner.om.params
    _, batch, stats = ro.run(k_run, runner.params, ro.reset(k_reset), om_params=om_params)
    return batch, stats
