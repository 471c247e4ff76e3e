#!/usr/bin/env bash
# Continue the shipped checkpoint on the broader data + run-time-like flow mix (issue 12.4).
# Resumable: run this script again after an interruption (--resume auto picks runs/broad_v1/last.pt).
source "$(dirname "$0")/../train_env.sh"
exec nice -n 15 "$PY" -m sim2art_core.train.cli --data generate --categories broad --val-categories all \
  --init sim2art_core/checkpoints/default.pt --flow-error-fraction 0.4 --optical-flow-fraction 0.03 \
  --steps 6000 --batch-size 4 --lr 4e-4 --warmup 100 --val-every 500 --val-samples 64 --ckpt-every 100 \
  --log-every 25 --pool-size 512 --pool-reuse 4 --seed 1 --threads 1 --resume auto --quiet --plot --keep-val-checkpoints \
  --out runs/broad_v1
