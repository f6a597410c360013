# Sourced by scripts/demo and scripts/test: create or reuse .venv and install memmoat into it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "memmoat needs Python 3.11 or newer (found: $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "creating virtual environment in .venv" >&2
  "$PY" -m venv .venv
fi
VPY="$ROOT/.venv/bin/python"
# Reinstall only when the dependency list changed.
STAMP=".venv/.memmoat-installed-$1"
HASH="$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$HASH" ]; then
  echo "installing memmoat ($1) into .venv" >&2
  "$VPY" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
  if [ "$1" = dev ]; then
    "$VPY" -m pip install -q --disable-pip-version-check -e '.[dev]'
  else
    "$VPY" -m pip install -q --disable-pip-version-check -e .
  fi
  echo "$HASH" > "$STAMP"
fi
export PATH="$ROOT/.venv/bin:$PATH"
