"""Actor-critic networks and the multi-policy wrapper.

``ActorCritic`` is one agent's network for one time step: flattened observation (plus optional
extra features, e.g. an agent id or an inferred subgoal) -> MLP torso -> optional GRU ->
masked categorical policy and a scalar value. ``MultiPolicy`` applies N agents' networks with
``jax.vmap`` over a leading agent axis of stacked parameters, or one shared parameter set with
an agent-id input, so that the rest of the trainer never branches on which.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Sequence

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from hopjax.buffers.masked import select
from hopjax.models.init import orthogonal
from hopjax.models.sparse import sparse_first_layer, sparse_table

# Masked logits use a large finite negative rather than -inf so that entropies and
# log-probabilities of masked actions stay finite (their probability is exactly 0 in float32).
MASKED_LOGIT = -1e9

_ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu, "gelu": nn.gelu}
COMPUTE_DTYPES = ("float32", "bfloat16")


def _low_precision_inputs(inputs, kernel, bias, dtype=None):
    """Flax ``promote_dtype`` for mixed precision: inputs and kernel cast to ``dtype`` (the
    matmul's operands), the bias kept in its float32 parameter dtype."""
    return inputs.astype(dtype), kernel.astype(dtype), bias


def dense(features: int, compute_dtype: str, **kw) -> nn.Dense:
    """A dense layer with float32 parameters. ``compute_dtype="bfloat16"``: bfloat16 matmul
    operands with float32 accumulation and output (``preferred_element_type``), float32 bias;
    ``"float32"``: flax's plain float32 Dense."""
    if compute_dtype == "float32":
        return nn.Dense(features, **kw)
    return nn.Dense(features, dtype=jnp.dtype(compute_dtype), param_dtype=jnp.float32,
                    promote_dtype=_low_precision_inputs,
                    dot_general=functools.partial(jax.lax.dot_general, preferred_element_type=jnp.float32),
                    **kw)


def masked_categorical(
    logits: jax.Array, avail: jax.Array, mask: jax.Array | None = None
) -> distrax.Categorical:
    """Categorical over actions with unavailable ones removed. logits, avail: [..., A].

    ``mask`` [...] (optional): entries where it is False (padding, dead agents) become the
    uniform distribution over all actions before the log-softmax, so NaN/inf logits there give
    neither NaN values nor NaN gradients (see :func:`hopjax.buffers.masked.select`).
    """
    if mask is not None:
        logits = select(mask, logits)
        avail = select(mask, avail, True)
    return distrax.Categorical(logits=jnp.where(avail, logits, MASKED_LOGIT))


class ActorCritic(nn.Module):
    """One agent's network for one time step.

    __call__(hidden [..., H], x [..., D], reset [...]) -> (hidden [..., H], logits [..., A],
    value [...]). ``reset`` zeroes the hidden state before the step (episode start). Without a
    GRU, ``hidden`` passes through unchanged (it has size 1).

    ``compute_dtype`` "bfloat16": the MLP torso's matmuls take bfloat16 operands and accumulate
    in float32 (:func:`dense`); parameters, activations, GRU, the logit and value heads and
    therefore gradients and optimiser state stay float32 (our choice: the torso holds nearly
    all the FLOPs, the heads and recurrent state keep full precision).
    """

    num_actions: int
    hidden_sizes: Sequence[int] = (64, 64)
    gru_size: int = 0
    activation: str = "tanh"
    compute_dtype: str = "float32"

    @nn.compact
    def __call__(self, hidden: jax.Array, x: jax.Array | None, reset: jax.Array, first: jax.Array | None = None):
        """``first`` [..., hidden_sizes[0]] (optional): the first torso layer's pre-activation,
        computed by the caller from that layer's parameters (``Dense_0``; e.g. a gather of its
        kernel's rows, :func:`hopjax.models.sparse.sparse_first_layer`); ``x`` is then unused."""
        act = _ACTIVATIONS[self.activation]
        init = orthogonal
        for i, size in enumerate(self.hidden_sizes):
            layer = dense(size, self.compute_dtype, kernel_init=init(np.sqrt(2)))  # named Dense_i
            x = act(first if i == 0 and first is not None else layer(x))
        if self.gru_size > 0:
            hidden = jnp.where(reset[..., None], jnp.zeros_like(hidden), hidden)
            hidden, x = nn.GRUCell(self.gru_size, recurrent_kernel_init=orthogonal())(hidden, x)
        logits = nn.Dense(self.num_actions, kernel_init=init(0.01))(x)
        value = nn.Dense(1, kernel_init=init(1.0))(x)[..., 0]
        return hidden, logits, value


@dataclasses.dataclass(frozen=True)
class MultiPolicy:
    """N agents' actor-critics with independent (stacked) or shared parameters.

    Independent: every parameter leaf has a leading axis [N]. Shared: one parameter set and a
    one-hot agent id appended to each agent's input. ``extra_dim`` extra features (subgoal or
    opponent-model embeddings) may be appended to the observation. ``extra_seats`` (static
    seat indices, empty: all N): the seats that receive them; ``extra`` then holds only their
    rows [..., len(extra_seats), X] and every other seat's extra input is 0 (scripted seats
    with an opponent model: only the learners' features are computed and stored).
    ``compute_dtype``: see :class:`ActorCritic`.
    """

    num_agents: int
    obs_shape: tuple[int, ...]
    num_actions: int
    hidden_sizes: tuple[int, ...] = (64, 64)
    gru_size: int = 0
    activation: str = "tanh"
    shared: bool = False
    extra_dim: int = 0
    compute_dtype: str = "float32"
    extra_seats: tuple[int, ...] = ()

    @property
    def extra_rows(self) -> int:
        """Rows of the ``extra`` input: ``len(extra_seats)``, or N when every seat takes one."""
        return len(self.extra_seats) or self.num_agents

    def full_extra(self, extra: jax.Array) -> jax.Array:
        """``extra`` [..., extra_rows, X] -> every seat's extra input [..., N, X] (0 for a seat
        outside ``extra_seats``)."""
        if not self.extra_seats or tuple(self.extra_seats) == tuple(range(self.num_agents)):
            return extra
        row = {s: r for r, s in enumerate(self.extra_seats)}
        zero = jnp.zeros_like(extra[..., 0, :])
        return jnp.stack([extra[..., row[i], :] if i in row else zero for i in range(self.num_agents)], -2)

    @property
    def net(self) -> ActorCritic:
        return ActorCritic(self.num_actions, self.hidden_sizes, self.gru_size, self.activation,
                           self.compute_dtype)

    @property
    def hidden_size(self) -> int:
        return max(self.gru_size, 1)

    @property
    def obs_dim(self) -> int:
        return int(np.prod(self.obs_shape))

    @property
    def input_dim(self) -> int:
        return self.obs_dim + self.extra_dim + (self.num_agents if self.shared else 0)

    def init(self, key: jax.Array):
        """-> parameters (leaves [N, ...] when independent)."""
        h = jnp.zeros((self.hidden_size,))
        x = jnp.zeros((self.input_dim,))
        r = jnp.zeros((), bool)
        if self.shared:
            return self.net.init(key, h, x, r)
        keys = jax.random.split(key, self.num_agents)
        return jax.vmap(lambda k: self.net.init(k, h, x, r))(keys)

    def initial_hidden(self, batch_shape: tuple[int, ...]) -> jax.Array:
        """Zero hidden state [*batch_shape, N, H]."""
        return jnp.zeros((*batch_shape, self.num_agents, self.hidden_size))

    def for_seats(self, seats: tuple[int, ...], params, extra: jax.Array | None = None):
        """This policy restricted to the static ``seats`` (L of them; independent parameters)
        -> (policy of L agents, their parameters [L, ...], their extra rows [..., L, X] or None).
        ``extra`` with a row for every seat is taken at ``seats``; otherwise its rows are the
        ``extra_seats``', which must be ``seats``. Its outputs are those seats' outputs of
        :meth:`apply` / :meth:`unroll` (inputs taken at ``seats`` along the agent axis)."""
        if self.shared:
            raise ValueError("for_seats needs independent parameters (shared ones read the agent id)")
        idx = np.asarray(seats, int)
        if extra is not None and extra.shape[-2] == self.num_agents and len(idx) != self.num_agents:
            extra = jnp.take(extra, jnp.asarray(idx), axis=-2)
        sub = dataclasses.replace(self, num_agents=len(idx), extra_seats=())
        return sub, jax.tree.map(lambda x: x[idx], params), extra

    def _check(self, obs: jax.Array, extra: jax.Array | None) -> tuple[int, ...]:
        """-> the leading axes of ``obs`` [..., N, *obs_shape]; ValueError on a wrong shape or
        a missing ``extra``."""
        lead = obs.shape[: obs.ndim - len(self.obs_shape)]
        if obs.shape[len(lead) :] != self.obs_shape or not lead or lead[-1] != self.num_agents:
            raise ValueError(
                f"observation of shape {obs.shape} is not [..., N={self.num_agents}, "
                f"*{self.obs_shape}]"
            )
        if self.extra_dim and (extra is None or extra.shape[-2:] != (self.extra_rows, self.extra_dim)):
            raise ValueError(f"this policy expects extra inputs [..., {self.extra_rows}, {self.extra_dim}], "
                             f"got {None if extra is None else extra.shape}")
        return lead

    def _inputs(self, obs: jax.Array, extra: jax.Array | None) -> jax.Array:
        """obs [..., N, *obs_shape] -> network input [..., N, input_dim]: the flattened
        observation, ``extra``, then (shared) the one-hot agent id."""
        lead = self._check(obs, extra)
        parts = [obs.reshape(*lead, -1).astype(jnp.float32)]
        if self.extra_dim:
            parts.append(self.full_extra(extra).astype(jnp.float32))
        if self.shared:
            eye = jnp.eye(self.num_agents, dtype=jnp.float32)
            parts.append(jnp.broadcast_to(eye, (*lead, self.num_agents)))
        return jnp.concatenate(parts, axis=-1)

    def _dot(self, x: jax.Array, kernel: jax.Array) -> jax.Array:
        """``x @ kernel`` as the torso's :func:`dense` computes it (bfloat16 operands with
        float32 accumulation when ``compute_dtype`` is bfloat16)."""
        if self.compute_dtype == "float32":
            return x @ kernel
        dt = jnp.dtype(self.compute_dtype)
        return jax.lax.dot_general(x.astype(dt), kernel.astype(dt), (((x.ndim - 1,), (0,)), ((), ())),
                                   preferred_element_type=jnp.float32)

    def first_layer(self, params, obs: jax.Array, extra: jax.Array | None,
                    obs_pre: jax.Array | None = None) -> jax.Array:
        """The first torso layer's pre-activation [..., N, hidden_sizes[0]] from its parameters
        (``Dense_0``; independent: leaves [N, ...]), without building the concatenated input:
        ``obs @ K_obs + extra @ K_extra + K_id[agent] + b``, the kernel split by rows. The same
        layer as the network's on :meth:`_inputs` (our choice: the concatenation copied every
        input once more per step, which doubled the rollout's policy cost with 192 subgoal
        features; benchmarks/RESULTS.md), summed in another order where ``extra`` or the agent
        id is present: equal up to float rounding. ``obs_pre`` [..., N, hidden_sizes[0]]
        (optional): ``obs @ K_obs`` computed by the caller (:meth:`sparse_obs_pre`); ``obs``
        then only gives the leading axes."""
        lead = self._check(obs, extra)
        s, d, n = self.obs_dim, self.extra_dim, self.num_agents
        if d:
            extra = self.full_extra(extra)
        dense0 = params["params"]["Dense_0"]
        k, b = dense0["kernel"], dense0["bias"]
        pre = self.obs_product(params, obs) if obs_pre is None else obs_pre  # [..., N, H0]
        if self.shared:
            if d:
                pre = pre + self._dot(extra.astype(jnp.float32), k[s : s + d])
            ids = k[s + d : s + d + n]  # the one-hot id's product: its kernel row
            if self.compute_dtype != "float32":
                ids = ids.astype(jnp.dtype(self.compute_dtype)).astype(jnp.float32)
            return pre + ids + b
        # Independent: the agent axis first, one product per agent.
        ax = len(lead) - 1
        pre = jnp.moveaxis(pre, ax, 0)
        if d:
            pre = pre + jax.vmap(self._dot)(jnp.moveaxis(extra.astype(jnp.float32), ax, 0), k[:, s : s + d])
        return jnp.moveaxis(pre + b.reshape(n, *([1] * (pre.ndim - 2)), -1), 0, ax)

    def obs_product(self, params, obs: jax.Array) -> jax.Array:
        """The first torso layer's observation part ``obs @ K_obs``: obs [..., N, *obs_shape]
        -> [..., N, hidden_sizes[0]] (independent parameters: each seat's own kernel rows)."""
        lead = obs.shape[: obs.ndim - len(self.obs_shape)]
        x = obs.reshape(*lead, -1).astype(jnp.float32)
        k = params["params"]["Dense_0"]["kernel"]
        if self.shared:
            return self._dot(x, k[: self.obs_dim])
        ax = len(lead) - 1
        return jnp.moveaxis(jax.vmap(self._dot)(jnp.moveaxis(x, ax, 0), k[:, : self.obs_dim]), 0, ax)

    def sparse_ready(self) -> bool:
        """Whether :meth:`sparse_obs_pre` can stand in for the first layer's observation
        product: an MLP torso in float32 (bfloat16 products would round differently)."""
        return bool(self.hidden_sizes) and self.compute_dtype == "float32"

    def sparse_tables(self, params) -> jax.Array:
        """The first layer's observation rows as gather tables (:func:`hopjax.models.sparse.sparse_table`,
        ``obs_shape`` channels last) -> [S + C, H0] (shared) or [N, S + C, H0] (independent).
        Computed once per set of parameters (a rollout: once)."""
        k = params["params"]["Dense_0"]["kernel"][..., : self.obs_dim, :]
        if self.shared:
            return sparse_table(k, self.obs_shape)
        return jax.vmap(lambda kk: sparse_table(kk, self.obs_shape))(k)

    def sparse_obs_pre(self, tables: jax.Array, idx: jax.Array, val: jax.Array) -> jax.Array:
        """``obs @ K_obs`` for every seat from sparse observation entries (idx [..., N, P] int32,
        val [..., N, P] float32; :meth:`hopjax.envs.base.Environment.seat_obs_sparse`) and
        :meth:`sparse_tables` -> [..., N, H0]: P kernel rows gathered instead of an S x H0
        product (:func:`hopjax.models.sparse.sparse_first_layer`); equal up to float rounding."""
        if self.shared:
            return sparse_first_layer(tables, 0.0, idx, val)
        ax = idx.ndim - 2
        return jax.vmap(lambda t, i, v: sparse_first_layer(t, 0.0, i, v), in_axes=(0, ax, ax), out_axes=ax)(
            tables, idx, val)

    def apply(self, params, hidden, obs, reset, extra=None, obs_pre=None):
        """One step for all agents.

        hidden [..., N, H], obs [..., N, *obs_shape], reset [...] bool (episode start),
        extra [..., extra_rows, extra_dim] -> (hidden [..., N, H], logits [..., N, A],
        value [..., N]). ``obs_pre`` [..., N, hidden_sizes[0]] (optional, an MLP torso only):
        the first layer's observation product, precomputed (:meth:`sparse_obs_pre`). ValueError
        if ``obs`` or ``extra`` has the wrong shape.
        """
        if not self.hidden_sizes:  # no torso: the heads read the concatenated input
            x = self._inputs(obs, extra)
            first = None
        else:
            first = self.first_layer(params, obs, extra, obs_pre)
            x = None
        lead = obs.shape[: obs.ndim - len(self.obs_shape)]
        reset = jnp.broadcast_to(reset[..., None], lead)
        if self.shared:
            return self.net.apply(params, hidden, x, reset, first)
        # Independent parameters: move the agent axis first and vmap the network over it.
        ax = reset.ndim - 1
        move = lambda v: None if v is None else jnp.moveaxis(v, ax, 0)  # noqa: E731
        h, logits, value = jax.vmap(self.net.apply)(params, move(hidden), move(x), move(reset), move(first))
        return jnp.moveaxis(h, 0, ax), jnp.moveaxis(logits, 0, ax), jnp.moveaxis(value, 0, ax)

    def unroll(self, params, hidden0, obs, reset, extra=None):
        """Replay a sequence, time axis first.

        hidden0 [B, N, H], obs [T, B, N, *obs_shape], reset [T, B] ->
        (logits [T, B, N, A], value [T, B, N]).
        """
        if self.gru_size == 0:
            hidden = jnp.broadcast_to(hidden0, (obs.shape[0], *hidden0.shape))
            _, logits, value = self.apply(params, hidden, obs, reset, extra)
            return logits, value

        def step(h, inp):
            o, r, e = inp
            h, logits, value = self.apply(params, h, o, r, e)
            return h, (logits, value)

        _, (logits, value) = jax.lax.scan(step, hidden0, (obs, reset, extra))
        return logits, value
