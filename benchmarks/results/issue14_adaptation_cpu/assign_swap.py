"""Why does HOP trained with assigned-target walkers (goal_assign_fraction) return less with 3
HOP seats? Swap its two networks with those of HOP trained without walkers (seed 0 each, 5x5
Snowdrift config): the goal model (beliefs and the co-players inside the search) and the planner
net (prior and leaf value) each from one of the two runs; focal return per agent in self-play
(4 HOP seats) and with 3 HOP seats next to 1 random / 1 cleaner co-player, K=2 episodes x 16 envs.
    PYTHONPATH=. python benchmarks/results/issue14_adaptation_cpu/assign_swap.py [fraction]"""
import sys

import jax
import jax.numpy as jnp
import numpy as np

from hopjax.runtime import adaptation as ad

frac = sys.argv[1] if len(sys.argv) > 1 else "0.5"
cfg_off = ad.hop_config("configs/snowdrift_hop.yaml", [])
cfg_on = ad.hop_config("configs/snowdrift_hop.yaml", [f"goal_assign_fraction={frac}"])
tr_off, p_off, _ = ad.hop_agents(cfg_off, 1, None)
_, p_on, _ = ad.hop_agents(cfg_on, 1, None)
p_off, p_on = p_off[0], p_on[0]
runs = {"self-play": jax.jit(ad.hop_adaptation(tr_off, 2, 16, 4, None)),
        "3 HOP + random": jax.jit(ad.hop_adaptation(tr_off, 2, 16, 3, ("random",))),
        "3 HOP + cleaner": jax.jit(ad.hop_adaptation(tr_off, 2, 16, 3, ("cleaner",)))}
print(f"goal model / planner net from: off = f 0, on = f {frac}")
for name, fn in runs.items():
    for g, pl in (("off", "off"), ("on", "off"), ("off", "on"), ("on", "on")):
        params = {"goal": (p_on if g == "on" else p_off)["goal"], "planner": (p_on if pl == "on" else p_off)["planner"]}
        m = fn(jax.random.PRNGKey(1), params, jnp.int32(0))
        print(f"  {name:16s} goal {g:3s} planner {pl:3s}: focal return per episode "
              f"{np.asarray(m['focal_return']).round(2)}, belief acc {np.asarray(m['belief_accuracy']).round(3)}")
