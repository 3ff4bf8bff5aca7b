"""Issue 14, 3 focal seats on Stag-Hunt: why does HOP's focal return fall across the K episodes?

Trains (or reloads) the same HOP seeds `hopjax eval` trains, then runs the few-shot protocol of
:func:`hopjax.runtime.adaptation.hop_adaptation` with variants of what the inter-OM prior
carries from one episode to the next (``--carry``):

- ``all``: every seat's row carried (the shipped protocol; reproduces `hopjax eval`'s numbers
  with the same keys);
- ``none``: every row back to the uniform start after each episode (no inter-OM adaptation);
- ``coplayers``: only the unseen co-players' rows carried; the HOP seats' rows about each
  other back to the uniform start after each episode;
- ``team``: only the HOP seats' rows (teammates) carried, the co-players' reset.

``--team-start selfplay``: the HOP seats' rows about each other start from (and, with a reset,
go back to) the inter-OM prior that the seed's self-play training ended with (mean over its
envs and seats), instead of the uniform start.

Per episode it records the focal return, belief accuracy about the co-players and about the
HOP teammates, the prior's split over {stag, hare, none} per seat, and the focal seats'
captures of stags and hares. Writes a JSON of everything to ``--out``.

    taskset -c 1 python benchmarks/results/issue14_adaptation_cpu/session9/seat3_probe.py --seeds 12 --carry all none coplayers \
        --params runs/issue14/seat3_params --out runs/issue14/seat3_probe/x.json
"""

from __future__ import annotations

import argparse
import json
import pickle
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from hopjax.algos.hop import beliefs as bl
from hopjax.algos.hop.trainer import HOPTrainer
from hopjax.loop import Loop
from hopjax.runtime import adaptation as ad
from hopjax.runtime.adaptation import t_interval


def train_or_load(cfg, seeds: int, seed_base: int, cache: Path):
    """-> [(params, final self-play prior [E, N, G+1])] per seed, cached as pickles."""
    cache.mkdir(parents=True, exist_ok=True)
    trainer = HOPTrainer(cfg)
    train = None
    out = []
    for s, key in enumerate(ad._seed_keys(seed_base, seeds)):
        f = cache / f"seedbase{seed_base}_n{seeds}_s{s}.pkl"
        if f.exists():
            out.append(pickle.loads(f.read_bytes()))
            continue
        if train is None:
            train = jax.jit(Loop(trainer).train)
        t0 = time.perf_counter()
        st, m = jax.device_get(train(key))
        print(f"  trained seed {s}: {time.perf_counter() - t0:.1f}s, self-play return (last 10%) "
              f"{np.mean(m['mean_return'][-max(1, len(m['mean_return']) // 10):]):.3f}", flush=True)
        item = (st.params, np.asarray(st.prior))
        f.write_bytes(pickle.dumps(item))
        out.append(item)
    return trainer, out


def adapt_fn(trainer, episodes, num_envs, num_focal, policies, carry: str, team_start: str):
    env, p = trainer.env, trainer.env_params
    n = env.num_agents(p)
    hop = jnp.arange(n) < num_focal
    kinds = jnp.asarray(trainer.goal_policy.kinds)  # [G] kind ids
    G = int(kinds.shape[0])
    kind_ids = sorted(set(int(k) for k in trainer.goal_policy.kinds))

    def split(probs):  # [..., G+1] -> [..., n_kinds + 1] mass per kind, then none
        parts = [jnp.sum(jnp.where(kinds == k, probs[..., :G], 0.0), -1) for k in kind_ids]
        return jnp.stack(parts + [probs[..., G]], -1)

    def fn(key, params, sp_prior, kind):
        runner = trainer.make_runner(num_envs, tuple(range(num_focal)),
                                     ad._scripted(env.name, n, num_focal, policies, kind), None,
                                     ad._pursuit(env.name, n, num_focal, policies, kind))
        uni = bl.uniform_prior((num_envs, n, G + 1), trainer.cfg.inter_om_prior_weight)
        if team_start == "selfplay":
            sp = jnp.broadcast_to(jnp.mean(sp_prior, (0, 1)), (num_envs, n, G + 1))
            start = jnp.where(hop[None, :, None], sp, uni)
        else:
            start = uni
        keep = {"all": jnp.ones((n,), bool), "none": jnp.zeros((n,), bool),
                "coplayers": ~hop, "team": hop}[carry]

        def episode(prior, k):
            batch, trace = runner.play(k, params, prior)
            m = ad._episode_summary(trace.returns, num_focal, False)
            steps = trace.belief_steps
            m["belief_accuracy"] = jnp.sum(trace.belief_acc * steps) / jnp.maximum(steps.sum(), 1.0)
            # accuracy of the HOP seats' beliefs about each other (hindsight goal)
            T = trace.log_beliefs.shape[1]
            acc = bl.mass_on(trace.log_beliefs, bl.label_with_none(batch["goal_label"][:, :T], G))
            v = ad.step_mask(batch) & hop
            m["team_accuracy"] = jnp.sum(jnp.where(v, acc, 0.0)) / jnp.maximum(jnp.sum(v), 1)
            # what each row of the prior used in this episode says, by kind (mean over envs)
            m["prior_split"] = jnp.mean(split(bl.prior_probs(prior)), 0)  # [N, kinds+1]
            # episode-start belief split per seat (prior restricted to present goals)
            m["start_belief_split"] = jnp.mean(split(jnp.exp(trace.log_beliefs[:, 0])), 0)
            # captures per seat by kind, per env
            gc = trace.goal_counts  # [N, G] summed over envs
            m["captures"] = jnp.stack([jnp.sum(jnp.where(kinds == kk, gc, 0.0), -1) for kk in kind_ids], -1) / num_envs
            m["returns_seat"] = trace.returns.mean(0)  # [N]
            new = trace.prior
            nxt = jnp.where(keep[None, :, None], new, start)
            return nxt, m

        _, metrics = jax.lax.scan(episode, start, jax.random.split(key, episodes))
        return metrics

    return fn


def slope(y):
    return np.array([np.polyfit(np.arange(y.shape[1]), row, 1)[0] for row in y])


def ci(x):
    m, lo, hi = (float(v) for v in t_interval(np.asarray(x)))
    return f"{m:+.3f} [{lo:+.3f}, {hi:+.3f}]"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="configs/stag_hunt_hop.yaml")
    ap.add_argument("--population", default="runs/issue14/populations/stag_hunt_v4")
    ap.add_argument("--seeds", type=int, default=12)
    ap.add_argument("--seed-base", type=int, default=None, help="training seed base (default: config seed)")
    ap.add_argument("--eval-seed", type=int, default=None, help="evaluation key base (default: config seed + 1)")
    ap.add_argument("--episodes", type=int, default=5)
    ap.add_argument("--envs", type=int, default=16)
    ap.add_argument("--focal-seats", type=int, default=3)
    ap.add_argument("--carry", nargs="+", default=["all"])
    ap.add_argument("--team-start", default="uniform", choices=["uniform", "selfplay"])
    ap.add_argument("--kinds", nargs="*", default=None, help="report only these kinds (all are run)")
    ap.add_argument("--params", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--set", action="append", default=[])
    a = ap.parse_args()

    cfg = ad.hop_config(a.config, a.set)
    seed_base = cfg.seed if a.seed_base is None else a.seed_base
    trainer, agents = train_or_load(cfg, a.seeds, seed_base, Path(a.params))
    env, env_params = trainer.env, trainer.env_params
    from hopjax.runtime import population as pop

    kinds, policies = ad.COPLAYERS[env.name], ad.COPLAYERS[env.name]
    members = pop.load_population(a.population, env.name, env_params)
    kinds += tuple(f"pop:{k.name}" for k in members)
    policies += tuple(pop.coplayer_policy(k, a.focal_seats) for k in members)
    nk = len(kinds)
    eval_seed = cfg.seed + 1 if a.eval_seed is None else a.eval_seed
    keys = jax.random.split(jax.random.PRNGKey(eval_seed), a.seeds * nk).reshape(a.seeds, nk, -1)
    out = {"args": vars(a), "kinds": list(kinds), "variants": {}}
    for carry in a.carry:
        name = f"carry={carry},team_start={a.team_start}"
        fn = jax.jit(jax.vmap(adapt_fn(trainer, a.episodes, a.envs, a.focal_seats, policies, carry, a.team_start),
                              in_axes=(0, None, None, 0)))
        t0 = time.perf_counter()
        res = [jax.device_get(fn(keys[s], agents[s][0], agents[s][1], jnp.arange(nk))) for s in range(a.seeds)]
        res = {k: np.stack([r[k] for r in res]) for k in res[0]}  # [S, kinds, K, ...]
        print(f"{name}: {time.perf_counter() - t0:.1f}s", flush=True)
        out["variants"][name] = {k: v.tolist() for k, v in res.items()}
        for c, kind in enumerate(kinds):
            if a.kinds and kind not in a.kinds:
                continue
            fr = res["focal_return"][:, c]
            mean = " ".join(f"{x:.3f}" for x in fr.mean(0))
            print(f"  {kind:<18} return/ep {mean}  slope {ci(slope(fr))}  K-1 {ci(fr[:, -1] - fr[:, 0])}"
                  f"  team acc {res['team_accuracy'][:, c].mean(0).round(2).tolist()}"
                  f"  copl acc {res['belief_accuracy'][:, c].mean(0).round(2).tolist()}", flush=True)
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(out))


if __name__ == "__main__":
    main()
