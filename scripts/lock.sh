#!/usr/bin/env bash
# Regenerate requirements.lock (exact versions of the whole stack, Python 3.11, Linux) from pyproject.toml and
# constraints.txt. pip's own resolver backtracks for a very long time over this stack (openai versions), so the
# lock is resolved with uv once, here, and scripts/setup.sh installs it with plain pip (no resolution).
set -euo pipefail
cd "$(dirname "$0")/.."
tool=$(mktemp -d)
python3 -m venv "$tool" && "$tool/bin/pip" install -q uv
"$tool/bin/uv" pip compile pyproject.toml --extra dev -c constraints.txt --python-version 3.11 \
  --python-platform x86_64-manylinux_2_28 --find-links /opt/wheels --index-strategy unsafe-best-match \
  --no-header --no-annotate -o requirements.lock
rm -rf "$tool"
echo "requirements.lock: $(grep -c '==' requirements.lock) pinned packages"
