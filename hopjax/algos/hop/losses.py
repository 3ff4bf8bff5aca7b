"""HOP's training targets and losses, and beliefs replayed over stored episodes.

- goal model: cross-entropy of each agent's action given its own observation and its goal
  label (the batch's ``goal_label``: the hindsight label, where steps after the agent's last
  interaction are dropped; under ``HOPConfig.goal_model_labels: reached`` those steps are
  labelled with the next target the agent stands on, and only the rest are dropped; masked);
- planner net, AlphaZero-style (HOP code, msg_code/train.py): policy target = the root's
  ``softmax(q_temperature * Q)``, value target = the discounted return-to-go (``gamma``),
  loss = (cross-entropy + squared error) / 2.

Huang et al., "Efficient Adaptation in Mixed-Motive Environments via Hierarchical Opponent
Modeling and Planning", ICML 2024 (arXiv 2406.08002).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hopjax.algos.hop import beliefs as bl
from hopjax.buffers.episode import valid_mask
from hopjax.buffers.masked import masked_mean, select
from hopjax.models.goal_policy import GoalPolicy, PlannerNet


def step_mask(batch) -> jax.Array:
    """[E, T, N] bool: the transitions (filled, agent alive), without the final-obs slot T."""
    return valid_mask(batch)[:, : batch.max_seq_length]


def discounted_return_to_go(reward: jax.Array, valid: jax.Array, gamma: float) -> jax.Array:
    """reward/valid [B, T, N] -> sum_k gamma^k r_{t+k} over valid steps, [B, T, N]."""
    r = jnp.swapaxes(jnp.where(valid, reward, 0.0), 0, 1)

    def back(nxt, rt):
        g = rt + gamma * nxt
        return g, g

    _, g = jax.lax.scan(back, jnp.zeros_like(r[0]), r, reverse=True)
    return jnp.where(valid, jnp.swapaxes(g, 0, 1), 0.0)


def goal_mask(batch, seats: jax.Array | None = None) -> jax.Array:
    """[E, T, N] bool: the transitions the goal model is scored on: valid (filled, alive) with a
    goal label (``goal_label`` >= 0: steps after an agent's last goal are dropped unless
    ``goal_model_labels: reached`` labelled them), of ``seats`` ([N] bool) only if given."""
    mask = step_mask(batch) & (batch["goal_label"][:, : batch.max_seq_length] >= 0)
    return mask if seats is None else mask & seats


def goal_loss(goal_policy: GoalPolicy, params, batch, seats: jax.Array | None = None) -> tuple[jax.Array, dict]:
    """Masked cross-entropy of actions given own obs and goal label (``goal_label``; the
    goal's cell at that step from ``goal_pos``), over every seat's (``seats`` [N] bool: only
    those seats') transitions that have a goal label (:func:`goal_mask`). Masked
    entries' inputs are selected away first: NaN/inf there changes neither loss nor gradient."""
    T = batch.max_seq_length
    label = batch["goal_label"][:, :T]
    mask = goal_mask(batch, seats)
    label, actions = select(mask, label), select(mask, batch["actions"][:, :T])
    obs, avail = select(mask, batch["obs"][:, :T]), select(mask, batch["avail_actions"][:, :T], True)
    pos = batch["goal_pos"][:, :T, None]  # [E, T, 1, G, 2]: the goals' cells at each step
    logp = goal_policy.log_probs(params, obs, avail, label, pos)
    lp = jnp.take_along_axis(logp, actions[..., None], axis=-1)[..., 0]
    loss = -masked_mean(lp, mask)
    acc = masked_mean((jnp.argmax(logp, -1) == actions).astype(jnp.float32), mask)
    return loss, {"goal_loss": loss, "goal_acc": acc}


def planner_loss(planner_net: PlannerNet, params, batch, hop_mask: jax.Array):
    """AlphaZero loss (cross-entropy to the search policy + squared value error) / 2 over the
    HOP seats' valid steps. Masked entries' inputs (observations, available actions, search
    policies, returns) are selected away first: NaN/inf there changes neither loss nor gradient."""
    T = batch.max_seq_length
    mask = step_mask(batch) & hop_mask
    obs, avail = select(mask, batch["obs"][:, :T]), select(mask, batch["avail_actions"][:, :T], True)
    target, rtg = select(mask, batch["policy"][:, :T]), select(mask, batch["return_to_go"][:, :T])
    logits, value = planner_net.apply(params, obs, avail)
    logp = jax.nn.log_softmax(logits, axis=-1)
    ce = -jnp.sum(target * logp, axis=-1)
    pl = masked_mean(ce, mask)
    vl = masked_mean(jnp.square(value - rtg), mask)
    return 0.5 * (pl + vl), {"policy_loss": pl, "value_loss": vl}


def replay_beliefs(goal_policy: GoalPolicy, params, batch, prior: jax.Array,
                   temperature: float = 1.0, positions: jax.Array | None = None,
                   reset_on_goal: bool = False) -> jax.Array:
    """Intra-OM beliefs over a stored episode batch, as a HOP observer would have held them.

    batch: an EpisodeBatch with ``obs``, ``avail_actions``, ``actions`` and ``goal`` (any
    rollout's scheme); prior [E, N, G+1]; positions [E, T, G, 2] int: the goals' cells at each
    step (default: the batch's ``goal_pos`` field, written by the HOP runner). Goals disappear
    when achieved (the rule of both envs), so presence is read from the batch.
    ``reset_on_goal``: goal renewal, as ``HOPConfig.belief_reset_on_goal``. ``prior`` is one
    row per goal for the whole episode, as a runner with ``inter_om_pooling: any`` or ``kind``
    holds it; a ``rank`` runner maps its counts onto each state's targets
    (:meth:`hopjax.algos.hop.trainer.HOPRunner.goal_prior`), which this replay does not.
    -> log-beliefs [E, T, N, G+1] at each decision.
    """
    T = batch.max_seq_length
    v = step_mask(batch)  # [E, T, N]
    g = prior.shape[-1] - 1
    goal = jnp.where(v, batch["goal"][:, :T], -1)
    taken = jnp.cumsum(jnp.any(jax.nn.one_hot(goal, g, dtype=bool), axis=2), axis=1) > 0  # [E, T, G]
    present_after = bl.with_none(~taken)[:, :, None]  # [E, T, 1, G+1]
    obs, avail = select(v, batch["obs"][:, :T]), select(v, batch["avail_actions"][:, :T], True)
    pos = batch["goal_pos"][:, :T] if positions is None else positions
    logp = goal_policy.log_probs_all_goals(params, obs, avail, pos[:, :, None])
    actions = select(v, batch["actions"][:, :T])
    log_lik = jnp.take_along_axis(logp, actions[..., None, None], axis=-1)[..., 0]
    log_b0 = bl.initial_beliefs(prior, jnp.ones_like(prior, bool))

    def step(log_b, x):
        ll, pres, acted, reached = x
        achieved = reached if reset_on_goal else None
        return bl.intra_update(log_b, ll, pres, acted, prior, temperature, achieved), log_b

    xs = (jnp.swapaxes(log_lik, 0, 1), jnp.swapaxes(present_after, 0, 1), jnp.swapaxes(v, 0, 1),
          jnp.swapaxes(goal >= 0, 0, 1))
    _, log_bs = jax.lax.scan(step, log_b0, xs)
    return jnp.swapaxes(log_bs, 0, 1)
