"""Hair over the forehead (pipelines/hair.py) on real photos, and what the swap makes of it."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.blend import region_mask, skin_core
from pipelines.faces import align_face, detect_faces
from pipelines.hair import hair_mask, without_hair
from pipelines.images import load_image
from pipelines.swap import crop_landmarks

from ..conftest import photo

FRINGE = "man_portrait_light_background.jpg"  # a thick fringe down to the brows
BARE = "man_portrait_flags_720p.jpg"  # short hair, a bare forehead


def face_and_hair(name: str, size: int = 128):
    image = load_image(photo(name))
    face = max(detect_faces(image), key=lambda f: f.size)
    crop, matrix = align_face(image, face.landmarks, size)
    shape = crop_landmarks(face.landmarks, matrix, size)
    region = region_mask(["face"], size, shape)
    return image, face, region, shape, hair_mask(crop, shape, skin_core(region, shape))


@pytest.mark.parametrize("name, least, most", [(FRINGE, 0.08, 0.3), (BARE, 0.0, 0.005)])
def test_a_fringe_inside_the_face_region_is_hair_and_a_bare_forehead_is_not(name, least, most):
    _, _, region, shape, hair = face_and_hair(name)
    share = (hair * region).sum() / region.sum()
    assert least <= share <= most
    brows = region_mask(["brows"], 128, shape)
    assert (hair * brows).sum() == 0  # the brows lie below the band looked at


def test_without_hair_takes_it_out_with_a_margin_and_keeps_the_rest():
    _, _, region, _, hair = face_and_hair(FRINGE)
    weights = without_hair(region, hair)
    assert weights[hair > 0].max() == 0.0
    far = region.copy()
    far[: np.nonzero(hair.any(axis=1))[0].max() + 10] = 0  # the rows 10 px and more below the fringe
    assert far.sum() > 0.5 * region.sum() and np.array_equal(weights[far > 0], region[far > 0])
    assert without_hair(region, np.zeros_like(hair)) is region  # no hair: nothing computed


def test_a_swap_keeps_the_targets_fringe_and_takes_the_sources_brows(swapper):
    """Onto a face with a fringe down to its brows: the source's brows (the region reaches above
    them) but not its bare forehead over the target's fringe."""
    from pipelines.faces import warp_to_crop

    target, face, region, shape, hair = face_and_hair(FRINGE, swapper.size)
    result = swapper(load_image(photo("woman_redhair_wide.jpg")), target)
    _, matrix = align_face(target, face.landmarks, swapper.size)
    change = np.abs(
        warp_to_crop(result.image, matrix, swapper.size).astype(int) - warp_to_crop(target, matrix, swapper.size).astype(int)
    ).max(axis=2)
    fringe = (hair * region) > 0
    brows = region_mask(["brows"], swapper.size, shape) > 0
    assert fringe.sum() > 100 and change[fringe].mean() < 3.0
    assert change[brows].mean() > 15.0


def test_a_sources_fringe_is_not_pasted_on_a_bare_forehead(swapper):
    """The source's fringe hangs down to its brows: without the hair test its forehead came out up to
    129 levels of lightness darker than the target's (5th percentile -82: a dark smudge); with it,
    the target's forehead stays."""
    import cv2

    target, face, _, _, _ = face_and_hair("man_sports_jersey.jpg", swapper.size)
    result = swapper(load_image(photo(FRINGE)), target)
    before, matrix = align_face(target, face.landmarks, swapper.size)
    after, _ = align_face(result.image, face.landmarks, swapper.size)
    shape = crop_landmarks(face.landmarks, matrix, swapper.size)
    rows = (np.arange(swapper.size)[:, None] + 0.5) / swapper.size * np.ones((1, swapper.size))
    gap = np.hypot(*(shape[1] - shape[0]))
    forehead = (region_mask(["face"], swapper.size, shape) > 0) & (rows < shape[:2, 1].mean() - 0.5 * gap)
    darker = (cv2.cvtColor(after, cv2.COLOR_RGB2LAB)[..., 0].astype(int) - cv2.cvtColor(before, cv2.COLOR_RGB2LAB)[..., 0])[forehead]
    assert forehead.sum() > 100 and np.percentile(darker, 5) > -10
