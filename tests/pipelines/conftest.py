"""Shared by the dense-landmark and expression tests: the landmark models, and real faces aligned."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.faces import align_face, detect_faces
from pipelines.images import load_image
from pipelines.landmarks import DenseLandmarks

from ..conftest import photo

SIDE = 256  # the aligned faces' side


@pytest.fixture(scope="session")
def landmarks() -> DenseLandmarks:
    return DenseLandmarks()


def aligned(name: str) -> np.ndarray:
    """The largest face of a test photo, aligned at SIDE."""
    image = load_image(photo(name))
    return align_face(image, max(detect_faces(image), key=lambda f: f.size).landmarks, SIDE)[0]
