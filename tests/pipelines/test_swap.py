"""The photo swap on real photos with the shipped weights."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from pipelines import NoFaceError
from pipelines.blend import region_mask
from pipelines.detail import cell_weights, compose, compose_with_seam, detail_side, seam
from pipelines.faces import alignment_matrix, native_crop_side, warp_to_crop
from pipelines.images import ImageError, load_image
from pipelines.swap import SwapOptions, main

from ..conftest import ROOT, photo


@pytest.fixture(scope="module")
def pipe(swapper):
    return swapper


@pytest.fixture(scope="module")
def pair():
    return load_image(photo("man_portrait_flags_720p.jpg")), load_image(photo("woman_redhair_wide.jpg"))


def changed_pixels(a, b):
    return np.any(a != b, axis=2)


def test_swap_changes_only_the_face_and_keeps_the_size(pipe, pair):
    source, target = pair
    target_before = target.copy()
    result = pipe(source, target)
    assert result.image.shape == target.shape and result.image.dtype == np.uint8
    assert np.array_equal(target, target_before)  # input untouched
    changed = changed_pixels(result.image, target)
    assert changed.any()
    x1, y1, x2, y2 = result.target_faces[0].box
    w, h = x2 - x1, y2 - y1
    ys, xs = np.nonzero(changed)
    # everything that changed lies around the detected face (the crop extends past the box)
    assert xs.min() >= x1 - w and xs.max() <= x2 + w and ys.min() >= y1 - h and ys.max() <= y2 + h
    assert changed.mean() < 0.2


def test_codes_are_exchanged_inside_the_region_only(pipe, pair):
    result = pipe(*pair, regions=("eyes", "mouth"))
    t = result.token_mask
    assert t.any() and not t.all()
    assert np.array_equal(result.swap_codes[0][t], result.posed_codes[0][t])  # the source as turned to the target
    assert np.array_equal(result.swap_codes[0][~t], result.target_codes[0][~t])
    eyes_only = pipe(*pair, regions=("eyes",)).token_mask
    assert eyes_only.sum() < t.sum() and not (eyes_only & ~t).any()


def test_result_carries_the_intermediates(pipe, pair):
    r = pipe(*pair)
    s = pipe.size
    assert r.source_crop.shape == (s, s, 3) and r.target_crops[0].shape == (s, s, 3)
    assert r.decoded[0].shape == (s, s, 3) and r.mask.shape == (s, s)
    g = pipe.grid
    assert r.source_codes.shape == (g, g) and r.swap_codes[0].shape == (g, g)
    assert {"detect", "encode", "decode_codes", "blend", "total"} <= set(r.timings)


def test_strength_zero_returns_the_target_unchanged(pipe, pair):
    r = pipe(*pair, strength=0.0)
    assert np.array_equal(r.image, pair[1])


def test_swapped_face_moves_towards_the_source(pipe, pair):
    """In crop space, the decoded swap is closer to A's reconstruction than B's inside the region."""
    r = pipe(*pair)
    inner = region_mask(["face"], pipe.size) > 0
    a, b, s = (x.astype(np.float64)[inner] for x in (r.source_crop, r.target_crops[0], r.decoded[0]))
    assert np.abs(s - a).mean() < np.abs(s - b).mean()


def test_all_faces_of_a_group_are_swapped(pipe):
    source = load_image(photo("man_portrait_flags_720p.jpg"))
    group = load_image(photo("group_six_people_table.jpg"))
    every = pipe(source, group, target_face="all")
    assert len(every.target_faces) >= 5
    one = pipe(source, group, target_face="0")
    assert len(one.target_faces) == 1
    assert changed_pixels(every.image, group).sum() > 3 * changed_pixels(one.image, group).sum()
    with pytest.raises(NoFaceError, match="index 99"):
        pipe(source, group, target_face="99")


def test_harmonization_resamples_only_the_seam(pipe, pair):
    if pipe.transformer is None:
        pytest.fail("weights/transformer is missing")
    plain = pipe(*pair)
    tuned = pipe(*pair, harmonize=True)
    from pipelines.blend import token_boundary

    band = token_boundary(plain.token_mask)
    assert np.array_equal(tuned.swap_codes[0][~band], plain.swap_codes[0][~band])
    assert not np.array_equal(tuned.swap_codes[0][band], plain.swap_codes[0][band])  # and it did resample the seam


def test_no_face_names_the_input(pipe, pair):
    nothing = load_image(photo("no_face_landscape.jpg"))
    with pytest.raises(NoFaceError, match="source"):
        pipe(nothing, pair[1])
    with pytest.raises(NoFaceError, match="target"):
        pipe(pair[0], nothing)


def test_bad_options_are_refused(pipe, pair):
    with pytest.raises(ValueError, match="region"):
        pipe(*pair, regions=("ears",))
    with pytest.raises(ValueError, match="strength"):
        pipe(*pair, strength=2.0)


def test_accepts_pil_rgba_and_grayscale(pipe):
    rgba = Image.open(photo("man_microphone_closeup.png"))  # RGBA
    gray = Image.open(photo("man_grayscale_portrait.jpg")).convert("L")
    out = pipe(rgba, gray)
    assert out.image.shape == (gray.size[1], gray.size[0], 3)


def test_cli_writes_a_labelled_png(cli, tmp_path):
    out = tmp_path / "out.png"
    r = cli(main, photo("man_portrait_flags_720p.jpg"), photo("woman_redhair_wide.jpg"), "-o", out, "--regions", "eyes,nose,mouth")
    assert r.returncode == 0, r.stderr
    img = Image.open(out)
    assert "CodeSwap" in img.text["Software"]
    assert img.size == Image.open(photo("woman_redhair_wide.jpg")).size


@pytest.mark.parametrize(
    "source,target,message",
    [
        ("no_face_landscape.jpg", "woman_redhair_wide.jpg", "no face found in the source"),
        ("woman_redhair_wide.jpg", "no_face_landscape.jpg", "no face found in the target"),
    ],
)
def test_cli_errors_leave_no_output(cli, tmp_path, source, target, message):
    out = tmp_path / "out.png"
    r = cli(main, photo(source), photo(target), "-o", out)
    assert r.returncode != 0
    assert message in r.stderr and "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_cli_unreadable_file(cli, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    out = tmp_path / "out.png"
    r = cli(main, bad, photo("woman_redhair_wide.jpg"), "-o", out)
    assert r.returncode != 0 and "bad.jpg" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()


def test_unreadable_input_in_python_names_it(pipe):
    with pytest.raises(ImageError, match="source"):
        pipe(b"garbage", np.zeros((64, 64, 3), np.uint8))


def test_target_face_similar_to_a_reference(pipe):
    """Each person of a group, given as a mirrored, rescaled reference crop, is the one picked."""
    import cv2

    group = load_image(photo("group_six_people_table.jpg"))
    from pipelines.faces import detect_faces

    faces = detect_faces(group)
    for face in faces[:4]:
        x1, y1, x2, y2 = face.box.astype(int)
        w, h = x2 - x1, y2 - y1
        ref = cv2.resize(cv2.flip(group[max(0, y1 - h // 3) : y2 + h // 3, max(0, x1 - w // 3) : x2 + w // 3], 1), None, fx=0.8, fy=0.8)
        r = pipe(group, group, target_face="similar", reference=ref)
        assert np.allclose(r.target_faces[0].box, face.box)
    with pytest.raises(ValueError, match="reference"):
        pipe(group, group, target_face="similar")


def inner_box_psnr(a: np.ndarray, b: np.ndarray, face) -> float:
    x1, y1, x2, y2 = face.box
    dx, dy = 0.15 * (x2 - x1), 0.15 * (y2 - y1)
    box = (slice(int(y1 + dy), int(y2 - dy)), slice(int(x1 + dx), int(x2 - dx)))
    mse = ((a[box].astype(np.float64) - b[box]) ** 2).mean()
    return 10 * np.log10(255**2 / max(mse, 1e-10))


def test_detail_is_composed_at_the_photo_resolution(pipe, pair):
    """A photo swapped onto itself keeps its own pixels (detail 1), where the decoder alone,
    upsampled from its crop, cannot (detail 0); the composed face is larger than the model's crop."""
    target = pair[1]
    sharp = pipe(target, target, detail=1.0)
    soft = pipe(target, target, detail=0.0)
    face = sharp.target_faces[0]
    assert inner_box_psnr(target, sharp.image, face) > 35
    assert inner_box_psnr(target, sharp.image, face) > inner_box_psnr(target, soft.image, face) + 8
    from pipelines.detail import detail_side
    from pipelines.faces import native_crop_side

    matrix = __import__("pipelines.faces", fromlist=["alignment_matrix"]).alignment_matrix(face.landmarks, pipe.size)
    assert detail_side(native_crop_side(matrix, pipe.size), pipe.size) > pipe.size


def test_the_seam_form_of_full_detail_is_the_same_face(pipe, pair):
    """At detail 1, the source's pixels plus the decoder's seam (what a video carries between key
    frames) compose the same face as the detail formula, to rounding; and the seam is the decoder's
    work at the edge of the source's cells: near zero deep inside them."""
    source, target = pair
    r = pipe(source, target, expression="source")
    face = r.target_faces[0]
    view = pipe.views_for(pipe.choose_source(source, SwapOptions()), [face.landmarks])[0][0]
    assert np.array_equal(view.codes.cpu().numpy(), r.posed_codes[0])  # the view the swap used
    matrix = alignment_matrix(face.landmarks, pipe.size)
    side = detail_side(native_crop_side(matrix, pipe.size), pipe.size)
    target_hi = warp_to_crop(target, matrix * (side / pipe.size), side)
    full = compose(r.decoded[0], view.detail(side), target_hi, r.token_mask, 1.0).astype(int)
    carried = seam(r.decoded[0], view.decoded)
    difference = np.abs(compose_with_seam(view.sized(side), carried, target_hi, r.token_mask).astype(int) - full)
    assert difference.max() <= 3 and (difference > 1).mean() < 1e-4  # uint8 roundings: 32 of 1.5M values off by 2-3
    kept = carried.copy()  # a video composes several frames with one key's seam: it is not written to, even at P = S
    compose_with_seam(view.crop, carried, r.target_crops[0], r.token_mask)
    assert np.array_equal(carried, kept)
    weights = cell_weights(r.token_mask, pipe.size)[..., 0]
    inside, edge = weights > 0.999, (weights > 0.05) & (weights <= 0.999)
    assert inside.any() and edge.any()
    assert np.abs(carried[inside]).mean() < 0.5 * np.abs(carried[edge]).mean()


def test_mouth_expression_leaves_the_sources_eyes(pipe, pair):
    """expression="mouth" warps only the mouth and jaw (tests/pipelines/test_expression.py): the eyes
    are the source's, as with expression="source"."""
    from pipelines.faces import alignment_matrix, warp_to_crop
    from pipelines.swap import crop_landmarks

    source, target = pair
    own = pipe(source, target, expression="source")
    mouth_only = pipe(source, target, expression="mouth")
    face = own.target_faces[0]
    matrix = alignment_matrix(face.landmarks, 256)
    eyes = region_mask(["eyes"], 256, crop_landmarks(face.landmarks, matrix, 256)) > 0.5

    def aligned(image):
        return warp_to_crop(image, matrix, 256).astype(np.float64)

    moved = np.abs(aligned(mouth_only.image) - aligned(own.image))[eyes].mean()
    assert moved < 0.25 * np.abs(aligned(own.image) - aligned(target))[eyes].mean()
    with pytest.raises(ValueError, match="expression"):
        pipe(*pair, expression="neutral")


def test_turned_source_gives_a_whole_face_and_a_warning(pipe, pair):
    """A profile source onto a frontal target: a face is still found in the result where the target's
    was (no half face of background), and the result says the poses differ."""
    from pipelines.faces import detect_faces

    profile = load_image(photo("woman_profile_left.jpg"))
    r = pipe(profile, pair[1])
    assert r.warnings and "profile" in r.warnings[0]
    face = r.target_faces[0]
    found = detect_faces(r.image, min_size=0.5 * face.size)
    assert any(np.linalg.norm(f.landmarks - face.landmarks, axis=1).mean() < 0.15 * face.size for f in found)
    assert pipe(*pair).warnings == []  # two frontal faces: nothing to say


def test_nothing_of_the_source_lands_past_the_targets_face(pipe):
    """A head looking down: the face region, an ellipse on 5 points, reaches past the chin onto the
    neck; it is clipped by the face mesh's silhouette, so the source's chin and beard are not pasted
    there (before the clip: changes of up to 124 levels there, 3.5 on average next to the chin)."""
    import cv2

    from pipelines.faces import align_face, invert_matrix, transform_points
    from pipelines.landmarks import FACE_OVAL

    target = load_image(photo("woman_looking_down.jpg"))
    r = pipe(load_image(photo("man_sports_jersey.jpg")), target)
    crop, matrix = align_face(target, r.target_faces[0].landmarks, 192)
    silhouette = transform_points(pipe.landmarks.face_mesh(crop)[FACE_OVAL] * 192, invert_matrix(matrix))
    inside = cv2.fillPoly(np.zeros(target.shape[:2], np.uint8), [np.round(silhouette).astype(np.int32)], 1)
    band = (cv2.dilate(inside, np.ones((41, 41), np.uint8)) > 0) & (inside == 0)  # 20 px past the silhouette
    change = np.abs(r.image.astype(int) - target.astype(int)).max(axis=2)
    assert change[inside > 0].mean() > 10  # the face itself was swapped
    assert change[band].mean() < 2.0 and change[inside == 0].max() < 64


def test_a_target_mesh_off_the_detectors_points_is_not_trusted(pipe, pair):
    from pipelines.faces import align_face, detect_faces
    from pipelines.swap import crop_landmarks

    face = max(detect_faces(pair[1]), key=lambda f: f.size)
    crop, matrix = align_face(pair[1], face.landmarks, pipe.size)
    shape = crop_landmarks(face.landmarks, matrix, pipe.size)
    [mesh] = pipe.target_meshes([crop], [shape])
    assert mesh is not None and mesh.shape == (468, 2)
    assert pipe.target_meshes([crop], [shape + [0.08, 0.0]]) == [None]  # points a third of the eye gap away
    assert pipe.target_meshes([crop], [shape + [0.08, 0.0]], [mesh]) == [None]  # a known mesh is checked too


def test_cli_prints_the_pose_warning(tmp_path):
    out = tmp_path / "out.png"
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.swap", photo("woman_three_quarter_right.png"), photo("woman_redhair_wide.jpg"), "-o", out],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "warning: the source face is a three-quarter view" in proc.stderr and out.is_file()
