"""Convolutional building blocks shared by the autoencoder, the VAE and the VQGAN."""

from __future__ import annotations

import torch
from torch import nn


def norm(channels: int) -> nn.GroupNorm:
    """GroupNorm: no batch statistics, so training and eval behave alike at any batch size."""
    return nn.GroupNorm(min(8, channels), channels)


class ResBlock(nn.Module):
    """x + conv(act(norm(conv(act(norm(x)))))), optional 1x1 projection when channels change."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.body = nn.Sequential(
            norm(c_in),
            nn.SiLU(),
            nn.Conv2d(c_in, c_out, 3, padding=1),
            norm(c_out),
            nn.SiLU(),
            nn.Conv2d(c_out, c_out, 3, padding=1),
        )
        self.skip = nn.Identity() if c_in == c_out else nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.body(x)


class Downsampler(nn.Module):
    """(B, 3, S, S) -> (B, C_last, S / 2^n, S / 2^n): a stem conv, then one stride-2 conv per entry
    of `channels` (the early downsampling keeps the full-resolution cost low on a CPU), then
    `res_blocks` residual blocks at the lowest resolution, where most channels sit, and
    `upper_res_blocks` at twice that resolution (before its last downsampling)."""

    def __init__(self, channels: tuple[int, ...], res_blocks: int, upper_res_blocks: int = 0):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, channels[0], 3, padding=1)]
        c = channels[0]
        for i, c_next in enumerate(channels):
            if i == len(channels) - 1:
                layers += [ResBlock(c, c) for _ in range(upper_res_blocks)]
            layers += [norm(c), nn.SiLU(), nn.Conv2d(c, c_next, 4, stride=2, padding=1)]
            c = c_next
        layers += [ResBlock(c, c) for _ in range(res_blocks)]
        layers += [norm(c), nn.SiLU()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Upsampler(nn.Module):
    """Mirror of Downsampler: (B, C_last, s, s) -> (B, 3, s * 2^n, s * 2^n) un-squashed outputs.
    Upsampling is nearest-neighbour then a 3x3 conv (no checkerboard artefacts, Odena et al. 2016)."""

    def __init__(self, channels: tuple[int, ...], res_blocks: int, upper_res_blocks: int = 0):
        super().__init__()
        c = channels[-1]
        layers: list[nn.Module] = [ResBlock(c, c) for _ in range(res_blocks)]
        for i, c_next in enumerate(reversed(channels[:-1])):
            layers += [norm(c), nn.SiLU(), nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c, c_next, 3, padding=1)]
            c = c_next
            if i == 0:
                layers += [ResBlock(c, c) for _ in range(upper_res_blocks)]
        layers += [norm(c), nn.SiLU(), nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c, c, 3, padding=1)]
        layers += [norm(c), nn.SiLU(), nn.Conv2d(c, 3, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    @property
    def last_layer(self) -> nn.Conv2d:
        return self.net[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
