"""VQGAN: encoder, vector quantizer, decoder, patch discriminator and the full objective
(SEED-NOTES section 4; Esser et al. 2021, taming-transformers).

    z_e = E(x) (B, C, h, w);  quantized, indices, L_codes = q(z_e);  x' = G(quantized)
    L = L_rec(x, x') + L_codes + lambda * L_GAN,     L_rec = l1 * |x - x'| + l2 * (x - x')^2
    lambda = disc_weight * ||grad_GL L_rec|| / (||grad_GL L_GAN|| + delta), 0 before disc_start
The discriminator is trained with the hinge loss; it is not part of the shipped weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import Downsampler, Upsampler, norm
from .family import FaceModel
from .hub import HubModel
from .quantizer import VectorQuantizer


@dataclass
class VQGANConfig:
    image_size: int = 64
    channels: tuple[int, ...] = (32, 128)  # stride-2 stages: 64 -> 32 -> 16, most channels at 16x16
    res_blocks: int = 2  # residual blocks at the code grid's resolution (16x16)
    upper_res_blocks: int = 0  # residual blocks at twice that resolution (32x32)
    codebook_size: int = 1024  # K, per quantizer stage
    quantizer_depth: int = 1  # D: codes per cell (residual quantization); 1 = plain VQ
    code_dim: int = 32  # dimension of the (l2-normalized) codes
    beta: float = 0.25  # commitment weight
    l1_weight: float = 1.0
    l2_weight: float = 1.0
    disc_weight: float = 0.1
    disc_start: int = 10_000  # generator steps before the adversarial term switches on
    disc_channels: int = 64
    # Fine-tune the decoder alone: encoder and codebooks stay fixed, so every code map (and a prior
    # trained on them) keeps its meaning; used to add the adversarial term to a trained model.
    decoder_only: bool = False

    def __post_init__(self):
        self.channels = tuple(self.channels)
        if self.image_size % 2 ** len(self.channels):
            raise ValueError(f"image_size {self.image_size} is not divisible by 2^{len(self.channels)}")

    @property
    def grid_size(self) -> int:
        """h = w of the code grid."""
        return self.image_size // 2 ** len(self.channels)


class VQGAN(nn.Module, HubModel, FaceModel):
    config_class = VQGANConfig
    family = "vqgan"
    description = (  # the model card's summary (training/card.py)
        "VQGAN: stride-2 conv encoder to a 16x16 grid, residual blocks at 16x16 (and at 32x32 when "
        "upper_res_blocks > 0), l2-normalized codebook (factorized 32-d codes) with straight-through "
        "gradients, codebook + 0.25 * commitment terms, dead-code restarts; with quantizer_depth D > 1, "
        "residual quantization (RQ-VAE): D - 1 further codebooks quantize what the stages before left, so"
        " each cell carries D codes; nearest-neighbour-upsampling decoder; L1 + L2 reconstruction; patch-"
        "GAN hinge term with the adaptive weight after a warm-up (when disc_start < steps)."
    )
    reconstructs = True
    prior_family = "transformer"
    hub_pipeline_tag = "image-to-image"
    adam_betas = (0.5, 0.9)

    def __init__(self, config: VQGANConfig):
        super().__init__()
        self.config = config
        self.encoder = Downsampler(config.channels, config.res_blocks, config.upper_res_blocks)
        self.quantizer = VectorQuantizer(
            config.channels[-1], config.codebook_size, config.code_dim, config.beta, depth=config.quantizer_depth
        )
        self.decoder = Upsampler(config.channels, config.res_blocks, config.upper_res_blocks)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) in [-1, 1] -> pre-quantization latents (B, C, h, w)."""
        return self.encoder(x)

    def decode(self, quantized: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) -> (B, 3, S, S), unclamped (the loss sees the raw output)."""
        return self.decoder(quantized)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x -> (reconstruction (B, 3, S, S), indices (B, h, w), quantizer loss)."""
        quantized, indices, vq_loss = self.quantizer(self.encode(x))
        return self.decode(quantized), indices, vq_loss

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Through the codes: what a swap decodes."""
        return self.decode_indices(self.encode_to_indices(x))

    latent = encode  # pre-quantization latents; decode_latent quantizes them again

    @torch.no_grad()
    def decode_latent(self, z: torch.Tensor) -> torch.Tensor:
        return self.decode(self.quantizer(z)[0]).clamp(-1, 1)

    def training_loss(self, batch, step=0, critic=None, generator=None):
        return vqgan_generator_loss(self, critic, batch, step)

    def trainable_parameters(self):
        return self.decoder.parameters() if self.config.decoder_only else self.parameters()

    def make_critic(self) -> nn.Module:
        return PatchDiscriminator(self.config.disc_channels)

    def critic_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        return hinge_discriminator_loss(real_logits, fake_logits)

    def critic_active(self, step: int) -> bool:
        return step >= self.config.disc_start

    @torch.no_grad()
    def encode_to_indices(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) in [-1, 1] -> code indices (B, h, w) long (packed over the D stages)."""
        return self.quantizer.indices(self.encode(x))

    @torch.no_grad()
    def decode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """(B, h, w) long -> (B, 3, S, S) in [-1, 1]."""
        return self.decode(self.quantizer.lookup(indices)).clamp(-1, 1)

    @torch.no_grad()
    def decode_sequence(self, codes: torch.Tensor) -> torch.Tensor:
        """(B, h*w) codes in raster order, as the transformer reads and writes them -> (B, 3, S, S) in [-1, 1]."""
        g = self.config.grid_size
        return self.decode_indices(codes.reshape(-1, g, g))


class PatchDiscriminator(nn.Module):
    """PatchGAN (Isola et al. 2017): (B, 3, S, S) -> (B, 1, ~S/4, ~S/4) real/fake logits per patch."""

    def __init__(self, channels: int = 64):
        super().__init__()
        c = channels
        self.net = nn.Sequential(
            nn.Conv2d(3, c, 4, 2, 1),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(c, 2 * c, 4, 2, 1),
            norm(2 * c),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(2 * c, 4 * c, 3, 1, 1),
            norm(4 * c),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(4 * c, 1, 3, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def reconstruction_loss(x: torch.Tensor, x_rec: torch.Tensor, l1_weight: float, l2_weight: float) -> torch.Tensor:
    x, x_rec = x.float(), x_rec.float()  # fp32 means even under bf16 autocast
    return l1_weight * (x - x_rec).abs().mean() + l2_weight * (x - x_rec).pow(2).mean()


def hinge_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


def adaptive_weight(rec_loss: torch.Tensor, gan_loss: torch.Tensor, last_layer: torch.Tensor, delta: float = 1e-4) -> torch.Tensor:
    """lambda = ||grad rec|| / (||grad gan|| + delta) at the decoder's last layer, clamped, detached."""
    g_rec = torch.autograd.grad(rec_loss, last_layer, retain_graph=True)[0]
    g_gan = torch.autograd.grad(gan_loss, last_layer, retain_graph=True)[0]
    return (g_rec.norm() / (g_gan.norm() + delta)).clamp(0.0, 1e4).detach()


def vqgan_generator_loss(
    model: VQGAN, discriminator: PatchDiscriminator, x: torch.Tensor, step: int
) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
    """The full objective for E, G and the codebook at training step `step`.

    Returns (loss, logs, reconstruction). The adversarial term and its adaptive weight live here
    and only here; before config.disc_start it is skipped entirely (no discriminator pass).
    """
    cfg = model.config
    if cfg.decoder_only:  # fixed codes: no gradient to, and no dead-code restarts in, encoder and codebooks
        with torch.no_grad():
            quantized, indices, vq_loss = model.quantizer.eval()(model.encode(x))
        x_rec = model.decode(quantized)
    else:
        x_rec, indices, vq_loss = model(x)
    rec = reconstruction_loss(x, x_rec, cfg.l1_weight, cfg.l2_weight)
    loss = rec + vq_loss
    logs = {"reconstruction": rec.item(), "vq": vq_loss.item(), "mse": F.mse_loss(x_rec.detach().clamp(-1, 1), x).item()}
    if step >= cfg.disc_start and cfg.disc_weight > 0:
        gan = -discriminator(x_rec).mean()
        weight = (
            cfg.disc_weight * adaptive_weight(rec, gan, model.decoder.last_layer.weight)
            if torch.is_grad_enabled()
            else torch.tensor(cfg.disc_weight)
        )
        loss = loss + weight * gan
        logs.update(gan=gan.item(), gan_weight=weight.item())
    logs["loss"] = loss.item()
    for stage, stage_indices in enumerate(model.quantizer.unpack(indices).unbind(-1)):
        logs["perplexity" if stage == 0 else f"perplexity_{stage + 1}"] = VectorQuantizer.perplexity(stage_indices, cfg.codebook_size)
    return loss, logs, x_rec
