"""Video swap: frames per second at 720p with the stage breakdown, peak memory at 1x and 4x the
length (streaming keeps it flat), and landmark jitter of the swapped face against the input's.

    python -m benchmarks.video [--skip-memory] [--skip-jitter]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import torch

from pipelines import FaceSwapPipeline
from pipelines.faces import detect_faces
from pipelines.video import VideoLimits, VideoSwapPipeline

from .common import PHOTOS, ROOT, VIDEOS, machine, table

CLIP = VIDEOS / "singer_music_video_720p.mp4"  # 1280x720, 30 fps, 289 frames, AAC audio
SOURCE = PHOTOS / "woman_redhair_wide.jpg"

RUN_ONE = """
import json, resource, sys
from pipelines.video import VideoSwapPipeline, VideoLimits
pipe = VideoSwapPipeline.from_pretrained(limits=VideoLimits(max_seconds=600, max_frames=20000))
r = pipe(sys.argv[1], sys.argv[2], sys.argv[3])
print(json.dumps({"frames": r.frames, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def landmark_track(path: Path) -> list[np.ndarray | None]:
    """MTCNN landmarks of the largest face in every frame (None where no face)."""
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    w, h = meta["size"]
    out = []
    for raw in reader:
        faces = detect_faces(np.frombuffer(raw, np.uint8).reshape(h, w, 3))
        out.append(max(faces, key=lambda f: f.size).landmarks if faces else None)
    return out


def steps(track: list[np.ndarray | None]) -> np.ndarray:
    """Frame-to-frame landmark movement (mean over the 5 points, pixels) where both frames have a face."""
    return np.array(
        [np.linalg.norm(b - a, axis=1).mean() for a, b in zip(track, track[1:], strict=False) if a is not None and b is not None]
    )


def shake(track: list[np.ndarray | None]) -> float:
    """Mean landmark acceleration |x[t+1] - 2 x[t] + x[t-1]| (pixels): the jitter that motion alone does not explain."""
    trios = zip(track, track[1:], track[2:], strict=False)
    acc = [np.linalg.norm(c - 2 * b + a, axis=1).mean() for a, b, c in trios if a is not None and b is not None and c is not None]
    return float(np.mean(acc)) if acc else float("nan")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--detect-every", type=int, default=3)
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument("--skip-jitter", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    tmp = Path(tempfile.mkdtemp())
    pipe = VideoSwapPipeline(FaceSwapPipeline.from_pretrained(), VideoLimits(max_seconds=600, max_frames=20000))
    out = tmp / "swap.mp4"
    r = pipe(SOURCE, CLIP, out, detect_every=args.detect_every)
    rows = [{"stage": k, "ms per frame": v / r.frames * 1000} for k, v in r.timings.items()]
    wall = r.seconds / r.frames * 1000
    rows.append({"stage": "total (wall; the reading thread, read to expression, overlaps the rest)", "ms per frame": wall})
    title = f"Video swap, {CLIP.name} ({r.size[0]}x{r.size[1]}, {r.frames} frames): {r.frames / r.seconds:.1f} fps"
    print(table(rows, f"{title}, detect every {args.detect_every}"))

    if not args.skip_memory:
        ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
        long = tmp / "x4.mp4"
        subprocess.run([ffmpeg, "-v", "error", "-stream_loop", "3", "-i", str(CLIP), "-c", "copy", str(long)], check=True)
        mem = []
        for name, clip in (("1x", CLIP), ("4x", long)):
            res = subprocess.run([sys.executable, "-c", RUN_ONE, str(SOURCE), str(clip), str(tmp / f"m{name}.mp4")],
                                 cwd=ROOT, capture_output=True, text=True, check=True)  # fmt: skip
            m = json.loads(res.stdout.strip().splitlines()[-1])
            mem.append({"length": name, "frames": m["frames"], "peak RSS MB": m["peak_mb"]})
        print("\n" + table(mem, "Peak memory of a whole video swap process"))

    if not args.skip_jitter:
        before, after = landmark_track(CLIP), landmark_track(out)
        offset = [np.linalg.norm(a - b, axis=1).mean() for a, b in zip(before, after, strict=True) if a is not None and b is not None]
        rows = []
        for name, track in (("input", before), ("swapped output", after)):
            s = steps(track)
            rows.append({"video": name, "mean step px": s.mean(), "median step px": np.median(s), "acceleration px": shake(track),
                         "frames with a face": sum(p is not None for p in track)})  # fmt: skip
        print("\n" + table(rows, "Jitter: frame-to-frame movement of the largest face's 5 landmarks (MTCNN on every frame)"))
        print(f"output face vs input face landmarks: median {np.median(offset):.1f} px, 95th percentile {np.percentile(offset, 95):.1f} px")
    print(f"\n{machine()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
