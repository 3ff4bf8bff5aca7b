"""Environment-only throughput: E vmapped Markov Stag-Hunt envs stepped inside one jitted
``lax.scan`` with uniformly random *available* actions (no network), in three reset modes:

- "episodes": all envs reset together every max_steps steps (what the episode-mode rollout
  does); steps after an early termination are counted;
- "auto_reset": ``AutoReset.step`` under ``vmap``: a complete fresh reset for every env at every
  step, kept where an episode ended (what the segment-mode rollout did before the reset pool);
- "pooled": ``AutoReset.step_pooled`` (the segment-mode rollout now): ended envs take their
  next start from a pool of E reset states, refilled in one batched call when it runs short.

An env step is one step of one env (all 4 agents act). Compile time is reported separately;
the run time is the median of ``--repeats`` calls of the compiled scan, the modes alternating
call by call at each E so that they share the machine's load; the ratio table divides the
medians of one E.

Usage: python benchmarks/env_throughput.py [--envs 1 16 256 4096] [--steps-budget 131072]
       python benchmarks/env_throughput.py --gpu      (the GPU table: E = 1,024 .. 65,536)
"""

from __future__ import annotations

import numpy as np
from common import Stopwatch, block, compile_timed, load, machine, parser, print_machine, print_table, write_json

import jax
import jax.numpy as jnp

from hopjax.envs import AutoReset, make

MODES = ("episodes", "auto_reset", "pooled")
GPU_ENVS = [1024, 4096, 16384, 65536]


def make_scan(env_name: str, num_envs: int, num_steps: int, mode: str, **env_kwargs):
    """-> (jitted ``run(key) -> (total reward, episodes finished)``, scan steps per call) over
    num_steps x num_envs in ``mode`` (module docstring); "episodes" rounds num_steps up to whole
    episodes. The observations stay in the carry (a policy would read them), so they are
    computed."""
    base, params = make(env_name, **env_kwargs)
    wrapped = AutoReset(base)
    T = base.episode_length(params)
    vreset = jax.vmap(base.reset, in_axes=(0, None))
    vavail = jax.vmap(base.avail_actions, in_axes=(0, None))
    vstep = jax.vmap((base if mode == "episodes" else wrapped).step, in_axes=(0, 0, 0, None))

    def step(carry, key):
        _, state, avail, ret, eps, pool = carry
        k_act, k_env = jax.random.split(key)
        actions = jax.random.categorical(k_act, jnp.where(avail, 0.0, -jnp.inf))  # [E, N]
        if mode == "pooled":
            obs, state, rew, dones, info, pool = wrapped.step_pooled(k_env, state, actions, params, pool)
        else:
            obs, state, rew, dones, info = vstep(jax.random.split(k_env, num_envs), state, actions, params)
        return (obs, state, info["avail_actions"], ret + rew.sum(), eps + dones.episode.sum(), pool), None

    def start(key, ret, eps, pool=None):
        obs, state = vreset(jax.random.split(key, num_envs), params)
        return obs, state, vavail(state, params), ret, eps, pool

    def run(key):
        k_reset, k_run, k_pool = jax.random.split(key, 3)
        zero = (jnp.zeros(()), jnp.zeros((), jnp.int32))
        if mode != "episodes":
            pool = wrapped.init_pool(k_pool, params, num_envs) if mode == "pooled" else None
            carry, _ = jax.lax.scan(step, start(k_reset, *zero, pool), jax.random.split(k_run, num_steps))
            obs, ret, eps = carry[0], carry[3], carry[4]
        else:
            def episode(acc, key):
                k0, k1 = jax.random.split(key)
                carry, _ = jax.lax.scan(step, start(k0, *acc[1:]), jax.random.split(k1, T))
                return (carry[0], carry[3], carry[4]), None

            n_eps = -(-num_steps // T)
            n = base.num_agents(params)
            init = (jnp.zeros((num_envs, n, *base.observation_shape(params))), *zero)
            (obs, ret, eps), _ = jax.lax.scan(episode, init, jax.random.split(k_run, n_eps))
        return ret + 0.0 * obs.sum(), eps

    steps = num_steps if mode != "episodes" else -(-num_steps // T) * T
    return jax.jit(run), steps


def measure(env_name: str, E: int, T: int, modes, repeats: int) -> list[dict]:
    """Compile every mode at E, then time the modes alternately, ``repeats`` rounds."""
    runs = {}
    for mode in modes:
        fn, steps = make_scan(env_name, E, T, mode)
        runs[mode] = (*compile_timed(fn, jax.random.PRNGKey(0)), steps)
    walls = {m: [] for m in modes}
    cpus = {m: [] for m in modes}
    eps = {m: 0 for m in modes}
    for r in range(repeats):
        for mode in modes:
            with Stopwatch() as sw:
                _, n_eps = block(runs[mode][0](jax.random.PRNGKey(r + 1)))
            walls[mode].append(sw.wall)
            cpus[mode].append(sw.cpu)
            eps[mode] += int(n_eps)
    rows = []
    for mode in modes:
        _, compile_s, scan_steps = runs[mode]
        steps = scan_steps * E
        t, c = float(np.median(walls[mode])), float(np.median(cpus[mode]))
        rows.append({"mode": mode, "E": E, "scan_steps": scan_steps, "env_steps": steps, "compile_s": compile_s,
                     "run_s": t, "steps_per_s": steps / t, "steps_per_cpu_s": steps / c,
                     "episodes_per_call": eps[mode] / repeats, "load_avg_1min": load()})
        print(f"  {mode} E={E}: {steps / t:,.0f} env steps/s")
    return rows


def ratios(rows: list[dict]) -> list[dict]:
    """Per E: throughput of each reset mode relative to "episodes" and pooled vs auto_reset."""
    out = []
    for E in sorted({r["E"] for r in rows}):
        by = {r["mode"]: r for r in rows if r["E"] == E}
        f = lambda a, b, k="steps_per_s": by[a][k] / by[b][k] if a in by and b in by else None  # noqa: E731
        out.append({"E": E, "auto_vs_episodes": f("auto_reset", "episodes"), "pooled_vs_episodes": f("pooled", "episodes"),
                    "pooled_vs_auto": f("pooled", "auto_reset"),
                    "pooled_vs_auto_cpu": f("pooled", "auto_reset", "steps_per_cpu_s")})
    return out


def main() -> None:
    p = parser(__doc__.split("\n")[0], "env_throughput")
    p.add_argument("--envs", type=int, nargs="+", default=[1, 16, 256, 4096])
    p.add_argument("--env", default="stag_hunt")
    p.add_argument("--steps-budget", type=int, default=131072,
                   help="env steps per timed call (scan length = budget / E, clipped to [64, 4096])")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    p.add_argument("--gpu", action="store_true",
                   help=f"the GPU table: --envs {' '.join(map(str, GPU_ENVS))}, 2^25 steps per call")
    args = p.parse_args()
    if args.gpu:
        args.envs, args.steps_budget = GPU_ENVS, 1 << 25
    info = machine()
    print_machine(info)
    rows = []
    for E in args.envs:
        rows += measure(args.env, E, int(np.clip(args.steps_budget // E, 64, 4096)), args.modes, args.repeats)
    print(f"\n{args.env}: jitted scan of random valid actions, no network (median of {args.repeats} calls)")
    print_table(rows, [("mode", "mode", "s"), ("E", "E", "d"), ("scan_steps", "scan T", "d"),
                       ("env_steps", "steps/call", ",d"),
                       ("compile_s", "compile s", ".1f"), ("run_s", "run s", ".3f"),
                       ("steps_per_s", "env steps/s", ",.0f"), ("steps_per_cpu_s", "per CPU-s", ",.0f")])
    rat = ratios(rows)
    print("\nthroughput ratios (wall; last column CPU time)")
    print_table(rat, [("E", "E", "d"), ("auto_vs_episodes", "auto_reset / episodes", ".3f"),
                      ("pooled_vs_episodes", "pooled / episodes", ".3f"),
                      ("pooled_vs_auto", "pooled / auto_reset", ".2f"), ("pooled_vs_auto_cpu", "(CPU)", ".2f")])
    write_json(args.json, {"benchmark": "env_throughput", "env": args.env, "machine": info, "rows": rows,
                           "ratios": rat})


if __name__ == "__main__":
    main()
