"""Vector quantizer with l2-normalized codes and dead-code restart (SEED-NOTES section 4).

    s_ij = argmin_k ||z_e_ij - z_k||,  z_q_ij = z_{s_ij}
    loss = ||sg[z_e] - z_q||^2  +  beta * ||z_e - sg[z_q]||^2
           codebook term            commitment term
    straight-through: the decoder sees z_e + sg[z_q - z_e], so the reconstruction gradient reaches
    the encoder as if quantization were the identity.

Codebook health (lucidrains/vector-quantize-pytorch; Yu et al. 2022, "Vector-quantized image
modeling with improved VQGAN"): encoder outputs are projected to a small code dimension and both
they and the codes are l2-normalized, so nearest-neighbour search is cosine similarity and no code
is stranded far from the data; codes whose running usage falls below a threshold are restarted on
random encoder outputs of the current batch.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn


class VectorQuantizer(nn.Module):
    def __init__(self, dim: int, codebook_size: int, code_dim: int, beta: float = 0.25, usage_decay: float = 0.99, restart_every: int = 25):
        super().__init__()
        self.codebook_size = codebook_size
        self.beta = beta
        self.usage_decay = usage_decay
        self.restart_every = restart_every
        self.project_in = nn.Conv2d(dim, code_dim, 1)
        self.project_out = nn.Conv2d(code_dim, dim, 1)
        self.codebook = nn.Embedding(codebook_size, code_dim)
        nn.init.normal_(self.codebook.weight)
        # Running share of assignments per code (sums to ~1); and training steps seen, for restarts.
        self.register_buffer("usage", torch.full((codebook_size,), 1.0 / codebook_size))
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def codes(self) -> torch.Tensor:
        """(K, code_dim) unit vectors."""
        return F.normalize(self.codebook.weight, dim=1)

    def terms(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """z (B, dim, h, w) -> z_e and z_q (B, code_dim, h, w), indices (B, h, w), and both loss terms."""
        return self._quantize(F.normalize(self.project_in(z), dim=1))

    def _quantize(self, z_e: torch.Tensor) -> dict[str, torch.Tensor]:
        b, d, h, w = z_e.shape
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)  # (B*h*w, d)
        codes = self.codes()
        indices = (flat.detach() @ codes.t()).argmax(1)  # max cosine = min l2 distance between unit vectors
        z_q = codes[indices].view(b, h, w, d).permute(0, 3, 1, 2)
        return {
            "z_e": z_e,
            "z_q": z_q,
            "indices": indices.view(b, h, w),
            "codebook_loss": F.mse_loss(z_q, z_e.detach()),  # moves codes only
            "commitment_loss": F.mse_loss(z_e, z_q.detach()),  # moves the encoder only
        }

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """z (B, dim, h, w) -> quantized (B, dim, h, w), indices (B, h, w) long, loss (scalar)."""
        z_e = F.normalize(self.project_in(z), dim=1)
        if self.training and self.steps > 0 and self.steps % self.restart_every == 0:
            # Before the codes enter this step's graph: autograd must not see them change later.
            self._restart_dead_codes(z_e.detach())
        t = self._quantize(z_e)
        loss = t["codebook_loss"] + self.beta * t["commitment_loss"]
        straight_through = t["z_e"] + (t["z_q"] - t["z_e"]).detach()
        if self.training:
            self._update_usage(t["indices"])
        return self.project_out(straight_through), t["indices"], loss

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """indices (B, h, w) -> quantized (B, dim, h, w), as forward would give for those codes."""
        return self.project_out(self.codes()[indices].permute(0, 3, 1, 2))

    @torch.no_grad()
    def _update_usage(self, indices: torch.Tensor) -> None:
        counts = torch.bincount(indices.flatten(), minlength=self.codebook_size).float()
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(counts)
        self.usage.mul_(self.usage_decay).add_(counts / counts.sum(), alpha=1 - self.usage_decay)
        self.steps += 1

    @torch.no_grad()
    def _restart_dead_codes(self, z_e: torch.Tensor) -> None:
        """Codes used under 1/10 of a uniform share get a random encoder output of this batch."""
        dead = self.usage < 0.1 / self.codebook_size
        n = int(dead.sum())
        if n == 0:
            return
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, z_e.shape[1])
        picks = flat[torch.randint(len(flat), (n,), device=flat.device)]
        self.codebook.weight[dead] = (picks + 0.01 * torch.randn_like(picks)).to(self.codebook.weight.dtype)
        self.usage[dead] = 1.0 / self.codebook_size
        if dist.is_available() and dist.is_initialized():  # every rank keeps rank 0's codebook
            dist.broadcast(self.codebook.weight.data, 0)
            dist.broadcast(self.usage, 0)

    @staticmethod
    def perplexity(indices: torch.Tensor, codebook_size: int) -> float:
        """exp(entropy) of the code histogram: the effective number of codes in use."""
        p = torch.bincount(indices.flatten(), minlength=codebook_size).float()
        p = p / p.sum()
        return float(torch.exp(-(p[p > 0] * p[p > 0].log()).sum()))
