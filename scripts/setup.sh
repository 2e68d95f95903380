#!/usr/bin/env bash
# Set up dlbench on a fresh Debian/Ubuntu machine, idempotently:
#   - Debian's dataset-fashion-mnist (the default suite's data) and chromium (the report test);
#   - a virtual environment in .venv with dlbench, PyTorch (CPU build, pinned), Keras 3 with
#     TensorFlow and JAX, Ray (the cluster executor), and the test tools.
# Usage: bash scripts/setup.sh            (everything)
#        DLBENCH_EXTRAS=torch bash scripts/setup.sh   (PyTorch only, no Keras)
set -euo pipefail
cd "$(dirname "$0")/.."

EXTRAS="${DLBENCH_EXTRAS:-all,test}"
APT_PACKAGES=(dataset-fashion-mnist chromium)

missing=()
[ -d /usr/share/datasets/fashion-mnist ] || missing+=(dataset-fashion-mnist)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  echo "setup: installing ${missing[*]} with apt-get" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# pip's "Location ... is ignored" warnings about local mirrors are noise: keep the log, show it
# only when the install fails.
log=$(mktemp)
if ! .venv/bin/pip install -q -e ".[${EXTRAS}]" >"$log" 2>&1; then
  grep -v "^WARNING: Location" "$log" >&2
  echo "setup: pip install failed" >&2
  exit 1
fi
rm -f "$log"
.venv/bin/python -c "import dlbench" || { echo "setup: dlbench did not install" >&2; exit 1; }
echo "setup: ready (.venv, extras ${EXTRAS})" >&2
