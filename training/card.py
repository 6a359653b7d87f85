"""Write a shipped model's folder: weights + model card + a sample/reconstruction grid.

    python -m training.card FAMILY --run RUN_DIR --data DATA_DIR [--metrics metrics.json] -o weights/FAMILY

Copies RUN_DIR/final (config.json + model.safetensors), renders samples.png with the shipped
weights, and writes README.md from the run's arguments, log and the evaluation metrics.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch

from models import REGISTRY, VQGAN

from .data import load_faces, to_model_range, to_uint8_images

DESCRIPTIONS = {
    "ae": "Regularized autoencoder: conv encoder to a 128-d bottleneck, conv decoder with a sigmoid output; "
    "loss = binary cross-entropy + lambda * sum of squared weights (biases excluded). Samples come from a "
    "full-covariance Gaussian fitted to training latents (ex-post density estimation).",
    "vae": "Variational autoencoder: conv encoder to mu and log sigma^2 (128-d), reparameterization, conv decoder; "
    "loss = binary cross-entropy + KL(q(z|x) || N(0, I)) in closed form (the negative ELBO).",
    "gan": "DCGAN: transposed-conv generator from a 128-d N(0, I) latent; spectrally normalized conv discriminator; "
    "L_D = -E[log D(x)] - E[log(1 - D(G(z)))], non-saturating L_G = -E[log D(G(z))].",
    "vqgan": "VQGAN: stride-2 conv encoder to a 16x16 grid, residual blocks at 16x16, l2-normalized codebook "
    "(factorized 32-d codes) with straight-through gradients, codebook + 0.25 * commitment terms, dead-code "
    "restarts; nearest-neighbour-upsampling decoder; L1 + L2 reconstruction; patch-GAN hinge term with the adaptive "
    "weight after a warm-up.",
    "transformer": "GPT over the VQGAN's 16x16 code grid in raster order (a start token, learned positions, causal "
    "self-attention), trained with the mean negative log-likelihood of the codes; sampling with a KV cache, "
    "temperature, top-k and top-p.",
}

TERMS = (
    "Trained on about 19,400 aligned faces from CelebA (MMLAB, CUHK; via the shards in shared/data/faces, see "
    "their SOURCES.md), detected and aligned with this repository's pipelines/faces.py at 64x64; a fixed held-out "
    "split of about 1,200 faces is used for the metrics. CelebA is available for non-commercial research and "
    "educational purposes only; these weights are derived from it and carry the same restriction. No training "
    "image is included here."
)


@torch.no_grad()
def render(family: str, model, faces: torch.Tensor, vqgan: VQGAN | None) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    rows = []
    if family in ("ae", "vae", "vqgan"):
        x = to_model_range(faces[:8])
        rec = model.decode_indices(model.encode_to_indices(x)) if family == "vqgan" else model(x)
        rows += [x, rec]
    if family in ("ae", "vae", "gan"):
        rows.append(model.sample(16, generator=gen))
    if family == "transformer":
        g = vqgan.config.grid_size
        rows.append(vqgan.decode_indices(model.sample(16, generator=gen, top_k=100).view(16, g, g)))
    return torch.cat(rows)


def main(argv=None) -> int:
    from PIL import Image

    from pipelines.sampling import grid

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("family", choices=sorted(REGISTRY))
    p.add_argument("--run", required=True, type=Path)
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--metrics", type=Path, help="JSON printed by training.evaluate --json")
    p.add_argument("--vqgan", type=Path, default=Path("weights/vqgan"))
    p.add_argument("-o", "--out", required=True, type=Path)
    args = p.parse_args(argv)
    final = args.run / "final"
    args.out.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "model.safetensors"):
        shutil.copy2(final / name, args.out / name)
    model = REGISTRY[args.family].from_pretrained(args.out)
    vqgan = VQGAN.from_pretrained(args.vqgan) if args.family == "transformer" else None
    faces = load_faces(args.data, "held_out")
    images = to_uint8_images(render(args.family, model, faces, vqgan))
    sheet = grid(images, columns=8)
    Image.fromarray(sheet.repeat(2, 0).repeat(2, 1)).save(args.out / "samples.png")

    log = [json.loads(line) for line in (args.run / "log.jsonl").read_text().splitlines() if line.strip()]
    run_args = json.loads((args.run / "args.json").read_text())
    step = log[-1]["step"] if log else 0
    minutes = log[-1]["seconds"] / 60 if log else 0
    metrics = json.loads(args.metrics.read_text()) if args.metrics else {}
    params = sum(p.numel() for p in model.parameters())
    size_mb = (args.out / "model.safetensors").stat().st_size / 1e6
    config = json.loads((args.out / "config.json").read_text())
    lines = [
        f"# CodeSwap {args.family}",
        "",
        DESCRIPTIONS[args.family],
        "",
        f"- Parameters: {params / 1e6:.2f} M ({size_mb:.1f} MB safetensors)",
        f"- Config: `{json.dumps(config)}`",
        f"- Training: {step} steps of batch {run_args.get('batch_size')} at lr {run_args.get('lr')} (warm-up, cosine decay), "
        f"bf16 autocast {run_args.get('bf16')}, horizontal flips; {minutes:.0f} min wall time on 2 CPU cores "
        "(shared with other jobs) with `python -m training.train`.",
        "",
        "## Metrics on the held-out faces",
        "",
        "| metric | value |",
        "|---|---|",
        *(f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in metrics.items()),
        "",
        "fd / fd_real: Frechet distance in dlib face-descriptor space between samples and held-out faces, and between "
        "two halves of the held-out faces (the floor).",
        "",
        "## Samples",
        "",
        "![samples](samples.png)",
        "",
        "Rows, as they apply: held-out faces, their reconstructions, samples (seed 0).",
        "",
        "## Data and terms",
        "",
        TERMS,
        "",
    ]
    (args.out / "README.md").write_text("\n".join(lines))
    print(f"wrote {args.out}: {params / 1e6:.2f} M parameters, {size_mb:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
