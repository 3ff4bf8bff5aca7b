"""Snowdrift (small CPU config), HOP seed 0 vs 3 nearest-drift cleaners, K=2 episodes x 16 envs:
the trained goal model's likelihood of each cleaner action under its pursued drift, under "no
target" and under the best other present drift. ``--config PATH`` picks another HOP Snowdrift config
(default configs/snowdrift_hop.yaml); other args are config overrides (key=value).
    PYTHONPATH=. python benchmarks/results/issue14_adaptation_cpu/cleaner_likelihood.py [total_steps=128000]
    PYTHONPATH=. python benchmarks/results/issue14_adaptation_cpu/cleaner_likelihood.py \
        --config benchmarks/results/issue14_adaptation_cpu/snowdrift6_hop.yaml"""
import jax, jax.numpy as jnp, numpy as np
from hopjax.runtime import adaptation as ad
from hopjax.algos.hop.losses import step_mask
from hopjax.buffers.obs import decode
import argparse
ap = argparse.ArgumentParser()
ap.add_argument("--config", default="configs/snowdrift_hop.yaml")
args, overrides = ap.parse_known_args()
cfg = ad.hop_config(args.config, overrides)
print("config", args.config, cfg.env_kwargs, "total_steps", cfg.total_steps, *overrides)
trainer, params, _ = ad.hop_agents(cfg, 1, None)
fn = jax.jit(ad.hop_adaptation(trainer, 2, 16, 1, ("cleaner",), with_episodes=True))
m, (batch, trace) = fn(jax.random.PRNGKey(1), params[0], jnp.int32(0))
K, E = 2, 16
T = trace.log_beliefs.shape[2]; G = trace.log_beliefs.shape[-1] - 1
flat = lambda x: x.reshape(K * E, *x.shape[2:])
b = jax.tree.map(flat, batch)
obs = decode(b["obs"], b.data.get("obs_time"))[:, :T]  # [B, T, N, H, W, C]
avail = b["avail_actions"][:, :T]; act = b["actions"][:, :T]; pos = b["goal_pos"][:, :T]
gp = trainer.goal_policy
logp = jax.jit(jax.vmap(jax.vmap(lambda o, a, p: gp.log_probs_all_goals(params[0]["goal"], o, a, p[None]))))(obs, avail, pos)  # [B,T,N,G+1,A]
logp = np.asarray(logp); act = np.asarray(act)
la = np.take_along_axis(logp, act[..., None, None].repeat(G + 1, -2), -1)[..., 0]  # [B,T,N,G+1]
pur = np.asarray(flat(trace.pursued))  # [B,T,N,G+1]
v = np.array(jax.vmap(step_mask)(batch)).reshape(K * E, T, -1)
v[..., 0] = False
goal_steps = v & pur[..., :G].any(-1)
lp_goal = np.where(pur[..., :G], la[..., :G], -np.inf).max(-1)
lp_none = la[..., G]
d = (lp_goal - lp_none)[goal_steps]
print("steps", goal_steps.sum(), "mean log-lik ratio pursued drift vs none (inf: shovels have 0 under none)", d.mean().round(3),
      "frac > 0", (d > 0).mean().round(3))
print("mean prob of the action: pursued drift", np.exp(lp_goal[goal_steps]).mean().round(3),
      "none", np.exp(lp_none[goal_steps]).mean().round(3))
# best other drift
other = np.where(~pur[..., :G] & np.isfinite(la[..., :G]) & np.isfinite(np.asarray(flat(trace.log_beliefs))[..., :G]), la[..., :G], -np.inf).max(-1)
ok = goal_steps & np.isfinite(other)
print("vs best other present drift: frac pursued > other", ((lp_goal > other)[ok]).mean().round(3), "n", ok.sum())
shovel = goal_steps & (act == 5)
print("shovel steps", shovel.sum(), "prob shovel under pursued", np.exp(lp_goal[shovel]).mean().round(3) if shovel.sum() else None)
mv = goal_steps & (act < 4)
print("move steps", mv.sum(), "prob under pursued", np.exp(lp_goal[mv]).mean().round(3), "under none", np.exp(lp_none[mv]).mean().round(3),
      "mean log-lik ratio", (lp_goal - lp_none)[mv].mean().round(3))  # finite: "none" gives moves > 0
print("episode pursuit accuracy", np.asarray(m["pursuit_accuracy"]).round(3), "chance",
      (np.asarray(m["pursuit_chance_sum_t"]).sum(-1) / np.asarray(m["pursuit_steps_t"]).sum(-1)).round(3))
# by distance: a cleaner's own cell is channel 0 of its observation (egocentric order); its
# Manhattan distance to the nearest drift it pursues, on its move steps toward that drift
o = np.asarray(obs[..., 0])  # [B, T, N, H, W]
W = o.shape[-1]
cell = o.reshape(*o.shape[:3], -1).argmax(-1)
me = np.stack([cell // W, cell % W], -1)  # [B, T, N, 2]
gpos = np.asarray(pos)[:, :, None]  # [B, T, 1, G, 2]
dist = np.abs(gpos - me[..., None, :]).sum(-1)  # [B, T, N, G]
dmin = np.where(pur[..., :G], dist, 10 ** 6).min(-1)
print("move steps by distance to the pursued drift (before the move):")
for lo, hi in ((1, 1), (2, 2), (3, 3), (4, 99)):
    s = mv & (dmin >= lo) & (dmin <= hi)
    if s.sum():
        okd = s & np.isfinite(other)
        print(f"  d {lo}-{hi}: n {s.sum()}, prob under pursued {np.exp(lp_goal[s]).mean():.3f}, "
              f"none {np.exp(lp_none[s]).mean():.3f}, frac pursued > best other "
              f"{(lp_goal > other)[okd].mean() if okd.sum() else float('nan'):.3f} (n {okd.sum()})")
