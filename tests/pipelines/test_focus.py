"""The target's focus: a face pasted into a blurred photo is blurred as much (pipelines/focus.py)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipelines.detail import VIDEO_DETAIL
from pipelines.faces import detect_faces
from pipelines.focus import SteadyFocus, edge_blur, extra_blur, in_focus_of
from pipelines.images import load_image
from pipelines.swap import SwapOptions, align_at_detail

from ..conftest import photo


@pytest.fixture(scope="module")
def portrait():
    image = load_image(photo("man_portrait_flags_720p.jpg"))
    return image, max(detect_faces(image), key=lambda f: f.size)


def inner_box(image: np.ndarray, face) -> np.ndarray:
    """The MTCNN box shrunk by 15% on each side (benchmarks/swap_realism.py)."""
    x1, y1, x2, y2 = face.box
    dx, dy = 0.15 * (x2 - x1), 0.15 * (y2 - y1)
    return image[int(y1 + dy) : int(y2 - dy), int(x1 + dx) : int(x2 - dx)]


def sharpness(image: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float64), cv2.CV_64F).var())


@pytest.mark.parametrize("face_side", [80, 300])
def test_edge_blur_reads_how_blurred_a_face_is(portrait, face_side):
    """A real face, as small as a video's audience or as large as a portrait's, blurred by 0-3 of its
    pixels: the measure grows with the blur, whatever the face's size, and reads the same face alike."""
    image, face = portrait
    k = face_side / face.size
    small = cv2.resize(image, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
    read = [edge_blur(align_at_detail(small if s == 0 else cv2.GaussianBlur(small, (0, 0), s), face.landmarks * k, 128, VIDEO_DETAIL)[2])
            for s in (0, 1, 2, 3)]  # fmt: skip
    assert all(b > a + 0.25 for a, b in zip(read, read[1:], strict=False)), read
    assert extra_blur(read[0], read[0]) == 0.0 and extra_blur(read[3], read[0]) == 0.0  # never for a sharper target
    assert extra_blur(read[0], read[3]) > 1.0
    assert extra_blur(None, read[3]) == 0.0  # a face with too few edges to read is left as it is
    face_hi = align_at_detail(small, face.landmarks * k, 128, VIDEO_DETAIL)[2]
    assert in_focus_of(face_hi, 0.0) is face_hi


def test_a_blurred_target_gets_a_face_as_blurred(swapper, portrait):
    """A sharp source onto a portrait blurred by 3 pixels: the swapped face is about as sharp as the
    blurred face was (without the focus match it is many times sharper); onto the sharp portrait the
    source is not blurred at all."""
    image, face = portrait
    source = load_image(photo("woman_redhair_wide.jpg"))
    blurred = cv2.GaussianBlur(image, (0, 0), 3.0)
    target = sharpness(inner_box(blurred, face))
    matched = sharpness(inner_box(swapper(source, blurred, target_face="largest").image, face)) / target
    kept = sharpness(inner_box(swapper(source, blurred, target_face="largest", focus=False).image, face)) / target
    assert matched < 2.0 and kept > 5.0, (matched, kept)
    on_sharp = swapper(source, image, SwapOptions(target_face="largest"))
    assert np.array_equal(on_sharp.image, swapper(source, image, SwapOptions(target_face="largest", focus=False)).image)


def test_a_videos_focus_is_steadied_per_face(portrait):
    """A face whose blur flickers between two readings from frame to frame is given a width that moves
    a fraction as much, per face (another face's readings do not mix in), in pixels of the side it is
    read at (the side steps as a face grows)."""
    image, face = portrait
    frames = [align_at_detail(cv2.GaussianBlur(image, (0, 0), s), face.landmarks, 128, VIDEO_DETAIL)[2] for s in (1.0, 2.0)]
    raw = [edge_blur(f) for f in frames]
    steady = SteadyFocus()
    widths = [steady("a", frames[i % 2]) for i in range(12)]
    assert widths[0] == pytest.approx(raw[0])  # a new face starts from its own reading
    late = np.abs(np.diff(widths[6:]))
    assert late.max() < 0.35 * abs(raw[1] - raw[0]), (widths, raw)
    assert steady("b", frames[1]) == pytest.approx(raw[1])  # its own mean
    width = steady("c", frames[0])
    bigger = cv2.resize(frames[0], (2 * frames[0].shape[0],) * 2, interpolation=cv2.INTER_CUBIC)
    assert steady("c", bigger) == pytest.approx(2 * width, rel=0.25)  # the same face, read at twice the side
