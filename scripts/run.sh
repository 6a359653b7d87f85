#!/usr/bin/env bash
# Set up (first time only) and start the CodeSwap web app on the shipped weights: http://localhost:7860
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python app.py "$@"
