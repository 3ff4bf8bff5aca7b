"""Host-loop baseline vs the jitted pipeline, side by side in one process.

The baseline runs Markov Stag-Hunt the way the original PyMARL / CleanRL-port code runs its
environments: a Python loop over time steps and, inside it, over envs; each env is a stateful
NumPy object (``numpy_stag_hunt.NumpyStagHunt``, same rules as the JAX env, checked below);
one network forward per step for all envs and agents; the step's data written into a
PyMARL-style dict-of-arrays episode batch (``HostEpisodeBatch``), which is trimmed to
``max_t_filled()`` at the end. The network is the same ``MultiPolicy`` (MLP 64x64, tanh,
independent per-agent parameters, as ``configs/stag_hunt_ppo.yaml``), called through a jitted
flax apply + masked categorical sample. That is the fair choice: the per-step matmuls run the
same XLA kernels as in the jitted pipeline, as a PyTorch forward would run compiled kernels,
so the ratio measures the host loop (Python env stepping, per-step dispatch, host/device
copies, batch bookkeeping), not a slower matmul. The forward always sees all E envs (a fixed
shape, so it compiles once) — finished envs are computed and ignored, which favours nothing.

The jitted pipeline is ``hopjax.rollout.Rollout`` in episode mode (reset + ``lax.scan`` over
T steps, ``vmap`` over E envs, the same policy and parameters) writing a fixed-shape
EpisodeBatch. It evaluates the policy's first layer from the env's sparse observation entries
(``Rollout(sparse_obs=True)``, the default: the same function up to float rounding); row
"rollout_dense" times it with the dense product the host loop's forward runs, in the same rounds. Both sides count real env transitions (padding steps of finished envs in the
jitted batch are not counted). Measurements alternate between the two, round by round, so that
load from other processes hits both; the table reports medians over rounds.

Two more rows break the comparison down. "env_only": the envs alone (random valid actions, no
network, no batch), NumPy envs in a Python loop vs one jitted scan of vmapped JAX envs.
"ppo_update" (skip with ``--no-train``): a full PPO update; host side = host rollout + NumPy GAE
(reverse Python loop) + a minibatch loop calling hopjax's jitted PPO gradient step from Python
(CleanRL's structure); jitted side = ``Trainer.update`` (rollout, GAE, epochs and minibatches
in one compiled call).

Usage: python benchmarks/baseline_hostloop.py [--envs 1 16 256] [--rounds 3] [--no-train]
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
from common import (Stopwatch, block, compile_timed, load, machine, parser, print_machine, print_table,
                    write_json)

import jax
import jax.numpy as jnp

from hopjax.algos.ppo import PPOConfig
from hopjax.algos.ppo.config import PPOUpdateConfig
from hopjax.algos.ppo.loss import Minibatch
from hopjax.envs import make
from hopjax.models.policy import masked_categorical
from hopjax.rollout import Rollout
from hopjax.loop import Loop
from hopjax.algos.ppo.trainer import Trainer
from numpy_stag_hunt import NumpyStagHunt

# The policy and PPO settings of configs/stag_hunt_ppo.yaml (MLP 64x64, tanh, per-agent params).
BASE_CFG = PPOConfig(name="hostloop_bench", env="stag_hunt", hidden_sizes=(64, 64), activation="tanh",
                     shared_params=False, ppo=PPOUpdateConfig(num_epochs=4, num_minibatches=4),
                     chunk_updates=1)


# Rule-check configurations: the benchmark's env, and two crowded ones where group stag hunts
# and terminations (every animal caught) happen often under random actions.
CHECKS = [
    {},
    dict(height=2, width=2, num_agents=4, num_stags=1, num_hares=2, num_walls=0, max_steps=20),
    dict(height=2, width=2, num_agents=3, num_stags=1, num_hares=1, num_walls=0, stag_min_hunters=1, max_steps=20),
]


# ----------------------------------------------------------------------------- episode batch
class HostEpisodeBatch:
    """PyMARL-style episode storage in NumPy: ``data[name]`` is ``[B, T+1, *shape]``, plus
    ``filled [B, T+1]``. ``update`` writes one time index for a subset of episodes (marking
    them filled on request); ``max_t_filled`` and slicing trim it to the longest episode."""

    def __init__(self, scheme: dict[str, tuple[tuple[int, ...], type]], batch_size: int, max_t: int,
                 data: dict[str, np.ndarray] | None = None):
        self.scheme = scheme
        if data is None:
            data = {k: np.zeros((batch_size, max_t + 1, *shape), dtype) for k, (shape, dtype) in scheme.items()}
            data["filled"] = np.zeros((batch_size, max_t + 1), np.int64)
        self.data = data

    def update(self, values: dict[str, object], bs, ts: int, mark_filled: bool = True) -> None:
        for k, v in values.items():
            self.data[k][bs, ts] = np.asarray(v, dtype=self.data[k].dtype)
            if mark_filled:
                self.data["filled"][bs, ts] = 1
                mark_filled = False

    def max_t_filled(self) -> int:
        return int(self.data["filled"].sum(1).max())

    def __getitem__(self, item) -> "HostEpisodeBatch":
        return HostEpisodeBatch(self.scheme, 0, 0, {k: v[item] for k, v in self.data.items()})


# ----------------------------------------------------------------------------- host loop
class HostLoopRunner:
    """E NumPy envs stepped one by one in Python, one jitted policy forward per step."""

    def __init__(self, trainer: Trainer, seed: int = 0):
        self.env_params = trainer.env_params
        self.policy = policy = trainer.policy
        self.E, self.T = trainer.cfg.num_envs, trainer.rollout.T
        self.n = policy.num_agents
        self.envs = [NumpyStagHunt(self.env_params, seed * 100_003 + i) for i in range(self.E)]
        obs_shape = policy.obs_shape
        a = policy.num_actions
        n = self.n
        self.scheme = {
            "obs": ((n, *obs_shape), np.float32), "avail_actions": ((n, a), np.bool_),
            "alive": ((n,), np.bool_), "actions": ((n,), np.int64), "log_prob": ((n,), np.float32),
            "value": ((n,), np.float32), "reward": ((n,), np.float32), "goal": ((n,), np.int64),
            "agent_terminated": ((n,), np.bool_), "terminated": ((), np.bool_),
        }
        E = self.E

        def act(params, obs, avail, key, t):
            hidden = policy.initial_hidden((E,))
            _, logits, value = policy.apply(params, hidden, obs, jnp.zeros((E,), bool))
            dist = masked_categorical(logits, avail)
            actions = dist.sample(seed=jax.random.fold_in(key, t))
            return actions, dist.log_prob(actions), value

        self.act = jax.jit(act)

    def compile(self, params) -> float:
        o = np.zeros((self.E, self.n, *self.policy.obs_shape), np.float32)
        av = np.ones((self.E, self.n, self.policy.num_actions), bool)
        self.act, seconds = compile_timed(self.act, params, o, av, jax.random.PRNGKey(0), 0)
        return seconds

    def run(self, params, key) -> tuple[HostEpisodeBatch, int]:
        """One episode per env -> (batch trimmed to max_t_filled, env transitions)."""
        E, T = self.E, self.T
        b = HostEpisodeBatch(self.scheme, E, T)
        everyone = np.arange(E)
        obs = [env.reset() for env in self.envs]
        b.update({"obs": obs, "avail_actions": [env.avail_actions() for env in self.envs],
                  "alive": [env.alive for env in self.envs]}, everyone, 0)
        running = everyone
        steps = 0
        for t in range(T):
            actions, log_prob, value = jax.device_get(
                self.act(params, b.data["obs"][:, t], b.data["avail_actions"][:, t], key, t))
            post = {k: [] for k in ("reward", "goal", "agent_terminated", "terminated")}
            pre = {k: [] for k in ("obs", "avail_actions", "alive")}
            still = []
            for e in running:
                env = self.envs[e]
                alive_before = env.alive
                o, r, agent_dones, terminated, truncated, info = env.step(actions[e])
                steps += 1
                post["reward"].append(r)
                post["goal"].append(info["goal"])
                post["agent_terminated"].append(alive_before & agent_dones)
                post["terminated"].append(terminated)  # time-limit endings excluded, as PyMARL
                pre["obs"].append(o)
                pre["avail_actions"].append(info["avail_actions"])
                pre["alive"].append(info["alive"])
                if not (terminated or truncated):
                    still.append(e)
            b.update({"actions": actions[running], "log_prob": log_prob[running],
                      "value": value[running], **post}, running, t, mark_filled=False)
            b.update(pre, running, t + 1)
            running = np.array(still, np.int64)
            if len(running) == 0:
                break
        # Value of the last stored observation: the bootstrap of time-limit endings.
        _, _, last_value = jax.device_get(
            self.act(params, b.data["obs"][:, T], b.data["avail_actions"][:, T], key, T + 1))
        b.update({"value": last_value}, everyone, T, mark_filled=False)
        return b[:, : b.max_t_filled()], steps


def host_gae(b: HostEpisodeBatch, gamma: float, lam: float):
    """NumPy GAE on a trimmed batch, reverse Python loop over time.

    -> (advantages, returns, mask) [B, T', N] with T' = max_t_filled - 1 transitions; mask as
    PyMARL (filled[:, :-1], cut after a rule termination) times the agent-alive mask."""
    d = b.data
    filled = d["filled"].astype(np.float32)
    mask = filled[:, :-1].copy()
    mask[:, 1:] *= 1.0 - d["terminated"][:, :-2].astype(np.float32)
    mask = mask[..., None] * d["alive"][:, :-1]
    reward, value = d["reward"][:, :-1], d["value"]
    not_term = 1.0 - d["agent_terminated"][:, :-1].astype(np.float32)
    adv = np.zeros_like(reward)
    last = np.zeros_like(reward[:, 0])
    for t in reversed(range(reward.shape[1])):
        delta = reward[:, t] + gamma * not_term[:, t] * value[:, t + 1] - value[:, t]
        last = (delta + gamma * lam * not_term[:, t] * last) * mask[:, t]
        adv[:, t] = last
    return adv, (adv + value[:, :-1]) * mask, mask


class HostLoopPPO:
    """CleanRL-structured PPO update around the host-loop rollout: the per-minibatch gradient
    step is hopjax's own (jitted once per sequence length), called from a Python loop."""

    def __init__(self, trainer: Trainer, runner: HostLoopRunner):
        self.cfg, self.runner = trainer.cfg, runner
        self.grad_step = jax.jit(trainer.grad_step)
        self.rng = np.random.default_rng(0)

    def update(self, params, opt_state, key):
        cfg = self.cfg
        b, steps = self.runner.run(params, key)
        adv, ret, mask = host_gae(b, cfg.ppo.gamma, cfg.ppo.gae_lambda)
        d = b.data
        tt = adv.shape[1]
        tf = lambda x: np.swapaxes(x, 0, 1)  # [B, T', ...] -> [T', B, ...]
        data = {"obs": tf(d["obs"][:, :tt]), "reset": np.zeros((tt, len(adv)), bool),
                "avail": tf(d["avail_actions"][:, :tt]), "actions": tf(d["actions"][:, :tt]).astype(np.int32),
                "log_prob": tf(d["log_prob"][:, :tt]), "value": tf(d["value"][:, :tt]),
                "advantages": tf(adv), "returns": tf(ret), "mask": tf(mask) > 0}
        hidden0 = np.zeros((len(adv), self.runner.n, self.runner.policy.hidden_size), np.float32)
        mb = len(adv) // cfg.ppo.num_minibatches
        for _ in range(cfg.ppo.num_epochs):
            perm = self.rng.permutation(len(adv))
            for i in range(cfg.ppo.num_minibatches):
                idx = perm[i * mb:(i + 1) * mb]
                batch = Minibatch(hidden0=hidden0[idx], **{k: v[:, idx] for k, v in data.items()})
                params, opt_state, _ = self.grad_step(params, opt_state, batch)
        return block((params, opt_state)), steps


# ----------------------------------------------------------------------------- rule check
def check_against_jax(env_params, num_envs: int = 64, seed: int = 0) -> dict[str, int]:
    """Step NumpyStagHunt and the JAX env side by side from the same reset states with random
    actions (invalid ones included) for a whole episode; assert every output equal.
    -> counts of transitions compared, captures and rule terminations seen."""
    env, _ = make("stag_hunt")
    n, a, T = env.num_agents(env_params), env.num_actions(env_params), env.episode_length(env_params)
    key = jax.random.PRNGKey(seed)
    rng = np.random.default_rng(seed)
    actions = rng.integers(-1, a + 1, size=(T, num_envs, n))
    # favour hunting so that captures, asynchronous exits and terminations all happen
    hunt = rng.random(actions.shape) < 0.5
    actions = np.where(hunt, rng.integers(5, 7, size=actions.shape), actions)

    @jax.jit
    def jax_episode(key, actions):
        _, s0 = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, num_envs), env_params)

        def body(s, act):
            obs, s2, r, d, info = jax.vmap(env.step, in_axes=(None, 0, 0, None))(key, s, act, env_params)
            return s2, (obs, r, d.agents, d.terminated, d.truncated, info["goal"], info["avail_actions"],
                        info["alive"])

        return s0, jax.lax.scan(body, s0, actions)[1]

    s0, outs = jax.device_get(jax_episode(key, jnp.asarray(actions, jnp.int32)))
    names = ("obs", "rewards", "agent_dones", "terminated", "truncated", "goal", "avail", "alive")
    compared = captures = stag_hunts = terminations = 0
    for e in range(num_envs):
        ref = NumpyStagHunt(env_params)
        ref.set_state(jax.tree.map(lambda x: x[e], s0))
        ended = False
        for t in range(T):
            if ended:
                break
            o, r, ad, term, trunc, info = ref.step(actions[t, e])
            mine = (o, r, ad, term, trunc, info["goal"], info["avail_actions"], info["alive"])
            for name, x, y in zip(names, mine, (v[t, e] for v in outs)):
                x, y = np.asarray(x), np.asarray(y)
                # floats to 1e-6: XLA turns t / max_steps into t * (1 / max_steps) (1 ulp off)
                same = np.allclose(x, y, rtol=0, atol=1e-6) if x.dtype.kind == "f" else np.array_equal(x, y)
                if not same:
                    raise AssertionError(f"NumPy env differs from the JAX env: env {e}, step {t}, {name}")
            compared += 1
            captures += int((info["goal"] >= 0).sum())
            stag_hunts += int(((info["goal"] >= 0) & (info["goal"] < env_params.num_stags)).sum())
            terminations += int(term)
            ended = term or trunc
    # NumPy resets follow the layout rules
    sim = NumpyStagHunt(env_params, seed)
    for _ in range(50):
        sim.reset()
        cells = {tuple(p) for p in np.concatenate([sim.stag_pos, sim.hare_pos])}
        assert len(cells) == env_params.num_stags + env_params.num_hares
        assert not any(sim.walls[r, c] for r, c in cells | {tuple(p) for p in sim.pos})
        assert not cells & {tuple(p) for p in sim.pos}
    return {"transitions": compared, "captures": captures, "stag_captures": stag_hunts, "terminations": terminations}


# ----------------------------------------------------------------------------- benchmark
def _rates(host: list, jit: list) -> dict:
    """Per-round (steps, Stopwatch) pairs -> median rates and ratios, wall and CPU time."""
    med = lambda xs, attr: float(np.median([s / getattr(sw, attr) for s, sw in xs]))
    h, j, hc, jc = med(host, "wall"), med(jit, "wall"), med(host, "cpu"), med(jit, "cpu")
    return {"host_sps": h, "jit_sps": j, "ratio": j / h, "host_cpu_sps": hc, "jit_cpu_sps": jc,
            "cpu_ratio": jc / hc, "host_steps": sum(s for s, _ in host), "jit_steps": sum(s for s, _ in jit)}


def measure_rollouts(E: int, rounds: int, params_key) -> dict:
    cfg = dataclasses.replace(BASE_CFG, num_envs=E,  # (no minibatches in a rollout)
                              ppo=dataclasses.replace(BASE_CFG.ppo, num_minibatches=1))
    trainer = Trainer(cfg)
    params = trainer.policy.init(params_key)
    host = HostLoopRunner(trainer, seed=E)
    host_compile = host.compile(params)

    def jit_rollout(ro):
        def fn(key, params):
            k_reset, k_run = jax.random.split(key)
            _, batch, _ = ro.run(k_run, params, ro.reset(k_reset))
            return batch, batch.filled[:, : ro.T].sum()
        return compile_timed(jax.jit(fn), jax.random.PRNGKey(0), params)

    # hopjax's rollout as it runs (the first layer from sparse observation entries) and with the
    # dense first layer (every observation entry multiplied), timed in the same rounds.
    variants = {kind: jit_rollout(Rollout(trainer.env, trainer.env_params, trainer.policy, E, 0, sparse_obs=sp))
                for kind, sp in (("rollout", True), ("rollout_dense", False))}
    T = trainer.env.episode_length(trainer.env_params)
    reps = max(1, 4096 // (E * T))  # rollouts per round: about 4k env steps for every E
    host.run(params, jax.random.PRNGKey(0))  # warm every path
    for jitted, _ in variants.values():
        block(jitted(jax.random.PRNGKey(0), params))
    host_m, jit_m = [], {kind: [] for kind in variants}
    for r in range(rounds):  # alternate, so that load from other processes hits every side
        with Stopwatch() as sw:
            s = sum(host.run(params, jax.random.PRNGKey(1000 * r + i))[1] for i in range(reps))
        host_m.append((s, sw))
        for kind, (jitted, _) in variants.items():
            with Stopwatch() as sw:
                s = sum(int(block(jitted(jax.random.PRNGKey(1000 * r + i), params))[1]) for i in range(reps))
            jit_m[kind].append((s, sw))
    return [{"kind": kind, "E": E, **_rates(host_m, jit_m[kind]), "host_compile_s": host_compile,
             "jit_compile_s": variants[kind][1], "rounds": rounds, "load_avg_1min": load()} for kind in variants]


def measure_env_only(E: int, rounds: int) -> dict:
    """Env stepping alone (uniformly random valid actions, no network, no batch): E NumPy envs
    in a Python loop vs ``env_throughput.make_scan`` (E vmapped JAX envs, one jitted scan)."""
    from env_throughput import make_scan

    env_params = make("stag_hunt")[1]
    T = env_params.max_steps
    episodes = max(1, 4096 // (E * T))
    envs = [NumpyStagHunt(env_params, 7 * E + i) for i in range(E)]
    rng = np.random.default_rng(E)

    def host_episodes() -> int:
        steps = 0
        for _ in range(episodes):
            for env in envs:
                env.reset()
                for _ in range(T):
                    avail = env.avail_actions()
                    cdf = np.cumsum(avail / avail.sum(1, keepdims=True), 1)
                    _, _, _, term, trunc, _ = env.step((rng.random((len(avail), 1)) < cdf).argmax(1))
                    steps += 1
                    if term or trunc:
                        break
        return steps

    fn, steps = make_scan("stag_hunt", E, episodes * T, "episodes")
    jitted, jit_compile = compile_timed(fn, jax.random.PRNGKey(0))
    host_episodes()
    host_m, jit_m = [], []
    for r in range(rounds):
        with Stopwatch() as sw:
            s = host_episodes()
        host_m.append((s, sw))
        with Stopwatch() as sw:
            block(jitted(jax.random.PRNGKey(r)))
        jit_m.append((E * steps, sw))
    return {"kind": "env_only", "E": E, **_rates(host_m, jit_m), "host_compile_s": 0.0, "jit_compile_s": jit_compile,
            "rounds": rounds, "load_avg_1min": load()}


def measure_training(E: int, rounds: int, params_key) -> dict:
    cfg = dataclasses.replace(BASE_CFG, num_envs=E)
    trainer = Trainer(cfg)
    runner = trainer.init(params_key)
    loop = Loop(trainer)
    chunk = loop.compiled_chunk(runner)
    jit_compile = loop.compile_seconds
    host = HostLoopRunner(trainer, seed=E + 1)
    host_compile = host.compile(runner.params)
    ppo = HostLoopPPO(trainer, host)
    params, opt_state = runner.params, runner.opt_state
    with Stopwatch() as sw:  # the first host update compiles the gradient step
        params, opt_state = ppo.update(params, opt_state, jax.random.PRNGKey(0))[0]
    host_compile += sw.wall  # (includes one host update)
    runner = block(chunk(runner)[0])
    host_m, jit_m = [], []
    for r in range(rounds):
        with Stopwatch() as sw:
            (params, opt_state), steps = ppo.update(params, opt_state, jax.random.PRNGKey(r + 1))
        host_m.append((steps, sw))
        with Stopwatch() as sw:
            runner, m = block(chunk(runner))
        # real transitions of the jitted update's rollout: episodes x mean length
        jit_m.append((int(round(float(m["episodes"][0] * m["episode_length"][0]))), sw))
    return {"kind": "ppo_update", "E": E, **_rates(host_m, jit_m), "host_compile_s": host_compile,
            "jit_compile_s": jit_compile, "rounds": rounds, "grad_step_compiles": ppo.grad_step._cache_size(),
            "load_avg_1min": load()}


def main() -> None:
    p = parser(__doc__.split("\n")[0], "baseline_hostloop")
    p.add_argument("--envs", type=int, nargs="*", default=[1, 16, 256])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--env-only-envs", type=int, nargs="*", default=[256],
                   help="E values of the env-only comparison (no network, no batch)")
    p.add_argument("--train-envs", type=int, default=256, help="E of the PPO-update comparison")
    p.add_argument("--no-train", action="store_true", help="skip the PPO-update comparison")
    args = p.parse_args()
    info = machine()
    print_machine(info)
    t0 = time.perf_counter()
    checks = [check_against_jax(make("stag_hunt", **kw)[1], seed=i) for i, kw in enumerate(CHECKS)]
    compared = {k: sum(c[k] for c in checks) for k in checks[0]}
    print(f"rule check: NumPy env == JAX env on {compared['transitions']} transitions "
          f"({compared['captures']} captures, {compared['stag_captures']} of them stags, "
          f"{compared['terminations']} terminated episodes; "
          f"{time.perf_counter() - t0:.1f}s)")

    key = jax.random.PRNGKey(0)
    rows = []
    for E in args.env_only_envs:
        rows.append(measure_env_only(E, args.rounds))
    for E in args.envs:
        rows.extend(measure_rollouts(E, args.rounds, key))
        print(f"  E={E}: host {rows[-1]['host_sps']:,.0f} steps/s, jitted {rows[-2]['jit_sps']:,.0f} steps/s "
              f"(dense first layer {rows[-1]['jit_sps']:,.0f}; load {load():.1f})")
    if not args.no_train:
        rows.append(measure_training(args.train_envs, args.rounds, key))
    print("\nenv steps/s (real transitions; median of rounds; compile seconds separate). 'cpu' columns:"
          "\nsteps per CPU-second of this process, less sensitive to other processes on the machine")
    print_table(rows, [("kind", "what", "s"), ("E", "E", "d"), ("host_sps", "host loop", ",.0f"),
                       ("jit_sps", "jitted", ",.0f"), ("ratio", "ratio", ".1f"),
                       ("host_cpu_sps", "host/cpu", ",.0f"), ("jit_cpu_sps", "jitted/cpu", ",.0f"),
                       ("cpu_ratio", "cpu ratio", ".1f"), ("host_compile_s", "host compile s", ".1f"),
                       ("jit_compile_s", "jit compile s", ".1f")])
    write_json(args.json, {"benchmark": "baseline_hostloop", "machine": info, "rule_check": compared,
                           "config": {"hidden_sizes": list(BASE_CFG.hidden_sizes), "env": "stag_hunt defaults"},
                           "rows": rows})


if __name__ == "__main__":
    main()
