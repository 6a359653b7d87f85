"""An invisible watermark that lives in the face, so it survives what a re-upload does to a picture.

Every face we make (a swapped face, a sample) gets a faint pattern added, defined in aligned-face
coordinates: the same 5-landmark template every crop uses (pipelines/faces.py). A detector finds
the faces in any picture, aligns each the same way and correlates it with the pattern. Because the
pattern is tied to the face rather than to pixel positions, resizing the picture, cropping its
borders or moving the face in the frame does not move it.

    offset (Y, Cr, Cb) = AMPLITUDE * band(key) * envelope

key: a fixed pseudo-random +-1 grid of GRID x GRID cells per channel (seeded, so every copy of
CodeSwap draws the same), bicubically upsampled and band-passed to the frequencies the detector
reads (a high-pass at HIGH_PASS_SIGMA: lower frequencies would be masked by the face's own shading
and are the most visible); envelope: the template's feathered face ellipse. Most of the energy is
in chroma: a face's own chroma is smooth (high-passed, 1-4 levels against 7-23 for brightness), so
the pattern stands out there, and the eye is least sensitive to it. A black-and-white face stays
black-and-white and gets a brightness-only pattern, a weaker mark (see benchmarks/watermark.py).

Detection high-passes the aligned face (clipping its strong edges), correlates each channel with
each of KEYS keys and DECOYS decoy grids at every shift of up to SHIFTS pixels and at a few scales
(landmarks found on an edited face are off by a few percent), weights the channels by their
expected signal over noise, and takes the best key's score as a z-score against the decoys' best
scores: the face's own null distribution, so one threshold fits every face. Which key is found is
the payload (the mark's format); four keys rather than dozens keep the false-alarm tail low.

What it does not do: a determined adversary who knows the scheme (it is open source) can estimate
and subtract the pattern, or blur the face until it is gone; a face that is not detected cannot be
read. It marks honest outputs; it is no proof of origin (C2PA manifests, pipelines/credentials.py,
say who made a file, while they survive).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from .blend import feathered, region_mask
from .faces import alignment_matrix, warp_to_crop

GRID = 32  # pattern cells across the aligned crop (4 pixels per cell at 128)
KEYS = 4  # the payload is which key is present (2 bits): the mark's format; few keys keep the false-alarm tail low
FORMAT = 1  # this code writes key FORMAT - 1
# Standard deviation of the added offset inside the face, in levels of 255, for Y, Cr, Cb. Chroma
# carries most of it: a face's own chroma is smooth (high-passed, 1-4 levels against 7-23 for
# brightness), so the pattern stands out there, and the eye is least sensitive to it.
# A black-and-white face gets the same pattern: its brightness is left as good as untouched, and its
# chroma, flat everywhere else, carries the mark more clearly than a colour face's does. The faint
# colour it adds (a level or two of chroma, invisible) makes the file no longer strictly greyscale;
# a brightness-only pattern strong enough to survive JPEG 75 on a textured grey face was visible.
AMPLITUDE = (1.0, 1.5, 1.5)
SEED = 0xC0D35  # fixes the keys and the decoys
DETECT_SIZE = 128  # faces are aligned at this side for detection
REFERENCE_SIDE = 256  # the pattern is made once at this side and resized to each face's
SCALES = (0.94, 0.97, 1.0, 1.03, 1.06)  # and at these scales of the detected alignment
SHIFTS = 3  # detection tries alignments off by up to this many pixels (at DETECT_SIZE) each way
DECOYS = 64  # random keys whose scores give each face's own null distribution
HIGH_PASS_SIGMA = 2.0  # pixels at DETECT_SIZE: removes the face's own shading, keeps the pattern
CLIP = 2.0  # residuals beyond this many robust standard deviations are clipped at detection
# The pattern's strength follows the face's size in the picture (strength_for_size): a small face
# carries the pattern in few pixels, and a re-encode (JPEG, H.264) or a downscale keeps little of it;
# on a large one the pattern's cells grow into blotches of colour the eye sees on smooth skin (2.5x
# on the singer clip's 330-500 px faces). Video frames take more, as H.264 keeps less than JPEG does.
# Photos: 2x up to a 225 px crop, 1x from 450 px: a lowered head's 222 px face read 3.8-4.3 after
# JPEG 75 at 1x (threshold 5), 5.7-8.3 at 1.75x, 7.4-9.3 at 2x.
PHOTO_STRENGTH, PHOTO_FULL_SIDE, PHOTO_MIN_STRENGTH = 2.0, 225, 1.0
# Video: 2.5x up to a 160 px crop, 1.25x from 320 px (24 of 24 singer frames found after CRF 23)
VIDEO_STRENGTH, VIDEO_FULL_SIDE, VIDEO_MIN_STRENGTH = 2.5, 160, 1.25
THRESHOLD = 5.0  # z-score above the decoys' scores that counts as found (calibrated: benchmarks/watermark.py)
# YCrCb offsets -> RGB offsets (the inverse of OpenCV's RGB -> YCrCb without its 128 offset), rows R, G, B
YCRCB_TO_RGB = np.array([[1.0, 1.402, 0.0], [1.0, -0.714, -0.344], [1.0, 0.0, 1.772]], np.float32)


def payload(key: int) -> str:
    """What a key says."""
    return f"CodeSwap, watermark format {key + 1}"


@functools.lru_cache(maxsize=1)
def _grids() -> np.ndarray:
    """(3, KEYS + DECOYS, GRID, GRID) float32 of +-1: per channel (Y, Cr, Cb) the keys, then the decoys."""
    rng = np.random.default_rng(SEED)
    return rng.choice(np.array([-1.0, 1.0], np.float32), size=(3, KEYS + DECOYS, GRID, GRID))


@functools.lru_cache(maxsize=8)
def envelope(side: int) -> np.ndarray:
    """(side, side) float32 in [0, 1]: the template's face ellipse below the forehead, feathered (no
    pattern in hair or background). The swapped region reaches higher (blend.FACE_TOP), into hair the
    paste leaves out: a mark spread up there was found less (session 24: the hamilton clip after
    CRF 23 in 9 of 22 frames against 15, the singer's after CRF 28 in 21 of 24 against 22)."""
    return feathered(region_mask(("face",), side, top=0.0), 0.06)


def _upsample(grid: np.ndarray, side: int) -> np.ndarray:
    return cv2.resize(grid, (side, side), interpolation=cv2.INTER_CUBIC)


@functools.lru_cache(maxsize=1)
def _reference_pattern() -> np.ndarray:
    """(REFERENCE_SIDE, REFERENCE_SIDE, 3) float32 RGB offsets in levels: the pattern, made once."""
    side = REFERENCE_SIDE
    key = FORMAT - 1
    env = envelope(side)
    inside = env > 0.5
    channels = []
    for grids, amplitude in zip(_grids(), AMPLITUDE, strict=True):  # Y, Cr, Cb
        # only the band the detector looks at: energy below it would be lost there and is the most visible
        band = _high_pass(_upsample(grids[key], side), HIGH_PASS_SIGMA * side / DETECT_SIZE)
        channels.append(amplitude * band / max(float(band[inside].std()), 1e-6) * env)  # std `amplitude` inside
    return (np.stack(channels, -1) @ YCRCB_TO_RGB.T).astype(np.float32)


@functools.lru_cache(maxsize=16)
def pattern(side: int) -> np.ndarray:
    """(side, side, 3) float32 RGB offsets for an aligned face crop of this side, in levels: the
    reference pattern resized (a few ms for a new side, where building it there would take 150)."""
    reference = _reference_pattern()
    if side == REFERENCE_SIDE:
        return reference
    interpolation = cv2.INTER_CUBIC if side > REFERENCE_SIDE else cv2.INTER_AREA
    return cv2.resize(reference, (side, side), interpolation=interpolation)


def embed(face: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """Mark an aligned face crop (P, P, 3) uint8 RGB (any P): plus `strength` times the pattern ->
    a new (P, P, 3) uint8. Swapped faces take photo_strength or video_strength of their size."""
    up, down = _rounded(face.shape[0], strength)
    return cv2.subtract(cv2.add(face, up), down)  # saturating uint8 arithmetic: face + round(offset), clipped


def strength_for_size(native_side: float, strength: float, full_side: float, least: float) -> float:
    """The pattern's strength for a face whose aligned crop spans native_side pixels of the picture:
    `strength` up to full_side, falling as 1 / side to `least`, in steps of 0.25 (so a video's faces
    share a few rounded patterns)."""
    value = np.clip(strength * full_side / max(native_side, 1.0), least, strength)
    return float(np.round(value * 4) / 4)


def photo_strength(native_side: float) -> float:
    return strength_for_size(native_side, PHOTO_STRENGTH, PHOTO_FULL_SIDE, PHOTO_MIN_STRENGTH)


def video_strength(native_side: float) -> float:
    return strength_for_size(native_side, VIDEO_STRENGTH, VIDEO_FULL_SIDE, VIDEO_MIN_STRENGTH)


@functools.lru_cache(maxsize=16)
def _rounded(side: int, strength: float) -> tuple[np.ndarray, np.ndarray]:
    """The pattern rounded to whole levels and split into its positive and negative parts, (P, P, 3)
    uint8 each. A uint8 face plus a float offset, rounded, is the face plus the rounded offset."""
    offset = np.floor(pattern(side) * strength + 0.5)
    return np.clip(offset, 0, 255).astype(np.uint8), np.clip(-offset, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class FaceMark:
    """What the detector read from one face: the best key's z-score against the decoys, and the payload."""

    score: float
    found: bool
    payload: str | None  # what the key found says, when found


def _high_pass(image: np.ndarray, sigma: float = HIGH_PASS_SIGMA) -> np.ndarray:
    return image - cv2.GaussianBlur(image, (0, 0), sigmaX=sigma)


@functools.lru_cache(maxsize=1)
def _filter_spectra() -> np.ndarray:
    """(3, KEYS + DECOYS, S, S // 2 + 1) complex: conjugate spectra of the high-passed,
    enveloped, unit-norm patterns (S = DETECT_SIZE), ready for correlation by FFT."""
    env = envelope(DETECT_SIZE)
    out = np.stack([[_high_pass(_upsample(g, DETECT_SIZE)) * env for g in grids] for grids in _grids()])
    out /= np.linalg.norm(out.reshape(*out.shape[:2], -1), axis=2)[..., None, None]
    return np.fft.rfft2(out).conj()


def read(image: np.ndarray, landmarks: np.ndarray) -> FaceMark:
    """One face of an RGB uint8 picture, given its (5, 2) detected landmarks -> FaceMark.

    The face is aligned at DETECT_SIZE at a few scales around the detected one (the landmarks found
    on an edited face differ from the ones it was marked with by a few percent) and the best
    alignment of each key and decoy is kept, so the decoys see the same search as the keys."""
    base = alignment_matrix(landmarks, DETECT_SIZE)
    centre = DETECT_SIZE / 2
    maps = []
    for scale in SCALES:
        zoom = np.array([[scale, 0, centre * (1 - scale)], [0, scale, centre * (1 - scale)]])  # about the crop centre
        matrix = zoom[:, :2] @ base[:, :2], zoom[:, :2] @ base[:, 2] + zoom[:, 2]
        crop = warp_to_crop(image, np.column_stack(matrix), DETECT_SIZE)
        maps.append(_best_alignments(crop))
    return _decide(np.max(maps, axis=0))


def read_face(crop: np.ndarray) -> FaceMark:
    """An aligned face crop (DETECT_SIZE, DETECT_SIZE, 3) uint8 RGB, taken as is -> FaceMark."""
    return _decide(_best_alignments(crop))


def _decide(best: np.ndarray) -> FaceMark:
    """(KEYS + DECOYS,) best correlations -> the best key's z-score against the decoys'."""
    if not np.any(best):
        return FaceMark(0.0, False, None)
    decoys = best[KEYS:]
    z = (best[:KEYS] - decoys.mean()) / max(float(decoys.std()), 1e-12)
    key = int(z.argmax())
    found = bool(z[key] >= THRESHOLD)
    return FaceMark(float(z[key]), found, payload(key) if found else None)


def _best_alignments(crop: np.ndarray) -> np.ndarray:
    """An aligned crop -> (KEYS + DECOYS,) each filter's best correlation over shifts of up to SHIFTS
    pixels (zeros when the crop has no texture at all)."""
    ycrcb = cv2.cvtColor(crop, cv2.COLOR_RGB2YCrCb).astype(np.float32)
    env = envelope(DETECT_SIZE)
    corr = 0.0
    for c, (spectra, amplitude) in enumerate(zip(_filter_spectra(), AMPLITUDE, strict=True)):
        if amplitude == 0:
            continue
        residual = _high_pass(ycrcb[..., c]) * env
        # clipped at a few robust standard deviations: the face's own edges (eyes, brows, a fringe)
        # are the heavy tail of the residual and would drown the pattern's correlation
        limit = CLIP * 1.4826 * float(np.median(np.abs(residual[env > 0.5]))) + 1e-3
        residual = np.clip(residual, -limit, limit)
        norm = float(np.linalg.norm(residual))
        if norm < 1e-3:  # a flat channel (the chroma of a grey picture) carries nothing
            continue
        # normalized correlation at every cyclic shift, for every filter: (F, S, S); weighted by the
        # channel's expected signal over its noise (a matched filter across channels)
        corr = corr + np.fft.irfft2(spectra * np.fft.rfft2(residual), s=residual.shape) * (amplitude / norm**2)
    if np.isscalar(corr):
        return np.zeros(KEYS + DECOYS)
    near = np.r_[0 : SHIFTS + 1, -SHIFTS:0]
    return corr[:, near][:, :, near].reshape(KEYS + DECOYS, -1).max(1)
