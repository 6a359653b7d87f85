"""A face mask over the target's mouth (pipelines/covered.py): found, and kept by the swap."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipelines.blend import region_mask
from pipelines.covered import FLAT, covering_mask, mouth_flatness
from pipelines.faces import align_face, detect_faces
from pipelines.images import load_image
from pipelines.swap import SOURCE_COVERED, crop_landmarks

from ..conftest import photo

MASKED = "woman_wearing_face_mask.jpg"
SIDE = 128


def aligned(name: str):
    image = load_image(photo(name))
    face = max(detect_faces(image), key=lambda f: f.size)
    crop, matrix = align_face(image, face.landmarks, SIDE)
    return image, crop, matrix, crop_landmarks(face.landmarks, matrix, SIDE)


def test_a_face_mask_is_found_and_covers_the_lower_face_not_the_eyes():
    _, crop, _, shape = aligned(MASKED)
    assert mouth_flatness(crop, shape) < FLAT
    covering = covering_mask(crop, shape)
    face = region_mask(("face",), SIDE, shape)
    assert 0.25 < (covering * face).sum() / face.sum() < 0.6
    assert (covering * region_mask(("mouth",), SIDE, shape)).sum() / region_mask(("mouth",), SIDE, shape).sum() > 0.95
    assert (covering * region_mask(("eyes", "brows"), SIDE, shape)).sum() == 0


@pytest.mark.parametrize("name", ["man_portrait_flags_720p.jpg", "man_grayscale_portrait.jpg", "man_laughing_closeup.png",
                                  "woman_looking_down.jpg", "man_microphone_closeup.png"])  # fmt: skip
def test_a_bare_mouth_is_not_covered(name):
    _, crop, _, shape = aligned(name)
    assert mouth_flatness(crop, shape) > 2 * FLAT
    assert not covering_mask(crop, shape).any()


def test_the_swap_keeps_the_mask_and_swaps_the_eyes_above_it(swapper):
    image, crop, matrix, shape = aligned(MASKED)
    out = swapper(photo("woman_redhair_wide.jpg"), image).image
    before, after = (cv2.warpAffine(x, matrix, (SIDE, SIDE), flags=cv2.INTER_AREA) for x in (image, out))
    change = np.abs(before.astype(np.int16) - after).max(-1)
    covering = cv2.erode(covering_mask(crop, shape).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0  # off its edge
    eyes = region_mask(("eyes",), SIDE, shape) > 0.5
    assert covering.sum() > 500 and change[covering].mean() < 3  # the mask: the target's own pixels
    assert change[eyes].mean() > 12  # the eyes above it: the source's


def test_a_masked_source_lends_only_its_eyes_and_says_so(swapper):
    image, _, matrix, shape = aligned("man_portrait_flags_720p.jpg")
    result = swapper(photo(MASKED), image)
    assert SOURCE_COVERED in result.warnings
    before, after = (cv2.warpAffine(x, matrix, (SIDE, SIDE), flags=cv2.INTER_AREA) for x in (image, result.image))
    change = np.abs(before.astype(np.int16) - after).max(-1)
    assert change[region_mask(("mouth",), SIDE, shape) > 0.5].mean() < 3  # the target's own mouth, not the mask
    assert change[region_mask(("eyes",), SIDE, shape) > 0.5].mean() > 12  # the source's eyes
    bare = swapper(photo("woman_redhair_wide.jpg"), image)
    assert SOURCE_COVERED not in bare.warnings
