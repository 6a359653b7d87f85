"""Which device the models run on: CUDA when there is one, else the CPU; CODESWAP_DEVICE overrides.

    choose_device()          -> torch.device("cuda") on a GPU machine, else torch.device("cpu")
    choose_device("cpu")     -> an explicit choice wins over the environment

Every pipeline takes `device=` and puts its models, the face detector and every tensor it makes
there. Only the CPU path runs here (no GPU on our machines); the GPU path is untested.
"""

from __future__ import annotations

import os

import torch

ENV_VAR = "CODESWAP_DEVICE"  # e.g. "cpu", "cuda", "cuda:1"


def choose_device(device: str | torch.device | None = None) -> torch.device:
    chosen = device or os.environ.get(ENV_VAR) or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(chosen)
    except RuntimeError as e:
        raise ValueError(f"device {chosen!r} is not a torch device ({e})") from None
