"""The one surface every model family offers. Training, evaluation, sampling, the model cards and the
app use only this; none of them asks which family a model is.

    model.reconstruct(x)                  (B, 3, S, S) in [-1, 1] -> (B, 3, S, S)   if model.reconstructs
    model.latent(x), model.decode_latent(z)   a face <-> the point interpolation moves through
    model.sample(n, generator=g, **options)   images (B, 3, S, S), or codes (B, L) when model.samples_codes
    sample_images(model, n, decoder=vqgan)    images from any family that samples (codes decoded by `decoder`)
    model.training_loss(batch, step, critic) -> (loss, logs, fake): one training objective; `fake` is what the
                                              critic (a discriminator trained alongside) scores next
    model.make_critic(), model.critic_loss(real_logits, fake_logits), model.critic_active(step)
    model.trainable_parameters()          what the main optimizer updates
    model.finish_training(faces)          a last fit before export (the autoencoder's sampling Gaussian)

Adding a family means one file in models/ with a class that sets `family` and implements what applies,
and one line in models/__init__.py's REGISTRY.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import torch
from torch import nn


class FaceModel:
    """Mixed into each family's nn.Module. Class attributes say what the family can do."""

    family: ClassVar[str]  # the name on the command line and in weights/<family>/
    trains_on: ClassVar[str] = "images"  # or "codes": (B, L) code sequences of the VQGAN `decoder_family`
    reconstructs: ClassVar[bool] = False  # has an encoder and a decoder: reconstruct(), latent(), decode_latent()
    samples_codes: ClassVar[bool] = False  # sample() returns codes that `decoder_family` turns into images
    decoder_family: ClassVar[str | None] = None  # the family whose decoder reads this one's samples
    prior_family: ClassVar[str | None] = None  # the family that samples this one's codes (the VQGAN's prior)
    sample_options: ClassVar[tuple[str, ...]] = ()  # keyword options sample() takes (temperature, top_k, ...)
    adam_betas: ClassVar[tuple[float, float]] = (0.9, 0.95)  # (0.5, 0.9) for adversarial training
    description: ClassVar[str]  # what it is, for the model card
    hub_pipeline_tag: ClassVar[str] = "unconditional-image-generation"  # the Hub card's pipeline_tag

    # -- using a trained model ---------------------------------------------------------------------
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{self.family} has no encoder")

    def latent(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{self.family} has no encoder")

    def decode_latent(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{self.family} has no encoder")

    def sample(self, n: int, generator: torch.Generator | None = None, **options) -> torch.Tensor:
        raise NotImplementedError(f"{self.family} does not sample on its own (see prior_family)")

    @property
    def device(self) -> torch.device:
        """Where the weights are (models are moved whole, with .to(device))."""
        return next(self.parameters()).device

    @property
    def samples(self) -> bool:
        return type(self).sample is not FaceModel.sample

    # -- training ------------------------------------------------------------------------------------
    def training_loss(self, batch: torch.Tensor, step: int = 0, critic: nn.Module | None = None,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict[str, float], torch.Tensor | None]:  # fmt: skip
        raise NotImplementedError

    def make_critic(self) -> nn.Module | None:
        return None

    def critic_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{self.family} has no critic")

    def critic_active(self, step: int) -> bool:
        return True

    def trainable_parameters(self) -> Iterator[nn.Parameter]:
        return self.parameters()

    def finish_training(self, faces: torch.Tensor) -> None:
        """faces: (N, 3, S, S) training faces in [-1, 1]."""


def sample_images(model: FaceModel, n: int, generator: torch.Generator | None = None, decoder: FaceModel | None = None,
                  **options) -> torch.Tensor:  # fmt: skip
    """n samples of any family that samples -> (n, 3, S, S) in [-1, 1]. Options the family does not
    take (a GAN has no temperature) are left out; codes (the prior's) are decoded by `decoder`."""
    taken = {k: v for k, v in options.items() if k in model.sample_options}
    out = model.sample(n, generator=generator, **taken)
    if model.samples_codes:
        if decoder is None:
            raise ValueError(f"{model.family} samples codes: pass the {model.decoder_family} that decodes them")
        out = decoder.decode_sequence(out)
    return out
