"""Shared fixtures: tiny seeded model configs, the shared data folder, the shipped weights."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("CODESWAP_SHARED_DATA", ROOT.parent / "shared" / "data"))
PHOTOS = SHARED_DATA / "photos"
VIDEOS = SHARED_DATA / "videos"
WEIGHTS = ROOT / "weights"

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def photo(name: str) -> Path:
    path = PHOTOS / name
    if not path.is_file():
        pytest.fail(f"test photo missing: {path} (tests need ../shared/data beside the clone)")
    return path
