#!/usr/bin/env bash
# Create .venv and install what CodeSwap needs; re-running is cheap (skipped when nothing changed).
#   bash scripts/setup.sh          run-time requirements
#   bash scripts/setup.sh dev      plus tests, lint and evaluation tools
set -euo pipefail
cd "$(dirname "$0")/.."
want=requirements.txt
[ "${1:-}" = dev ] && want=requirements-dev.txt
if [ ! -x .venv/bin/python ]; then
  python3.11 -m venv .venv 2>/dev/null || python3 -m venv .venv
fi
stamp=".venv/.installed-$(cat requirements*.txt pyproject.toml | sha1sum | cut -c1-12)-$(basename "$want" .txt)"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r "$want"
  # the project itself, editable: the `codeswap` command (its dependencies are the ones just installed)
  .venv/bin/python -m pip install --quiet --no-deps -e .
  touch "$stamp"
  echo "CodeSwap is set up in .venv: 'source .venv/bin/activate' puts the codeswap command on your PATH" >&2
fi

# The browser tests drive Debian's chromium (never a downloaded browser build).
if [ "${1:-}" = dev ] && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "note: /usr/bin/chromium is missing; install it (sudo apt-get install chromium) for the browser tests" >&2
  fi
fi
