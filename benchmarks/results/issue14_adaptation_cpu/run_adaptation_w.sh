#!/bin/bash
# Issue 14: run_adaptation.sh's protocol with HOP trained with goal_walker_envs=W, on one CPU core.
#   bash benchmarks/results/issue14_adaptation_cpu/run_adaptation_w.sh CORE HOP_CONFIG POP_SPEC POP_DIR TAG W SEEDS SEATS...
# e.g. ... 0 configs/stag_hunt_hop.yaml configs/populations/stag_hunt.yaml runs/issue14/populations/stag_hunt_v2 sh_w16 16 6 1 3
# EXTRA_SET=KEY=VALUE in the environment adds one more --set to the HOP config.
set -eux
core=$1; cfg=$2; spec=$3; pop=$4; tag=$5; w=$6; seeds=$7; shift 7
cd "$(git rev-parse --show-toplevel)"
export JAX_PLATFORMS=cpu PYTHONPATH=.
date; uptime
time taskset -c $core python -m hopjax.runtime.cli population train $spec --out $pop --no-progress
env_name=$(python -c "import yaml; print(yaml.safe_load(open('$cfg'))['env'])")
for seats in "$@"; do
  date; uptime
  time taskset -c $core python -m hopjax.runtime.cli eval $cfg --set goal_walker_envs=$w ${EXTRA_SET:+--set $EXTRA_SET} \
    --seeds $seeds --episodes 5 --envs 16 --population $pop --baseline-steps 32000 --focal-seats $seats \
    --baseline PPO=configs/${env_name}_ppo.yaml --baseline PPO+OMG=configs/${env_name}_omg.yaml \
    --baseline PPO+MOA=configs/${env_name}_moa.yaml --out runs/issue14/${tag}_seat$seats
  name=$(python -c "import yaml,sys; print(yaml.safe_load(open('$cfg'))['name'])")
  taskset -c $core python benchmarks/issue14_verdict.py runs/issue14/${tag}_seat$seats/${name}_adapt/adaptation.json
done
date; uptime
