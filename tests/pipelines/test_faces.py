"""Detection on real photos and the alignment / paste-back geometry (pure functions)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.faces import CANONICAL_TEMPLATE, align_face, alignment_matrix, default_detector, detect_faces, paste_back, transform_points
from pipelines.images import load_image

from ..conftest import photo


def test_detects_one_face_with_ordered_landmarks():
    image = load_image(photo("man_portrait_flags_720p.jpg"))
    faces = detect_faces(image)
    assert len(faces) == 1
    f = faces[0]
    assert f.score > 0.95 and f.landmarks.shape == (5, 2)
    x1, y1, x2, y2 = f.box
    assert x1 < f.landmarks[:, 0].min() and f.landmarks[:, 0].max() < x2
    le, re, nose, lm, rm = f.landmarks
    assert le[0] < re[0] and lm[0] < rm[0] and nose[1] < lm[1]  # left/right and eyes above mouth


def test_groups_sorted_by_confidence_and_no_face_is_empty():
    faces = detect_faces(load_image(photo("group_six_people_table.jpg")))
    assert len(faces) >= 5
    assert [f.score for f in faces] == sorted((f.score for f in faces), reverse=True)
    assert detect_faces(load_image(photo("no_face_landscape.jpg"))) == []


@pytest.mark.parametrize("name", ["group_six_people_table.jpg", "man_portrait_flags_720p.jpg", "woman_three_quarter_right.png"])
def test_channels_last_detector_finds_what_the_plain_one_finds(name):
    from facenet_pytorch import MTCNN

    image = load_image(photo(name))
    plain = MTCNN(keep_all=True, device="cpu", min_face_size=20, post_process=False)
    fast, slow = detect_faces(image, default_detector()), detect_faces(image, plain)
    assert len(fast) == len(slow) > 0
    for a, b in zip(fast, slow, strict=True):
        assert np.abs(a.box - b.box).max() < 1e-3 and np.abs(a.landmarks - b.landmarks).max() < 1e-3


def test_exif_rotated_face_is_found_upright():
    faces = detect_faces(load_image(photo("woman_exif_orientation6_rotated.jpg")))
    assert faces
    le, re = faces[0].landmarks[:2]
    assert abs(le[1] - re[1]) < abs(le[0] - re[0])  # eyes side by side, not stacked


def test_aligned_landmarks_land_on_the_template():
    image = load_image(photo("woman_head_tilted_roll.png"))
    face = detect_faces(image)[0]
    crop, matrix = align_face(image, face.landmarks, 64)
    assert crop.shape == (64, 64, 3)
    moved = transform_points(face.landmarks, matrix)
    assert np.abs(moved - CANONICAL_TEMPLATE * 64).max() < 64 * 0.08


landmarks5 = st.builds(
    lambda cx, cy, s, a: (CANONICAL_TEMPLATE - 0.5) @ np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]]) * s + [cx, cy],
    st.floats(60, 240),
    st.floats(60, 240),
    st.floats(40, 200),
    st.floats(-0.6, 0.6),
)


@settings(max_examples=60, deadline=None)
@given(landmarks5, st.sampled_from([32, 64, 128]))
def test_align_then_inverse_returns_the_landmarks(points, size):
    matrix = alignment_matrix(points, size)
    inverse = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2]
    back = transform_points(transform_points(points, matrix), inverse)
    assert np.allclose(back, points, atol=1e-6)
    assert np.allclose(transform_points(points, matrix), CANONICAL_TEMPLATE * size, atol=1e-3 * size)


@settings(max_examples=40, deadline=None)
@given(landmarks5, st.integers(0, 2**31 - 1))
def test_paste_back_leaves_pixels_outside_the_mask_unchanged(points, seed):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (300, 300, 3), dtype=np.uint8)
    before = image.copy()
    crop = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    mask = np.zeros((32, 32), np.float32)
    mask[8:24, 8:24] = 1.0
    matrix = alignment_matrix(points, 32)
    out = paste_back(image, crop, mask, matrix)
    assert np.array_equal(image, before)  # input untouched
    # every image pixel whose crop position is outside the mask's support (with a 1-pixel
    # margin for bilinear interpolation) must be bit-identical
    yy, xx = np.mgrid[0:300, 0:300]
    in_crop = transform_points(np.stack([xx.ravel() + 0.0, yy.ravel() + 0.0], 1), matrix).reshape(300, 300, 2)
    outside = (in_crop[..., 0] < 7) | (in_crop[..., 0] > 24) | (in_crop[..., 1] < 7) | (in_crop[..., 1] > 24)
    assert np.array_equal(out[outside], image[outside])
    assert out.shape == image.shape


@pytest.mark.parametrize("size", [16, 64])
def test_tiny_images_do_not_crash(size):
    image = np.full((size, size, 3), 128, np.uint8)
    assert detect_faces(image) == []
