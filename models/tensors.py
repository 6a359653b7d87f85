"""Faces as arrays <-> faces as model tensors: the one pair of converters every layer uses.

to_model_range(crops)   (B, S, S, 3) uint8 (tensor, array or list of arrays) -> (B, 3, S, S) float in [-1, 1]
to_images(x)            (B, 3, S, S) in [-1, 1], any float dtype -> (B, S, S, 3) uint8 array
"""

from __future__ import annotations

import numpy as np
import torch


def to_model_range(crops) -> torch.Tensor:
    if not isinstance(crops, torch.Tensor):
        crops = torch.from_numpy(np.stack(crops) if isinstance(crops, (list, tuple)) else np.asarray(crops))
    return crops.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def to_images(x: torch.Tensor) -> np.ndarray:
    return ((x.detach().float().clamp(-1, 1) + 1) * 127.5 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
