#!/bin/bash
# Issue 14 done-when on the small CPU Snowdrift: population, then HOP vs PPO / PPO+OMG / PPO+MOA
# against scripted and learned co-players, focal agent in 1 seat, then 3 seats.
set -x
cd "$(git rev-parse --show-toplevel)"
export JAX_PLATFORMS=cpu
date; uptime
time python -m hopjax.runtime.cli population train configs/populations/snowdrift.yaml --out runs/issue14/populations/snowdrift --no-progress
date; uptime
time python -m hopjax.runtime.cli eval configs/snowdrift_hop.yaml --seeds 3 --episodes 5 --envs 16 \
  --population runs/issue14/populations/snowdrift --baseline-steps 32000 --out runs/issue14/sd_seat1
date; uptime
time python -m hopjax.runtime.cli eval configs/snowdrift_hop.yaml --seeds 3 --episodes 5 --envs 16 \
  --population runs/issue14/populations/snowdrift --baseline-steps 32000 --focal-seats 3 --out runs/issue14/sd_seat3
date; uptime
