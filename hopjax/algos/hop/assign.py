"""Assigned-target walkers: goal-directed training data for HOP's goal model (our addition).

HOP's goal model ``pi(a | o, g)`` is trained, as in the HOP code, on its own self-play with
hindsight goal labels. There the label is (nearly) a function of the observation - HOP's own
policy decides where it goes - so the model can predict the action from ``o`` alone and learns
to ignore ``g`` (measured on Snowdrift in ``benchmarks/RESULTS.md``, issue 14: "A grid closer
to the paper's does not help"). With ``goal_walker_envs > 0`` (``HOPConfig``) each update
also rolls out that many separate walker-only envs: every seat is *assigned* a target drawn
uniformly among the targets present (an individual, located goal, as the goal model's goals
are), independently of what it sees, and walks to it by the rule of :func:`walk_to`; when its
target is removed (by it or by anyone else) it is assigned a new one among those left. Nothing
plans there (no search). Their steps are labelled with the target walked to (not the hindsight
label) and feed the goal model's loss only; HOP's own self-play episodes, and so the planner
net's data, are untouched. (Tried first: walkers mixed per seat into the self-play episodes,
``goal_assign_fraction``, which lowered HOP's return when the planner net trained next to
them; ``benchmarks/RESULTS.md``, issue 14.) Because the assignment does not depend on the
observation, only ``g`` tells these moves apart: the goal model has to use it. This is the goal
randomisation of goal-conditioned RL (a goal drawn per episode, the policy conditioned on it:
Schaul et al., "Universal Value Function Approximators", ICML 2015), applied to the data of
the co-player model; it is not in the HOP paper or code.

The rule differs from every scripted evaluation kind of :mod:`hopjax.envs.scripted`: chasers
re-pick their *nearest* live target at every step, a walker keeps a *uniformly assigned* one
(often not the nearest) until it is gone; random and fix players have no target. Given its
target, though, a walker steps as a chaser does (a move that shortens the Manhattan distance,
ties at random; interact on the target's cell), so the goal model sees what walking to ``g``
looks like - which is what a chaser's walk to its own target is.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from hopjax.envs.moves import MOVE_DELTAS, NUM_MOVES, STAY


def draw_targets(key: jax.Array, present: jax.Array, num_seats: int) -> jax.Array:
    """present [E, G] bool -> [E, N] int32: one target per seat, uniform among the present
    goals; ``G`` ("no target") in envs with none present."""
    e, g = present.shape
    u = jax.random.uniform(key, (e, num_seats, g))
    pick = jnp.argmax(jnp.where(present[:, None, :], u, -1.0), axis=-1)
    return jnp.where(jnp.any(present, axis=-1, keepdims=True), pick, g).astype(jnp.int32)


def keep_or_redraw(key: jax.Array, target: jax.Array, present: jax.Array) -> jax.Array:
    """target [E, N] int32 (``G`` = none), present [E, G] bool after a step -> targets for the
    next step: kept where still present, redrawn uniformly among the present goals elsewhere."""
    g = present.shape[-1]
    still = jnp.take_along_axis(present, jnp.minimum(target, g - 1), axis=-1) & (target < g)
    return jnp.where(still, target, draw_targets(key, present, target.shape[-1]))


def walk_to(key: jax.Array, avail: jax.Array, pos: jax.Array, target_pos: jax.Array,
            has_target: jax.Array) -> jax.Array:
    """One walker's action. avail [A] bool, pos [2] int (its cell), target_pos [2] int,
    has_target [] bool -> [] int32:

    - on the target's cell: one of the available interact actions (index >= NUM_MOVES) at
      random, STAY if none is available (a stag that needs a partner);
    - elsewhere: one of the available moves that shorten the Manhattan distance, at random;
    - with no such move or no target: a random available non-interact action (``fix``)."""
    a = avail.shape[0]
    u_move, u_int, u_fix = jax.random.uniform(key, (3, a))
    d0 = jnp.sum(jnp.abs(target_pos - pos))
    d1 = jnp.sum(jnp.abs(pos[None] + jnp.asarray(MOVE_DELTAS) - target_pos[None]), axis=-1)  # [NUM_MOVES]
    closer = jnp.zeros((a,), bool).at[:NUM_MOVES].set((d1 < d0) & avail[:NUM_MOVES])
    interact = avail & (jnp.arange(a) >= NUM_MOVES)
    fix = avail & (jnp.arange(a) < NUM_MOVES)

    def pick(u, mask):
        return jnp.where(jnp.any(mask), jnp.argmax(jnp.where(mask, u, -1.0)), STAY)

    on = d0 == 0
    act = jnp.where(on, pick(u_int, interact), jnp.where(jnp.any(closer), pick(u_move, closer), pick(u_fix, fix)))
    return jnp.where(has_target, act, pick(u_fix, fix)).astype(jnp.int32)


def walker_actions(key: jax.Array, env, env_params: Any, states: Any, avail: jax.Array,
                   target: jax.Array) -> jax.Array:
    """Every seat's walker action in every env: states [E, ...] (with ``positions`` [E, N, 2],
    as both hopjax grid worlds have), avail [E, N, A], target [E, N] int32 (``G`` = none)
    -> [E, N] int32."""
    e, n = target.shape
    where = jax.vmap(env.goal_positions, in_axes=(0, None))(states, env_params)  # [E, G, 2]
    g = where.shape[1]
    tpos = jnp.take_along_axis(where, jnp.minimum(target, g - 1)[..., None], axis=1)  # [E, N, 2]
    keys = jax.random.split(key, (e, n))
    walk = jax.vmap(jax.vmap(walk_to))
    return walk(keys, avail, states.positions, tpos, target < g)
