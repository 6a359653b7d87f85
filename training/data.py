"""The aligned face dataset written by training/prepare.py, as tensors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch


def load_faces(data_dir: str | Path, split: str, exclude: tuple[str, ...] = ()) -> torch.Tensor:
    """All crops of one split ('train' or 'held_out') -> (N, S, S, 3) uint8 tensor, leaving out
    images whose name starts with one of `exclude` (a source subset, e.g. 'celeba_align_89x109/')."""
    data_dir = Path(data_dir)
    index_path = data_dir / "index.json"
    if not index_path.is_file():
        raise FileNotFoundError(f"{index_path}: missing; build the dataset with python -m training.prepare")
    index = json.loads(index_path.read_text())
    parts = []
    for unit in index["units"]:
        with np.load(data_dir / f"{unit}.npz") as z:
            keep = z["held_out"] if split == "held_out" else ~z["held_out"]
            if exclude:
                keep = keep & ~np.array([str(n).startswith(exclude) for n in z["names"]], dtype=bool)
            parts.append(z["crops"][keep])
    return torch.from_numpy(np.concatenate(parts))


def random_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Horizontal flip of a random half of the batch (B, 3, S, S). Faces are near-symmetric; the
    aligned template is symmetric, so a flipped crop is still a valid aligned crop."""
    flip = torch.rand(x.shape[0], generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)
