"""Few-shot adaptation evaluation (the HOP paper's protocol) and self-play evaluation.

A trained agent sits in the first ``num_focal`` seats (the paper uses 1 or 3 of 4) next to
*unseen* co-players - the env's scripted policies, never met in self-play training - for ``K``
consecutive episodes. HOP keeps its inter-OM prior across those episodes (starting from a
uniform prior: the co-players are new) and its intra-OM beliefs within each; the PPO-family
baselines (PPO, PPO+OMG, PPO+MOA) have no memory across episodes, so their per-episode curve is
flat up to noise. Reported per episode: the focal agents' mean return, the co-players' mean
return, welfare, and for HOP the belief accuracy (probability mass on each co-player's true,
hindsight goal, "no target" after its last interaction).

Every evaluation function is pure and jitted once: the co-player kind is a traced index (all
scripted policies are computed and one is selected), so one compile covers every row of the
table (vmapped over co-player kinds) and ``jax.vmap`` over evaluation seeds works too. The host
driver runs trained seeds one after the other through that one compiled function: vmapping
the tree search over per-seed *parameters* doubles XLA's CPU compile time for no gain on CPU.

Protocol notes: the paper evaluates against learned and scripted co-players it never trained
with, with the focal algorithm in 1 or 3 of the 4 seats. hopjax's unseen co-players are the
env's scripted policies (the HOP code's random / fix / nearest-target players,
``policy/fixed_policy.py``; the Stag-Hunt chasers apply the same rule) and, given a saved
population (:mod:`hopjax.runtime.population`: PPO, prosocial PPO, PPO+OMG, PPO+MOA and HOP
members, rows ``pop:<kind>``), learned members that act from their own parameters (HOP
members greedily from their planner net, no search: see that module). All co-player seats of
one row play the same kind.

The adaptation curve (:func:`curve_rows`, written by :func:`adaptation_table` as
``curve.csv``, ``curve.md`` and ``curve.png``): focal return and belief accuracy for each of
the K episodes, mean and 95 % t-interval over the trained seeds (Student t with S - 1 degrees
of freedom; no interval with one seed).

Inter-OM, checked against the HOP code: its Snowdrift config sets the across-episode decay as
``ToM_config['discount_factor'] = 0.98`` (HOP code, ``msg_code/train.py``; 0.995 for Stag-Hunt
in ``msh_code/train.py``), and what it averages is how many times a co-player interacts per
episode, which gives only the probability that the co-player has any target at all (against
"no target"); which target it pursues is left to intra-OM within each episode. The code's
initial value is in no available source. hopjax's inter-OM
(:func:`hopjax.algos.hop.beliefs.inter_update`) keeps decayed pseudo-counts of every goal
label, "no target" included, pooled over every target (``inter_om_pooling: any``, the default:
the code's P(any target)), within kinds (``kind``: it also carries which kind a co-player
pursues) or by distance rank within kinds (``rank``: how near its targets lie, the nearest of
every kind alike); each new co-player starts from a uniform row worth ``inter_om_prior_weight`` episodes
(default 1). Measured on Stag-Hunt (``benchmarks/RESULTS.md``, "Inter-OM: the HOP code's
P(any target) against pooling within kinds"): ``kind`` makes belief accuracy rise faster across
the K episodes, but with 3 focal seats it lowers the focal return from episode to episode (the
HOP seats learn that their teammates rarely go for the stag); ``any`` does not on average over
the co-player kinds, though it lowers the return against stag chasers (often labelled "no
target", so every target's prior falls; with 64 envs per seed that fall is measurable with 3
focal seats, "The done-when with four times the envs per seed"). ``inter_om_labels: expected``
counts such steps as HOP's final beliefs about the co-player instead (with ``kind``: the mass
on the stag then rises across K and that fall goes away, but with 3 focal seats the belief
slope against two learned kinds could not be told from 0, same section). ``inter_om_labels:
reached`` counts them as the next target cell the co-player stands on (with ``kind``: the fall
goes away and the belief rises against the learned kinds, but the accuracy on the hindsight
label, "no target" for a hunt nobody joined, no longer rises against stag chasers with 3 focal
seats; "`inter_om_labels: reached`", seventeenth session). ``goal_model_labels: reached``
trains the goal model on those labels too (a lone stag chaser's wait on the stag becomes a
stag step); every score here stays on the hindsight labels either way. An EMA started at
uniform with its full weight (``inter_om_prior_weight = 1 / (1 -
decay)``, 200 episodes at 0.995) would move the prior by 0.5 % of the last episode per
episode, so across K = 5 episodes nothing could carry over. The config key
``adapt_inter_om_decay`` (our choice, not in the HOP code) evaluates HOP a second time with
another decay for the K adaptation episodes only (row ``HOP decay=<d>``). The control
``adapt_no_carry: true`` (our choice) evaluates HOP a second time on the same seeds and keys
with inter-OM reset to its uniform start before every episode (row ``HOP no carry``); its
episodes are exchangeable, so its slope across K is 0 in expectation, and HOP minus it seed by
seed (:func:`carry_rows`, ``carry.md``) is what carrying inter-OM over does. Every (seed,
co-player kind) pair has keys of its own (:func:`evaluation_keys`).

Within the episode (:func:`within_episode_accuracy`, :func:`within_rows`, written as
``within.csv`` / ``within.md``): belief accuracy at each step t, pooled over the K episodes, the
envs and the alive co-players, mean and 95 % interval over seeds, next to the chance level
1 / (targets present + 1): the accuracy of a uniform belief over the targets still present
and "no target" (our choice of chance level).

The goal model's fit to each kind (:func:`goal_xent`): the co-players' mean cross-entropy
under their hindsight goal, in nats, per episode; the table gives episode 1 and K. A
diagnostic: where the model predicts a kind's moves about as well as a uniform move, its
likelihoods are unlikely to separate that kind's goals (``benchmarks/RESULTS.md``, "The goal
model against unseen co-players").

Against scripted co-players the protocol also scores the belief mass on what each one is
actually after (:func:`pursuit_accuracy`, ``pursuit_*`` entries, rows "pursuit accuracy"):
its nearest live target(s) or "no target" (:data:`hopjax.envs.scripted.PURSUIT`). The
hindsight label differs from it where another player takes a chaser's target first (the chaser
is then labelled with its next target, or "no target" if it takes none later).
"""

from __future__ import annotations

import dataclasses
import json
import time
import zlib
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from hopjax import envs
from hopjax.algos.hop import beliefs as bl
from hopjax.algos.hop.config import HOPConfig, check_run_overrides
from hopjax.algos.hop.losses import goal_loss, goal_mask, step_mask
from hopjax.algos.hop.trainer import HOPTrainer, make_env
from hopjax.algos.ppo import PPOConfig
from hopjax.buffers.episode import valid_mask
from hopjax.buffers.masked import masked_returns
from hopjax.config import ConfigError, from_stored, load_config, trained_changes, updated
from hopjax.envs.scripted import PURSUIT, SCRIPTED
from hopjax.runtime import checkpoint, rundir, signals
from hopjax.runtime.reproduce.report import write_csv
from hopjax.runtime.reproduce.stats import mean_interval as t_interval
from hopjax.algos.ppo.trainer import Trainer
from hopjax.evaluation import play_policy
from hopjax.loop import Loop

# Unseen co-players of each env: every scripted policy (HOP is trained only in self-play).
COPLAYERS: dict[str, tuple[str, ...]] = {
    "stag_hunt": ("stag", "hare", "random", "fix"),
    "snowdrift": ("cleaner", "random", "fix"),
}


def mixed_policy(env_name: str, names: tuple[str, ...], kind: jax.Array) -> Callable:
    """A co-player policy that plays ``names[kind]`` (``kind`` may be traced); an entry is a
    scripted policy's name or a policy function (e.g. :func:`hopjax.runtime.population.coplayer_policy`)."""
    fns = [SCRIPTED[env_name][n] if isinstance(n, str) else n for n in names]

    def policy(key, obs, state, params, seat):
        acts = jnp.stack([f(key, obs, state, params, seat) for f in fns])
        return acts[kind]

    return policy


def _scripted(env_name: str, n: int, num_focal: int, coplayers, kind) -> dict[int, Callable]:
    if coplayers is None:
        return {}
    fn = mixed_policy(env_name, tuple(coplayers), kind)
    return {i: fn for i in range(num_focal, n)}


def mixed_pursuit(env_name: str, names: tuple, kind: jax.Array) -> Callable:
    """What the co-player of :func:`mixed_policy` (same ``names``, ``kind``) is after:
    ``(state, params, seat) -> [G+1] bool`` (:data:`hopjax.envs.scripted.PURSUIT`); all False
    for a learned co-player (a policy function), whose target is unknown."""
    table = PURSUIT[env_name]

    def pursuit(state, params, seat):
        unknown = jnp.zeros_like(table["random"](state, params, seat))
        rows = [table[n](state, params, seat) if isinstance(n, str) else unknown for n in names]
        return jnp.stack(rows)[kind]

    return pursuit


def _pursuit(env_name: str, n: int, num_focal: int, coplayers, kind) -> dict[int, Callable] | None:
    if coplayers is None:
        return None
    fn = mixed_pursuit(env_name, tuple(coplayers), kind)
    return {i: fn for i in range(num_focal, n)}


def _episode_summary(returns: jax.Array, num_focal: int, self_play: bool) -> dict[str, jax.Array]:
    """returns [E, N] -> focal / co-player mean return and welfare (means over envs)."""
    focal = returns[:, :num_focal].mean()
    others = returns.mean() if self_play else returns[:, num_focal:].mean()
    return {"focal_return": focal, "coplayer_return": others, "welfare": returns.sum(-1).mean()}


def within_episode_accuracy(batch, trace, modelled: jax.Array) -> dict[str, jax.Array]:
    """Belief accuracy by time step within one episode, as sums so that episodes, envs and
    seeds pool by step counts.

    batch: the runner's episode batch ([E, T+1, ...] with ``goal``); trace: its
    :class:`~hopjax.algos.hop.trainer.EpisodeTrace` (``log_beliefs`` [E, T, N, G+1]);
    modelled [N] bool: the seats whose beliefs are scored. -> ``belief_acc_sum_t`` [T]: summed
    probability on the true (hindsight) goal, "no target" after the last interaction;
    ``belief_steps_t`` [T]: how many (env, seat) pairs were alive at step t;
    ``belief_chance_sum_t`` [T]: summed chance level, 1 / (targets present + 1), the accuracy
    of a uniform belief over the present targets and "no target" (our choice of chance level).
    """
    log_b = trace.log_beliefs
    G = log_b.shape[-1] - 1
    acc = bl.mass_on(log_b, bl.label_with_none(_hindsight(batch), G))
    chance = 1.0 / jnp.maximum(jnp.sum(jnp.isfinite(log_b), -1), 1)  # present targets + "none"
    acc, chance, steps = _sums_by_step(batch, modelled, True, acc, chance)
    return {"belief_acc_sum_t": acc, "belief_steps_t": steps, "belief_chance_sum_t": chance}


def _hindsight(batch) -> jax.Array:
    """[E, T, N] int32: the hindsight labels of a runner's episode batch, from its ``goal``
    field (:func:`hopjax.algos.hop.beliefs.hindsight_labels`). Not its ``goal_label`` field,
    which holds what the goal model trains on (``HOPConfig.goal_model_labels``)."""
    return bl.hindsight_labels(batch["goal"][:, : batch.max_seq_length], step_mask(batch), axis=1)


def _sums_by_step(batch, modelled, scored, *values):
    """Each of ``values`` [E, T, N] summed over the envs and the seats that are modelled ([N]
    bool), alive and ``scored`` (broadcastable bool) at each step, then their count ->
    ([T] per value..., steps [T])."""
    v = step_mask(batch) & modelled & scored  # [E, T, N]
    total = lambda x: jnp.sum(jnp.where(v, x, 0.0), axis=(0, 2))
    return (*(total(x) for x in values), total(jnp.ones(v.shape, jnp.float32)))


def goal_xent(trainer: HOPTrainer, params, batch, modelled: jax.Array) -> dict[str, jax.Array]:
    """How well the goal model that played an episode predicts the co-players' actions: the
    mean cross-entropy -log pi(a | o, g) (nats) of the modelled seats' (``modelled`` [N] bool:
    the co-players; every seat in self-play) actions given their hindsight goal, over their
    valid steps that have one, i.e. not after their last interaction
    (:func:`hopjax.algos.hop.losses.goal_loss` on the hindsight labels, restricted to those
    seats: the loss the goal model trains on under ``goal_model_labels: hindsight``; under
    ``reached`` it also trains on steps after the last interaction, which are not scored here).
    -> ``goal_xent`` [] float32 (0 when no step has a goal) and ``goal_xent_steps`` [] float32
    (their count). A model predicting a uniform move among A available actions scores log A."""
    labels = _hindsight(batch)  # not goal_label: the scores stay on the hindsight labels
    pad = jnp.full_like(labels[:, :1], -1)
    batch = batch.replace(data=dict(batch.data, goal_label=jnp.concatenate([labels, pad], 1)))
    xent, _ = goal_loss(trainer.goal_policy, params["goal"], batch, modelled)
    steps = jnp.sum(goal_mask(batch, modelled))
    return {"goal_xent": xent, "goal_xent_steps": steps.astype(jnp.float32)}


def pursuit_accuracy(batch, trace, modelled: jax.Array) -> dict[str, jax.Array]:
    """Belief mass on what each scripted co-player was actually after (``trace.pursued``: its
    nearest live target(s), or "no target"), by time step as sums like
    :func:`within_episode_accuracy`: ``pursuit_acc_sum_t`` [T], ``pursuit_steps_t`` [T]
    (modelled, alive seats whose target is known) and ``pursuit_chance_sum_t`` [T] (chance:
    pursued entries / (targets present + 1), a uniform belief's mass on them); plus the
    episode's ``pursuit_accuracy`` [] (0 when no step is scored, see ``pursuit_steps``).

    The hindsight label scores a co-player's steps toward a target that another player takes
    first as "no target" (or as its next target); this score uses the scripted policy's own
    target instead (our metric, next to the hindsight one)."""
    log_b, pursued = trace.log_beliefs, trace.pursued  # [E, T, N, G+1] each
    finite = jnp.isfinite(log_b)  # present targets and "none"
    mass = jnp.sum(jnp.where(pursued, jnp.exp(log_b), 0.0), -1)
    chance = jnp.sum(pursued & finite, -1) / jnp.maximum(jnp.sum(finite, -1), 1)
    mass, chance, steps = _sums_by_step(batch, modelled, jnp.any(pursued, -1), mass, chance)
    return {"pursuit_acc_sum_t": mass, "pursuit_steps_t": steps, "pursuit_chance_sum_t": chance,
            "pursuit_accuracy": jnp.sum(mass) / jnp.maximum(jnp.sum(steps), 1.0),
            "pursuit_steps": jnp.sum(steps)}


def hop_adaptation(trainer: HOPTrainer, episodes: int, num_envs: int, num_focal: int = 1,
                   coplayers: tuple[str, ...] | None = None, with_episodes: bool = False,
                   inter_om_decay: float | None = None, carry: bool = True):
    """-> ``fn(key, params, kind) -> metrics`` with a leading [K] axis per entry.

    ``coplayers=None``: self-play (HOP in every seat; ``kind`` ignored). ``with_episodes``:
    also return every episode's batch and belief trace ([K, E, ...]). ``inter_om_decay``: the
    decay carrying the prior from episode to episode (default: the config's). ``carry=False``:
    the control, every episode starts from the uniform start row (nothing carried over; the
    same keys give the same first episode as with ``carry=True``). Besides the
    episode means, the metrics hold :func:`within_episode_accuracy` ([K, T] each) and
    :func:`goal_xent` (the goal model's fit to the co-players; every seat in self-play)."""
    env, p = trainer.env, trainer.env_params
    n = env.num_agents(p)
    self_play = coplayers is None
    focal = tuple(range(n if self_play else num_focal))

    def fn(key, params, kind):
        runner = trainer.make_runner(num_envs, focal, _scripted(env.name, n, num_focal, coplayers, kind),
                                     inter_om_decay, _pursuit(env.name, n, num_focal, coplayers, kind))

        def episode(prior, k):
            batch, trace = runner.play(k, params, prior)
            m = _episode_summary(trace.returns, len(focal) if self_play else num_focal, self_play)
            steps = trace.belief_steps
            m["belief_accuracy"] = jnp.sum(trace.belief_acc * steps) / jnp.maximum(steps.sum(), 1.0)
            m["p_none"] = jnp.mean(bl.prior_probs(trace.prior)[..., -1])
            m.update(within_episode_accuracy(batch, trace, runner.modelled))
            if trace.pursued is not None:
                m.update(pursuit_accuracy(batch, trace, runner.modelled))
            m.update(goal_xent(trainer, params, batch, runner.modelled))
            return (trace.prior if carry else prior), (m, (batch, trace) if with_episodes else None)

        prior0 = bl.uniform_prior((num_envs, n, runner.G + 1), trainer.cfg.inter_om_prior_weight)
        _, (metrics, eps) = jax.lax.scan(episode, prior0, jax.random.split(key, episodes))
        return (metrics, eps) if with_episodes else metrics

    return fn


def policy_adaptation(trainer, episodes: int, num_envs: int, num_focal: int = 1,
                      coplayers: tuple[str, ...] | None = None):
    """The same protocol for a PPO-family :class:`hopjax.algos.ppo.trainer.Trainer` (PPO, +OMG, +MOA).

    -> ``fn(key, runner_state, kind) -> metrics [K]``; seats ``0..num_focal-1`` act from the
    trained policy (their own parameters), the others are the scripted co-players."""
    env, p = trainer.env, trainer.env_params
    n = env.num_agents(p)
    self_play = coplayers is None

    def fn(key, runner, kind):
        scripted = _scripted(env.name, n, num_focal, coplayers, kind)

        def episode(_, k):
            k_reset, k_run = jax.random.split(k)
            batch, _ = play_policy(trainer, runner, num_envs, scripted, k_reset, k_run)
            returns = masked_returns(batch["reward"], valid_mask(batch))
            return None, _episode_summary(returns, n if self_play else num_focal, self_play)

        _, metrics = jax.lax.scan(episode, None, jax.random.split(key, episodes))
        return metrics

    return fn


# ---------------------------------------------------------------------------- host driver
def _timed(label: str, fn, *args):
    t0 = time.perf_counter()
    out = jax.device_get(fn(*args))
    signals.raise_if_interrupted()  # a Ctrl-C JAX dropped while it compiled or ran this
    dt = time.perf_counter() - t0
    print(f"  {label}: {dt:.1f}s")
    return out, dt


def _seed_keys(seed: int, seeds: int) -> jax.Array:
    return jax.random.split(jax.random.PRNGKey(seed), seeds)


def evaluation_keys(seed: int, seeds: int, kinds) -> tuple[jax.Array, jax.Array]:
    """-> (keys [seeds, len(kinds), 2] uint32, self-play keys [seeds, 2] uint32) of the
    evaluation with config seed ``seed``.

    Trained seed ``s`` is evaluated against kind ``k`` (its name, e.g. ``"stag"`` or
    ``"pop:ppo"``) with ``fold_in(split(PRNGKey(seed + 1), seeds)[s], crc32(k) & 0x7FFFFFFF)`` and in
    self-play with the name ``"self-play"``, so a kind's episodes depend neither on which
    other kinds are evaluated (``--population`` or not) nor on ``--seeds`` (``split`` keeps
    its prefix under ``jax_threefry_partitionable``, on by default since JAX 0.5.0, the version
    hopjax requires), and self-play does not reuse a kind's key. ConfigError if that flag is off
    (``JAX_THREEFRY_PARTITIONABLE=0``): a kind's episodes would then change with ``--seeds``."""
    if not jax.config.jax_threefry_partitionable:
        raise ConfigError("the adaptation protocol needs jax_threefry_partitionable (JAX's default since 0.5.0; "
                          "unset JAX_THREEFRY_PARTITIONABLE): without it a kind's episodes change with --seeds")
    per_seed = _seed_keys(seed + 1, seeds)

    def named(name: str) -> jax.Array:
        return jax.vmap(lambda k: jax.random.fold_in(k, zlib.crc32(name.encode()) & 0x7FFFFFFF))(per_seed)

    keys = jnp.stack([named(k) for k in kinds], axis=1)
    return keys, named("self-play")


def hop_agents(cfg: HOPConfig, seeds: int, run: str | Path | None):
    """-> (trainer, [params of each seed], budget note). Trains ``seeds`` seeds one after the
    other with one compiled ``train`` (vmapping the tree search over seeds doubles XLA's CPU
    compile time for little gain on a CPU), or restores one checkpoint for every seed, evaluated
    with ``cfg`` (the run's config with evaluation-only keys changed, :func:`hop_config`);
    ConfigError if ``cfg`` differs from the checkpoint's config in a key that trains."""
    if run is not None:
        _, meta = checkpoint.load_meta(run)
        changed = trained_changes(meta["config"], cfg)
        if changed:
            raise ConfigError(f"HOP run {str(run)!r} was trained with another config than the one given "
                              f"({'; '.join(changed)}): evaluate it with hop_config(..., run=RUN)")
        trainer = HOPTrainer(cfg)
        st, meta = checkpoint.restore(run, jax.eval_shape(trainer.init, jax.random.PRNGKey(0)))
        return trainer, [st.params] * seeds, (f"HOP checkpoint {run} ({meta['env_steps']} env steps; "
                                               "one trained seed: ± is over evaluation keys)")
    trainer = HOPTrainer(cfg)
    steps = trainer.num_updates * trainer.steps_per_update
    train = jax.jit(Loop(trainer).train)
    params, t0 = [], time.perf_counter()
    for s, key in enumerate(_seed_keys(cfg.seed, seeds)):
        (st, m), _ = _timed(f"train HOP seed {s} ({steps} env steps)", train, key)
        params.append(st.params)
        print(f"    self-play return (last 10%): {np.mean(m['mean_return'][-max(1, len(m['mean_return']) // 10):]):.3f}")
    return trainer, params, f"HOP {steps} env steps/seed ({time.perf_counter() - t0:.0f}s for {seeds} seeds)"


def policy_agents(cfg, seeds: int, run: str | Path | None):
    """-> (trainer, [RunnerState of each seed], budget note) for a PPO-family config (seeds
    trained one after the other with one compiled ``train``, as :func:`hop_agents` does) or a
    ``hopjax train`` run dir. One seed at a time: on a CPU a seed-vmapped training costs no
    less. (Seed-vmapped trainings used to hang here: a batched LAPACK QR in the initialiser,
    fixed by :func:`hopjax.models.init.orthogonal`.)"""
    if run is not None:
        _, meta = checkpoint.load_meta(run)
        trainer = Trainer(from_stored(PPOConfig, meta["config"]))
        st, _ = checkpoint.restore(run, jax.eval_shape(trainer.init, jax.random.PRNGKey(0)))
        return trainer, [st] * seeds, (f"checkpoint {run} ({meta['env_steps']} env steps; one trained "
                                       "seed: ± is over evaluation keys)")
    trainer = Trainer(cfg)
    steps = trainer.num_updates * trainer.steps_per_update
    train = jax.jit(Loop(trainer).train)
    states, t0 = [], time.perf_counter()
    for s, key in enumerate(_seed_keys(cfg.seed, seeds)):
        (st, m), _ = _timed(f"train {cfg.name} seed {s} ({steps} env steps)", train, key)
        states.append(st)
        print(f"    self-play return (last 10%): {np.mean(m['mean_return'][-max(1, len(m['mean_return']) // 10):]):.3f}")
    return trainer, states, f"{steps} env steps/seed ({time.perf_counter() - t0:.0f}s for {seeds} seeds)"


def _check_baseline_envs(baselines: dict[str, Any], hop_cfg: HOPConfig, env_params: Any) -> None:
    """A trained baseline run must have been trained on HOP's env (same name and params):
    ConfigError naming it otherwise, before anything trains. Configs are retrained on HOP's env."""
    for name, spec in baselines.items():
        if not isinstance(spec, (str, Path)):
            continue
        cfg = from_stored(PPOConfig, checkpoint.load_meta(spec)[1]["config"])
        if cfg.env != hop_cfg.env or envs.make(cfg.env, **cfg.env_kwargs)[1] != env_params:
            raise ConfigError(
                f"--baseline {name}={spec} was trained on {cfg.env} {dict(cfg.env_kwargs)}, HOP's env "
                f"is {hop_cfg.env} {dict(hop_cfg.env_kwargs)}: give its config instead (retrained "
                "on HOP's env) or a run trained with HOP's env_kwargs")


def unseen_coplayers(env_name: str, env_params: Any, num_focal: int,
                     population: str | Path | None = None) -> tuple[tuple[str, ...], tuple]:
    """The rows of the adaptation table: the env's scripted kinds (:data:`COPLAYERS`), then, given
    a saved population dir (:mod:`hopjax.runtime.population`, trained on this env), one row
    ``pop:<kind>`` per member kind (printed). -> (kinds, policies): names, and for
    :func:`hop_adaptation` / :func:`policy_adaptation`'s ``coplayers`` the scripted names and
    the members' policies for ``num_focal`` focal seats. Errors of
    :func:`hopjax.runtime.population.load_population` (a missing or mismatched dir)."""
    kinds, policies = COPLAYERS[env_name], COPLAYERS[env_name]
    if population is None:
        return kinds, policies
    from hopjax.runtime import population as pop

    members = pop.load_population(population, env_name, env_params)
    print(f"learned co-players from {population}: {pop.describe(members)}")
    return (kinds + tuple(f"pop:{k.name}" for k in members),
            policies + tuple(pop.coplayer_policy(k, num_focal) for k in members))


def _mean_std(x: np.ndarray) -> str:
    return f"{np.mean(x):6.2f} ± {np.std(x):4.2f}"


def adaptation_table(hop_cfg: HOPConfig, baselines: dict[str, Any], seeds: int = 3,
                     episodes: int = 5, num_envs: int = 16, num_focal: int = 1,
                     hop_run: str | Path | None = None, out: str | Path | None = None,
                     population: str | Path | None = None) -> dict:
    """Train (or restore) HOP and each baseline, evaluate them on the adaptation protocol and
    in self-play, print the table (mean ± std over seeds) and the adaptation curve (mean and
    95 % interval), and return the raw numbers.

    ``baselines``: name -> a PPO-family config (trained here) or a run dir / checkpoint path.
    ``population``: a population dir (:mod:`hopjax.runtime.population`) trained on HOP's env:
    its member kinds are further unseen co-players (rows ``pop:<kind>``).
    """
    t_start = time.perf_counter()
    env, env_params = make_env(hop_cfg)
    n = env.num_agents(env_params)
    if not 1 <= num_focal < n:
        raise ConfigError(f"--focal-seats must lie in [1, {n - 1}] (the other seats hold the co-players)")
    env_name = hop_cfg.env
    _check_baseline_envs(baselines, hop_cfg, env_params)
    kinds, policies = unseen_coplayers(env_name, env_params, num_focal, population)
    n_kinds = len(kinds)
    print(f"few-shot adaptation on {env_name} {dict(hop_cfg.env_kwargs)}: {seeds} seeds, "
          f"{num_envs} envs, K={episodes} episodes, focal agent in {num_focal} seat(s)")
    results: dict[str, dict[str, np.ndarray]] = {}
    budget: dict[str, str] = {}
    keys, sp_keys = evaluation_keys(hop_cfg.seed, seeds, kinds)
    kind_idx = jnp.arange(n_kinds)

    def evaluate(name, adapt_fn, selfplay_fn, agents):
        """One compile per protocol (kinds vmapped); seeds run one after the other;
        ``selfplay_fn=None``: no self-play."""
        fn = jax.jit(jax.vmap(adapt_fn, in_axes=(0, None, 0)))
        t0 = time.perf_counter()
        res = [jax.device_get(fn(keys[s], agents[s], kind_idx)) for s in range(seeds)]
        stack = lambda rs: {k: np.stack([r[k] for r in rs]) for k in rs[0]}
        results[name] = {"adapt": stack(res)}
        if selfplay_fn is not None:
            sp = jax.jit(selfplay_fn)
            results[name]["self_play"] = stack([jax.device_get(sp(sp_keys[s], agents[s], 0)) for s in range(seeds)])
        signals.raise_if_interrupted()  # a Ctrl-C JAX dropped while it compiled or ran these
        print(f"  evaluate {name} vs {', '.join(kinds)}{' and in self-play' * (selfplay_fn is not None)}: "
              f"{time.perf_counter() - t0:.1f}s")

    hop_trainer, hop_params, budget["HOP"] = hop_agents(hop_cfg, seeds, hop_run)
    evaluate("HOP", hop_adaptation(hop_trainer, episodes, num_envs, num_focal, policies),
             hop_adaptation(hop_trainer, episodes, num_envs), hop_params)
    decay = hop_trainer.cfg.adapt_inter_om_decay
    if decay is not None:  # the few-shot protocol's own inter-OM decay, next to the trained one
        evaluate(f"HOP decay={decay:g}", hop_adaptation(hop_trainer, episodes, num_envs, num_focal, policies,
                                                        inter_om_decay=decay),
                 hop_adaptation(hop_trainer, episodes, num_envs, inter_om_decay=decay), hop_params)
    if hop_trainer.cfg.adapt_no_carry and episodes < 2:
        print(f"the control (adapt_no_carry) needs K >= 2 episodes to compare slopes across K; skipped at K={episodes}")
    elif hop_trainer.cfg.adapt_no_carry:  # the control: same seeds and keys, nothing carried over
        # (no self-play: carry.md compares the protocol's rows only)
        evaluate(NO_CARRY, hop_adaptation(hop_trainer, episodes, num_envs, num_focal, policies, carry=False),
                 None, hop_params)
    for name, spec in baselines.items():
        is_run = isinstance(spec, (str, Path))
        trainer, runner, budget[name] = policy_agents(None if is_run else spec, seeds, spec if is_run else None)
        evaluate(name, policy_adaptation(trainer, episodes, num_envs, num_focal, policies),
                 policy_adaptation(trainer, episodes, num_envs), runner)

    table = format_table(results, kinds, episodes)
    rows = curve_rows(results, kinds)
    within = within_rows(results, kinds)
    carry = carry_rows(results, kinds)
    title = f"{env_name}, focal agent in {num_focal} seat(s)"
    print(table)
    print(curve_markdown(rows, title))
    print(within_markdown(within))
    if carry:
        print(carry_markdown(carry, title))
    print("budget: " + "; ".join(f"{k}: {v}" for k, v in budget.items())
          + f"; total wall time {time.perf_counter() - t_start:.0f}s")
    if out is not None:
        _write_outputs(Path(out), table, rows, kinds, budget, results, title, within, carry)
    return {"results": results, "budget": budget, "table": table, "curve": rows, "within": within,
            "carry": carry}


def _write_outputs(out: Path, table: str, rows: list[dict], kinds, budget, results, title: str,
                   within: list[dict], carry: list[dict] = ()) -> None:
    """adaptation.txt / .json, curve.csv / .md / .png, within.csv / .md and, with the control
    row, carry.csv / .md in ``out`` (an earlier result there is moved aside, never
    overwritten)."""
    from hopjax.runtime.plots import plot_adaptation_curve

    if out.is_dir() and any(out.iterdir()):
        print(f"moved the previous adaptation results in {out} aside to {rundir.move_aside(out)}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "adaptation.txt").write_text(table + "\n")
    raw = {a: {part: {k: np.asarray(v).tolist() for k, v in r.items()} for part, r in d.items()}
           for a, d in results.items()}
    (out / "adaptation.json").write_text(json.dumps(
        {"coplayers": list(kinds), "budget": budget, "results": raw}, indent=1))
    write_csv(out / "curve.csv", rows)
    (out / "curve.md").write_text(curve_markdown(rows, title) + "\n")
    plot_adaptation_curve(rows, out / "curve.png", "adaptation curve: " + title)
    if within:
        write_csv(out / "within.csv", within)
        (out / "within.md").write_text(within_markdown(within) + "\n")
    if carry:
        write_csv(out / "carry.csv", carry)
        (out / "carry.md").write_text(carry_markdown(carry, title) + "\n")
    print(f"wrote adaptation.txt/.json, curve.csv/.md/.png, within.csv/.md{', carry.csv/.md' if carry else ''} in {out}")


NO_CARRY = "HOP no carry"  # the control row (HOPConfig.adapt_no_carry)


def episode_slope(y: np.ndarray) -> np.ndarray:
    """[S, K] values of episodes 1..K -> [S] least-squares slope per episode."""
    y = np.asarray(y, np.float64)
    x = np.arange(y.shape[-1]) - (y.shape[-1] - 1) / 2
    return (y - y.mean(-1, keepdims=True)) @ x / np.sum(x * x)


CARRY_METRICS = (("focal_return", "return"), ("belief_accuracy", "belief accuracy"))


def carry_rows(results: dict, kinds: tuple[str, ...], hop: str = "HOP", control: str = NO_CARRY,
               digits: int | None = 4) -> list[dict]:
    """What carrying inter-OM over does, per co-player kind (``[]`` without the control row or
    with fewer than 2 episodes).

    Both rows evaluate the same trained seeds on the same keys, so they share episode 1 and
    differ only in the prior each later episode starts from. Per kind and metric (focal return,
    belief accuracy): the slope per episode of ``hop`` and of ``control`` (0 in expectation:
    its episodes are exchangeable), and seed by seed ``hop`` minus ``control``: the difference
    of the slopes and of the means over the K episodes; each mean and 95 % t-interval over
    seeds (:func:`t_interval`). The paired slope estimates the same expected slope as
    ``hop``'s own (the control's is 0), with the episodes' common noise removed. Values are
    rounded to ``digits`` places (None: not rounded, for decisions on the interval's sign)."""
    if hop not in results or control not in results or np.asarray(results[hop]["adapt"]["focal_return"]).shape[-1] < 2:
        return []
    r = (lambda v: v) if digits is None else (lambda v: round(v, digits))
    rows = []
    for c, kind in enumerate(kinds):
        row = {"coplayers": kind, "seeds": int(np.asarray(results[hop]["adapt"]["focal_return"]).shape[0])}
        for m, _ in CARRY_METRICS:
            a = np.asarray(results[hop]["adapt"][m])[:, c]
            b = np.asarray(results[control]["adapt"][m])[:, c]
            for name, x in (("slope", episode_slope(a)), ("control_slope", episode_slope(b)),
                            ("paired_slope", episode_slope(a) - episode_slope(b)),
                            ("paired_mean", a.mean(1) - b.mean(1))):
                mean, lo, hi = (float(v) for v in t_interval(x))
                row.update({f"{m}_{name}": r(mean), f"{m}_{name}_lo": r(lo), f"{m}_{name}_hi": r(hi)})
        rows.append(row)
    return rows


def carry_markdown(rows: list[dict], title: str) -> str:
    """:func:`carry_rows` as a markdown table, ``mean [low, high]`` per cell."""
    cell = lambda r, k: f"{r[k]:+.3f} [{r[k + '_lo']:+.3f}, {r[k + '_hi']:+.3f}]"
    lines = [f"What carrying inter-OM over does ({title}): HOP against the same seeds and keys with "
             "inter-OM reset before every episode; per episode; mean [95 % interval] over seeds", "",
             "| co-players | metric | slope, HOP | slope, no carry | HOP - no carry: slope (paired) "
             "| HOP - no carry: mean over K (paired) |", "|---|---|---|---|---|---|"]
    for r in rows:
        for m, label in CARRY_METRICS:
            lines.append(f"| {r['coplayers']} | {label} | " + " | ".join(
                cell(r, f"{m}_{k}") for k in ("slope", "control_slope", "paired_slope", "paired_mean")) + " |")
    return "\n".join(lines)


def curve_rows(results: dict, kinds: tuple[str, ...]) -> list[dict]:
    """One row per (co-player kind, algorithm, episode 1..K): focal return, belief accuracy
    (``""`` for algorithms without beliefs) and, against scripted co-players, the belief mass on
    their pursued targets (``pursuit_accuracy``, :func:`pursuit_accuracy`; ``""`` where
    unknown), each with its 95 % interval over seeds (:func:`t_interval`)."""
    rows = []
    for c, kind in enumerate(kinds):
        for name, r in results.items():
            a = r["adapt"]
            fr = t_interval(np.asarray(a["focal_return"])[:, c])  # [S, K] -> 3 x [K]
            ba = t_interval(np.asarray(a["belief_accuracy"])[:, c]) if "belief_accuracy" in a else None
            known = "pursuit_steps" in a and np.all(np.asarray(a["pursuit_steps"])[:, c] > 0)
            pa = t_interval(np.asarray(a["pursuit_accuracy"])[:, c]) if known else None
            for k in range(fr[0].shape[0]):
                row = {"coplayers": kind, "algorithm": name, "episode": k + 1,
                       "seeds": int(np.asarray(a["focal_return"]).shape[0])}
                for m, v in (("focal_return", fr), ("belief_accuracy", ba), ("pursuit_accuracy", pa)):
                    row.update({m: "" if v is None else round(float(v[0][k]), 4),
                                m + "_lo": "" if v is None else round(float(v[1][k]), 4),
                                m + "_hi": "" if v is None else round(float(v[2][k]), 4)})
                rows.append(row)
    return rows


def curve_markdown(rows: list[dict], title: str) -> str:
    """The curve as a markdown table: per co-player kind and algorithm, episode 1..K cells
    ``mean [low, high]`` of the focal return, and of the belief accuracy where reported."""
    eps = sorted({r["episode"] for r in rows})
    head = "| co-players | algorithm | metric | " + " | ".join(f"ep {k}" for k in eps) + " |"
    lines = [f"Adaptation curve ({title}; mean [95 % interval] over seeds)", "", head,
             "|" + "---|" * (3 + len(eps))]
    cell = lambda r, m: "" if r[m] == "" else f"{r[m]:.2f} [{r[m + '_lo']:.2f}, {r[m + '_hi']:.2f}]"
    groups = dict.fromkeys((r["coplayers"], r["algorithm"]) for r in rows)
    for kind, algo in groups:
        rs = sorted((r for r in rows if r["coplayers"] == kind and r["algorithm"] == algo), key=lambda r: r["episode"])
        for m in ("focal_return", "belief_accuracy", "pursuit_accuracy"):
            if rs[0].get(m, "") != "":
                lines.append(f"| {kind} | {algo} | {m.replace('_', ' ')} | " + " | ".join(cell(r, m) for r in rs) + " |")
    return "\n".join(lines)


def _thirds(T: int) -> list[np.ndarray]:
    return [a for a in np.array_split(np.arange(T), 3) if a.size]


def within_rows(results: dict, kinds: tuple[str, ...]) -> list[dict]:
    """Belief accuracy by step within the episode: one row per (co-player kind, algorithm with
    beliefs, step t = 1..T), pooled over the K episodes and the envs (weighted by alive
    co-players), mean and 95 % t-interval over seeds (:func:`t_interval`), next to the chance
    level of :func:`within_episode_accuracy` and the number of scored (episode, env, seat)
    steps. A step nobody was alive at gives NaN."""
    rows = []
    for c, kind in enumerate(kinds):
        for name, r in results.items():
            a = r["adapt"]
            if "belief_acc_sum_t" not in a:
                continue
            cols = {}
            for pre, out in (("belief", ""), ("pursuit", "pursuit_")):
                if f"{pre}_acc_sum_t" not in a:
                    continue
                steps = np.asarray(a[f"{pre}_steps_t"])[:, c].sum(1)  # [S, K, T] -> [S, T]
                per = lambda m: np.asarray(a[m])[:, c].sum(1) / np.where(steps > 0, steps, np.nan)
                acc, chance = t_interval(per(f"{pre}_acc_sum_t")), t_interval(per(f"{pre}_chance_sum_t"))
                name_acc = f"{pre}_accuracy"
                cols[out] = (steps, acc, chance, name_acc)
            for t in range(cols[""][0].shape[1]):
                row = {"coplayers": kind, "algorithm": name, "step": t + 1}
                for out, (steps, acc, chance, name_acc) in cols.items():
                    row.update({f"{out}scored": int(steps[:, t].sum()),
                                **{k: round(float(v[t]), 4) for k, v in zip(
                                    (name_acc, name_acc + "_lo", name_acc + "_hi"), acc)},
                                f"{out}chance": round(float(chance[0][t]), 4)})
                rows.append(row)
    return rows


def within_markdown(rows: list[dict]) -> str:
    """:func:`within_rows` as markdown tables over the first, middle and last third of the
    episode's steps: accuracy mean [95 % interval] with the chance level, pooled over steps by
    their scored counts (the interval of a third is the mean of its steps' bounds, a
    conservative summary: per-seed pooling lives in ``within.csv``); steps that some seed never
    scored (NaN) are left out, a third without any scored step is ``-``. A second table gives
    the mass on the scripted co-players' pursued targets (:func:`pursuit_accuracy`) where known."""
    if not rows:
        return ""
    out = _within_table(rows, "", "Belief accuracy within the episode (mean [95 % interval] over "
                        "seeds, all K episodes pooled; chance = 1 / (targets present + 1))")
    known = [r for r in rows if r.get("pursuit_scored", 0) > 0]
    if known:
        keep = dict.fromkeys((r["coplayers"], r["algorithm"]) for r in known)
        out += "\n\n" + _within_table(
            [r for r in rows if (r["coplayers"], r["algorithm"]) in keep], "pursuit_",
            "Belief mass on the scripted co-player's pursued target(s) within the episode (mean "
            "[95 % interval] over seeds, all K episodes pooled; chance = pursued / (targets "
            "present + 1))")
    return out


def _within_table(rows: list[dict], pre: str, title: str) -> str:
    T = max(r["step"] for r in rows)
    parts = _thirds(T)
    acc = "pursuit_accuracy" if pre else "belief_accuracy"
    span = lambda p: f"step {p[0] + 1}" if p.size == 1 else f"steps {p[0] + 1}-{p[-1] + 1}"
    head = "| co-players | algorithm | " + " | ".join(span(p) for p in parts) + " |"
    lines = [title, "", head, "|" + "---|" * (2 + len(parts))]
    for kind, algo in dict.fromkeys((r["coplayers"], r["algorithm"]) for r in rows):
        rs = {r["step"]: r for r in rows if r["coplayers"] == kind and r["algorithm"] == algo}
        cells = []
        for p in parts:
            sel = [rs[t + 1] for t in p if np.isfinite(rs[t + 1][acc])]  # some seed saw it
            w = np.array([r[pre + "scored"] for r in sel], float)
            avg = lambda m: float(np.sum(w * np.array([r[m] for r in sel])) / max(w.sum(), 1.0))
            cells.append(f"{avg(acc):.2f} [{avg(acc + '_lo'):.2f}, {avg(acc + '_hi'):.2f}] "
                         f"(chance {avg(pre + 'chance'):.2f})" if sel else "-")
        lines.append(f"| {kind} | {algo} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_table(results: dict, kinds: tuple[str, ...], episodes: int) -> str:
    """Per co-player and algorithm: focal return of episodes 1..K and their mean (mean ± std
    over seeds), HOP's belief accuracy and its goal model's cross-entropy on the co-players'
    actions (:func:`goal_xent`, nats; means over the seeds with a scored step) in episode 1 and
    K; then self-play returns."""
    head = f"{'co-players':<11}{'algorithm':<14}" + "".join(f"{'ep ' + str(k + 1):>15}" for k in range(episodes))
    head += f"{'mean':>15}{'belief acc 1->K':>18}{'goal xent 1->K':>18}"  # cells 18 wide
    lines = ["focal return per episode (mean ± std over seeds)", head, "-" * len(head)]
    for c, kind in enumerate(kinds):
        for i, (name, r) in enumerate(results.items()):
            fr = np.asarray(r["adapt"]["focal_return"])[:, c]  # [S, K]
            row = f"{kind if i == 0 else '':<11}{name:<14}"
            row += "".join(f"{_mean_std(fr[:, k]):>15}" for k in range(episodes))
            row += f"{_mean_std(fr.mean(1)):>15}"
            if "belief_accuracy" in r["adapt"]:
                ba = np.asarray(r["adapt"]["belief_accuracy"])[:, c]
                row += f"{np.mean(ba[:, 0]):>10.2f} -> {np.mean(ba[:, -1]):.2f}"
            if "goal_xent" in r["adapt"]:
                gx = np.asarray(r["adapt"]["goal_xent"])[:, c]
                gx = np.where(np.asarray(r["adapt"]["goal_xent_steps"])[:, c] > 0, gx, np.nan)
                first, last = (f"{np.nanmean(gx[:, k]):.2f}" if np.isfinite(gx[:, k]).any() else "-" for k in (0, -1))
                row += f"{first + ' -> ' + last:>18}"  # "-": no co-player step had a goal
            lines.append(row)
    lines.append("")
    lines.append(f"{'self-play':<25}{'mean return/agent':>20}{'welfare':>18}")
    for name, r in results.items():
        if "self_play" not in r:  # the control row (adapt_no_carry): not run in self-play
            continue
        sp = r["self_play"]
        lines.append(f"{'':<11}{name:<14}{_mean_std(np.asarray(sp['focal_return']).mean(1)):>20}"
                     f"{_mean_std(np.asarray(sp['welfare']).mean(1)):>18}")
    return "\n".join(lines)


BASELINE_CONFIGS = (("PPO", "ppo"), ("PPO+OMG", "omg"), ("PPO+MOA", "moa"))


def baseline_specs(hop_cfg: HOPConfig, config_dir: str | Path, given: list[str] | None = None,
                   steps: int | None = None) -> dict[str, Any]:
    """Baselines for :func:`adaptation_table`, on HOP's env and env_kwargs.

    ``given``: ``NAME=PATH`` items (a YAML config to train here, or a ``hopjax train`` run dir).
    Without them: ``<env>_ppo.yaml``, ``<env>_omg.yaml`` and ``<env>_moa.yaml`` from
    ``config_dir``, whichever exist (printed; that none exist is printed too, so a config kept
    outside ``configs/`` does not lose its baselines silently). ``steps`` overrides the
    configs' ``total_steps``.
    """
    items = []
    if given:
        for item in given:
            if "=" not in item:
                raise ConfigError(f"--baseline {item!r} must look like NAME=CONFIG_OR_RUN_DIR")
            name, path = item.split("=", 1)
            items.append((name, Path(path)))
    else:
        for name, suffix in BASELINE_CONFIGS:
            path = Path(config_dir) / f"{hop_cfg.env}_{suffix}.yaml"
            if path.is_file():
                items.append((name, path))
        wanted = ", ".join(f"{hop_cfg.env}_{s}.yaml" for _, s in BASELINE_CONFIGS)
        if not items:
            print(f"baselines: none ({wanted} not found in {config_dir}/); HOP alone in the table "
                  "(--baseline NAME=CONFIG_OR_RUN adds one)")
        else:
            print("baselines: " + ", ".join(f"{n} ({p})" for n, p in items))
    specs: dict[str, Any] = {}
    for name, path in items:
        if path.is_dir():
            specs[name] = path
            continue
        cfg = load_config(PPOConfig, path)
        over = dict(env=hop_cfg.env, env_kwargs=dict(hop_cfg.env_kwargs), agents=(), seed=hop_cfg.seed)
        if steps is not None:
            over["total_steps"] = int(steps)
        cfg = dataclasses.replace(cfg, **over)
        cfg.validate()
        specs[name] = cfg
    return specs


def hop_config(path: str | Path, overrides=(), run: str | Path | None = None) -> HOPConfig:
    """The HOP config of a YAML file (with ``--set`` overrides), or of a trained run (its
    checkpoint's config, with ``overrides`` of evaluation-only keys, ``HOPConfig.EVAL_ONLY``).
    ConfigError naming the key for any other override of a run, or a bad value."""
    if run is not None:
        cfg = from_stored(HOPConfig, checkpoint.load_meta(run)[1]["config"])
        check_run_overrides(overrides)
        return updated(cfg, *overrides)
    cfg = load_config(HOPConfig, path, overrides)
    if cfg.env not in COPLAYERS:
        raise ConfigError(f"config key 'env': no unseen co-players defined for {cfg.env!r}")
    return cfg
