#!/usr/bin/env bash
# Issue 14, eleventh session: inter-OM pooled within kinds vs over every target (HOP code) vs
# no carry-over, on the same trained HOP seeds (trained once, with kind pooling, and cached) and
# evaluation keys, 1 and 3 focal seats, Stag-Hunt.
# From the repository root, after `hopjax population train configs/populations/stag_hunt.yaml`:
#   bash benchmarks/results/issue14_adaptation_cpu/session11/run_pooling.sh 0 1     # seeds 0-11, core 0
#   bash benchmarks/results/issue14_adaptation_cpu/session11/run_pooling.sh 100 2001 # seeds 100-111
set -euo pipefail
base=$1; evalseed=$2; core=${3:-0}
P=benchmarks/results/issue14_adaptation_cpu/session9/seat3_probe.py
O=runs/issue14/s11
mkdir -p $O
for seats in 3 1; do
  for pool in kind any; do
    PYTHONPATH=. taskset -c $core python $P --seeds 12 --seed-base $base --eval-seed $evalseed \
      --focal-seats $seats --carry all --population runs/populations/stag_hunt \
      --params runs/issue14/s11_params --set inter_om_pooling=$pool \
      --out $O/base${base}_seat${seats}_${pool}.json 2>&1 | tee $O/base${base}_seat${seats}_${pool}.log
  done
  PYTHONPATH=. taskset -c $core python $P --seeds 12 --seed-base $base --eval-seed $evalseed \
    --focal-seats $seats --carry none --population runs/populations/stag_hunt \
    --params runs/issue14/s11_params --set inter_om_pooling=kind --out $O/base${base}_seat${seats}_none.json 2>&1 | tee $O/base${base}_seat${seats}_none.log
done
