"""Hands in front of a face (pipelines/hands.py): found on real frames, kept by the swap, followed in video."""

from __future__ import annotations

import subprocess

import cv2
import imageio.v3 as iio
import imageio_ffmpeg
import numpy as np
import pytest

from pipelines.blend import region_mask
from pipelines.faces import align_face, detect_faces
from pipelines.hands import (
    ANCHORS,
    MAX_HANDS,
    PALM_SIDE,
    HandFinder,
    HandTracker,
    decode_palms,
    hand_mask,
    reaches_face,
    same_hand,
)
from pipelines.images import load_image
from pipelines.swap import SOURCE_HANDS, SwapOptions, crop_landmarks
from pipelines.video import VideoSwapPipeline

from ..conftest import VIDEOS, photo

CLIP = VIDEOS / "stage_speech_hamilton_clip.mp4"
FINGERS_AT_MOUTH = 160  # the speaker's fingers held up in front of his cheek and mouth
FIST_AT_MOUTH = 133  # his fist round the microphone, its knuckles at his chin
SIDE = 256
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


@pytest.fixture(scope="module")
def finder() -> HandFinder:
    return HandFinder()


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    if not CLIP.is_file():
        pytest.fail(f"test clip missing: {CLIP} (tests need ../shared/data beside the clone)")
    return [frame for i, frame in zip(range(FINGERS_AT_MOUTH + 4), iio.imiter(CLIP), strict=False)]


def aligned_view(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    return cv2.warpAffine(image, matrix, (SIDE, SIDE), flags=cv2.INTER_LINEAR)


def face_geometry(image: np.ndarray):
    """The largest face's image -> SIDE crop matrix and its face region (SIDE, SIDE)."""
    face = max(detect_faces(image), key=lambda f: f.size)
    _, matrix = align_face(image, face.landmarks, SIDE)
    return face, matrix, region_mask(("face",), SIDE, crop_landmarks(face.landmarks, matrix, SIDE))


def test_fingers_in_front_of_the_face_are_found_and_cover_part_of_its_region(finder, frames):
    frame = frames[FINGERS_AT_MOUTH]
    _, matrix, region = face_geometry(frame)
    hands = finder(frame, matrix, SIDE)
    assert 1 <= len(hands) <= MAX_HANDS and all(h.shape == (21, 2) for h in hands)
    covered = (hand_mask(hands, matrix, SIDE) * region).sum() / region.sum()
    assert 0.03 < covered < 0.4  # the fingers, not the whole face


@pytest.mark.parametrize("name", ["man_portrait_flags_720p.jpg", "woman_redhair_wide.jpg", "man_laughing_closeup.png"])
def test_no_hand_is_found_on_a_face_without_one(finder, name):
    image = load_image(photo(name))
    _, matrix, region = face_geometry(image)
    hands = finder(image, matrix, SIDE)
    assert (hand_mask(hands, matrix, SIDE) * region).sum() == 0


def test_the_swap_keeps_a_hand_at_the_mouth_and_swaps_the_face_around_it(swapper, finder, frames):
    frame = frames[FIST_AT_MOUTH]
    source = load_image(photo("woman_redhair_wide.jpg"))
    _, matrix, region = face_geometry(frame)
    hand = hand_mask(finder(frame, matrix, SIDE), matrix, SIDE)
    inside, face = (hand > 0.9) & (region > 0.5), (hand == 0) & (region > 0.9)
    painted, swapped = {}, {}
    for keep in (True, False):
        out = swapper(source, frame, SwapOptions(target_face="largest", expression="target", hands=keep)).image
        change = np.abs(aligned_view(frame, matrix).astype(np.int16) - aligned_view(out, matrix)).max(-1)
        painted[keep], swapped[keep] = float((change[inside] > 24).mean()), float(change[face].mean())
    assert inside.sum() > 300 and painted[False] > 0.1  # the knuckles at the chin: painted over without the hand models
    assert painted[True] < 0.01  # kept: the target's own pixels
    assert swapped[True] > 12 and abs(swapped[True] - swapped[False]) < 1  # the face around the hand is swapped alike


def test_the_source_s_hands_are_not_pasted_and_the_result_says_so(swapper, frames):
    source, target = frames[FINGERS_AT_MOUTH], load_image(photo("man_portrait_flags_720p.jpg"))
    held = swapper.choose_source(source, SwapOptions()).hands  # (S, S): the source's fingers in its aligned crop
    assert held is not None and 0.02 < held.mean() < 0.3
    results = {keep: swapper(source, target, SwapOptions(hands=keep)) for keep in (True, False)}
    assert SOURCE_HANDS in results[True].warnings and SOURCE_HANDS not in results[False].warnings
    # aligned crops share the template, so the source's fingers fall on these cells of the target's crop
    fingers = (held > 0.9) & (results[False].mask > 0.5)
    # a three-quarter source: its far half is rebuilt from its mirror image, and the fingers' mirror image is held out too
    away = cv2.dilate((np.maximum(held, held[:, ::-1]) > 0).astype(np.uint8), np.ones((15, 15), np.uint8)) == 0
    assert fingers.sum() > 100  # pasted without the hand models
    assert results[True].mask[fingers].mean() < 0.05  # the target's own face stays under them
    assert np.abs(results[True].mask - results[False].mask)[away].max() < 0.01  # elsewhere the same paste


@pytest.fixture(scope="module")
def gesture_clip(tmp_path_factory):
    """Half a second of the speaker singing into the microphone, his fist at his chin (frames 126-141)."""
    out = tmp_path_factory.mktemp("clips") / "fist.mp4"
    trim = "trim=start_frame=126:end_frame=142,setpts=PTS-STARTPTS"
    subprocess.run([FFMPEG, "-v", "error", "-i", str(CLIP), "-vf", trim, "-c:v", "libx264", "-crf", "12", str(out)], check=True)
    return out


def test_a_video_swap_keeps_the_hands_in_front_of_the_face(swapper, finder, gesture_clip, tmp_path):
    clip = list(iio.imiter(gesture_clip))
    outputs = {}
    for keep in (True, False):
        out = tmp_path / f"hands_{keep}.mp4"
        VideoSwapPipeline(swapper)(photo("woman_redhair_wide.jpg"), gesture_clip, out, SwapOptions(expression="target", hands=keep))
        outputs[keep] = list(iio.imiter(out))
    painted = {True: [], False: []}
    for i, frame in enumerate(clip):
        _, matrix, region = face_geometry(frame)
        inside = (hand_mask(finder(frame, matrix, SIDE), matrix, SIDE) > 0.9) & (region > 0.5)  # hand pixels in front of the face
        for keep in (True, False):
            change = np.abs(aligned_view(frame, matrix).astype(np.int16) - aligned_view(outputs[keep][i], matrix)).max(-1)
            painted[keep].append(change[inside] > 24)
    kept, lost = (float(np.concatenate(painted[k]).mean()) for k in (True, False))
    assert lost > 0.02  # measured 0.043: the fist painted over on the frames it reaches the mouth
    assert kept < lost / 3  # measured 0.005


def test_a_video_follows_its_hands_between_searches(finder, frames):
    tracker = HandTracker(finder, every=2)
    found = []
    for frame in frames[FINGERS_AT_MOUTH - 2 : FINGERS_AT_MOUTH + 2]:  # a search, a follow, a search, a follow
        _, matrix, _ = face_geometry(frame)
        found.append((tracker(frame, "face", matrix, SIDE), finder(frame, matrix, SIDE)))
    for tracked, searched in found:  # every frame: the hands a search on it would find, within a palm's width
        assert tracked and all(any(same_hand(s, t) for t in tracked) for s in searched)
    assert tracker.known["face"][1] == 1  # the last frame was a follow


def test_palms_are_decoded_from_their_anchors_and_overlaps_dropped():
    raw = np.zeros((len(ANCHORS), 18), np.float32)
    logits = np.full(len(ANCHORS), -10.0, np.float32)
    a, b, c = 100, 101, 1500  # two anchors side by side (one palm twice) and one far away
    for i in (a, b, c):
        raw[i, 2:4] = 30  # a 30 px box around the anchor's centre
        raw[i, 4:] = 5  # its keypoints 5 px right and below
    logits[[a, b, c]] = [3.0, 2.0, 1.0]
    palms = decode_palms(raw, logits)
    assert len(palms) == 2
    box, keypoints = palms[0]
    np.testing.assert_allclose((box[:2] + box[2:]) / 2, ANCHORS[a], atol=1e-6)
    np.testing.assert_allclose(box[2:] - box[:2], 30 / PALM_SIDE, atol=1e-6)
    np.testing.assert_allclose(keypoints, np.tile(ANCHORS[a] + 5 / PALM_SIDE, (7, 1)), atol=1e-6)
    np.testing.assert_allclose((palms[1][0][:2] + palms[1][0][2:]) / 2, ANCHORS[c], atol=1e-6)
    logits[:] = -10.0
    assert decode_palms(raw, logits) == []  # below MediaPipe's 0.5: no palm


def test_only_a_hand_that_reaches_the_face_region_counts(finder, frames):
    frame = frames[FINGERS_AT_MOUTH]
    _, matrix, _ = face_geometry(frame)
    hand = finder(frame, matrix, SIDE)[0]
    assert reaches_face(hand, matrix, SIDE)
    crop_to_image = cv2.invertAffineTransform(matrix)
    below_chin = hand + (crop_to_image[:, :2] @ np.array([0.0, 0.8 * SIDE]))  # moved down by 0.8 of the crop's side
    beside = hand + (crop_to_image[:, :2] @ np.array([-0.9 * SIDE, 0.0]))
    assert not reaches_face(below_chin, matrix, SIDE) and not reaches_face(beside, matrix, SIDE)
