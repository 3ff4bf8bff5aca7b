#!/usr/bin/env bash
# Issue 14's GPU figures at the HOP paper's scale, in one time-boxed run. From the repository root:
#   bash benchmarks/gpu_paper_scale.sh [OUT_DIR] [SECONDS] [--tiny]
# STAGES (default ABCD) picks the stages and their order, e.g. STAGES=S; a letter other than S, A,
# B, C, D stops with exit 2 before anything runs. A 15-minute device session fits S alone (about
# 5 minutes, an estimate: give it the whole run, STAGES=S ... OUT 540) or A-D (the first run).
# OUT_DIR must not hold an earlier run's paper_scale.* files (refused: nothing is overwritten).
# W=DIR reuses a scratch dir of runs (e.g. STAGES=D after A-C); default a fresh mktemp dir.
# Exit status: 1 if a stage failed (a stage stopped by its time box is not a failure), else 0.
# Every stage runs under its own time box (SIGINT: a training run saves its last checkpoint and
# stops); what a stage wrote is packed into OUT_DIR/paper_scale.tar.gz after each stage, so a run
# cut short still returns what was done. The log is OUT_DIR/paper_scale.log.
# First run (2026-12-04, one H200, 15 minutes of device time): A finished in 61 s, C made two
# updates at 55 env steps/s, D did not finish (benchmarks/RESULTS.md, "Paper scale on an NVIDIA
# H200"); the search ran 3.7x slower than main cf06dbe's figure at 1,024 envs, hence stage S.
#  S. the search and HOP training side by side with 1c73abe (before the CPU speed-ups of issue
#     15): benchmarks/mcts_speedup.py --ref 1c73abe, 1,024 envs, 32 training envs (OUT_DIR/
#     mcts_speedup.json, written when it ends).
#  A. PPO self-play on the paper's 8x8 Stag-Hunt with walls (configs/stag_hunt_ppo.yaml, env
#     defaults), 4 seeds x 5e7 env steps, 4,096 envs per seed, seed-vmapped: the issue's control
#     (measured on main cf06dbe with the earlier walls: 0.86-0.89 per agent, in the hare equilibrium).
#  B. one PPO seed (seed 0, 2e7 env steps, 4,096 envs): the baseline run for D.
#  C. HOP self-play at the paper's scale (configs/paper/stag_hunt_hop.yaml: 8x8 with walls, 35
#     steps, 5 trees x 200 simulations, conv 16-32-32 + FC 512) with 128 envs (the issue's
#     belief-accuracy figure, 0.22-0.24 over the first updates on cf06dbe, and issue 15's 159 env
#     steps/s, were measured at 128 envs), until its time box ends. The buffer holds one update's
#     128 episodes; 240 minibatches of 8 episodes keep the config's 15 SGD samples per new sample.
#  D. the few-shot adaptation table and curve of C's checkpoint next to B (4 scripted co-player
#     kinds, 1 focal seat, K = 5 episodes, 16 envs, 2 evaluation-key sets: one trained seed, so
#     intervals are over evaluation keys), in the time left.
# --tiny: sizes for a CPU check of the script (minutes), not for figures.
set -uo pipefail
usage="usage: [STAGES=ABCD] [W=DIR] bash benchmarks/gpu_paper_scale.sh [OUT_DIR] [SECONDS] [--tiny]"
OUT=${1:-benchmarks/results/gpu_paper_scale}
TOTAL=${2:-575}
TINY=${3:-}
STAGES=${STAGES:-ABCD}
[[ $OUT == -* ]] && { echo "OUT_DIR '$OUT' looks like an option; $usage" >&2; exit 2; }
[[ $TOTAL =~ ^[0-9]+$ ]] || { echo "SECONDS must be a whole number, not '$TOTAL'; $usage" >&2; exit 2; }
[[ -z $TINY || $TINY == --tiny ]] || { echo "unknown argument '$TINY'; $usage" >&2; exit 2; }
[[ $STAGES =~ ^[SABCD]+$ ]] || { echo "STAGES='$STAGES': letters S, A, B, C, D only; $usage" >&2; exit 2; }
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd) || { echo "cannot use OUT_DIR '$OUT'" >&2; exit 2; }
if compgen -G "$OUT/paper_scale.*" >/dev/null || [[ -e $OUT/mcts_speedup.json ]]; then
  echo "$OUT holds an earlier run's files (paper_scale.*, mcts_speedup.json): choose another OUT_DIR" >&2; exit 2
fi
W=${W:-$(mktemp -d /tmp/hopjax_paper_scale.XXXXXX)}  # the runs' scratch dir (their checkpoints stay there)
mkdir -p "$W/runs" || exit 2
FAILED=0
LOG="$OUT/paper_scale.log"
START=$(date +%s)
export PYTHONUNBUFFERED=1
PY=${PY:-python3}  # the interpreter with jax and hopjax importable
HOPJAX="$PY -m hopjax.runtime.cli"

left() { echo $(( TOTAL - ($(date +%s) - START) )); }
pack() { (cd "$W" && tar czf "$OUT/paper_scale.tar.gz" --exclude='checkpoints' --exclude='*.lock' runs) 2>>"$LOG"; }
stage() {  # stage NAME SECONDS GRACE CMD...: run CMD under a SIGINT time box (then GRACE s
  # more before SIGKILL: a training chunk in flight finishes first), log it, pack the runs
  local name=$1 box=$2 grace=$3; shift 3
  local l; l=$(left)
  (( box > l - 10 - grace )) && box=$(( l - 10 - grace ))
  if (( box < 30 )); then echo "== $name: skipped ($l s left)" | tee -a "$LOG"; return; fi
  echo "== $name ($box s box, $(date -u +%H:%M:%S)): $*" | tee -a "$LOG"
  local t0; t0=$(date +%s)
  timeout -s INT -k "$grace" "$box" "$@" 2>&1 | tee -a "$LOG"
  local rc=${PIPESTATUS[0]}
  echo "== $name: exit $rc after $(( $(date +%s) - t0 )) s" | tee -a "$LOG"
  case $rc in 0|124|130|137) ;; *) FAILED=1 ;; esac  # 124/130/137: stopped by its time box
  pack
}

{ date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || true
  git log -1 --format='commit %H' 2>/dev/null || true
  $PY -c 'import jax, flax, optax, mctx; print("jax", jax.__version__, jax.devices(), "flax", flax.__version__, "optax", optax.__version__, "mctx", mctx.__version__)'
} 2>&1 | tee -a "$LOG"

if [[ $TINY == --tiny ]]; then
  SPEED_S=(--small --many 4 --hop-envs 2 --sims 4 --trees 2 --repeats 1 --one-calls 1)
  PPO_A=(--set total_steps=5600 --set num_envs=16 --set chunk_updates=5)
  PPO_B=(--set total_steps=5600 --set num_envs=16 --set chunk_updates=5)
  HOP_C=(--set num_envs=2 --set num_simulations=2 --set num_trees=1 --set buffer_episodes=2
         --set batch_episodes=2 --set sgd_steps=1 --set total_steps=2800 --set chunk_updates=1)
  EVAL_D=(--seeds 1 --envs 2 --episodes 2)
  BOX=(300 60 40 90 200) GRACE_C=30
else
  SPEED_S=(--many 1024 --hop-envs 32 --repeats 2)
  PPO_A=(--set total_steps=5e7 --set num_envs=4096 --set chunk_updates=25)
  PPO_B=(--set total_steps=2e7 --set num_envs=4096 --set chunk_updates=25)
  HOP_C=(--set num_envs=128 --set buffer_episodes=128 --set batch_episodes=8 --set sgd_steps=240
         --set total_steps=2e6 --set chunk_updates=1)
  EVAL_D=(--seeds 2 --envs 16 --episodes 5)
  BOX=(520 90 45 200 400) GRACE_C=100   # one HOP update took about 80 s on the H200
fi

for (( i = 0; i < ${#STAGES}; i++ )); do
  st=${STAGES:i:1}
  case $st in
  S) stage "S: search and HOP training side by side with 1c73abe" "${BOX[0]}" 30 \
       $PY benchmarks/mcts_speedup.py --ref 1c73abe "${SPEED_S[@]}" --json "$OUT/mcts_speedup.json" ;;
  A) stage "A: PPO self-play, paper 8x8, 4 seeds" "${BOX[1]}" 30 \
       $HOPJAX sweep configs/stag_hunt_ppo.yaml --seeds 4 "${PPO_A[@]}" --out "$W/runs" --no-progress ;;
  B) stage "B: PPO seed 0 (baseline for D)" "${BOX[2]}" 30 \
       $HOPJAX train configs/stag_hunt_ppo.yaml "${PPO_B[@]}" --out "$W/runs" --no-progress ;;
  C) stage "C: HOP self-play, paper scale, 128 envs" "${BOX[3]}" "$GRACE_C" \
       $HOPJAX train configs/paper/stag_hunt_hop.yaml "${HOP_C[@]}" --out "$W/runs" --no-progress ;;
  D) BASE=()
     compgen -G "$W/runs/stag_hunt_ppo/checkpoints/update_*" >/dev/null && BASE=(--baseline "PPO=$W/runs/stag_hunt_ppo")
     if compgen -G "$W/runs/paper_stag_hunt_hop/checkpoints/update_*" >/dev/null; then
       stage "D: adaptation at paper scale" "${BOX[4]}" 30 \
         $HOPJAX eval configs/paper/stag_hunt_hop.yaml --hop "$W/runs/paper_stag_hunt_hop" "${BASE[@]}" \
         "${EVAL_D[@]}" --out "$W/runs"
     else
       echo "== D: skipped (no HOP checkpoint)" | tee -a "$LOG"
     fi ;;
  esac
done
echo "== done after $(( $(date +%s) - START )) s; runs (with checkpoints) in $W" | tee -a "$LOG"
pack
exit $FAILED
