"""Issue 14, fourteenth session (exploratory, 2 HOP seeds): the intra-OM likelihood temperature
against learned PPO co-players in Stag-Hunt, evaluation only. From the repository root:
    python benchmarks/results/issue14_adaptation_cpu/session14/temperature.py SEATS POOLING
trains 2 HOP seeds (configs/stag_hunt_hop.yaml, --set seed=5), then plays
K = 5 episodes in 64 envs next to runs/populations/stag_hunt_any's PPO members with
belief_temperature 1, 2 and 4; prints belief accuracy and focal return per episode (seed means)."""
import sys, dataclasses
import jax, jax.numpy as jnp, numpy as np
from hopjax.runtime import adaptation as ad, population as pop
from hopjax.runtime.adaptation import hop_config, hop_agents
from hopjax.algos.hop import HOPTrainer
seats = int(sys.argv[1]); pooling = sys.argv[2]
cfg = hop_config("configs/stag_hunt_hop.yaml", ["seed=5"])
trainer, params, _ = hop_agents(cfg, 2, None)
members = pop.load_population("runs/populations/stag_hunt_any", "stag_hunt", trainer.env_params)
mem = [m for m in members if m.name == "ppo"][0]
for temp in [1.0, 2.0, 4.0]:
    tr = HOPTrainer(dataclasses.replace(cfg, belief_temperature=temp, inter_om_pooling=pooling))
    fn = jax.jit(ad.hop_adaptation(tr, episodes=5, num_envs=64, num_focal=seats,
                                   coplayers=(pop.coplayer_policy(mem, seats),)))
    acc, ret = [], []
    for s, p in enumerate(params):
        m = jax.device_get(fn(jax.random.PRNGKey(100 + s), p, jnp.int32(0)))
        acc.append(m["belief_accuracy"]); ret.append(m["focal_return"])
    f = lambda x: " ".join(f"{v:.3f}" for v in np.mean(x, 0))
    print(f"seats={seats} pooling={pooling} T={temp}: acc {f(acc)} | focal return {f(ret)}", flush=True)
