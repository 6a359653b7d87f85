"""The target's expression on the source's face: dense landmarks, the warp, and the swap with them."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines import expression as ex
from pipelines import landmarks as lm
from pipelines.faces import align_face, detect_faces
from pipelines.images import load_image

from ..conftest import photo
from .conftest import SIDE, aligned

OPEN, CLOSED = "man_portrait_flags_720p.jpg", "woman_redhair_wide.jpg"  # mouths


def mouth_opening(points: np.ndarray) -> float:
    """Inner lips height over mouth width (the mesh's points 13/14 and 78/308)."""
    return ex.openings(points)[0]


def test_open_and_closed_mouths_are_told_apart(landmarks):
    smiling = mouth_opening(landmarks(aligned(OPEN)))  # a wide smile showing the teeth
    closed = mouth_opening(landmarks(aligned(CLOSED)))
    assert smiling > 0.2 and closed < 0.08


def test_warp_field_is_the_identity_when_nothing_moves_and_moves_what_moved():
    rng = np.random.default_rng(0)
    points = rng.uniform(0.2, 0.8, (60, 2))
    field = ex.warp_field(points, points, 64)
    grid = (np.stack(np.meshgrid(np.arange(64), np.arange(64)), -1) + 0.5) / 64
    assert np.abs(field - grid).max() < 1e-4
    moved = points.copy()
    moved[0] += [0.05, 0.03]  # one point moves: the output there reads where the point was
    field = ex.warp_field(moved, points, 256)
    x, y = (moved[0] * 256).astype(int)
    assert np.abs(field[y, x] - points[0]).max() < 0.01
    far = np.linalg.norm(grid - moved[0], axis=-1) > 0.3
    assert np.abs(ex.warp_field(moved, points, 64)[far] - grid[far]).max() < 1e-4  # piecewise: far pixels stay
    # smoothing moves nothing that stayed and keeps the move (blurred over about a pixel)
    assert np.abs(ex.smoothed(ex.identity_field(64)) - grid).max() < 1e-6
    assert np.abs(ex.smoothed(field)[y, x] - points[0]).max() < 0.01


def test_expression_points_open_the_sources_mouth_and_lower_its_jaw(landmarks):
    source = landmarks(aligned(CLOSED))
    target = landmarks(aligned(OPEN))
    own = ex.expression_points(source, source)  # its own expression: nothing moves, no lid slides
    assert np.array_equal(own.points, source) and all(d.max() == 0 for d in own.lid_drops.values())
    moved = ex.expression_points(source, target, ("mouth",)).points
    assert mouth_opening(moved) == pytest.approx(mouth_opening(target))
    # the opening (inner lip line) is the target's, placed at the source's upper lip (its mouth sits
    # where it sat under its nose); the lips around it keep the source's thickness
    inner = moved[lm.LIPS_INNER]
    assert np.allclose(inner - inner.mean(0), target[lm.LIPS_INNER] - target[lm.LIPS_INNER].mean(0))
    assert moved[ex.UPPER_LIP_INNER_CENTRE, 1] == pytest.approx(source[ex.UPPER_LIP_INNER_CENTRE, 1])
    assert np.abs(ex.mouth_shift(source, target)).max() > 0.005  # (the two faces' mouths do sit differently)
    thickness = moved[lm.LIPS_OUTER] - moved[lm.LIPS_INNER]
    assert np.allclose(thickness, source[lm.LIPS_OUTER] - source[lm.LIPS_INNER])
    assert not np.allclose(thickness, target[lm.LIPS_OUTER] - target[lm.LIPS_INNER], atol=0.005)
    assert moved[lm.CHIN, 1] > source[lm.CHIN, 1] + 0.02  # the open jaw drops the chin
    above = source[:, 1] < source[[61, 291], 1].mean() - 0.05  # eyes, brows, nose, forehead
    assert np.array_equal(moved[above], source[above])
    both = ex.expression_points(source, target, ("eyes", "mouth")).points
    for a, b in lm.EYE_CORNERS.values():  # the eyes keep the source's corners (its eye size and spacing)
        assert np.allclose(both[[a, b]], source[[a, b]])


def test_closed_target_eyes_slide_the_sources_lids_down_over_its_eyes(landmarks):
    """A target whose upper lids lie on its lower lids: the source's upper lids slide down over its
    eyes (not squeezed by the mesh warp, which only opens lids: its iris centre stays between them),
    the mesh reads the warped eyes as much less open, and nothing far from the eyes changes."""
    source = landmarks(aligned(CLOSED))
    target = source.copy()
    for contour in (lm.EYE_LEFT, lm.EYE_RIGHT):
        upper, lower = contour[9:], contour[1:8][::-1]  # upper lid inner -> outer; lower lid inner -> outer
        target[upper] = target[lower]
    posed = ex.expression_points(source, target, ("eyes",))
    for contour, eye in ((lm.EYE_LEFT, "left"), (lm.EYE_RIGHT, "right")):
        opening = source[contour[1:8][::-1], 1] - source[contour[9:], 1]  # under each upper-lid point
        assert np.all(posed.lid_drops[eye] >= opening)  # all the way down, and past the mesh's lower margin
        assert np.allclose(posed.points[contour, 1], source[contour, 1])  # no lid moves up or down in the mesh warp
        lids = posed.points[contour][:, 1]
        assert lids.min() - 1e-9 <= posed.points[lm.IRIS[eye][0], 1] <= lids.max() + 1e-9
    crop = aligned(CLOSED)
    closed = ex.warp(crop, ex.expression_field(source, target, ("eyes",), SIDE))
    # the mesh reads the shut eyes as less open, though not as shut: it takes the band of lashes on
    # the lid's edge for part of the opening (0.22 and 0.19 against 0.30; the lids look shut)
    for contour in (lm.EYE_LEFT, lm.EYE_RIGHT):
        assert ex.eye_opening(landmarks(closed), contour) < 0.8 * ex.eye_opening(landmarks(crop), contour)
    mouth = (np.round(source[lm.LIPS_OUTER] * SIDE).astype(int)[:, ::-1]).T
    assert np.array_equal(closed[tuple(mouth)], crop[tuple(mouth)])
    # the slide hides what it covers: the iris centre's pixel is now lid, read from above the eye
    field = ex.expression_field(source, target, ("eyes",), SIDE)
    for eye in ("left", "right"):
        x, y = (source[lm.IRIS[eye][0]] * SIDE).astype(int)
        assert field[y, x, 1] < source[lm.EYE_LIDS[eye][9:], 1].min()


def test_mouth_opening_mask_covers_an_open_mouth_only(landmarks):
    open_mask = ex.mouth_opening(landmarks(aligned(OPEN)), SIDE, grow=0)
    closed_mask = ex.mouth_opening(landmarks(aligned(CLOSED)), SIDE, grow=0)
    assert (open_mask > 0.5).mean() > 0.01 and (closed_mask > 0.5).mean() < 0.002  # teeth: ~1/70 of the crop
    assert open_mask[: SIDE // 2].max() == 0  # nothing kept in the upper half of the face


def test_swap_with_the_targets_expression_opens_the_mouth(swapper, landmarks):
    """A closed-mouth source onto a smiling target: with the target's expression the result smiles
    (its mouth opening measured by the mesh on the result, aligned), with the source's it does not."""
    from pipelines.swap import SwapOptions

    source, target = load_image(photo(CLOSED)), load_image(photo(OPEN))
    want = mouth_opening(landmarks(aligned(OPEN)))
    face = max(detect_faces(target), key=lambda f: f.size)

    def opening(expression: str) -> float:
        result = swapper(source, target, SwapOptions(expression=expression))
        return mouth_opening(landmarks(align_face(result.image, face.landmarks, SIDE)[0]))

    kept, own = opening("target"), opening("source")
    assert kept > 0.7 * want and own < 0.5 * want

    # the teeth are the target's own pixels (moved with its mouth to the source's lips), in the
    # target's own colours: the colour correction that brings the source's skin to the target's light
    # does not shift them a second time
    result = swapper(source, target, SwapOptions(expression="target"))
    kept = ex.kept_from_target(landmarks(aligned(CLOSED)), landmarks(aligned(OPEN)), aligned(OPEN), ("mouth",))
    inside = kept.weights > 0.99
    assert inside.sum() > 50
    after = align_face(result.image, face.landmarks, SIDE)[0].astype(int)
    # (compared as mean colours: the pipeline places the mouth from landmarks at its own resolution)
    assert np.abs(after[inside].mean(0) - kept.pixels[inside].mean(0)).max() < 4
