"""Variational autoencoder (SEED-NOTES section 2).

q(z|x) = N(mu(x), diag sigma^2(x)),  z = mu + sigma * eps,  eps ~ N(0, I)   (reparameterization)
L_VAE(x) = -E_q[log p(x|z)] + beta * KL(q(z|x) || N(0, I))
KL = 1/2 sum_j (mu_j^2 + sigma_j^2 - log sigma_j^2 - 1)                    (closed form, vs the prior)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .autoencoder import ConvBottleneck, reconstruction_loss
from .family import FaceModel
from .hub import HubModel


@dataclass
class VAEConfig:
    image_size: int = 64
    channels: tuple[int, ...] = (32, 64, 128, 256)
    res_blocks: int = 1
    latent_dim: int = 128
    reconstruction: str = "bce"  # "bce" on [0, 1] pixels, or "mse"
    beta: float = 1.0  # weight of the KL term (1 = the ELBO)

    def __post_init__(self):
        self.channels = tuple(self.channels)
        if self.reconstruction not in ("bce", "mse"):
            raise ValueError(f"reconstruction must be 'bce' or 'mse', got {self.reconstruction!r}")


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) per sample: (B, J) -> (B,)."""
    mu, logvar = mu.float(), logvar.float()  # fp32 even under bf16 autocast
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(1)


class VAE(nn.Module, HubModel, FaceModel):
    config_class = VAEConfig
    family = "vae"
    description = (  # the model card's summary (training/card.py)
        "Variational autoencoder: conv encoder to mu and log sigma^2 (128-d), reparameterization, conv "
        "decoder; loss = binary cross-entropy + KL(q(z|x) || N(0, I)) in closed form (the negative ELBO)."
    )
    reconstructs = True
    sample_options = ("temperature",)

    def __init__(self, config: VAEConfig):
        super().__init__()
        self.config = config
        self.body = ConvBottleneck(config.image_size, config.channels, config.res_blocks, config.latent_dim, 2 * config.latent_dim)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, S, S) in [-1, 1] -> mu, logvar, each (B, J)."""
        mu, logvar = self.body.encode(x).chunk(2, dim=1)
        return mu, logvar.clamp(-30.0, 20.0)

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + (0.5 * logvar).exp() * eps

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, J) -> (B, 3, S, S) in [-1, 1]."""
        return torch.sigmoid(self.body.decode_logits(z)) * 2 - 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction through the posterior mean (deterministic)."""
        return self.decode(self.encode(x)[0])

    reconstruct = forward
    decode_latent = decode

    def latent(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior mean (B, J)."""
        return self.encode(x)[0]

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(0, temperature^2 I) -> n images (n, 3, S, S) in [-1, 1]."""
        z = torch.randn(n, self.config.latent_dim, generator=generator, device=self.device) * temperature
        return self.decode(z)

    def loss(self, x: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """Negative ELBO (beta-weighted), per image averaged over the batch; returns (loss, logs)."""
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar, generator)
        rec = reconstruction_loss(self.body.decode_logits(z), x, self.config.reconstruction)
        kl = kl_to_standard_normal(mu, logvar).mean()
        total = rec + self.config.beta * kl
        return total, {"loss": total.item(), "reconstruction": rec.item(), "kl": kl.item()}

    def training_loss(self, batch, step=0, critic=None, generator=None):
        return *self.loss(batch, generator), None
