#!/bin/bash
# The runs of this folder, from the repository root with hopjax installed; RUNS is where they go
# (the session used a scratch dir). Two HOP seeds at a time on the 2 cores, then PPO's sweep.
RUNS=${RUNS:-runs/issue14_selfplay_8x8}
run_hop() { hopjax train configs/stag_hunt_hop.yaml --set env_kwargs.height=8 --set env_kwargs.width=8 --set env_kwargs.num_walls=5 --set env_kwargs.max_steps=35 --set total_steps=1e6 --set seed=$1 --set name=hop_8x8_s$1 --out "$RUNS" --no-progress > "$RUNS/hop_s$1.log" 2>&1; }
mkdir -p "$RUNS"
(run_hop 0; run_hop 2) &
(run_hop 1; run_hop 3) &
wait
hopjax sweep configs/stag_hunt_ppo.yaml --seeds 4 --set total_steps=1e6 --out "$RUNS" --no-progress > "$RUNS/ppo.log" 2>&1
python benchmarks/results/issue14_selfplay_8x8_cpu/analyse.py "$RUNS"
