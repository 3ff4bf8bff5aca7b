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
(PyMARL's pre- and post-transition data); index ``T`` holds the observation after the last
step (the bootstrap for a cut segment).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
from flax import struct

from hopjax.buffers.episode import Field, Scheme, init_batch, write, write_const
from hopjax.envs.base import Environment
from hopjax.envs.wrappers import AutoReset
from hopjax.models.policy import MultiPolicy, masked_categorical


@struct.dataclass
class EnvCarry:
    """What a rollout hands to the next one (all with a leading env axis E).

    env_state: env state pytree [E, ...]       obs: [E, N, *obs_shape]
    avail: [E, N, A] bool                      alive: [E, N] bool
    hidden: [E, N, H] recurrent state          reset: [E] bool (next step starts an episode)
    active: [E] bool (episode mode: episode still running)
    ep_return: [E, N] running return           ep_length: [E] int32 running length
    om: the opponent model's recurrent rollout state (``OMCarry`` [E, ...]) or None
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


def ppo_scheme(env: Environment, params: Any, policy: MultiPolicy, T: int,
               extra_fields: dict[str, Field] | None = None) -> Scheme:
    """The episode scheme the PPO rollout writes: [E, T+1, ...] per field.

    A policy with ``extra_dim`` inputs adds ``extra`` [X] (what it saw); ``extra_fields`` (e.g.
    OMG's ``subgoal``) are added as given.
    """
    n = env.num_agents(params)
    a = env.num_actions(params)
    ag = "agents"
    more = dict(extra_fields or {})
    if policy.extra_dim:
        more["extra"] = Field((policy.extra_dim,), jnp.float32, ag)
    return Scheme.create(
        {
            "obs": Field(tuple(env.observation_shape(params)), jnp.float32, ag),
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
        {ag: n},
        T,
    )


ScriptedFn = Callable[..., jax.Array]


class Rollout:
    """Builds the pure rollout functions for one env/policy/seat assignment.

    ``scripted`` maps a seat index to a scripted policy ``(key, obs, state, params, agent) ->
    action`` (see :mod:`hopjax.envs.scripted`); the other seats act from the policy network.
    ``om_hook`` (episode mode only) is an opponent model (:mod:`hopjax.algos.ppo.opponent`) whose
    ``pre``/``post`` steps run next to the policy and give it its ``extra`` input; its state
    rides in ``EnvCarry.om`` and its parameters are ``run``'s ``om_params``.
    """

    def __init__(self, env: Environment, env_params: Any, policy: MultiPolicy, num_envs: int,
                 rollout_length: int = 0, scripted: dict[int, ScriptedFn] | None = None,
                 om_hook: Any = None, extra_fields: dict[str, Field] | None = None):
        self.base_env = env
        self.episode_mode = rollout_length == 0
        self.env = env if self.episode_mode else AutoReset(env)
        self.env_params = env_params
        self.policy = policy
        self.num_envs = num_envs
        self.T = env.episode_length(env_params) if self.episode_mode else rollout_length
        self.scripted = dict(scripted or {})
        self.n = env.num_agents(env_params)
        self.learner_mask = jnp.array([i not in self.scripted for i in range(self.n)])
        if om_hook is not None and not self.episode_mode:
            raise ValueError("an opponent-model hook needs episode mode (rollout_length 0)")
        if om_hook is not None and om_hook.extra_dim != policy.extra_dim:
            raise ValueError(f"opponent model gives {om_hook.extra_dim} features, the policy takes {policy.extra_dim}")
        self.om_hook = om_hook
        self.scheme = ppo_scheme(env, env_params, policy, self.T, extra_fields)

    # -- env helpers -------------------------------------------------------------------
    def reset(self, key: jax.Array) -> EnvCarry:
        """Reset all E envs -> a fresh carry."""
        keys = jax.random.split(key, self.num_envs)
        obs, state = jax.vmap(self.env.reset, in_axes=(0, None))(keys, self.env_params)
        avail = jax.vmap(self.env.avail_actions, in_axes=(0, None))(state, self.env_params)
        e, n = self.num_envs, self.n
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
        )

    def act(self, key, params, carry: EnvCarry, extra=None):
        """Sample all seats' actions -> (hidden, actions [E, N], log_prob [E, N], value [E, N])."""
        k_pol, k_scr = jax.random.split(key)
        hidden, logits, value = self.policy.apply(params, carry.hidden, carry.obs, carry.reset, extra)
        dist = masked_categorical(logits, carry.avail)
        actions = dist.sample(seed=k_pol).astype(jnp.int32)
        for seat, fn in self.scripted.items():
            keys = jax.random.split(jax.random.fold_in(k_scr, seat), self.num_envs)
            a = jax.vmap(fn, in_axes=(0, 0, 0, None, None))(
                keys, carry.obs, carry.env_state, self.env_params, seat
            )
            actions = actions.at[:, seat].set(a.astype(jnp.int32))
        return hidden, actions, dist.log_prob(actions), value

    # -- the rollout ---------------------------------------------------------------------
    def run(self, key: jax.Array, params: Any, carry: EnvCarry, extra_fn=None, om_params=None):
        """-> (carry, batch [E, T+1, ...], stats).

        ``extra_fn(carry) -> extra [E, N, X]``: stateless extra policy inputs; with an
        ``om_hook`` the opponent model (parameters ``om_params``) provides them instead.

        stats: returns_sum [N], episodes [] (completed episodes), goal_counts [N, G],
        length_sum [] - sums over the episodes that ended in this rollout.
        """
        env, p, pol = self.env, self.env_params, self.policy
        g = env.num_goals(p)
        batch = init_batch(self.scheme, self.num_envs)
        batch = write_const(batch, {"hidden0": carry.hidden})
        stats0 = {
            "returns_sum": jnp.zeros((self.n,)),
            "episodes": jnp.zeros(()),
            "length_sum": jnp.zeros(()),
            "goal_counts": jnp.zeros((self.n, g)),
        }

        def step(state, t):
            carry, batch, stats, key = state
            key, k_act, k_env = jax.random.split(key, 3)
            om_c = carry.om
            if self.om_hook is not None:
                om_c, extra = self.om_hook.pre(om_params, om_c, carry.obs, carry.reset)
            else:
                extra = None if extra_fn is None else extra_fn(carry)
            hidden, actions, log_prob, value = self.act(k_act, params, carry, extra)
            if self.om_hook is not None:
                om_c = self.om_hook.post(om_params, om_c, carry.obs, actions, carry.reset)
            keys = jax.random.split(k_env, self.num_envs)
            obs, env_state, reward, dones, info = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                keys, carry.env_state, actions, p
            )
            active = carry.active
            alive = carry.alive
            valid = alive & active[:, None]
            reward = jnp.where(valid, reward, 0.0)
            end = dones.episode & active
            terminated = alive & (dones.agents | dones.terminated[:, None])
            if self.episode_mode:
                # Truncation only falls on the last step here: its bootstrap is set after the scan.
                bootstrap = jnp.zeros_like(value)
                # Freeze finished envs so the stored final observation stays in place.
                keep = lambda new, old: jnp.where(
                    active.reshape(-1, *([1] * (new.ndim - 1))), new, old
                )
                env_state = jax.tree.map(keep, env_state, carry.env_state)
                next_obs = keep(obs, carry.obs)
                next_avail = keep(info["avail_actions"], carry.avail)
                next_alive = keep(info["alive"], carry.alive)
                next_active = active & ~dones.episode
            else:
                final_obs = info["final_obs"]
                _, _, bootstrap = pol.apply(
                    params, hidden, final_obs, jnp.zeros_like(carry.reset),
                    None if extra_fn is None else extra_fn(carry),
                )
                next_obs, next_avail = obs, info["avail_actions"]
                next_alive = info["alive"]
                next_active = active
            goal = jnp.where(valid, info["goal"], -1)
            more = {} if extra is None else {"extra": extra}
            batch = write(
                batch,
                {
                    **more,
                    "obs": carry.obs,
                    "avail_actions": carry.avail,
                    "actions": actions,
                    "log_prob": log_prob,
                    "value": value,
                    "reward": reward,
                    "terminated": terminated,
                    "goal": goal,
                    "bootstrap_value": bootstrap,
                    "episode_end": end,
                    "truncated": dones.truncated & active,
                    "reset": carry.reset,
                },
                t,
                filled=active,
                alive=alive,
            )
            ep_return = carry.ep_return + reward
            ep_length = carry.ep_length + active.astype(jnp.int32)
            endf = end.astype(jnp.float32)
            onehot = jax.nn.one_hot(goal, g)  # goal -1 -> all zeros
            stats = {
                "returns_sum": stats["returns_sum"] + (endf[:, None] * ep_return).sum(0),
                "episodes": stats["episodes"] + endf.sum(),
                "length_sum": stats["length_sum"] + (endf * ep_length).sum(),
                "goal_counts": stats["goal_counts"] + onehot.sum(0),
            }
            carry = EnvCarry(
                env_state=env_state,
                obs=next_obs,
                avail=next_avail,
                alive=next_alive,
                hidden=hidden,
                reset=dones.episode,
                active=next_active,
                ep_return=jnp.where(end[:, None], 0.0, ep_return),
                ep_length=jnp.where(end, 0, ep_length),
                om=om_c,
            )
            return (carry, batch, stats, key), None

        (carry, batch, stats, _), _ = jax.lax.scan(
            step, (carry, batch, stats0, key), jnp.arange(self.T)
        )
        # Index T: the observation after the last step. It is the bootstrap for a cut segment
        # (segment mode) or for a truncated episode (episode mode, where the time limit can only
        # fall on the last step and the recurrent state carries on into the final observation).
        reset_T = jnp.zeros_like(carry.reset) if self.episode_mode else carry.reset
        if self.om_hook is not None:  # features of the final observation; the state is not kept
            _, extra = self.om_hook.pre(om_params, carry.om, carry.obs, reset_T)
        else:
            extra = None if extra_fn is None else extra_fn(carry)
        _, _, last_value = pol.apply(params, carry.hidden, carry.obs, reset_T, extra)
        reached_end = batch.filled[:, self.T - 1]
        more = {} if extra is None else {"extra": extra}
        batch = write(
            batch,
            {**more, "obs": carry.obs, "avail_actions": carry.avail, "value": last_value, "reset": carry.reset},
            self.T,
            filled=reached_end,
            alive=carry.alive,
        )
        if self.episode_mode:
            data = dict(batch.data)
            data["bootstrap_value"] = data["bootstrap_value"].at[:, self.T - 1].set(last_value)
            batch = batch.replace(data=data)
        return carry, batch, stats
