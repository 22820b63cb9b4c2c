#!/usr/bin/env bash
# Wheels of the dependencies that the GPU machine's image lacks (it has torch, torchvision, numpy,
# scipy, pillow, pyyaml, matplotlib, tqdm, requests), for Python 3.12 on x86-64, into .whl/ (ignored
# by git; ~21 MB, within the device tool's 64 MiB). imageio-ffmpeg (68 MB) is left out: without an
# ffmpeg there, bench/search_speed.py times film rendering and skips encoding (a CPU job anyway).
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform any -d .whl \
    open-clip-torch ftfy wcwidth pytorch-pretrained-biggan boto3 botocore jmespath s3transfer cma \
    ffmpeg-python future pysbd jsonschema jsonschema-specifications referencing rpds-py
du -sh .whl
