#!/usr/bin/env bash
# The GPU measurements of docs/performance.md, prepared as one script for a lent H100/H200 (the
# `device` tool: one command, timeout_s <= 600, results under $OUT). The device image has torch and
# torchvision but not our other dependencies: carry them as wheels (bench/device_wheels.sh, here,
# once), naming `.whl` in the run's `carry`.
#
#   bench/device_check.sh speed      # search_speed at the notebook's settings: 5 engine variants  (~3 min)
#   bench/device_check.sh precision  # bf16, fp16 vs fp32 from the same seeds: shapes + real size     (~4 min)
#   bench/device_check.sh text       # 12 sentences at the notebook's settings, a process each      (~5 min)
#   bench/device_check.sh race       # the demo's race on 12 shapes prompts, live candidates batched
#                                    # together and one after another (search.race.batches_populations) (~2 min)
#   bench/device_check.sh all        # the three (more than one command's 10 minutes: split it)
#
# Times are estimates from FLOP counts, not measurements: run `speed` first and size the rest by it.
# Commit the JSON files it leaves (in $OUT, else bench/results) under bench/results/ and put the
# numbers in docs/performance.md with the card each came from.
set -euo pipefail
part=${1:-speed}
out=${OUT:-bench/results}
mkdir -p "$out"
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,driver_version --format=csv | tee "$out/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" | tee -a "$out/gpu.txt"

if [ "$part" = speed ] || [ "$part" = all ]; then
    python3 bench/search_speed.py --case notebook --engine fp32 bf16 fp16 bf16+channels_last bf16+compile \
        --out "$out/search_speed-notebook-cuda.json" 2>&1 | tee "$out/search_speed.log"
fi
if [ "$part" = precision ] || [ "$part" = all ]; then
    python3 bench/precision_check.py --device cuda --precisions bf16 fp16 --prompts 48 --real-size 3 --iterations 10 \
        --out "$out/precision_check-cuda.json" 2>&1 | tee "$out/precision_check.log"
fi
if [ "$part" = text ] || [ "$part" = all ]; then
    python3 bench/text_speed.py --device cuda --precision bf16 \
        --out "$out/text_speed-notebook-cuda.json" 2>&1 | tee "$out/text_speed.log"
fi
if [ "$part" = race ] || [ "$part" = all ]; then
    for together in yes no; do
        python3 bench/search_quality.py --race 1 4 --keep 3 2 --candidates 5 --plain 1 --prompts 12 --device cuda \
            --judge models/shapes/clip-judge --together "$together" \
            --out "$out/race_together-$together-cuda.json" 2>&1 | tee "$out/race_together-$together.log"
    done
fi
