"""Is this file one of ours? Every output carries three marks, and this module reads them back:

1. labels: a PNG text chunk / MP4 comment saying "made by CodeSwap" (any re-save drops them);
2. Content Credentials: a signed C2PA manifest (pipelines/credentials.py; a re-encode drops it);
3. an invisible watermark in every face we made (pipelines/watermark.py): survives JPEG, resizing,
   cropping and H.264, because it is read from the face itself.

    python -m pipelines.provenance FILE [--json]

prints what it finds. For a video, up to FRAMES frames spread over the clip are checked; the
watermark counts as found when it is found in at least two of them (or in the only one with a face).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import __version__, credentials, watermark
from .faces import default_detector, detect_faces

FRAMES = 16  # video frames checked
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")


def labels() -> dict[str, str]:
    """Metadata that labels every output as synthetic (PNG tEXt chunks, MP4 comment and encoder)."""
    return {"Software": f"CodeSwap {__version__}", "Comment": "Synthetic: made by CodeSwap (AI-generated content)"}


def save_output_image(image: np.ndarray, path: str | Path, made: credentials.Made) -> None:
    """Write one of our images atomically with its labels and a signed C2PA manifest (PNG or JPEG)."""
    from .images import save_image_atomic

    save_image_atomic(image, path, text=labels(), sign=lambda tmp, mime: credentials.sign_in_place(tmp, mime, made))


@dataclass
class Report:
    """What a file carries. watermark_*: over faces (an image) or checked frames with a face (a video)."""

    path: str
    kind: str  # "image" or "video"
    credentials: credentials.Credentials | None
    labels: dict[str, str]
    checked: int  # faces (image) or frames with a face (video) that were read
    marked: int  # of those, how many carry the watermark
    watermark: bool
    watermark_payload: str | None
    scores: list[float] = field(default_factory=list)  # the best z-score per face / frame

    def summary(self) -> str:
        lines = [f"{self.path} ({self.kind})"]
        c = self.credentials
        if c is None:
            lines.append("  Content Credentials: none")
        else:
            trust = "trusted signer" if c.trusted else "signer NOT trusted (not on a trust list; e.g. a development key)"
            lines.append(f"  Content Credentials: {'valid signature' if c.valid else 'INVALID'}, {trust}")
            lines.append(f"    signed by {c.signer} ({c.issuer}); generator {c.generator}")
            lines.append(f"    {c.description or 'no description'}{'; declared AI-generated' if c.ai_generated else ''}")
            if c.problems:
                lines.append(f"    validation: {', '.join(c.problems)}")
        unit = "faces" if self.kind == "image" else "frames with a face"
        if self.checked == 0:
            lines.append("  Watermark: no face found to read it from")
        elif self.watermark:
            lines.append(f"  Watermark: FOUND in {self.marked} of {self.checked} {unit} ({self.watermark_payload})")
        else:
            lines.append(f"  Watermark: not found ({self.checked} {unit} checked)")
        if self.labels:
            lines.append("  Labels: " + "; ".join(f"{k}={v}" for k, v in self.labels.items()))
        return "\n".join(lines)


def read_marks(image: np.ndarray, detector=None) -> list[watermark.FaceMark]:
    """Every face in an RGB uint8 picture, aligned at watermark.DETECT_SIZE and read."""
    faces = detect_faces(image, detector or default_detector(), min_score=0.8)
    return [watermark.read(image, f.landmarks) for f in faces]


def _png_labels(path: Path) -> dict[str, str]:
    from PIL import Image

    with Image.open(path) as im:
        text = getattr(im, "text", None) or {}
    return {k: v for k, v in text.items() if k in ("Software", "Comment")}


def video_frames(path: Path, n: int = FRAMES) -> list[np.ndarray]:
    """Up to n frames spread evenly over a video (RGB uint8)."""
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    w, h = meta["size"]
    total = max(1, round(float(meta.get("duration") or 0) * float(meta.get("fps") or 0)))
    stride = max(1, total // n)
    frames = [np.frombuffer(raw, np.uint8).reshape(h, w, 3) for i, raw in enumerate(reader) if i % stride == 0]
    return frames[:n]


def check(path: str | Path, detector=None) -> Report:
    """Read every mark a file carries."""
    from .images import load_image

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    creds = credentials.read(path)
    if path.suffix.lower() in VIDEO_SUFFIXES:
        per_frame = [read_marks(frame, detector) for frame in video_frames(path)]
        best = [max(marks, key=lambda m: m.score) for marks in per_frame if marks]
        marked = [m for m in best if m.found]
        found = len(marked) >= min(2, len(best)) and bool(marked)
        kind, lbl = "video", {}
    else:
        marks = read_marks(load_image(path, name=path.name), detector)
        best, marked = marks, [m for m in marks if m.found]
        found = bool(marked)
        kind, lbl = "image", _png_labels(path) if path.suffix.lower() == ".png" else {}
    payloads = [m.payload for m in marked]
    payload = max(set(payloads), key=payloads.count) if payloads else None
    return Report(str(path), kind, creds, lbl, len(best), len(marked), found, payload, [round(m.score, 2) for m in best])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Check whether a picture or video was made by CodeSwap: C2PA manifest and watermark.")
    p.add_argument("file", help="image or video file")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    from .images import ImageError

    try:
        report = check(args.file)
    except (FileNotFoundError, ImageError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(asdict(report)) if args.json else report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
