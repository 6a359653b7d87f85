"""A higher-resolution VQGAN against a lower-resolution one upsampled, on the same held-out faces.

    python -m benchmarks.vqgan_resolution --data DATA_DIR [--low DIR] [--high DIR] [--limit 1000]

DATA_DIR is a dataset prepared at the high model's size (training.prepare --size 128). The low model
(default: the 64x64 VQGAN of git history, if given as a folder) reconstructs each face shrunk to its
size (area-averaged), and its reconstruction is upsampled bicubic: the bar a native high-resolution
model must clear. Held-out faces of the low-resolution 89x109 subset are left out (their faces are
upsampled at 128 and would reward blur).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from models import VQGAN
from models.tensors import to_images, to_model_range
from training.data import load_faces
from training.evaluate import psnr, ssim

from .common import machine, table

LOW_RES_SUBSET = ("celeba_align_89x109/",)


@torch.no_grad()
def reconstruct_at(model: VQGAN, faces: np.ndarray, batch: int = 100) -> np.ndarray:
    """(N, S, S, 3) uint8 faces -> the model's reconstructions at S (resized to the model's side and back)."""
    side, size = model.config.image_size, faces.shape[1]
    shrink = cv2.INTER_AREA if side < size else cv2.INTER_CUBIC
    x = np.stack([cv2.resize(f, (side, side), interpolation=shrink) for f in faces]) if side != size else faces
    out = np.concatenate(
        [to_images(model.decode_indices(model.encode_to_indices(to_model_range(torch.from_numpy(x[i : i + batch])))))
         for i in range(0, len(x), batch)]
    )  # fmt: skip
    return np.stack([cv2.resize(r, (size, size), interpolation=cv2.INTER_CUBIC) for r in out]) if side != size else out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, type=Path, help="dataset prepared at the high model's size")
    p.add_argument("--low", type=Path, required=True, help="weights folder of the low-resolution VQGAN")
    p.add_argument("--high", type=Path, default=Path("weights/vqgan"), help="weights folder of the high-resolution VQGAN")
    p.add_argument("--limit", type=int, default=1000)
    args = p.parse_args(argv)
    faces = load_faces(args.data, "held_out", LOW_RES_SUBSET).numpy()[: args.limit]
    rows = []
    for path in (args.low, args.high):
        model = VQGAN.from_pretrained(path).eval()
        start = time.perf_counter()
        rec = reconstruct_at(model, faces)
        c = model.config
        upsampled = " (upsampled)" if c.image_size < faces.shape[1] else ""
        rows.append({
            "model": f"{c.image_size}x{c.image_size}, {c.quantizer_depth} code(s) per cell{upsampled}",
            "parameters M": sum(p.numel() for p in model.parameters()) / 1e6,
            "psnr dB": psnr(faces, rec),
            "ssim": ssim(faces, rec),
            "seconds": time.perf_counter() - start,
        })  # fmt: skip
    print(table(rows, f"{len(faces)} held-out faces at {faces.shape[1]}x{faces.shape[1]}"))
    print(f"\n{machine()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
