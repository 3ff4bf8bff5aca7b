"""Render a few frames of each hopjax grid world, played by scripted co-players, to PNG files.

Usage: python scripts/render_frames.py OUT_DIR [--steps 6] [--seed 0]

Stag-Hunt seats: stag, stag, hare, random; Snowdrift seats: cleaner, cleaner, fix, random.
Files: OUT_DIR/{env}_t{step:02d}.png.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from hopjax.envs import make  # noqa: E402
from hopjax.envs.scripted import team_policy  # noqa: E402

TEAMS = {
    "stag_hunt": ("stag", "stag", "hare", "random"),
    "snowdrift": ("cleaner", "cleaner", "fix", "random"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out_dir")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    for name, team in TEAMS.items():
        env, params = make(name)
        act = jax.jit(team_policy(name, team))
        step = jax.jit(env.step)
        render = jax.jit(env.render)
        key = jax.random.PRNGKey(args.seed)
        key, sub = jax.random.split(key)
        obs, state = jax.jit(env.reset)(sub, params)
        for t in range(args.steps + 1):
            path = os.path.join(args.out_dir, f"{name}_t{t:02d}.png")
            plt.imsave(path, np.asarray(render(state, params)))
            print(path)
            if t == args.steps:
                break
            key, k_act, k_step = jax.random.split(key, 3)
            actions = act(k_act, obs, state, params)
            obs, state, rewards, dones, info = step(k_step, state, actions, params)
            if bool(dones.episode):
                break


if __name__ == "__main__":
    main()
