"""Issue 14, fourteenth session (exploratory): inter-OM pooling against the longer-trained
members. From the repository root:

    python benchmarks/results/issue14_adaptation_cpu/session14/pooling_longer.py ENV SEATS

for each of ``any`` and ``rank``: trains 6 HOP seeds (configs/<ENV>_hop.yaml, ``--set seed=7
inter_om_pooling=<pooling>``), then plays K = 5 episodes in 64 envs with HOP in SEATS seats
against every scripted kind and every member of runs/populations/<ENV>_longer (same keys for
both poolings). Prints per kind and pooling: goal_xent, belief accuracy in episode 1 and 5, and
the least-squares slopes per episode of belief accuracy and focal return (mean and 95 %
t-interval over the 6 seeds). Writes pooling_longer_<ENV>_seat<SEATS>.json.gz."""
import gzip
import json
import sys

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, "benchmarks")
from issue14_verdict import ci, slope  # noqa: E402

from hopjax.runtime import adaptation as ad  # noqa: E402

env, seats = sys.argv[1], int(sys.argv[2])
SEEDS, K, ENVS = 6, 5, 64
res, kinds = {}, None
for pooling in ("any", "rank"):
    cfg = ad.hop_config(f"configs/{env}_hop.yaml", ["seed=7", f"inter_om_pooling={pooling}"])
    trainer, params, _ = ad.hop_agents(cfg, SEEDS, None)
    kinds, policies = ad.unseen_coplayers(env, trainer.env_params, seats, f"runs/populations/{env}_longer")
    keys = jax.random.split(jax.random.PRNGKey(2000), SEEDS * len(kinds)).reshape(SEEDS, len(kinds), -1)
    fn = jax.jit(jax.vmap(ad.hop_adaptation(trainer, K, ENVS, seats, policies), in_axes=(0, None, 0)))
    out = [jax.device_get(fn(keys[s], params[s], jnp.arange(len(kinds)))) for s in range(SEEDS)]
    res[pooling] = {k: np.stack([o[k] for o in out]) for k in out[0]}
    print(f"evaluated {pooling}", flush=True)

print(f"\n{env}, HOP in {seats} seat(s), population {env}_longer, {SEEDS} HOP seeds x {ENVS} envs, K = {K}")
print("| co-players | pooling | goal xent | belief acc ep 1 -> 5 | belief slope | return slope |")
print("|---|---|---|---|---|---|")
for c, kind in enumerate(kinds):
    for pooling, r in res.items():
        gx, n = r["goal_xent"][:, c], r["goal_xent_steps"][:, c]
        xent = f"{(gx * n).sum() / n.sum():.3f}" if n.sum() > 0 else "-"
        ba, fr = r["belief_accuracy"][:, c], r["focal_return"][:, c]
        print(f"| {kind if pooling == 'any' else ''} | {pooling} | {xent} | {ba[:, 0].mean():.3f} -> "
              f"{ba[:, -1].mean():.3f} | {ci(slope(ba))} | {ci(slope(fr))} |")
with gzip.open(f"benchmarks/results/issue14_adaptation_cpu/session14/pooling_longer_{env}_seat{seats}.json.gz", "wt") as f:
    json.dump({"kinds": kinds, "metrics": {p: {k: v.tolist() for k, v in r.items()} for p, r in res.items()}}, f)
