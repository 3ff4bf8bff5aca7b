"""Snowdrift, HOP seed 0: how far and how directly do the players the goal model learns from (HOP
itself in self-play) walk to the drift they next shovel, next to 3 scripted nearest-drift
cleaners, and how well the trained goal model explains those moves. K=2 episodes x 16 envs each.

Self-play rows score each seat's steps before a shovel against that shovel's drift (the hindsight
label the goal model is trained on); cleaner rows score the cleaners' steps against the drift(s)
they walk to (``trace.pursued``). Per scored move step (up/down/left/right/stay): the Manhattan
distance to the target before the move, whether the move shortens it, the model's probability of
the move under the target and under "no target", and whether the target's likelihood beats the
best other present drift's.
    PYTHONPATH=. python benchmarks/results/issue14_adaptation_cpu/selfplay_walks.py \\
        [--config PATH] [key=value ...]"""
import argparse
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from hopjax.algos.hop import beliefs as bl
from hopjax.algos.hop.losses import step_mask
from hopjax.buffers.obs import decode
from hopjax.envs.moves import MOVE_DELTAS, NUM_MOVES
from hopjax.runtime import adaptation as ad

warnings.simplefilter("ignore", RuntimeWarning)  # -inf - -inf outside the scored steps
K, E = 2, 16


def setup(argv=None):
    """-> (cfg, trainer, params of HOP seed 0) for ``[--config PATH] [key=value ...]``."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="configs/snowdrift_hop.yaml")
    args, overrides = ap.parse_known_args(argv)
    cfg = ad.hop_config(args.config, overrides)
    print("config", args.config, cfg.env_kwargs, "total_steps", cfg.total_steps, *overrides)
    trainer, params, _ = ad.hop_agents(cfg, 1, None)
    return cfg, trainer, params[0]


def likelihoods(gp, goal_params, obs, avail, pos):
    """[B, T, N, G+1, A] log pi(a | o, g) for every goal and "no target"."""
    f = lambda o, a, p: gp.log_probs_all_goals(goal_params, o, a, p[None])
    return jax.jit(jax.vmap(jax.vmap(f)))(obs, avail, pos)


def table(name, gp, goal_params, batch, trace, target, scored_seats):
    """batch, trace [K, E, ...] (``hop_adaptation(..., with_episodes=True)``); target [K*E, T, N,
    G] bool: the drift(s) each step is scored against; scored_seats: the seats scored."""
    flat = lambda x: x.reshape(K * E, *x.shape[2:])
    b = jax.tree.map(flat, batch)
    T = trace.log_beliefs.shape[2]
    G = trace.log_beliefs.shape[-1] - 1
    obs = decode(b["obs"], b.data.get("obs_time"))[:, :T]
    act = np.asarray(b["actions"][:, :T]); pos = b["goal_pos"][:, :T]
    la = np.asarray(likelihoods(gp, goal_params, obs, b["avail_actions"][:, :T], pos))
    la = np.take_along_axis(la, act[..., None, None].repeat(G + 1, -2), -1)[..., 0]  # [B,T,N,G+1]
    v = np.array(jax.vmap(step_mask)(batch)).reshape(K * E, T, -1)
    v[..., [s for s in range(v.shape[-1]) if s not in scored_seats]] = False
    present = np.isfinite(np.asarray(flat(trace.log_beliefs))[..., :G])
    o = np.asarray(obs[..., 0]); W = o.shape[-1]
    cell = o.reshape(*o.shape[:3], -1).argmax(-1)
    me = np.stack([cell // W, cell % W], -1)  # [B, T, N, 2]: own cell (channel 0, egocentric order)
    dist = np.abs(np.asarray(pos)[:, :, None] - me[..., None, :]).sum(-1)  # [B, T, N, G]
    after = np.abs(np.asarray(pos)[:, :, None] - (me + MOVE_DELTAS[np.clip(act, 0, NUM_MOVES - 1)])[..., None, :]).sum(-1)
    # reference "walk to g" model (our choice): uniform over the moves that shorten the distance
    # to g (1 or 2 of them on a wall-free grid), 0.01 elsewhere; "stay" on g's cell
    diff = np.asarray(pos)[:, :, None] - me[..., None, :]
    n_short = (diff != 0).sum(-1)
    ref = np.where(dist == 0, (act == NUM_MOVES - 1)[..., None] * 1.0, (after < dist) / np.maximum(n_short, 1))
    ref = np.log(np.maximum(ref, 0.01))  # [B, T, N, G]
    ref_t = np.where(target, ref, -np.inf).max(-1)
    ref_other = np.where(~target & present, ref, -np.inf).max(-1)
    d = np.where(target, dist, 10 ** 6).min(-1)
    toward = (np.where(target, after, 10 ** 6).min(-1) < d)
    lp_t = np.where(target, la[..., :G], -np.inf).max(-1); lp_n = la[..., G]
    other = np.where(~target & present, la[..., :G], -np.inf).max(-1)
    scored = v & target.any(-1) & (act < NUM_MOVES)
    print(f"{name}: scored move steps {scored.sum()}, shovels {(v & target.any(-1) & (act >= NUM_MOVES)).sum()}")
    print("  dist  n (share)      toward  stay  p(a|target)  p(a|none)  mean log ratio  target > best other (n)  reference model: target > best other")
    for lo, hi in ((1, 1), (2, 2), (3, 3), (4, 99)):
        s = scored & (d >= lo) & (d <= hi)
        if not s.sum():
            continue
        so = s & np.isfinite(other)
        print(f"  {lo}-{hi:<3} {s.sum():4d} ({s.sum() / scored.sum():.2f})  {toward[s].mean():.2f}    "
              f"{(act[s] == NUM_MOVES - 1).mean():.2f}  {np.exp(lp_t[s]).mean():.3f}        {np.exp(lp_n[s]).mean():.3f}      "
              f"{(lp_t - lp_n)[s].mean():+.2f}           "
              f"{(lp_t > other)[so].mean() if so.sum() else float('nan'):.2f} ({so.sum()})  "
              f"{(ref_t > ref_other)[so].mean() if so.sum() else float('nan'):.2f}")
    so = scored & np.isfinite(other)
    print(f"  all  {scored.sum():4d}         {toward[scored].mean():.2f}    {(act[scored] == NUM_MOVES - 1).mean():.2f}"
          f"  {np.exp(lp_t[scored]).mean():.3f}        {np.exp(lp_n[scored]).mean():.3f}      "
          f"{(lp_t - lp_n)[scored].mean():+.2f}           {(lp_t > other)[so].mean():.2f} ({so.sum()})  "
          f"{(ref_t > ref_other)[so].mean():.2f}")
    pres = present & (act < NUM_MOVES)[..., None] & scored[..., None]
    spread = np.where(pres, np.exp(la[..., :G]), -1).max(-1) - np.where(pres, np.exp(la[..., :G]), 2).min(-1)
    many = scored & (pres.sum(-1) >= 2)
    print(f"  max - min over present drifts of p(a|drift), steps with >= 2 present: model "
          f"{spread[many].mean():.3f}, reference "
          f"{(np.where(pres, np.exp(ref), -1).max(-1) - np.where(pres, np.exp(ref), 2).min(-1))[many].mean():.3f}")
    print(f"  p(a|target) < 0.05 on {(np.exp(lp_t[scored]) < 0.05).mean():.2f} of the scored move steps")


def main():
    cfg, trainer, params = setup()
    gp = trainer.goal_policy
    sp = jax.jit(ad.hop_adaptation(trainer, K, E, 1, None, with_episodes=True))
    _, (batch, trace) = sp(jax.random.PRNGKey(1), params, jnp.int32(0))
    T = trace.log_beliefs.shape[2]; G = trace.log_beliefs.shape[-1] - 1
    flat = lambda x: x.reshape(K * E, *x.shape[2:])
    b = jax.tree.map(flat, batch)
    lab = np.asarray(bl.hindsight_labels(b["goal"][:, :T], jax.vmap(step_mask)(batch).reshape(K * E, T, -1), axis=1))
    target = (lab[..., None] == np.arange(G)) & (lab[..., None] >= 0)
    table("HOP self-play, every seat vs its hindsight drift", gp, params["goal"], batch, trace, target, range(lab.shape[-1]))

    cl = jax.jit(ad.hop_adaptation(trainer, K, E, 1, ("cleaner",), with_episodes=True))
    _, (batch, trace) = cl(jax.random.PRNGKey(1), params, jnp.int32(0))
    pur = np.asarray(flat(trace.pursued))[..., :G]
    table("3 cleaners (seats 1-3) vs their pursued drift(s)", gp, params["goal"], batch, trace, pur, (1, 2, 3))


if __name__ == "__main__":
    main()
