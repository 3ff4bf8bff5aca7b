#!/bin/bash
cd /work/main
source /work/venv/bin/activate
run_hop() { hopjax train configs/stag_hunt_hop.yaml --set env_kwargs.height=8 --set env_kwargs.width=8 --set env_kwargs.num_walls=5 --set env_kwargs.max_steps=35 --set total_steps=1e6 --set seed=$1 --set name=hop_8x8_s$1 --out /tmp/s23/sp/runs --no-progress > /tmp/s23/sp/hop_s$1.log 2>&1; }
(run_hop 0; run_hop 2) &
(run_hop 1; run_hop 3) &
wait
hopjax sweep configs/stag_hunt_ppo.yaml --seeds 4 --set total_steps=1e6 --out /tmp/s23/sp/runs --no-progress > /tmp/s23/sp/ppo.log 2>&1
echo done > /tmp/s23/sp/DONE
