"""OMG: opponent modelling by subgoal inference (Yu, Jiang, Lu, NeurIPS 2024), fixed-shape JAX.

Every learning agent ``i`` (the *focal* agent) models each co-player ``j = (i + r) mod N``,
``r = 1..N-1`` (co-player *slot* ``r - 1``; in the grid worlds' egocentric observations slot
``r - 1`` is observation channel ``r``). Pair arrays therefore carry two agent axes
``[..., N, N-1, ...]`` (focal, co-player slot); :func:`coplayers` gives the seat of each slot.

The networks (:class:`OMGNet`, sizes from the original: hidden 128, subgoal 64, history GRU 96):

- **inference** ``q_phi(g_hat | tau_t, s_t)``: the focal's current observation through a
  ``hidden // 4`` layer, next to a GRU over the history (that embedding, the co-player's
  previous action one-hot and the slot one-hot) -> diagonal Gaussian over the subgoal ``g_hat``.
  Its mean is what the policy sees (``extra`` input, one block of ``subgoal_dim`` per slot).
- **prior** ``p_psi(g | s)``: a VAE over single observations (encoder to a Gaussian over
  ``g``, decoder back to the observation). The paper pre-trains it on states visited during
  opponent training; hopjax trains it online from the same replay buffer with its own ELBO and
  never lets the OMG loss move it (stop-gradient), so it acts as the fixed prior it is meant
  to be.
- **decoder** ``p_theta(s_t | g_hat, h_t)``: reconstructs the co-player's *current* state (its
  own observation at ``t``): the likelihood term of the paper's ELBO,
  ``E_q[log p(s_t | g_hat, tau_t)] - KL(q || p_psi(g | s_bar))``.
  The selected subgoal state ``s_bar`` enters only through the KL to its prior embedding
  ``p_psi(. | s_bar)``, which makes ``g_hat`` a prediction of where the co-player is heading.
- **agent model (OMG_AM)**: ``pi(a^j_t | s_t, g_hat)``, the co-player's action given the focal
  observation and the (stop-gradient) inferred subgoal. In the OMG code the "AM" is the plug-in
  that gives each algorithm of a mixed team its own opponent model; in HOP+ the opponent model
  is what the planner samples co-player actions from. hopjax's OMG_AM is that subgoal-conditioned
  action model: trained by masked cross-entropy, reported as action-prediction accuracy, ready
  for the planner.
- **goal head**: ``p(goal^j | s_t, g_hat)``, like OMG_AM but over the co-player's next achieved
  env goal as a *located target* (the grid cell of its next ``info["goal"]`` interaction, one
  class per cell, ``num_goals`` = the number of cells, last class = none; same-kind targets
  share one observation channel in random order, so their entity index carries no location,
  the cell does). Its only co-player-specific input is the (stop-gradient) inferred subgoal, so
  its accuracy measures how much goal information the inferred subgoal carries; it never
  shapes the subgoal.

Subgoal selection (hindsight, from the stored episode): among the co-player's next ``H`` steps
``t+1..t+H`` that are filled and where it is alive, pick the one whose prior embedding gives the
focal agent the highest value ``V(s_t, g)`` (``optimistic``, the paper's mode for cooperative
games) or the lowest (``conservative``, general-sum games). ``E_{g~p_psi(.|s)} V`` is taken at
the prior mean. Padded or dead future steps are never candidates.

Loss (per focal/slot/step, masked where the focal agent and the co-player act and a subgoal
exists): ``mean_S (s_t - dec(g_hat, h))^2 + beta * KL(q || p_psi(. | s_bar))`` (the original
code's mean-squared reconstruction next to a KL summed over the latent; ``beta`` =
``opponent_model.omg.kl_weight``, 1 by default), plus the prior VAE's own loss (same form, KL to N(0, I)
weighted by ``opponent_model.omg.prior_kl_weight``, 1e-4 by default: with a large weight the prior collapses
onto N(0, I) on these sparse grids and its embeddings carry no subgoal), the OMG_AM
cross-entropy and the goal-head cross-entropy.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from hopjax.buffers.masked import masked_mean, select
from hopjax.models.init import orthogonal

OPTIMISTIC = "optimistic"
CONSERVATIVE = "conservative"
MODES = (OPTIMISTIC, CONSERVATIVE)


def coplayers(n: int, seats=None) -> np.ndarray:
    """``[N, N-1]`` int: seat of focal ``i``'s co-player slot ``r - 1``, ``(i + r) mod N``.
    ``seats`` (sequence of L focal seats, default all): only those rows, ``[L, N-1]``."""
    out = (np.arange(n)[:, None] + np.arange(1, n)[None]) % n
    return out if seats is None else out[np.asarray(seats, int)]


def pair_take(x: jax.Array, n: int, axis: int, seats=None) -> jax.Array:
    """Per-agent ``x`` (agent axis ``axis`` of size N) -> per-pair ``[..., L, N-1, ...]``: the
    co-player's entry for every (focal, slot), focal agents ``seats`` (default all N)."""
    return jnp.take(x, jnp.asarray(coplayers(n, seats)), axis=axis)


def flat_random(fn, key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """``fn(key, (size,))`` reshaped to ``shape``: XLA:CPU compiles threefry draws of rank > 1
    several times slower (seconds per call site), so every draw here is flat."""
    return fn(key, (int(np.prod(shape)),)).reshape(shape)


def init_from_one_draw(module: nn.Module, key: jax.Array, *args, **kwargs):
    """``module.init`` with every kernel drawn LeCun-uniform (variance 1 / fan_in) from ONE flat
    uniform draw and every bias zero. Each separate threefry draw costs about a second of XLA:CPU
    compile time; flax's per-parameter initialisers would make a dozen of them."""
    abstract = jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0), *args, **kwargs))
    leaves, tree = jax.tree_util.tree_flatten_with_path(abstract)
    sizes = [int(np.prod(x.shape)) for _, x in leaves]
    u = jax.random.uniform(key, (sum(sizes),), jnp.float32, -1.0, 1.0)
    out, off = [], 0
    for (path, x), size in zip(leaves, sizes):
        if str(getattr(path[-1], "key", "")) == "bias":
            out.append(jnp.zeros(x.shape, x.dtype))
        else:
            fan_in = int(np.prod(x.shape[:-1])) or 1
            out.append((u[off : off + size] * np.sqrt(3.0 / fan_in)).reshape(x.shape).astype(x.dtype))
        off += size
    return jax.tree_util.tree_unflatten(tree, out)


def gaussian_kl(mu, logvar, mu_p, logvar_p) -> jax.Array:
    """``KL(N(mu, e^logvar) || N(mu_p, e^logvar_p))`` summed over the last axis."""
    return 0.5 * jnp.sum(
        logvar_p - logvar + (jnp.exp(logvar) + jnp.square(mu - mu_p)) * jnp.exp(-logvar_p) - 1.0,
        axis=-1,
    )


def masked_xent(logits: jax.Array, labels: jax.Array, mask: jax.Array):
    """Mean cross-entropy and accuracy over ``mask``. logits [..., K], labels/mask [...].
    Labels outside ``[0, K)`` must be masked out. Masked logits and labels are selected away
    before the log-softmax, so NaN/inf there changes neither the loss nor its gradient."""
    logits = select(mask, logits)
    labels = select(mask, labels)
    logp = jax.nn.log_softmax(logits)
    safe = jnp.clip(labels, 0, logits.shape[-1] - 1)
    nll = -jnp.take_along_axis(logp, safe[..., None], axis=-1)[..., 0]
    acc = (jnp.argmax(logits, -1) == labels).astype(jnp.float32)
    return masked_mean(nll, mask), masked_mean(acc, mask)


def majority_baseline(labels: jax.Array, mask: jax.Array, k: int) -> jax.Array:
    """Accuracy of always predicting the most frequent valid label (in ``[0, k)``)."""
    counts = jnp.sum(select(mask, jax.nn.one_hot(labels, k)), axis=tuple(range(labels.ndim)))
    return jnp.max(counts) / jnp.maximum(counts.sum(), 1.0)


def next_goal_labels(goal: jax.Array, num_goals: int) -> jax.Array:
    """Hindsight goal labels, time axis first: ``label[t]`` = the first goal achieved at a step
    ``>= t`` (``goal[t] >= 0``), else ``num_goals`` (none). goal [T, ...] int -> [T, ...]."""

    def back(nxt, g):
        lab = jnp.where(g >= 0, g, nxt)
        return lab, lab

    _, labels = jax.lax.scan(back, jnp.full(goal.shape[1:], num_goals, goal.dtype), goal, reverse=True)
    return labels


# ----------------------------------------------------------------------------- selection
def future_candidates(valid: jax.Array, horizon: int) -> jax.Array:
    """valid [T+1, ...] bool (step filled and co-player alive) -> ``[T, H, ...]`` bool:
    candidate ``k`` of step ``t`` is step ``t + 1 + k``, usable if it exists and is valid."""
    t1 = valid.shape[0]
    pad = jnp.zeros((horizon, *valid.shape[1:]), bool)
    padded = jnp.concatenate([valid, pad], axis=0)  # steps past T are never candidates
    return jnp.stack([padded[1 + k : t1 + k] for k in range(horizon)], axis=1)


def select_subgoal(values: jax.Array, cand_valid: jax.Array, mode: str):
    """Pick each step's subgoal among its valid candidates.

    values, cand_valid: [T, H, ...] (value of candidate ``k`` of step ``t`` / it is usable).
    -> (offset [T, ...] int32 in ``[1, H]`` (chosen step is ``t + offset``), found [T, ...]
    bool). Where nothing is usable, ``found`` is False and ``offset`` is 0.
    """
    if mode not in MODES:
        raise ValueError(f"subgoal mode must be one of {MODES}, got {mode!r}")
    if mode == OPTIMISTIC:
        k = jnp.argmax(jnp.where(cand_valid, values, -jnp.inf), axis=1)
    else:
        k = jnp.argmin(jnp.where(cand_valid, values, jnp.inf), axis=1)
    found = jnp.any(cand_valid, axis=1)
    return jnp.where(found, k + 1, 0).astype(jnp.int32), found


def gather_future(x: jax.Array, offset: jax.Array) -> jax.Array:
    """x [T+1, *lead, *rest], offset [T, *lead] -> ``x[t + offset]`` [T, *lead, *rest]."""
    t = x.shape[0] - 1
    idx = jnp.arange(t).reshape(-1, *([1] * (offset.ndim - 1))) + offset
    idx = jnp.clip(idx, 0, t).reshape(*offset.shape, *([1] * (x.ndim - offset.ndim)))
    return jnp.take_along_axis(x, idx, axis=0)


def elbo_terms(mu, logvar, recon, target, mu_p, logvar_p, mask, beta: float):
    """The masked (negative) OMG ELBO: -> (loss, recon, kl) means over ``mask``.

    mu, logvar, mu_p, logvar_p [..., D]; recon, target [..., S]; mask [...].
    recon = mean squared error over the S state entries (the original code's reconstruction
    term), kl = KL(q || p) summed over the D latent entries; loss = recon + beta * kl.
    Every input is selected by ``mask`` first (logvars to 0): NaN/inf in masked entries changes
    neither the values nor the gradients.
    """
    mu, logvar, recon, target, mu_p, logvar_p = (
        select(mask, x) for x in (mu, logvar, recon, target, mu_p, logvar_p))
    nll = jnp.mean(jnp.square(target - recon), axis=-1)
    kl = gaussian_kl(mu, logvar, mu_p, logvar_p)
    nll_m, kl_m = masked_mean(nll, mask), masked_mean(kl, mask)
    return nll_m + beta * kl_m, nll_m, kl_m


# ----------------------------------------------------------------------------- networks
@dataclasses.dataclass(frozen=True)
class OMGSpec:
    """Static sizes of the OMG networks."""

    num_agents: int
    obs_dim: int
    num_actions: int
    num_goals: int
    hidden: int = 128
    gru: int = 96
    subgoal_dim: int = 64

    @property
    def extra_dim(self) -> int:
        """Policy input features: one inferred subgoal mean per co-player slot."""
        return (self.num_agents - 1) * self.subgoal_dim


def _widen(e: jax.Array, like: jax.Array) -> jax.Array:
    """Embedding ``e`` [..., F] broadcast to ``like``'s leading axes: a focal observation is
    embedded once and shared by its N-1 co-player slots (not embedded once per slot)."""
    return jnp.broadcast_to(e, (*jnp.broadcast_shapes(e.shape[:-1], like.shape[:-1]), e.shape[-1]))


class OMGNet(nn.Module):
    """All OMG networks; call one with ``apply(params, ..., method=OMGNet.<name>)``.

    Shapes: ``obs`` [..., S] flattened observations, ``g`` [..., D], ``h`` [..., GRU].
    """

    spec: OMGSpec

    def setup(self):
        s = self.spec
        dense = nn.Dense
        self.q_obs = dense(max(s.hidden // 4, 1))
        self.q_gru = nn.GRUCell(s.gru, recurrent_kernel_init=orthogonal())
        self.q_hidden = dense(s.hidden)
        self.q_mu, self.q_logvar = dense(s.subgoal_dim), dense(s.subgoal_dim)
        self.p_enc = dense(s.hidden)
        self.p_mu, self.p_logvar = dense(s.subgoal_dim), dense(s.subgoal_dim)
        self.p_dec1, self.p_dec2 = dense(s.hidden), dense(s.obs_dim)
        self.d1, self.d2 = dense(s.hidden), dense(s.obs_dim)
        self.am_obs, self.am1, self.am2 = dense(s.hidden // 4 or 1), dense(s.hidden), dense(s.num_actions)
        self.probe_obs, self.probe1, self.probe2 = dense(s.hidden // 4 or 1), dense(s.hidden), dense(s.num_goals + 1)

    def infer(self, h, obs, prev_action, slot, reset):
        """One inference step for pair inputs: :meth:`embed`, :meth:`recur`, :meth:`posterior`.

        h [..., GRU]; obs [..., S] (focal observation; may have size-1 axes where ``h`` has
        the co-player slots: it is embedded once and broadcast); prev_action [...] int
        (co-player's previous action, < 0 for none); slot [...] int in [0, N-1); reset [...]
        bool (zero ``h`` first). -> (h, mu [..., D], logvar [..., D]).
        """
        e = _widen(self.embed(obs), h)
        h = self.recur(h, e, prev_action, slot, reset)
        mu, logvar = self.posterior(e, h)
        return h, mu, logvar

    def embed(self, obs):
        """The focal observation's embedding: obs [..., S] -> [..., hidden // 4]."""
        return nn.relu(self.q_obs(obs))

    def recur(self, h, e, prev_action, slot, reset):
        """The history GRU's step (the only recurrent part): h [..., GRU], e [..., hidden // 4]
        (:meth:`embed`), prev_action/slot/reset [...] as in :meth:`infer` -> h [..., GRU]."""
        s = self.spec
        h = jnp.where(reset[..., None], 0.0, h)
        a = jax.nn.one_hot(prev_action, s.num_actions)  # < 0 -> zeros
        r = jax.nn.one_hot(slot, s.num_agents - 1)
        h, _ = self.q_gru(h, jnp.concatenate([e, a, r], -1))
        return h

    def posterior(self, e, h):
        """q_phi's Gaussian from embedding ``e`` and GRU state ``h`` -> (mu, logvar) [..., D]."""
        z = nn.relu(self.q_hidden(jnp.concatenate([e, h], -1)))
        return self.q_mu(z), jnp.clip(self.q_logvar(z), -8.0, 8.0)

    def prior(self, obs):
        """p_psi(g | s): obs [..., S] -> (mu, logvar) [..., D]."""
        z = nn.relu(self.p_enc(obs))
        return self.p_mu(z), jnp.clip(self.p_logvar(z), -8.0, 8.0)

    def prior_decode(self, g):
        return self.p_dec2(nn.relu(self.p_dec1(g)))

    def decode(self, g, h):
        """p_theta(s_bar | g_hat, h): -> reconstructed subgoal observation [..., S]."""
        return self.d2(nn.relu(self.d1(jnp.concatenate([g, h], -1))))

    def agent_model(self, obs, g):
        """OMG_AM: focal obs [..., S] (size-1 axes broadcast against ``g`` after the first
        layer), inferred subgoal [..., D] -> co-player action logits."""
        return self.am2(nn.relu(self.am1(jnp.concatenate([_widen(nn.relu(self.am_obs(obs)), g), g], -1))))

    def probe(self, obs, g):
        """Goal head: focal obs [..., S] (broadcast like :meth:`agent_model`), inferred subgoal
        [..., D] -> logits over G goals + none."""
        return self.probe2(nn.relu(self.probe1(jnp.concatenate([_widen(nn.relu(self.probe_obs(obs)), g), g], -1))))

    def __call__(self, h, obs, prev_action, slot, reset):
        """Touches every network (for ``init``)."""
        h, mu, _ = self.infer(h, obs, prev_action, slot, reset)
        pm, _ = self.prior(obs)
        return (h, self.decode(mu, h), self.prior_decode(pm), self.agent_model(obs, mu), self.probe(obs, mu))


def init_omg(spec: OMGSpec, key: jax.Array):
    """-> OMGNet parameters."""
    return init_from_one_draw(OMGNet(spec), key, jnp.zeros((spec.gru,)), jnp.zeros((spec.obs_dim,)), jnp.zeros((), jnp.int32),
                    jnp.zeros((), jnp.int32), jnp.zeros((), bool))


def unroll_inference(spec: OMGSpec, params, obs: jax.Array, actions: jax.Array, seats=None):
    """Run the inference network over whole stored episodes, time axis first.

    obs [T, B, N, S] (flattened, every seat's observation), actions [T, B, N] (taken at each
    step); ``seats``: the L focal agents that model their co-players (default all N; only
    learners need a model, the others' rows would be computed and thrown away).
    Episodes start at t=0. -> (h [T, B, L, N-1, GRU], mu, logvar [T, B, L, N-1, D]): step t
    conditions on observations up to t and co-player actions up to t-1, exactly as in the
    rollout.
    """
    net = OMGNet(spec)
    n = spec.num_agents
    seats = np.arange(n) if seats is None else np.asarray(seats, int)
    t, b, l = obs.shape[0], obs.shape[1], len(seats)
    prev = jnp.concatenate([jnp.full((1, b, n), -1, actions.dtype), actions[:-1]], 0)
    prev_pair = pair_take(prev, n, axis=2, seats=seats)  # [T, B, L, N-1]
    # Only the GRU is recurrent: the focal observation's embedding (once per focal agent, not
    # per slot) and the posterior head run over all steps at once, outside the scan.
    e = net.apply(params, jnp.take(obs, jnp.asarray(seats), axis=2), method=OMGNet.embed)  # [T, B, L, F]
    slot = jnp.broadcast_to(jnp.arange(n - 1), (b, l, n - 1))
    h0 = jnp.zeros((b, l, n - 1, spec.gru))

    def step(h, inp):
        ee, a, first = inp
        ee = jnp.broadcast_to(ee[:, :, None], (*slot.shape, ee.shape[-1]))
        h = net.apply(params, h, ee, a, slot, jnp.broadcast_to(first, slot.shape), method=OMGNet.recur)
        return h, h

    first = jnp.arange(t) == 0
    _, hs = jax.lax.scan(step, h0, (e, prev_pair, first))
    mu, lv = net.apply(params, _widen(e[:, :, :, None], hs), hs, method=OMGNet.posterior)
    return hs, mu, lv
