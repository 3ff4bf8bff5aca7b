"""HOP (Huang et al., ICML 2024): hierarchical opponent modelling and planning, jitted end to end.

One HOP agent = a goal-conditioned co-player model (:class:`~hopjax.models.goal_policy.GoalPolicy`),
beliefs over every co-player's goal (:mod:`hopjax.algos.beliefs`, intra-OM within an episode,
inter-OM across episodes) and an MCTS planner (:mod:`hopjax.algos.planner`) whose prior and
leaf value come from the focal planner net. :class:`HOPRunner` plays whole episodes
(``lax.scan`` over steps, ``vmap`` over envs) with HOP agents in some seats and scripted
co-players in the others, writing an :class:`~hopjax.buffers.EpisodeBatch` and the belief
trace. :class:`HOPTrainer` trains both networks from self-play episodes kept in a
:class:`~hopjax.buffers.ReplayBuffer`:

- goal model: cross-entropy of each agent's action given its own observation and its
  hindsight goal label (steps after the agent's last interaction are dropped; masked);
- planner net, AlphaZero-style (REFERENCES.md, HOP code): policy target = the root's
  ``softmax(q_temperature * Q)``, value target = the discounted return-to-go (``gamma``),
  loss = (cross-entropy + squared error) / 2; Adam, lr 5e-4 (HOP code, both networks).

The original trains the goal models for 15 epochs of minibatch 512 every 1000 samples; hopjax
runs ``sgd_steps`` minibatch steps of ``batch_episodes`` whole episodes after every batch of
``num_envs`` self-play episodes. ``HOPTrainer`` has the ``Trainer`` interface that
:func:`hopjax.runtime.experiment.train` drives (chunks, CSV, checkpoints, resume).

Sources. The paper (arXiv 2406.08002) was reachable only through its abstract and third-party
summaries: goals are mutually exclusive sets of states, ``b_ij`` is agent i's belief over
agent j's goals, updated within (intra-OM) and across (inter-OM) episodes, and MCTS plans for
the focal agent only, sampling co-players' goals from the beliefs and their actions from the
goal-conditioned policies. That agrees with REFERENCES.md, so no paper value overrides it; the
update equations and constants come from REFERENCES.md's reading of the HOP code (a public note
on the same code's ``train.py`` lists the same values: 5 trees, 200 simulations, PUCT 1,
Q temperature 2, gamma 0.95, inter-OM decay 0.995 for Stag-Hunt).

Divergences from the HOP code, all hopjax choices: goals are the env's individual targets
(``stag_0``, ``hare_0`` ...; the Stag-Hunt code conditions its co-player model on the prey
*type*); MLP instead of conv trunks, one network shared by all seats (egocentric
observations) instead of one model per co-player; the inter-OM EMA runs over the whole goal
distribution (:mod:`hopjax.algos.beliefs`); the training schedule above.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from hopjax import envs
from hopjax.algos import beliefs as bl
from hopjax.algos.hop_config import HOPConfig  # noqa: F401 (re-export; JAX-free module)
from hopjax.algos.planner import Planner, SearchConfig
from hopjax.buffers.episode import Field, Scheme, init_batch, valid_mask, write
from hopjax.buffers.masked import masked_mean, select
from hopjax.buffers.replay import ReplayBufferState, init_buffer, insert, sample
from hopjax.config import ConfigError
from hopjax.models.goal_policy import GoalPolicy, PlannerNet


def make_env(cfg: HOPConfig):
    """-> (env, env_params); ConfigError for bad env keys or envs without goal definitions."""
    try:
        env, params = envs.make(cfg.env, **cfg.env_kwargs)
    except ValueError as e:
        raise ConfigError(f"config keys 'env'/'env_kwargs': {e}") from None
    try:
        jax.eval_shape(lambda k: bl.present_goals(env.reset(k, params)[1]), jax.random.PRNGKey(0))
    except ValueError as e:
        raise ConfigError(f"config key 'env': {e}") from None
    return env, params


def make_networks(cfg: HOPConfig, env, env_params) -> tuple[GoalPolicy, PlannerNet]:
    obs_shape = tuple(env.observation_shape(env_params))
    a = env.num_actions(env_params)
    hs = tuple(cfg.hidden_sizes)
    return (GoalPolicy(obs_shape, a, env.num_goals(env_params), hs, cfg.activation),
            PlannerNet(obs_shape, a, hs, cfg.activation))


def hop_scheme(env, env_params, T: int) -> Scheme:
    """Episode layout the HOP runner writes: [E, T+1, ...] per field."""
    n, a = env.num_agents(env_params), env.num_actions(env_params)
    ag = "agents"
    return Scheme.create(
        {
            "obs": Field(tuple(env.observation_shape(env_params)), jnp.float32, ag),
            "avail_actions": Field((a,), jnp.bool_, ag),
            "actions": Field((), jnp.int32, ag),
            "reward": Field((), jnp.float32, ag),
            "goal": Field((), jnp.int32, ag),
            "policy": Field((a,), jnp.float32, ag),  # search policy (HOP seats; 0 elsewhere)
            "goal_label": Field((), jnp.int32, ag),  # hindsight label, -1 after the last goal
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
    after the inter-OM update.
    """

    log_beliefs: jax.Array
    returns: jax.Array
    belief_acc: jax.Array
    belief_steps: jax.Array
    root_value: jax.Array
    entropy: jax.Array
    goal_counts: jax.Array
    prior: jax.Array


def uniform_prior(num_envs: int, n: int, g1: int) -> jax.Array:
    """[E, N, G+1] uniform inter-OM prior (a new, unknown co-player)."""
    return jnp.full((num_envs, n, g1), 1.0 / g1, jnp.float32)


class HOPRunner:
    """Plays one episode per env with HOP agents in ``focal_seats`` and scripted co-players
    elsewhere: ``scripted`` maps every other seat to a policy ``(key, obs, state, params,
    seat) -> action`` (:mod:`hopjax.envs.scripted`; it may close over traced values)."""

    def __init__(self, env, env_params, goal_policy: GoalPolicy, planner_net: PlannerNet,
                 search: SearchConfig, num_envs: int, focal_seats: tuple[int, ...],
                 scripted: dict[int, Any] | None = None, belief_temperature: float = 1.0,
                 inter_om_decay: float = 0.995):
        n = env.num_agents(env_params)
        scripted = dict(scripted or {})
        self.focal = tuple(int(i) for i in focal_seats)
        if not self.focal or sorted(set(self.focal) | set(scripted)) != list(range(n)) or set(
            self.focal
        ) & set(scripted):
            raise ConfigError(f"HOP seats {self.focal} and scripted seats {sorted(scripted)} must "
                              f"split the env's {n} seats, with at least one HOP seat")
        self.scripted = scripted
        self.env, self.env_params, self.num_envs, self.n = env, env_params, num_envs, n
        self.goal_policy, self.planner_net, self.search = goal_policy, planner_net, search
        self.planner = Planner(env, env_params, goal_policy, planner_net, search)
        self.belief_temperature, self.inter_om_decay = belief_temperature, inter_om_decay
        self.T = env.episode_length(env_params)
        self.G = env.num_goals(env_params)
        self.scheme = hop_scheme(env, env_params, self.T)
        self.hop_mask = jnp.array([i in self.focal for i in range(n)])
        # Seats whose beliefs are scored: the scripted co-players, or everyone in self-play.
        self.modelled = ~self.hop_mask if scripted else jnp.ones((n,), bool)

    def play(self, key: jax.Array, params, prior: jax.Array):
        """One episode in every env. params: {"goal", "planner"}; prior [E, N, G+1].

        -> (batch [E, T+1, ...] with hindsight labels and returns-to-go, EpisodeTrace)."""
        env, p, e, n = self.env, self.env_params, self.num_envs, self.n
        k_reset, k_run = jax.random.split(key)
        obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k_reset, e), p)
        present = bl.with_none(bl.present_goals(state))[:, None]  # [E, 1, G+1]
        log_b = bl.initial_beliefs(prior, present)
        carry0 = dict(
            state=state, obs=obs, avail=jax.vmap(env.avail_actions, in_axes=(0, None))(state, p),
            alive=jnp.ones((e, n), bool), active=jnp.ones((e,), bool), log_b=log_b,
        )
        focal = jnp.asarray(self.focal)

        def step(c, inp):
            carry, batch = c
            t, k = inp
            k_plan, k_scr, k_env = jax.random.split(k, 3)
            plan = self.planner.plan(k_plan, params, carry["state"], carry["log_b"], self.focal)
            actions = jnp.zeros((e, n), jnp.int32).at[:, focal].set(plan.action)
            policy = jnp.zeros((e, n, plan.policy.shape[-1])).at[:, focal].set(plan.policy)
            for seat, fn in self.scripted.items():
                ks = jax.random.split(jax.random.fold_in(k_scr, seat), e)
                a = jax.vmap(fn, in_axes=(0, 0, 0, None, None))(ks, carry["obs"], carry["state"], p, seat)
                actions = actions.at[:, seat].set(a.astype(jnp.int32))
            obs2, state2, reward, dones, info = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                jax.random.split(k_env, e), carry["state"], actions, p
            )
            active, alive = carry["active"], carry["alive"]
            valid = alive & active[:, None]
            reward = jnp.where(valid, reward, 0.0)
            goal = jnp.where(valid, info["goal"], -1)
            # intra-OM: likelihood of every seat's action under every goal, then Bayes.
            logp = self.goal_policy.log_probs_all_goals(params["goal"], carry["obs"], carry["avail"])
            log_lik = jnp.take_along_axis(logp, actions[:, :, None, None], axis=-1)[..., 0]
            present2 = bl.with_none(bl.present_goals(state2))[:, None]
            log_b2 = bl.intra_update(carry["log_b"], log_lik, present2, valid, prior,
                                     self.belief_temperature)
            batch = write(
                batch,
                {"obs": carry["obs"], "avail_actions": carry["avail"], "actions": actions,
                 "reward": reward, "goal": goal, "policy": policy},
                t, filled=active, alive=alive,
            )

            def keep(new, old):  # finished envs stay frozen (their final obs stays in place)
                return jnp.where(active.reshape(-1, *([1] * (new.ndim - 1))), new, old)

            carry2 = dict(
                state=jax.tree.map(keep, state2, carry["state"]),
                obs=keep(obs2, carry["obs"]),
                avail=keep(info["avail_actions"], carry["avail"]),
                alive=keep(info["alive"], alive),
                active=active & ~dones.episode,
                log_b=keep(log_b2, carry["log_b"]),
            )
            ent = -jnp.sum(jnp.where(plan.policy > 0, plan.policy * jnp.log(plan.policy), 0.0), -1)
            return (carry2, batch), (carry["log_b"], plan.value, ent)

        batch0 = init_batch(self.scheme, e)
        keys = jax.random.split(k_run, self.T)
        (carry, batch), (log_bs, values, ents) = jax.lax.scan(
            step, (carry0, batch0), (jnp.arange(self.T), keys)
        )
        batch = write(batch, {"obs": carry["obs"], "avail_actions": carry["avail"]}, self.T,
                      filled=batch.filled[:, self.T - 1], alive=carry["alive"])
        return self._finish(batch, jnp.swapaxes(log_bs, 0, 1), prior,
                            jnp.swapaxes(values, 0, 1), jnp.swapaxes(ents, 0, 1))

    def _finish(self, batch, log_bs, prior, values, ents):
        T, G = self.T, self.G
        v = step_mask(batch)  # [E, T, N]
        labels = bl.hindsight_labels(batch["goal"][:, :T], v, axis=1)
        rtg = discounted_return_to_go(batch["reward"][:, :T], v, self.search.gamma)
        pad = jnp.zeros_like(labels[:, :1])
        data = dict(batch.data, goal_label=jnp.concatenate([labels, pad - 1], 1),
                    return_to_go=jnp.concatenate([rtg, pad.astype(rtg.dtype)], 1))
        batch = batch.replace(data=data)
        acc = bl.mass_on(log_bs, bl.label_with_none(labels, G))  # [E, T, N]
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
            prior=bl.inter_update(prior, labels, v, self.inter_om_decay, axis=1),
        )
        return batch, trace


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


# ---------------------------------------------------------------------------- losses
def goal_loss(goal_policy: GoalPolicy, params, batch) -> tuple[jax.Array, dict]:
    """Masked cross-entropy of actions given own obs and hindsight goal, over every seat's
    transitions that have a goal label (steps after an agent's last goal are dropped). Masked
    entries' inputs are selected away first: NaN/inf there changes neither loss nor gradient."""
    T = batch.max_seq_length
    label = batch["goal_label"][:, :T]
    mask = step_mask(batch) & (label >= 0)
    label, actions = select(mask, label), select(mask, batch["actions"][:, :T])
    obs, avail = select(mask, batch["obs"][:, :T]), select(mask, batch["avail_actions"][:, :T], True)
    logp = goal_policy.log_probs(params, obs, avail, label)
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


# ---------------------------------------------------------------------------- trainer
@struct.dataclass
class HOPState:
    """params {"goal", "planner"}, opt_state, buffer of episodes, prior [E, N, G+1] (inter-OM
    about the self-play partners), key, update [] int32."""

    params: Any
    opt_state: Any
    buffer: ReplayBufferState
    prior: jax.Array
    key: jax.Array
    update: jax.Array


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
        self.steps_per_update = cfg.num_envs * self.runner.T
        self.num_chunks = -(-max(1, cfg.total_steps // self.steps_per_update) // cfg.chunk_updates)
        self.num_updates = self.num_chunks * cfg.chunk_updates
        self.chunk_updates = cfg.chunk_updates
        self.optimizer = optax.adam(cfg.lr)
        self.goal_names = self.env.goal_names(self.env_params)

    def make_runner(self, num_envs: int, focal_seats: tuple[int, ...],
                    scripted: dict[int, Any] | None = None) -> HOPRunner:
        """A runner with this run's networks, search and belief settings."""
        c = self.cfg
        return HOPRunner(self.env, self.env_params, self.goal_policy, self.planner_net, c.search,
                         num_envs, focal_seats, scripted, c.belief_temperature, c.inter_om_decay)

    def init(self, key: jax.Array) -> HOPState:
        k_g, k_p, key = jax.random.split(key, 3)
        params = {"goal": self.goal_policy.init(k_g), "planner": self.planner_net.init(k_p)}
        ro = self.runner
        return HOPState(
            params=params,
            opt_state=self.optimizer.init(params),
            buffer=init_buffer(ro.scheme, self.cfg.buffer_episodes),
            prior=uniform_prior(self.cfg.num_envs, ro.n, ro.G + 1),
            key=key,
            update=jnp.zeros((), jnp.int32),
        )

    def loss(self, params, batch):
        lg, ag = goal_loss(self.goal_policy, params["goal"], batch)
        lp, ap = planner_loss(self.planner_net, params["planner"], batch, self.runner.hop_mask)
        return lg + lp, {**ag, **ap}

    def update(self, st: HOPState) -> tuple[HOPState, dict[str, jax.Array]]:
        key, k_play, k_sgd = jax.random.split(st.key, 3)
        batch, trace = self.runner.play(k_play, st.params, st.prior)
        buffer = insert(st.buffer, batch)
        grad_fn = jax.grad(self.loss, has_aux=True)

        def sgd(c, k):
            params, opt_state = c
            mb = sample(buffer, k, self.cfg.batch_episodes)
            grads, aux = grad_fn(params, mb)
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
        new = HOPState(params, opt_state, buffer, trace.prior, key, st.update + 1)
        return new, metrics

    def env_split(self, st: HOPState):
        """Nothing is split over a mesh's env axis: every leaf is replicated."""
        return jax.tree.map(lambda _: False, st)


def replay_beliefs(goal_policy: GoalPolicy, params, batch, prior: jax.Array,
                   temperature: float = 1.0) -> jax.Array:
    """Intra-OM beliefs over a stored episode batch, as a HOP observer would have held them.

    batch: an EpisodeBatch with ``obs``, ``avail_actions``, ``actions`` and ``goal`` (any
    rollout's scheme); prior [E, N, G+1]. Goals disappear when achieved (the rule of both
    envs), so presence is read from the batch. -> log-beliefs [E, T, N, G+1] at each decision.
    """
    T = batch.max_seq_length
    v = step_mask(batch)  # [E, T, N]
    g = prior.shape[-1] - 1
    goal = jnp.where(v, batch["goal"][:, :T], -1)
    taken = jnp.cumsum(jnp.any(jax.nn.one_hot(goal, g, dtype=bool), axis=2), axis=1) > 0  # [E, T, G]
    present_after = bl.with_none(~taken)[:, :, None]  # [E, T, 1, G+1]
    obs, avail = select(v, batch["obs"][:, :T]), select(v, batch["avail_actions"][:, :T], True)
    logp = goal_policy.log_probs_all_goals(params, obs, avail)
    actions = select(v, batch["actions"][:, :T])
    log_lik = jnp.take_along_axis(logp, actions[..., None, None], axis=-1)[..., 0]
    log_b0 = bl.initial_beliefs(prior, jnp.ones_like(prior, bool))

    def step(log_b, x):
        ll, pres, acted = x
        return bl.intra_update(log_b, ll, pres, acted, prior, temperature), log_b

    xs = (jnp.swapaxes(log_lik, 0, 1), jnp.swapaxes(present_after, 0, 1), jnp.swapaxes(v, 0, 1))
    _, log_bs = jax.lax.scan(step, log_b0, xs)
    return jnp.swapaxes(log_bs, 0, 1)
