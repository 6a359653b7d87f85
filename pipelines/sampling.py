"""Sampling, reconstruction, interpolation and completion with every model family.

    pipe = SamplingPipeline.from_pretrained()
    pipe.sample("vae", n=16, seed=0)             -> (16, S, S, 3) uint8
    pipe.reconstruct(photo)                      -> {"input", "ae", "vae", "vqgan"} aligned crops, each
                                                    at its model's resolution (64 or 128)
    pipe.interpolate(photo_a, photo_b, "vae", steps=8, mode="slerp")
    pipe.complete(photo, keep="top", n=4, seed=0)

Real photos are detected and aligned by pipelines.faces before they reach a model.
"""

from __future__ import annotations

import numpy as np
import torch

from models import GAN, REGISTRY, VAE, VQGAN, Autoencoder, CodeTransformer, WeightsError, sample_images
from models.tensors import to_images, to_model_range

from . import watermark
from .blend import region_mask, token_mask
from .device import choose_device
from .faces import align_face, default_detector, detect_faces
from .images import load_image
from .swap import NoFaceError

FAMILIES = tuple(f for f, cls in REGISTRY.items() if cls.decoder_family is None)  # what makes images: ae, vae, gan, vqgan
MAX_SAMPLES = 64


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation of flattened vectors (Shoemake 1985); lerp when nearly parallel."""
    fa, fb = a.flatten(), b.flatten()
    cos = torch.dot(fa, fb) / (fa.norm() * fb.norm() + 1e-12)
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    if omega.abs() < 1e-4:
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


class SamplingPipeline:
    def __init__(self, ae: Autoencoder | None = None, vae: VAE | None = None, gan: GAN | None = None,
                 vqgan: VQGAN | None = None, transformer: CodeTransformer | None = None, detector=None,
                 device: str | torch.device | None = None):  # fmt: skip
        self.device = choose_device(device)  # pipelines/device.py
        self.models = {"ae": ae, "vae": vae, "gan": gan, "vqgan": vqgan, "transformer": transformer}
        for m in self.models.values():
            if m is not None:  # channels-last convolutions (oneDNN), as in the swap: 16 AE or VAE faces in 30-38 ms, not 40-48
                m.eval().to(self.device, memory_format=torch.channels_last)
        self.detector = detector or default_detector(self.device)

    @classmethod
    def from_pretrained(cls, root=None, **kwargs) -> SamplingPipeline:
        """Every family found under the weights root (weights/ by default); missing ones stay None."""
        from .weights import check_prior, load_model

        loaded = {}
        for family in REGISTRY:
            try:
                loaded[family] = load_model(family, root)
            except WeightsError:
                loaded[family] = None
        if loaded["vqgan"] is not None and loaded["transformer"] is not None:
            check_prior(loaded["vqgan"], loaded["transformer"])  # a mismatch is an error, not garbage samples
        return cls(**loaded, **kwargs)

    def model(self, family: str):
        if family not in self.models:
            raise ValueError(f"unknown model family {family!r}; choose from {', '.join(FAMILIES)}")
        m = self.models[family]
        if m is None:
            raise ValueError(f"the {family} model is not loaded (weights/{family} missing)")
        return m

    def available(self) -> list[str]:
        """The families that can sample here: loaded, with their prior when they sample through one."""
        loaded = {f for f, m in self.models.items() if m is not None}
        return [f for f in FAMILIES if f in loaded and (self.models[f].prior_family or f) in loaded]

    def encoders(self) -> list[str]:
        """The loaded families with an encoder (reconstruction, interpolation)."""
        return [f for f, m in self.models.items() if m is not None and m.reconstructs]

    def size_of(self, family: str) -> int:
        """Side of the faces a family makes and reads (a model of codes: its decoder's)."""
        m = self.model(family)
        return self.model(m.decoder_family).config.image_size if m.decoder_family else m.config.image_size

    def find_face(self, image, label: str = "image"):
        """Photo -> (the photo as RGB, its most confident face)."""
        rgb = load_image(image, name=label)
        faces = detect_faces(rgb, self.detector)
        if not faces:
            raise NoFaceError(f"no face found in the {label}")
        return rgb, faces[0]

    def align(self, image, label: str, size: int) -> np.ndarray:
        """Photo -> the most confident face, aligned: (S, S, 3) uint8."""
        rgb, face = self.find_face(image, label)
        return align_face(rgb, face.landmarks, size)[0]

    @torch.no_grad()
    def sample(self, family: str, n: int = 16, seed: int = 0, temperature: float = 1.0, truncation: float | None = None,
               top_k: int | None = None, top_p: float | None = None) -> np.ndarray:  # fmt: skip
        """n samples from a family's prior -> (n, S, S, 3) uint8. Same seed, same images."""
        if not 1 <= n <= MAX_SAMPLES:
            raise ValueError(f"n must be between 1 and {MAX_SAMPLES}, got {n}")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if family not in FAMILIES:
            raise ValueError(f"unknown model family {family!r}; choose from {', '.join(FAMILIES)}")
        m = self.model(family)
        sampler = self.model(m.prior_family) if m.prior_family else m  # the VQGAN samples through its prior
        gen = torch.Generator(self.device).manual_seed(seed)
        options = {"temperature": temperature, "truncation": truncation, "top_k": top_k, "top_p": top_p}
        return marked(to_images(sample_images(sampler, n, gen, decoder=m, **options)))

    @torch.no_grad()
    def reconstruct(self, image) -> dict[str, np.ndarray]:
        """One photo's face through every autoencoding family -> {"input", "ae", "vae", "vqgan"} crops;
        each family's at its own resolution, "input" at the largest."""
        rgb, face = self.find_face(image, "photo")
        loaded = self.encoders()
        out = {"input": align_face(rgb, face.landmarks, max(self.size_of(f) for f in loaded))[0]} if loaded else {}
        for family in loaded:
            m = self.models[family]
            x = to_model_range([align_face(rgb, face.landmarks, m.config.image_size)[0]]).to(self.device)
            out[family] = marked(to_images(m.reconstruct(x)))[0]
        return out

    @torch.no_grad()
    def interpolate(self, image_a, image_b, family: str, steps: int = 8, mode: str = "lerp") -> np.ndarray:
        """Decode points between two faces' latents -> (steps, S, S, 3) uint8, A first, B last.

        ae: between encodings; vae: between posterior means; vqgan: between pre-quantization
        latents, quantized again at each step (so every frame is a valid code grid)."""
        if mode not in ("lerp", "slerp"):
            raise ValueError(f"mode must be 'lerp' or 'slerp', got {mode!r}")
        if not 2 <= steps <= 32:
            raise ValueError(f"steps must be between 2 and 32, got {steps}")
        m = self.model(family)
        if not m.reconstructs:
            encoders = ", ".join(f for f, c in REGISTRY.items() if c.reconstructs)
            raise ValueError(f"interpolation needs an encoder: {encoders}, not {family!r}")
        size = m.config.image_size
        x = to_model_range([self.align(image_a, "first photo", size), self.align(image_b, "second photo", size)]).to(self.device)
        z = m.latent(x)
        ts = np.linspace(0.0, 1.0, steps)
        mix = (lambda t: (1 - t) * z[0] + t * z[1]) if mode == "lerp" else (lambda t: slerp(z[0], z[1], t))
        zs = torch.stack([mix(float(t)) for t in ts])
        return marked(to_images(m.decode_latent(zs)))

    @torch.no_grad()
    def complete(self, image, keep: str = "top", n: int = 4, seed: int = 0, temperature: float = 1.0, top_k: int | None = 100) -> dict:
        """Keep part of a face's codes and let the transformer sample the rest.

        keep: "top" (the upper half of the grid) or a region name ("eyes", "face", ...): the codes
        outside that region are kept and the region is resampled. Returns {"input", "kept"
        (h, w) bool, "variations" (n, S, S, 3) uint8}."""
        vq, tr = self.model("vqgan"), self.model("transformer")
        crop = self.align(image, "photo", vq.config.image_size)
        codes = vq.encode_to_indices(to_model_range([crop]).to(self.device))  # (1, h, w)
        g = vq.config.grid_size
        if keep == "top":
            kept = np.zeros((g, g), bool)
            kept[: g // 2] = True
        else:
            kept = ~token_mask(region_mask([keep], vq.config.image_size), g)
        mask = torch.from_numpy(kept).flatten().expand(n, -1).to(self.device)
        gen = torch.Generator(self.device).manual_seed(seed)
        out = tr.sample(
            n, length=g * g, temperature=temperature, top_k=top_k, given=codes.flatten(1).expand(n, -1), given_mask=mask, generator=gen
        )
        return {"input": crop, "kept": kept, "variations": marked(to_images(vq.decode_sequence(out)))}


def marked(faces: list[np.ndarray]) -> np.ndarray:
    """Generated aligned faces [(S, S, 3) uint8] -> (N, S, S, 3) uint8, each with the invisible
    watermark (pipelines/watermark.py): every face a model makes stays recognisable as made."""
    return np.stack([watermark.embed(face) for face in faces])
