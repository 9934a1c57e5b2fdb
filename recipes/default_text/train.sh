#!/usr/bin/env bash
# Rebuild the shipped default text model (src/emolens/models/default) from ../shared/data.
# About 1 minute on 2 cores. Train/dev splits only; test splits are for the model card.
set -euo pipefail
data="${1:-../shared/data}"
run="${RUN_DIR:-runs/default_text}"
out="${OUT_DIR:-src/emolens/models/default}"
python recipes/default_text/prepare.py --data "$data" --out "$run"
emolens train text --data "$run/train.csv" --dev "$run/dev.csv" \
  --text-col text --label-col label --language-col language \
  --labels anger,disgust,fear,joy,sadness,surprise,neutral \
  --name default --version 0.2.0 --c 0.5 --min-df 5 --balanced --seed 0 --out "$out"
cp recipes/default_text/config.json "$run/config.json"
