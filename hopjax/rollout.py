"""Rollouts: ``lax.scan`` over T steps, ``vmap`` over E envs, written into an EpisodeBatch.

Two modes, chosen statically by ``rollout_length``:

- **episode** (``rollout_length == 0``): every rollout resets all E envs and runs one whole
  episode of ``T = max_steps`` steps. An env whose episode ends early is frozen and its later
  steps are padding (``filled = 0``); an agent that leaves early is padded by ``alive = 0``.
  Each row of the batch is exactly one episode, so it can go straight into the ReplayBuffer.
- **segment** (``rollout_length = T > 0``): envs carry over between rollouts and auto-reset;
  a row is a fixed-length segment that may cross episode boundaries. ``episode_end`` marks
  them and ``bootstrap_value`` holds the value of the final observation for truncations.

Step ``t`` of the batch holds the observation an agent acted on and what followed from it
(PyMARL's pre- and post-transition data, oxwhirl/pymarl, src/components/episode_buffer.py);
index ``T`` holds the observation after the last step (the bootstrap for a cut segment).

:class:`Engine` is the one place for what every rollout shares: seats (learner seats act from
the algorithm, scripted seats from :mod:`hopjax.envs.scripted`), the vmapped env reset and step,
the validity masks, freezing finished envs (so the final observation stays in place) and the
writes into the EpisodeBatch, the final observation's included. :class:`Rollout` (PPO, its
evaluations) and :class:`hopjax.algos.hop.trainer.HOPRunner` (the planner as the learner's act
function, the belief update as its step hook) are both built on it.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
from flax import struct

from hopjax.buffers.episode import EpisodeBatch, Field, Scheme, init_batch, write, write_const
from hopjax.buffers.obs import encode as encode_obs
from hopjax.buffers.obs import obs_fields
from hopjax.envs.base import Environment
from hopjax.envs.wrappers import AutoReset
from hopjax.models.policy import MultiPolicy, masked_categorical

EXTRA_SEATS = "extra_seats"  # the batch group of the policy's extra input rows


@struct.dataclass
class EnvCarry:
    """What a rollout hands to the next one (all with a leading env axis E).

    env_state: env state pytree [E, ...]       obs: [E, N, *obs_shape]
    avail: [E, N, A] bool                      alive: [E, N] bool
    hidden: [E, N, H] recurrent state          reset: [E] bool (next step starts an episode)
    active: [E] bool (episode mode: episode still running)
    ep_return: [E, N] running return           ep_length: [E] int32 running length
    om: the opponent model's recurrent rollout state (``OMCarry`` [E, ...]) or None
    pool: segment mode: the ``AutoReset`` :class:`~hopjax.envs.wrappers.ResetPool` (E entries,
        batch-wide, no env axis) the ended envs start from; None in episode mode
    """

    env_state: Any
    obs: jax.Array
    avail: jax.Array
    alive: jax.Array
    hidden: jax.Array
    reset: jax.Array
    active: jax.Array
    ep_return: jax.Array
    ep_length: jax.Array
    om: Any = None
    pool: Any = None


def ppo_scheme(env: Environment, params: Any, policy: MultiPolicy, T: int,
               extra_fields: dict[str, Field] | None = None) -> Scheme:
    """The episode scheme the PPO rollout writes: [E, T+1, ...] per field.

    Observations are stored in their compact exact form (:mod:`hopjax.buffers.obs`: uint8
    planes ``obs`` and float32 ``obs_time`` for the grid worlds). A policy with ``extra_dim``
    inputs adds ``extra`` [X] (what it saw) for each seat of its ``extra_seats`` (group
    ``"extra_seats"`` of ``policy.extra_rows``); ``extra_fields`` (e.g. OMG's ``subgoal``) are
    added as given.
    """
    n = env.num_agents(params)
    a = env.num_actions(params)
    ag = "agents"
    more = dict(extra_fields or {})
    groups = {ag: n}
    if policy.extra_dim:  # only the seats that take it (policy.extra_seats): group "extra_seats"
        groups[EXTRA_SEATS] = policy.extra_rows
        more["extra"] = Field((policy.extra_dim,), jnp.float32, EXTRA_SEATS)
    return Scheme.create(
        {
            **obs_fields(tuple(env.observation_shape(params)), params, ag),
            "avail_actions": Field((a,), jnp.bool_, ag),
            "actions": Field((), jnp.int32, ag),
            "log_prob": Field((), jnp.float32, ag),
            "value": Field((), jnp.float32, ag),
            "reward": Field((), jnp.float32, ag),
            "terminated": Field((), jnp.bool_, ag),
            "goal": Field((), jnp.int32, ag),
            "bootstrap_value": Field((), jnp.float32, ag),
            "episode_end": Field((), jnp.bool_),
            "truncated": Field((), jnp.bool_),
            "reset": Field((), jnp.bool_),
            "hidden0": Field((policy.hidden_size,), jnp.float32, ag, episode_const=True),
            **more,
        },
        groups,
        T,
    )


ScriptedFn = Callable[..., jax.Array]


def _row_where(rows: jax.Array, new: jax.Array, old: jax.Array) -> jax.Array:
    """``new`` where ``rows[e]`` else ``old`` (broadcast); ``rows`` is [E], ``new`` [E, ...]."""
    return jnp.where(rows.reshape(rows.shape + (1,) * (new.ndim - 1)), new, old)


def assemble(scheme: Scheme, rows: dict, consts: dict[str, jax.Array] | None = None) -> EpisodeBatch:
    """An EpisodeBatch [E, T+1, ...] from ``rows`` stacked by a scan ([T, E, ...], from
    :meth:`Engine.step_row`) and the episode constants ``consts`` (e.g. ``hidden0`` [E, N, H]);
    index T and unwritten fields are zero (index T is written by :meth:`Engine.write_final`).
    Equal to ``init_batch`` followed by one ``write`` per step. ValueError for a scheme with
    one-hot fields (not derived here)."""
    if any(f.one_hot is not None for _, f in scheme.fields):
        raise ValueError("assemble: one-hot fields are derived by write(), not here")
    batch = init_batch(scheme, rows["filled"].shape[1])
    if consts:
        batch = write_const(batch, consts)

    def pad(x):  # [T, E, ...] -> [E, T+1, ...]
        x = jnp.swapaxes(x, 0, 1)
        return jnp.concatenate([x, jnp.zeros((x.shape[0], 1, *x.shape[2:]), x.dtype)], axis=1)

    data = dict(batch.data, **{k: pad(v) for k, v in rows["data"].items()})
    return batch.replace(data=data, filled=pad(rows["filled"]), alive=pad(rows["alive"]))


def freeze(active: jax.Array, new: Any, old: Any) -> Any:
    """Every leaf of ``new`` where the env is ``active`` [E], else ``old`` (leading axis E)."""
    return jax.tree.map(lambda n, o: jnp.where(active.reshape(-1, *([1] * (n.ndim - 1))), n, o), new, old)


@struct.dataclass
class Transition:
    """One step of all E envs, masked: env_state and obs [E, N, *obs_shape] as the env returned
    them (not frozen); reward [E, N] (0 where not valid); valid [E, N] bool (env active x agent
    alive before the step); goal [E, N] int32 (-1 where not valid); dones (the env's ``Dones``);
    info (the env's info dict: ``avail_actions``, ``alive``, ``goal`` ...); pool (the updated
    reset pool where the carry has one, else None)."""

    env_state: Any
    obs: jax.Array
    reward: jax.Array
    valid: jax.Array
    goal: jax.Array
    dones: Any
    info: dict
    pool: Any = None


class Engine:
    """Seats, env reset/step over E envs, freezing and batch writes for one env and seat plan.

    ``scripted`` maps a seat index to a scripted policy ``(key, obs, state, params, seat) ->
    action`` (:mod:`hopjax.envs.scripted`; it may close over traced values); every other seat
    is a learner seat. ``env`` is stepped as given (wrap it in ``AutoReset`` for segments).
    """

    def __init__(self, env: Environment, env_params: Any, num_envs: int,
                 scripted: dict[int, ScriptedFn] | None = None):
        self.env, self.env_params, self.num_envs = env, env_params, num_envs
        self.n = env.num_agents(env_params)
        self.scripted = dict(scripted or {})
        self.learner_mask = jnp.array([i not in self.scripted for i in range(self.n)])

    def reset(self, key: jax.Array) -> tuple[jax.Array, Any, jax.Array]:
        """Reset all E envs -> (obs [E, N, *obs_shape], env_state [E, ...], avail [E, N, A])."""
        obs, state = jax.vmap(self.env.reset, in_axes=(0, None))(jax.random.split(key, self.num_envs), self.env_params)
        return obs, state, jax.vmap(self.env.avail_actions, in_axes=(0, None))(state, self.env_params)

    def scripted_actions(self, key: jax.Array, obs: jax.Array, state: Any, actions: jax.Array) -> jax.Array:
        """``actions`` [E, N] with every scripted seat's action filled in (seat ``i`` draws from
        ``fold_in(key, i)``, one key per env)."""
        for seat, fn in self.scripted.items():
            keys = jax.random.split(jax.random.fold_in(key, seat), self.num_envs)
            a = jax.vmap(fn, in_axes=(0, 0, 0, None, None))(keys, obs, state, self.env_params, seat)
            actions = actions.at[:, seat].set(a.astype(jnp.int32))
        return actions

    def step(self, key: jax.Array, carry: Any, actions: jax.Array) -> Transition:
        """Step all E envs of ``carry`` (fields env_state, active [E], alive [E, N], optional
        pool) with ``actions`` [E, N] -> the masked :class:`Transition`. A carry with a reset
        pool steps ``AutoReset.step_pooled`` (ended envs start from the pool)."""
        pool = getattr(carry, "pool", None)
        if pool is not None:
            obs, state, reward, dones, info, pool = self.env.step_pooled(
                key, carry.env_state, actions, self.env_params, pool)
        else:
            keys = jax.random.split(key, self.num_envs)
            obs, state, reward, dones, info = jax.vmap(self.env.step, in_axes=(0, 0, 0, None))(
                keys, carry.env_state, actions, self.env_params
            )
        valid = carry.alive & carry.active[:, None]
        return Transition(state, obs, jnp.where(valid, reward, 0.0), valid,
                          jnp.where(valid, info["goal"], -1), dones, info, pool)

    @staticmethod
    def advance(carry: Any, tr: Transition, episode_mode: bool = True) -> dict[str, Any]:
        """The env fields of the next carry (env_state, obs, avail, alive, active). Episode mode:
        finished envs stay frozen (their final observation stays in place) and become inactive;
        segment mode: the (auto-reset) env's own output and reset pool, every env stays active."""
        new = dict(env_state=tr.env_state, obs=tr.obs, avail=tr.info["avail_actions"], alive=tr.info["alive"])
        if not episode_mode:
            return dict(new, active=carry.active, pool=tr.pool)
        old = dict(env_state=carry.env_state, obs=carry.obs, avail=carry.avail, alive=carry.alive)
        return dict(freeze(carry.active, new, old), active=carry.active & ~tr.dones.episode)

    @staticmethod
    def step_row(scheme: Scheme, carry: Any, actions: jax.Array, tr: Transition, more: dict[str, Any]):
        """Step ``t``'s fields as a row of arrays [E, ...] (a scan output for :func:`assemble`):
        what the agents saw (obs, avail_actions), did (actions) and got (reward, goal), plus
        ``more``, each cast to its dtype and zero where the env is not active; ``filled`` =
        active, ``alive`` = alive before the step where active."""
        data = {**encode_obs(scheme, carry.obs), "avail_actions": carry.avail, "actions": actions,
                "reward": tr.reward, "goal": tr.goal, **more}
        active = carry.active
        row = {k: _row_where(active, jnp.asarray(v).astype(scheme.field(k).dtype),
                             jnp.zeros((), scheme.field(k).dtype)) for k, v in data.items()}
        return {"data": row, "filled": active, "alive": carry.alive & active[:, None]}

    @staticmethod
    def write_final(batch, carry: Any, more: dict[str, Any] | None = None):
        """Write index T: the observation after the last step (filled where step T-1 was)."""
        T = batch.max_seq_length
        data = {**encode_obs(batch.scheme, carry.obs), "avail_actions": carry.avail, **(more or {})}
        return write(batch, data, T, filled=batch.filled[:, T - 1], alive=carry.alive)




class Rollout:
    """PPO's rollout on the :class:`Engine`: the policy network acts in the learner seats.

    ``scripted`` maps a seat index to a scripted policy ``(key, obs, state, params, agent) ->
    action`` (see :mod:`hopjax.envs.scripted`); the other seats act from the policy network.
    ``om_hook`` (episode mode only) is an opponent model (:mod:`hopjax.algos.ppo.opponent`) whose
    ``pre``/``post`` steps run next to the policy and give it its ``extra`` input; its state
    rides in ``EnvCarry.om`` and its parameters are ``run``'s ``om_params``.
    """

    def __init__(self, env: Environment, env_params: Any, policy: MultiPolicy, num_envs: int,
                 rollout_length: int = 0, scripted: dict[int, ScriptedFn] | None = None,
                 om_hook: Any = None, extra_fields: dict[str, Field] | None = None,
                 sparse_obs: bool = True):
        self.base_env = env
        self.episode_mode = rollout_length == 0
        self.env = env if self.episode_mode else AutoReset(env)
        self.env_params = env_params
        self.policy = policy
        self.num_envs = num_envs
        self.T = env.episode_length(env_params) if self.episode_mode else rollout_length
        self.engine = Engine(self.env, env_params, num_envs, scripted)
        self.scripted = self.engine.scripted
        self.n = self.engine.n
        self.learner_mask = self.engine.learner_mask
        if om_hook is not None and not self.episode_mode:
            raise ValueError("an opponent-model hook needs episode mode (rollout_length 0)")
        if om_hook is not None and om_hook.extra_dim != policy.extra_dim:
            raise ValueError(f"opponent model gives {om_hook.extra_dim} features, the policy takes {policy.extra_dim}")
        self.om_hook = om_hook
        self.scheme = ppo_scheme(env, env_params, policy, self.T, extra_fields)
        # Independent parameters with scripted seats: only the learners' networks run.
        learners = tuple(i for i in range(self.n) if i not in self.scripted)
        self.net_seats = None if policy.shared or len(learners) == self.n or not learners else learners
        # Episode mode: the acting policy's first layer from the env's sparse observation
        # entries (an MLP torso in float32 and an env with ``seat_obs_sparse``), P kernel rows
        # gathered per seat instead of an obs_dim x H0 product, plus the walls' share computed
        # once per rollout (they stay put within its episodes; in segment mode an auto-reset
        # brings new walls at any step, so that mode keeps the dense product). Equal up to float
        # rounding; the stored batch, the bootstrap value and training read dense observations.
        self.sparse = (sparse_obs and self.episode_mode and policy.sparse_ready() and bool(learners)
                       and env.sparse_obs_size(env_params) > 0)

    def reset(self, key: jax.Array) -> EnvCarry:
        """Reset all E envs -> a fresh carry (segment mode: with a full reset pool of E
        entries drawn from ``fold_in(key, 1)``)."""
        obs, state, avail = self.engine.reset(key)
        e, n = self.num_envs, self.n
        pool = None if self.episode_mode else self.env.init_pool(jax.random.fold_in(key, 1), self.env_params, e)
        return EnvCarry(
            env_state=state,
            obs=obs,
            avail=avail,
            alive=jnp.ones((e, n), bool),
            hidden=self.policy.initial_hidden((e,)),
            reset=jnp.ones((e,), bool),
            active=jnp.ones((e,), bool),
            ep_return=jnp.zeros((e, n)),
            ep_length=jnp.zeros((e,), jnp.int32),
            om=None if self.om_hook is None else self.om_hook.carry_init(e),
            pool=pool,
        )

    def policy_apply(self, params, hidden, obs, reset, extra=None, obs_pre=None):
        """The policy for every seat -> (hidden [E, N, H], logits [E, N, A], value [E, N]), as
        :meth:`MultiPolicy.apply`, except that with independent parameters only the learner
        seats' networks run (``net_seats``): a scripted seat acts from its script, so its
        network's output would be thrown away. A scripted seat keeps its hidden state and gets
        logits 0 and value 0 (its batch entries are masked out of every loss and metric); the
        learners' outputs, and the actions sampled for them, are the same as from every seat's
        networks (the sample draws noise for all N seats either way). ``obs_pre`` [E, L, H0]
        (optional): the networks' first-layer observation products for those seats
        (:meth:`sparse_obs_pre`)."""
        seats = self.net_seats
        if seats is None:
            return self.policy.apply(params, hidden, obs, reset, extra, obs_pre)
        idx = jnp.asarray(seats)
        sub, p, extra = self.policy.for_seats(seats, params, extra)
        h, logits, value = sub.apply(p, hidden[:, idx], obs[:, idx], reset, extra, obs_pre)
        row = {s: r for r, s in enumerate(seats)}

        def put(part, default):  # [E, L, ...] -> [E, N, ...], ``default`` [E, ...] elsewhere
            return jnp.stack([part[:, row[i]] if i in row else default(i) for i in range(self.n)], 1)

        return (put(h, lambda i: hidden[:, i]), put(logits, lambda i: jnp.zeros_like(logits[:, 0])),
                put(value, lambda i: jnp.zeros_like(value[:, 0])))

    def _net_policy(self, params):
        """-> (the policy of the seats whose networks run, their parameters, their seats [L])."""
        if self.net_seats is None:
            return self.policy, params, jnp.arange(self.n)
        sub, p, _ = self.policy.for_seats(self.net_seats, params)
        return sub, p, jnp.asarray(self.net_seats)

    def sparse_tables(self, params, carry: EnvCarry):
        """What the sparse first layer reads during one episode-mode rollout, or None (dense):
        the running seats' gather tables [(L,) S + C, H0] and the walls' share of their first
        layer [E, L, H0] (:meth:`hopjax.envs.base.Environment.obs_const_dense` times the
        kernel: one product per rollout; listing the wall cells sparsely cost more compile time
        than it saved)."""
        if not self.sparse:
            return None
        pol, p, _ = self._net_policy(params)
        const = jax.vmap(self.env.obs_const_dense, in_axes=(0, None))(carry.env_state, self.env_params)
        const = jnp.broadcast_to(const[:, None], (const.shape[0], pol.num_agents, *const.shape[1:]))
        return {"tables": pol.sparse_tables(p), "const": pol.obs_product(p, const)}  # const [E, L, H0]

    def sparse_obs_pre(self, params, sparse, carry: EnvCarry) -> jax.Array:
        """The running seats' first-layer observation products from the env state's sparse
        entries -> [E, L, H0]: the seat's own entries plus, for a live seat, the walls' share
        (:meth:`hopjax.envs.base.Environment.seat_obs_sparse`), equal to ``obs @ K_obs`` of
        ``carry.obs`` up to float rounding."""
        pol, _, seats = self._net_policy(params)
        state = carry.env_state
        idx, val = jax.vmap(self.env.seat_obs_sparse, in_axes=(0, None, None))(state, self.env_params, seats)
        alive = jax.vmap(self.env.alive, in_axes=(0, None))(state, self.env_params)[:, seats]  # [E, L]
        return pol.sparse_obs_pre(sparse["tables"], idx, val) + alive[..., None].astype(jnp.float32) * sparse["const"]

    def act(self, key, params, carry: EnvCarry, extra=None, sparse=None):
        """Sample all seats' actions -> (hidden, actions [E, N], log_prob [E, N], value [E, N]).
        ``sparse`` (:meth:`sparse_tables`): the networks' first layer from sparse entries."""
        k_pol, k_scr = jax.random.split(key)
        obs_pre = None if sparse is None else self.sparse_obs_pre(params, sparse, carry)
        hidden, logits, value = self.policy_apply(params, carry.hidden, carry.obs, carry.reset, extra, obs_pre)
        dist = masked_categorical(logits, carry.avail)
        actions = dist.sample(seed=k_pol).astype(jnp.int32)
        actions = self.engine.scripted_actions(k_scr, carry.obs, carry.env_state, actions)
        return hidden, actions, dist.log_prob(actions), value

    def _extra(self, carry: EnvCarry, reset, extra_fn, om_params):
        """The policy's extra input before acting -> (opponent-model carry, extra or None)."""
        if self.om_hook is not None:
            return self.om_hook.pre(om_params, carry.om, carry.obs, reset)
        return carry.om, None if extra_fn is None else extra_fn(carry)

    def run(self, key: jax.Array, params: Any, carry: EnvCarry, extra_fn=None, om_params=None):
        """-> (carry, batch [E, T+1, ...], stats).

        ``extra_fn(carry) -> extra [E, L, X]`` (L = ``policy.extra_rows``): stateless extra
        policy inputs; with an
        ``om_hook`` the opponent model (parameters ``om_params``) provides them instead.

        stats: returns_sum [N], episodes [] (completed episodes), goal_counts [N, G] (agents
        reaching each goal), goal_events [G] (steps at which at least one agent reached the goal:
        a stag hunt by a group counts once), length_sum [] - sums over the episodes that ended
        in this rollout (the goal counts: over all steps of the rollout).
        """
        g = self.env.num_goals(self.env_params)
        stats0 = {
            "returns_sum": jnp.zeros((self.n,)),
            "episodes": jnp.zeros(()),
            "length_sum": jnp.zeros(()),
            "goal_counts": jnp.zeros((self.n, g)),
            "goal_events": jnp.zeros((g,)),
        }
        hidden0 = carry.hidden
        sparse = self.sparse_tables(params, carry)

        def step(state, t):
            carry, stats, key = state
            key, k_act, k_env = jax.random.split(key, 3)
            carry, row, stats = self._step(params, carry, stats, t, k_act, k_env, extra_fn, om_params, sparse)
            return (carry, stats, key), row

        # Each step's fields are the scan's outputs ([T, E, ...]), not writes into a batch in
        # the carry: no per-step dynamic slice or scatter (which vmap over seeds turns into
        # gathers and scatters); the batch is assembled once after the scan, bit for bit what
        # per-step ``write`` calls would give.
        (carry, stats, _), rows = jax.lax.scan(step, (carry, stats0, key), jnp.arange(self.T))
        return carry, self._finish(params, carry, rows, hidden0, extra_fn, om_params), stats

    def _step(self, params, carry: EnvCarry, stats, t, k_act, k_env, extra_fn, om_params, sparse=None):
        """One step of all envs: act, step, add to the stats -> (carry, row, stats); ``row``
        holds step ``t``'s fields as the batch stores them (:meth:`Engine.step_row`)."""
        om_c, extra = self._extra(carry, carry.reset, extra_fn, om_params)
        hidden, actions, log_prob, value = self.act(k_act, params, carry, extra, sparse)
        if self.om_hook is not None:
            om_c = self.om_hook.post(om_params, om_c, carry.obs, actions, carry.reset)
        tr = self.engine.step(k_env, carry, actions)
        active, dones = carry.active, tr.dones
        end = dones.episode & active
        terminated = carry.alive & (dones.agents | dones.terminated[:, None])
        if self.episode_mode:
            # Truncation only falls on the last step here: its bootstrap is set after the scan.
            bootstrap = jnp.zeros_like(value)
        else:
            _, _, bootstrap = self.policy_apply(
                params, hidden, tr.info["final_obs"], jnp.zeros_like(carry.reset),
                None if extra_fn is None else extra_fn(carry),
            )
        more = {} if extra is None else {"extra": extra}
        row = self.engine.step_row(self.scheme, carry, actions, tr, {
            **more, "log_prob": log_prob, "value": value, "terminated": terminated,
            "bootstrap_value": bootstrap, "episode_end": end, "truncated": dones.truncated & active,
            "reset": carry.reset,
        })
        ep_return = carry.ep_return + tr.reward
        ep_length = carry.ep_length + active.astype(jnp.int32)
        endf = end.astype(jnp.float32)
        reached = jax.nn.one_hot(tr.goal, stats["goal_counts"].shape[1])  # [E, N, G]; goal -1: none
        stats = {
            "returns_sum": stats["returns_sum"] + (endf[:, None] * ep_return).sum(0),
            "episodes": stats["episodes"] + endf.sum(),
            "length_sum": stats["length_sum"] + (endf * ep_length).sum(),
            "goal_counts": stats["goal_counts"] + reached.sum(0),
            "goal_events": stats["goal_events"] + reached.max(1).sum(0),
        }
        carry = EnvCarry(
            **self.engine.advance(carry, tr, self.episode_mode),
            hidden=hidden,
            reset=dones.episode,
            ep_return=jnp.where(end[:, None], 0.0, ep_return),
            ep_length=jnp.where(end, 0, ep_length),
            om=om_c,
        )
        return carry, row, stats

    def _finish(self, params, carry: EnvCarry, rows, hidden0, extra_fn, om_params):
        """The batch from the scan's ``rows`` [T, E, ...] and index T: the observation after the
        last step. It is the bootstrap for a cut segment (segment mode) or for a truncated
        episode (episode mode, where the time limit can only fall on the last step and the
        recurrent state carries on into the final observation)."""
        reset_T = jnp.zeros_like(carry.reset) if self.episode_mode else carry.reset
        # with an opponent model: features of the final observation; its state is not kept
        _, extra = self._extra(carry, reset_T, extra_fn, om_params)
        _, _, last_value = self.policy_apply(params, carry.hidden, carry.obs, reset_T, extra)
        more = {} if extra is None else {"extra": extra}
        batch = assemble(self.scheme, rows, {"hidden0": hidden0})
        batch = self.engine.write_final(batch, carry, {**more, "value": last_value, "reset": carry.reset})
        if self.episode_mode:
            data = dict(batch.data)
            data["bootstrap_value"] = data["bootstrap_value"].at[:, self.T - 1].set(last_value)
            batch = batch.replace(data=data)
        return batch
