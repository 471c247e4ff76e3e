#!/usr/bin/env bash
# Train the ablations of the paper's Table 4 at one short, equal budget, then evaluate them on the test split.
#
#   scripts/train_ablations.sh                         # 5 variants x 1500 steps (~25 min each on 2 cores)
#   scripts/train_ablations.sh --steps 3000 --variants full,no-flow
#   scripts/train_ablations.sh --steps 2 --runs-dir /tmp/abl --data /tmp/ds \
#       --train-arg=--preset=tiny --train-arg=--pool-size=2 --train-arg=--val-samples=2   # smoke run
#
# Variants (sim2art_core/benchmarks/ablation.py, VARIANTS): full (the complete model, reference), paper-heads
# (use_motion_cues=false: the paper's pure-MLP heads, the reference for "w/o flow", which needs them),
# no-flow, no-time-encoding (w/o gamma(t)), no-frame-fraction (w/o t/T). "w/o DINO" is the shipped model.
#
# Recipe: docs/MODEL.md §5.1 (the shipped checkpoint's command) with only the step budget changed:
# --steps S (default 1500), warm-up 3 % of S (300 of 10 000 there), validation every min(500, S) steps,
# the same seed, batch, learning rate, generated data (realism fraction 0.5), pool and augmentation.
# A finished run (RUNS/<variant>/final.pt) is skipped; an interrupted one resumes (--resume auto).
# Then `sim2art-benchmark ablation` evaluates every final.pt (equal budget; best.pt would pick a
# different step per variant) on --data (default out/benchmarks/data, the dataset of
# scripts/make_benchmarks.sh, which also puts the table into docs/BENCHMARKS.md).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SIM2ART_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
cd "$ROOT"

STEPS=1500
RUNS=runs/ablations
DATA=out/benchmarks/data
OUT=""
VARIANTS=""
EVAL=1
TRAIN_ARGS=()
EVAL_ARGS=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --steps) STEPS="$2"; shift 2 ;;
        --runs-dir) RUNS="$2"; shift 2 ;;
        --data) DATA="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        --variants) VARIANTS="$2"; shift 2 ;;
        --skip-eval) EVAL=0; shift ;;
        --train-arg=*) TRAIN_ARGS+=("${1#--train-arg=}"); shift ;;
        --eval-arg=*) EVAL_ARGS+=("--eval-arg=${1#--eval-arg=}"); shift ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "train_ablations.sh: unknown argument $1 (--help)" >&2; exit 2 ;;
    esac
done
if ! [[ "$STEPS" =~ ^[0-9]+$ ]] || (( STEPS < 1 )); then
    echo "train_ablations.sh: --steps must be a positive integer, got '$STEPS'" >&2; exit 2
fi
OUT="${OUT:-$RUNS/eval}"
WARMUP=$(( STEPS * 3 / 100 )); (( WARMUP >= 1 )) || WARMUP=1
VAL_EVERY=$(( STEPS < 500 ? STEPS : 500 ))
CKPT_EVERY=$(( STEPS < 250 ? STEPS : 250 ))
TCMALLOC=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
if [[ -f "$TCMALLOC" && "${LD_PRELOAD:-}" != *tcmalloc* ]]; then
    export LD_PRELOAD="$TCMALLOC${LD_PRELOAD:+:$LD_PRELOAD}"
fi

# one line per variant: "<name> --set a=b --set c=d" (the single source of the variant list)
mapfile -t LINES < <("$PY" -m sim2art_core.benchmarks.ablation --print-variants)
for line in "${LINES[@]}"; do
    read -r -a words <<< "$line"
    name="${words[0]}"
    sets=("${words[@]:1}")
    if [[ -n "$VARIANTS" && ",$VARIANTS," != *",$name,"* ]]; then
        continue
    fi
    if [[ -f "$RUNS/$name/final.pt" ]]; then
        echo "[$name] done already: $RUNS/$name/final.pt"
        continue
    fi
    echo "[$name] training $STEPS steps: ${sets[*]:-(no overrides)}"
    nice -n "${NICE:-10}" "$VENV/bin/sim2art-train" --data generate --out "$RUNS/$name" --steps "$STEPS" \
        --batch-size 4 --lr 1e-3 --warmup "$WARMUP" --val-every "$VAL_EVERY" --val-samples 64 \
        --ckpt-every "$CKPT_EVERY" --pool-size 512 --pool-reuse 4 --seed 0 --resume auto --quiet \
        "${sets[@]}" "${TRAIN_ARGS[@]}"
done

if (( EVAL )); then
    if [[ ! -f "$DATA/index.json" ]]; then
        echo "train_ablations.sh: no evaluation dataset at $DATA; run scripts/make_benchmarks.sh (it evaluates" \
             "the ablations too) or pass --data" >&2
        exit 2
    fi
    nice -n "${NICE:-10}" "$PY" -m sim2art_core.benchmarks.ablation --runs-dir "$RUNS" --data "$DATA" --out "$OUT" \
        --eval-arg=--threads=1 --eval-arg=--device=cpu "${EVAL_ARGS[@]}"
fi
