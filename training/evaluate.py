"""Evaluate a model family on held-out aligned faces; prints one JSON object with --json.

    python -m training.evaluate {ae,vae,gan,vqgan,transformer} --weights DIR --data DATA_DIR --json

DATA_DIR is a folder written by training.prepare (its held-out split is used) or a folder of image
files (faces are detected and aligned first). Keys, as they apply (DESIGN.md): psnr, ssim
(reconstructions), codebook_usage and perplexity (VQGAN), bits_per_token (transformer), fd (samples
vs held-out faces, in dlib face-descriptor space), fd_real (two halves of the held-out faces: the
floor), n_images.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

from models import REGISTRY, VQGAN, FaceModel, WeightsError, sample_images
from models.tensors import to_images, to_model_range

from .data import load_faces


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Mean per-image PSNR in dB of uint8 images (N, S, S, 3)."""
    mse = ((a.astype(np.float64) - b.astype(np.float64)) ** 2).reshape(len(a), -1).mean(1)
    return float(np.mean(10 * np.log10(255.0**2 / np.maximum(mse, 1e-10))))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM (skimage, Gaussian window as in Wang et al. 2004) of uint8 images (N, S, S, 3)."""
    from skimage.metrics import structural_similarity

    return float(
        np.mean(
            [
                structural_similarity(x, y, channel_axis=2, gaussian_weights=True, sigma=1.5, data_range=255)
                for x, y in zip(a, b, strict=True)
            ]
        )
    )


def load_eval_faces(data: Path, size: int, limit: int, exclude: tuple[str, ...] = ()) -> np.ndarray:
    """Held-out split of a prepared dataset (less names starting with `exclude`), or
    detected-and-aligned faces from a folder of images."""
    if (data / "index.json").exists():
        return load_faces(data, "held_out", exclude).numpy()[:limit]
    from pipelines.faces import align_face, detect_faces
    from pipelines.images import ImageError, load_image

    crops = []
    for path in sorted(data.iterdir()):
        try:
            image = load_image(path)
        except ImageError:
            continue
        faces = detect_faces(image)
        if faces:
            crops.append(align_face(image, faces[0].landmarks, size)[0])
    return np.stack(crops)[:limit] if crops else np.zeros((0, size, size, 3), np.uint8)


@torch.no_grad()
def reconstruct(model: FaceModel, faces: np.ndarray, batch: int = 128) -> np.ndarray:
    """(N, S, S, 3) uint8 faces through a model that reconstructs -> (N, S, S, 3) uint8."""
    return np.concatenate([to_images(model.reconstruct(to_model_range(faces[i : i + batch]))) for i in range(0, len(faces), batch)])


@torch.no_grad()
def codes_of(vqgan: VQGAN, faces: np.ndarray, batch: int = 128) -> torch.Tensor:
    """(N, S, S, 3) uint8 -> (N, h, w) code indices."""
    return torch.cat([vqgan.encode_to_indices(to_model_range(faces[i : i + batch])) for i in range(0, len(faces), batch)])


@torch.no_grad()
def generate(model: FaceModel, n: int, seed: int, decoder: VQGAN | None, batch: int = 64) -> np.ndarray:
    gen = torch.Generator().manual_seed(seed)
    return np.concatenate([to_images(sample_images(model, min(batch, n - i), gen, decoder=decoder, top_k=100)) for i in range(0, n, batch)])


def evaluate(
    family: str, weights: Path, data: Path, limit: int, n_samples: int, seed: int, vqgan_path: Path | None, exclude: tuple[str, ...] = ()
) -> dict:
    """The metrics that apply to the family: reconstruction (psnr, ssim), codebook health (a model
    with a quantizer), bits per token (a model of codes), Frechet distance (a model that samples)."""
    from .identity import describe_crops, frechet_distance

    model = REGISTRY[family].from_pretrained(weights)
    vqgan = VQGAN.from_pretrained(vqgan_path) if model.trains_on == "codes" else None
    size = (vqgan or model).config.image_size
    faces = load_eval_faces(data, size, limit, exclude)
    if len(faces) < 2:
        raise ValueError(f"{data}: fewer than 2 faces to evaluate on")
    result: dict[str, float | int] = {"n_images": int(len(faces))}
    if model.reconstructs:
        rec = reconstruct(model, faces)
        result["psnr"] = psnr(faces, rec)
        result["ssim"] = ssim(faces, rec)
    if hasattr(model, "quantizer"):
        result.update(model.quantizer.health(codes_of(model, faces)))
    if vqgan is not None:
        codes = codes_of(vqgan, faces).flatten(1)
        with torch.no_grad():
            nll = sum(float(model.loss(codes[i : i + 64])[0]) * len(codes[i : i + 64]) for i in range(0, len(codes), 64)) / len(codes)
        result["bits_per_token"] = nll / math.log(2)
    if model.samples and n_samples:
        real = describe_crops(faces[: 2 * n_samples])
        half = len(real) // 2
        samples = describe_crops(generate(model, n_samples, seed, vqgan))
        result["fd"] = frechet_distance(samples, real[:half])
        result["fd_real"] = frechet_distance(real[:half], real[half : 2 * half])
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Evaluate one CodeSwap model on held-out faces.")
    p.add_argument("family", choices=sorted(REGISTRY))
    p.add_argument("--weights", required=True, type=Path, help="folder with config.json + model.safetensors")
    p.add_argument("--data", required=True, type=Path, help="prepared dataset folder, or a folder of photos")
    p.add_argument("--vqgan", type=Path, default=Path("weights/vqgan"), help="the VQGAN under the transformer")
    p.add_argument("--limit", type=int, default=1000, help="at most this many held-out faces")
    p.add_argument("--samples", type=int, default=500, help="generated images for the Frechet distance (0: skip)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--exclude", action="append", default=[], metavar="PREFIX", help="skip held-out faces named PREFIX...")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    if not args.data.is_dir():
        print(f"error: --data {args.data}: not a folder", file=sys.stderr)
        return 2
    try:
        result = evaluate(args.family, args.weights, args.data, args.limit, args.samples, args.seed, args.vqgan, tuple(args.exclude))
    except (WeightsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>16}  {v:.4f}" if isinstance(v, float) else f"{k:>16}  {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
