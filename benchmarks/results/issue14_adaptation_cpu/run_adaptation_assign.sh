#!/bin/bash
# Issue 14, Snowdrift: run_adaptation.sh's protocol with HOP trained with assigned-target walkers
# in its self-play (goal_assign_fraction, hopjax/algos/hop/assign.py). The population is reused
# if present (population train skips members already trained); on one CPU core (taskset -c 1).
# goal_assign_fraction was replaced by goal_walker_envs (run_adaptation_walkers.sh): this script
# runs at commit 858eb72, not later.
#   bash benchmarks/results/issue14_adaptation_cpu/run_adaptation_assign.sh [fraction] [seats...]
set -eux
frac=${1:-0.5}; shift || true
seats_list=${*:-1 3}
tag=assign${frac}; [ "$frac" = 0 ] && tag=off
cd "$(git rev-parse --show-toplevel)"
export JAX_PLATFORMS=cpu PYTHONPATH=.
pop=runs/issue14/populations/snowdrift
date; uptime
time taskset -c 1 python -m hopjax.runtime.cli population train configs/populations/snowdrift.yaml --out $pop --no-progress
for seats in $seats_list; do
  date; uptime
  time taskset -c 1 python -m hopjax.runtime.cli eval configs/snowdrift_hop.yaml --set goal_assign_fraction=$frac \
    --seeds 3 --episodes 5 --envs 16 --population $pop --baseline-steps 32000 --focal-seats $seats \
    --out runs/issue14/snowdrift_${tag}_seat$seats
  taskset -c 1 python benchmarks/issue14_verdict.py runs/issue14/snowdrift_${tag}_seat$seats/snowdrift_hop_adapt/adaptation.json
done
date; uptime
