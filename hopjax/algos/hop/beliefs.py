"""HOP's beliefs over co-players' goals: hindsight labels, intra-OM and inter-OM updates.

All functions are pure and shape-polymorphic over leading axes. A belief row has ``G + 1``
entries: the env's ``G`` goals (``goal_names``) and a last "no target" entry. Beliefs are kept
as **log-probabilities** (``-inf`` for impossible goals) so that long products of small
likelihoods never underflow. The agent keeps ``[N-1, G+1]`` rows (one per co-player); in
self-play every observer sees the same history, so hopjax stores one row per seat, ``[N, G+1]``,
and each agent reads the rows of its co-players.

Rules and their sources (HOP: Huang, Liu, Kong, Yang, Zhu, Feng, "Efficient Adaptation in
Mixed-Motive Environments via Hierarchical Opponent Modeling and Planning", ICML 2024, arXiv
2406.08002; "HOP code" is its released code):

- **Goals and labels** (HOP paper: a goal is a set of states, and an agent's goal is known once
  its trajectory enters one; the HOP code trains its co-player models on these hindsight
  labels and conditions them on the target's grid coordinates): a goal is one located target
  (``stag_0``, ``hare_2``, ``drift_5`` at its cell; :class:`hopjax.models.goal_policy.GoalPolicy`
  reads the cell from the env state). The goal label of step ``t`` is the index of the target
  of the agent's next successful interaction at or after ``t`` (``info["goal"]``); steps after
  its last one have no goal (label ``-1``) - dropped from goal-model training, and counted as
  "no target" by inter-OM and by the belief-accuracy metric.
- **Intra-OM** (HOP paper: Bayes' rule within an episode; HOP code: removed targets get
  likelihood 0): ``b'(g) ∝ b(g) * pi(a | o, g) ** (1 / temperature)`` for goals still
  present, 0 for removed ones. If every goal gets probability 0 the row is reset to the prior
  over present goals (our choice; with the default uniform prior it is a reset to uniform over
  present goals). ``temperature = 1`` is exact Bayes; other values temper the likelihood (our
  choice, a config knob).
- **Inter-OM** (HOP paper: a prior summarised from past episodes; the HOP code keeps an EMA of
  how often a co-player interacts per episode, i.e. the probability that it has any target at
  all, with decay 0.98 for Snowdrift, ``msg_code/train.py``, and 0.995 for Stag-Hunt,
  ``msh_code/train.py``).
  hopjax keeps the prior as decayed **pseudo-counts** over the whole ``G + 1`` row:
  ``counts' = decay * counts + freq``, where ``freq`` is the fraction of the co-player's alive
  steps of the last episode spent on each goal label ("no target" for steps after its last
  interaction), **pooled** by ``kinds``: every goal gets the mean frequency of its group. With
  ``HOPConfig.inter_om_pooling: any`` (the default) every target is one group, so the prior
  carries only ``1 - prior[none]``, the probability of having any target: the HOP code's EMA,
  with the targets weighted alike. With ``kind`` (our extension) the groups are the goal kinds
  (stag, hares), so it also carries which kind a co-player pursues. Targets of one kind are
  exchangeable across episodes (layouts and index order are re-drawn at every reset), so
  nothing finer can carry over by index; :func:`initial_beliefs` restricts the prior to the
  targets present. With ``rank`` (our extension) the counts are kept over **slots** instead
  of targets: a target's slot, as seen by a co-player at a step, is its kind's first slot plus
  its rank among the present targets of its kind by Manhattan distance from the co-player
  (ties by index; :func:`distance_slots`). Inter-OM counts, at every step, the slot its label's
  target had when the co-player chose it (:func:`slot_labels`: the first step of the label's
  run), pooled by rank, every kind's nearest in one group
  (:func:`rank_groups`), and a target's prior at a step is its slot's count
  (:func:`slot_prior`). So the prior carries how near a co-player's targets lie (a
  nearest-target pursuer is recognised in the next layout) and no preference between kinds:
  ``kind`` taught three HOP seats that their teammates rarely hunt the stag, and their return
  fell (``benchmarks/RESULTS.md``, issue 14). The present targets of a kind take distinct
  slots, so non-uniform counts map onto the targets one to one (and a uniform start stays
  uniform over the present targets). The prior is ``counts / sum(counts)``: an EMA with decay ``decay`` of the episodes'
  frequencies, started from a uniform row worth ``prior_weight`` episodes
  (:func:`uniform_prior`). The start is our choice:
  the HOP code's initial value is not in any available source, and an EMA that starts from a
  uniform row with the full weight ``1 / (1 - decay)`` (200 episodes at 0.995) moves the prior
  by 0.5 % of an episode per episode, so a new co-player could never be learnt within a few
  episodes; ``prior_weight = 1`` (the default of ``inter_om_prior_weight``) weighs the uniform
  start like one observed episode, after which the decayed counts take over.
- **Unrevealed goals** (``HOPConfig.inter_om_labels``, our extension): the hindsight label
  of a step after a co-player's last interaction is "no target", so a chase that never ends in
  an interaction (a stag hunted alone) counts as "no target" too, and inter-OM learns that
  stag chasers often pursue nothing. With ``expected`` those steps count as intra-OM's beliefs
  about the co-player at the end of the episode (its posterior after its actions since its
  last interaction: goal renewal must be on) instead of a one-hot "no target", roughly the
  expected counts of an EM step for labels the episode did not reveal. Steps with a label count
  as before. Limits: a target another player took is absent at the end and gets 0 there (its
  mass goes to what is left, "no target" included); with ``any`` pooling the steps only move
  mass between "no target" and every target alike, with ``kind`` they also keep the kind.
  ``hindsight`` (the default) is the HOP code's count of interactions. With ``reached`` those
  steps count as the target whose cell the co-player's trajectory reaches next (at or after
  the step, still present after it), "no target" only where it reaches none before the
  episode ends (:func:`reached_labels`): the HOP paper's definition of a goal as a set of
  states the trajectory enters, applied where no interaction revealed one. A lone stag
  chaser waiting on the stag counts as pursuing it; a co-player that never stands on a target
  again counts as pursuing nothing. Limits: a step onto a target's cell counts as pursuing it,
  also in passing (a random walker that crosses a hare counts as after that hare), and belief
  accuracy keeps the hindsight labels, so inter-OM is taught the stag on the steps that
  accuracy scores against "no target". The goal model keeps the hindsight labels too unless
  ``HOPConfig.goal_model_labels: reached``, which trains it on the same reached labels (a
  stag hunter waiting on the stag is then a stag step, where the HOP code drops it).
- **Goal renewal** (``belief_reset_on_goal``, our choice; the HOP code's belief module is not
  in any available source): the goal being inferred is the hindsight label, the target of the
  co-player's *next* interaction, so it changes when the co-player reaches one. With the
  option on, a co-player's row restarts from the prior over the present goals at the step it
  reaches a goal - the exact Bayes filter when each next goal is a fresh draw from the prior,
  the model inter-OM's label frequencies describe. Without it the evidence of the finished
  walk stays multiplied in: the interaction itself has likelihood about 0 under "no target",
  so "no target" stays near 0 for the rest of the episode, also when the co-player has
  nothing left to go for. Where agents leave the episode when they reach a goal (Stag-Hunt's
  hunters) the option changes nothing they are scored or planned on.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from hopjax.buffers.masked import select
from hopjax.envs.base import Environment


def present_goals(env: Environment, states: Any, params: Any) -> jax.Array:
    """Goals still reachable in a batch of env states (one leading axis ``E``): [E, G] bool in
    ``goal_names`` order (:meth:`Environment.goals_present`, vmapped)."""
    return jax.vmap(env.goals_present, in_axes=(0, None))(states, params)


def with_none(present: jax.Array) -> jax.Array:
    """[..., G] -> [..., G+1]: the "no target" option is always possible."""
    return jnp.concatenate([present, jnp.ones(present.shape[:-1] + (1,), bool)], axis=-1)


def log_normalize(logits: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Normalise log-weights over the True entries of ``mask`` (last axis).

    -> (log-probabilities, ``-inf`` outside ``mask``; ok [...] bool: some entry had mass).
    Rows without mass come back all ``-inf`` with ``ok = False``.
    """
    x = jnp.where(mask, logits, -jnp.inf)
    m = jnp.max(x, axis=-1, keepdims=True)
    ok = jnp.isfinite(m)
    # Rows without mass are selected away before exp/log (the sum would be 0 and log(0)'s
    # gradient 0/0): their values and gradients stay finite.
    z = jnp.where(ok, x - jnp.where(ok, m, 0.0), -jnp.inf)
    total = jnp.sum(jnp.exp(z), axis=-1, keepdims=True)
    lse = jnp.where(ok, m, 0.0) + jnp.log(jnp.where(ok, total, 1.0))
    ok = ok & jnp.isfinite(lse)
    out = jnp.where(mask & ok, x - jnp.where(ok, lse, 0.0), -jnp.inf)
    return out, ok[..., 0]


def initial_beliefs(prior: jax.Array, present: jax.Array) -> jax.Array:
    """Episode-start beliefs: the (inter-OM) prior restricted to present goals.

    prior [..., G+1] probabilities or inter-OM pseudo-counts (only ratios matter), present
    [..., G+1] bool -> log-beliefs [..., G+1]. A prior with no mass on any present goal falls
    back to uniform over present goals."""
    log_prior = jnp.log(jnp.maximum(prior, 0.0))
    b, ok = log_normalize(log_prior, present)
    uniform, _ = log_normalize(jnp.zeros_like(prior), present)
    return jnp.where(ok[..., None], b, uniform)


def intra_update(
    log_b: jax.Array,
    log_lik: jax.Array,
    present: jax.Array,
    acted: jax.Array,
    prior: jax.Array,
    temperature: float = 1.0,
    achieved: jax.Array | None = None,
) -> jax.Array:
    """One within-episode Bayes step.

    log_b [..., G+1]: current log-beliefs; log_lik [..., G+1]: log pi(a_t | o_t, g) of the
    observed action under every goal; present [..., G+1] bool: goals still present after the
    step; acted [...] bool: the co-player was alive and acted (others keep their row, only
    restricted to present goals); prior [..., G+1]: reset target if no goal explains the action.
    achieved [...] bool or None: the co-player reached a goal at this step (``info["goal"] >=
    0``); its row restarts from the prior over the present goals (module doc, "Goal renewal").
    -> log-beliefs [..., G+1]. Likelihoods of absent goals and of rows that did not act are
    selected away before use: NaN/inf there changes neither the beliefs nor their gradients.
    """
    log_lik = select(acted[..., None] & present, log_lik)
    post, ok = log_normalize(log_b + log_lik / temperature, present)
    reset = initial_beliefs(prior, present)
    if achieved is not None:
        ok = ok & ~achieved
    new = jnp.where(ok[..., None], post, reset)
    kept, kept_ok = log_normalize(log_b, present)
    kept = jnp.where(kept_ok[..., None], kept, reset)
    return jnp.where(acted[..., None], new, kept)


def hindsight_labels(goal: jax.Array, valid: jax.Array, axis: int = 1) -> jax.Array:
    """Goal label of every step: the next goal the agent achieves at or after it.

    goal [..., T, ...] int (``info["goal"]``, -1 for none), valid (same shape) bool ->
    labels (same shape) int32, -1 where no goal follows (steps after the last interaction or
    invalid steps). ``axis`` is the time axis.
    """
    g = jnp.moveaxis(jnp.where(valid, goal, -1), axis, 0)

    def back(nxt, gt):
        lab = jnp.where(gt >= 0, gt, nxt)
        return lab, lab

    _, labels = jax.lax.scan(back, jnp.full(g.shape[1:], -1, g.dtype), g, reverse=True)
    labels = jnp.where(jnp.moveaxis(valid, axis, 0), labels, -1)
    return jnp.moveaxis(labels, 0, axis).astype(jnp.int32)


def occupied_goals(agent_pos: jax.Array, goal_pos: jax.Array, present: jax.Array) -> jax.Array:
    """The target each agent stands on: agent_pos [..., N, 2] int, goal_pos [..., G, 2] int,
    present [..., G] bool -> [..., N] int32, the lowest index of a present goal on the agent's
    cell, -1 where there is none."""
    on = jnp.all(agent_pos[..., :, None, :] == goal_pos[..., None, :, :], axis=-1) & present[..., None, :]
    return jnp.where(jnp.any(on, axis=-1), jnp.argmax(on, axis=-1), -1).astype(jnp.int32)


def reached_labels(labels: jax.Array, occupied: jax.Array, valid: jax.Array, axis: int = 1) -> jax.Array:
    """Inter-OM's labels under ``inter_om_labels: reached`` and the goal model's under
    ``goal_model_labels: reached`` (module doc, "Unrevealed goals"):
    labels int (:func:`hindsight_labels`), occupied int (:func:`occupied_goals` after every
    step, -1 for none) and valid bool, all the same shape with time at ``axis`` -> int32
    labels: a step with a hindsight label keeps it; one without (-1) takes the next target the
    agent stands on at or after it, -1 where it stands on none before the episode ends (or the
    step is invalid)."""
    nxt = hindsight_labels(occupied, valid, axis)
    return jnp.where(labels >= 0, labels, nxt).astype(jnp.int32)


def label_with_none(labels: jax.Array, num_goals: int) -> jax.Array:
    """-1 labels -> ``num_goals`` (the "no target" index)."""
    return jnp.where(labels < 0, num_goals, labels)


def kind_pooling(kinds, num_goals: int) -> jax.Array:
    """[G+1, G+1] float32 matrix averaging within kinds (``kinds``: G ints; "no target" is its
    own kind): ``(freq @ M)[g]`` is the mean of ``freq`` over the goals of ``g``'s kind."""
    k = jnp.concatenate([jnp.asarray(kinds, jnp.int32), jnp.full((1,), -1, jnp.int32)])
    if k.shape[0] != num_goals + 1:
        raise ValueError(f"kinds has {k.shape[0] - 1} entries for {num_goals} goals")
    same = (k[:, None] == k[None, :]).astype(jnp.float32)
    return same / jnp.sum(same, axis=0, keepdims=True)


def uniform_prior(shape: tuple[int, ...], weight: float) -> jax.Array:
    """Inter-OM pseudo-counts of a new, unknown co-player: ``shape`` (last axis ``G + 1``)
    float32, uniform, each row summing to ``weight`` (> 0, in episodes: how much the uniform
    start counts against observed episodes; module doc)."""
    return jnp.full(shape, weight / shape[-1], jnp.float32)


def prior_probs(counts: jax.Array) -> jax.Array:
    """Inter-OM pseudo-counts [..., G+1] -> prior probabilities [..., G+1] (rows sum to 1)."""
    return counts / jnp.sum(counts, axis=-1, keepdims=True)


def inter_update(counts: jax.Array, labels: jax.Array, valid: jax.Array, decay: float,
                 axis: int = 0, kinds=None, unrevealed: jax.Array | None = None) -> jax.Array:
    """Across-episode update of the inter-OM pseudo-counts: ``decay * counts + freq``.

    counts [..., G+1] float (:func:`uniform_prior` for a new co-player); labels / valid: the
    last episode's hindsight labels (:func:`reached_labels` under ``inter_om_labels: reached``)
    and validity with a time axis at ``axis`` (shape of ``counts`` without its last axis, plus
    time); kinds: G ints
    (:func:`hopjax.models.goal_policy.goal_kinds`) to pool the frequencies within kinds (module
    doc), or None for no pooling. ``axis`` >= 0. unrevealed [..., G+1] probabilities (shape of ``counts``) or
    None: what a step without a goal label (-1: after the co-player's last interaction) counts
    as; None: "no target" (the hindsight label); ``inter_om_labels: expected`` passes intra-OM's
    final beliefs (module doc). ``freq`` sums to 1 over a row; co-players without any valid
    step keep their counts. -> counts [..., G+1]; :func:`prior_probs` gives the prior.
    """
    g1 = counts.shape[-1]
    onehot = jax.nn.one_hot(label_with_none(labels, g1 - 1), g1)
    if unrevealed is not None:
        onehot = jnp.where((labels < 0)[..., None], jnp.expand_dims(unrevealed, axis), onehot)
    onehot = select(valid, onehot)
    steps = jnp.sum(onehot, axis=axis)
    total = jnp.sum(steps, axis=-1, keepdims=True)
    freq = steps / jnp.maximum(total, 1.0)
    if kinds is not None:
        freq = freq @ kind_pooling(kinds, g1 - 1)
    return jnp.where(total > 0, decay * counts + freq, counts)


def kind_offsets(kinds) -> tuple[int, ...]:
    """First slot of every goal's kind: for goal ``g``, the number of goals whose kind index is
    below ``kinds[g]`` (``kinds``: G ints, :func:`hopjax.models.goal_policy.goal_kinds`), so
    that the slots ``offset .. offset + count - 1`` of different kinds never overlap."""
    return tuple(sum(1 for k in kinds if k < kg) for kg in kinds)


def rank_groups(kinds) -> tuple[int, ...]:
    """Pooling groups of the G target slots under ``inter_om_pooling: rank``: slot ``s`` holds
    the ``r``-th nearest target of its kind and joins group ``r`` (module doc). ``kinds``: G
    Python ints (static) -> tuple of G ints, for :func:`inter_update`'s ``kinds``."""
    kinds = tuple(int(k) for k in kinds)
    offsets = kind_offsets(kinds)
    first = {k: o for k, o in zip(kinds, offsets)}
    slot_kind = sorted(kinds)  # slot s belongs to the kind whose range covers it
    return tuple(s - first[k] for s, k in enumerate(slot_kind))


def distance_slots(agent_pos: jax.Array, goal_pos: jax.Array, present: jax.Array, kinds) -> jax.Array:
    """Slot of every target as seen by every agent: its kind's first slot plus its distance
    rank among the present targets of its kind (Manhattan distance from the agent's cell,
    ties broken by goal index; the rank of an absent target is meaningless and masked by its
    users).

    agent_pos [..., N, 2] int, goal_pos [..., G, 2] int, present [..., G] bool, kinds: G ints
    -> [..., N, G] int32 in [0, G). Within a kind, the present targets take distinct slots."""
    g = goal_pos.shape[-2]
    dist = jnp.sum(jnp.abs(agent_pos[..., :, None, :] - goal_pos[..., None, :, :]), axis=-1)  # [..., N, G]
    key = dist.astype(jnp.int32) * g + jnp.arange(g, dtype=jnp.int32)  # unique within a row
    k = jnp.asarray(kinds, jnp.int32)
    same = k[:, None] == k[None, :]  # [G, G']
    nearer = same & present[..., None, None, :] & (key[..., None, :] < key[..., :, None])  # [..., N, G, G']
    rank = jnp.sum(nearer, axis=-1, dtype=jnp.int32)
    return jnp.asarray(kind_offsets(kinds), jnp.int32) + rank


def slot_prior(counts: jax.Array, slots: jax.Array) -> jax.Array:
    """Inter-OM pseudo-counts over slots [..., N, G+1] (last: "no target") and the agents'
    slots of every target [..., N, G] (:func:`distance_slots`; the same leading shape, no
    broadcasting) -> pseudo-counts over the goals [..., N, G+1]: each target gets the count of
    its slot."""
    g = slots.shape[-1]
    return jnp.concatenate([jnp.take_along_axis(counts[..., :g], slots, axis=-1), counts[..., g:]], -1)


def slot_labels(labels: jax.Array, slots: jax.Array, valid: jax.Array | None = None,
                axis: int | None = None) -> jax.Array:
    """Goal labels [...] int (-1: none) and the slots of every target at the same steps
    [..., G] -> the labels' slots [...] int32 (-1 stays -1).

    With ``valid`` (same shape as ``labels``) and a time ``axis``, each label takes the slot
    its target had at the first step of its run (a run: consecutive valid steps with the same
    label), the step at which the co-player chose that target: the episode's first step or
    the one after it reached its previous goal. Those are the states where the prior is used
    (:func:`initial_beliefs`, goal renewal), so inter-OM counts where a target lay when it was
    chosen; a target's rank falls as the co-player walks to it and per-step slots would count
    most walks as "nearest". Under ``inter_om_labels: reached`` a run can also begin where a
    co-player walks off one target toward another without an interaction; its slot is then
    taken at a state where no row restarts. Without them: every step's own slot."""
    s = jnp.take_along_axis(slots, jnp.maximum(labels, 0)[..., None], axis=-1)[..., 0]
    s = jnp.where(labels >= 0, s, -1).astype(jnp.int32)
    if valid is None:
        return s
    lab, val, s = (jnp.moveaxis(x, axis, 0) for x in (labels, valid, s))

    def run(c, x):
        prev_lab, prev_val, kept = c
        lt, vt, st = x
        start = vt & ~(prev_val & (prev_lab == lt))
        kept = jnp.where(start, st, kept)
        return (lt, vt, kept), jnp.where(vt, kept, -1)

    init = (jnp.full(lab.shape[1:], -2, lab.dtype), jnp.zeros(lab.shape[1:], bool), s[0])
    _, out = jax.lax.scan(run, init, (lab, val, s))
    return jnp.moveaxis(jnp.where(lab >= 0, out, -1), 0, axis).astype(jnp.int32)


def mass_on(log_b: jax.Array, target: jax.Array) -> jax.Array:
    """Probability the beliefs give to ``target`` (int [...], in [0, G]): [...]."""
    return jnp.exp(jnp.take_along_axis(log_b, target[..., None], axis=-1)[..., 0])
