#!/bin/bash
set -x
cd "$(git rev-parse --show-toplevel)"
export JAX_PLATFORMS=cpu
date
S="--set env_kwargs.height=5 --set env_kwargs.width=5 --set env_kwargs.num_drifts=4 --set env_kwargs.max_steps=20 --set total_steps=38400 --no-progress"
time python -m hopjax.runtime.cli train configs/snowdrift_ppo.yaml $S --out runs/issue14/sd_runs
time python -m hopjax.runtime.cli eval configs/snowdrift_hop.yaml --seeds 3 --episodes 5 --envs 16 \
  --baseline PPO=runs/issue14/sd_runs/snowdrift_ppo --out runs/issue14/sd_hop
date
