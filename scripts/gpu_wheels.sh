#!/usr/bin/env bash
# Wheels a bare GPU machine lacks, downloaded here for it: Keras, pydantic and the small
# libraries dlbench's CLI imports (typer, rich, PyYAML, Jinja2, psutil), with their
# dependencies, as manylinux x86_64 wheels for CPython 3.12, into .gpu-wheels/ (git-ignored).
# With --with-data, Fashion-MNIST's four files go to .gpu-wheels/fashion-mnist/ too
# (DLBENCH_DATA=.gpu-wheels finds them there). About 30 MB of wheels, 30 MB of data.
#
# Usage:  bash scripts/gpu_wheels.sh [--with-data] [EXTRA_PACKAGE ...]
# On the GPU machine (see benchmarks/gpu_check.py):
#   pip install --no-index --find-links .gpu-wheels keras pydantic typer rich pyyaml jinja2 psutil
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=.gpu-wheels
PYTHON_VERSION="${GPU_PYTHON_VERSION:-3.12}"
PIP="${PIP:-.venv/bin/pip}"
[ -x "$PIP" ] || PIP="python3 -m pip"
with_data=0
extra=()
for arg in "$@"; do
  case "$arg" in
    --with-data) with_data=1 ;;
    *) extra+=("$arg") ;;
  esac
done
mkdir -p "$OUT"
# manylinux2014 is the oldest tag asked for; pip also takes newer glibc tags (numpy, h5py and
# optree publish manylinux_2_27/2_28 wheels only), all of which a current GPU image satisfies.
$PIP download -q --only-binary=:all: --python-version "$PYTHON_VERSION" \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux_2_27_x86_64 --platform manylinux_2_28_x86_64 \
  -d "$OUT" keras pydantic typer rich pyyaml jinja2 psutil "${extra[@]}" 2>&1 \
  | grep -v "^WARNING: Location" >&2 || true
ls "$OUT"/keras-*.whl "$OUT"/pydantic-*.whl >/dev/null  # fail loudly when the download did
if [ "$with_data" -eq 1 ]; then
  src=/usr/share/datasets/fashion-mnist
  [ -d "$src" ] || { echo "gpu_wheels: no $src (apt-get install dataset-fashion-mnist)" >&2; exit 1; }
  mkdir -p "$OUT/fashion-mnist"
  cp "$src"/*-ubyte.gz "$OUT/fashion-mnist/"
fi
echo "gpu_wheels: $(ls "$OUT"/*.whl | wc -l) wheels, $(du -sh "$OUT" | cut -f1) in $OUT" >&2
