#!/usr/bin/env bash
# The CPU rows of the README's results table: GCFLNet against the U-Net baseline on a synthetic set,
# small widths and a short schedule so it finishes on a 2-core CPU. Writes results/cpu_synth_*.json.
set -euo pipefail
cd "$(dirname "$0")/.."
data=data/synthetic/readme-cpu
[ -d "$data" ] || gcflnet synth --out "$data" --n 240 --size 128 --seed 7 --name Synthetic
for seed in 0 1 2; do
  for model in gcflnet unet; do
    gcflnet train --data "$data" --dataset Synthetic --model "$model" --channels 4,8,16,32 \
      --epochs 30 --batch-size 8 --crop-size 64 --lr 5e-3 --milestones 24 --eval-every 5 --seed "$seed" --device cpu --no-progress \
      --out "runs/cpu_synth_${model}_s${seed}" --overwrite --record "results/cpu_synth_${model}_s${seed}.json"
  done
done
