"""4 nearest-drift cleaners on the small Snowdrift: how often is a cleaner's hindsight label
'no target' while a drift is still present?"""
import jax, jax.numpy as jnp, numpy as np
from hopjax import envs
from hopjax.envs.scripted import drift_cleaner
from hopjax.algos.hop import beliefs as bl
env, p = envs.make("snowdrift", height=5, width=5, num_drifts=4, max_steps=20)
def episode(key):
    k0, key = jax.random.split(key)
    obs, st = env.reset(k0, p)
    def step(carry, k):
        st, done = carry
        ks = jax.random.split(k, 5)
        a = jnp.stack([drift_cleaner(ks[i], obs, st, p, jnp.int32(i)) for i in range(4)])
        _, st2, r, d, info = env.step(ks[4], st, a, p)
        present = jnp.sum(env.goals_present(st, p))
        out = (info["goal"], ~done, present)
        return (st2, done | d.terminated | d.truncated), out
    _, (goal, valid, present) = jax.lax.scan(step, (st, jnp.bool_(False)), jax.random.split(key, 20))
    return goal, valid, present
goal, valid, present = jax.jit(jax.vmap(episode))(jax.random.split(jax.random.PRNGKey(0), 512))
v = np.broadcast_to(np.asarray(valid)[..., None], goal.shape)
lab = np.asarray(bl.hindsight_labels(goal, jnp.asarray(v), axis=1))
pres = np.broadcast_to(np.asarray(present)[..., None], goal.shape)
m = v & (pres > 0)
print(f"cleaner steps with a drift present: {m.sum()}; labelled 'no target': {np.mean(lab[m] < 0):.2f}")
print(f"mean drifts present over those steps: {pres[m].mean():.2f}; chance 1/(present+1): {np.mean(1/(pres[m]+1)):.2f}")
