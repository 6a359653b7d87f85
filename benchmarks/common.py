"""Shared by the benchmarks and the tests: the data folder, a free port, a machine description, tables."""

from __future__ import annotations

import os
import platform
import socket
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("CODESWAP_SHARED_DATA", ROOT.parent / "shared" / "data"))
PHOTOS = SHARED_DATA / "photos"
VIDEOS = SHARED_DATA / "videos"

# Distinct people, one clear face each (different identities by their sources; see SOURCES.md).
SINGLE_FACE_PHOTOS = [
    "man_costume_fur_seated.jpg", "man_frontal_closeup_video_still.jpg", "man_grayscale_portrait.jpg",
    "man_laughing_closeup.png", "man_microphone_closeup.png", "man_movie_still_dark.png",
    "man_portrait_flags_720p.jpg", "man_portrait_light_background.jpg", "man_smiling_vest_wide.jpg",
    "man_sports_jersey.jpg", "man_standing_full_body_tall.jpg", "woman_exif_orientation6_rotated.jpg",
    "woman_head_tilted_roll.png", "woman_redhair_wide.jpg", "woman_three_quarter_right.png",
]  # fmt: skip


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on (for a throwaway app server)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")  # its model name says more than the architecture ("AMD EPYC" vs "x86_64")
    names = (
        [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")]
        if cpuinfo.exists()
        else []
    )
    cpu = names[0] if names else cpu
    isa = torch.backends.cpu.get_cpu_capability()  # the vector ISA torch's kernels use: AVX2, AVX512, ...
    return f"{cpu} ({isa}), {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"


def table(rows: list[dict], title: str = "") -> str:
    """Rows of equal keys -> a Markdown table."""
    if not rows:
        return f"{title}\n(no rows)"
    keys = list(rows[0])
    fmt = lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)
    lines = [f"| {' | '.join(keys)} |", f"|{'---|' * len(keys)}"]
    lines += [f"| {' | '.join(fmt(r[k]) for k in keys)} |" for r in rows]
    return (f"{title}\n\n" if title else "") + "\n".join(lines)
