"""HOP (Huang et al., ICML 2024): hierarchical opponent modelling and planning, jitted end to end.

One HOP agent = a goal-conditioned co-player model (:class:`~hopjax.models.goal_policy.GoalPolicy`),
beliefs over every co-player's goal (:mod:`hopjax.algos.hop.beliefs`, intra-OM within an episode,
inter-OM across episodes) and an MCTS planner (:mod:`hopjax.algos.hop.planner`) whose prior and
leaf value come from the focal planner net. :class:`HOPRunner` plays whole episodes
(``lax.scan`` over steps, ``vmap`` over envs) with HOP agents in some seats and scripted
co-players in the others, writing an :class:`~hopjax.buffers.EpisodeBatch` and the belief
trace. :class:`HOPTrainer` trains both networks from self-play episodes kept in a
:class:`~hopjax.buffers.ReplayBuffer`:

- goal model: cross-entropy of each agent's action given its own observation and its
  hindsight goal label (steps after the agent's last interaction are dropped; masked; with
  ``goal_model_labels: reached`` those steps are labelled with the next target whose cell the
  agent stands on, and only the rest are dropped);
- planner net, AlphaZero-style (HOP code, ``msg_code/train.py``): policy target = the root's
  ``softmax(q_temperature * Q)``, value target = the discounted return-to-go (``gamma``),
  loss = (cross-entropy + squared error) / 2; Adam, lr 5e-4 (HOP code, both networks).

The HOP code trains the goal models for 15 epochs of minibatch 512 every 1000 samples
(``msg_code/train.py``); hopjax runs ``sgd_steps`` minibatch steps of ``batch_episodes`` whole
episodes after every batch of ``num_envs`` self-play episodes (our choice: one fixed-shape
update inside the compiled chunk). ``HOPTrainer`` is an :class:`hopjax.loop.Algorithm`, driven by
:func:`hopjax.runtime.experiment.train` (chunks, CSV, checkpoints, resume).

Sources. Huang, Liu, Kong, Yang, Zhu, Feng, "Efficient Adaptation in Mixed-Motive Environments
via Hierarchical Opponent Modeling and Planning", ICML 2024 (arXiv 2406.08002): goals are
mutually exclusive sets of states, ``b_ij`` is agent i's belief over agent j's goals, updated
within (intra-OM) and across (inter-OM) episodes, and MCTS plans for the focal agent only,
sampling co-players' goals from the beliefs and their actions from the goal-conditioned
policies. Constants come from the HOP code's configs: ``msg_code/train.py`` (Snowdrift) and
``msh_code/train.py`` (Stag-Hunt: 5 trees, 200 simulations, PUCT 1, Q temperature 2,
gamma 0.95, inter-OM decay 0.995).

Goals are the env's individual, located targets (``stag_0``, ``hare_0`` ... at their cells): the
co-player model is conditioned on the target's cell (and kind), as the HOP code conditions
its co-player model on the target's grid coordinates; the episode batch stores every goal's
cell at every step (``goal_pos``), so hindsight labels stay target indices and their cells
come from the state of that step.

Divergences from the HOP code, all hopjax choices: an MLP trunk by default (``trunk: conv``
gives the code's conv 16-32-32 trunk), one network shared by all seats (egocentric
observations) instead of one model per co-player; the inter-OM EMA runs over decayed counts of
the goal labels with a uniform start worth one episode, pooled over every target by default
(``inter_om_pooling: any``: the code's P(any target)), within kinds or by distance rank
within kinds (:mod:`hopjax.algos.hop.beliefs`); the training schedule above.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from hopjax import envs
from hopjax.algos.hop import assign as asg
from hopjax.algos.hop import beliefs as bl
from hopjax.algos.hop.config import HOPConfig, check_goal_model_labels, check_inter_om
from hopjax.algos.hop.losses import discounted_return_to_go, goal_loss, planner_loss, step_mask
from hopjax.algos.hop.planner import Planner, SearchConfig
from hopjax.buffers.episode import EpisodeBatch, Field, Scheme, concat
from hopjax.buffers.masked import masked_mean
from hopjax.buffers.replay import ReplayBufferState, init_buffer, insert, sample
from hopjax.config import ConfigError
from hopjax.models.goal_policy import GoalPolicy, PlannerNet, goal_kinds
from hopjax.rollout import Engine, assemble, freeze


def make_env(cfg: HOPConfig):
    """-> (env, env_params); ConfigError for bad env keys."""
    try:
        return envs.make(cfg.env, **cfg.env_kwargs)
    except ValueError as e:
        raise ConfigError(f"config keys 'env'/'env_kwargs': {e}") from None


def make_networks(cfg: HOPConfig, env, env_params) -> tuple[GoalPolicy, PlannerNet]:
    """-> (GoalPolicy, PlannerNet) with the config's trunk (``trunk``, ``conv_channels``) and
    ``hidden_sizes``; ConfigError if a conv trunk meets a non-grid observation."""
    obs_shape = tuple(env.observation_shape(env_params))
    a = env.num_actions(env_params)
    hs = tuple(cfg.hidden_sizes)
    conv = tuple(cfg.conv_channels) if cfg.trunk == "conv" else ()
    if conv and len(obs_shape) != 3:
        raise ConfigError(f"config key 'trunk': conv needs [H, W, C] observations, got {obs_shape}")
    kinds = goal_kinds(env.goal_names(env_params))
    return (GoalPolicy(obs_shape, a, kinds, hs, cfg.activation, conv),
            PlannerNet(obs_shape, a, hs, cfg.activation, conv))


def hop_scheme(env, env_params, T: int) -> Scheme:
    """Episode layout the HOP runner writes (the walker-only runner too): [E, T+1, ...] per field."""
    n, a = env.num_agents(env_params), env.num_actions(env_params)
    g = env.num_goals(env_params)
    ag = "agents"
    return Scheme.create(
        {
            "obs": Field(tuple(env.observation_shape(env_params)), jnp.float32, ag),
            "avail_actions": Field((a,), jnp.bool_, ag),
            "actions": Field((), jnp.int32, ag),
            "reward": Field((), jnp.float32, ag),
            "goal": Field((), jnp.int32, ag),
            "goal_pos": Field((g, 2), jnp.int32),  # every goal's (row, col) before the step
            "policy": Field((a,), jnp.float32, ag),  # search policy (HOP seats; 0 elsewhere)
            # the goal model's label: hindsight, -1 after the last goal (goal_model_labels:
            # reached fills those steps; a walker-only runner: the assigned target)
            "goal_label": Field((), jnp.int32, ag),
            "return_to_go": Field((), jnp.float32, ag),  # discounted with gamma
        },
        {ag: n},
        T,
    )


@struct.dataclass
class EpisodeTrace:
    """What :meth:`HOPRunner.play` returns besides the batch.

    log_beliefs [E, T, N, G+1]: beliefs about every seat at each decision (before the step);
    returns [E, N]; belief_acc [E]: mean probability on the true (hindsight) goal over the
    modelled seats' valid steps; belief_steps [E]; root_value [E, T, F]; entropy [E, T, F]
    of the search policy; goal_counts [N, G] goals achieved over all envs; prior [E, N, G+1]
    float32 inter-OM pseudo-counts after the update (:func:`hopjax.algos.hop.beliefs.prior_probs`),
    over the goals (``inter_om_pooling: any`` or ``kind``) or over the distance-rank slots
    (``rank``; :meth:`HOPRunner.goal_prior` maps them onto a state's goals);
    pursued [E, T, N, G+1] bool or None: what each scripted co-player was after at each decision
    (the runner's ``pursuit``, e.g. :data:`hopjax.envs.scripted.PURSUIT`; all False where
    unknown: HOP and learned seats), None for a runner without ``pursuit``;
    slots [E, T, N, G] int32 or None: every seat's slot of every target before each step
    (:meth:`HOPRunner.slots`), None unless inter-OM pools by rank;
    final_log_beliefs [E, N, G+1]: the beliefs after the episode's last step, held from there
    in an env whose episode ended early (what ``inter_om_labels: expected`` counts a step after
    a seat's last interaction as; a walker-only runner's are its start beliefs, unused).
    """

    log_beliefs: jax.Array
    returns: jax.Array
    belief_acc: jax.Array
    belief_steps: jax.Array
    root_value: jax.Array
    entropy: jax.Array
    goal_counts: jax.Array
    prior: jax.Array
    pursued: jax.Array | None = None
    slots: jax.Array | None = None
    final_log_beliefs: jax.Array | None = None


@struct.dataclass
class HOPCarry:
    """What one step of :meth:`HOPRunner.play` hands to the next (leading env axis E).

    env_state: env state pytree [E, ...]       obs: [E, N, *obs_shape] float32
    avail: [E, N, A] bool                      alive: [E, N] bool
    active: [E] bool (episode still running)   log_b: [E, N, G+1] float32 log-beliefs about
    every seat's goal (G goals + "no target"), frozen with the env once its episode ends.
    target: [E, N] int32 or None: every seat's assigned target (G = none left) in a walker-only
    runner (``walkers=True``, :mod:`hopjax.algos.hop.assign`), else None.
    """

    env_state: Any
    obs: jax.Array
    avail: jax.Array
    alive: jax.Array
    active: jax.Array
    log_b: jax.Array
    target: jax.Array | None = None


class HOPRunner:
    """Plays one episode per env with HOP agents in ``focal_seats`` and scripted co-players
    elsewhere: ``scripted`` maps every other seat to a policy ``(key, obs, state, params,
    seat) -> action`` (:mod:`hopjax.envs.scripted`; it may close over traced values).
    ``pursuit`` maps scripted seats to ``(state, params, seat) -> [G+1] bool``, the goals that
    seat is after (:data:`hopjax.envs.scripted.PURSUIT`), recorded per decision in
    :attr:`EpisodeTrace.pursued` to score beliefs against them.
    ``walkers`` (``HOPConfig.goal_walker_envs``, training data for the goal model only): every
    seat walks to an assigned target (:mod:`hopjax.algos.hop.assign`) and nothing plans - no
    search, no belief update (the trace's beliefs stay at the prior, its values and entropies
    are 0, its ``pursued`` the assigned targets); the batch's goal labels are the assigned
    targets. False: the HOP runner as it was. ``belief_reset_on_goal``
    (``HOPConfig.belief_reset_on_goal``): a co-player's belief row restarts from the prior at
    the step it reaches a goal (:func:`hopjax.algos.hop.beliefs.intra_update`).
    ``inter_om_pooling`` / ``inter_om_labels``: what inter-OM carries to the next episode
    (:class:`hopjax.algos.hop.config.HOPConfig`, :func:`hopjax.algos.hop.beliefs.inter_update`).
    ``goal_model_labels`` (``HOPConfig.goal_model_labels``): the labels the batch's
    ``goal_label`` field (what the goal model trains on) holds for steps after a seat's last
    interaction: none (``hindsight``) or :func:`hopjax.algos.hop.beliefs.reached_labels`
    (``reached``)."""

    def __init__(self, env, env_params, goal_policy: GoalPolicy, planner_net: PlannerNet,
                 search: SearchConfig, num_envs: int, focal_seats: tuple[int, ...],
                 scripted: dict[int, Any] | None = None, belief_temperature: float = 1.0,
                 inter_om_decay: float = 0.995, pursuit: dict[int, Any] | None = None,
                 walkers: bool = False, belief_reset_on_goal: bool = False,
                 inter_om_pooling: str = "any", inter_om_labels: str = "hindsight",
                 goal_model_labels: str = "hindsight"):
        n = env.num_agents(env_params)
        scripted = dict(scripted or {})
        self.focal = tuple(int(i) for i in focal_seats)
        if not self.focal or sorted(set(self.focal) | set(scripted)) != list(range(n)) or set(
            self.focal
        ) & set(scripted):
            raise ConfigError(f"HOP seats {self.focal} and scripted seats {sorted(scripted)} must "
                              f"split the env's {n} seats, with at least one HOP seat")
        if set(pursuit or {}) - set(scripted):
            raise ConfigError(f"pursuit seats {sorted(pursuit)} must be scripted seats {sorted(scripted)}")
        self.pursuit = dict(pursuit or {})
        self.engine = Engine(env, env_params, num_envs, scripted)
        self.scripted = self.engine.scripted
        self.env, self.env_params, self.num_envs, self.n = env, env_params, num_envs, n
        self.goal_policy, self.planner_net, self.search = goal_policy, planner_net, search
        self.planner = Planner(env, env_params, goal_policy, planner_net, search)
        self.belief_temperature, self.inter_om_decay = belief_temperature, inter_om_decay
        self.belief_reset_on_goal = bool(belief_reset_on_goal)
        self.T = env.episode_length(env_params)
        self.G = env.num_goals(env_params)
        # Inter-OM's pooling of label frequencies (HOPConfig.inter_om_pooling, validated there):
        # within kinds, or over every target (the HOP code's P(any target)); beliefs.inter_update.
        # "rank": the pseudo-counts are over distance-rank slots (beliefs.distance_slots) and
        # pooled by rank; the other two keep one count per target.
        self.rank_slots = inter_om_pooling == "rank"
        # HOPConfig.inter_om_labels: steps after a co-player's last interaction count as "no
        # target" ("hindsight"), as intra-OM's final beliefs about it ("expected") or as the
        # next target whose cell it reaches ("reached").
        check_inter_om(inter_om_pooling, inter_om_labels, self.belief_reset_on_goal)
        self.expected_labels = inter_om_labels == "expected"
        self.reached_labels = inter_om_labels == "reached"
        # HOPConfig.goal_model_labels: the goal model trains on the reached labels too
        check_goal_model_labels(goal_model_labels)
        self.reached_goal_labels = goal_model_labels == "reached"
        self.pooling_kinds = {"kind": goal_policy.kinds, "any": (0,) * self.G,
                              "rank": bl.rank_groups(goal_policy.kinds)}[inter_om_pooling]
        self.walkers = bool(walkers)
        if self.walkers and (scripted or len(self.focal) != n):
            raise ConfigError("a walker-only runner takes every seat (no scripted seats)")
        self.scheme = hop_scheme(env, env_params, self.T)
        self.hop_mask = jnp.array([i in self.focal for i in range(n)])
        # Seats whose beliefs are scored: the scripted co-players, or everyone in self-play.
        self.modelled = ~self.hop_mask if scripted else jnp.ones((n,), bool)

    def play(self, key: jax.Array, params, prior: jax.Array):
        """One episode in every env. params: {"goal", "planner"}; prior [E, N, G+1] inter-OM pseudo-counts.

        On the rollout :class:`~hopjax.rollout.Engine`: the planner is the HOP seats' act
        function, the intra-OM belief update the step hook.
        -> (batch [E, T+1, ...] with the goal model's labels and returns-to-go, EpisodeTrace)."""
        k_reset, k_run = jax.random.split(key)
        obs, state, avail = self.engine.reset(k_reset)
        goals0 = bl.present_goals(self.env, state, self.env_params)  # [E, G]
        present = bl.with_none(goals0)[:, None]  # [E, 1, G+1]
        e, n = self.num_envs, self.n
        target = None  # static; a walker-only runner's assigned targets
        if self.walkers:
            target = asg.draw_targets(jax.random.fold_in(key, 1), goals0, n)
        slots0 = self.slots(state)
        carry0 = HOPCarry(env_state=state, obs=obs, avail=avail, alive=jnp.ones((e, n), bool),
                          active=jnp.ones((e,), bool),
                          log_b=bl.initial_beliefs(self.goal_prior(prior, slots0), present),
                          target=target)
        keys = jax.random.split(k_run, self.T)

        def step(carry, k):
            carry2, row, out = self._step(params, prior, carry, k)
            return carry2, (row, out)

        carry, (rows, (log_bs, values, ents, pursued, slots, occupied)) = jax.lax.scan(step, carry0, keys)
        batch = self.engine.write_final(assemble(self.scheme, rows), carry)
        pursued = None if pursued is None else jnp.swapaxes(pursued, 0, 1)  # [E, T, N, G+1]
        if slots is not None:  # the scan gives them after each step; the state before step t+1 is
            slots = jnp.concatenate([slots0[None], slots[:-1]])  # the one after step t (where it counts)
        batch, trace = self._finish(batch, jnp.swapaxes(log_bs, 0, 1), prior,
                                    jnp.swapaxes(values, 0, 1), jnp.swapaxes(ents, 0, 1),
                                    pursued if self.walkers else None,
                                    None if slots is None else jnp.swapaxes(slots, 0, 1), carry.log_b,
                                    None if occupied is None else jnp.swapaxes(occupied, 0, 1))
        return batch, trace.replace(pursued=pursued)

    def slots(self, state) -> jax.Array | None:
        """[E, N, G] int32: every seat's distance-rank slot of every target in ``state``
        (:func:`hopjax.algos.hop.beliefs.distance_slots`), or None unless inter-OM pools by
        rank."""
        if not self.rank_slots:
            return None
        return bl.distance_slots(*self._cells(state), self.goal_policy.kinds)

    def occupied(self, state) -> jax.Array | None:
        """[E, N] int32: the present target every seat stands on in ``state``, -1 for none
        (:func:`hopjax.algos.hop.beliefs.occupied_goals`), or None unless ``inter_om_labels``
        or ``goal_model_labels`` is ``reached``."""
        if not (self.reached_labels or self.reached_goal_labels):
            return None
        return bl.occupied_goals(*self._cells(state))

    def _cells(self, state) -> tuple[jax.Array, jax.Array, jax.Array]:
        """A batch of env states -> (every seat's cell [E, N, 2] int32, every goal's cell
        [E, G, 2] int32, the goals present [E, G] bool): what :meth:`slots` and
        :meth:`occupied` read."""
        args = (state, self.env_params)
        return (jax.vmap(self.env.agent_positions, in_axes=(0, None))(*args),
                jax.vmap(self.env.goal_positions, in_axes=(0, None))(*args),
                bl.present_goals(self.env, state, self.env_params))

    @staticmethod
    def goal_prior(prior: jax.Array, slots: jax.Array | None) -> jax.Array:
        """Inter-OM pseudo-counts [E, N, G+1] and a state's :meth:`slots` -> pseudo-counts over
        that state's goals [E, N, G+1]: the same array without slots, else each target's slot's
        count (:func:`hopjax.algos.hop.beliefs.slot_prior`)."""
        return prior if slots is None else bl.slot_prior(prior, slots)

    def pursued(self, state) -> jax.Array | None:
        """[E, N, G+1] bool: what every seat with a ``pursuit`` is after in ``state`` (all False
        for the other seats), or None without ``pursuit``."""
        if not self.pursuit:
            return None
        out = jnp.zeros((self.num_envs, self.n, self.G + 1), bool)
        for seat, fn in self.pursuit.items():
            out = out.at[:, seat].set(jax.vmap(fn, in_axes=(0, None, None))(state, self.env_params, seat))
        return out

    def _step(self, params, prior, carry: "HOPCarry", k):
        """Plan for the HOP seats, fill the scripted seats, step, update the beliefs -> (next
        carry, the step's batch row (:meth:`Engine.step_row`), (log-beliefs, value, entropy,
        :meth:`pursued` before the step, :meth:`slots` and :meth:`occupied` after it))."""
        if self.walkers:
            return self._walk_step(carry, k)
        e, n, eng = self.num_envs, self.n, self.engine
        k_plan, k_scr, k_env = jax.random.split(k, 3)
        focal = jnp.asarray(self.focal)
        plan = self.planner.plan(k_plan, params, carry.env_state, carry.log_b, self.focal)
        actions = jnp.zeros((e, n), jnp.int32).at[:, focal].set(plan.action)
        policy = jnp.zeros((e, n, plan.policy.shape[-1])).at[:, focal].set(plan.policy)
        actions = eng.scripted_actions(k_scr, carry.obs, carry.env_state, actions)
        tr = eng.step(k_env, carry, actions)
        pos = jax.vmap(self.env.goal_positions, in_axes=(0, None))(carry.env_state, self.env_params)
        slots2 = self.slots(tr.env_state)
        log_b2 = self._belief_step(params, self.goal_prior(prior, slots2), carry, actions, tr, pos)
        row = eng.step_row(self.scheme, carry, actions, tr, {"policy": policy, "goal_pos": pos})
        carry2 = HOPCarry(**eng.advance(carry, tr), log_b=freeze(carry.active, log_b2, carry.log_b))
        ent = -jnp.sum(jnp.where(plan.policy > 0, plan.policy * jnp.log(plan.policy), 0.0), -1)
        return carry2, row, (carry.log_b, plan.value, ent, self.pursued(carry.env_state), slots2,
                             self.occupied(tr.env_state))

    def _walk_step(self, carry: "HOPCarry", k):
        """Walker-only runner: every seat walks to its assigned target (redrawn when removed);
        no search and no belief update (the carry's beliefs stay as they were). The step's
        "pursued" output is each seat's target, one-hot over G goals + none."""
        e, n, eng = self.num_envs, self.n, self.engine
        k_walk, k_redraw, k_env = jax.random.split(k, 3)
        actions = asg.walker_actions(k_walk, self.env, self.env_params, carry.env_state, carry.avail, carry.target)
        tr = eng.step(k_env, carry, actions)
        present2 = bl.present_goals(self.env, tr.env_state, self.env_params)
        target2 = freeze(carry.active, asg.keep_or_redraw(k_redraw, carry.target, present2), carry.target)
        pos = jax.vmap(self.env.goal_positions, in_axes=(0, None))(carry.env_state, self.env_params)
        policy = jnp.zeros((e, n, self.env.num_actions(self.env_params)))
        row = eng.step_row(self.scheme, carry, actions, tr, {"policy": policy, "goal_pos": pos})
        carry2 = HOPCarry(**eng.advance(carry, tr), log_b=carry.log_b, target=target2)
        zeros = jnp.zeros((e, len(self.focal)))
        return carry2, row, (carry.log_b, zeros, zeros, jax.nn.one_hot(carry.target, self.G + 1, dtype=bool),
                             self.slots(tr.env_state), self.occupied(tr.env_state))

    def _belief_step(self, params, prior, carry: "HOPCarry", actions, tr, pos):
        """intra-OM: the likelihood of every seat's action under every goal (located at ``pos``
        [E, G, 2], the cells before the step), then Bayes over the goals still present after
        the step -> log-beliefs [E, N, G+1]. ``prior`` [E, N, G+1]: the inter-OM pseudo-counts
        over the goals after the step (:meth:`goal_prior`), where a row restarts."""
        logp = self.goal_policy.log_probs_all_goals(params["goal"], carry.obs, carry.avail,
                                                    pos[:, None])  # [E, N, G+1, A]
        log_lik = jnp.take_along_axis(logp, actions[:, :, None, None], axis=-1)[..., 0]
        present2 = bl.with_none(bl.present_goals(self.env, tr.env_state, self.env_params))[:, None]
        achieved = (tr.goal >= 0) if self.belief_reset_on_goal else None
        return bl.intra_update(carry.log_b, log_lik, present2, tr.valid, prior, self.belief_temperature,
                               achieved)

    def _finish(self, batch, log_bs, prior, values, ents, walked=None, slots=None, final_log_b=None,
                occupied=None):
        """The goal model's labels (``goal_label``), returns-to-go and the trace (belief
        accuracy on the hindsight labels). ``walked`` [E, T, N, G+1] bool (a
        walker-only runner's assigned targets, one-hot): the goal model's labels are those
        targets (-1 for none) instead of the hindsight ones. ``slots`` [E, T, N, G] int32
        (:meth:`slots` before every step; None unless inter-OM pools by rank): inter-OM counts
        the labels' slots where each label's target was chosen
        (:func:`hopjax.algos.hop.beliefs.slot_labels`) instead of the targets. ``final_log_b``
        [E, N, G+1]: the beliefs after the episode's last step, what inter-OM counts a step
        without a label as when ``inter_om_labels: expected``. ``occupied`` [E, T, N] int32: the
        present target each seat stands on after each step (:meth:`occupied`; None unless
        ``inter_om_labels`` or ``goal_model_labels`` is ``reached``), whose next one a step
        without a label counts as (:func:`hopjax.algos.hop.beliefs.reached_labels`): for
        inter-OM under ``inter_om_labels: reached``, for the goal model under
        ``goal_model_labels: reached`` (not in a walker-only runner, whose labels are the
        assigned targets)."""
        T, G = self.T, self.G
        v = step_mask(batch)  # [E, T, N]
        labels = bl.hindsight_labels(batch["goal"][:, :T], v, axis=1)
        rtg = discounted_return_to_go(batch["reward"][:, :T], v, self.search.gamma)
        pad = jnp.zeros_like(labels[:, :1])
        reached = None if occupied is None else bl.reached_labels(labels, occupied, v, axis=1)
        train_labels = reached if self.reached_goal_labels else labels  # the goal model's
        if walked is not None:
            target = jnp.argmax(walked, axis=-1)
            train_labels = jnp.where(v & (target < G), target, -1)
        data = dict(batch.data, goal_label=jnp.concatenate([train_labels, pad - 1], 1),
                    return_to_go=jnp.concatenate([rtg, pad.astype(rtg.dtype)], 1))
        batch = batch.replace(data=data)
        acc = bl.mass_on(log_bs, bl.label_with_none(labels, G))  # [E, T, N]
        # the labels inter-OM counts
        inter = reached if self.reached_labels else labels
        m = v & self.modelled
        steps = jnp.sum(m, axis=(1, 2)).astype(jnp.float32)
        trace = EpisodeTrace(
            log_beliefs=log_bs,
            returns=jnp.sum(jnp.where(v, batch["reward"][:, :T], 0.0), axis=1),
            belief_acc=jnp.sum(jnp.where(m, acc, 0.0), axis=(1, 2)) / jnp.maximum(steps, 1.0),
            belief_steps=steps,
            root_value=values,
            entropy=ents,
            goal_counts=jnp.sum(jax.nn.one_hot(jnp.where(v, batch["goal"][:, :T], -1), G), axis=(0, 1)),
            prior=bl.inter_update(prior, inter if slots is None else bl.slot_labels(inter, slots, v, axis=1),
                                  v, self.inter_om_decay, axis=1, kinds=self.pooling_kinds,
                                  unrevealed=jnp.exp(final_log_b) if self.expected_labels else None),
            slots=slots,
            final_log_beliefs=final_log_b,
        )
        return batch, trace


# ---------------------------------------------------------------------------- trainer
@struct.dataclass
class HOPState:
    """params {"goal", "planner"}, opt_state, buffer of episodes, prior [E, N, G+1] (inter-OM
    pseudo-counts about the self-play partners, over goals or, with ``inter_om_pooling: rank``,
    over slots: :attr:`EpisodeTrace.prior`), key, update [] int32."""

    params: Any
    opt_state: Any
    buffer: ReplayBufferState
    prior: jax.Array
    key: jax.Array
    update: jax.Array


@struct.dataclass
class HOPWalkerState(HOPState):
    """:class:`HOPState` plus the buffer of walker-only episodes (``goal_walker_envs > 0``); a
    subclass, so that with the option off the state - and its checkpoints - stay as they were."""

    walker_buffer: ReplayBufferState


class HOPTrainer:
    """Self-play HOP training: an :class:`hopjax.loop.Algorithm` (``init``, ``update``), driven
    by :class:`hopjax.loop.Loop`."""

    def __init__(self, cfg: HOPConfig):
        cfg.validate()
        self.cfg = cfg
        self.env, self.env_params = make_env(cfg)
        self.goal_policy, self.planner_net = make_networks(cfg, self.env, self.env_params)
        n = self.env.num_agents(self.env_params)
        self.runner = self.make_runner(cfg.num_envs, tuple(range(n)))
        # goal_walker_envs > 0: walker-only episodes for the goal model (hopjax.algos.hop.assign),
        # in a buffer of their own holding as many updates' worth as the self-play one, sampled
        # in the same proportion to the self-play minibatch as walker envs to self-play envs.
        self.walker_runner = self.walker_capacity = self.walker_batch = None
        if cfg.goal_walker_envs > 0:
            w, ratio = cfg.goal_walker_envs, cfg.goal_walker_envs / cfg.num_envs
            self.walker_runner = self.make_runner(w, tuple(range(n)), walkers=True)
            self.walker_capacity = max(w, round(cfg.buffer_episodes * ratio))
            self.walker_batch = min(self.walker_capacity, max(1, round(cfg.batch_episodes * ratio)))
        self.steps_per_update = cfg.num_envs * self.runner.T
        self.num_chunks = -(-max(1, cfg.total_steps // self.steps_per_update) // cfg.chunk_updates)
        self.num_updates = self.num_chunks * cfg.chunk_updates
        self.chunk_updates = cfg.chunk_updates
        self.optimizer = optax.adam(cfg.lr)
        self.goal_names = self.env.goal_names(self.env_params)

    def make_runner(self, num_envs: int, focal_seats: tuple[int, ...],
                    scripted: dict[int, Any] | None = None,
                    inter_om_decay: float | None = None,
                    pursuit: dict[int, Any] | None = None,
                    walkers: bool = False) -> HOPRunner:
        """A runner with this run's networks, search and belief settings (``inter_om_decay``:
        another inter-OM decay than the config's, e.g. for the adaptation protocol; ``pursuit``
        and ``walkers``: see :class:`HOPRunner`)."""
        c = self.cfg
        decay = c.inter_om_decay if inter_om_decay is None else inter_om_decay
        return HOPRunner(self.env, self.env_params, self.goal_policy, self.planner_net, c.search,
                         num_envs, focal_seats, scripted, c.belief_temperature, decay, pursuit,
                         walkers, c.belief_reset_on_goal, c.inter_om_pooling, c.inter_om_labels,
                         c.goal_model_labels)

    def init(self, key: jax.Array) -> HOPState:
        k_g, k_p, key = jax.random.split(key, 3)
        params = {"goal": self.goal_policy.init(k_g), "planner": self.planner_net.init(k_p)}
        ro = self.runner
        fields = dict(
            params=params,
            opt_state=self.optimizer.init(params),
            buffer=init_buffer(ro.scheme, self.cfg.buffer_episodes),
            prior=bl.uniform_prior((self.cfg.num_envs, ro.n, ro.G + 1), self.cfg.inter_om_prior_weight),
            key=key,
            update=jnp.zeros((), jnp.int32),
        )
        if self.walker_runner is None:
            return HOPState(**fields)
        return HOPWalkerState(**fields, walker_buffer=init_buffer(self.walker_runner.scheme, self.walker_capacity))

    def loss(self, params, batch, walkers: EpisodeBatch | None = None):
        """Goal model on the self-play ``batch`` plus, if given, the walker-only episodes
        ``walkers`` (one masked mean over both's steps); planner net on ``batch`` alone."""
        goal_batch = batch if walkers is None else concat([batch, walkers])
        lg, ag = goal_loss(self.goal_policy, params["goal"], goal_batch)
        lp, ap = planner_loss(self.planner_net, params["planner"], batch, self.runner.hop_mask)
        return lg + lp, {**ag, **ap}

    def update(self, st: HOPState) -> tuple[HOPState, dict[str, jax.Array]]:
        key, k_play, k_sgd = jax.random.split(st.key, 3)
        batch, trace = self.runner.play(k_play, st.params, st.prior)
        buffer = insert(st.buffer, batch)
        wbuf = None
        if self.walker_runner is not None:  # static; off, nothing below changes
            wr = self.walker_runner  # its beliefs are not updated: a fixed uniform prior
            prior = bl.uniform_prior((wr.num_envs, wr.n, wr.G + 1), self.cfg.inter_om_prior_weight)
            wbatch, _ = wr.play(jax.random.fold_in(k_play, 1), st.params, prior)
            wbuf = insert(st.walker_buffer, wbatch)
        grad_fn = jax.grad(self.loss, has_aux=True)

        def sgd(c, k):
            params, opt_state = c
            mb = sample(buffer, k, self.cfg.batch_episodes)
            wmb = None if wbuf is None else sample(wbuf, jax.random.fold_in(k, 1), self.walker_batch)
            grads, aux = grad_fn(params, mb, wmb)
            updates, opt_state = self.optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), aux

        (params, opt_state), aux = jax.lax.scan(
            sgd, (st.params, st.opt_state), jax.random.split(k_sgd, self.cfg.sgd_steps)
        )
        ret = trace.returns.mean(0)
        e = self.cfg.num_envs
        metrics = {
            "episode_return": ret,
            "mean_return": ret.mean(),
            "learner_return": ret.mean(),
            "episodes": jnp.float32(e),
            "goals_per_episode": trace.goal_counts.sum(0) / e,
            "belief_accuracy": trace.belief_acc.mean(),
            "search_entropy": masked_mean(trace.entropy, jnp.ones_like(trace.entropy, bool)),
            "root_value": trace.root_value.mean(),
            **{k: v[-1] for k, v in aux.items()},
        }
        fields = (params, opt_state, buffer, trace.prior, key, st.update + 1)
        new = HOPState(*fields) if wbuf is None else HOPWalkerState(*fields, walker_buffer=wbuf)
        return new, metrics

    def env_split(self, st: HOPState):
        """Nothing is split over a mesh's env axis: every leaf is replicated."""
        return jax.tree.map(lambda _: False, st)
