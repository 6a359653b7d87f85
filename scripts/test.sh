#!/usr/bin/env bash
# Set up (first time only), lint, and run the whole test suite on the shipped weights and ../shared/data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
.venv/bin/ruff check .
.venv/bin/python -m pytest -q "$@"
