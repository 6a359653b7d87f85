"""DCGAN generator and discriminator with the losses of SEED-NOTES section 3.

    G: R^Q -> image,  z ~ N(0, I);   D: image -> logit, D(x) = sigmoid(logit)
    L_D = -E[log D(x)] - E[log(1 - D(G(z)))]
    L_G = -E[log D(G(z))]                          (non-saturating)
With logits, -log sigmoid(l) = softplus(-l) and -log(1 - sigmoid(l)) = softplus(l): exact and stable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .family import FaceModel
from .hub import HubModel


@dataclass
class GANConfig:
    image_size: int = 64
    latent_dim: int = 128  # Q
    generator_width: int = 32  # channels at the last generator stage; x2 per stage going down
    discriminator_width: int = 32

    def __post_init__(self):
        if self.image_size < 16 or self.image_size & (self.image_size - 1):
            raise ValueError(f"image_size must be a power of two >= 16, got {self.image_size}")

    @property
    def stages(self) -> int:
        return int(math.log2(self.image_size // 4))  # 64 -> 4 stages: 4, 8, 16, 32 -> 64


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """L_D = -mean log D(x) - mean log(1 - D(G(z)))."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating L_G = -mean log D(G(z))."""
    return F.softplus(-fake_logits).mean()


class Generator(nn.Module):
    """z (B, Q) -> (B, 3, S, S) in [-1, 1]: project to 4x4, then transposed convs doubling the size."""

    def __init__(self, config: GANConfig):
        super().__init__()
        n = config.stages
        c = config.generator_width * 2 ** (n - 1)
        layers: list[nn.Module] = [nn.ConvTranspose2d(config.latent_dim, c, 4, 1, 0, bias=False), nn.BatchNorm2d(c), nn.ReLU(True)]
        for _ in range(n - 1):
            layers += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(c // 2), nn.ReLU(True)]
            c //= 2
        layers += [nn.ConvTranspose2d(c, 3, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, :, None, None])


class Discriminator(nn.Module):
    """(B, 3, S, S) -> (B,) logits. Spectral norm instead of batch norm keeps D Lipschitz-bounded
    and makes its output independent of how the batch is composed (Miyato et al. 2018)."""

    def __init__(self, config: GANConfig):
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm
        c = config.discriminator_width
        layers: list[nn.Module] = [sn(nn.Conv2d(3, c, 4, 2, 1)), nn.LeakyReLU(0.2, True)]
        for _ in range(config.stages - 1):
            layers += [sn(nn.Conv2d(c, c * 2, 4, 2, 1)), nn.LeakyReLU(0.2, True)]
            c *= 2
        layers += [sn(nn.Conv2d(c, 1, 4, 1, 0))]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()


class GAN(nn.Module, HubModel, FaceModel):
    config_class = GANConfig
    family = "gan"
    description = (  # the model card's summary (training/card.py)
        "DCGAN: transposed-conv generator from a 128-d N(0, I) latent; spectrally normalized conv "
        "discriminator; L_D = -E[log D(x)] - E[log(1 - D(G(z)))], non-saturating L_G = -E[log D(G(z))]."
    )
    sample_options = ("truncation",)
    adam_betas = (0.5, 0.9)

    def __init__(self, config: GANConfig):
        super().__init__()
        self.config = config
        self.generator = Generator(config)
        self.discriminator = Discriminator(config)

    def latents(self, n: int, truncation: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(0, I), (n, Q); with `truncation` t, entries with |z| > t are redrawn (truncation trick)."""
        z = torch.randn(n, self.config.latent_dim, generator=generator, device=self.device)
        if truncation is not None:
            for _ in range(100):
                outside = z.abs() > truncation
                if not outside.any():
                    break
                z = torch.where(outside, torch.randn(z.shape, generator=generator, device=z.device), z)
            z = z.clamp(-truncation, truncation)
        return z

    @torch.no_grad()
    def sample(self, n: int, truncation: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """n images (n, 3, S, S) in [-1, 1]."""
        return self.generator(self.latents(n, truncation, generator))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z)

    def training_loss(self, batch, step=0, critic=None, generator=None):
        """The non-saturating generator loss on a fresh batch of fakes; the fakes go to the critic next."""
        fake = self.generator(self.latents(batch.shape[0], generator=generator))
        loss = generator_loss(self.discriminator(fake))
        return loss, {"loss_g": loss.item()}, fake

    def make_critic(self) -> nn.Module:
        return self.discriminator

    def critic_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return discriminator_loss(real_logits, fake_logits)

    def trainable_parameters(self):
        return self.generator.parameters()
