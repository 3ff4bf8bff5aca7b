"""OMG as a PPO opponent model: subgoal inference (Yu, Jiang, Lu, "Opponent Modeling based on
Subgoal Inference", NeurIPS 2024), its agent model OMG_AM and a goal probe; the networks are in
:mod:`hopjax.models.omg`.

``annotate`` may swap the policy's inferred subgoal for the step's hindsight subgoal with an
annealed probability epsilon (only then does it select subgoals; the training loss selects them on
its replayed episodes and logs ``omg_subgoal_found`` / ``omg_subgoal_offset``), and measures
OMG_AM's and the goal probe's accuracies on fresh episodes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from hopjax.algos.ppo.opponent.base import ReplayOpponentModel
from hopjax.algos.ppo.opponent.registry import register
from hopjax.buffers.layout import time_major
from hopjax.buffers.masked import masked_mean, select
from hopjax.buffers.obs import TIME, decode
from hopjax.models import omg as omg_lib
from hopjax.models.policy import _ACTIVATIONS, ActorCritic


@struct.dataclass
class OMGCarry:
    """OMG's rollout-time state, leading env axis E.

    h [E, L, N-1, GRU] float32: inference GRU per (learner, co-player slot);
    prev_actions [E, N] int32: the joint action of the previous step (-1 at an episode start).
    """

    h: jax.Array
    prev_actions: jax.Array


def _rest_params(params):
    """ActorCritic parameters without its first hidden layer: those of an ActorCritic with
    ``hidden_sizes[1:]`` (flax names the Dense layers in call order, so ``Dense_i`` becomes
    ``Dense_{i-1}``)."""
    out = {}
    for name, v in params["params"].items():
        if name.startswith("Dense_"):
            i = int(name.split("_")[1])
            if i > 0:
                out[f"Dense_{i - 1}"] = v
        else:
            out[name] = v
    return {"params": out}


@register("omg")
class OMGModel(ReplayOpponentModel):
    """OMG subgoal inference + OMG_AM + goal probe (see :mod:`hopjax.models.omg`).

    Only the L learner seats (``self.seats``) model their co-players: scripted seats never see
    the subgoals, so their pairs are neither inferred, selected nor trained on."""

    def __init__(self, cfg, env, env_params, learner_mask, T):
        super().__init__(cfg, env, env_params, learner_mask, T)
        om = cfg.opponent_model
        # The goal probe's classes: located targets, one per grid cell, plus none (see _heads).
        self.num_cells = int(np.prod(self.obs_shape[:2]))
        self.spec = omg_lib.OMGSpec(self.n, self.obs_dim, self.num_actions, self.num_cells,
                                    om.hidden, om.gru, om.omg.subgoal_dim)
        self.extra_dim = self.spec.extra_dim
        self.net = omg_lib.OMGNet(self.spec)
        # The seats some learner models (its co-players), and each pair's row among them.
        pairs = omg_lib.coplayers(self.n, self.seats)  # [L, N-1]
        self.coseats = np.unique(pairs)
        self.pair_rows = np.searchsorted(self.coseats, pairs)  # [L, N-1] indices into coseats

    def init_params(self, key):
        return omg_lib.init_omg(self.spec, key)

    def carry_init(self, num_envs):
        n = self.n
        return OMGCarry(jnp.zeros((num_envs, len(self.seats), n - 1, self.spec.gru)),
                        jnp.full((num_envs, n), -1, jnp.int32))

    def pre(self, params, c, obs, reset):
        n, l, e = self.n, len(self.seats), obs.shape[0]
        prev = jnp.where(reset[:, None], -1, c.prev_actions)
        o = self.flat(self.of_seats(obs, 1))[:, :, None]  # [E, L, 1, S]: embedded once per focal
        slot = jnp.broadcast_to(jnp.arange(n - 1), (e, l, n - 1))
        r = jnp.broadcast_to(reset[:, None, None], slot.shape)
        h, mu, _ = self.net.apply(params, c.h, o, omg_lib.pair_take(prev, n, 1, self.seats), slot, r,
                                  method=omg_lib.OMGNet.infer)
        return OMGCarry(h, prev), mu.reshape(e, l, self.extra_dim)

    def post(self, params, c, obs, actions, reset):
        return OMGCarry(c.h, actions.astype(jnp.int32))

    # -- selection ----------------------------------------------------------------------
    def _seat_apply(self, p, h, x, reset, net=None):
        """The learners' policy nets on inputs ``x`` [..., L, in] (leading axes any)."""
        pol = self.policy
        net = pol.net if net is None else net
        if pol.shared:
            return net.apply(p, h, x, reset)
        ax = x.ndim - 2
        reset = jnp.broadcast_to(reset, x.shape[:-1])
        return jax.vmap(net.apply, in_axes=(0, ax, ax, ax), out_axes=ax)(p, h, x, reset)

    def candidate_values(self, policy_params, obs, base, fut):
        """The learners' values under each candidate subgoal.

        obs [T, B, N, *obs_shape]; base [T, B, L, N-1, D] (the subgoal inputs the policy saw:
        they set its recurrent state and every slot but the candidate's); fut [H, T, B, L, N-1, D]
        (candidate ``k`` of slot ``r``) -> values [T, H, B, L, N-1]. Episodes start at t = 0.
        A candidate changes one slot's block of the input, so the first layer's pre-activation
        is computed once for ``base`` and each candidate adds only that block's product
        (``(g - base_r) W_r``); the rest of the network runs per candidate.
        """
        pol, seats, n = self.policy, jnp.asarray(self.seats), self.n
        t, b, l = base.shape[:3]
        p = policy_params if pol.shared else jax.tree.map(lambda x: x[seats], policy_params)
        parts = [self.flat(self.of_seats(obs, 2)).astype(jnp.float32), base.reshape(t, b, l, -1)]
        if pol.shared:
            parts.append(jnp.broadcast_to(jnp.eye(n, dtype=jnp.float32)[seats], (t, b, l, n)))
        x = jnp.concatenate(parts, -1)  # [T, B, L, in]
        reset = jnp.broadcast_to((jnp.arange(t) == 0)[:, None, None], (t, b, l))
        h = jnp.zeros((t, b, l, pol.hidden_size))
        if pol.gru_size:
            def step(hh, inp):
                return self._seat_apply(p, hh, *inp)[0], hh

            _, h = jax.lax.scan(step, jnp.zeros((b, l, pol.hidden_size)), (x, reset))
        cand = (fut.shape[0], t, b, l, n - 1)
        if pol.hidden_sizes:
            net, p_net, z = self._first_layer_shared(p, x, base, fut)
        else:  # no first layer to share: the whole input per candidate
            eye = jnp.eye(n - 1, dtype=bool)[:, :, None]  # [r, slot, 1]
            blocks = jnp.where(eye, fut[..., None, :], base[None, :, :, :, None])  # [H, T, B, L, r, slot, D]
            x5 = jnp.broadcast_to(x[None, :, :, :, None], (*cand, x.shape[-1]))
            s0, s1 = self.obs_dim, self.obs_dim + self.extra_dim
            net, p_net = pol.net, p
            z = jnp.concatenate([x5[..., :s0], blocks.reshape(*cand, -1), x5[..., s1:]], -1)
        hc = jnp.broadcast_to(h[None, :, :, :, None], (*cand, h.shape[-1]))
        rc = jnp.broadcast_to(reset[None, ..., None], cand)
        # The learner axis second to last for the per-seat vmap: [H, T, B, N-1, L, ...].
        v = self._seat_apply(p_net, jnp.moveaxis(hc, 3, 4), jnp.moveaxis(z, 3, 4), jnp.moveaxis(rc, 3, 4), net)[2]
        return jnp.moveaxis(jnp.moveaxis(v, 4, 3), 1, 0)  # [T, H, B, L, N-1]

    def _first_layer_shared(self, p, x, base, fut):
        """-> (rest of the network, its parameters, first hidden layer's activations
        [H, T, B, L, N-1, H1] under every candidate): ``act(x W + b + (g - base_r) W_r)``."""
        pol, n = self.policy, self.n
        w, bias = p["params"]["Dense_0"]["kernel"], p["params"]["Dense_0"]["bias"]
        w_slots = w[..., self.obs_dim : self.obs_dim + self.extra_dim, :]
        w_slots = w_slots.reshape(*w_slots.shape[:-2], n - 1, base.shape[-1], w.shape[-1])  # [(L,) N-1, D, H1]
        if pol.shared:
            pre = x @ w + bias  # [T, B, L, H1]
            delta = jnp.einsum("ktblrd,rdh->ktblrh", fut - base[None], w_slots)
        else:
            pre = jnp.einsum("tbli,lih->tblh", x, w) + bias
            delta = jnp.einsum("ktblrd,lrdh->ktblrh", fut - base[None], w_slots)
        z = _ACTIVATIONS[pol.activation](pre[None, :, :, :, None] + delta)
        rest = ActorCritic(pol.num_actions, pol.hidden_sizes[1:], pol.gru_size, pol.activation, pol.compute_dtype)
        return rest, _rest_params(p), z

    def select(self, params, policy_params, d, base, prior=None):
        """Hindsight subgoals for every (step, learner, co-player slot) of time-major episodes.

        d: time-major fields; base [T, B, L, N-1, D] the subgoal inputs the policy saw;
        prior: the prior's (mu, logvar) [T+1, B, C, D] of the C = ``len(self.coseats)`` seats'
        observations if already computed (else computed here).
        -> dict offset/found [T, B, L, N-1], prior mu/logvar [T, B, L, N-1, D] of the
        co-player's observation at the chosen step (the subgoal state).
        """
        T, H = self.T, self.cfg.opponent_model.omg.horizon
        if prior is None:  # each co-player seat's observation embedded once, pairs share rows
            prior = self.net.apply(params, self.flat(jnp.take(d["obs"], jnp.asarray(self.coseats), 2)),
                                   method=omg_lib.OMGNet.prior)
        pm, plv = (jnp.take(x, self.pair_rows, axis=2) for x in prior)  # [T+1, B, L, N-1, D]
        valid_j = omg_lib.pair_take(d["valid"], self.n, 2, self.seats)  # co-player valid at each step
        cand_valid = omg_lib.future_candidates(valid_j, H)  # [T, H, B, L, N-1]
        pad = jnp.zeros((H, *pm.shape[1:]), pm.dtype)
        pm_pad = jnp.concatenate([pm, pad], 0)
        fut = jnp.stack([pm_pad[1 + k : T + 1 + k] for k in range(H)], 0)  # [H, T, B, L, N-1, D]
        values = self.candidate_values(policy_params, d["obs"][:T], base, fut)  # [T, H, B, L, N-1]
        offset, found = omg_lib.select_subgoal(values, cand_valid, self.cfg.opponent_model.omg.mode)
        return {
            "offset": offset,
            "found": found,
            "prior_mu": omg_lib.gather_future(pm, offset),
            "prior_logvar": omg_lib.gather_future(plv, offset),
        }

    def _masks(self, d):
        T, n = self.T, self.n
        focal = self.of_seats(d["valid"][:T], 2)  # [T, B, L]
        coplayer = omg_lib.pair_take(d["valid"][:T], n, 2, self.seats)  # [T, B, L, N-1]
        return focal[..., None] & coplayer

    def _heads(self, params, d, mu, mask, focal=None):
        """OMG_AM and goal-probe losses/accuracies on stop-gradient subgoals. ``focal``: the
        learners' flattened float observations [T, B, L, S] if ``d["obs"]`` holds stored planes
        (else read from ``d["obs"]``)."""
        T, n = self.T, self.n
        g = jax.lax.stop_gradient(mu)
        if focal is None:
            focal = self.flat(self.of_seats(d["obs"][:T], 2))
        # [T, B, L, 1, S]: embedded once per focal agent, broadcast over slots after the first layer
        obs_pair = focal[:, :, :, None]
        am_logits = self.net.apply(params, obs_pair, g, method=omg_lib.OMGNet.agent_model)
        am_target = omg_lib.pair_take(d["actions"][:T], n, 2, self.seats)
        goal = jnp.where(d["valid"][:T], d["goal"][:T], -1)  # padding holds no goals
        # A goal is a located target: the cell the agent stands on when it achieves it (it
        # interacts on the target's cell), read from its own position channel (channel 0 of
        # its egocentric observation, hopjax.envs._grid.build_obs; stored planes or float, the
        # same cell). Entity indices carry no location (same-kind targets share one channel in
        # random order).
        cell = jnp.argmax(d["obs"][:T, ..., 0].reshape(*goal.shape, -1), axis=-1)
        located = jnp.where(goal >= 0, cell, -1)
        labels = omg_lib.pair_take(omg_lib.next_goal_labels(located, self.num_cells), n, 2, self.seats)
        probe_logits = self.net.apply(params, obs_pair, g, method=omg_lib.OMGNet.probe)
        am_loss, am_acc = omg_lib.masked_xent(am_logits, am_target, mask)
        pr_loss, pr_acc = omg_lib.masked_xent(probe_logits, labels, mask)
        return am_loss, am_acc, pr_loss, pr_acc, am_target, labels

    def _all_pairs(self, flat: jax.Array, lead: tuple[int, ...], tail: tuple[int, ...]) -> jax.Array:
        """A flat draw shaped for all N focal seats -> the learners' rows [*lead, L, *tail]: the
        random numbers each learner pair gets do not depend on which seats learn."""
        return self.of_seats(flat.reshape(*lead, self.n, *tail), len(lead))

    def loss(self, params, policy_params, ep, key):
        cfg, T, n = self.cfg, self.T, self.n
        d = time_major(ep)
        obs_f = self.flat(d["obs"])
        hs, mu, lv = omg_lib.unroll_inference(self.spec, params, obs_f[:T], d["actions"][:T], self.seats)
        mask = self._masks(d)
        # The prior VAE's embeddings of every seat (its loss below), computed once; the
        # selection reads its co-player seats' rows, without gradient.
        pmu, plv = self.net.apply(params, obs_f, method=omg_lib.OMGNet.prior)  # [T+1, B, N, D]
        prior = jax.lax.stop_gradient(tuple(jnp.take(x, jnp.asarray(self.coseats), 2) for x in (pmu, plv)))
        sel = jax.lax.stop_gradient(self.select(params, policy_params, d, jax.lax.stop_gradient(mu), prior))
        # One flat draw for both reparameterisations (each threefry call site costs compile time).
        lead, tail = mu.shape[:2], mu.shape[3:]
        full = int(np.prod(lead)) * n * int(np.prod(tail))
        noise = jax.random.normal(key, (full + obs_f.shape[0] * mu.shape[1] * n * mu.shape[-1],))
        g = mu + jnp.exp(0.5 * lv) * self._all_pairs(noise[:full], lead, tail)
        recon = self.net.apply(params, g, hs, method=omg_lib.OMGNet.decode)
        m = mask & sel["found"]
        # Reconstruct the co-player's current state; the selected subgoal enters through the prior.
        current = omg_lib.pair_take(obs_f[:T], n, 2, self.seats)
        elbo, nll, kl = omg_lib.elbo_terms(mu, lv, recon, current, sel["prior_mu"],
                                           sel["prior_logvar"], m, cfg.opponent_model.omg.kl_weight)
        # The prior VAE: its own ELBO on every valid observation.
        z = pmu + jnp.exp(0.5 * plv) * noise[full:].reshape(pmu.shape)
        prec = self.net.apply(params, z, method=omg_lib.OMGNet.prior_decode)
        zeros = jnp.zeros_like(pmu)
        prior_loss, _, _ = omg_lib.elbo_terms(pmu, plv, prec, obs_f, zeros, zeros, d["valid"],
                                              cfg.opponent_model.omg.prior_kl_weight)
        am_loss, am_acc, pr_loss, pr_acc, _, _ = self._heads(params, d, mu, mask)
        total = elbo + prior_loss + am_loss + pr_loss
        return total, {
            "omg_loss": total, "omg_recon": nll, "omg_kl": kl, "omg_prior_loss": prior_loss,
            "omg_am_loss": am_loss, "omg_probe_loss": pr_loss,
            # The hindsight selection on these replayed episodes (logging only).
            "omg_subgoal_found": masked_mean(sel["found"].astype(jnp.float32), mask),
            "omg_subgoal_offset": masked_mean(sel["offset"].astype(jnp.float32), m),
        }

    def epsilon(self, update):
        cfg = self.cfg
        if cfg.opponent_model.omg.eps_start <= 0.0:
            return jnp.zeros(())
        frac = 1.0 - update.astype(jnp.float32) / max(cfg.opponent_model.omg.eps_updates, 1)
        return cfg.opponent_model.omg.eps_start * jnp.clip(frac, 0.0, 1.0)

    def _inferred(self, d):
        """The subgoal inputs the policy saw (the inferred means) of time-major episodes d ->
        [T, B, L, N-1, D]."""
        base = select(self.of_seats(d["valid"][: self.T], 2), d["extra"][: self.T])  # [T, B, L, X]
        return base.reshape(*base.shape[:3], self.n - 1, self.spec.subgoal_dim)

    def annotate(self, params, policy_params, batch, key, update):
        eps = self.epsilon(update)
        metrics = {**self._diagnostics(params, batch), "omg_epsilon": eps}
        # Static: with eps_start 0 (the shipped configs) nothing is swapped, so no selection here
        # (the loss's selection on replayed episodes gives the omg_subgoal_* metrics) and PPO
        # reads the inputs the policy saw from the batch (extra None).
        if self.cfg.opponent_model.omg.eps_start <= 0.0:
            return batch, None, None, metrics
        d = time_major(batch)
        base = self._inferred(d)
        mixed = self._mix(params, policy_params, d, base, key, eps)
        return batch, mixed.reshape(*base.shape[:3], self.extra_dim), None, metrics

    def _mix(self, params, policy_params, d, base, key, eps):
        """Epsilon-mixing: the policy sees the selected subgoal instead of the inferred one
        ``base`` [T, E, L, N-1, D] with probability ``eps`` -> [T, E, L, N-1, D]."""
        n = self.n
        sel = self.select(params, policy_params, d, base)
        mask = self._masks(d)
        u = omg_lib.flat_random(jax.random.uniform, key, (*mask.shape[:2], n, n - 1))
        swap = (self.of_seats(u, 2) < eps) & mask & sel["found"]
        return jnp.where(swap[..., None], sel["prior_mu"], base)

    def _diagnostics(self, params, batch):
        """OMG_AM and goal-probe accuracies (with majority baselines) on the first
        ``opponent_model.omg.diagnostic_episodes`` fresh episodes (a static slice), not yet
        trained on; the subgoal input is the one the policy saw (the inferred mean)."""
        k, T = min(batch.batch_size, self.cfg.opponent_model.omg.diagnostic_episodes), self.T
        # Observations as stored: only the learners' are decoded (the heads' input); the goal
        # cells are read from the stored position planes.
        d = time_major(jax.tree.map(lambda x: x[:k], batch), decode_obs=False)
        tm = d.get(TIME)
        focal = decode(self.of_seats(d["obs"][:T], 2), None if tm is None else self.of_seats(tm[:T], 2))
        focal = self.flat(select(self.of_seats(d["valid"][:T], 2), focal))
        mask = self._masks(d)
        _, am_acc, _, pr_acc, am_t, labels = self._heads(params, d, self._inferred(d), mask, focal)
        return {
            "omg_goal_acc": pr_acc,
            "omg_goal_baseline": omg_lib.majority_baseline(labels, mask, self.num_cells + 1),
            "omg_am_acc": am_acc,
            "omg_am_baseline": omg_lib.majority_baseline(am_t, mask, self.num_actions),
        }
