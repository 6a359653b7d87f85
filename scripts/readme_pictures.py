"""The README's pictures, made only from what we may ship (assets/ and our own models' samples).

    python scripts/readme_pictures.py            # -> docs/examples.jpg
    CODESWAP_SCREENSHOTS=docs/screenshots python -m pytest tests/test_app.py -k fits   # the app's screenshots

examples.jpg: three swaps (source, target, result), each face from assets/ or sampled by our VQGAN's
prior, then a row of samples from every family. Outputs are our own; every face we made carries the watermark.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines import FaceSwapPipeline, SamplingPipeline  # noqa: E402
from pipelines.images import save_image_atomic  # noqa: E402
from pipelines.provenance import labels  # noqa: E402

TILE = 256  # px per picture
LABEL = 22  # px of caption under each picture


def tile(image: np.ndarray, caption: str) -> Image.Image:
    """An RGB array, fitted into a TILE x TILE square (letterboxed on white), with a caption below."""
    im = Image.fromarray(image)
    scale = TILE / max(im.size)
    im = im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS)
    out = Image.new("RGB", (TILE, TILE + LABEL), "white")
    out.paste(im, ((TILE - im.width) // 2, (TILE - im.height) // 2))
    ImageDraw.Draw(out).text((6, TILE + 4), caption, fill=(40, 40, 40))
    return out


def row(tiles: list[Image.Image], gap: int = 8) -> Image.Image:
    out = Image.new("RGB", (len(tiles) * (TILE + gap) - gap, TILE + LABEL), "white")
    for i, t in enumerate(tiles):
        out.paste(t, (i * (TILE + gap), 0))
    return out


def main() -> int:
    swap = FaceSwapPipeline.from_pretrained()
    sampler = SamplingPipeline.from_pretrained(detector=swap.detector)
    astronaut = np.asarray(Image.open(ROOT / "assets" / "astronaut.png").convert("RGB"))
    vae_face = np.asarray(Image.open(ROOT / "assets" / "generated_face_vae.png").convert("RGB"))
    sampled = sampler.sample("vqgan", n=8, seed=11, top_k=100)  # (8, 128, 128, 3): faces of no one (the app's default top-k)
    pairs = [
        (sampled[3], "source: VQGAN sample", astronaut, "target: astronaut (public domain)"),
        (vae_face, "source: VAE sample", astronaut, "target: astronaut"),
        (astronaut, "source: astronaut", vae_face, "target: VAE sample"),
    ]
    rows = []
    for source, source_caption, target, target_caption in pairs:
        r = swap(source, target)
        x1, y1, x2, y2 = r.target_faces[0].box
        pad = 0.35 * max(x2 - x1, y2 - y1)
        h, w = r.image.shape[:2]
        face = r.image[max(0, int(y1 - pad)) : min(h, int(y2 + pad)), max(0, int(x1 - pad)) : min(w, int(x2 + pad))]
        rows.append(
            row([tile(source, source_caption), tile(target, target_caption), tile(r.image, "result"), tile(face, "result, the face")])
        )
    families = [(f, sampler.sample(f, n=1, seed=3)[0]) for f in ("ae", "vae", "gan")] + [("vqgan + prior", s) for s in sampled[:3]]
    samples = row([tile(face, f"sample: {name}") for name, face in families])
    width = max(r.width for r in [*rows, samples])
    sheet = Image.new("RGB", (width, sum(r.height + 12 for r in [*rows, samples])), "white")
    y = 0
    for r in [*rows, samples]:
        sheet.paste(r, (0, y))
        y += r.height + 12
    out = ROOT / "docs" / "examples.jpg"
    out.parent.mkdir(exist_ok=True)
    save_image_atomic(np.asarray(sheet), out, text=labels())  # labelled synthetic; the faces carry the watermark
    print(f"wrote {out} ({sheet.width}x{sheet.height})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
