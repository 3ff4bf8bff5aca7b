"""Roofline of PPO training: bytes moved and FLOPs per env step, from the config's real shapes.

Per env step (one env, all N agents, one time step) of a PPO update, computed from the trainer
built from ``--config`` (shapes via ``jax.eval_shape``, nothing compiled or hard-coded):

* **env step**: read + write the env state, write the float32 observations it returns
  (elementwise integer/bool work, no matmul FLOPs);
* **policy forward** (rollout): read the float32 observations, ``2 N sum(in x out)`` FLOPs
  through the MLP torso and heads; the weights are read once per step for all E envs (/E);
* **stored batch**: every per-step field of the rollout's EpisodeBatch written once
  (``hopjax.rollout.ppo_scheme``; observations compact, ``hopjax.buffers.obs``), and once more
  read + written by the time-major swap before GAE;
* **each epoch** (x ``ppo.num_epochs``): the minibatch gather reads the stored fields and
  writes the minibatch, the forward reads it and saves the activations, the backward reads
  them (FLOPs: forward + weight gradients + input gradients of every layer but the first);
  Adam reads parameters, gradients and both moments and writes three of them, once per
  minibatch (amortised over its ``E T / num_minibatches`` env steps).

These are the *minimum* bytes of this data flow (every array written once and read by its
consumers; XLA fusion can only remove traffic, unfused copies add to it). Against a device's
limits (``--device``: the H200's datasheet figures, or this CPU measured here: a NumPy memcpy
and a jitted float32 / bfloat16 matmul), a measured throughput ``--sps`` (env steps/s) gives
every figure as a fraction of its limit, and the throughput bound of each part is
``1 / max(FLOPs / peak FLOP/s, bytes / bandwidth)``.

H200 limits (NVIDIA H200 Tensor Core GPU datasheet, nvidia.com/en-us/data-center/h200/, H200
SXM): HBM3e 4.8 TB/s; FP32 67 TFLOPS; TF32 Tensor Core 989 and BF16 Tensor Core 1,979 TFLOPS
*with sparsity*, i.e. 494.5 and 989.5 TFLOPS dense (used here).

Usage: python benchmarks/roofline.py [--config configs/stag_hunt_ppo.yaml] [--envs 32768]
       [--device h200|cpu] [--sps 1.07e7] [--set key=value]
"""

from __future__ import annotations

import time

import numpy as np
from common import ROOT, machine, parser, print_machine, print_table, rel, write_json

import jax
import jax.numpy as jnp

from hopjax.algos.ppo import PPOConfig
from hopjax.algos.ppo.trainer import Trainer
from hopjax.config import load_config

H200 = {"name": "H200 SXM (datasheet)", "bandwidth": 4.8e12,
        "flops": {"float32 (CUDA cores)": 67e12, "tf32 tensor (dense)": 494.5e12,
                  "bf16 tensor (dense)": 989.5e12}}


def _nbytes(tree) -> int:
    return int(sum(np.prod(x.shape) * np.dtype(x.dtype).itemsize for x in jax.tree.leaves(tree)))


def measure_cpu(seconds: float = 1.0) -> dict:
    """This machine's memcpy bandwidth (read + write bytes/s of a 128 MB NumPy copy, beyond
    the caches) and jitted matmul FLOP/s (float32 and bfloat16 operands, 1024 x 1024), best of
    at least 5 repeats (pages touched first)."""
    a = np.ones(32 * 2**20, np.float32)
    b = np.zeros_like(a)
    best, reps = np.inf, 0
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end or reps < 5:
        reps += 1
        t0 = time.perf_counter()
        np.copyto(b, a)
        best = min(best, time.perf_counter() - t0)
    flops = {}
    n = 1024
    for name, dt in (("float32", jnp.float32), ("bfloat16 (f32 accumulate)", jnp.bfloat16)):
        x = jnp.ones((n, n), dt)
        f = jax.jit(lambda x, y: jax.lax.dot(x, y, preferred_element_type=jnp.float32))
        f(x, x).block_until_ready()
        t_best, t_end, reps = np.inf, time.perf_counter() + seconds, 0
        while time.perf_counter() < t_end or reps < 5:
            reps += 1
            t0 = time.perf_counter()
            f(x, x).block_until_ready()
            t_best = min(t_best, time.perf_counter() - t0)
        flops[name] = 2 * n**3 / t_best
    return {"name": "this CPU (measured)", "bandwidth": 2 * a.nbytes / best, "flops": flops}


def per_step_costs(trainer: Trainer, float_obs: bool = False) -> list[dict]:
    """Rows {part, flops, bytes} per env step (see the module docstring); ``float_obs``: as if
    observations were stored as float32 (the layout before compact storage)."""
    cfg, pol, ro = trainer.cfg, trainer.policy, trainer.rollout
    n, E, T = pol.num_agents, cfg.num_envs, ro.T
    obs_f32 = n * pol.obs_dim * 4
    _, state = jax.eval_shape(ro.env.reset, jax.random.PRNGKey(0), ro.env_params)
    params = jax.eval_shape(pol.init, jax.random.PRNGKey(0))
    p_bytes = _nbytes(params)
    sizes = [pol.input_dim, *pol.hidden_sizes]
    torso = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    last = pol.hidden_sizes[-1] if pol.hidden_sizes else pol.input_dim
    fwd = 2 * n * (torso + last * (pol.num_actions + 1))
    first = 2 * n * sizes[0] * sizes[1] if len(sizes) > 1 else 0
    bwd = 2 * fwd - first  # weight gradients of every layer + input gradients but the first's
    acts = n * sum(pol.hidden_sizes) * 4
    sch = ro.scheme
    stored = sum(int(np.prod(sch.step_shape(k))) * np.dtype(f.dtype).itemsize
                 for k, f in sch.fields if not f.episode_const)
    if float_obs:
        stored += obs_f32 - sum(int(np.prod(sch.step_shape(k))) * np.dtype(sch.field(k).dtype).itemsize
                                for k in ("obs", "obs_time") if k in sch.field_names)
    stored *= (T + 1) / T
    mb_steps = E * T / cfg.ppo.num_minibatches
    epochs = cfg.ppo.num_epochs
    gae = 2 * stored + 4 * n * 4  # time-major swap (read + write) + advantages and returns
    epoch_bytes = (2 * stored + 8 * n * 4) + stored + 2 * acts + 7 * p_bytes / mb_steps
    return [
        {"part": "env step", "flops": 0, "bytes": 2 * _nbytes(state) + obs_f32},
        {"part": "policy forward (rollout)", "flops": fwd, "bytes": obs_f32 + p_bytes / E},
        {"part": "stored batch + GAE", "flops": 0, "bytes": stored + gae},
        {"part": f"{epochs} epochs: reads, fwd + grad, Adam", "flops": epochs * (fwd + bwd),
         "bytes": epochs * epoch_bytes},
    ]


def main() -> None:
    p = parser(__doc__.split("\n")[0], "roofline")
    p.add_argument("--config", default=str(ROOT / "configs" / "stag_hunt_ppo.yaml"))
    p.add_argument("--envs", type=int, default=32768, help="num_envs (amortises weight reads)")
    p.add_argument("--device", choices=["h200", "cpu"], default="h200")
    p.add_argument("--sps", type=float, default=None, help="measured training env steps/s")
    p.add_argument("--set", action="append", default=[], help="extra config overrides key=value")
    p.add_argument("--float-obs", action="store_true", help="cost float32 observation storage (before)")
    args = p.parse_args()
    info = machine()
    print_machine(info)
    cfg = load_config(PPOConfig, args.config, [f"num_envs={args.envs}", *args.set])
    rows = per_step_costs(Trainer(cfg), args.float_obs)
    dev = H200 if args.device == "h200" else measure_cpu()
    bw, peaks = dev["bandwidth"], dev["flops"]
    total = {"part": "total", "flops": sum(r["flops"] for r in rows), "bytes": sum(r["bytes"] for r in rows)}
    rows.append(total)
    for r in rows:
        r["intensity"] = r["flops"] / r["bytes"] if r["bytes"] else 0.0
        for name, pk in peaks.items():
            t = max(r["flops"] / pk, r["bytes"] / bw)
            r[f"bound_sps[{name}]"] = 1 / t
            r[f"bound_by[{name}]"] = "memory" if r["bytes"] / bw >= r["flops"] / pk else "compute"
    print(f"\n{rel(args.config)}, E={cfg.num_envs}; limits: {dev['name']}: {bw / 1e9:,.1f} GB/s, "
          + ", ".join(f"{k} {v / 1e12:,.3g} TFLOP/s" for k, v in peaks.items()))
    cols = [("part", "per env step", "s"), ("flops", "FLOPs", ",.0f"), ("bytes", "bytes", ",.0f"),
            ("intensity", "FLOP/B", ".1f")]
    for name in peaks:
        cols.append((f"bound_sps[{name}]", f"max steps/s ({name})", ".3g"))
        cols.append((f"bound_by[{name}]", "bound", "s"))
    print_table(rows, cols)
    out = {"benchmark": "roofline", "config": rel(args.config), "overrides": args.set, "num_envs": cfg.num_envs,
           "float_obs": args.float_obs,
           "machine": info, "limits": dev, "rows": rows}
    if args.sps:
        frac = {"sps": args.sps, "bytes_per_s": args.sps * total["bytes"], "flops_per_s": args.sps * total["flops"]}
        frac["bandwidth_fraction"] = frac["bytes_per_s"] / bw
        frac["flops_fraction"] = {k: frac["flops_per_s"] / v for k, v in peaks.items()}
        frac["roofline_fraction"] = {k: args.sps / total[f"bound_sps[{k}]"] for k in peaks}
        print(f"\nat {args.sps:.3g} env steps/s: {frac['bytes_per_s'] / 1e9:,.1f} GB/s = "
              f"{frac['bandwidth_fraction']:.1%} of bandwidth; {frac['flops_per_s'] / 1e12:.3g} TFLOP/s = "
              + ", ".join(f"{v:.1%} of {k}" for k, v in frac["flops_fraction"].items())
              + "; " + ", ".join(f"{v:.1%} of the {k} roofline" for k, v in frac["roofline_fraction"].items()))
        out["measured"] = frac
    write_json(args.json, out)


if __name__ == "__main__":
    main()
