"""Regularized autoencoder (SEED-NOTES section 1).

z = f_enc(x),  x' = f_dec(z) = sigmoid(decoder logits)
cost = E_x[ L(x, x') ] + lambda * R(w)
L = binary cross-entropy on [0, 1] pixels (or MSE), R = sum of squared weights (or L1),
over weights only: conv and linear kernels, never biases or normalization parameters.

An autoencoder has no prior to sample from. After training, a full-covariance Gaussian is fitted to
the latents of training faces (ex-post density estimation, Ghosh et al. 2020, "From Variational to
Deterministic Autoencoders"); it is stored with the weights and `sample` draws from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import Downsampler, Upsampler
from .family import FaceModel
from .hub import HubModel


@dataclass
class AutoencoderConfig:
    image_size: int = 64
    channels: tuple[int, ...] = (32, 64, 128, 256)  # one stride-2 stage each: 64 -> 4
    res_blocks: int = 1
    latent_dim: int = 128  # J, against M = 64 * 64 * 3 = 12288
    reconstruction: str = "bce"  # "bce" on [0, 1] pixels, or "mse"
    penalty: str = "l2"  # "l2": lambda * sum w^2, or "l1": lambda * sum |w|
    penalty_weight: float = 1e-6  # lambda

    def __post_init__(self):
        self.channels = tuple(self.channels)
        if self.reconstruction not in ("bce", "mse"):
            raise ValueError(f"reconstruction must be 'bce' or 'mse', got {self.reconstruction!r}")
        if self.penalty not in ("l1", "l2"):
            raise ValueError(f"penalty must be 'l1' or 'l2', got {self.penalty!r}")
        if self.image_size % 2 ** len(self.channels):
            raise ValueError(f"image_size {self.image_size} is not divisible by 2^{len(self.channels)}")


class ConvBottleneck(nn.Module):
    """Shared body of the AE and the VAE: image -> flat features -> `out_dim`, and latent -> logits."""

    def __init__(self, image_size: int, channels: tuple[int, ...], res_blocks: int, latent_dim: int, out_dim: int):
        super().__init__()
        self.grid = image_size // 2 ** len(channels)
        flat = channels[-1] * self.grid**2
        self.down = Downsampler(channels, res_blocks)
        self.to_latent = nn.Linear(flat, out_dim)
        self.from_latent = nn.Linear(latent_dim, flat)
        self.up = Upsampler(channels, res_blocks)
        self.top_channels = channels[-1]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_latent(self.down(x).flatten(1))  # (B, out_dim)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        h = self.from_latent(z).view(-1, self.top_channels, self.grid, self.grid)
        return self.up(h)  # (B, 3, S, S) logits of [0, 1] pixels


def weight_parameters(module: nn.Module) -> list[nn.Parameter]:
    """The 'w' of lambda * R(w): kernels of conv and linear layers (ndim >= 2); no biases, no norms."""
    return [p for p in module.parameters() if p.ndim >= 2]


def reconstruction_loss(logits: torch.Tensor, x: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-image reconstruction cost, summed over pixels and averaged over the batch.

    logits: decoder output before the sigmoid; x: target in [-1, 1]. BCE is
    -sum[t log x' + (1 - t) log(1 - x')] with t = (x + 1) / 2, computed from logits for stability.
    """
    logits, target = logits.float(), (x.float() + 1) / 2  # fp32 sums even under bf16 autocast
    if kind == "bce":
        per_pixel = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    else:
        per_pixel = (torch.sigmoid(logits) - target) ** 2
    return per_pixel.flatten(1).sum(1).mean()


class Autoencoder(nn.Module, HubModel, FaceModel):
    config_class = AutoencoderConfig
    family = "ae"
    description = (  # the model card's summary (training/card.py)
        "Regularized autoencoder: conv encoder to a 128-d bottleneck, conv decoder with a sigmoid output;"
        " loss = binary cross-entropy + lambda * sum of squared weights (biases excluded). Samples come "
        "from a full-covariance Gaussian fitted to training latents (ex-post density estimation)."
    )
    reconstructs = True
    sample_options = ("temperature",)

    def __init__(self, config: AutoencoderConfig):
        super().__init__()
        self.config = config
        self.body = ConvBottleneck(config.image_size, config.channels, config.res_blocks, config.latent_dim, config.latent_dim)
        # Gaussian fitted to training latents (fit_prior): mean (J,) and Cholesky factor (J, J).
        self.register_buffer("prior_mean", torch.zeros(config.latent_dim))
        self.register_buffer("prior_scale_tril", torch.eye(config.latent_dim))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) in [-1, 1] -> z (B, J)."""
        return self.body.encode(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, J) -> (B, 3, S, S) in [-1, 1]."""
        return torch.sigmoid(self.body.decode_logits(z)) * 2 - 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    reconstruct = forward
    latent = encode
    decode_latent = decode

    @torch.no_grad()
    def fit_prior(self, z: torch.Tensor) -> None:
        """Fit the sampling Gaussian to latents z (N, J) of training images."""
        cov = torch.cov(z.T.double()) + 1e-5 * torch.eye(z.shape[1], dtype=torch.float64)
        self.prior_mean.copy_(z.mean(0))
        self.prior_scale_tril.copy_(torch.linalg.cholesky(cov).float())

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(mean, temperature^2 * cov) of the fitted prior -> n images (n, 3, S, S) in [-1, 1]."""
        eps = torch.randn(n, self.config.latent_dim, generator=generator, device=self.prior_mean.device)
        return self.decode(self.prior_mean + temperature * eps @ self.prior_scale_tril.T)

    def penalty(self) -> torch.Tensor:
        """R(w): sum of squared (l2) or absolute (l1) weights, biases excluded."""
        ws = weight_parameters(self)
        if self.config.penalty == "l2":
            return sum(w.pow(2).sum() for w in ws)
        return sum(w.abs().sum() for w in ws)

    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """cost = reconstruction + lambda * R(w); returns (loss, logs)."""
        logits = self.body.decode_logits(self.encode(x))
        rec = reconstruction_loss(logits, x, self.config.reconstruction)
        reg = self.config.penalty_weight * self.penalty()
        return rec + reg, {"loss": (rec + reg).item(), "reconstruction": rec.item(), "penalty": reg.item()}

    def training_loss(self, batch, step=0, critic=None, generator=None):
        return *self.loss(batch), None

    @torch.no_grad()
    def finish_training(self, faces: torch.Tensor, batch: int = 256) -> None:
        """Fit the sampling Gaussian to the latents of the training faces (N, 3, S, S)."""
        self.eval()
        self.fit_prior(torch.cat([self.encode(faces[i : i + batch]) for i in range(0, len(faces), batch)]))
