#!/usr/bin/env bash
# Create .venv and install what CodeSwap needs; re-running is cheap (skipped when nothing changed).
#   bash scripts/setup.sh          run-time requirements
#   bash scripts/setup.sh dev      plus tests, lint and evaluation tools
#   CODESWAP_TORCH=cpu bash scripts/setup.sh    torch's CPU-only wheels from download.pytorch.org
#                                  (no CUDA libraries; needs that index to be reachable)
# PyPI's torch wheel is a CUDA build: it brings NVIDIA's libraries (about 3.2 GB, loaded when torch is
# imported, even on a CPU) and triton (0.9 GB, used only by torch.compile's GPU kernels, which CodeSwap
# never calls). Triton is removed after the install; the NVIDIA libraries cannot be.
set -euo pipefail
cd "$(dirname "$0")/.."
want=requirements.txt
[ "${1:-}" = dev ] && want=requirements-dev.txt
if [ ! -x .venv/bin/python ]; then
  python3.11 -m venv .venv 2>/dev/null || python3 -m venv .venv
fi
torch_from="${CODESWAP_TORCH:-pypi}"
stamp=".venv/.installed-$(cat requirements*.txt pyproject.toml | sha1sum | cut -c1-12)-$(basename "$want" .txt)-$torch_from"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  if [ "$torch_from" = cpu ]; then
    # the same torch/torchvision versions as requirements.txt, as CPU builds (2.14.1+cpu satisfies ==2.14.1)
    grep -E '^torch(vision)?==' requirements.txt > .venv/torch-cpu.txt
    if ! .venv/bin/python -m pip install --quiet -r .venv/torch-cpu.txt --index-url https://download.pytorch.org/whl/cpu; then
      echo "error: torch's CPU wheels could not be fetched from download.pytorch.org; run without CODESWAP_TORCH=cpu to use PyPI's build" >&2
      exit 1
    fi
  fi
  .venv/bin/python -m pip install --quiet -r "$want"
  .venv/bin/python -m pip uninstall --quiet -y triton 2>/dev/null || true
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
