"""Is it the data or the model? A fresh goal model (the config's architecture) fitted offline to
convergence on one source of Snowdrift episodes, then scored like ``selfplay_walks.py`` on
held-out self-play and cleaner episodes (HOP seed 0 as the focal/self-play agent), and put in
HOP seed 0 in place of its own goal model against 3 cleaners (belief mass on the pursued drift).

Sources (512 episodes each, 16 draws of 2 x 16 envs, keys 100-115; the held-out episodes are
key 1, as in selfplay_walks.py): ``selfplay`` - every seat of HOP's self-play with its
hindsight label (what HOP's own goal model trains on); ``cleaner`` - seats 1-3 of the episodes
with 3 nearest-drift cleaners, hindsight labels (seat 0, HOP, unlabelled). Adam, the config's
lr, minibatches of ``batch_episodes`` episodes, ``--steps`` updates.
    PYTHONPATH=. python benchmarks/results/issue14_adaptation_cpu/goal_fit.py \\
        [--config PATH] [--steps 3000] [key=value ...]"""
import argparse
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import selfplay_walks as sw  # noqa: E402

from hopjax.algos.hop import beliefs as bl  # noqa: E402
from hopjax.algos.hop.losses import goal_loss, step_mask  # noqa: E402
from hopjax.runtime import adaptation as ad  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--steps", type=int, default=3000)
args, rest = ap.parse_known_args()
cfg, trainer, params = sw.setup(rest)
gp, K, E = trainer.goal_policy, sw.K, sw.E
runs = {"selfplay": jax.jit(ad.hop_adaptation(trainer, K, E, 1, None, with_episodes=True)),
        "cleaner": jax.jit(ad.hop_adaptation(trainer, K, E, 1, ("cleaner",), with_episodes=True))}
flat = lambda x: x.reshape(K * E, *x.shape[2:])


def collect(source):
    parts = []
    for k in range(100, 116):
        _, (batch, _) = runs[source](jax.random.PRNGKey(k), params, jnp.int32(0))
        parts.append(jax.tree.map(flat, batch))
    b = jax.tree.map(lambda *x: jnp.concatenate(x), *parts)
    T = b.max_seq_length
    lab = bl.hindsight_labels(b["goal"][:, :T], step_mask(b), axis=1)
    if source == "cleaner":
        lab = lab.at[..., 0].set(-1)
    lab = jnp.concatenate([lab, jnp.full_like(lab[:, :1], -1)], 1)
    return b.replace(data=dict(b.data, goal_label=lab))


def fit(data, key):
    opt = optax.adam(cfg.lr)
    p0 = gp.init(key)
    n, m = data["goal_label"].shape[0], cfg.batch_episodes

    def step(carry, k):
        p, s = carry
        mb = jax.tree.map(lambda x: x[jax.random.choice(k, n, (m,), replace=False)], data)
        (loss, aux), g = jax.value_and_grad(lambda q: goal_loss(gp, q, mb), has_aux=True)(p)
        u, s = opt.update(g, s, p)
        return (optax.apply_updates(p, u), s), loss

    (p, _), losses = jax.jit(lambda k: jax.lax.scan(step, (p0, opt.init(p0)), jax.random.split(k, args.steps)))(key)
    losses = np.asarray(losses)
    print(f"  fitted {args.steps} steps: loss first 100 {losses[:100].mean():.3f}, last 100 {losses[-100:].mean():.3f}")
    return p


_, (sp_batch, sp_trace) = runs["selfplay"](jax.random.PRNGKey(1), params, jnp.int32(0))
_, (cl_batch, cl_trace) = runs["cleaner"](jax.random.PRNGKey(1), params, jnp.int32(0))
T = sp_trace.log_beliefs.shape[2]; G = sp_trace.log_beliefs.shape[-1] - 1
b = jax.tree.map(flat, sp_batch)
lab = np.asarray(bl.hindsight_labels(b["goal"][:, :T], jax.vmap(step_mask)(sp_batch).reshape(K * E, T, -1), axis=1))
sp_target = (lab[..., None] == np.arange(G)) & (lab[..., None] >= 0)
cl_target = np.asarray(flat(cl_trace.pursued))[..., :G]


def beliefs(name, goal_params):
    """HOP seed 0 with ``goal_params`` as its goal model (beliefs and the tree's co-players) next
    to 3 cleaners, the held-out key: belief mass on the pursued drift(s) vs chance, per episode."""
    m = runs["cleaner"](jax.random.PRNGKey(1), dict(params, goal=goal_params), jnp.int32(0))[0]
    chance = np.asarray(m["pursuit_chance_sum_t"]).sum(-1) / np.asarray(m["pursuit_steps_t"]).sum(-1)
    print(f"  {name}: pursued-target mass per episode {np.asarray(m['pursuit_accuracy']).round(3)}, "
          f"chance {chance.round(3)}, focal return {np.asarray(m['focal_return']).round(2)}")


beliefs("HOP's own goal model (trained in its self-play loop)", params["goal"])
for source in ("selfplay", "cleaner"):
    data = collect(source)
    print(f"=== goal model fitted on {source} episodes ({data['goal_label'].shape[0]}; labelled steps "
          f"{int(((data['goal_label'] >= 0)).sum())})")
    p = fit(data, jax.random.PRNGKey(7))
    sw.table(f"[{source} fit] held-out HOP self-play, every seat vs its hindsight drift", gp, p,
             sp_batch, sp_trace, sp_target, range(lab.shape[-1]))
    sw.table(f"[{source} fit] held-out 3 cleaners vs their pursued drift(s)", gp, p,
             cl_batch, cl_trace, cl_target, (1, 2, 3))
    beliefs(f"HOP with the goal model fitted on {source} episodes", p)
