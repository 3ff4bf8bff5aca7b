"""HOP: MCTS on a known state, goal-model learning + belief concentration on scripted
co-players, the adaptation loop (jits once, vmaps over seeds), and the self-play trainer."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from hopjax.runtime import adaptation
from hopjax.algos.hop import beliefs as bl
from hopjax.algos.hop import HOPConfig
from hopjax.algos.hop.losses import goal_loss, replay_beliefs
from hopjax.buffers.episode import EpisodeBatch
from hopjax.config import ConfigError, load_config
from hopjax.envs import stag_hunt as sh

from tests.algos.hop.test_beliefs import slots_reference
from tests.conftest import QUICK_COMPILE, TINY_HOP

KINDS = adaptation.COPLAYERS["stag_hunt"]  # stag, hare, random, fix


@pytest.fixture(scope="module")
def trainer(hop_trainer):
    return hop_trainer


# ------------------------------------------------------------------ MCTS on a known state
def _state(focal_pos, hare_pos):
    """4x4, no walls: the focal agent at ``focal_pos``, one hare at ``hare_pos``, the other
    hares and the stag in the far corner region, co-players far away."""
    return sh.StagHuntState(
        positions=jnp.array([focal_pos, (3, 3), (3, 3), (3, 2)], jnp.int32),
        alive=jnp.ones(4, bool), walls=jnp.zeros((4, 4), bool),
        stag_pos=jnp.array([[3, 0]], jnp.int32), stag_alive=jnp.ones(1, bool),
        hare_pos=jnp.array([hare_pos, (2, 3), (3, 1), (2, 2)], jnp.int32),
        hare_alive=jnp.array([True, False, False, False]), t=jnp.int32(0),
    )


def test_mcts_picks_the_known_best_action(trainer):
    """State A: the focal agent stands on a hare -> hunt it now (+1). State B: the hare is one
    step to the right -> move right (+1 one step later needs a 2-step lookahead). Co-players
    have no target; the planner net is zero (uniform prior, zero values), so only search decides."""
    planner = dataclasses.replace(trainer.runner.planner.cfg, num_simulations=32, num_trees=2)
    from hopjax.algos.hop.planner import Planner

    pl = Planner(trainer.env, trainer.env_params, trainer.goal_policy, trainer.planner_net, planner)
    states = jax.tree.map(lambda a, b: jnp.stack([a, b]), _state((0, 0), (0, 0)), _state((0, 0), (0, 1)))
    g1 = trainer.env.num_goals(trainer.env_params) + 1
    log_b = jnp.log(jax.nn.one_hot(jnp.full((2, 4), g1 - 1), g1))  # everyone: "no target"
    params = trainer.init(jax.random.PRNGKey(0)).params
    params = {"goal": params["goal"], "planner": jax.tree.map(jnp.zeros_like, params["planner"])}
    plan = jax.jit(pl.plan, static_argnums=4, compiler_options=QUICK_COMPILE)
    out = plan(jax.random.PRNGKey(1), params, states, log_b, (0,))
    policy, q = np.asarray(out.policy[:, 0]), np.asarray(out.q[:, 0])
    assert np.argmax(policy[0]) == sh.HUNT_HARE and np.argmax(q[0]) == sh.HUNT_HARE
    assert np.argmax(policy[1]) == sh.RIGHT and np.argmax(q[1]) == sh.RIGHT
    # Q = W / (1 + N): hunting now returns exactly 1 per visit
    n = np.asarray(out.visits[0, 0, sh.HUNT_HARE]) / 2  # two trees, same deterministic outcome
    np.testing.assert_allclose(q[0, sh.HUNT_HARE], n / (1 + n), rtol=1e-5)
    assert np.all(policy[:, sh.UP] == 0) and np.all(policy[:, sh.LEFT] == 0)  # off-grid moves


# ------------------------------------------------------------------ the adaptation loop
SEEDS, ENVS = 2, 64


@pytest.fixture(scope="module")
def adapt(trainer):
    """The K-episode adaptation loop (HOP in seat 0, 3 scripted co-players of one kind),
    vmapped over co-player kinds and evaluation seeds, jitted once, returning every episode."""
    fn = adaptation.hop_adaptation(trainer, episodes=2, num_envs=ENVS, num_focal=1, coplayers=KINDS,
                                   with_episodes=True)
    return jax.jit(jax.vmap(jax.vmap(fn, in_axes=(0, None, 0)), in_axes=(0, None, None)),
                   compiler_options=QUICK_COMPILE)


def _keys(seed):
    return jax.random.split(jax.random.PRNGKey(seed), SEEDS * len(KINDS)).reshape(SEEDS, len(KINDS), -1)


def _flatten_episodes(batch: EpisodeBatch) -> EpisodeBatch:
    lead = batch.filled.ndim - 1  # [S, C, K, E, T+1] -> [S*C*K*E, T+1]
    return jax.tree.map(lambda x: x.reshape(-1, *x.shape[lead:]), batch)


@pytest.fixture(scope="module")
def trained(trainer, adapt):
    """Goal model trained (masked cross-entropy on hindsight labels) on the episodes of one run
    of the adaptation loop (1024 episodes, 768 of them with scripted co-players of each kind
    in turn); then the loop runs again with it, on fresh keys."""
    params0 = trainer.init(jax.random.PRNGKey(5)).params
    m0, (batch0, trace0) = adapt(_keys(0), params0, jnp.arange(len(KINDS)))
    data = _flatten_episodes(batch0)
    opt = optax.adam(3e-3)
    gp = trainer.goal_policy

    @jax.jit
    def fit(p):
        def step(c, _):
            p, s = c
            (_, aux), g = jax.value_and_grad(lambda q: goal_loss(gp, q, data), has_aux=True)(p)
            u, s = opt.update(g, s, p)
            return (optax.apply_updates(p, u), s), aux

        (p, _), aux = jax.lax.scan(step, (p, opt.init(p)), None, 300)
        return p, aux

    goal_params, aux = fit(params0["goal"])
    params1 = {"goal": goal_params, "planner": params0["planner"]}
    m1, (batch1, trace1) = adapt(_keys(1), params1, jnp.arange(len(KINDS)))
    return dict(m0=jax.device_get(m0), m1=jax.device_get(m1), batch0=batch0, trace0=trace0,
                batch1=batch1, trace1=trace1, aux=jax.device_get(aux), params1=params1)


def _mass_on_true_goal(trainer, batch, log_beliefs):
    """Probability on the hindsight goal [S, C, K, E, T, N], and the labels (``goal_label``
    holds the hindsight labels: this config keeps ``goal_model_labels: hindsight``)."""
    assert not trainer.runner.reached_goal_labels
    T = trainer.runner.T
    labels = np.asarray(batch.data["goal_label"])[..., :T, :]
    g = trainer.env.num_goals(trainer.env_params)
    mass = np.asarray(bl.mass_on(jnp.asarray(log_beliefs), bl.label_with_none(jnp.asarray(labels), g)))
    return mass, labels


def test_goal_model_learns_scripted_behaviour(trained):
    aux = trained["aux"]
    assert aux["goal_loss"][-1] < 0.7 * aux["goal_loss"][0]
    assert aux["goal_acc"][-1] > 0.6


def test_beliefs_concentrate_on_a_stag_chasers_goal(trainer, trained):
    """Co-players chasing the stag: from step 3 of the first episode on (uniform prior 1/6),
    the beliefs put most mass on the stag - with the trained goal model, not with the
    untrained one. (Later episodes start from inter-OM's prior, which moves toward the stag
    with either model.)"""
    stag = KINDS.index("stag")
    means = {}
    for key in ("0", "1"):
        mass, labels = _mass_on_true_goal(trainer, trained["batch" + key], trained["trace" + key].log_beliefs)
        sel = (labels == 0)[:, stag, :1, :, 3:, 1:]  # co-players that go on to hunt the stag
        assert sel.sum() > 50
        means[key] = mass[:, stag, :1, :, 3:, 1:][sel].mean()
    assert means["0"] < 0.3, means  # untrained: near the uniform prior
    assert means["1"] > 0.5, means  # trained: concentrated
    acc = trained["m1"]["belief_accuracy"]  # [S, C, K]
    assert acc[:, stag].mean() > trained["m0"]["belief_accuracy"][:, stag].mean() + 0.15


def test_replayed_beliefs_equal_the_online_ones(trainer, trained):
    """Beliefs recomputed from the stored episodes (goal presence read from the batch) equal
    those the agent held online (presence read from the env state)."""
    batch = _flatten_episodes(trained["batch1"])
    online = np.asarray(trained["trace1"].log_beliefs).reshape(-1, *trained["trace1"].log_beliefs.shape[-3:])
    g1 = online.shape[-1]
    prior = jnp.full((batch.batch_size, 4, g1), 1.0 / g1)
    replay = jax.jit(lambda p, b: replay_beliefs(trainer.goal_policy, p, b, prior))(trained["params1"]["goal"], batch)
    # first of the K=2 episodes of each run (the prior is still uniform there)
    idx = np.arange(batch.batch_size).reshape(SEEDS * len(KINDS), 2, ENVS)[:, 0].reshape(-1)
    np.testing.assert_allclose(np.exp(np.asarray(replay)[idx]), np.exp(online[idx]), atol=2e-5)


def test_inter_om_prior_carries_p_any_target_as_the_hop_code(trainer, trained):
    """The prior carried from episode k to k+1 of the adaptation loop is ``d * prior_k +
    freq_k`` with the frequencies of the hindsight labels (NumPy, from the stored goals and
    validity) pooled over every target (``inter_om_pooling: any``, the default): all targets
    get the mean target frequency, "no target" its own; so every target's entry is equal."""
    batch, prior = trained["batch1"], np.asarray(trained["trace1"].prior)  # prior [S, C, K, E, N, G+1]
    G, d = trainer.runner.G, trainer.cfg.inter_om_decay
    steps, none, freq = _any_target_frequencies(trainer, batch)
    start = np.full(prior.shape[:2] + prior.shape[3:], 1.0 / (G + 1))  # uniform, worth one episode
    want = np.stack([d * start + freq[:, :, 0], d * prior[:, :, 0] + freq[:, :, 1]], 2)
    want = np.where(steps[..., None] > 0, want, np.stack([start, prior[:, :, 0]], 2))
    np.testing.assert_allclose(prior, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(prior[..., :G], np.repeat(prior[..., :1], G, -1), rtol=1e-6)
    assert (none > 0).any() and (none < 1).any()


def _any_target_frequencies(trainer, batch):
    """NumPy recount of what inter-OM (``any`` pooling, hindsight labels) counts per episode:
    valid steps [..., N], the share labelled "no target" [..., N] and the frequency row
    [..., N, G+1] (every target the mean target share), from the stored goals and validity."""
    T, G = trainer.runner.T, trainer.runner.G
    goal = np.asarray(batch.data["goal"])[..., :T, :]
    valid = (np.asarray(batch.filled)[..., :T, None] & np.asarray(batch.alive)[..., :T, :]).astype(bool)
    labels = np.full(goal.shape, -1)
    nxt = np.full(goal[..., 0, :].shape, -1)
    for t in range(T - 1, -1, -1):  # the next goal reached at or after t
        nxt = np.where(valid[..., t, :] & (goal[..., t, :] >= 0), goal[..., t, :], nxt)
        labels[..., t, :] = np.where(valid[..., t, :], nxt, -1)
    steps = valid.sum(-2)  # [S, C, K, E, N]
    none = np.where(valid & (labels < 0), 1, 0).sum(-2) / np.maximum(steps, 1)
    freq = np.concatenate([np.repeat(((1 - none) / G)[..., None], G, -1), none[..., None]], -1)
    return steps, none, freq


def test_no_carry_control_starts_every_episode_from_the_uniform_row(trainer, trained):
    """``carry=False`` (``adapt_no_carry``): the same keys give the same first episode as the
    carrying loop; every later episode starts from the uniform start row again, so the prior
    it ends with is ``d * start + freq_k`` of its own episode (NumPy recount) and differs from
    the carrying loop's, whose second episode starts from the first one's counts."""
    fn = adaptation.hop_adaptation(trainer, episodes=2, num_envs=ENVS, num_focal=1, coplayers=KINDS,
                                   with_episodes=True, carry=False)
    fn = jax.jit(jax.vmap(jax.vmap(fn, in_axes=(0, None, 0)), in_axes=(0, None, None)),
                 compiler_options=QUICK_COMPILE)
    m, (batch, trace) = fn(_keys(1), trained["params1"], jnp.arange(len(KINDS)))
    m, prior = jax.device_get(m), np.asarray(trace.prior)
    for k, v in trained["m1"].items():  # [S, C, K, ...] episode 1: the carrying run's, to float rounding
        np.testing.assert_allclose(m[k][:, :, 0], v[:, :, 0], rtol=1e-5, atol=1e-5, err_msg=k)
    G, d = trainer.runner.G, trainer.cfg.inter_om_decay
    steps, _, freq = _any_target_frequencies(trainer, batch)
    start = np.full(freq.shape, 1.0 / (G + 1))
    np.testing.assert_allclose(prior, np.where(steps[..., None] > 0, d * start + freq, start), rtol=1e-5, atol=1e-6)
    fix = KINDS.index("fix")  # fix players: "no target" after each episode alike, not rising across K
    np.testing.assert_allclose(m["p_none"][:, fix, 1], m["p_none"][:, fix, 0], rtol=0.05)
    assert np.all(trained["m1"]["p_none"][:, fix, 1] > m["p_none"][:, fix, 1] + 0.05)


def test_adaptation_loop_jits_once_and_vmaps_over_seeds(trainer, adapt, trained):
    m = trained["m1"]
    assert m["focal_return"].shape == (SEEDS, len(KINDS), 2)  # [seeds, kinds, K]
    assert all(np.all(np.isfinite(v)) for v in m.values())
    # Swapping the seeds' keys swaps the results: seeds are independent lanes of one program.
    m_sw = jax.device_get(adapt(_keys(1)[::-1], trained["params1"], jnp.arange(len(KINDS)))[0])
    for k in m:
        np.testing.assert_allclose(m_sw[k][::-1], m[k], rtol=1e-5, atol=1e-6, err_msg=k)
    assert adapt._cache_size() == 1
    # ... and the lanes are really different seeds (not one run broadcast over the seed axis)
    assert not np.allclose(m["focal_return"][0], m["focal_return"][1])
    # inter-OM: the prior moves toward "no target" for co-players that never interact (fix)
    fix = KINDS.index("fix")
    assert np.all(m["p_none"][:, fix] > 1 / (trainer.runner.G + 1))
    # ... and keeps moving there across the K episodes (a uniform start worth one episode)
    assert np.all(np.diff(m["p_none"][:, fix], axis=-1) > 0.05), m["p_none"][:, fix]


def _coplayer_xent(tr, goal_params, ep):
    """NumPy: mean -log pi(a | o, hindsight goal) over seats 1-3's valid steps with a goal,
    from the model's every-goal log-probabilities (another path than the loss's; ``goal_label``
    holds the hindsight labels under the default ``goal_model_labels: hindsight``)."""
    assert not tr.runner.reached_goal_labels
    T = tr.runner.T
    lp = jax.jit(tr.goal_policy.log_probs_all_goals)(
        goal_params, ep["obs"][:, :T], ep["avail_actions"][:, :T], ep["goal_pos"][:, :T, None])
    lp, label, act = np.asarray(lp), np.asarray(ep["goal_label"][:, :T]), np.asarray(ep["actions"][:, :T])
    valid = np.asarray(ep.filled)[:, :T, None] & np.asarray(ep.alive)[:, :T] & (label >= 0)
    valid[..., 0] = False  # the HOP seat
    e, t, n = np.nonzero(valid)
    return (-lp[e, t, n, label[e, t, n], act[e, t, n]].mean() if len(e) else 0.0), valid.sum()


def test_goal_xent_scores_the_coplayers_actions(trainer, trained):
    """``goal_xent`` of every (seed, kind, episode): the co-players' (seats 1-3) mean
    cross-entropy under their hindsight goal with the model that played, recomputed in NumPy
    from the stored episodes (0 with no such step: fix players never interact); the trained
    model predicts the chasers' moves better than the untrained one (about uniform)."""
    m, batch, gp = trained["m1"], trained["batch1"], trained["params1"]["goal"]
    for s, c, k in np.ndindex(m["goal_xent"].shape):
        ep = jax.tree.map(lambda x: x[s, c, k], batch)
        want, count = _coplayer_xent(trainer, gp, ep)
        assert m["goal_xent_steps"][s, c, k] == count
        np.testing.assert_allclose(m["goal_xent"][s, c, k], want, rtol=1e-5, atol=1e-6)
    assert np.all(m["goal_xent_steps"][:, KINDS.index("fix")] == 0)
    for kind in ("stag", "hare"):
        c = KINDS.index(kind)
        assert np.all(m["goal_xent_steps"][:, c] > 20)
        assert m["goal_xent"][:, c].mean() < trained["m0"]["goal_xent"][:, c].mean() - 0.2


def test_within_episode_accuracy_by_step(trainer, trained):
    """Per-step sums pool back to the episode's belief accuracy; the chance level is 1 / (targets
    present + 1) counted by hand; with the trained goal model the stag chasers' accuracy rises
    from the first steps to the later ones."""
    m = trained["m1"]  # [S, C, K, T] per-step sums
    steps = m["belief_steps_t"]
    np.testing.assert_allclose(m["belief_acc_sum_t"].sum(-1) / steps.sum(-1), m["belief_accuracy"], rtol=1e-5)
    lb = np.asarray(trained["trace1"].log_beliefs)  # [S, C, K, E, T, N, G+1]
    T = trainer.runner.T
    alive = np.asarray(trained["batch1"].alive)[..., :T, :] & np.asarray(trained["batch1"].filled)[..., :T, None]
    alive[..., 0] = False  # seat 0 is HOP, not modelled
    chance = np.where(alive, 1.0 / np.isfinite(lb).sum(-1), 0.0).sum((3, 5))  # [S, C, K, T]
    np.testing.assert_allclose(m["belief_chance_sum_t"], chance, rtol=1e-5)
    np.testing.assert_allclose(steps, alive.sum((3, 5)))
    stag = KINDS.index("stag")
    n = steps[:, stag].sum((0, 1))  # [T]
    acc = m["belief_acc_sum_t"][:, stag].sum((0, 1)) / np.maximum(n, 1)
    assert acc[3:][n[3:] > 0].mean() > acc[:2].mean() + 0.15, acc  # steps 4.. vs steps 1-2


# ------------------------------------------------------------------ self-play training
def test_trainer_compiles_once(trainer, hop_chunk):
    """Self-play training chunks (play -> replay buffer -> SGD on both networks) trace and
    compile once; the same function as ``trainer.chunk``, compiled with QUICK_COMPILE."""
    chunk = hop_chunk
    st = trainer.init(jax.random.PRNGKey(0))
    out = []
    for _ in range(3):
        st, m = chunk(st)
        out.append(jax.device_get(m))
    assert chunk._cache_size() == 1
    m = {k: np.concatenate([o[k] for o in out]) for k in out[0]}
    assert m["episode_return"].shape == (6, 4) and m["goals_per_episode"].shape == (6, 5)
    assert all(np.all(np.isfinite(v)) for v in m.values())
    assert int(st.update) == 6 and int(st.buffer.episodes_in_buffer) == 16  # 6 x 4 episodes, ring of 16
    assert np.all(m["value_loss"] >= 0) and np.all(m["goal_loss"] > 0)
    # inter-OM pseudo-counts after 6 episodes: d^6 w + (1 - d^6) / (1 - d) in every row
    d, w = trainer.cfg.inter_om_decay, trainer.cfg.inter_om_prior_weight
    np.testing.assert_allclose(np.asarray(st.prior).sum(-1), d**6 * w + (1 - d**6) / (1 - d), rtol=1e-5)


def test_bad_config_is_rejected_before_compiling(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("num_simulations: 0\n")
    with pytest.raises(ConfigError, match="num_simulations"):
        load_config(HOPConfig, path)
    path.write_text("inter_om_decay: 1.5\n")
    with pytest.raises(ConfigError, match="inter_om_decay"):
        load_config(HOPConfig, path)
    path.write_text("inter_om_pooling: kinds\n")
    with pytest.raises(ConfigError, match="config key 'inter_om_pooling' must be one of kind, any, rank, got 'kinds'"):
        load_config(HOPConfig, path)
    with pytest.raises(ConfigError, match="focal"):
        adaptation.adaptation_table(TINY_HOP, {}, num_focal=4)


def test_inter_om_pooling_reaches_every_runner(trainer):
    """``inter_om_pooling``: "any" (default, the HOP code's form) pools inter-OM's frequencies
    over every target, "kind" within the goal kinds (stag, hares), "rank" by distance rank
    within the kinds; the trainer's runners and the adaptation runners alike."""
    from hopjax.algos.hop import HOPTrainer

    g = trainer.runner.G
    assert TINY_HOP.inter_om_pooling == "any" and trainer.runner.pooling_kinds == (0,) * g
    other = HOPTrainer(dataclasses.replace(TINY_HOP, inter_om_pooling="kind"))
    kinds = other.goal_policy.kinds
    assert len(set(kinds)) == 2 and len(kinds) == g
    assert other.runner.pooling_kinds == kinds
    assert other.make_runner(4, (0,), {s: lambda *a: 0 for s in (1, 2, 3)}).pooling_kinds == kinds
    ranked = HOPTrainer(dataclasses.replace(TINY_HOP, inter_om_pooling="rank"))
    assert ranked.runner.pooling_kinds == (0, 0, 1, 2, 3) and ranked.runner.rank_slots
    assert not trainer.runner.rank_slots and not other.runner.rank_slots


def _hindsight_labels_np(goal, valid):
    """NumPy reference of the hindsight labels of one seat: goal, valid [T] -> [T] int, the
    next goal reached at or after each valid step, -1 after the last one and where invalid."""
    labels, nxt = np.full(len(goal), -1), -1
    for t in range(len(goal) - 1, -1, -1):
        if valid[t] and goal[t] >= 0:
            nxt = goal[t]
        labels[t] = nxt if valid[t] else -1
    return labels


def _rank_counts_np(goal, valid, slots, groups, counts0, decay):
    """NumPy reference of a rank runner's inter-OM update for one env: hindsight labels from
    the stored goals, each label counted at its target's slot at the first step of its run,
    frequencies pooled by rank group, ``decay * counts0 + freq`` ([N, G+1])."""
    t_len, n = goal.shape
    g = slots.shape[-1]
    out = counts0.copy()
    for j in range(n):
        labels = _hindsight_labels_np(goal[:, j], valid[:, j])
        freq, kept = np.zeros(g + 1), -1
        for t in range(t_len):
            if not valid[t, j]:
                continue
            if t == 0 or not valid[t - 1, j] or labels[t - 1] != labels[t]:
                kept = slots[t, j, labels[t]] if labels[t] >= 0 else -1
            freq[kept if labels[t] >= 0 else g] += 1
        if freq.sum() == 0:
            continue
        freq /= freq.sum()
        pooled = freq.copy()
        for s in range(g):
            members = [q for q in range(g) if groups[q] == groups[s]]
            pooled[s] = freq[members].mean()
        out[j] = decay * counts0[j] + pooled
    return out


@pytest.fixture(scope="module")
def rank_runs():
    """``inter_om_pooling: rank`` end to end, two episodes each: HOP in seat 0 next to
    nearest-hare chasers (Stag-Hunt, who leave when they catch one) and next to nearest-drift
    cleaners (Snowdrift, who stay; goal renewal on)."""
    from hopjax.algos.hop import HOPTrainer
    from hopjax.envs.scripted import SCRIPTED

    out = {}
    for env, who, kw in (("stag_hunt", "hare", TINY_HOP.env_kwargs),
                         ("snowdrift", "cleaner", dict(height=4, width=4, num_drifts=4, max_steps=8))):
        cfg = dataclasses.replace(TINY_HOP, env=env, env_kwargs=kw, inter_om_pooling="rank",
                                  belief_reset_on_goal=True)
        tr = HOPTrainer(cfg)
        e = 32
        runner = tr.make_runner(e, (0,), {s: SCRIPTED[env][who] for s in (1, 2, 3)})
        play = jax.jit(runner.play, compiler_options=QUICK_COMPILE)
        params = tr.init(jax.random.PRNGKey(0)).params
        prior0 = bl.uniform_prior((e, 4, runner.G + 1), 1.0)
        batch1, trace1 = play(jax.random.PRNGKey(1), params, prior0)
        k2 = jax.random.PRNGKey(2)
        batch2, trace2 = play(k2, params, trace1.prior)
        _, state2, _ = runner.engine.reset(jax.random.split(k2)[0])  # the reset play() makes
        out[env] = dict(cfg=cfg, runner=runner, prior0=np.asarray(prior0), batch1=batch1, trace1=trace1,
                        batch2=batch2, trace2=trace2, state2=state2)
    return out


@pytest.mark.parametrize("env", ["stag_hunt", "snowdrift"])
def test_rank_pooling_counts_where_targets_were_chosen(rank_runs, env):
    """The slots a rank runner records before its first step equal a NumPy sort of the reset
    state, and its carried counts equal a NumPy recount of the episode (hindsight labels,
    each counted at its target's slot where its run began, pooled by rank)."""
    r = rank_runs[env]
    runner, trace, batch = r["runner"], r["trace2"], r["batch2"]
    kinds = runner.goal_policy.kinds
    st, p = r["state2"], runner.env_params
    agent = np.asarray(jax.vmap(runner.env.agent_positions, in_axes=(0, None))(st, p))
    goals = np.asarray(jax.vmap(runner.env.goal_positions, in_axes=(0, None))(st, p))
    present = np.asarray(jax.vmap(runner.env.goals_present, in_axes=(0, None))(st, p))
    slots = np.asarray(trace.slots)  # [E, T, N, G]
    for i in range(slots.shape[0]):
        want = slots_reference(agent[i], goals[i], present[i], kinds)
        np.testing.assert_array_equal(np.where(want >= 0, slots[i, 0], -1), want)
    T = runner.T
    goal = np.asarray(batch.data["goal"])[:, :T]
    valid = (np.asarray(batch.filled)[:, :T, None] & np.asarray(batch.alive)[:, :T]).astype(bool)
    before = np.asarray(r["trace1"].prior)
    for i in range(slots.shape[0]):
        want = _rank_counts_np(goal[i], valid[i], slots[i], runner.pooling_kinds, before[i],
                               r["cfg"].inter_om_decay)
        np.testing.assert_allclose(np.asarray(trace.prior)[i], want, rtol=1e-5, atol=1e-6)
    if env == "stag_hunt":  # nearest-hare chasers: the nearest-of-kind group leads
        c = np.asarray(r["trace1"].prior)[:, 1:] - r["cfg"].inter_om_decay * r["prior0"][:, 1:]
        assert runner.pooling_kinds == (0, 0, 1, 2, 3)
        np.testing.assert_allclose(c[..., 0], c[..., 1], rtol=1e-5, atol=1e-6)
        assert c.mean((0, 1))[1] > 2 * c.mean((0, 1))[2:5].max()


@pytest.mark.parametrize("env", ["stag_hunt", "snowdrift"])
def test_rank_pooling_maps_the_counts_onto_the_state_at_reset_and_renewal(rank_runs, env):
    """Each co-player's beliefs start the episode from the carried counts mapped onto the
    reset state's slots (NumPy), and restart from them mapped onto the state after the step in
    which it reached a goal (Snowdrift's cleaners: goal renewal), restricted to the targets
    still present."""
    r = rank_runs[env]
    runner, trace, batch = r["runner"], r["trace2"], r["batch2"]
    counts = np.asarray(r["trace1"].prior)  # [E, N, G+1]
    slots = np.asarray(trace.slots)
    lb = np.exp(np.asarray(trace.log_beliefs))  # [E, T, N, G+1]
    T, G = runner.T, runner.G
    goal = np.asarray(batch.data["goal"])[:, :T]
    valid = (np.asarray(batch.filled)[:, :T, None] & np.asarray(batch.alive)[:, :T]).astype(bool)
    taken = np.cumsum(np.any(goal[..., None] == np.arange(G), axis=2), axis=1) > 0  # [E, T, G] after step t

    def expected(i, j, t, present):
        w = np.array([counts[i, j, slots[i, t, j, g]] if present[g] else 0.0 for g in range(G)] + [counts[i, j, G]])
        return w / w.sum()

    for i in range(slots.shape[0]):
        for j in (1, 2, 3):
            np.testing.assert_allclose(lb[i, 0, j], expected(i, j, 0, np.ones(G, bool)), rtol=1e-5, atol=1e-6)
    renewals = 0
    for i, t, j in zip(*np.nonzero(valid[:, :-1] & (goal[:, :-1] >= 0))):
        if j == 0 or not valid[i, t + 1, j]:
            continue
        renewals += 1
        np.testing.assert_allclose(lb[i, t + 1, j], expected(i, j, t + 1, ~taken[i, t]), rtol=1e-5, atol=1e-6)
    assert renewals > (20 if env == "snowdrift" else -1), renewals


def test_baselines_are_read_next_to_the_config_on_hops_env(tmp_path, capsys):
    from pathlib import Path

    from hopjax.runtime.cli import main

    root = Path(__file__).resolve().parents[3] / "configs"
    (tmp_path / "stag_hunt_ppo.yaml").write_text((root / "stag_hunt_ppo.yaml").read_text())
    specs = adaptation.baseline_specs(TINY_HOP, tmp_path, steps=1000)
    assert list(specs) == ["PPO"]  # no _omg / _moa configs in this folder
    assert f"baselines: PPO ({tmp_path / 'stag_hunt_ppo.yaml'})" in capsys.readouterr().out
    assert adaptation.baseline_specs(TINY_HOP, tmp_path / "elsewhere") == {}
    assert "baselines: none (stag_hunt_ppo.yaml, stag_hunt_omg.yaml, stag_hunt_moa.yaml not found in " \
        in capsys.readouterr().out
    assert specs["PPO"].env_kwargs == TINY_HOP.env_kwargs and specs["PPO"].total_steps == 1000
    run = tmp_path / "ppo_run"
    run.mkdir()
    specs = adaptation.baseline_specs(TINY_HOP, tmp_path, [f"mine={run}"])
    assert specs == {"mine": run}
    with pytest.raises(ConfigError, match="NAME="):
        adaptation.baseline_specs(TINY_HOP, tmp_path, ["no-equals-sign"])
    assert main(["eval", str(root / "stag_hunt_hop.yaml"), "--focal-seats", "4"]) == 2
    assert "--focal-seats must lie in [1, 3]" in capsys.readouterr().err


def _fake_run(path, cfg):
    """A run dir whose checkpoint holds ``cfg`` (no state written: routing reads meta only)."""
    import json

    from hopjax.config import to_dict

    ckpt = path / "checkpoints" / "update_00000001"
    (ckpt / "state").mkdir(parents=True)
    (ckpt / "meta.json").write_text(json.dumps({"algo": cfg.algo, "update": 1, "chunk": 1, "env_steps": 1,
                                                  "config": to_dict(cfg)}))
    (path / "checkpoints" / "LATEST").write_text(ckpt.name)
    return path


def test_eval_routes_by_input_and_rejects_bad_input_before_compiling(tmp_path, capsys, monkeypatch):
    """``hopjax eval``: HOP config / HOP run -> adaptation table, PPO run -> experiment.evaluate;
    bad input -> a one-line error and exit 2, with jax.jit never called."""
    from pathlib import Path

    from hopjax.runtime import experiment
    from hopjax.algos.ppo import PPOConfig
    from hopjax.runtime.cli import main

    root = Path(__file__).resolve().parents[3] / "configs"
    hop_yaml, ppo_yaml = str(root / "stag_hunt_hop.yaml"), str(root / "stag_hunt_ppo.yaml")
    ppo_run = _fake_run(tmp_path / "ppo_run", PPOConfig())
    hop_run = _fake_run(tmp_path / "hop_run", TINY_HOP)
    (tmp_path / "notes.md").write_text("# title\nsome: text\nnot yaml: [\n")

    def no_jit(*a, **k):
        raise AssertionError("compiled before rejecting bad input")

    monkeypatch.setattr(jax, "jit", no_jit)
    bad = {
        (str(tmp_path / "missing.yaml"),): "does not exist",
        (ppo_yaml,): "is a PPO config, not a HOP config",
        (str(tmp_path),): "not a complete hopjax checkpoint",
        (str(tmp_path / "notes.md"),): "not valid YAML",
        (hop_yaml, "--focal", "1"): "--focal does not apply",
        (hop_yaml, "--seed", "1"): "--seed does not apply",
        (hop_yaml, "--seeds", "0"): "--seeds must be at least 1",
        (hop_yaml, "--set", "num_simulations=0"): "num_simulations",
        (hop_yaml, "--hop", str(ppo_run)): "is not a HOP run dir",
        (str(hop_run), "--set", "seed=1"): "--set seed: a trained HOP run's config is in its checkpoint",
        (hop_yaml, "--hop", str(hop_run), "--set", "adapt_no_carry=true", "--set", "lr=1"): "--set lr:",
        (str(hop_run), "--set", "adapt_inter_om_decay=2"): "'adapt_inter_om_decay' must lie in [0, 1]",
        (str(ppo_run), "--seeds", "2"): "--seeds does not apply",
        (str(ppo_run), "--focal", "4"): "--focal must be a seat in [0, 3]",
    }
    for argv, msg in bad.items():
        assert main(["eval", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert msg in err and err.count("\n") == 1 and err.startswith("hopjax: error:"), (argv, err)

    calls = []
    monkeypatch.setattr(adaptation, "adaptation_table", lambda cfg, specs, *a, **k: calls.append(("hop", cfg, specs, a, k)))
    monkeypatch.setattr(experiment, "evaluate", lambda *a: calls.append(("ppo", *a)))
    assert main(["eval", hop_yaml, "--seeds", "2", "--episodes", "3", "--focal-seats", "3", "--baseline-steps", "1000"]) == 0
    assert main(["adapt", str(hop_run), "--baseline", f"PPO={ppo_run}", "--out", str(tmp_path)]) == 0  # alias
    assert main(["eval", str(ppo_run), "--episodes", "8", "--focal", "2"]) == 0
    assert main(["eval", str(hop_run), "--set", "adapt_no_carry=true", "--set", "adapt_inter_om_decay=0.5"]) == 0
    (_, cfg, specs, a, k), (_, cfg2, specs2, a2, k2), ppo, (_, cfg3, *_) = calls
    assert cfg3 == dataclasses.replace(TINY_HOP, adapt_no_carry=True, adapt_inter_om_decay=0.5)
    assert cfg.name == "stag_hunt_hop" and list(specs) == ["PPO", "PPO+OMG", "PPO+MOA"]
    assert all(s.total_steps == 1000 and s.env_kwargs == cfg.env_kwargs for s in specs.values())
    assert a == (2, 3, 16, 3) and k["hop_run"] is None
    assert cfg2 == TINY_HOP and specs2 == {"PPO": ppo_run} and a2 == (3, 5, 16, 1)
    assert k2["hop_run"] == str(hop_run) and k2["out"] == tmp_path / "tiny_hop_adapt"
    assert ppo == ("ppo", str(ppo_run), 8, 0, 2)


def test_adaptation_trains_hop_and_a_baseline_config_through_the_loop(tmp_path, capsys):
    """hop_agents/policy_agents train through hopjax.loop.Loop (one seed each, tiny)."""
    from tests.conftest import TINY

    hop = dataclasses.replace(TINY_HOP, total_steps=4 * 8 * 2)
    trainer, params, note = adaptation.hop_agents(hop, 1, None)
    assert len(params) == 1 and "env steps/seed" in note
    assert jax.tree.structure(params[0]) == jax.tree.structure(trainer.init(jax.random.PRNGKey(0)).params)
    ppo = dataclasses.replace(TINY, total_steps=8 * 10 * 2)
    trainer, runners, note = adaptation.policy_agents(ppo, 2, None)
    assert len(runners) == 2 and int(runners[0].update) == trainer.num_updates


def test_a_baseline_run_on_another_env_is_refused_and_old_results_are_kept(tmp_path):
    """--baseline NAME=RUN trained on another map: one ConfigError before anything trains."""
    import json

    from hopjax.config import to_dict
    from tests.conftest import TINY

    run = tmp_path / "ppo_run" / "checkpoints" / "update_00000001"
    (run / "state").mkdir(parents=True)
    other = dataclasses.replace(TINY, env_kwargs=dict(TINY.env_kwargs, max_steps=35))
    (run / "meta.json").write_text(json.dumps({"update": 1, "chunk": 1, "env_steps": 1,
                                               "algo": "ppo", "config": to_dict(other)}))
    with pytest.raises(ConfigError, match="--baseline PPO=.* was trained on stag_hunt"):
        adaptation.adaptation_table(TINY_HOP, {"PPO": str(run)}, seeds=1, episodes=1, num_envs=2,
                                    out=tmp_path / "adapt")


def test_pursuit_accuracy_scores_the_scripted_targets(trainer, trained):
    """trace.pursued holds what each scripted co-player was after (stag chasers: the stag while
    it lives; random / fix: "no target"; HOP's seat: unknown); the per-step sums equal the belief
    mass on those entries counted by hand, and with the trained goal model the mass on a stag
    chaser's target beats a uniform belief's."""
    m, tr = trained["m1"], trained["trace1"]
    pur = np.asarray(tr.pursued)  # [S, C, K, E, T, N, G+1]
    lb = np.asarray(tr.log_beliefs)
    T, g = trainer.runner.T, trainer.runner.G
    assert not pur[..., 0, :].any()  # seat 0 (HOP): unknown
    fix, rnd, stag = (KINDS.index(k) for k in ("fix", "random", "stag"))
    assert pur[:, [fix, rnd], ..., 1:, g].all() and not pur[:, [fix, rnd], ..., 1:, :g].any()
    stag_alive = np.isfinite(lb[:, stag, ..., 1:, 0])
    np.testing.assert_array_equal(pur[:, stag, ..., 1:, 0], stag_alive)
    valid = np.asarray(trained["batch1"].alive)[..., :T, :] & np.asarray(trained["batch1"].filled)[..., :T, None]
    valid[..., 0] = False
    mass = np.where(pur, np.exp(lb), 0.0).sum(-1)
    np.testing.assert_allclose(m["pursuit_acc_sum_t"], np.where(valid, mass, 0).sum((3, 5)), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(m["pursuit_steps_t"], valid.sum((3, 5)))
    chance = (pur & np.isfinite(lb)).sum(-1) / np.isfinite(lb).sum(-1)
    np.testing.assert_allclose(m["pursuit_chance_sum_t"], np.where(valid, chance, 0).sum((3, 5)), rtol=1e-5)
    s = m["pursuit_acc_sum_t"][:, stag].sum() / m["pursuit_steps_t"][:, stag].sum()
    c = m["pursuit_chance_sum_t"][:, stag].sum() / m["pursuit_steps_t"][:, stag].sum()
    assert s > c + 0.2, (s, c)


def test_expected_labels_count_failed_chases_as_their_final_beliefs(trainer):
    """``inter_om_labels: expected``: the same episode as ``hindsight`` (the labels only change
    what inter-OM carries to the next one), and the carried counts are a NumPy recount in
    which a co-player's steps after its last interaction count as its final beliefs instead
    of "no target". Stag chasers (HOP in seat 0) often chase a stag nobody helps them catch."""
    from hopjax.algos.hop import HOPTrainer
    from hopjax.envs.scripted import SCRIPTED

    e, T, G = 32, trainer.runner.T, trainer.runner.G
    params = trainer.init(jax.random.PRNGKey(0)).params
    prior0 = bl.uniform_prior((e, 4, G + 1), 1.0)
    out = {}
    for labels_cfg in ("hindsight", "expected"):
        tr = HOPTrainer(dataclasses.replace(TINY_HOP, inter_om_labels=labels_cfg, belief_reset_on_goal=True))
        runner = tr.make_runner(e, (0,), {s: SCRIPTED["stag_hunt"]["stag"] for s in (1, 2, 3)})
        out[labels_cfg] = jax.device_get(jax.jit(runner.play, compiler_options=QUICK_COMPILE)(
            jax.random.PRNGKey(1), params, prior0))
    (b_h, t_h), (b_e, t_e) = out["hindsight"], out["expected"]
    np.testing.assert_array_equal(b_h.data["goal"], b_e.data["goal"])
    np.testing.assert_array_equal(t_h.log_beliefs, t_e.log_beliefs)
    np.testing.assert_array_equal(t_h.final_log_beliefs, t_e.final_log_beliefs)
    goal = np.asarray(b_e.data["goal"])[:, :T]
    valid = (np.asarray(b_e.filled)[:, :T, None] & np.asarray(b_e.alive)[:, :T]).astype(bool)
    final = np.exp(np.asarray(t_e.final_log_beliefs))  # [E, N, G+1]
    # The final beliefs are one more Bayes step after the last decision's (NumPy, from the goal
    # model's likelihood of the stored last action); rows that did not act then keep theirs.
    lp = np.asarray(trainer.goal_policy.log_probs_all_goals(
        params["goal"], jnp.asarray(b_e.data["obs"][:, T - 1]), jnp.asarray(b_e.data["avail_actions"][:, T - 1]),
        jnp.asarray(b_e.data["goal_pos"][:, T - 1])[:, None]))  # [E, N, G+1, A]
    lik = np.exp(np.take_along_axis(lp, np.asarray(b_e.data["actions"])[:, T - 1][..., None, None], -1)[..., 0])
    taken = np.any(np.where(valid[..., None], goal[..., None] == np.arange(G), False), axis=(1, 2))  # [E, G]
    present = np.concatenate([~taken, np.ones((e, 1), bool)], -1)[:, None]  # after the last step
    last = np.exp(np.asarray(t_e.log_beliefs)[:, T - 1]) * present
    post = last * np.where(valid[:, T - 1, :, None], lik, 1.0)
    reached = valid[:, T - 1] & (goal[:, T - 1] >= 0)  # goal renewal: back to the (uniform) prior
    post = np.where(reached[..., None], present / present.sum(-1, keepdims=True), post)
    np.testing.assert_allclose(final, post / post.sum(-1, keepdims=True), atol=2e-5)
    d, start = TINY_HOP.inter_om_decay, np.asarray(prior0)
    unrevealed = 0
    for i in range(e):
        for j in range(4):
            labels = _hindsight_labels_np(goal[i, :, j], valid[i, :, j])
            rows = {"hindsight": [], "expected": []}
            for t in np.flatnonzero(valid[i, :, j]):
                onehot = np.eye(G + 1)[labels[t] if labels[t] >= 0 else G]
                rows["hindsight"].append(onehot)
                rows["expected"].append(onehot if labels[t] >= 0 else final[i, j])
                unrevealed += j > 0 and labels[t] < 0
            for name, trace in (("hindsight", t_h), ("expected", t_e)):
                freq = np.mean(rows[name], 0)
                freq = np.array([freq[:G].mean()] * G + [freq[G]])  # pooled over every target
                np.testing.assert_allclose(np.asarray(trace.prior)[i, j], d * start[i, j] + freq,
                                           rtol=1e-5, atol=1e-6)
    assert unrevealed > 0  # some chases never ended in a catch ...
    # ... and the final beliefs put mass on targets there, so the two carried priors differ
    assert np.max(np.abs(np.asarray(t_h.prior) - np.asarray(t_e.prior))) > 0.05


def test_expected_labels_reject_rank_pooling():
    with pytest.raises(ConfigError, match="'inter_om_labels' is 'expected', which needs 'inter_om_pooling' any or kind"):
        dataclasses.replace(TINY_HOP, inter_om_labels="expected", inter_om_pooling="rank").validate()
    with pytest.raises(ConfigError, match="which needs 'belief_reset_on_goal: true'"):
        dataclasses.replace(TINY_HOP, inter_om_labels="expected").validate()
    with pytest.raises(ConfigError,
                       match="config key 'inter_om_labels' must be one of hindsight, expected, reached"):
        dataclasses.replace(TINY_HOP, inter_om_labels="soft").validate()


def test_reached_labels_count_a_chase_by_the_target_cell_it_reaches(trainer):
    """``inter_om_labels: reached``: the same episode as ``hindsight``, and the carried counts
    are a NumPy recount in which a seat's steps after its last interaction count as the next
    target it stands on after a step, read off its own observations (its cell in channel 0,
    the live stags and hares in channels N+1 and N+2), "no target" after it stands on none.
    ``goal_model_labels: reached``, on its own: the same episode and the same carried counts as
    ``hindsight``, and the goal model's labels (``goal_label``) are the recounted ones, -1
    where they say "no target"; under either ``inter_om_labels`` alone they stay the hindsight
    labels. A lone stag chaser (seat 1, next to a hare chaser and a random player) waits on
    the stag for a partner the untrained HOP seat rarely is."""
    from hopjax.algos.hop import HOPTrainer
    from hopjax.envs.scripted import SCRIPTED

    e, T, G, n = 16, trainer.runner.T, trainer.runner.G, 4
    params = trainer.init(jax.random.PRNGKey(0)).params
    prior0 = bl.uniform_prior((e, n, G + 1), 1.0)
    kinds = SCRIPTED["stag_hunt"]
    out = {}
    for inter_cfg, goal_cfg in (("hindsight", "hindsight"), ("reached", "hindsight"), ("hindsight", "reached")):
        tr = HOPTrainer(dataclasses.replace(TINY_HOP, inter_om_labels=inter_cfg, inter_om_pooling="kind",
                                            goal_model_labels=goal_cfg))
        runner = tr.make_runner(e, (0,), {1: kinds["stag"], 2: kinds["hare"], 3: kinds["random"]})
        out[inter_cfg, goal_cfg] = jax.device_get(jax.jit(runner.play, compiler_options=QUICK_COMPILE)(
            jax.random.PRNGKey(2), params, prior0))
    (b_h, t_h), (b_r, t_r), (b_g, t_g) = out.values()
    for b, t in ((b_r, t_r), (b_g, t_g)):
        np.testing.assert_array_equal(b_h.data["goal"], b.data["goal"])
        np.testing.assert_array_equal(t_h.log_beliefs, t.log_beliefs)
    np.testing.assert_array_equal(t_h.prior, t_g.prior)
    np.testing.assert_array_equal(b_h.data["goal_label"], b_r.data["goal_label"])
    # belief accuracy, per episode and per step, and the goal model's fit stay on the
    # hindsight labels under either key
    modelled = jnp.array([False, True, True, True])
    for b, t in ((b_r, t_r), (b_g, t_g)):
        np.testing.assert_array_equal(t_h.belief_acc, t.belief_acc)
        w_h, w = (adaptation.within_episode_accuracy(x, y, modelled) for x, y in ((b_h, t_h), (b, t)))
        for k in w_h:
            np.testing.assert_allclose(w[k], w_h[k], rtol=1e-6, err_msg=k)
        np.testing.assert_allclose(w["belief_acc_sum_t"].sum(), np.sum(t.belief_acc * t.belief_steps), rtol=1e-5)
        x_h, x = (adaptation.goal_xent(trainer, params, y, modelled) for y in (b_h, b))
        for k in x_h:
            np.testing.assert_allclose(x[k], x_h[k], rtol=1e-6, err_msg=k)
    goal = np.asarray(b_r.data["goal"])[:, :T]
    valid = (np.asarray(b_r.filled)[:, :T, None] & np.asarray(b_r.alive)[:, :T]).astype(bool)
    obs = np.asarray(b_r.data["obs"])  # [E, T+1, N, H, W, C]; row t+1: after step t
    cells = np.asarray(b_r.data["goal_pos"])[:, 0]  # [E, G, 2]: animals do not move
    kind_of = np.array([0] + [1] * (G - 1))  # stag_0, hare_0..3
    np.testing.assert_array_equal(kind_of, trainer.goal_policy.kinds)
    d, start = TINY_HOP.inter_om_decay, np.asarray(prior0)
    found = {"stag": 0, "none": 0}
    for i in range(e):
        for j in range(n):
            occ = np.full(T, -1)
            for t in range(T):
                me = obs[i, t + 1, j, ..., 0]
                if not me.any():
                    continue  # left the grid (or the episode is over)
                r, c = np.unravel_index(np.argmax(me), me.shape)
                for g in range(G):
                    live = obs[i, t + 1, j, r, c, n + 1 + (kind_of[g] == 1)] > 0
                    if tuple(cells[i, g]) == (r, c) and live:
                        occ[t] = g
                        break
            hind = _hindsight_labels_np(goal[i, :, j], valid[i, :, j])
            nxt = _hindsight_labels_np(occ, valid[i, :, j])
            labels = np.where(hind >= 0, hind, nxt)
            np.testing.assert_array_equal(b_h.data["goal_label"][i, :T, j], hind)
            np.testing.assert_array_equal(b_g.data["goal_label"][i, :T, j], np.where(valid[i, :, j], labels, -1))
            if j == 1:
                found["stag"] += np.sum(valid[i, :, j] & (hind < 0) & (labels == 0))
            found["none"] += np.sum(valid[i, :, j] & (labels < 0))
            for name, lab, trace in (("hindsight", hind, t_h), ("reached", labels, t_r)):
                steps = np.flatnonzero(valid[i, :, j])
                freq = np.mean([np.eye(G + 1)[lab[t] if lab[t] >= 0 else G] for t in steps], 0)
                freq = np.array([freq[:G][kind_of == kind_of[g]].mean() for g in range(G)] + [freq[G]])
                np.testing.assert_allclose(np.asarray(trace.prior)[i, j], d * start[i, j] + freq,
                                           rtol=1e-5, atol=1e-6, err_msg=f"{name} env {i} seat {j}")
    # the lone stag chaser's wait on the stag counts as a stag chase, and some steps still
    # count as "no target" (a seat that stands on no target after its last interaction)
    assert found["stag"] > 0 and found["none"] > 0, found


@pytest.mark.parametrize("pooling", ["any", "kind", "rank"])
def test_reached_labels_take_every_pooling_without_goal_renewal(pooling):
    """Unlike ``expected`` (which refuses ``rank`` and needs ``belief_reset_on_goal``),
    ``reached`` validates with every pooling and goal renewal off."""
    cfg = dataclasses.replace(TINY_HOP, inter_om_labels="reached", inter_om_pooling=pooling,
                              belief_reset_on_goal=False)
    cfg.validate()
    with pytest.raises(ConfigError, match="'inter_om_labels' is 'expected', which needs"):
        dataclasses.replace(cfg, inter_om_labels="expected").validate()


def test_goal_model_labels_are_validated_by_name():
    with pytest.raises(ConfigError, match="config key 'goal_model_labels' must be one of hindsight, reached, "
                                          "got 'expected'"):
        dataclasses.replace(TINY_HOP, goal_model_labels="expected").validate()
    dataclasses.replace(TINY_HOP, goal_model_labels="reached", inter_om_labels="hindsight").validate()
