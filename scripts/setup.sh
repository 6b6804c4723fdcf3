#!/usr/bin/env bash
# Create .venv in the checkout and install workbench with its whole stack from requirements.lock
# (exact versions; torch is the CPU build). Idempotent: a second run with an unchanged lock does nothing.
# pip's download and wheel cache (~/.cache/pip) keeps later runs fast; the llama-cpp-python wheel is
# built from source once (about 3.5 min on 2 cores) and then reused from that cache.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# (re)create the venv when it is missing or half-made (an interrupted `venv` leaves python without pip)
[ -x .venv/bin/python ] && [ -x .venv/bin/pip ] || "$PY" -m venv --clear .venv
stamp=.venv/.workbench-installed
want=$(cat pyproject.toml requirements.lock requirements-data.txt | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  export PIP_DISABLE_PIP_VERSION_CHECK=1 CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2}
  echo "installing the workbench stack into .venv (first time: about 10 minutes; llama-cpp-python compiles from source)..."
  # a line every 30 s, so a first run is never silent for minutes (pip is quiet while it compiles)
  ( start=$SECONDS; while sleep 30; do echo "  ... still installing ($((SECONDS - start)) s)"; done ) & ticker=$!
  trap 'kill $ticker 2>/dev/null || true' EXIT
  .venv/bin/pip install --progress-bar off -r requirements.lock 2>&1 | grep -E "^(Building|Successfully|ERROR|error)" || true
  kill $ticker 2>/dev/null || true
  .venv/bin/pip install -q --no-deps -r requirements-data.txt 2>&1 | grep -E "^(ERROR|error)" || true
  .venv/bin/pip install -q --no-deps -e . 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import workbench, torch, llama_cpp, chromadb, sentence_transformers" \
    || { echo "setup failed: the stack does not import (see the pip output above)"; exit 1; }
  echo "$want" > "$stamp"
fi
echo "workbench environment ready: $(pwd)/.venv"
