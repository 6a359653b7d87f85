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

Residual quantization (RQ-VAE, Lee et al. 2022), depth D > 1: stage 1 quantizes z_e as above; each
further stage d quantizes what the stages before it left, r_d = z_e - (z_1 + ... + z_{d-1}), with its
own codebook of K plain (not normalized) vectors, nearest in l2. The cell's code is z_1 + ... + z_D,
so each cell carries D * log2(K) bits on the same grid. A cell's D indices (i_1, ..., i_D) travel as
one integer, i_1 * K^(D-1) + ... + i_D ("packed"), so index maps keep their (B, h, w) shape everywhere
(swap, video, completion); the transformer unpacks them. At D = 1 a packed index is the plain index.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn


def pack_codes(stage_indices: torch.Tensor, codebook_size: int) -> torch.Tensor:
    """(..., D) indices per stage -> (...) packed: i_1 * K^(D-1) + ... + i_D."""
    depth = stage_indices.shape[-1]
    weights = codebook_size ** torch.arange(depth - 1, -1, -1, device=stage_indices.device)
    return (stage_indices * weights).sum(-1)


def unpack_codes(indices: torch.Tensor, codebook_size: int, depth: int) -> torch.Tensor:
    """(...) packed -> (..., D) indices per stage, stage 1 first."""
    weights = codebook_size ** torch.arange(depth - 1, -1, -1, device=indices.device)
    return torch.div(indices[..., None], weights, rounding_mode="floor") % codebook_size


class VectorQuantizer(nn.Module):
    def __init__(
        self,
        dim: int,
        codebook_size: int,
        code_dim: int,
        beta: float = 0.25,
        usage_decay: float = 0.99,
        restart_every: int = 25,
        depth: int = 1,
    ):
        super().__init__()
        self.codebook_size = codebook_size
        self.depth = depth
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
        # Stages 2..D: plain codebooks for the residuals, which are short (|r| < 1), hence the small init.
        self.residual_codebooks = nn.ModuleList(nn.Embedding(codebook_size, code_dim) for _ in range(depth - 1))
        for book in self.residual_codebooks:
            nn.init.normal_(book.weight, std=0.3 / code_dim**0.5)
        if depth > 1:
            self.register_buffer("residual_usage", torch.full((depth - 1, codebook_size), 1.0 / codebook_size))

    def pack(self, stage_indices: torch.Tensor) -> torch.Tensor:
        return pack_codes(stage_indices, self.codebook_size)

    def unpack(self, indices: torch.Tensor) -> torch.Tensor:
        return unpack_codes(indices, self.codebook_size, self.depth)

    def stage_codes(self, stage: int) -> torch.Tensor:
        """(K, code_dim) vectors of stage 0 (unit vectors) or of a residual stage 1..D-1."""
        return self.codes() if stage == 0 else self.residual_codebooks[stage - 1].weight

    def codes(self) -> torch.Tensor:
        """(K, code_dim) unit vectors."""
        return F.normalize(self.codebook.weight, dim=1)

    def terms(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """z (B, dim, h, w) -> z_e and z_q (B, code_dim, h, w), indices (B, h, w), and both loss terms."""
        return self._quantize(F.normalize(self.project_in(z), dim=1))

    def indices(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, dim, h, w) -> packed indices (B, h, w), the codes `terms` would pick, without the loss
        terms. In float32 even under autocast: in bf16, near-ties between codes flip (and argmax over
        bf16 scores is slower on a CPU than the float32 product is)."""
        with torch.autocast(z.device.type, enabled=False):
            z_e = F.normalize(self.project_in(z.float()), dim=1)
            b, d, h, w = z_e.shape
            picks, _ = self._pick(z_e.permute(0, 2, 3, 1).reshape(-1, d))
        return self.pack(torch.stack(picks, 1).view(b, h, w, self.depth))

    def _pick(self, flat: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """flat (N, code_dim) unit vectors -> per stage, the (N,) picked indices and their (N, code_dim)
        vectors: stage 1 the nearest unit code, each later stage the code nearest to what the stages
        before left. Not differentiable (the picks are discrete)."""
        # .max(1).indices, not .argmax(1): the same first maximum, about 2.5x faster on a CPU (torch 2.14)
        codes = self.codes()
        picks = [(flat.detach() @ codes.t()).max(1).indices]  # max cosine = min l2 distance between unit vectors
        chosen = [codes[picks[0]]]
        total = chosen[0].detach()
        for book in self.residual_codebooks:
            residual = (flat - total).detach()  # (N, d): what the stages so far left
            vectors = book.weight
            # argmin |r - c|^2 = argmax 2 r.c - |c|^2
            picks.append((2 * residual @ vectors.t() - vectors.pow(2).sum(1)).max(1).indices)
            chosen.append(vectors[picks[-1]])
            total = total + chosen[-1].detach()
        return picks, chosen

    def _quantize(self, z_e: torch.Tensor) -> dict[str, torch.Tensor]:
        b, d, h, w = z_e.shape
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)  # (B*h*w, d)
        picks, chosen = self._pick(flat)
        # the codebook loss moves codes only: each stage's vectors toward what they stand for
        targets = [flat.detach()] + [(flat - sum(chosen[:k])).detach() for k in range(1, self.depth)]
        codebook_loss = sum(F.mse_loss(c, t) for c, t in zip(chosen, targets, strict=True))
        stage_indices = torch.stack(picks, 1).view(b, h, w, self.depth)
        z_q = sum(chosen).view(b, h, w, d).permute(0, 3, 1, 2)
        return {
            "z_e": z_e,
            "z_q": z_q,
            "indices": self.pack(stage_indices),
            "stage_indices": stage_indices,
            "codebook_loss": codebook_loss,
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
            self._update_usage(t["stage_indices"])
        return self.project_out(straight_through), t["indices"], loss

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """indices (B, h, w) -> quantized (B, dim, h, w), as forward would give for those codes."""
        stages = self.unpack(indices)  # (B, h, w, D)
        z_q = sum(self.stage_codes(d)[stages[..., d]] for d in range(self.depth))
        return self.project_out(z_q.permute(0, 3, 1, 2))

    @torch.no_grad()
    def _update_usage(self, stage_indices: torch.Tensor) -> None:
        """stage_indices (B, h, w, D): running share of assignments per code, per stage."""
        flat = stage_indices.reshape(-1, self.depth)
        counts = torch.stack([torch.bincount(flat[:, d], minlength=self.codebook_size) for d in range(self.depth)]).float()
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(counts)
        shares = counts / counts.sum(1, keepdim=True)
        self.usage.mul_(self.usage_decay).add_(shares[0], alpha=1 - self.usage_decay)
        if self.depth > 1:
            self.residual_usage.mul_(self.usage_decay).add_(shares[1:], alpha=1 - self.usage_decay)
        self.steps += 1

    def stage_usage(self) -> torch.Tensor:
        """(D, K) running usage shares of every stage's codes."""
        return self.usage[None] if self.depth == 1 else torch.cat([self.usage[None], self.residual_usage])

    @torch.no_grad()
    def _restart_dead_codes(self, z_e: torch.Tensor) -> None:
        """Codes used under 1/10 of a uniform share get a random encoder output of this batch (stage 1)
        or a random residual left by the stages before (stages 2..D)."""
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, z_e.shape[1])
        total = torch.zeros_like(flat)
        for stage in range(self.depth):
            usage = self.usage if stage == 0 else self.residual_usage[stage - 1]
            weight = self.codebook.weight if stage == 0 else self.residual_codebooks[stage - 1].weight
            target = flat - total  # stage 0: the encoder outputs themselves
            dead = usage < 0.1 / self.codebook_size
            n = int(dead.sum())
            if n:
                picks = target[torch.randint(len(target), (n,), device=flat.device)]
                noise = 0.01 * (1 if stage == 0 else target.norm(dim=1).mean()) * torch.randn_like(picks)
                weight[dead] = (picks + noise).to(weight.dtype)
                usage[dead] = 1.0 / self.codebook_size
                if dist.is_available() and dist.is_initialized():  # every rank keeps rank 0's codebook
                    dist.broadcast(weight.data, 0)
                    dist.broadcast(usage, 0)
            codes = self.stage_codes(stage)
            if stage == 0:
                total = total + codes[(flat @ codes.t()).argmax(1)]
            else:
                r = flat - total
                total = total + codes[(2 * r @ codes.t() - codes.pow(2).sum(1)).argmax(1)]

    @staticmethod
    def perplexity(indices: torch.Tensor, codebook_size: int) -> float:
        """exp(entropy) of the code histogram: the effective number of codes in use."""
        p = torch.bincount(indices.flatten(), minlength=codebook_size).double()
        p = p[p > 0] / p.sum()
        return float(torch.exp(-(p * p.log()).sum()))

    def health(self, indices: torch.Tensor) -> dict[str, float]:
        """Share of each stage's K codes used, and their perplexity, on packed codes (N, h, w).
        codebook_usage / perplexity are the worst stage's; with D > 1 also per stage as *_stage_d."""
        k, out = self.codebook_size, {}
        for d, stage in enumerate(self.unpack(indices).unbind(-1)):
            out[f"codebook_usage_stage_{d + 1}"] = float(torch.unique(stage).numel() / k)
            out[f"perplexity_stage_{d + 1}"] = self.perplexity(stage, k)
        out["codebook_usage"] = min(out[f"codebook_usage_stage_{d + 1}"] for d in range(self.depth))
        out["perplexity"] = min(out[f"perplexity_stage_{d + 1}"] for d in range(self.depth))
        return out if self.depth > 1 else {key: out[key] for key in ("codebook_usage", "perplexity")}

    def codes_in_regular_use(self) -> int:
        """Stage-1 codes whose running training usage is above a tenth of a uniform share."""
        return int((self.usage > 0.1 / self.codebook_size).sum())
