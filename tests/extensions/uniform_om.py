"""A whole new opponent model in one file, outside the package: ``opponent_model: {kind: uniform}``.

It predicts every co-player's next action from one learned logit vector ``[A]`` shared by all
steps (uniform at initialisation), i.e. the empirical action frequencies of the co-players in
the replay buffer. The policy sees the prediction ``[N-1, A]`` per learner seat as its
``extra`` input. Importing this module registers it; nothing in hopjax changes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hopjax.algos.ppo.opponent import register
from hopjax.algos.ppo.opponent.base import ReplayOpponentModel
from hopjax.buffers.layout import time_major
from hopjax.buffers.masked import masked_mean
from hopjax.models.omg import pair_take


@register("uniform")
class UniformModel(ReplayOpponentModel):
    """Co-player actions ~ softmax(logits), logits [A] float32 (our test model)."""

    def __init__(self, cfg, env, env_params, learner_mask, T):
        super().__init__(cfg, env, env_params, learner_mask, T)
        self.extra_dim = (self.n - 1) * self.num_actions

    def init_params(self, key):
        return {"logits": jnp.zeros((self.num_actions,), jnp.float32)}

    def carry_init(self, num_envs):
        return None  # stateless within an episode

    def _extra(self, params, lead):
        probs = jax.nn.softmax(params["logits"])
        return jnp.broadcast_to(jnp.tile(probs, self.n - 1), (*lead, len(self.seats), self.extra_dim))

    def pre(self, params, c, obs, reset):
        return c, self._extra(params, obs.shape[:1])

    def post(self, params, c, obs, actions, reset):
        return c

    def _xent(self, params, d):
        """Cross-entropy and accuracy of the prediction on the co-players' valid actions."""
        T = self.T
        targets = pair_take(d["actions"][:T], self.n, 2)  # [T, B, N, N-1]
        mask = self.focal(d["valid"][:T])[..., None] & pair_take(d["valid"][:T], self.n, 2)
        logp = jax.nn.log_softmax(params["logits"])
        loss = -masked_mean(logp[targets], mask)
        acc = masked_mean((targets == jnp.argmax(logp)).astype(jnp.float32), mask)
        return loss, acc

    def loss(self, params, policy_params, ep, key):
        loss, _ = self._xent(params, time_major(ep))
        return loss, {"uniform_loss": loss}

    def annotate(self, params, policy_params, batch, key, update):
        d = time_major(batch)
        _, acc = self._xent(params, d)
        return batch, None, None, {"uniform_acc": acc}  # PPO reads the policy input from the batch
