"""Environment-only throughput: E vmapped Markov Stag-Hunt envs stepped inside one jitted
``lax.scan`` with uniformly random *available* actions (no network), in two reset modes:
"episodes" (all envs reset together every max_steps steps, as the episode-mode rollout) and
"auto_reset" (the AutoReset wrapper, as the segment-mode rollout).

An env step is one step of one env (all 4 agents act). Compile time is reported separately;
the run time is the median of ``--repeats`` calls of the compiled scan.

Usage: python benchmarks/env_throughput.py [--envs 1 16 256 4096] [--steps-budget 131072]
"""

from __future__ import annotations

import numpy as np
from common import Stopwatch, block, compile_timed, load, machine, parser, print_machine, print_table, write_json

import jax
import jax.numpy as jnp

from hopjax.envs import AutoReset, make


def make_scan(env_name: str, num_envs: int, num_steps: int, auto_reset: bool, **env_kwargs):
    """-> jitted ``run(key) -> (total reward, episodes finished)`` over num_steps x num_envs.

    auto_reset=False ("episodes"): all envs reset together every ``max_steps`` steps (an outer
    scan over episodes, an inner scan over steps), as the episode-mode rollout does; num_steps
    is rounded up to whole episodes. auto_reset=True: the ``AutoReset`` wrapper, which computes
    a fresh reset at every step and selects it where an episode ended (segment-mode rollout).
    """
    base, params = make(env_name, **env_kwargs)
    env = AutoReset(base) if auto_reset else base
    T = base.episode_length(params)
    vreset = jax.vmap(env.reset, in_axes=(0, None))
    vavail = jax.vmap(env.avail_actions, in_axes=(0, None))
    vstep = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def step(carry, key):
        _, state, avail, ret, eps = carry
        k_act, k_env = jax.random.split(key)
        actions = jax.random.categorical(k_act, jnp.where(avail, 0.0, -jnp.inf))  # [E, N]
        obs, state, rew, dones, info = vstep(jax.random.split(k_env, num_envs), state, actions, params)
        # the observations stay in the carry (a policy would read them), so they are computed
        return (obs, state, info["avail_actions"], ret + rew.sum(), eps + dones.episode.sum()), None

    def start(key, ret, eps):
        obs, state = vreset(jax.random.split(key, num_envs), params)
        return obs, state, vavail(state, params), ret, eps

    def run(key):
        k_reset, k_run = jax.random.split(key)
        zero = (jnp.zeros(()), jnp.zeros((), jnp.int32))
        if auto_reset:
            carry, _ = jax.lax.scan(step, start(k_reset, *zero), jax.random.split(k_run, num_steps))
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

    steps = num_steps if auto_reset else -(-num_steps // T) * T
    return jax.jit(run), steps


def main() -> None:
    p = parser(__doc__.split("\n")[0], "env_throughput")
    p.add_argument("--envs", type=int, nargs="+", default=[1, 16, 256, 4096])
    p.add_argument("--env", default="stag_hunt")
    p.add_argument("--steps-budget", type=int, default=131072,
                   help="env steps per timed call (scan length = budget / E, clipped to [64, 4096])")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--modes", nargs="+", default=["episodes", "auto_reset"], choices=["episodes", "auto_reset"])
    args = p.parse_args()
    info = machine()
    print_machine(info)
    rows = []
    for mode in args.modes:
        for E in args.envs:
            T = int(np.clip(args.steps_budget // E, 64, 4096))
            fn, T = make_scan(args.env, E, T, auto_reset=mode == "auto_reset")
            run, compile_s = compile_timed(fn, jax.random.PRNGKey(0))
            walls, cpus, eps = [], [], 0
            for r in range(args.repeats):
                with Stopwatch() as sw:
                    _, n_eps = block(run(jax.random.PRNGKey(r + 1)))
                walls.append(sw.wall)
                cpus.append(sw.cpu)
                eps += int(n_eps)
            t, c = float(np.median(walls)), float(np.median(cpus))
            rows.append({"mode": mode, "E": E, "scan_steps": T, "env_steps": E * T, "compile_s": compile_s,
                         "run_s": t, "steps_per_s": E * T / t, "steps_per_cpu_s": E * T / c,
                         "episodes_per_call": eps / args.repeats, "load_avg_1min": load()})
            print(f"  {mode} E={E}: {E * T / t:,.0f} env steps/s")
    print(f"\n{args.env}: jitted scan of random valid actions, no network (median of {args.repeats} calls)")
    print_table(rows, [("mode", "mode", "s"), ("E", "E", "d"), ("scan_steps", "scan T", "d"),
                       ("env_steps", "steps/call", ",d"),
                       ("compile_s", "compile s", ".1f"), ("run_s", "run s", ".3f"),
                       ("steps_per_s", "env steps/s", ",.0f"), ("steps_per_cpu_s", "per CPU-s", ",.0f")])
    write_json(args.json, {"benchmark": "env_throughput", "env": args.env, "machine": info, "rows": rows})


if __name__ == "__main__":
    main()
