"""The target's expression on the source's face: dense landmarks and a warp before encoding.

Exchanging codes carries the source's whole face, its expression included: pasted into a video, the
actor stops talking and blinking. Keeping the target's pixels where expression shows (an ellipse
over the mouth) gives a mouth that moves, but it is the target's mouth with the target's skin
around it, and an open jaw pokes out of it. Instead, the source's aligned face is warped so that
its mouth opens as the target's, its eyelids and chin take the target's shape, then encoded as usual:

    points = mesh(crop)                        (468, 2) dense landmarks in unit crop coordinates
    moved  = the source's points, with the inner lip line shaped as the target's, placed at the
             source's upper lip (the lips around it as thick as the source's), each eye's lids shaped
             like the target's (placed on the source's own eye corners) and the chin lowered
             as far as the target's lower lip drops
    warped = source(field(x)),  field: piecewise affine over a triangulation of `moved`, mapping
             each output pixel back to where the source's mesh had it; its displacement
             smoothed over a pixel; under a lid that closes, a slide that covers the eye
    Z_A    = q(E(warped))  ->  the code exchange as before

What a closed mouth cannot provide, the inside of an open one (teeth, tongue), comes from the
target: its pixels, moved with its mouth to where the warped lips are, are kept inside its inner-lip
contour (`kept_from_target`), before encoding and again after the colour correction.

The mesh and its eyes: pipelines/landmarks.py.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from .landmarks import CHIN, EYE_CORNERS, EYE_LIDS, EYE_MODEL_POINTS, IRIS, LIPS_INNER, LIPS_OUTER, LOWER_LIP_CENTRE

MOUTH_CORNERS = [61, 291]
UPPER_LIP_INNER_CENTRE = 13

# the points the warp is pinned to: the mesh and each iris's centre. Not the rims: an iris is as tall
# when the lids close over it, so pinned rim points would hold a closing eye open.
CONTROL = list(range(468)) + [IRIS["left"][0], IRIS["right"][0]]


def _similarity(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]):
    """The rotation + scale + shift taking points a[0] -> b[0] and a[1] -> b[1], as a function on (N, 2)."""
    va, vb = a[1] - a[0], b[1] - b[0]
    za, zb = complex(*va), complex(*vb)
    r = zb / za if abs(za) > 1e-9 else 1.0
    m = np.array([[r.real, -r.imag], [r.imag, r.real]])
    return lambda p: (p - a[0]) @ m.T + b[0]


# of an EYE_LIDS contour (outer corner, lower lid, inner corner, upper lid): the lower lid's point k
# lies under the upper lid's point 6 - k
LOWER_LID, UPPER_LID = slice(1, 8), slice(9, 16)


class Posed(NamedTuple):
    """The source's face wearing the target's expression, as a warp: `points` (N, 2), where the source's
    mesh points go (piecewise affine, warp_field), and `lid_drops`, per eye, how far each of its upper
    lid's 7 points (unit coordinates) slides down over the eye (lid_slide)."""

    points: np.ndarray
    lid_drops: dict[str, np.ndarray]


def _nearest(candidates: np.ndarray, points: np.ndarray) -> np.ndarray:
    """For each of points (M, 2), the index of the nearest of candidates (K, 2) -> (M,)."""
    return np.argmin(np.linalg.norm(points[:, None] - candidates[None], axis=2), axis=1)


def mouth_shift(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(2,) unit-coordinate shift that takes the target's mouth to the source's: its upper lip's inner
    centre to the same height, its corners' midpoint to the same column. (468, 2) points each."""
    return np.array(
        [
            source[MOUTH_CORNERS, 0].mean() - target[MOUTH_CORNERS, 0].mean(),
            source[UPPER_LIP_INNER_CENTRE, 1] - target[UPPER_LIP_INNER_CENTRE, 1],
        ]
    )


def expression_points(source: np.ndarray, target: np.ndarray, parts: tuple[str, ...] = ("eyes", "mouth")) -> Posed:
    """Where the source's mesh points go to wear the target's expression. source, target: (468, 2)
    unit crop coordinates of two aligned faces -> Posed.

    mouth: the inner lip line takes the target's shape, placed at the source's upper lip (mouth_shift),
    which opens or closes it; the lips around it keep the source's thickness; and the chin and jaw below
    the mouth follow the lower lip down, fading towards the jaw's corners. eyes: each eye's lid
    margins take the target's shape relative to its corners, placed on the source's own corners, so
    the source's eye size and spacing (identity) stay while the lids open or close. A lid that closes
    does not squeeze the eye under it into a dark slit (what a warp of the lid margins alone does: the
    mesh still reads it as open, and it looks like a squint): it slides down over it."""
    moved = source.copy()
    if "mouth" in parts:
        lips = LIPS_OUTER + LIPS_INNER
        # the opening is the target's (its inner lip line), placed where the source's upper lip is: a
        # mouth opens by the jaw, the upper lip hardly moves, and the target's mouth sits higher or
        # lower under its nose than the source's (a proportion of the face: identity). Taken where
        # the target has it, the source's upper lip was pushed up into its own philtrum (a spike)
        moved[LIPS_INNER] = target[LIPS_INNER] + mouth_shift(source, target)
        # the lips the source's: each outer lip point keeps its offset from the inner point it faces
        # (the two contours run in step, corner to corner), so its lip thickness and cupid's bow stay
        moved[LIPS_OUTER] = moved[LIPS_INNER] + (source[LIPS_OUTER] - source[LIPS_INNER])
        # the jaw: everything below the mouth corners moves with the lower lip (a jaw opens as one
        # piece), fading in over the first third of the way to the chin and out towards the jaw's sides
        drop = moved[LOWER_LIP_CENTRE] - source[LOWER_LIP_CENTRE]
        mouth_y = source[MOUTH_CORNERS, 1].mean()
        chin_y = source[CHIN, 1]
        half_jaw = 0.5 * abs(source[361, 0] - source[132, 0])  # the jaw's half-width at mouth height
        below = np.setdiff1d(np.flatnonzero(source[:, 1] > mouth_y), lips)
        down = np.clip((source[below, 1] - mouth_y) / max(0.3 * (chin_y - mouth_y), 1e-6), 0.0, 1.0)
        side = np.clip(1.0 - ((source[below, 0] - source[CHIN, 0]) / max(half_jaw, 1e-6)) ** 4, 0.0, 1.0)
        moved[below] += (down * side)[:, None] * drop
    drops = {}
    if "eyes" in parts:
        for eye, (a, b) in EYE_CORNERS.items():
            margin = EYE_LIDS[eye]
            place = _similarity((target[a], target[b]), (source[a], source[b]))
            moved[margin + IRIS[eye]] = place(target[margin + IRIS[eye]])
            # an upper lid that comes down slides over the eye (lid_slide), it does not squeeze it: here
            # it only opens; how far each of its points comes down is the slide's
            upper, lower = margin[UPPER_LID], margin[LOWER_LID][::-1]  # each upper-lid point and the one under it
            drop = np.maximum(moved[upper, 1] - source[upper, 1], 0.0)
            # the mesh's lid margins can lie inside the visible eye (with heavy lashes, a band of white
            # and iris below the lower margin): a lid that closes comes down past the lower margin,
            # as far as the eye model's first ring under it when it closes all the way, or the eye
            # still shows
            closed = np.clip(1.0 - (moved[lower, 1] - moved[upper, 1]) / np.maximum(source[lower, 1] - source[upper, 1], 1e-6), 0.0, 1.0)
            inner_ring, outer_ring = EYE_MODEL_POINTS[eye][16:32], EYE_MODEL_POINTS[eye][32:48]
            below = source[inner_ring][_nearest(source[inner_ring], source[lower]), 1]
            drops[eye] = np.where(drop > 0, drop + closed * np.maximum(below - source[lower, 1], 0.0), 0.0)
            moved[upper, 1] -= drop
            # the skin around the eye follows its lid part of the way (the eye model's two rings
            # around the lids: 0.6 and 0.3 of the nearest lid point's move), so an opening or closing
            # lid stretches the whole lid, not just the lashes
            shift = moved[margin] - source[margin]
            for ring, share in ((inner_ring, 0.6), (outer_ring, 0.3)):
                moved[ring] = source[ring] + share * shift[_nearest(source[margin], source[ring])]
            # the iris centre (gaze) stays between the lids
            centre = IRIS[eye][0]
            contour = moved[margin]
            nearest = np.argsort(np.abs(contour[:, 0] - moved[centre, 0]))[:4]  # lid points above and below it
            moved[centre, 1] = np.clip(moved[centre, 1], contour[nearest, 1].min(), contour[nearest, 1].max())
    return Posed(moved, drops)


def openings(points: np.ndarray) -> tuple[float, float]:
    """(mouth opening, eye opening) of (478, 2) landmarks: inner lips height over mouth width, and the
    eye aspect ratio (Soukupova and Cech 2016) of the lid margins, mean of both eyes."""
    mouth = np.linalg.norm(points[13] - points[14]) / max(np.linalg.norm(points[78] - points[308]), 1e-6)
    return float(mouth), float(np.mean([eye_opening(points, lids) for lids in EYE_LIDS.values()]))


def eye_opening(points: np.ndarray, lids: list[int]) -> float:
    """Eye aspect ratio of one eye's lid margin (outer corner, lower lid, inner corner, upper lid)."""
    e = points[lids]
    return float((np.linalg.norm(e[3] - e[13]) + np.linalg.norm(e[5] - e[11])) / (2 * max(np.linalg.norm(e[0] - e[8]), 1e-6)))


def _border(n: int = 8) -> np.ndarray:
    """(4n, 2) fixed points around the crop's edge (unit coordinates), so the warp is the identity there."""
    t = np.linspace(0.0, 1.0, n, endpoint=False)
    return np.concatenate([np.stack([t, np.zeros(n)], 1), np.stack([np.ones(n), t], 1),
                           np.stack([1 - t, np.ones(n)], 1), np.stack([np.zeros(n), 1 - t], 1)])  # fmt: skip


def warp_field(moved: np.ndarray, points: np.ndarray, side: int = 128) -> np.ndarray:
    """Piecewise-affine backward map: for each pixel of a (side, side) output, where to read the
    source -> (side, side, 2) float32 in unit coordinates. moved: (N, 2) where the source's points
    (N, 2) go (of 478 landmarks, the CONTROL ones are used). The triangles are a Delaunay
    triangulation of the moved points and fixed points on the crop's edge; each maps affinely onto
    the same three points in the source. A triangle whose corners all stayed maps onto itself, so
    only those with a moved corner are drawn (about 3 ms)."""
    if len(points) == 478:
        moved, points = moved[CONTROL], points[CONTROL]
    dst = np.concatenate([moved, _border()]).astype(np.float32)
    src = np.concatenate([points, _border()]).astype(np.float32)
    triangles = delaunay(dst, side)
    still = np.all(dst == src, axis=1)
    return piecewise_affine(dst, src, triangles[~still[triangles].all(1)], side)


def delaunay(points: np.ndarray, side: int) -> np.ndarray:
    """(N, 2) unit coordinates (a little outside the crop allowed) -> (T, 3) point indices of their
    Delaunay triangles (OpenCV's subdivision, placed at `side` pixels)."""
    margin = 0.25  # moved points may leave the crop a little; the subdivision needs them inside its rectangle
    subdiv = cv2.Subdiv2D((int(-margin * side), int(-margin * side), int((1 + 2 * margin) * side), int((1 + 2 * margin) * side)))
    placed = (points * side).astype(np.float32)
    subdiv.insert(placed.tolist())
    corners = subdiv.getTriangleList().reshape(-1, 3, 2)  # (T, 3, 2) pixel coordinates of each triangle's corners
    # each corner back to its point's index (the subdivision returns coordinates, exactly as inserted);
    # triangles touching the subdivision's own far-away outer vertices match nothing and are dropped
    known, where = np.unique(np.concatenate([placed, corners.reshape(-1, 2)]).view(np.complex64).ravel(), return_inverse=True)
    first = np.full(len(known), -1)
    first[where[: len(placed)][::-1]] = np.arange(len(placed))[::-1]
    triangles = first[where[len(placed) :]].reshape(-1, 3)
    return triangles[(triangles >= 0).all(1)]


def piecewise_affine(dst: np.ndarray, src: np.ndarray, triangles: np.ndarray, side: int, clamp: bool = False) -> np.ndarray:
    """The backward map (side, side, 2) that takes each of `triangles` ((T, 3) indices) drawn at its
    corners dst (N, 2) back onto the same corners at src (N, 2), unit coordinates; the identity
    outside them. Triangles are drawn in the order given: where they overlap, the last one wins.
    A pixel reads src = its barycentric weights in the dst triangle @ the src corners. The raster
    takes pixels whose centre lies a little outside a triangle; on a sliver squeezed to a pixel (a
    turned face's far side) those weights reach far outside it, and the pixel reads from anywhere
    (a speck of wall on a cheek): clamp keeps them in [0, 1], on the triangle's own source."""
    field = identity_field(side)
    if len(triangles) == 0:
        return field
    d = np.concatenate([dst[triangles], np.ones((len(triangles), 3, 1), np.float32)], 2)  # (T, 3, 3) rows (x, y, 1)
    ok = np.abs(np.linalg.det(d)) > 1e-9
    triangles, d = triangles[ok], d[ok]
    to_weights = np.linalg.inv(d)  # (T, 3, 3): [x, y, 1] @ it = the 3 barycentric weights
    index = np.full((side, side), -1, np.int32)
    fixed = np.round(dst[triangles] * side * 16).astype(np.int32)  # 4 fractional bits (shift=4)
    for k in range(len(triangles)):
        cv2.fillConvexPoly(index, fixed[k], k, lineType=cv2.LINE_8, shift=4)
    inside = index >= 0
    which = index[inside]  # (M,) each drawn pixel's triangle
    xy1 = np.concatenate([field[inside], np.ones((len(which), 1), np.float32)], 1)  # (M, 3)
    weights = np.einsum("mj,mjk->mk", xy1, to_weights[which])  # (M, 3)
    if clamp:
        weights = np.clip(weights, 0.0, None)
        weights /= weights.sum(1, keepdims=True)
    field[inside] = np.einsum("mk,mkc->mc", weights, src[triangles][which])
    return field


def lid_slide(field: np.ndarray, source: np.ndarray, drops: dict[str, np.ndarray], reach: float = 0.4) -> np.ndarray:
    """A closing upper lid slid down over the eye: field (n, n, 2) a backward map (warp_field) of a face
    whose mesh is source (N, 2), drops from expression_points -> the field with, under each closing
    lid, output pixels reading from higher up. Between the lid's new line and `reach` eye widths
    above the lid the reading point moves up by the drop, fading out upwards: the lid's edge (its
    lashes) lands on the new line, what it now covers is hidden (not squeezed), and the skin above
    stretches as a lid does. A backward map can hide pixels where a piecewise-affine warp (a
    one-to-one map) cannot."""
    n = field.shape[0]
    out = field
    for eye, drop in drops.items():
        if drop.max() <= 0:
            continue
        a, b = EYE_CORNERS[eye]
        # the upper lid from corner to corner: x, its line y and its drop, sorted by x
        line = source[[a] + EYE_LIDS[eye][UPPER_LID] + [b]]
        down = np.concatenate([[0.0], drop, [0.0]])
        order = np.argsort(line[:, 0])
        xs, top, down = line[order, 0], line[order, 1], down[order]
        lift = reach * (xs.max() - xs.min())
        x0, x1 = np.clip([int(np.floor(xs.min() * n)), int(np.ceil(xs.max() * n))], 0, n)
        y0, y1 = np.clip([int(np.floor((top.min() - lift) * n)), int(np.ceil((top + down).max() * n)) + 1], 0, n)
        if x1 <= x0 or y1 <= y0:
            continue
        px = (np.arange(x0, x1) + 0.5) / n  # (W,) unit coordinates of the box's pixel centres
        py = (np.arange(y0, y1) + 0.5)[:, None] / n  # (H, 1)
        d, t = np.interp(px, xs, down), np.interp(px, xs, top)  # (W,) drop and the lid's line at each x
        lid, crease = t + d, t - lift
        weight = np.clip((py - crease) / np.maximum(lid - crease, 1e-6), 0.0, 1.0) * (py <= lid)  # (H, W)
        read_y = py - d * weight
        maps = np.stack(np.broadcast_arrays(px[None, :], read_y), -1).astype(np.float32) * n - 0.5
        if out is field:
            out = field.copy()
        out[y0:y1, x0:x1] = cv2.remap(field, maps[..., 0], maps[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out


def expression_field(source: np.ndarray, target: np.ndarray, parts: tuple[str, ...], side: int = 128) -> np.ndarray:
    """The backward map (side, side, 2) that puts the target's expression on the source's face (both
    (468, 2) or (478, 2) unit landmarks): the piecewise-affine warp of the moved mesh, smoothed, then
    the lids' slides."""
    posed = expression_points(source, target, parts)
    return lid_slide(smoothed(warp_field(posed.points, source, side)), source, posed.lid_drops)


def smoothed(field: np.ndarray, sigma: float = 1 / 128) -> np.ndarray:
    """A (n, n, 2) backward map with its displacement blurred (sigma: a fraction of the side). A
    piecewise-affine map bends at its triangles' edges: a lip's border, which runs between the mesh's
    points, comes out jagged (red spikes into the skin above a lip that moved up); blurred over about
    a pixel of the 128 crop it is smooth, and the lips keep their new shape."""
    n = field.shape[0]
    identity = identity_field(n)
    return identity + cv2.GaussianBlur(field - identity, (0, 0), sigmaX=sigma * n)


def identity_field(n: int) -> np.ndarray:
    """(n, n, 2) float32: each pixel's own centre in unit coordinates (x, y), the map that moves nothing."""
    yy, xx = (np.mgrid[0:n, 0:n].astype(np.float32) + 0.5) / n
    return np.stack([xx, yy], -1)


def warp(image: np.ndarray, field: np.ndarray) -> np.ndarray:
    """(s, s, C) image read through a (n, n, 2) unit-coordinate field (warp_field), resampled to s."""
    s = image.shape[0]
    if field.shape[0] != s:
        field = cv2.resize(field, (s, s), interpolation=cv2.INTER_LINEAR)
    maps = field * s - 0.5
    return cv2.remap(image, maps[..., 0], maps[..., 1], interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def mouth_opening(points: np.ndarray, side: int, grow: float = 0.01, softness: float = 0.006) -> np.ndarray:
    """(side, side) float32 weights inside the inner-lip contour of (468, 2) unit landmarks: the
    teeth and tongue of an open mouth. grown by `grow` x side and feathered by `softness` x side."""
    mask = np.zeros((side, side), np.float32)
    r, sigma = int(round(grow * side)), max(softness * side, 0.5)
    # drawn, grown and feathered in the mouth's box only (a mouth is a small part of the face)
    lips = points[LIPS_INNER] * side
    margin = r + int(np.ceil(4 * sigma)) + 2
    x0, y0 = np.clip(np.floor(lips.min(0)).astype(int) - margin, 0, side)
    x1, y1 = np.clip(np.ceil(lips.max(0)).astype(int) + margin, 0, side)
    if x1 <= x0 or y1 <= y0:
        return mask
    box = mask[y0:y1, x0:x1]
    cv2.fillPoly(box, [np.round((lips - (x0, y0)) * 16).astype(np.int32)], 1.0, lineType=cv2.LINE_AA, shift=4)
    if r > 0:
        box = cv2.dilate(box, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    mask[y0:y1, x0:x1] = cv2.GaussianBlur(box, (0, 0), sigmaX=sigma)
    return mask


class MouthInside(NamedTuple):
    """The target's own pixels kept inside the mouth of a face that wears its expression (teeth and
    tongue, which a warped closed mouth cannot show): `pixels` (P, P, 3) uint8, the target's aligned
    face shifted so that its mouth is where the warped lips put it (mouth_shift), and `weights`
    (P, P) float32, its inner-lip contour there (mouth_opening)."""

    weights: np.ndarray
    pixels: np.ndarray


def kept_from_target(source: np.ndarray, target: np.ndarray, target_image: np.ndarray, parts: tuple[str, ...]) -> MouthInside | None:
    """What of the target stays in the face wearing its expression: the inside of its mouth, or None
    (no mouth in `parts`). source, target: (468, 2) unit points; target_image (P, P, 3). Its eyes are
    the source's, warped: keeping the target's eye openings as well was measured to cost identity
    (benchmarks/RESULTS.md)."""
    if "mouth" not in parts:
        return None
    side = target_image.shape[0]
    shift = mouth_shift(source, target)
    moved = np.float32([[1, 0, shift[0] * side], [0, 1, shift[1] * side]])
    pixels = cv2.warpAffine(target_image, moved, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return MouthInside(mouth_opening(target + shift, side), pixels)
