"""Region masks, feathering and colour transfer (pipelines/blend.py) on synthetic inputs with known answers."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipelines.blend import (
    FACE_GAP_PER_HEIGHT,
    FACE_TOP,
    GAIN_FLOOR,
    MOUTH_GAIN_FLOOR,
    color_transfer,
    feathered,
    is_grey,
    lab_statistics,
    mouth_zone,
    outline_mask,
    region_core,
    region_ellipses,
    region_mask,
    skin_core,
    to_grey,
    token_mask,
)
from pipelines.faces import CANONICAL_TEMPLATE


def test_regions_sit_on_the_landmarks_they_are_given():
    mouth = region_mask(["mouth"], 128)
    ys, xs = np.nonzero(mouth)
    centre = (CANONICAL_TEMPLATE[3] + CANONICAL_TEMPLATE[4]) / 2 * 128
    assert abs(xs.mean() - centre[0]) < 2 and abs(ys.mean() - centre[1]) < 2
    moved = CANONICAL_TEMPLATE + [0.0, 0.05]  # the same face 5% lower in the crop
    ys2, _ = np.nonzero(region_mask(["mouth"], 128, moved))
    assert abs((ys2.mean() - ys.mean()) - 0.05 * 128) < 1.5
    assert set(np.unique(mouth)) == {0.0, 1.0}
    with pytest.raises(ValueError, match="unknown region"):
        region_mask(["ears"], 128)


def test_feathering_never_leaves_the_region_and_keeps_its_core():
    mask = region_mask(["face"], 128)
    soft = feathered(mask, 0.08)
    assert soft.min() >= 0 and soft.max() <= 1
    assert np.all(soft[mask == 0] == 0)  # exactly zero outside: pixels there are the target's own
    assert soft[64, 64] > 0.99  # the centre of the face is fully swapped
    assert np.array_equal(feathered(mask, 0.0), mask)  # softness 0: the hard mask


def test_outline_mask_fills_the_outline_grown_by_its_margin():
    square = np.array([[0.25, 0.25], [0.75, 0.25], [0.75, 0.75], [0.25, 0.75]])
    tight = outline_mask(square, 100, margin=0.0)
    assert tight[30:70, 30:70].all() and tight.sum() == pytest.approx(50 * 50, abs=150)
    assert not tight[:20].any() and not tight[:, 80:].any()
    grown = outline_mask(square, 100, margin=0.05)  # 5 px all round
    assert grown[22, 50] == 1 and grown[50, 77] == 1 and grown[15, 50] == 0
    assert (grown >= tight).all()


def test_token_mask_counts_cell_coverage():
    mask = np.zeros((128, 128), np.float32)
    mask[:, :64] = 1  # the left half
    tokens = token_mask(mask, 16)
    assert tokens[:, :8].all() and not tokens[:, 8:].any()


def test_colour_transfer_matches_the_reference_statistics_inside_the_mask():
    rng = np.random.default_rng(0)
    image = np.clip(rng.normal((150, 110, 90), 20, (96, 96, 3)), 0, 255).astype(np.uint8)
    reference = np.clip(rng.normal((90, 120, 160), 12, (96, 96, 3)), 0, 255).astype(np.uint8)
    mask = np.zeros((96, 96), np.float32)
    mask[16:80, 16:80] = 1
    out = color_transfer(image, reference, mask)
    (m_out, s_out), (m_ref, s_ref) = lab_statistics(out, mask), lab_statistics(reference, mask)
    assert np.abs(m_out - m_ref).max() < 2.0 and np.abs(s_out - s_ref).max() < 2.0
    same = color_transfer(image, image, mask).astype(int)
    assert np.abs(same - image).max() <= 3  # its own statistics: only the LAB round trip's rounding
    empty = np.zeros((96, 96), np.float32)
    assert np.array_equal(color_transfer(image, reference, empty), image)  # nothing to match: unchanged


def test_colour_statistics_taken_off_the_region_rim_match_the_skin():
    """Two faces whose regions differ at the rim (the source's red hair, the target's dark hair), as
    on the hamilton clip: statistics over the whole region leave the source's skin off the target's;
    over the region's core they put it on the target's skin."""
    region = region_mask(["face"], 128)
    core = region_core(region)
    assert np.all(core <= region) and 0.5 < core.sum() / region.sum() < 0.8
    rim = (region > 0) & (core == 0)
    source = np.full((128, 128, 3), (235, 200, 185), np.uint8)  # pale skin ...
    source[rim] = (150, 60, 30)  # ... red hair at the rim
    target = np.full((128, 128, 3), (150, 105, 85), np.uint8)  # darker skin ...
    target[rim] = (40, 30, 25)  # ... dark hair at the rim
    skin = lab_statistics(target, core)[0]

    def skin_error(mask):
        return np.abs(lab_statistics(color_transfer(source, target, mask), core)[0] - skin).max()

    assert skin_error(core) < 2.0
    assert skin_error(region) > 8.0
    eyes = region_mask(["eyes"], 128)
    assert 0.3 < region_core(eyes).sum() / eyes.sum() < 0.8  # a small region keeps a core in proportion


def test_grey_detection_and_conversion():
    rng = np.random.default_rng(1)
    colour = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    grey = to_grey(colour)
    assert is_grey(grey) and not is_grey(colour)
    assert np.array_equal(grey[..., 0], cv2.cvtColor(colour, cv2.COLOR_RGB2GRAY))


def test_a_turned_face_region_is_sized_by_its_height():
    """A three-quarter face's eye gap is foreshortened, its eyes-to-mouth height is not: with a source
    turned like it (posed), its face region is as large as a frontal face of that height; with an
    unturned source it keeps the small region (a frontal face pasted whole over a profile put its eyes
    on the cheek); a frontal face's is sized by its gap either way."""
    frontal = np.array([[0.38, 0.47], [0.62, 0.47], [0.50, 0.61], [0.40, 0.72], [0.60, 0.72]])
    turned = frontal.copy()
    turned[:, 0] = 0.55 + 0.6 * (frontal[:, 0] - 0.5)  # squeezed sideways: gap 0.144, same height
    for posed in (False, True):
        ((_, _, rx, _),) = region_ellipses("face", frontal, posed)
        assert abs(rx - 1.02 * 0.24) < 1e-9  # frontal: the eye gap
    ((_, _, rx, ry),) = region_ellipses("face", turned, posed=True)
    height = 0.25 * FACE_GAP_PER_HEIGHT
    assert abs(rx - 1.02 * height) < 1e-9 and abs(ry - (1.38 + FACE_TOP / 2) * height) < 1e-9
    ((_, _, rx, _),) = region_ellipses("face", turned)
    assert abs(rx - 1.02 * 0.144) < 1e-9


def test_lightness_from_the_skin_is_not_moved_by_the_targets_teeth():
    """A target smiling with bright teeth, a source with a closed mouth: the core's mean lightness
    has the teeth in it and puts the swapped skin lighter than the target's; the skin's does not."""
    region = region_mask(["face"], 128)
    core, skin = region_core(region), skin_core(region)
    assert np.all(skin <= core) and 0.25 < skin.sum() / core.sum() < 0.8
    mouth = region_mask(["mouth"], 128) * core > 0
    source = np.full((128, 128, 3), (225, 190, 170), np.uint8)  # pale skin, mouth closed
    target = np.full((128, 128, 3), (110, 70, 55), np.uint8)  # dark skin ...
    target[mouth] = (245, 245, 240)  # ... and a toothy smile
    skin_l = lab_statistics(target, skin)[0][0]

    def lightness_error(lightness_mask):
        out = color_transfer(source, target, core, lightness_mask=lightness_mask)
        return abs(lab_statistics(out, skin)[0][0] - skin_l)

    assert lightness_error(skin) < 2.0
    assert lightness_error(None) > 10.0


def test_the_mouth_takes_the_targets_contrast_and_the_rest_of_the_face_keeps_more_of_the_sources():
    """A crisp source onto a soft target (a low-contrast video frame): the lightness contrast is cut
    no further than GAIN_FLOOR on the face, and to MOUTH_GAIN_FLOOR over the mouth, where the target's
    mouth's motion must read; colour is matched alike everywhere."""
    rng = np.random.default_rng(2)
    source = np.clip(rng.normal((170, 130, 110), 30, (128, 128, 3)), 0, 255).astype(np.uint8)
    target = np.clip(rng.normal((150, 110, 95), 3, (128, 128, 3)), 0, 255).astype(np.uint8)
    region = region_mask(["face"], 128)
    zone = mouth_zone(128)
    assert zone.max() == 1.0 and zone[110:, :].max() < 0.5 and zone[:60].max() < 0.01  # the mouth, not the eyes
    out = color_transfer(source, target, region, mouth=zone)
    plain = color_transfer(source, target, region)

    def lightness_spread(image, where):
        return cv2.cvtColor(image, cv2.COLOR_RGB2LAB)[..., 0][where].astype(float).std()

    eyes, mouth = region_mask(["eyes"], 128) > 0, zone == 1.0
    s_eyes, s_mouth = lightness_spread(source, eyes), lightness_spread(source, mouth)
    assert abs(lightness_spread(out, eyes) / s_eyes - GAIN_FLOOR[0]) < 0.05
    assert abs(lightness_spread(out, mouth) / s_mouth - MOUTH_GAIN_FLOOR[0]) < 0.05
    assert np.abs(out[eyes].astype(int) - plain[eyes]).max() <= 1  # away from the mouth: as without a zone
    assert np.abs(lab_statistics(out, mouth)[0][1:] - lab_statistics(plain, mouth)[0][1:]).max() < 1.0  # colour alike


def test_a_photo_without_colour_gives_a_face_without_colour():
    """A colourful source onto a black-and-white photo toned blue (its face's a and b spread about a
    level): the face takes the tone and no colour of its own (no blue eyes in a grey face); onto a
    face with colour, however little it varies, the source keeps GAIN_FLOOR of its colour's spread."""
    rng = np.random.default_rng(3)
    source = np.clip(rng.normal((170, 120, 110), 25, (128, 128, 3)), 0, 255).astype(np.uint8)
    grey = np.clip(rng.normal(120, 20, (128, 128, 1)), 0, 255)
    toned = np.clip(grey * (0.97, 1.0, 1.06), 0, 255).astype(np.uint8)  # a blue-grey print
    region = region_mask(["face"], 128)
    sel = region > 0.5

    def chroma(image):
        lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)[sel].astype(float)
        return lab[:, 1:].mean(0), lab[:, 1:].std(0)

    (t_mean, t_spread), (_, s_spread) = chroma(toned), chroma(source)
    assert t_spread.mean() < 1.5 and s_spread.min() > 8
    o_mean, o_spread = chroma(color_transfer(source, toned, region))
    assert np.abs(o_mean - t_mean).max() < 1.0 and o_spread.max() < t_spread.max() + 0.6, (o_spread, t_spread)
    colourful = np.clip(rng.normal((150, 110, 95), 6, (128, 128, 3)), 0, 255).astype(np.uint8)
    assert chroma(colourful)[1].mean() > 3.0
    _, kept = chroma(color_transfer(source, colourful, region))
    assert np.allclose(kept / s_spread, GAIN_FLOOR[1:], atol=0.05), kept / s_spread
