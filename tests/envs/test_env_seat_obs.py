"""Environment.seat_obs: only some seats' observations, equal to get_obs's rows."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hopjax import envs


@pytest.mark.parametrize("name", ["stag_hunt", "snowdrift"])
def test_seat_obs_equals_get_obs_rows(name):
    env, p = envs.make(name, height=4, width=5, num_walls=0)
    _, state = env.reset(jax.random.PRNGKey(0), p)
    n, a = env.num_agents(p), env.num_actions(p)
    for t in range(6):  # a few random steps: players move, targets/players may leave
        acts = jax.random.randint(jax.random.PRNGKey(t + 1), (n,), 0, a)
        _, state, *_ = env.step(jax.random.PRNGKey(0), state, acts, p)
        full = np.asarray(env.get_obs(state, p))
        for seats in ([0], [n - 1, 0], [1 % n, n - 1, 0]):  # 2-4 seats per env
            got = np.asarray(env.seat_obs(state, p, jnp.asarray(seats)))
            np.testing.assert_array_equal(got, full[seats])
        np.testing.assert_array_equal(np.asarray(env.seat_obs(state, p, None)), full)
