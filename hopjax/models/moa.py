"""MOA: a Model of Other Agents (Jaques et al., ICML 2019, "Social Influence as Intrinsic
Motivation for Multi-Agent Deep RL"), fixed-shape JAX.

For every focal agent ``i`` a recurrent model reads its own observation ``o^i_t`` and the joint
action ``a_t`` (in egocentric order: own action first, then co-player slots ``r = 1..N-1``,
seat ``(i + r) mod N``) and predicts each co-player's *next* action ``a^j_{t+1}``. It is trained
by masked cross-entropy (a target exists only where the co-player acts at ``t + 1``).

Policy features: at step ``t`` the policy may see the predicted distributions of the co-players'
actions at ``t`` (made at ``t - 1``; uniform at an episode start), ``(N-1) * A`` numbers.

Social influence (optional intrinsic reward): with counterfactual own actions ``c``,
``influence_t = sum_j KL(p(a^j_{t+1} | a^i_t, o_t) || sum_c pi(c | o_t) p(a^j_{t+1} | c, o_t))``,
the focal agent's causal influence on its co-players' next actions (MOA variant of the paper,
the marginal taken under the focal policy ``pi``).
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from hopjax.buffers.masked import select
from hopjax.models.omg import init_from_one_draw, masked_xent, pair_take
from hopjax.models.init import orthogonal


@dataclasses.dataclass(frozen=True)
class MOASpec:
    """Static sizes of the MOA network."""

    num_agents: int
    obs_dim: int
    num_actions: int
    hidden: int = 128
    gru: int = 96

    @property
    def extra_dim(self) -> int:
        """Policy input features: predicted action distribution of each co-player."""
        return (self.num_agents - 1) * self.num_actions


def egocentric(n: int) -> np.ndarray:
    """``[N, N]`` int: seat of focal ``i``'s ``r``-th agent, ``(i + r) mod N`` (r = 0 is i)."""
    return (np.arange(n)[:, None] + np.arange(n)[None]) % n


class MOANet(nn.Module):
    """MOA network. ``step(h, obs, joint) -> (h, logits)``:

    h [..., L, GRU]; obs [..., L, S] (each focal agent's flattened observation); joint
    [..., N] int actions of all seats (< 0: none, e.g. a counterfactual placeholder) ->
    logits [..., L, N-1, A] over each co-player slot's next action. The L focal agents are
    ``seats`` (default all N): only learners need predictions; the parameters do not depend on
    which seats are modelled.
    """

    spec: MOASpec
    seats: tuple[int, ...] | None = None

    @nn.compact
    def __call__(self, h, obs, joint, own=None):
        """``own`` [..., L] int, if given, replaces each focal agent's own action (counterfactual)."""
        s = self.spec
        n, a = s.num_agents, s.num_actions
        ego_idx = egocentric(n) if self.seats is None else egocentric(n)[np.asarray(self.seats, int)]
        ego = jnp.take(joint, jnp.asarray(ego_idx), axis=-1)  # [..., L(focal), N]
        if own is not None:
            ego = ego.at[..., 0].set(own)
        act = jax.nn.one_hot(ego, a).reshape(*ego.shape[:-1], n * a)
        e = nn.relu(nn.Dense(max(s.hidden // 4, 1))(obs))
        h, _ = nn.GRUCell(s.gru, recurrent_kernel_init=orthogonal())(h, jnp.concatenate([e, act], -1))
        z = nn.relu(nn.Dense(s.hidden)(h))
        logits = nn.Dense((n - 1) * a)(z).reshape(*z.shape[:-1], n - 1, a)
        return h, logits


def init_moa(spec: MOASpec, key: jax.Array):
    n = spec.num_agents
    return init_from_one_draw(MOANet(spec), key, jnp.zeros((n, spec.gru)), jnp.zeros((n, spec.obs_dim)),
                             jnp.zeros((n,), jnp.int32))


def _seats(spec: MOASpec, seats) -> tuple[int, ...]:
    return tuple(range(spec.num_agents)) if seats is None else tuple(int(i) for i in seats)


def unroll_moa(spec: MOASpec, params, obs: jax.Array, actions: jax.Array, seats=None):
    """Run MOA over whole stored episodes (start at t=0), time axis first.

    obs [T, B, N, S], actions [T, B, N]; ``seats``: the L focal agents (default all N) ->
    (h_prev [T, B, L, GRU] (state before step t), logits [T, B, L, N-1, A] (prediction of the
    co-players' actions at t + 1)).
    """
    seats = _seats(spec, seats)
    net = MOANet(spec, seats)
    b = obs.shape[1]
    obs = jnp.take(obs, jnp.asarray(seats), axis=2)

    def step(h, inp):
        o, a = inp
        h_new, logits = net.apply(params, h, o, a)
        return h_new, (h, logits)

    _, (h_prev, logits) = jax.lax.scan(step, jnp.zeros((b, len(seats), spec.gru)), (obs, actions))
    return h_prev, logits


def moa_targets(actions: jax.Array, valid: jax.Array, n: int, seats=None):
    """Next-action targets, time axis first.

    actions [T, B, N]; valid [T, B, N] (step filled, agent alive and acting); ``seats`` the L
    focal agents (default all N) -> (targets [T, B, L, N-1]: co-player's action at t + 1,
    mask [T, B, L, N-1]: the focal agent acts at t and the co-player at t + 1 (never true at
    the last step)).
    """
    seats = np.arange(n) if seats is None else np.asarray(seats, int)
    nxt_a = jnp.concatenate([actions[1:], jnp.zeros_like(actions[:1])], 0)
    nxt_v = jnp.concatenate([valid[1:], jnp.zeros_like(valid[:1])], 0)
    targets = pair_take(nxt_a, n, axis=2, seats=seats)
    mask = jnp.take(valid, jnp.asarray(seats), axis=2)[..., None] & pair_take(nxt_v, n, axis=2, seats=seats)
    return targets, mask


def moa_loss(logits, targets, mask):
    """Masked cross-entropy -> (loss, accuracy). logits [..., A], targets/mask [...]."""
    return masked_xent(logits, targets, mask)


def social_influence(spec: MOASpec, params, h_prev, obs, actions, policy_probs, mask_next, seats=None):
    """Counterfactual influence of each focal agent on its co-players' next actions.

    ``seats``: the L focal agents (default all N). h_prev [..., L, GRU] (MOA state before the
    step), obs [..., L, S], actions [..., N] (the joint action), policy_probs [..., L, A] (focal
    policy at the step), mask_next [..., L, N-1] (co-player acts at t + 1) -> influence
    [..., L] (sum over co-players of the KL, nats). Focal agents without any co-player acting
    at t + 1 get 0; their inputs are selected away first, so NaN/inf there changes nothing.
    """
    seats = _seats(spec, seats)
    a = spec.num_actions
    row = jnp.any(mask_next, axis=-1)  # [..., L]
    h_prev, obs, policy_probs = (select(row, x) for x in (h_prev, obs, policy_probs))
    logits_act, logits_cf = _counterfactual_logits(spec, params, h_prev, obs, actions, seats)
    logp_cf = jax.nn.log_softmax(logits_cf)  # [A, ..., L, N-1, A]
    logp_act = jax.nn.log_softmax(logits_act)
    w = jnp.moveaxis(policy_probs, -1, 0)[..., None, None]  # [A, ..., L, 1, 1]
    marginal = jnp.sum(w * jnp.exp(logp_cf), axis=0)
    kl = jnp.sum(jnp.exp(logp_act) * (logp_act - jnp.log(jnp.maximum(marginal, 1e-30))), -1)
    return jnp.sum(select(mask_next, kl), -1)


def _counterfactual_logits(spec: MOASpec, params, h, obs, actions, seats):
    """MOANet's step (the same parameters and operations) for the actual joint action and for
    each of the A own actions of the focal agent, with every product that does not depend on
    the focal agent's own action computed once: the observation's embedding, the GRU's
    recurrent products and its input products without the own action's one-hot block (our
    choice; it adds that block's kernel row instead of multiplying a one-hot, so the logits
    equal ``MOANet.__call__``'s up to float rounding).

    h [..., L, GRU], obs [..., L, S], actions [..., N] -> (logits [..., L, N-1, A] for the actual
    action, counterfactual logits [A, ..., L, N-1, A]).
    """
    p = params["params"]
    g, n, a = p["GRUCell_0"], spec.num_agents, spec.num_actions
    e = jax.nn.relu(obs @ p["Dense_0"]["kernel"] + p["Dense_0"]["bias"])
    ego = jnp.take(actions, jnp.asarray(egocentric(n)[np.asarray(seats, int)]), axis=-1)  # [..., L, N]
    own = ego[..., 0]
    others = jax.nn.one_hot(ego.at[..., 0].set(-1), a).reshape(*ego.shape[:-1], n * a)  # own block 0
    x = jnp.concatenate([e, others], -1)
    f = e.shape[-1]
    base = {k: x @ g[k]["kernel"] + g[k]["bias"] for k in ("ir", "iz", "in")}
    rec = {k: h @ g[k]["kernel"] for k in ("hr", "hz")}
    rec["hn"] = h @ g["hn"]["kernel"] + g["hn"]["bias"]

    def head(add):  # ``add`` {gate: the own action's input product} -> logits
        r = jax.nn.sigmoid(base["ir"] + add["ir"] + rec["hr"])
        z = jax.nn.sigmoid(base["iz"] + add["iz"] + rec["hz"])
        cand = jnp.tanh(base["in"] + add["in"] + r * rec["hn"])
        h_new = (1.0 - z) * cand + z * h
        zz = jax.nn.relu(h_new @ p["Dense_1"]["kernel"] + p["Dense_1"]["bias"])
        out = zz @ p["Dense_2"]["kernel"] + p["Dense_2"]["bias"]
        return out.reshape(*out.shape[:-1], n - 1, a)

    rows = {k: g[k]["kernel"][f : f + a] for k in ("ir", "iz", "in")}  # [A, GRU]: own action c's row
    # the actual own action's row (0 where it has none, as its one-hot is 0)
    actual = head({k: jnp.where((own >= 0)[..., None], rows[k][jnp.clip(own, 0, a - 1)], 0.0) for k in rows})
    cf = jax.vmap(lambda c: head({k: rows[k][c] for k in rows}))(jnp.arange(a))
    return actual, cf
