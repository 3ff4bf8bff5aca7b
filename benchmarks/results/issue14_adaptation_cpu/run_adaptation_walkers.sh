#!/bin/bash
# Issue 14, Snowdrift: run_adaptation.sh's protocol with HOP trained with separate walker-only
# envs for its goal model (goal_walker_envs, hopjax/algos/hop/assign.py). The population is
# reused: runs/issue14/populations/snowdrift_w is a copy of the population run_adaptation.sh
# trained (runs/issue14/populations/snowdrift, same weights) in which hop_s0's stored config
# line `goal_assign_fraction: 0.0` (the key of commit 4a3e8d6, off) was renamed to the key
# that replaced it, `goal_walker_envs: 0` (off), so that it loads and population train reuses
# every member (it says "trained earlier, reused" for all six). On one CPU core (taskset -c 1).
#   bash benchmarks/results/issue14_adaptation_cpu/run_adaptation_walkers.sh [walker_envs] [seats...]
set -eux
w=${1:-16}; shift || true
seats_list=${*:-3 1}
tag=walkers${w}; [ "$w" = 0 ] && tag=off
cd "$(git rev-parse --show-toplevel)"
export JAX_PLATFORMS=cpu PYTHONPATH=.
pop=runs/issue14/populations/snowdrift_w
date; uptime
time taskset -c 1 python -m hopjax.runtime.cli population train configs/populations/snowdrift.yaml --out $pop --no-progress
for seats in $seats_list; do
  date; uptime
  time taskset -c 1 python -m hopjax.runtime.cli eval configs/snowdrift_hop.yaml --set goal_walker_envs=$w \
    --seeds 3 --episodes 5 --envs 16 --population $pop --baseline-steps 32000 --focal-seats $seats \
    --out runs/issue14/snowdrift_${tag}_seat$seats
  taskset -c 1 python benchmarks/issue14_verdict.py runs/issue14/snowdrift_${tag}_seat$seats/snowdrift_hop_adapt/adaptation.json
done
date; uptime
