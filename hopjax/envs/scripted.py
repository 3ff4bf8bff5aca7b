"""Scripted co-players in pure JAX: those of the HOP code (Huang et al., ICML 2024), whose
``policy/fixed_policy.py`` holds the random, fix and nearest-drift players; the Stag-Hunt
chasers are not in the public HOP code and apply the same nearest-target rule to stags / hares.

Every policy has the signature::

    policy(key, obs, state, params, agent_idx) -> action

- ``key``: PRNG key; ``obs``: that agent's observation ``[H, W, C]`` (unused by these rule
  policies, kept so learned and scripted policies are interchangeable); ``state`` / ``params``:
  the env state and params; ``agent_idx``: [] int32 seat (may be traced).
- returns a [] int32 action that is always available (a dead agent gets STAY).

They are jittable and vmappable, e.g. over agents
``jax.vmap(policy, in_axes=(0, 0, None, None, 0))(keys, obs, state, params, jnp.arange(N))``
and, around that, over envs.

Policies (``SCRIPTED[env_name][policy_name]``):

- ``random``: uniform over the available actions.
- ``fix``: uniform over the available non-interact actions (moves and stay) - the "no target"
  behaviour.
- chasers (``stag``/``hare`` in Stag-Hunt, ``cleaner`` in Snowdrift): pick the nearest live
  target by Manhattan distance (ties broken at random), step along an available move that
  reduces the distance (ties broken at random; if none exists, act like ``fix``), and interact
  when standing on the target. A stag chaser on its stag whose hunt is not yet available
  (no partner on the cell) waits with STAY. With no target left they act like ``fix``.

What each policy is after (``PURSUIT[env_name][policy_name]``, the ground truth for scoring a
model's beliefs about a scripted co-player's goal)::

    pursuit(state, params, agent_idx) -> [G + 1] bool

over the env's goals (``goal_names`` order) and a last "no target" entry: a chaser's nearest
live targets of its kind (every target tied at the nearest distance: the chase draws one of
them at random at each step, so the set is what it pursues), or "no target" when none is left;
``random`` and ``fix`` have no target. (Our definition: the HOP code's players pursue the same
nearest target but do not report it.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from hopjax.envs import _grid
from hopjax.envs import snowdrift as _sd
from hopjax.envs import stag_hunt as _sh

Policy = Callable[[jax.Array, jax.Array, Any, Any, jax.Array], jax.Array]

_STAG_HUNT = _sh.StagHunt()
_SNOWDRIFT = _sd.Snowdrift()


def _sample_masked(u: jax.Array, mask: jax.Array) -> jax.Array:
    """Uniform index among True entries of ``mask`` (STAY if none), given uniforms ``u`` of
    the mask's shape (random argmax; one PRNG call per policy keeps compiles fast)."""
    choice = jnp.argmax(jnp.where(mask, u, -1.0))
    return jnp.where(jnp.any(mask), choice, _grid.STAY).astype(jnp.int32)


def _fix_mask(avail_row: jax.Array) -> jax.Array:
    return avail_row.at[_grid.NUM_MOVES :].set(False)


def _chase(
    key: jax.Array,
    avail_row: jax.Array,
    pos: jax.Array,
    target_pos: jax.Array,
    target_alive: jax.Array,
    interact: int,
) -> jax.Array:
    """Move toward / interact with the nearest live target (see module docstring)."""
    num_actions, num_targets = avail_row.shape[0], target_pos.shape[0]
    u = jax.random.uniform(key, (num_targets + 2 * num_actions,))
    u_tie, u_move, u_fix = u[:num_targets], u[num_targets:-num_actions], u[-num_actions:]
    dist = jnp.sum(jnp.abs(target_pos - pos[None, :]), axis=-1)  # [K]
    noisy = dist.astype(jnp.float32) + 0.5 * u_tie
    noisy = jnp.where(target_alive, noisy, jnp.inf)
    j = jnp.argmin(noisy)
    has_target = jnp.any(target_alive)
    tgt = target_pos[j]
    d0 = dist[j]
    new = pos[None, :] + jnp.asarray(_grid.MOVE_DELTAS[:4])  # [4, 2]
    d_new = jnp.sum(jnp.abs(new - tgt[None, :]), axis=-1)
    closer = (d_new < d0) & avail_row[:4]
    closer_mask = jnp.concatenate([closer, jnp.zeros(num_actions - 4, bool)])
    move = _sample_masked(u_move, closer_mask)
    fix = _sample_masked(u_fix, _fix_mask(avail_row))
    on_target = d0 == 0
    at_target = jnp.where(avail_row[interact], interact, _grid.STAY)
    chase = jnp.where(on_target, at_target, jnp.where(jnp.any(closer), move, fix))
    return jnp.where(has_target, chase, fix).astype(jnp.int32)


def nearest_targets(pos: jax.Array, target_pos: jax.Array, target_alive: jax.Array) -> jax.Array:
    """[K] bool: the live targets at the smallest Manhattan distance from ``pos`` [2] int
    (``target_pos`` [K, 2] int, ``target_alive`` [K] bool); all False if none is alive. These
    are the candidates among which :func:`_chase` draws its target (its tie-break noise is
    below 1, so it never prefers a farther target)."""
    dist = jnp.sum(jnp.abs(target_pos - pos[None, :]), axis=-1)
    best = jnp.min(jnp.where(target_alive, dist, jnp.iinfo(jnp.int32).max))
    return target_alive & (dist == best)


def _with_none(goals: jax.Array) -> jax.Array:
    """[G] bool pursued goals -> [G + 1] with "no target" set where no goal is pursued."""
    return jnp.concatenate([goals, ~jnp.any(goals, keepdims=True)])


def _no_target(env) -> Callable[[Any, Any, jax.Array], jax.Array]:
    def pursuit(state, params, agent_idx):
        return _with_none(jnp.zeros((env.num_goals(params),), bool))

    return pursuit


def _stag_pursuit(state, params, agent_idx):
    stags = nearest_targets(state.positions[agent_idx], state.stag_pos, state.stag_alive)
    return _with_none(jnp.concatenate([stags, jnp.zeros(state.hare_alive.shape, bool)]))


def _hare_pursuit(state, params, agent_idx):
    hares = nearest_targets(state.positions[agent_idx], state.hare_pos, state.hare_alive)
    return _with_none(jnp.concatenate([jnp.zeros(state.stag_alive.shape, bool), hares]))


def _drift_pursuit(state, params, agent_idx):
    return _with_none(nearest_targets(state.positions[agent_idx], state.drift_pos, state.drift_alive))


def _finish(env, state: Any, params: Any, agent_idx: jax.Array, action: jax.Array) -> jax.Array:
    """``action`` for a live agent, STAY for a dead one."""
    alive = env.alive(state, params)[agent_idx]
    return jnp.where(alive, action, _grid.STAY).astype(jnp.int32)


def _make_random(env) -> Policy:
    def random_policy(key, obs, state, params, agent_idx):
        avail = env.avail_actions(state, params)[agent_idx]
        u = jax.random.uniform(key, avail.shape)
        return _finish(env, state, params, agent_idx, _sample_masked(u, avail))

    return random_policy


def _make_fix(env) -> Policy:
    def fix_policy(key, obs, state, params, agent_idx):
        avail = env.avail_actions(state, params)[agent_idx]
        u = jax.random.uniform(key, avail.shape)
        return _finish(env, state, params, agent_idx, _sample_masked(u, _fix_mask(avail)))

    return fix_policy


def stag_chaser(key, obs, state, params, agent_idx):
    """Stag-Hunt: nearest-stag chaser (hunt-stag when on a stag and the hunt is available)."""
    avail = _STAG_HUNT.avail_actions(state, params)[agent_idx]
    a = _chase(
        key, avail, state.positions[agent_idx], state.stag_pos, state.stag_alive, _sh.HUNT_STAG
    )
    return _finish(_STAG_HUNT, state, params, agent_idx, a)


def hare_chaser(key, obs, state, params, agent_idx):
    """Stag-Hunt: nearest-hare chaser (hunt-hare when on a hare)."""
    avail = _STAG_HUNT.avail_actions(state, params)[agent_idx]
    a = _chase(
        key, avail, state.positions[agent_idx], state.hare_pos, state.hare_alive, _sh.HUNT_HARE
    )
    return _finish(_STAG_HUNT, state, params, agent_idx, a)


def drift_cleaner(key, obs, state, params, agent_idx):
    """Snowdrift: nearest-drift cleaner (shovel when on a drift)."""
    avail = _SNOWDRIFT.avail_actions(state, params)[agent_idx]
    a = _chase(
        key, avail, state.positions[agent_idx], state.drift_pos, state.drift_alive, _sd.SHOVEL
    )
    return _finish(_SNOWDRIFT, state, params, agent_idx, a)


SCRIPTED: dict[str, dict[str, Policy]] = {
    "stag_hunt": {
        "random": _make_random(_STAG_HUNT),
        "fix": _make_fix(_STAG_HUNT),
        "stag": stag_chaser,
        "hare": hare_chaser,
    },
    "snowdrift": {
        "random": _make_random(_SNOWDRIFT),
        "fix": _make_fix(_SNOWDRIFT),
        "cleaner": drift_cleaner,
    },
}


PURSUIT: dict[str, dict[str, Callable[[Any, Any, jax.Array], jax.Array]]] = {
    "stag_hunt": {"random": _no_target(_STAG_HUNT), "fix": _no_target(_STAG_HUNT),
                  "stag": _stag_pursuit, "hare": _hare_pursuit},
    "snowdrift": {"random": _no_target(_SNOWDRIFT), "fix": _no_target(_SNOWDRIFT),
                  "cleaner": _drift_pursuit},
}


def team_policy(env_name: str, names: Sequence[str]) -> Callable[..., jax.Array]:
    """Seat i plays ``SCRIPTED[env_name][names[i]]``: ``fn(key, obs, state, params) -> [N]``.

    ``obs`` is ``[N, H, W, C]``; jittable and vmappable over envs.
    """
    table = SCRIPTED[env_name]
    unknown = [n for n in names if n not in table]
    if unknown:
        raise ValueError(f"unknown scripted policies {unknown}; known: {sorted(table)}")
    fns = [table[n] for n in names]

    def act(key, obs, state, params):
        keys = jax.random.split(key, len(fns))
        return jnp.stack(
            [f(keys[i], obs[i], state, params, jnp.int32(i)) for i, f in enumerate(fns)]
        )

    return act
