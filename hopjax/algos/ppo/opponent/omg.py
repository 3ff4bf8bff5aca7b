"""OMG as a PPO opponent model: subgoal inference (Yu, Jiang, Lu, "Opponent Modeling based on
Subgoal Inference", NeurIPS 2024), its agent model OMG_AM and a goal probe; the networks are in
:mod:`hopjax.models.omg`.

``annotate`` picks each step's hindsight subgoal (written to the batch's ``subgoal`` field, for
logging) and may swap the policy's inferred subgoal for it with an annealed probability epsilon.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from hopjax.algos.ppo.opponent.base import ReplayOpponentModel
from hopjax.algos.ppo.opponent.registry import register
from hopjax.buffers.episode import Field
from hopjax.buffers.layout import time_major
from hopjax.buffers.masked import masked_mean
from hopjax.models import omg as omg_lib


@struct.dataclass
class OMGCarry:
    """OMG's rollout-time state, leading env axis E.

    h [E, N, N-1, GRU] float32: inference GRU per (focal, co-player slot);
    prev_actions [E, N] int32: the joint action of the previous step (-1 at an episode start).
    """

    h: jax.Array
    prev_actions: jax.Array


@register("omg")
class OMGModel(ReplayOpponentModel):
    """OMG subgoal inference + OMG_AM + goal probe (see :mod:`hopjax.models.omg`)."""

    def __init__(self, cfg, env, env_params, learner_mask, T):
        super().__init__(cfg, env, env_params, learner_mask, T)
        om = cfg.opponent_model
        # The goal probe's classes: located targets, one per grid cell, plus none (see _heads).
        self.num_cells = int(np.prod(self.obs_shape[:2]))
        self.spec = omg_lib.OMGSpec(self.n, self.obs_dim, self.num_actions, self.num_cells,
                                    om.hidden, om.gru, om.omg.subgoal_dim)
        self.extra_dim = self.spec.extra_dim
        self.net = omg_lib.OMGNet(self.spec)

    def batch_fields(self):
        # Chosen subgoal per (focal, co-player slot, step): absolute step index, -1 for none.
        return {"subgoal": Field((self.n - 1,), jnp.int32, "agents")}

    def init_params(self, key):
        return omg_lib.init_omg(self.spec, key)

    def carry_init(self, num_envs):
        n = self.n
        return OMGCarry(jnp.zeros((num_envs, n, n - 1, self.spec.gru)), jnp.full((num_envs, n), -1, jnp.int32))

    def pre(self, params, c, obs, reset):
        n, e = self.n, obs.shape[0]
        prev = jnp.where(reset[:, None], -1, c.prev_actions)
        o = jnp.broadcast_to(self.flat(obs)[:, :, None], (e, n, n - 1, self.obs_dim))
        slot = jnp.broadcast_to(jnp.arange(n - 1), (e, n, n - 1))
        r = jnp.broadcast_to(reset[:, None, None], slot.shape)
        h, mu, _ = self.net.apply(params, c.h, o, omg_lib.pair_take(prev, n, 1), slot, r,
                                  method=omg_lib.OMGNet.infer)
        return OMGCarry(h, prev), mu.reshape(e, n, self.extra_dim)

    def post(self, params, c, obs, actions, reset):
        return OMGCarry(c.h, actions.astype(jnp.int32))

    # -- selection ----------------------------------------------------------------------
    def policy_values(self, policy_params, obs, extras, cands):
        """Focal values under candidate subgoal inputs.

        obs [T, B, N, *obs_shape]; extras [T, B, N, X] (what the policy saw, sets the recurrent
        state); cands [C, T, B, N, X] -> values [C, T, B, N]. Episodes start at t = 0.
        """
        pol = self.policy
        t, b = obs.shape[:2]
        reset = jnp.broadcast_to((jnp.arange(t) == 0)[:, None], (t, b))
        if pol.gru_size == 0:
            h = pol.initial_hidden((t, b))
        else:
            def step(hh, inp):
                o, r, x = inp
                return pol.apply(policy_params, hh, o, r, x)[0], hh

            _, h = jax.lax.scan(step, pol.initial_hidden((b,)), (obs, reset, extras))
        return jax.lax.map(lambda x: pol.apply(policy_params, h, obs, reset, x)[2], cands)

    def select(self, params, policy_params, d, base):
        """Hindsight subgoals for every (step, focal, co-player slot) of time-major episodes.

        d: time-major fields; base [T, B, N, N-1, D] the subgoal inputs the policy saw.
        -> dict offset/found [T, B, N, N-1], prior mu/logvar [T, B, N, N-1, D] of the
        co-player's observation at the chosen step (the subgoal state).
        """
        n, T, H = self.n, self.T, self.cfg.opponent_model.omg.horizon
        obs_j = omg_lib.pair_take(self.flat(d["obs"]), n, 2)  # [T+1, B, N, N-1, S]
        pm, plv = self.net.apply(params, obs_j, method=omg_lib.OMGNet.prior)
        valid_j = omg_lib.pair_take(d["valid"], n, 2)  # co-player valid at each step
        cand_valid = omg_lib.future_candidates(valid_j, H)  # [T, H, B, N, N-1]
        pad = jnp.zeros((H, *pm.shape[1:]), pm.dtype)
        pm_pad = jnp.concatenate([pm, pad], 0)
        fut = jnp.stack([pm_pad[1 + k : T + 1 + k] for k in range(H)], 0)  # [H, T, B, N, N-1, D]
        eye = jnp.eye(n - 1, dtype=bool)

        def cand(kr):
            k, r = kr
            g = jnp.take(jnp.take(fut, k, axis=0), r, axis=3)  # [T, B, N, D]
            x = jnp.where(eye[r][:, None], g[..., None, :], base)
            return x.reshape(*base.shape[:3], self.extra_dim)

        ks, rs = np.meshgrid(np.arange(H), np.arange(n - 1), indexing="ij")
        kr = (jnp.asarray(ks.reshape(-1)), jnp.asarray(rs.reshape(-1)))
        cands = jax.vmap(cand)(kr)  # [H*(N-1), T, B, N, X]
        v = self.policy_values(policy_params, d["obs"][:T], base.reshape(*base.shape[:3], -1), cands)
        v = v.reshape(H, n - 1, *v.shape[1:])  # [H, N-1, T, B, N]
        values = jnp.transpose(v, (2, 0, 3, 4, 1))  # [T, H, B, N, N-1]
        offset, found = omg_lib.select_subgoal(values, cand_valid, self.cfg.opponent_model.omg.mode)
        return {
            "offset": offset,
            "found": found,
            "prior_mu": omg_lib.gather_future(pm, offset),
            "prior_logvar": omg_lib.gather_future(plv, offset),
        }

    def _masks(self, d):
        T, n = self.T, self.n
        focal = self.focal(d["valid"][:T])  # [T, B, N]
        coplayer = omg_lib.pair_take(d["valid"][:T], n, 2)  # [T, B, N, N-1]
        return focal[..., None] & coplayer

    def _heads(self, params, d, mu, mask):
        """OMG_AM and goal-probe losses/accuracies on stop-gradient subgoals."""
        T, n = self.T, self.n
        g = jax.lax.stop_gradient(mu)
        obs_pair = jnp.broadcast_to(self.flat(d["obs"][:T])[:, :, :, None], (*mu.shape[:-1], self.obs_dim))
        am_logits = self.net.apply(params, obs_pair, g, method=omg_lib.OMGNet.agent_model)
        am_target = omg_lib.pair_take(d["actions"][:T], n, 2)
        goal = jnp.where(d["valid"][:T], d["goal"][:T], -1)  # padding holds no goals
        # A goal is a located target: the cell the agent stands on when it achieves it (it
        # interacts on the target's cell), read from its own position channel (channel 0 of
        # its egocentric observation, hopjax.envs._grid.build_obs). Entity indices carry no
        # location (same-kind targets share one channel in random order).
        cell = jnp.argmax(d["obs"][:T, ..., 0].reshape(*goal.shape, -1), axis=-1)
        located = jnp.where(goal >= 0, cell, -1)
        labels = omg_lib.pair_take(omg_lib.next_goal_labels(located, self.num_cells), n, 2)
        probe_logits = self.net.apply(params, obs_pair, g, method=omg_lib.OMGNet.probe)
        am_loss, am_acc = omg_lib.masked_xent(am_logits, am_target, mask)
        pr_loss, pr_acc = omg_lib.masked_xent(probe_logits, labels, mask)
        return am_loss, am_acc, pr_loss, pr_acc, am_target, labels

    def loss(self, params, policy_params, ep, key):
        cfg, T = self.cfg, self.T
        d = time_major(ep)
        obs_f = self.flat(d["obs"])
        hs, mu, lv = omg_lib.unroll_inference(self.spec, params, obs_f[:T], d["actions"][:T])
        mask = self._masks(d)
        sel = jax.lax.stop_gradient(self.select(params, policy_params, d, jax.lax.stop_gradient(mu)))
        # One flat draw for both reparameterisations (each threefry call site costs compile time).
        noise = jax.random.normal(key, (mu.size + obs_f.shape[0] * mu.shape[1] * self.n * mu.shape[-1],))
        g = mu + jnp.exp(0.5 * lv) * noise[: mu.size].reshape(mu.shape)
        recon = self.net.apply(params, g, hs, method=omg_lib.OMGNet.decode)
        m = mask & sel["found"]
        # Reconstruct the co-player's current state; the selected subgoal enters through the prior.
        current = omg_lib.pair_take(obs_f[:T], self.n, 2)
        elbo, nll, kl = omg_lib.elbo_terms(mu, lv, recon, current, sel["prior_mu"],
                                           sel["prior_logvar"], m, cfg.opponent_model.omg.kl_weight)
        # The prior VAE: its own ELBO on every valid observation.
        pmu, plv = self.net.apply(params, obs_f, method=omg_lib.OMGNet.prior)
        z = pmu + jnp.exp(0.5 * plv) * noise[mu.size :].reshape(pmu.shape)
        prec = self.net.apply(params, z, method=omg_lib.OMGNet.prior_decode)
        zeros = jnp.zeros_like(pmu)
        prior_loss, _, _ = omg_lib.elbo_terms(pmu, plv, prec, obs_f, zeros, zeros, d["valid"],
                                              cfg.opponent_model.omg.prior_kl_weight)
        am_loss, am_acc, pr_loss, pr_acc, _, _ = self._heads(params, d, mu, mask)
        total = elbo + prior_loss + am_loss + pr_loss
        return total, {
            "omg_loss": total, "omg_recon": nll, "omg_kl": kl, "omg_prior_loss": prior_loss,
            "omg_am_loss": am_loss, "omg_probe_loss": pr_loss,
        }

    def epsilon(self, update):
        cfg = self.cfg
        if cfg.opponent_model.omg.eps_start <= 0.0:
            return jnp.zeros(())
        frac = 1.0 - update.astype(jnp.float32) / max(cfg.opponent_model.omg.eps_updates, 1)
        return cfg.opponent_model.omg.eps_start * jnp.clip(frac, 0.0, 1.0)

    def annotate(self, params, policy_params, batch, key, update):
        T, n, D = self.T, self.n, self.spec.subgoal_dim
        d = time_major(batch)
        base = d["extra"][:T]
        base = base.reshape(*base.shape[:3], n - 1, D)  # [T, E, N, N-1, D]
        sel = self.select(params, policy_params, d, base)
        mask = self._masks(d)
        # Logging: the chosen subgoal step (absolute index; -1 none), written to the batch.
        step = jnp.arange(T).reshape(T, 1, 1, 1) + sel["offset"]
        chosen = jnp.where(mask & sel["found"], step, -1).astype(jnp.int32)
        chosen = jnp.concatenate([chosen, jnp.full((1, *chosen.shape[1:]), -1, jnp.int32)], 0)
        data = dict(batch.data)
        data["subgoal"] = jnp.swapaxes(chosen, 0, 1)
        batch = batch.replace(data=data)
        # Epsilon-mixing: the policy sees the selected subgoal instead of the inferred one.
        eps = self.epsilon(update)
        swap = (omg_lib.flat_random(jax.random.uniform, key, mask.shape) < eps) & mask & sel["found"]
        mixed = jnp.where(swap[..., None], sel["prior_mu"], base)
        # Accuracy on these (not yet trained on) episodes; the policy saw `base` (inferred mean).
        _, am_acc, _, pr_acc, am_t, labels = self._heads(params, d, base, mask)
        found_m = mask & sel["found"]
        metrics = {
            "omg_goal_acc": pr_acc,
            "omg_goal_baseline": omg_lib.majority_baseline(labels, mask, self.num_cells + 1),
            "omg_am_acc": am_acc,
            "omg_am_baseline": omg_lib.majority_baseline(am_t, mask, self.num_actions),
            "omg_subgoal_found": masked_mean(sel["found"].astype(jnp.float32), mask),
            "omg_subgoal_offset": masked_mean(sel["offset"].astype(jnp.float32), found_m),
            "omg_epsilon": eps,
        }
        return batch, mixed.reshape(*base.shape[:3], self.extra_dim), None, metrics
