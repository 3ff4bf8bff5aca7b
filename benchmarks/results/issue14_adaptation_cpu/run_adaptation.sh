#!/bin/bash
# Issue 14 done-when on a small CPU config: population, then HOP vs PPO / PPO+OMG / PPO+MOA against
# scripted and learned co-players, focal agent in 1 seat, then 3 seats.
#   bash benchmarks/results/issue14_adaptation_cpu/run_adaptation.sh stag_hunt   # or snowdrift
set -eux
env_name=${1:?usage: run_adaptation.sh stag_hunt|snowdrift}
cd "$(git rev-parse --show-toplevel)"
export JAX_PLATFORMS=cpu
pop=runs/issue14/populations/$env_name
date; uptime
time python -m hopjax.runtime.cli population train configs/populations/$env_name.yaml --out $pop --no-progress
for seats in 1 3; do
  date; uptime
  time python -m hopjax.runtime.cli eval configs/${env_name}_hop.yaml --seeds 3 --episodes 5 --envs 16 \
    --population $pop --baseline-steps 32000 --focal-seats $seats --out runs/issue14/${env_name}_seat$seats
done
date; uptime
