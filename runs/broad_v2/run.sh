#!/usr/bin/env bash
# Continue runs/broad_v1 (the shipped model + 6000 steps on the broader data) towards the node's optical-flow
# path (issue 12.2/12.4): 15 % real optical-flow samples, 50 % noise model, 35 % true; validation windows on the
# noise model (--val-flow noise-model), so best.pt / val/step_*.pt are chosen for the run-time path.
# Resumable: run this script again after an interruption (--resume auto picks runs/broad_v2/last.pt).
source "$(dirname "$0")/../train_env.sh"
exec nice -n 15 "$PY" -m sim2art_core.train.cli --data generate --categories broad --val-categories all \
  --val-flow noise-model --init runs/broad_v1/last.pt --flow-error-fraction 0.5 --optical-flow-fraction 0.15 \
  --steps 3000 --batch-size 4 --lr 2e-4 --warmup 100 --val-every 250 --val-samples 64 --ckpt-every 50 \
  --log-every 25 --pool-size 512 --pool-reuse 4 --seed 2 --threads 1 --resume auto --quiet --plot --keep-val-checkpoints \
  --out runs/broad_v2
