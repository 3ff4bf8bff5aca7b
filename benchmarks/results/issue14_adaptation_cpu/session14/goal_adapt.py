"""Issue 14, fourteenth session: does training the goal model between the K few-shot episodes
(``adapt_goal_steps``) make HOP's beliefs better? Run from the repository root:

    python benchmarks/results/issue14_adaptation_cpu/session14/goal_adapt.py ENV SEATS [POP] [STEPS]

trains 6 HOP seeds (configs/<ENV>_hop.yaml, ``--set seed=6``: keys no earlier run used), then
plays the few-shot protocol (K = 5 episodes, 64 envs, HOP in SEATS seats) against every
scripted kind and every member kind of runs/populations/<ENV>_<POP> (default ``any``), with
the same trained agents and the same keys for each adapt_goal_steps in STEPS (comma-separated,
default 0,15,200; 0: the model as trained; a value above 0 needs commit 7b4c814, the key was
removed after these runs). Prints,
per co-player kind: the goal model's cross-entropy on the co-players' actions given their
hindsight goal (``goal_xent``, nats, episode 1 and 5: episode 5's is held out, the model was
trained on episodes 1-4 only), and the least-squares slopes per episode of belief accuracy and
focal return, mean and 95 % t-interval over the 6 seeds, with the paired difference to 0 steps.
Writes goal_adapt_<ENV>_seat<SEATS>.json.gz (every metric, [variant][seed] -> [kinds, K])."""
import dataclasses
import gzip
import json
import sys

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, "benchmarks")
from issue14_verdict import ci, slope  # noqa: E402

from hopjax.algos.hop import HOPTrainer  # noqa: E402
from hopjax.runtime import adaptation as ad  # noqa: E402

env, seats = sys.argv[1], int(sys.argv[2])
POP = sys.argv[3] if len(sys.argv) > 3 else "any"
VARIANTS = tuple(int(v) for v in (sys.argv[4] if len(sys.argv) > 4 else "0,15,200").split(","))
SEEDS, K, ENVS = 6, 5, 64
cfg = ad.hop_config(f"configs/{env}_hop.yaml", ["seed=6"])
trainer, params, _ = ad.hop_agents(cfg, SEEDS, None)
kinds, policies = ad.unseen_coplayers(env, trainer.env_params, seats, f"runs/populations/{env}_{POP}")
keys = jax.random.split(jax.random.PRNGKey(1000), SEEDS * len(kinds)).reshape(SEEDS, len(kinds), -1)
res = {}
for steps in VARIANTS:
    tr = HOPTrainer(dataclasses.replace(cfg, **({"adapt_goal_steps": steps} if steps else {})))
    fn = jax.jit(jax.vmap(ad.hop_adaptation(tr, K, ENVS, seats, policies), in_axes=(0, None, 0)))
    out = [jax.device_get(fn(keys[s], params[s], jnp.arange(len(kinds)))) for s in range(SEEDS)]
    res[steps] = {k: np.stack([o[k] for o in out]) for k in out[0]}  # [S, kinds, K, ...]
    print(f"evaluated adapt_goal_steps={steps}", flush=True)

print(f"\n{env}, HOP in {seats} seat(s), population {env}_{POP}, {SEEDS} HOP seeds x {ENVS} envs, K = {K}")
print("| co-players | steps | goal xent ep 1 -> 5 | belief acc ep 1 -> 5 | belief slope | vs 0 steps | return slope | vs 0 steps |")
print("|---|---|---|---|---|---|---|---|")
for c, kind in enumerate(kinds):
    base = res[0]
    for steps in VARIANTS:
        r = res[steps]
        gx = np.where(r["goal_xent_steps"][:, c] > 0, r["goal_xent"][:, c], np.nan)
        ba, fr = r["belief_accuracy"][:, c], r["focal_return"][:, c]
        bs, fs = slope(ba), slope(fr)
        row = [kind if steps == VARIANTS[0] else "", str(steps),
               " -> ".join(f"{np.nanmean(gx[:, k]):.3f}" if np.isfinite(gx[:, k]).any() else "-" for k in (0, -1)),
               f"{ba[:, 0].mean():.3f} -> {ba[:, -1].mean():.3f}", ci(bs),
               "" if steps == VARIANTS[0] else ci(bs - slope(base["belief_accuracy"][:, c])), ci(fs),
               "" if steps == VARIANTS[0] else ci(fs - slope(base["focal_return"][:, c]))]
        print("| " + " | ".join(row) + " |")
with gzip.open(f"benchmarks/results/issue14_adaptation_cpu/session14/goal_adapt_{env}_{POP}_seat{seats}.json.gz", "wt") as f:
    json.dump({"kinds": kinds, "variants": VARIANTS,
               "metrics": {str(s): {k: v.tolist() for k, v in r.items()} for s, r in res.items()}}, f)
