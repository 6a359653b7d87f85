"""Photo face swap by exchanging VQGAN codes (SEED-NOTES section 6).

Z_A = q(E(align(A))),  Z_B = q(E(align(B)))          (B, 16, 16) code indices
Z_swap = where(region, Z_A, Z_B)                     A's codes inside the face regions
X_swap = G(Z_swap)  -> composed with real detail at the photo's resolution (pipelines/detail.py)
                    -> colour-matched to B -> feathered paste back into B

python -m pipelines.swap SOURCE TARGET -o OUT.png [--regions face] [--target-face all|N|largest]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from models import VQGAN, CodeTransformer, WeightsError
from models.tensors import to_images, to_model_range

from . import watermark
from .blend import (
    OUTLINE_MARGIN,
    color_transfer,
    feathered,
    is_grey,
    mouth_zone,
    outline_mask,
    region_core,
    region_mask,
    skin_core,
    to_grey,
    token_boundary,
    token_mask,
)
from .covered import covering_mask
from .detail import PHOTO_DETAIL, DetailScale, compose, compose_with_seam, detail_side, resize, source_detail
from .device import choose_device
from .expression import MouthInside, expression_field, kept_from_target, warp
from .faces import (
    CANONICAL_TEMPLATE,
    Face,
    align_face,
    alignment_matrix,
    default_detector,
    detect_faces,
    native_crop_side,
    paste_back,
    transform_points,
    warp_to_crop,
)
from .focus import edge_blur, extra_blur, in_focus_of
from .hair import hair_mask, without_hair
from .hands import HandFinder, hand_mask
from .images import DEFAULT_MAX_PIXELS, ImageError, load_image
from .landmarks import FACE_OVAL, FIVE_POINTS, DenseLandmarks
from .lighting import relit
from .pose import Pose, choose_view, complete_from_visible_half, estimate_pose
from .timing import Timings
from .turn import fit_turn, hides, turn_field, turned_points

SOURCE_COVERED = (
    "the source face is covered below the eyes (a face mask?): the covered part is not used, so the target's own "
    "nose and mouth stay there; a source photo with the whole face visible works best"
)
SOURCE_HANDS = (
    "a hand covers part of the source face: that part is not used, so the target's own face stays there; "
    "a source photo with the whole face visible works best"
)

# SwapOptions.expression -> the parts of the face that take the target's shape (pipelines/expression.py)
EXPRESSIONS = {"source": (), "target": ("eyes", "mouth"), "mouth": ("mouth",)}
# A target's face mesh is trusted (its outline clips the swap, its points shape the expression) when
# its eyes, nose and mouth lie within this fraction of the crop side of the detector's (the eyes are
# 0.24 apart): further off, it has slid off the face, as on small faces in the dark (target_meshes).
MESH_AGREEMENT = 0.06


def warped(mask: np.ndarray | None, field: np.ndarray) -> np.ndarray | None:
    """A source view's (S, S) mask (SourceFace.hands) read through the same (n, n, 2) field as its
    face (a turn, an expression); None stays None."""
    return None if mask is None else warp(mask, field)


def outline(mesh: np.ndarray | None, hull: bool = False) -> np.ndarray | None:
    """(468, 2) face mesh -> (K, 2) its silhouette, or None: the face oval's ring (pipelines/landmarks.py
    FACE_OVAL), or with hull the convex hull of all its points. On a turned head the nose tip and lips
    reach past the ring: where the source is turned like the target (its nose where the target's is),
    the hull lets it cover the target's nose tip, which otherwise showed past the swapped face. With
    an unturned source the ring is kept (on the hamilton clip's profiles the hull let more of the
    frontal source past the speaker's nose: eyes by the mesh 0.71 against 0.81)."""
    if mesh is None:
        return None
    if not hull:
        return mesh[FACE_OVAL]
    points = np.asarray(mesh[:, :2], np.float32)
    return points[cv2.convexHull(points, returnPoints=False)[:, 0]]


class NoFaceError(ValueError):
    """No usable face in an input; the message says which input."""


@dataclass
class SwapOptions:
    regions: tuple[str, ...] = ("face",)  # any of pipelines.blend.REGIONS
    # "source": the swapped regions carry the source's whole face, expression included. "target": the
    # source's face is first warped to the target's mouth, jaw and eyelids (pipelines/expression.py),
    # so the target still talks and blinks with the source's face; the inside of an open mouth is the
    # target's. "mouth": only the mouth and jaw follow the target; the eyes are the source's.
    expression: str = "source"
    target_face: str = "all"  # "all", "largest", "similar" (to a reference face), or an index (0 = most confident)
    source_face: str = "largest"  # "largest" or an index
    strength: float = 1.0  # weight of the swapped face in the final blend, 0..1
    softness: float = 0.08  # feather radius as a fraction of the crop side
    color_correction: bool = True  # match the swapped face's LAB statistics to the target's
    harmonize: bool = False  # resample boundary codes with the code transformer
    harmonize_temperature: float = 0.7
    harmonize_top_k: int = 50
    # 0..1: add back, at the photo's resolution, the detail the decode lacks: the source's inside A's
    # codes, the target's elsewhere (pipelines/detail.py). 0 is the decoder alone, upsampled.
    detail: float = 1.0
    min_face: float = 24.0  # smallest face used, box side in pixels
    # keep the target's hands where they are in front of its face (pipelines/hands.py): a hand at the
    # mouth, a fist round a microphone stay the target's pixels rather than being painted over; and
    # the source's hands are not pasted: the target's face stays where they hide the source's
    hands: bool = True
    # blur the source's pixels as much more as the target's face is blurred (pipelines/focus.py): a sharp
    # face pasted into one out of focus gives the swap away
    focus: bool = True
    # with the colour correction, the target's light falling across the face, one cheek lit and the
    # other not (pipelines/lighting.py). None: on for photos, off for video, where on the hamilton clip
    # it cost identity (the output read as the source on 53-57% of frames against 60%; photos: 93% either way)
    relight: bool | None = None
    seed: int = 0

    def validate(self) -> None:
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"strength must be in [0, 1], got {self.strength}")
        if not 0.0 <= self.detail <= 1.0:
            raise ValueError(f"detail must be in [0, 1], got {self.detail}")
        if not 0.0 <= self.softness <= 0.5:
            raise ValueError(f"softness must be in [0, 0.5], got {self.softness}")
        region_mask(self.regions, 16)  # raises on unknown names
        if self.expression not in EXPRESSIONS:
            raise ValueError(f"expression must be one of {', '.join(EXPRESSIONS)}, got {self.expression!r}")
        for name, value, words in (
            ("target_face", self.target_face, ("all", "largest", "similar")),
            ("source_face", self.source_face, ("largest",)),
        ):
            if str(value) not in words and not str(value).isdigit():
                raise ValueError(f"{name} must be one of {', '.join(words)} or a face index, got {value!r}")


@dataclass
class SourceFace:
    """The face donor, prepared once (a video reuses it for every frame)."""

    face: Face
    crop: np.ndarray  # (S, S, 3) uint8, aligned
    codes: torch.Tensor | None  # (h, w) long; None only while a warped view waits for its encoding (wear_expression)
    decoded: np.ndarray | None  # (S, S, 3) uint8, G(Z_A); None only while a warped view waits for it
    hires: np.ndarray  # (P, P, 3) uint8, aligned at its own resolution (pipelines/detail.py)
    pose: Pose
    points: np.ndarray | None = None  # (478, 2) dense landmarks, unit crop coordinates (pipelines/expression.py), once asked
    mesh: np.ndarray | None = None  # (468, 3) face mesh with depth, unit crop coordinates (pipelines/turn.py), once asked
    # (K, 2) a turned view's silhouette, unit crop coordinates: past it lies the source photo's background,
    # stretched by the turn, so neither codes nor pixels are taken from there (None: not turned). The face
    # oval's ring of its turned mesh, not the hull: the mesh puts a turned face's far cheek a little past
    # its profile, and with the hull the source's far eye and cheek showed as a halo past the target's
    # nose (looked at, 5 pairs); the ring leaves that strip, and the far eye at the nose, the target's.
    outline: np.ndarray | None = None
    # (S, S) float32 in [0, 1]: the source's hands in front of its face, in this view's crop (hand_mask).
    # Not pasted: the target's own face stays there (blend), as under a face mask. None: no hands.
    hands: np.ndarray | None = None
    # (mirror, complete) -> this face mirrored and/or with its hidden half rebuilt (pipelines/pose.py)
    views: dict[tuple[bool, bool], SourceFace] = field(default_factory=dict, repr=False)
    details: dict[int, np.ndarray] = field(default_factory=dict, repr=False)  # side P -> source_detail at P
    sizes: dict[int, np.ndarray] = field(default_factory=dict, repr=False)  # side P -> hires resized to P
    # side P -> the blur of its edges there (pipelines/focus.py): shared by its views, which are this face warped
    blurs: dict[int, float | None] = field(default_factory=dict, repr=False)

    def sized(self, side: int) -> np.ndarray:
        """(P, P, 3) uint8: the aligned face at side P, made once per side (wear_expression warps it every frame)."""
        if side not in self.sizes:
            if len(self.sizes) >= 8:
                self.sizes.clear()
            self.sizes[side] = resize(self.hires, side)
        return self.sizes[side]

    def detail(self, side: int) -> np.ndarray:
        """(P, P, 3) float32 A_P - up(G(Z_A)) (pipelines/detail.py), made once per side: a video's
        faces change size slowly, and P moves in steps of SIDE_STEP."""
        if side not in self.details:
            if len(self.details) >= 8:
                self.details.clear()
            self.details[side] = source_detail(self.decoded, self.hires, side)
        return self.details[side]

    def edge_blur(self, side: int) -> float | None:
        """The blur of the face's edges at side P (pipelines/focus.py), measured once per side."""
        if side not in self.blurs:
            self.blurs[side] = edge_blur(self.sized(side))
        return self.blurs[side]


@dataclass
class SwapResult:
    image: np.ndarray  # (H, W, 3) uint8, the target with the swapped face(s); same size as the target
    source_crop: np.ndarray  # (S, S, 3) uint8, the source face aligned
    # (S, S, 3) uint8, the source face as encoded for each target: mirrored, turned to its pose, with its expression (if kept)
    posed_crops: list[np.ndarray]
    target_crops: list[np.ndarray]  # one per swapped target face
    source_codes: np.ndarray  # (h, w) code indices of the source face as given
    posed_codes: list[np.ndarray]  # (h, w) code indices of each posed crop: what the swap exchanges
    target_codes: list[np.ndarray]
    swap_codes: list[np.ndarray]
    token_mask: np.ndarray  # (h, w) bool: where A's codes were used (in the first swapped face)
    mask: np.ndarray  # (S, S) float blend weights in crop space
    decoded: list[np.ndarray]  # (S, S, 3) uint8 decoded swap before colour correction and blending
    target_faces: list[Face]
    source_face: Face
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    warnings: list[str] = field(default_factory=list)  # plain words, e.g. poses too different


def input_label(role: str, value) -> str:
    """'source' or 'source image photo.jpg': how error messages name an input."""
    return f"{role} image {Path(value).name}" if isinstance(value, (str, Path)) else f"{role} image"


def source_cells(opts: SwapOptions, size: int, grid: int, landmarks: np.ndarray | None = None,
                 source_outline: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """(grid, grid) bool: the code cells of a target face that take the source's codes (and detail).
    landmarks: the target's (5, 2) landmarks in unit crop coordinates (None: the template);
    source_outline: a turned source's (K, 2) silhouette (SourceFace.outline): no cell past it."""
    region = region_mask(opts.regions, size, landmarks, posed=source_outline is not None)
    if source_outline is not None:
        region = region * outline_mask(source_outline, size, margin=0.0)
    return token_mask(region, grid)


def align_at_detail(image: np.ndarray, landmarks: np.ndarray, size: int, scale: DetailScale) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A target face warped once, at the side P it is composed at (pipelines/detail.py), and its
    S x S crop for the VQGAN area-averaged from that: one warp of the photo instead of two (video).
    -> (crop (S, S, 3) uint8, matrix (2, 3) image -> S crop, hires (P, P, 3) uint8)."""
    matrix = alignment_matrix(landmarks, size)
    side = detail_side(native_crop_side(matrix, size), size, scale)
    hires = warp_to_crop(image, matrix * (side / size), side)
    return resize(hires, size), matrix, hires


def inlay(image: np.ndarray, other: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(s, s, 3) uint8 images and (s, s) weights in [0, 1] -> image with other where the weights are
    1 (in place; only the box where the weights are non-zero is computed: a mouth is small)."""
    ys, xs = np.nonzero(weights.any(axis=1))[0], np.nonzero(weights.any(axis=0))[0]
    if len(ys) == 0:
        return image
    box = np.s_[ys[0] : ys[-1] + 1, xs[0] : xs[-1] + 1]
    w = weights[box][..., None]
    image[box] = (image[box] * (1 - w) + other[box] * w + 0.5).astype(np.uint8)
    return image


def crop_landmarks(landmarks: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """(5, 2) landmarks in the image -> in unit coordinates of the S x S crop of this matrix."""
    return transform_points(landmarks, matrix) / size


def pick_faces(faces: list[Face], which: str) -> list[Face]:
    if which == "all":
        return faces
    if which == "largest":
        return [max(faces, key=lambda f: f.size)]
    i = int(which)
    if i >= len(faces):
        raise NoFaceError(f"face index {i} requested but only {len(faces)} face(s) found")
    return [faces[i]]


class FaceSwapPipeline:
    """Build with loaded models; call with (source, target). See the module docstring."""

    def __init__(
        self, vqgan: VQGAN, transformer: CodeTransformer | None = None, detector=None, max_pixels: int = DEFAULT_MAX_PIXELS,
        mark: bool = True, device: str | torch.device | None = None,
    ):  # fmt: skip
        """device: where the models and the detector run (pipelines/device.py: CUDA when available,
        else CPU; CODESWAP_DEVICE overrides). mark=False leaves faces without the watermark: only for
        measuring the mark (benchmarks/watermark.py)."""
        self.device = choose_device(device)
        # channels-last convolutions: the same numbers, about a fifth faster on CPU (oneDNN)
        self.vqgan = vqgan.eval().to(self.device, memory_format=torch.channels_last)
        self.mark = mark
        self.transformer = transformer.eval().to(self.device) if transformer is not None else None
        self.detector = detector or default_detector(self.device)
        self.max_pixels = max_pixels
        self.size = vqgan.config.image_size
        self.grid = vqgan.config.grid_size
        self._landmarks: DenseLandmarks | None = None
        self._hands: HandFinder | None = None

    @property
    def landmarks(self) -> DenseLandmarks:
        """The dense landmark models (pipelines/landmarks.py), loaded when first needed (an expression
        kept, a video's faces followed)."""
        if self._landmarks is None:
            self._landmarks = DenseLandmarks()
        return self._landmarks

    @property
    def hands(self) -> HandFinder:
        """The hand models (pipelines/hands.py), loaded when first needed."""
        if self._hands is None:
            self._hands = HandFinder()
        return self._hands

    def find_hands(self, image: np.ndarray, matrices: list[np.ndarray], opts: SwapOptions) -> list[list[np.ndarray]] | None:
        """The hands around each face (matrices: image -> S crop), each (21, 2) image pixels, or None
        when opts.hands is off."""
        return [self.hands(image, m, self.size) for m in matrices] if opts.hands else None

    @classmethod
    def from_pretrained(cls, root=None, **kwargs) -> FaceSwapPipeline:
        """Shipped weights (weights/), or a folder / Hub repo id with vqgan/ and transformer/."""
        from .weights import check_prior, load_model

        vqgan = load_model("vqgan", root)
        try:
            transformer = load_model("transformer", root)
            check_prior(vqgan, transformer)
        except WeightsError:
            transformer = None  # harmonization is then unavailable; the swap itself works
        return cls(vqgan, transformer, **kwargs)

    # -- the per-face steps, shared by the photo and the video pipelines ---------------------------
    def find_faces(self, image: np.ndarray, label: str, min_face: float) -> list[Face]:
        """Every face of at least min_face px, most confident first; NoFaceError naming the input if none."""
        faces = detect_faces(image, self.detector, min_size=min_face)
        if not faces:
            raise NoFaceError(f"no face found in the {label} image (faces smaller than {min_face:.0f} px are ignored)")
        return faces

    def load(self, image, role: str) -> np.ndarray:
        """A photo argument (path, bytes, PIL, array) -> (H, W, 3) uint8 RGB; errors name the role."""
        return load_image(image, name=input_label(role, image), max_pixels=self.max_pixels)

    def choose_source(self, image: np.ndarray, opts: SwapOptions) -> SourceFace:
        """The donor face of a loaded photo (opts.source_face: "largest" or an index), prepared."""
        donor = pick_faces(self.find_faces(image, "source", opts.min_face), opts.source_face)[0]
        return self.prepare_source(image, donor, hands=opts.hands)

    def reference_signature(self, reference, opts: SwapOptions) -> np.ndarray:
        """(D,) appearance signature of the largest face in a reference photo of the person to replace."""
        if reference is None:
            raise ValueError('target_face="similar" needs a reference photo of the person to replace')
        ref = self.load(reference, "reference")
        face = pick_faces(self.find_faces(ref, "reference", opts.min_face), "largest")[0]
        return self.face_signature([align_face(ref, face.landmarks, self.size)[0]])[0].cpu().numpy()

    def choose_targets(self, image: np.ndarray, opts: SwapOptions, reference=None) -> list[Face]:
        """The faces of a loaded target photo to replace: all, the largest, an index, or the one most
        like the reference photo's face (opts.target_face)."""
        faces = self.find_faces(image, "target", opts.min_face)
        if opts.target_face != "similar":
            return pick_faces(faces, opts.target_face)
        signatures = self.face_signature([align_face(image, f.landmarks, self.size)[0] for f in faces]).cpu().numpy()
        return [faces[int((signatures @ self.reference_signature(reference, opts)).argmax())]]

    @torch.no_grad()
    def encode(self, crops: list[np.ndarray]) -> torch.Tensor:
        """[(S, S, 3) uint8] aligned faces -> (N, h, w) code indices."""
        return self.vqgan.encode_to_indices(to_model_range(crops).to(self.device))

    @torch.no_grad()
    def __call__(self, source, target, options: SwapOptions | None = None, reference=None, **overrides) -> SwapResult:
        """source: the face donor (A); target: the photo whose face is replaced (B); reference: a photo
        of the person to replace, used when target_face="similar". PIL images, HxWx3 uint8 RGB
        arrays, paths or bytes."""
        opts = options or SwapOptions()
        if overrides:
            opts = SwapOptions(**{**opts.__dict__, **overrides})
        if opts.relight is None:  # a photo's default (SwapOptions.relight)
            opts = dataclasses.replace(opts, relight=True)
        opts.validate()
        times = Timings()
        with times("total"):
            with times("decode"):
                src, tgt = self.load(source, "source"), self.load(target, "target")
            with times("detect"):  # the source first: with no face anywhere, the message names the source
                donor = pick_faces(self.find_faces(src, "source", opts.min_face), opts.source_face)[0]
                target_faces = self.choose_targets(tgt, opts, reference)
            with times("encode"):
                source_face = self.prepare_source(src, donor, hands=opts.hands)
                aligned = [align_face(tgt, f.landmarks, self.size) for f in target_faces]
                codes = self.encode([crop for crop, _ in aligned])  # (N, h, w)
                views, warnings = self.views_for(source_face, [f.landmarks for f in target_faces])
            shapes = [crop_landmarks(f.landmarks, m, self.size) for f, (_, m) in zip(target_faces, aligned, strict=True)]
            with times("expression"):
                targets_hi = [self.target_detail(tgt, m) for _, m in aligned] if EXPRESSIONS[opts.expression] else None
                meshes = self.target_meshes(targets_hi or [crop for crop, _ in aligned], shapes)
                views = self.turn_views(views, meshes, bool(EXPRESSIONS[opts.expression]))
                views, keeps = self.wear_expression(views, targets_hi, opts, self.target_points(targets_hi, meshes, opts))
            with times("hands"):
                hands = self.find_hands(tgt, [m for _, m in aligned], opts)
            with times("exchange"):
                swap, tokens = self.exchange_codes(torch.stack([v.codes for v in views]), codes, opts, shapes, [v.outline for v in views])
            with times("decode_codes"):
                decoded = self.decode(swap)
            with times("blend"):
                silhouettes = [outline(m, hull=v.outline is not None) for m, v in zip(meshes, views, strict=True)]  # hull: a turned source
                out, mask = self.blend(tgt, aligned, decoded, opts, views, tokens, shapes, hires=targets_hi, keeps=keeps,
                                       outlines=silhouettes, hands=hands)  # fmt: skip
        return SwapResult(
            image=out,
            source_crop=source_face.crop,
            posed_crops=[v.crop for v in views],
            target_crops=[crop for crop, _ in aligned],
            source_codes=source_face.codes.cpu().numpy(),
            posed_codes=[v.codes.cpu().numpy() for v in views],
            target_codes=list(codes.cpu().numpy()),
            swap_codes=list(swap.cpu().numpy()),
            token_mask=tokens[0],
            mask=mask,
            decoded=decoded,
            target_faces=target_faces,
            source_face=source_face.face,
            timings=dict(times),
            warnings=warnings,
        )

    @torch.no_grad()
    def face_signature(self, crops: list[np.ndarray]) -> torch.Tensor:
        """Aligned crops -> (N, D) unit vectors: the VQGAN encoder's latents inside the face region.
        A rough appearance match for picking "the same person" among a few faces; not face recognition."""
        tokens = torch.from_numpy(token_mask(region_mask(["face"], self.size), self.grid)).to(self.device)
        x = to_model_range(crops).to(self.device)
        z = self.vqgan.encode(x) + self.vqgan.encode(x.flip(3)).flip(3)  # (N, C, h, w)
        z = z + z.flip(3)  # a left-right symmetric map: the same for a face and its mirror image
        return torch.nn.functional.normalize(z[:, :, tokens].flatten(1), dim=1)

    def exchange_codes(self, source: torch.Tensor, targets: torch.Tensor, opts: SwapOptions, shapes: list | None = None,
                       source_outlines: list | None = None):  # fmt: skip
        """Z_swap = A's codes inside the regions, B's elsewhere (then harmonized if asked).

        source (h, w) or one per target (N, h, w), targets (N, h, w) long, shapes: each target's
        (5, 2) landmarks in unit crop coordinates (None: the template), source_outlines: per target,
        its source view's silhouette (SourceFace.outline) or None -> swap (N, h, w) long, token masks
        (N, h, w) bool."""
        shapes = shapes or [None] * len(targets)
        source_outlines = source_outlines or [None] * len(targets)
        tokens = np.stack([source_cells(opts, self.size, self.grid, shape, clip)
                           for shape, clip in zip(shapes, source_outlines, strict=True)])  # fmt: skip
        swap = torch.where(torch.from_numpy(tokens).to(self.device), source if source.dim() == 3 else source[None], targets)
        if opts.harmonize:
            swap = self.harmonize(swap, tokens, opts)
        return swap, tokens

    @torch.no_grad()
    def prepare_source(self, image: np.ndarray, face: Face, hands: bool = True) -> SourceFace:
        """Align the donor face at S and at its own resolution, encode it and decode its codes;
        hands: look for hands in front of it (SourceFace.hands)."""
        crop, matrix = align_face(image, face.landmarks, self.size)
        side = detail_side(native_crop_side(matrix, self.size), self.size)
        hires = warp_to_crop(image, matrix * (side / self.size), side)
        source = self.encoded(face, crop, hires, estimate_pose(face.landmarks))
        found = self.hands(image, matrix, self.size) if hands else []
        source.hands = hand_mask(found, matrix, self.size) if found else None
        return source

    def encoded(self, face: Face, crop: np.ndarray, hires: np.ndarray, pose: Pose) -> SourceFace:
        codes = self.encode([crop])[0]
        decoded = to_images(self.vqgan.decode_indices(codes[None]))[0]
        return SourceFace(face=face, crop=crop, codes=codes, decoded=decoded, hires=hires, pose=pose)

    @torch.no_grad()
    def view(self, source: SourceFace, mirror: bool, complete: bool) -> SourceFace:
        """The source as used on a target of another pose: mirrored and/or with its hidden half rebuilt
        from the visible one (pipelines/pose.py); made once per source and kept."""
        if not (mirror or complete):
            return source
        if (mirror, complete) not in source.views:
            crop, hires, yaw, hands = source.crop, source.hires, source.pose.yaw, source.hands
            if mirror:
                crop, hires, yaw = crop[:, ::-1], hires[:, ::-1], -yaw
                hands = None if hands is None else hands[:, ::-1]
            if complete:
                crop, hires = complete_from_visible_half(crop, yaw), complete_from_visible_half(hires, yaw)
                # the hands and their mirror image: a little more than the visible half's, never less
                hands = None if hands is None else np.maximum(hands, hands[:, ::-1])
            pose = Pose(yaw=0.0 if complete else yaw, roll=source.pose.roll)
            view = self.encoded(source.face, np.ascontiguousarray(crop), np.ascontiguousarray(hires), pose)
            view.hands = None if hands is None else np.ascontiguousarray(hands)
            view.blurs = source.blurs  # mirrored or completed, its edges are as sharp
            source.views[(mirror, complete)] = view
        return source.views[(mirror, complete)]

    def views_for(self, source: SourceFace, targets: list[np.ndarray]) -> tuple[list[SourceFace], list[str]]:
        """One source view per target face ((5, 2) landmarks), chosen by the two poses, and the warnings to show."""
        views, warnings = [], []
        if covering_mask(source.crop, CANONICAL_TEMPLATE).any():  # kept out of the paste as the target's is (blend)
            warnings.append(SOURCE_COVERED)
        if source.hands is not None:  # likewise
            warnings.append(SOURCE_HANDS)
        for landmarks in targets:
            mirror, complete, warning = choose_view(source.pose, estimate_pose(landmarks))
            views.append(self.view(source, mirror, complete))
            if warning and warning not in warnings:
                warnings.append(warning)
        return views, warnings

    def target_detail(self, image: np.ndarray, matrix: np.ndarray, scale: DetailScale = PHOTO_DETAIL) -> np.ndarray:
        """A target face aligned at the side P it is composed at (blend): (P, P, 3) uint8."""
        side = detail_side(native_crop_side(matrix, self.size), self.size, scale)
        return warp_to_crop(image, matrix * (side / self.size), side)

    def target_meshes(self, crops: list[np.ndarray], shapes: list[np.ndarray],
                      known: list[np.ndarray | None] | None = None) -> list[np.ndarray | None]:  # fmt: skip
        """Each aligned target's (468, 2) face mesh in unit crop coordinates (its outline clips the swap
        region, its points shape the expression), or None where it cannot be trusted: the model does
        not see a face there, or its eyes, nose and mouth lie off the detector's (`shapes`, (5, 2) unit
        coordinates) by more than MESH_AGREEMENT of the side, as on a blurred face in the dark. `known`:
        meshes found already (a video's tracker), not run again but checked all the same. Without the
        TFLite runtime: `known` as given, unchecked."""
        known = known or [None] * len(crops)
        try:
            model = self.landmarks
        except RuntimeError:  # ai-edge-litert missing: the regions stay as placed on the 5 points
            return list(known)
        meshes = []
        for crop, shape, mesh in zip(crops, shapes, known, strict=True):
            mesh = model.face_mesh(crop) if mesh is None else mesh
            agrees = mesh is not None and float(np.abs(FIVE_POINTS @ mesh - shape).max()) <= MESH_AGREEMENT
            meshes.append(mesh if agrees else None)
        return meshes

    def target_points(self, crops: list[np.ndarray] | None, meshes: list[np.ndarray | None], opts: SwapOptions) -> list[np.ndarray | None]:
        """Each aligned target's (478, 2) dense points in unit crop coordinates: its checked mesh
        (target_meshes) with the eyes refined by the eye model (~4 ms a face); None where its mesh is
        None, and for every face when the expression kept is the source's (crops None: nothing to look at)."""
        if crops is None or not EXPRESSIONS[opts.expression]:
            return [None] * len(meshes)
        return [None if mesh is None else self.landmarks(crop, mesh) for crop, mesh in zip(crops, meshes, strict=True)]

    def turn_views(self, views: list[SourceFace], target_meshes: list[np.ndarray | None], with_points: bool) -> list[SourceFace]:
        """Each source view turned to its target's pose where the target faces further away from the
        camera (pipelines/turn.py). target_meshes: (468, 2) unit crop coordinates, None where not
        trusted (that view stays as it is). A turned view waits for its encoding (codes None, see
        encode_pending); with_points: its dense landmarks are turned too, for the expression."""
        out = []
        for view, target in zip(views, target_meshes, strict=True):
            if target is not None and view.mesh is None:
                view.mesh = self.landmarks.face_mesh(view.hires, depth=True)
            if target is None or view.mesh is None:
                out.append(view)
                continue
            turn = fit_turn(view.mesh, target)
            if not hides(turn, view.pose.yaw):
                out.append(view)
                continue
            field = turn_field(turn, view.mesh[:, :2])
            points = None
            if with_points:
                if view.points is None:  # its mesh is known already: only the eyes are looked at
                    view.points = self.landmarks(view.hires, view.mesh[:, :2])
                points = None if view.points is None else turned_points(turn, view.mesh, view.points)
            out.append(SourceFace(face=view.face, crop=warp(view.crop, field), codes=None, decoded=None, hires=warp(view.hires, field),
                                  pose=view.pose, points=points, outline=outline(turn.moved), hands=warped(view.hands, field),
                                  blurs=view.blurs))  # fmt: skip
        return out

    def encode_pending(self, views: list[SourceFace]) -> list[SourceFace]:
        """The views that wait for their codes (warped: turn_views, wear_expression) encoded, and
        their codes decoded, in one batch each; the list given."""
        todo = [v for v in views if v.codes is None]
        if todo:
            codes = self.encode([v.crop for v in todo])
            for v, c, decoded in zip(todo, codes, self.decode(codes), strict=True):
                v.codes, v.decoded = c, decoded
        return views

    @torch.no_grad()
    def wear_expression(self, views: list[SourceFace], targets_hi: list[np.ndarray] | None, opts: SwapOptions,
                        target_points: list[np.ndarray | None], encode: bool = True):  # fmt: skip
        """Each source view warped to its target's expression (pipelines/expression.py), and what of
        each target stays (MouthInside: the inside of its mouth, or None). targets_hi: the targets
        aligned at their detail side P (target_detail / align_at_detail) -> (views, keeps).
        target_points: each target's (478, 2) dense points in unit crop coordinates (target_points), None
        where its mesh cannot be trusted: that face keeps the source's expression.

        A warped view is a source face in its own right: its crop is encoded and its codes decoded, so
        the detail formula (pipelines/detail.py) adds back exactly the warped face's fine detail and
        the expression holds at every `detail` setting. A face the landmark model does not see keeps
        the source's expression. encode=False: the warped views are left waiting for their codes
        (encode_pending), for a caller that encodes only some of them (a video's key frames)."""
        parts = EXPRESSIONS[opts.expression]
        finish = self.encode_pending if encode else list
        if not parts:
            return finish(views), [None] * len(views)
        posed, keeps = [], []
        for view, target_hi, target in zip(views, targets_hi, target_points, strict=True):
            if view.points is None:
                view.points = self.landmarks(view.hires)
            if view.points is None or target is None:
                posed.append(view)
                keeps.append(None)
                continue
            moved = expression_field(view.points, target, parts)
            side = target_hi.shape[0]  # warped at the side it is composed at: one resampling, no larger than needed
            keep = kept_from_target(view.points, target, target_hi, parts)
            hires, crop = warp(view.sized(side), moved), warp(view.crop, moved)
            if keep is not None:
                # the inside of the mouth is the target's already in the face that is encoded, so the
                # codes see an open mouth, not the source's lips stretched across it
                hires = inlay(hires, keep.pixels, keep.weights)
                crop = inlay(crop, resize(keep.pixels, self.size), resize(keep.weights, self.size))
            posed.append(SourceFace(face=view.face, crop=crop, codes=None, decoded=None, hires=hires, pose=view.pose, outline=view.outline,
                                    hands=warped(view.hands, moved), blurs=view.blurs))  # fmt: skip
            keeps.append(keep)
        return finish(posed), keeps

    def decode(self, swap: torch.Tensor) -> list[np.ndarray]:
        """G(Z_swap): (N, h, w) codes -> [(S, S, 3) uint8]."""
        return to_images(self.vqgan.decode_indices(swap))

    def blend(
        self,
        image: np.ndarray,
        aligned: list[tuple[np.ndarray, np.ndarray]],
        decoded: list[np.ndarray] | None,
        opts: SwapOptions,
        sources: list[SourceFace],
        tokens: np.ndarray,
        shapes: list,
        scale: DetailScale = PHOTO_DETAIL,
        mark_strength: Callable[[float], float] = watermark.photo_strength,
        hires: list[np.ndarray] | None = None,
        keeps: list[MouthInside | None] | None = None,
        outlines: list[np.ndarray | None] | None = None,
        seams: list[np.ndarray] | None = None,
        hands: list[list[np.ndarray]] | None = None,
        target_blurs: list[float | None] | None = None,
    ):
        """Compose each face at the photo's resolution, colour-correct it to its target and paste it
        back into a copy of image.

        aligned: [(target crop (S, S, 3), matrix (2, 3))], decoded: [(S, S, 3)] G(Z_swap), sources: the
        source view used for each, tokens (N, h, w) their code masks, shapes their aligned landmarks;
        scale: how finely the faces are composed (pipelines/detail.py; a video's frames: VIDEO_DETAIL);
        mark_strength: the watermark's strength as a function of the face's native crop side
        (watermark.photo_strength; video frames: watermark.video_strength); hires: the targets
        already aligned at their detail side (align_at_detail), else they are warped here; keeps: per
        face, the inside of the target's mouth at side P (wear_expression), or None; outlines: per face,
        its (K, 2) silhouette in unit crop coordinates (outline(target_meshes)), which clips the region;
        seams: per face, G(Z_swap) - G(Z_A) (S, S, 3) float32 (pipelines/detail.py, seam), given instead
        of `decoded` (None) at detail 1, where a video carries a key frame's to the frames after it;
        hands: per face, the hands in front of it ((21, 2) image pixels each, find_hands), which keep
        the target's pixels; target_blurs: per face, its edge width at side P (pipelines/focus.py; a video's
        steadied over its frames; None: too few edges to read), not given: measured here -> (image, blend
        weights (S, S) of the first face, in crop space)."""
        out, first = image, None
        decoded = [None] * len(aligned) if decoded is None else decoded
        seams = [None] * len(aligned) if seams is None else seams
        hires = hires or [None] * len(aligned)
        keeps = keeps or [None] * len(aligned)
        outlines = outlines or [None] * len(aligned)
        hands = hands or [[]] * len(aligned)
        measure_blur = target_blurs is None  # a video reads its faces' focus as it tracks them (SteadyFocus)
        target_blurs = [None] * len(aligned) if measure_blur else target_blurs
        for (crop, matrix), face_image, seam_crop, source, cells, shape, target_hi, keep, silhouette, in_front, target_blur in zip(
            aligned, decoded, seams, sources, tokens, shapes, hires, keeps, outlines, hands, target_blurs, strict=True
        ):
            native = native_crop_side(matrix, self.size)  # pixels of the image the crop spans
            side = detail_side(native, self.size, scale)
            matrix_hi = matrix * (side / self.size)  # image -> P x P crop
            if target_hi is None or target_hi.shape[0] != side:
                target_hi = warp_to_crop(image, matrix_hi, side)
            region = region_mask(opts.regions, self.size, shape, posed=source.outline is not None)
            core = region_core(region)  # of the region as placed (clipped, it moved the photos' skin tone off by 0.5 levels)
            # the source's pixels as blurred as the target's face (pipelines/focus.py): sharp eyes in a blurred face give it away
            blur = 0.0
            if opts.focus and opts.detail > 0:
                blur = extra_blur(source.edge_blur(side), edge_blur(target_hi) if measure_blur else target_blur)
            if seam_crop is None:
                detail = source.detail(side) if blur == 0 else source_detail(source.decoded, in_focus_of(source.sized(side), blur), side)
                face_hi = compose(face_image, detail, target_hi, cells, opts.detail)
            else:
                face_hi = compose_with_seam(in_focus_of(source.sized(side), blur), seam_crop, target_hi, cells)
            pasted = region
            if silhouette is not None:  # nothing past the target's face (under a turned source: its hull, grown by no margin)
                pasted = pasted * outline_mask(silhouette, self.size, margin=OUTLINE_MARGIN if source.outline is None else 0.0)
            if source.outline is not None:  # nor past a turned source's: its background lies there
                pasted = pasted * outline_mask(source.outline, self.size, margin=0.0)
            skin = skin_core(region, shape, core)  # the skin: the correction's mean lightness, the hair test's reference
            points = CANONICAL_TEMPLATE if shape is None else shape  # both crops' hair is looked for above the target's eyes
            hair = np.maximum(hair_mask(crop, points, skin), hair_mask(source.crop, points, skin))  # the target's or the source's
            # and a face mask over either face's mouth (pipelines/covered.py): the target's stays, the source's is not pasted
            kept = np.maximum(hair, np.maximum(covering_mask(crop, points), covering_mask(source.crop, points)))
            if source.hands is not None:  # and the source's hands are not pasted either
                kept = np.maximum(kept, source.hands)
            weights = without_hair(feathered(pasted, opts.softness) * opts.strength, kept)  # (S, S): smooth enough to upsample
            weights_hi = resize(weights, side)
            bare = 1.0 - kept  # nor are hair and masks the colour correction's: a fringe darkened the skin's mean
            if in_front:  # hands keep the target's pixels, drawn at the detail side: a finger's edge stays sharp
                weights_hi = weights_hi * (1.0 - hand_mask(in_front, matrix_hi, side))
                free = 1.0 - hand_mask(in_front, matrix, self.size)  # (S, S) nor are they the colour correction's
                weights, bare = weights * free, bare * free
            first = weights if first is None else first
            core, skin = core * bare, skin * bare
            if opts.color_correction:  # statistics at crop size (the same numbers, a fraction of the work), off the region's rim
                mouth = mouth_zone(self.size, shape)  # where the target's contrast is kept: its mouth's motion reads there
                colored = color_transfer(face_hi, target_hi, core, resize(face_hi, self.size), crop, lightness_mask=skin, mouth=mouth)
                if opts.relight:  # and the target's light across the face, not only its average (pipelines/lighting.py)
                    colored = relit(colored, target_hi, skin)
            else:
                colored = face_hi
            if keep is not None:  # after the colour correction: the target's own teeth keep the target's own colours
                colored = inlay(colored, keep.pixels, keep.weights)
            if is_grey(crop):  # a black-and-white photo gets a black-and-white face
                colored = to_grey(colored)
            if self.mark:  # every face we make stays marked (pipelines/watermark.py)
                colored = watermark.embed(colored, mark_strength(native))
            out = paste_back(out, colored, weights_hi, matrix_hi)
        return out, first

    def harmonize(self, swap: torch.Tensor, tokens: np.ndarray, opts: SwapOptions) -> torch.Tensor:
        """Resample the codes on the region's boundary band with the code transformer, conditioned on
        every other code, so the seam between A's and B's codes is one the prior finds likely."""
        if self.transformer is None:
            raise ValueError("harmonization needs the code transformer, which is not loaded")
        n = swap.shape[0]
        given = swap.flatten(1)
        keep = ~torch.from_numpy(np.stack([token_boundary(t) for t in tokens])).flatten(1).to(self.device)  # (N, h*w)
        gen = torch.Generator(self.device).manual_seed(opts.seed)
        out = self.transformer.sample(
            n, given=given, given_mask=keep, generator=gen, temperature=opts.harmonize_temperature, top_k=opts.harmonize_top_k
        )
        return out.view_as(swap)


def add_swap_arguments(p: argparse.ArgumentParser) -> None:
    """The swap options shared by the photo and video command lines."""
    p.add_argument("--regions", default="face", help="comma-separated: face, eyes, brows, nose, mouth")
    p.add_argument("--expression", choices=tuple(EXPRESSIONS), default=None,
                   help="whose expression: source; target (the source's face warped to the target's mouth, jaw and eyelids); "
                        "mouth (mouth and jaw only). Default: source for photos, target for video")  # fmt: skip
    p.add_argument("--target-face", default="all", help="all, largest, similar (needs --reference), or an index (0 = first)")
    p.add_argument("--reference", default=None, help="photo of the person to replace, for --target-face similar")
    p.add_argument("--source-face", default="largest", help="largest or a face index")
    p.add_argument("--strength", type=float, default=SwapOptions.strength)
    p.add_argument("--softness", type=float, default=SwapOptions.softness)
    p.add_argument("--detail", type=float, default=SwapOptions.detail, help="0..1: add back the source's quantization residual")
    p.add_argument("--no-color-correction", action="store_true")
    p.add_argument("--no-hands", action="store_true",
                   help="paint over hands in front of the target face and paste the source's (default: both kept out)")  # fmt: skip
    p.add_argument("--no-focus", action="store_true", help="keep the source's sharpness on a blurred target face (default: matched)")
    p.add_argument("--relight", action=argparse.BooleanOptionalAction, default=None,
                   help="give the face the target's light across it (default: on for photos, off for video)")  # fmt: skip
    p.add_argument("--harmonize", action="store_true", help="resample seam codes with the code transformer")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--weights", default=None, help="weights folder or Hub repo id (default: weights/)")


def options_from_args(args: argparse.Namespace, default_expression: str = "source") -> SwapOptions:
    return SwapOptions(
        regions=tuple(r.strip() for r in args.regions.split(",") if r.strip()),
        expression=args.expression or default_expression,
        target_face=args.target_face,
        source_face=args.source_face,
        strength=args.strength,
        softness=args.softness,
        detail=args.detail,
        color_correction=not args.no_color_correction,
        hands=not args.no_hands,
        focus=not args.no_focus,
        relight=args.relight,
        harmonize=args.harmonize,
        seed=args.seed,
    )


def main(argv=None) -> int:
    from .credentials import Made
    from .provenance import save_output_image

    p = argparse.ArgumentParser(description="Put the face of SOURCE onto TARGET by exchanging VQGAN codes.")
    p.add_argument("source", help="photo with the face to use (A)")
    p.add_argument("target", help="photo whose face is replaced (B)")
    p.add_argument("-o", "--output", required=True, help="output image (.png or .jpg)")
    add_swap_arguments(p)
    p.add_argument("--max-megapixels", type=float, default=DEFAULT_MAX_PIXELS / 1e6)
    args = p.parse_args(argv)
    options = options_from_args(args)
    try:
        options.validate()
        pipe = FaceSwapPipeline.from_pretrained(args.weights, max_pixels=int(args.max_megapixels * 1e6))
        result = pipe(args.source, args.target, options, reference=args.reference)
        save_output_image(result.image, args.output, Made("face swap", ("vqgan",), len(result.target_faces)))
        for warning in result.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    except (ImageError, NoFaceError, WeightsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    stages = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in result.timings.items())
    print(f"wrote {args.output}: {len(result.target_faces)} face(s) swapped ({stages})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
