#!/usr/bin/env bash
# The prepared GPU run for the opponent-model speed figures (issue 15). From the repository root:
#   bash benchmarks/gpu_opponent_models.sh [OUT_DIR] [REF_COMMIT]
# 1. the whole table (MCTS 1 / 1,024 envs, HOP self-play training, PPO+OMG/MOA vs PPO) with ratios
#    to the H200 figures of main cf06dbe and to the targets;
# 2. OMG/MOA per-stage cost, this tree next to REF_COMMIT (default d064aca, before the speed-up);
# 3. the search's stage breakdown (leave-a-stage-out variants), 1,024 envs;
# 4. hopjax's planner vs the host-loop PUCT reference at 1 and 64 envs;
# 5. a device profile of a PPO / PPO+OMG / PPO+MOA update by stage and kind of operation.
# Each step writes OUT_DIR/<name>.json (default benchmarks/results/gpu). CPU: add --tiny to step 1.
set -euo pipefail
OUT=${1:-benchmarks/results/gpu}
REF=${2:-d064aca}
mkdir -p "$OUT"
python benchmarks/opponent_table.py --json "$OUT/opponent_table.json"
python benchmarks/om_cost.py --envs 4096 --ref "$REF" --json "$OUT/om_cost.json"
python benchmarks/mcts_breakdown.py --envs 1024 --json "$OUT/mcts_breakdown.json"
python benchmarks/hostloop_puct.py --envs 1 64 --json "$OUT/hostloop_puct.json"
python benchmarks/profile_ops.py --envs 4096 --json "$OUT/profile_ops.json"
