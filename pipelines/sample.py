"""Command line: a grid of samples from one model family.

python -m pipelines.sample {ae,vae,gan,vqgan} -n 16 --seed 0 -o GRID.png
"""

from __future__ import annotations

import argparse
import sys

from models import WeightsError

from .credentials import Made
from .images import ImageError
from .provenance import save_output_image
from .sampling import FAMILIES, SamplingPipeline
from .visualize import grid, zoom


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Sample faces from one CodeSwap model family.")
    p.add_argument("family", choices=FAMILIES)
    p.add_argument("-n", type=int, default=16, help="number of samples (1-64)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", required=True, help="grid image (.png)")
    p.add_argument("--temperature", type=float, default=1.0, help="ae, vae, vqgan")
    p.add_argument("--truncation", type=float, default=None, help="gan: redraw latents beyond this")
    p.add_argument("--top-k", type=int, default=100, help="vqgan")
    p.add_argument("--top-p", type=float, default=None, help="vqgan")
    p.add_argument("--upscale", type=int, default=2, help="nearest-neighbour upscaling of the grid")
    p.add_argument("--weights", default=None, help="weights folder or Hub repo id (default: weights/)")
    args = p.parse_args(argv)
    try:
        pipe = SamplingPipeline.from_pretrained(args.weights)
        images = pipe.sample(args.family, args.n, args.seed, args.temperature, args.truncation, args.top_k, args.top_p)
        sheet = zoom(grid(images), args.upscale)
        save_output_image(sheet, args.output, Made(f"{args.n} samples from the {args.family} model", (args.family,)))
    except (ValueError, WeightsError, ImageError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.output}: {args.n} {args.family} samples, seed {args.seed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
