"""What the web app does, without the web: one plain class whose methods take the form's values and
return files, pictures with captions and text. app.py only lays out the page and wires these in.

    core = AppCore(*load_pipelines())
    path, gallery, info = core.swap_photo("a.jpg", "b.jpg", PhotoSettings(regions=["face"]))
    core.sample("vqgan", n=16, seed=0)                        -> PNG path

A person's mistake raises a ValueError whose message says what to do (MissingInput for an empty
field); app.py shows it as it is. Output files go to one folder, each written atomically with its
labels and Content Credentials, and are deleted after OUTPUT_MAX_AGE seconds.
"""

from __future__ import annotations

import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .credentials import Made
from .provenance import check, save_output_image
from .sampling import SamplingPipeline
from .swap import FaceSwapPipeline, SwapOptions
from .video import Cancelled, VideoLimits, VideoSwapPipeline
from .visualize import code_map_image, grid, mask_image, upscale, usage_chart, zoom

OUTPUT_MAX_AGE = 3600  # seconds an output file is kept for download
Progress = Callable[[float, str], None]  # (fraction done, what is happening)
Gallery = list[tuple[np.ndarray, str]]  # pictures with their captions


class MissingInput(ValueError):
    """A field the person left empty; the message says which."""


def need(value, what: str):
    if value is None or (isinstance(value, str) and not value):
        raise MissingInput(f"Please provide {what}.")
    return value


@dataclass
class PhotoSettings:
    """The swap options as the form holds them (the photo and the video tab share them)."""

    regions: list[str]
    target_face: str = "all"
    strength: float = 1.0
    softness: float = 0.08
    color: bool = True
    detail: float = 1.0
    expression: str = "source"
    harmonize: bool = False
    hands: bool = True  # hands in front of a face keep their pixels (SwapOptions.hands)

    def options(self) -> SwapOptions:
        if not self.regions:
            raise MissingInput("Choose at least one face region to swap.")
        return SwapOptions(
            regions=tuple(self.regions), target_face=str(self.target_face), strength=float(self.strength),
            softness=float(self.softness), color_correction=bool(self.color), harmonize=bool(self.harmonize),
            detail=float(self.detail), expression=str(self.expression or "source"), hands=bool(self.hands),
        )  # fmt: skip


def load_pipelines(root=None, device=None) -> tuple[FaceSwapPipeline, VideoSwapPipeline, SamplingPipeline]:
    """Every model loaded once, on one device (pipelines/device.py): the photo swap, the video swap
    on top of it, the sampling families. Under ZeroGPU (Spaces), models are placed on CUDA here, at
    start-up, and the GPU is attached to each request by the spaces.GPU wrapper of app.py's handlers."""
    swapper = FaceSwapPipeline.from_pretrained(root, device=device)
    sampler = SamplingPipeline.from_pretrained(root, detector=swapper.detector, device=swapper.device)
    return swapper, VideoSwapPipeline(swapper, VideoLimits()), sampler


class AppCore:
    def __init__(self, swapper: FaceSwapPipeline, video: VideoSwapPipeline, sampler: SamplingPipeline, output_dir: Path | None = None):
        self.swapper, self.video, self.sampler = swapper, video, sampler
        self.output_dir = output_dir or Path(tempfile.gettempdir()) / "codeswap-outputs"
        self.stop_events: dict[str, threading.Event] = {}  # session -> the Stop signal of its running video swap

    # -- files ---------------------------------------------------------------------------------------
    def new_output(self, suffix: str) -> Path:
        """A fresh output path; outputs older than OUTPUT_MAX_AGE are removed on the way."""
        self.output_dir.mkdir(parents=True, exist_ok=True)
        now = time.time()
        for old in self.output_dir.iterdir():
            if now - old.stat().st_mtime > OUTPUT_MAX_AGE:
                old.unlink(missing_ok=True)
        return self.output_dir / f"codeswap-{uuid.uuid4().hex[:12]}{suffix}"

    def save_png(self, image: np.ndarray, made: Made) -> str:
        """An output file to serve: labels, C2PA manifest, written atomically."""
        path = self.new_output(".png")
        save_output_image(image, path, made)
        return str(path)

    # -- what the page shows without a request ---------------------------------------------------------
    @property
    def sampling_families(self) -> list[str]:
        return self.sampler.available()

    def codebook_usage(self) -> tuple[str, np.ndarray]:
        """A sentence on the VQGAN's codebook and a chart of its codes sorted by running usage."""
        q = self.swapper.vqgan.quantizer
        stage = " of the first stage" if q.depth > 1 else ""
        text = (
            f"{q.codes_in_regular_use()} of {q.codebook_size} codes{stage} in regular use during training "
            "(running usage above a tenth of uniform)."
        )
        return text, usage_chart(q.usage.numpy())

    # -- the tabs --------------------------------------------------------------------------------------
    def swap_photo(
        self, source, target, settings: PhotoSettings, reference=None, progress: Progress | None = None
    ) -> tuple[str, Gallery, str]:
        """-> (result PNG path, the intermediates with captions, a one-line report)."""
        need(source, "a source photo (the face to use)")
        need(target, "a target photo (the photo to change)")
        if progress:
            progress(0.1, "Detecting and swapping faces")
        r = self.swapper(source, target, settings.options(), reference=reference)
        vq = self.swapper.vqgan.config
        k, depth, cell = vq.codebook_size, vq.quantizer_depth, 256 // vq.grid_size  # code maps shown 256 px wide
        gallery = [
            (upscale(r.source_crop), "Source face, aligned"),
            # the source as encoded, where it was turned to the target's pose and/or took its expression
            *(
                [(upscale(r.posed_crops[0]), "Source as encoded for the target")]
                if not np.array_equal(r.posed_crops[0], r.source_crop)
                else []
            ),
            (upscale(r.target_crops[0]), "Target face, aligned"),
            (code_map_image(r.posed_codes[0], k, cell, depth), "Source codes"),
            (code_map_image(r.target_codes[0], k, cell, depth), "Target codes"),
            (code_map_image(r.swap_codes[0], k, cell, depth), "Swapped codes"),
            (mask_image(r.token_mask.astype(np.float32), cell), "Code mask (white = source)"),
            (upscale(r.decoded[0]), "Decoded, before blending"),
            (mask_image(r.mask, max(1, 256 // r.mask.shape[0])), "Blend mask"),
        ]
        stages = " · ".join(f"{name} {sec * 1000:.0f} ms" for name, sec in r.timings.items())
        warnings = "".join(f" Warning: {w}." for w in r.warnings)
        path = self.save_png(r.image, Made("face swap", ("vqgan",), len(r.target_faces)))
        return path, gallery, f"{len(r.target_faces)} face(s) swapped.{warnings} {stages}"

    def swap_video(self, source, clip, settings: PhotoSettings, detect_every: int = 3, reference=None, session: str | None = None,
                   progress: Callable[[int, int], None] | None = None) -> tuple[str | None, str]:  # fmt: skip
        """-> (result MP4 path or None when stopped, a one-line report). stop_video(session) cancels it."""
        need(source, "a source photo (the face to use)")
        need(clip, "a video")
        out = self.new_output(".mp4")
        stop = threading.Event()
        self.stop_events[session] = stop
        try:
            r = self.video(source, clip, out, settings.options(), detect_every=int(detect_every), progress=progress,
                           reference=reference, cancel=stop)  # fmt: skip
        except Cancelled:  # the person asked for it: a message, not an error
            return None, "Stopped: the video swap was cancelled and no output was written."
        finally:
            if self.stop_events.get(session) is stop:
                del self.stop_events[session]
        audio = "kept" if r.has_audio else "none in the input"
        note = f" Note: {r.note}." if r.note else ""
        return str(out), f"{r.frames} frames, {r.frames_with_faces} swapped, {r.frames / r.seconds:.1f} frames/s; audio {audio}.{note}"

    def stop_video(self, session: str | None) -> str:
        """The Stop button: the running video swap of this session stops at its next frame."""
        stop = self.stop_events.get(session)
        if stop is None:
            return "Nothing to stop."
        stop.set()
        return "Stopping..."

    def sample(self, family: str, n: int, seed: int, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
               truncation: float = 0.0) -> str:  # fmt: skip
        """A PNG grid of n samples; 0 (top-k, truncation) and 1 (top-p) mean off."""
        images = self.sampler.sample(
            family, int(n), int(seed), float(temperature), float(truncation) if truncation else None,
            int(top_k) if top_k else None, float(top_p) if top_p and top_p < 1 else None,
        )  # fmt: skip
        return self.save_png(zoom(grid(images, columns=min(8, int(n))), 2), Made(f"{int(n)} samples from the {family} model", (family,)))

    def reconstruct(self, photo) -> Gallery:
        need(photo, "a photo with a face")
        return [(upscale(img), f"{name}, {img.shape[0]}x{img.shape[1]}") for name, img in self.sampler.reconstruct(photo).items()]

    def interpolate(self, photo_a, photo_b, family: str, steps: int, mode: str) -> str:
        need(photo_a, "the first photo")
        need(photo_b, "the second photo")
        frames = self.sampler.interpolate(photo_a, photo_b, family, int(steps), mode)
        return self.save_png(zoom(grid(frames, columns=len(frames)), 2), Made(f"an interpolation with the {family} model", (family,)))

    def complete(self, photo, keep: str, n: int, seed: int, temperature: float) -> Gallery:
        need(photo, "a photo with a face")
        r = self.sampler.complete(photo, keep, int(n), int(seed), float(temperature))
        kept = mask_image(r["kept"].astype(np.float32), 256 // r["kept"].shape[0])
        return [(upscale(r["input"]), "Input"), (kept, "Kept codes (white)")] + [
            (upscale(v), f"Variation {i + 1}") for i, v in enumerate(r["variations"])
        ]

    def check_file(self, path) -> str:
        need(path, "an image or a video")
        return check(path).summary()
