"""Issue 14, thirteenth session: learned PPO co-players in Stag-Hunt, where does HOP's belief
accuracy come from? Run from the repository root:

    python benchmarks/results/issue14_adaptation_cpu/session13/ppo_diag.py POOLING SEATS [KEY=VALUE ...]

trains 6 HOP seeds (configs/stag_hunt_hop.yaml, --set inter_om_pooling=POOLING seed=3), then
plays K = 5 episodes in 64 envs with HOP in SEATS seats next to the population's PPO members
(runs/populations/stag_hunt_any). Per episode, mean over seeds: the share of the PPO seats'
scored steps labelled "no target", belief accuracy (mass on the true goal) on those steps, on
the target-labelled steps and on all, the mean log of that mass (a proper score), and the mass
on "no target" at steps 0 and 3; then episode 5 minus episode 1 with a 95 % t-interval over
the seeds. Further KEY=VALUE arguments are config overrides for HOP (the fourteenth session ran
``any 1 adapt_goal_steps=15`` and ``any 3 adapt_goal_steps=15`` at commit 7b4c814, the only
commit with that key)."""
import sys

import jax
import jax.numpy as jnp
import numpy as np
from hopjax.runtime import adaptation as ad, population as pop
from hopjax.algos.hop import beliefs as bl
from hopjax.runtime.adaptation import hop_config, hop_agents

pooling = sys.argv[1]; seats = int(sys.argv[2]); extra = sys.argv[3:]
cfg = hop_config("configs/stag_hunt_hop.yaml", [f"inter_om_pooling={pooling}", "seed=3", *extra])
trainer, params, _ = hop_agents(cfg, 6, None)
members = pop.load_population("runs/populations/stag_hunt_any", "stag_hunt", trainer.env_params)
ppo = [m for m in members if m.name == "ppo"][0]
fn = ad.hop_adaptation(trainer, episodes=5, num_envs=64, num_focal=seats,
                       coplayers=(pop.coplayer_policy(ppo, seats),), with_episodes=True)
run = jax.jit(fn)
T, G = trainer.runner.T, trainer.runner.G
rows = []
for s, p in enumerate(params):
    m, (batch, trace) = run(jax.random.PRNGKey(100 + s), p, jnp.int32(0))
    lab = bl.label_with_none(jnp.asarray(batch.data["goal_label"])[..., :T, :], G)  # [K, E, T, N]
    v = np.asarray(batch.filled)[..., :T, None] & np.asarray(batch.alive)[..., :T, :]
    v[..., :seats] = False
    lab = np.asarray(lab); lb = np.asarray(trace.log_beliefs)  # [K, E, T, N, G+1]
    acc = np.exp(np.take_along_axis(lb, lab[..., None], -1)[..., 0])
    none = lab == G
    pn = np.exp(lb[..., G])
    r = []
    for k in range(5):
        vk, nk = v[k], none[k]
        r.append([nk[vk].mean(), acc[k][vk & nk].mean(), acc[k][vk & ~nk].mean(), acc[k][vk].mean(),
                  np.log(np.maximum(acc[k][vk], 1e-6)).mean(),
                  pn[k][:, 0][v[k][:, 0]].mean(), pn[k][:, 3][v[k][:, 3]].mean()])
    rows.append(r)
rows = np.asarray(rows)  # [S, K, 7]
names = ["share none", "acc on none", "acc on target", "acc", "log score", "P(none) t=0", "P(none) t=3"]
print(f"pooling={pooling} seats={seats}{''.join(' ' + e for e in extra)}, {len(params)} HOP seeds x 64 envs, mean over seeds")
print("| episode | " + " | ".join(names) + " |")
print("|---" * (len(names) + 1) + "|")
for k in range(5):
    print(f"| {k + 1} | " + " | ".join(f"{x:.3f}" for x in rows[:, k].mean(0)) + " |")
d = rows[:, 4] - rows[:, 0]  # episode 5 - episode 1, per seed
from scipy import stats
for j, nm in enumerate(names):
    m, se = d[:, j].mean(), d[:, j].std(ddof=1) / np.sqrt(len(d))
    t = stats.t.ppf(0.975, len(d) - 1)
    print(f"episode 5 - 1, {nm}: {m:+.3f} [{m - t * se:+.3f}, {m + t * se:+.3f}]")
