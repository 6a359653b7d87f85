"""GPT over VQGAN code indices (SEED-NOTES section 5; nanoGPT's model, with a KV cache).

The h x w index grid is read in raster order, s = (s_1, ..., s_hw), and modelled as
p(s) = prod_i p(s_i | s_<i), trained with L_T = E[-log p(s)]. A start token (index K) begins
every sequence, so s_1 has a prediction too. Sampling draws one token at a time with temperature,
top-k and top-p, reusing cached keys and values; positions given in advance (completion) are
forced to their values and conditioned on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .hub import HubModel


@dataclass
class TransformerConfig:
    vocab_size: int = 1024  # K, the VQGAN's codebook size
    block_size: int = 256  # h * w
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 256
    dropout: float = 0.0

    def __post_init__(self):
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd {self.n_embd} is not divisible by n_head {self.n_head}")


KVCache = list[tuple[torch.Tensor, torch.Tensor]]  # per layer: keys, values (B, n_head, T, head_dim)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.n_head = config.n_head
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.proj = nn.Linear(config.n_embd, config.n_embd)
        self.dropout = config.dropout

    def forward(self, x: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None):
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        q, k, v = (y.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for y in (q, k, v))  # (B, nh, T, hd)
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        # With a cache, the t new queries sit at the end: query i sees keys 0 .. (past_len + i).
        if t == 1:
            mask = None
        else:
            past_len = k.shape[2] - t
            mask = torch.ones(t, k.shape[2], dtype=torch.bool, device=x.device).tril(diagonal=past_len)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(b, t, c)), (k, v)


class Block(nn.Module):
    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.ln2 = nn.LayerNorm(config.n_embd)
        self.mlp = nn.Sequential(nn.Linear(config.n_embd, 4 * config.n_embd), nn.GELU(), nn.Linear(4 * config.n_embd, config.n_embd))

    def forward(self, x, past):
        a, present = self.attn(self.ln1(x), past)
        x = x + a
        return x + self.mlp(self.ln2(x)), present


def filter_logits(logits: torch.Tensor, top_k: int | None, top_p: float | None) -> torch.Tensor:
    """(B, V) logits -> logits with everything outside the top-k / nucleus top-p set at -inf."""
    if top_k is not None and 0 < top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and 0 < top_p < 1:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        remove = cumulative - sorted_logits.softmax(-1) >= top_p  # keep the smallest set reaching top_p
        logits = logits.masked_fill(remove.scatter(1, order, remove), float("-inf"))
    return logits


def draw(probs: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Inverse-CDF sampling: (B, V) probabilities -> (B,) indices, one uniform draw per row, so the
    cached and uncached paths consume the random stream identically."""
    u = torch.rand(probs.shape[0], 1, generator=generator, dtype=probs.dtype)
    cdf = probs.cumsum(-1)
    return torch.searchsorted(cdf, u * cdf[:, -1:]).clamp(max=probs.shape[-1] - 1).squeeze(1)


class CodeTransformer(nn.Module, HubModel):
    config_class = TransformerConfig

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config
        self.start_token = config.vocab_size
        self.tok_emb = nn.Embedding(config.vocab_size + 1, config.n_embd)
        self.pos_emb = nn.Embedding(config.block_size, config.n_embd)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.apply(self._init)
        for name, p in self.named_parameters():  # GPT-2: scale residual projections by depth
            if name.endswith("proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def forward(self, tokens: torch.Tensor, past: KVCache | None = None) -> tuple[torch.Tensor, KVCache]:
        """tokens (B, T) in [0, K] (K = start) at positions past_len .. past_len+T-1
        -> logits (B, T, K) for the next token at each position, and the extended cache."""
        past_len = 0 if past is None else past[0][0].shape[2]
        if past_len + tokens.shape[1] > self.config.block_size:
            raise ValueError(f"sequence of {past_len + tokens.shape[1]} tokens exceeds block_size {self.config.block_size}")
        pos = torch.arange(past_len, past_len + tokens.shape[1], device=tokens.device)
        x = self.tok_emb(tokens) + self.pos_emb(pos)
        present: KVCache = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, None if past is None else past[i])
            present.append(kv)
        return self.head(self.ln_f(x)), present

    def with_start(self, codes: torch.Tensor) -> torch.Tensor:
        """(B, L) codes -> (B, L) inputs: the start token, then codes[:, :-1]."""
        start = torch.full((codes.shape[0], 1), self.start_token, dtype=torch.long, device=codes.device)
        return torch.cat([start, codes[:, :-1]], dim=1)

    def loss(self, codes: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """L_T = mean over tokens of -log p(s_i | s_<i), in nats; codes (B, L) long, L <= block_size."""
        logits, _ = self(self.with_start(codes))
        nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), codes.reshape(-1))
        return nll, {"loss": nll.item(), "bits_per_token": nll.item() / math.log(2)}

    @torch.no_grad()
    def sample(
        self,
        n: int,
        length: int | None = None,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        generator: torch.Generator | None = None,
        given: torch.Tensor | None = None,
        given_mask: torch.Tensor | None = None,
        use_cache: bool = True,
    ) -> torch.Tensor:
        """Draw n sequences (n, length) of codes in raster order.

        given, given_mask: (n, length) codes and bools; where the mask is set the code is kept as
        given (completion / inpainting), elsewhere it is sampled. use_cache=False recomputes the
        whole prefix at every step (the reference the cache is tested against).
        """
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        length = length or self.config.block_size
        device = self.head.weight.device
        out = torch.empty(n, length, dtype=torch.long, device=device)
        inputs = torch.full((n, 1), self.start_token, dtype=torch.long, device=device)
        past = None
        for i in range(length):
            if use_cache:
                logits, past = self(inputs[:, -1:], past)
            else:
                logits, _ = self(inputs)
            logits = filter_logits(logits[:, -1].float() / temperature, top_k, top_p)
            token = draw(logits.softmax(-1), generator)
            if given is not None:
                token = torch.where(given_mask[:, i], given[:, i], token)
            out[:, i] = token
            inputs = torch.cat([inputs, token[:, None]], dim=1)
        return out
