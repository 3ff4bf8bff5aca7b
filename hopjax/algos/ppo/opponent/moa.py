"""MOA as a PPO opponent model: next-action prediction of the co-players and the optional
social-influence reward (Jaques et al., "Social Influence as Intrinsic Motivation for
Multi-Agent Deep RL", ICML 2019, sections 2.1 and 2.3); the network is in :mod:`hopjax.models.moa`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from hopjax.algos.ppo.opponent.base import ReplayOpponentModel
from hopjax.algos.ppo.opponent.registry import register
from hopjax.buffers.layout import time_major
from hopjax.buffers.masked import masked_mean, select
from hopjax.models import moa as moa_lib
from hopjax.models import omg as omg_lib
from hopjax.models.policy import masked_categorical


@struct.dataclass
class MOACarry:
    """MOA's rollout-time state, leading env axis E.

    h [E, L, GRU] float32: the action-prediction GRU of each of the L learners; probs
    [E, L, N-1, A] float32: predicted distribution of their co-players' actions at the current
    step (uniform at an episode start).
    """

    h: jax.Array
    probs: jax.Array


@register("moa")
class MOAModel(ReplayOpponentModel):
    """MOA next-action prediction + optional social-influence reward (:mod:`hopjax.models.moa`)."""

    def __init__(self, cfg, env, env_params, learner_mask, T):
        super().__init__(cfg, env, env_params, learner_mask, T)
        om = cfg.opponent_model
        self.spec = moa_lib.MOASpec(self.n, self.obs_dim, self.num_actions, om.hidden, om.gru)
        self.extra_dim = self.spec.extra_dim
        self.net = moa_lib.MOANet(self.spec, self.seats)

    def init_params(self, key):
        return moa_lib.init_moa(self.spec, key)

    def carry_init(self, num_envs):
        n, a, l = self.n, self.num_actions, len(self.seats)
        return MOACarry(jnp.zeros((num_envs, l, self.spec.gru), jnp.float32),
                       jnp.full((num_envs, l, n - 1, a), 1.0 / a, jnp.float32))

    def pre(self, params, c, obs, reset):
        a = self.num_actions
        h = jnp.where(reset[:, None, None], 0.0, c.h)
        probs = jnp.where(reset[:, None, None, None], 1.0 / a, c.probs)
        return MOACarry(h, probs), probs.reshape(obs.shape[0], len(self.seats), self.extra_dim)

    def post(self, params, c, obs, actions, reset):
        h, logits = self.net.apply(params, c.h, self.flat(self.of_seats(obs, 1)), actions.astype(jnp.int32))
        return MOACarry(h, jax.nn.softmax(logits))

    def _unroll(self, params, d):
        T = self.T
        h_prev, logits = moa_lib.unroll_moa(self.spec, params, self.flat(d["obs"][:T]), d["actions"][:T], self.seats)
        targets, mask = moa_lib.moa_targets(d["actions"][:T], d["valid"][:T], self.n, self.seats)
        return h_prev, logits, targets, mask

    def loss(self, params, policy_params, ep, key):
        _, logits, targets, mask = self._unroll(params, time_major(ep))
        loss, _ = moa_lib.moa_loss(logits, targets, mask)
        return loss, {"moa_loss": loss}

    def _metrics(self, logits, targets, mask):
        _, acc = moa_lib.moa_loss(logits, targets, mask)
        return {"moa_acc": acc, "moa_baseline": omg_lib.majority_baseline(targets, mask, self.num_actions)}

    def annotate(self, params, policy_params, batch, key, update):
        """-> (batch, None (PPO reads the policy input from the batch: MOA does not change it),
        influence bonus [T, E, N] or None, metrics). Without the influence reward (static
        ``influence_coef`` 0) only the metrics read the model's unroll, and they are measured on
        the first ``opponent_model.moa.diagnostic_episodes`` fresh episodes (with at most that
        many envs: all, as before)."""
        T = self.T
        coef = self.cfg.opponent_model.moa.influence_coef
        if coef <= 0:
            k = min(batch.batch_size, self.cfg.opponent_model.moa.diagnostic_episodes)
            _, logits, targets, mask = self._unroll(params, time_major(jax.tree.map(lambda x: x[:k], batch)))
            return batch, None, None, self._metrics(logits, targets, mask)
        d = time_major(batch)
        h_prev, logits, targets, mask = self._unroll(params, d)
        metrics = self._metrics(logits, targets, mask)
        # the learners' rows as the policy saw them, 0 where invalid (like every per-agent field)
        extra = select(self.of_seats(d["valid"][:T], 2), d["extra"][:T]) if self.policy.extra_dim else None
        pl = self.learner_logits(policy_params, batch.data["hidden0"], d["obs"][:T], d["reset"][:T], extra)
        probs = jax.nn.softmax(masked_categorical(pl, self.of_seats(d["avail_actions"][:T], 2)).logits)
        infl = moa_lib.social_influence(self.spec, params, h_prev, self.flat(self.of_seats(d["obs"][:T], 2)),
                                        d["actions"][:T], probs, mask, self.seats)
        focal = self.of_seats(d["valid"][:T], 2)  # [T, E, L]: the learners (all are focal)
        infl = jnp.where(focal, infl, 0.0)
        metrics["moa_influence"] = masked_mean(infl, focal)
        return batch, None, coef * self.to_seats(infl, axis=2), metrics
