# Issue 14: per-update self-play return of HOP, goal_walker_envs 0 vs 16, first 4 updates from init key 0 (planner and goal params end up different).
# PYTHONPATH=. taskset -c 1 python benchmarks/results/issue14_adaptation_cpu/walker_update_check.py
import dataclasses, jax, numpy as np
from hopjax.runtime import adaptation as ad
from hopjax.algos.hop import HOPTrainer
cfg = ad.hop_config("configs/snowdrift_hop.yaml", [])
out = {}
for w in (0, 16):
    tr = HOPTrainer(dataclasses.replace(cfg, goal_walker_envs=w))
    up = jax.jit(tr.update)
    st = tr.init(jax.random.PRNGKey(0)); rs = []
    for i in range(4):
        st, m = up(st); rs.append(float(m["mean_return"]))
    out[w] = (rs, st)
    print(w, rs, float(m["goal_loss"]))
a, b = out[0][1], out[16][1]
print("planner same:", all((np.asarray(x) == np.asarray(y)).all() for x, y in zip(jax.tree.leaves(a.params["planner"]), jax.tree.leaves(b.params["planner"]))))
print("goal same:", all((np.asarray(x) == np.asarray(y)).all() for x, y in zip(jax.tree.leaves(a.params["goal"]), jax.tree.leaves(b.params["goal"]))))
