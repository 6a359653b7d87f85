"""GPT over VQGAN code indices (SEED-NOTES section 5; nanoGPT's model, with a KV cache).

The h x w index grid is read in raster order, s = (s_1, ..., s_hw), and modelled as
p(s) = prod_i p(s_i | s_<i), trained with L_T = E[-log p(s)]. A start token (index K) begins
every sequence, so s_1 has a prediction too. Sampling draws one token at a time with temperature,
top-k and top-p, reusing cached keys and values; positions given in advance (completion) are
forced to their values and conditioned on.

With a residual-quantized VQGAN (D codes per cell, models/quantizer.py), the sequence is still one
step per cell, as in the RQ-Transformer (Lee et al. 2022): the step's input is the sum of the
embeddings of the previous cell's D codes, and the step's output h_t predicts the cell's first code
with the head and each further code d with a small depth head fed h_t plus the embeddings of the
cell's codes before d. So a cell costs one pass of the layers whatever D is, and
p(s) = prod_t prod_d p(s_t,d | s_<t, s_t,<d).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .family import FaceModel
from .hub import HubModel
from .quantizer import pack_codes, unpack_codes


@dataclass
class TransformerConfig:
    vocab_size: int = 1024  # K, the VQGAN's codebook size
    block_size: int = 256  # h * w
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 256
    dropout: float = 0.0
    # Heads of keys and values (grouped-query attention): n_head query heads share them in groups.
    # 1 is multi-query attention: the KV cache, whose reading dominates sampling, is n_head x smaller.
    n_kv_head: int | None = None  # None: n_head (plain multi-head attention)
    depth: int = 1  # D, codes per cell (the VQGAN's quantizer_depth); vocab_size is K per stage
    # Training only: this fraction of the input cells is replaced by random codes (the targets stay
    # the true codes), so the model learns to go on from cells that do not fit, as its own samples'
    # mistakes do (exposure bias). 0: plain teacher forcing.
    input_noise: float = 0.0
    # Training only: weight of the residual stages' (d >= 2) loss against the first stage's. The first
    # code of a cell carries the face's structure; the residuals (about 8 bits, near noise) still
    # send their gradient through the shared trunk. 1: every stage alike.
    residual_weight: float = 1.0

    def __post_init__(self):
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd {self.n_embd} is not divisible by n_head {self.n_head}")
        if self.n_kv_head is None:
            self.n_kv_head = self.n_head
        if self.n_kv_head < 1 or self.n_head % self.n_kv_head:
            raise ValueError(f"n_head {self.n_head} is not a multiple of n_kv_head {self.n_kv_head}")

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head


class KVCache:
    """Keys and values of the tokens seen so far, for incremental decoding.

    Preallocated once, (n_layer, B, n_kv_head, block_size, head_dim) each, and filled in place:
    growing the cache by concatenation copies it at every step, which made sampling 3x slower.
    """

    def __init__(self, config: TransformerConfig, batch: int, dtype: torch.dtype, device: torch.device):
        shape = (config.n_layer, batch, config.n_kv_head, config.block_size, config.head_dim)
        self.keys = torch.empty(shape, dtype=dtype, device=device)
        self.values = torch.empty(shape, dtype=dtype, device=device)
        self.length = 0  # tokens stored; advanced by the model after all layers have appended

    def extend(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store (B, n_kv, t, hd) new keys/values after the cached ones -> views of all (B, n_kv, length + t, hd)."""
        end = self.length + k.shape[2]
        self.keys[layer, :, :, self.length : end] = k
        self.values[layer, :, :, self.length : end] = v
        return self.keys[layer, :, :, :end], self.values[layer, :, :, :end]


# FBGEMM (x86 CPUs) multiplies fp32 rows by an fp16 weight, widening it on the fly, accumulating in fp32.
# (torch.ops.quantized's fp16 ops use no quantized dtype, so torch's deprecation of those spares them.)
FP16_WEIGHTS = "fbgemm" in torch.backends.quantized.supported_engines and hasattr(torch.ops.quantized, "linear_dynamic_fp16")


class Linear(nn.Linear):
    """nn.Linear that, at inference on CPU, multiplies by a cached copy of its weight made for few rows.

    A sampling step multiplies only B rows (16) by each weight, so the time goes into reading the
    weights from memory (7 MB a step in fp32 for the shipped 2-layer model, far more than a core's L2 cache).
    On x86 the copy is the weight in fp16, packed for FBGEMM: half the bytes, products 1.5x faster
    (sampling 1.9 -> 1.2 s on an AVX2 machine). fp16 keeps 11 significant bits, more than the bf16
    autocast (8) the models may train with; held-out bits/token are unchanged to 4 decimals. Elsewhere
    the copy is the fp32 weight transposed to (in, out), about 2x faster than nn.Linear's (out, in).
    Training, and anything that needs gradients, uses nn.Linear unchanged; the state dict is nn.Linear's.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training or torch.is_grad_enabled():
            return super().forward(x)
        y = self.rows(x.reshape(-1, x.shape[-1]))
        return y.view(*x.shape[:-1], y.shape[-1])

    def rows(self, x: torch.Tensor) -> torch.Tensor:
        """Inference on a (N, in) matrix -> (N, out), without nn.Module call overhead."""
        w = self.weight
        key = tuple((p.data_ptr(), p._version, p.dtype, p.device) for p in (w, self.bias) if p is not None)
        if getattr(self, "_copy_key", None) != key:  # weights loaded, moved or changed since
            self._fp16 = FP16_WEIGHTS and w.device.type == "cpu" and w.dtype == torch.float32
            b = None if self.bias is None else self.bias.detach()
            self._copy = torch.ops.quantized.linear_prepack_fp16(w.detach(), b) if self._fp16 else w.detach().t().contiguous()
            self._copy_key = key
        if self._fp16:
            return torch.ops.quantized.linear_dynamic_fp16(x, self._copy)
        return x @ self._copy if self.bias is None else torch.addmm(self.bias, x, self._copy)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.n_head, self.n_kv_head, self.head_dim = config.n_head, config.n_kv_head, config.head_dim
        self.kv_dim = config.n_kv_head * config.head_dim
        self.qkv = Linear(config.n_embd, config.n_embd + 2 * self.kv_dim)  # queries, keys, values
        self.proj = Linear(config.n_embd, config.n_embd)
        self.dropout = config.dropout

    def forward(self, x: torch.Tensor, cache: KVCache | None, layer: int) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(x).split([c, self.kv_dim, self.kv_dim], dim=2)
        q = q.view(b, t, self.n_head, self.head_dim).transpose(1, 2)  # (B, nh, T, hd)
        k, v = (y.view(b, t, self.n_kv_head, self.head_dim).transpose(1, 2) for y in (k, v))  # (B, n_kv, T, hd)
        if cache is not None:
            k, v = cache.extend(layer, k, v)
        # With a cache, the t new queries sit at the end: query i sees keys 0 .. (past_len + i); a
        # single new query sees every key, so it needs no mask.
        past_len = k.shape[2] - t
        mask = None if t == 1 else torch.ones(t, k.shape[2], dtype=torch.bool, device=x.device).tril(diagonal=past_len)
        gqa = self.n_kv_head != self.n_head
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0, enable_gqa=gqa)
        return self.proj(y.transpose(1, 2).reshape(b, t, c))


class Block(nn.Module):
    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.ln2 = nn.LayerNorm(config.n_embd)
        self.mlp = nn.Sequential(Linear(config.n_embd, 4 * config.n_embd), nn.GELU(), Linear(4 * config.n_embd, config.n_embd))

    def forward(self, x: torch.Tensor, cache: KVCache | None, layer: int) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), cache, layer)
        return x + self.mlp(self.ln2(x))


def candidates(
    logits: torch.Tensor, top_k: int | None, top_p: float | None, temperature: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(B, V) logits -> the tokens sampling may draw: (B, k) logits / temperature and their (B, k) token ids.

    top-k keeps the k largest logits (gathered, so a step then works on k values instead of V:
    on 16 x 1024 logits that is 4x cheaper than masking); the temperature then divides the kept
    ones (T > 0 keeps their order, so dividing after top-k selects the same tokens); top-p then keeps
    the smallest set, by probability, whose mass reaches top_p (the rest get -inf). ids is None when
    every token stays.
    """
    ids = None
    if top_k is not None and 0 < top_k < logits.shape[-1]:
        logits, ids = torch.topk(logits, top_k, dim=-1, sorted=False)
    if temperature != 1.0:
        logits = logits / temperature
    if top_p is not None and 0 < top_p < 1:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        probs = sorted_logits.softmax(-1)
        remove = probs.cumsum(-1) - probs >= top_p  # mass before this token already reaches top_p
        logits = logits.masked_fill(remove.scatter(1, order, remove), float("-inf"))
    return logits, ids


def draw(probs: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Inverse-CDF sampling: (B, k) probabilities -> (B,) positions in [0, k), one uniform draw per
    row, so the cached and uncached paths consume the random stream identically."""
    u = torch.rand(probs.shape[0], 1, generator=generator, dtype=probs.dtype, device=probs.device)
    cdf = probs.cumsum(-1)
    return torch.searchsorted(cdf, u * cdf[:, -1:]).clamp(max=probs.shape[-1] - 1).squeeze(1)


def draw_tokens(
    logits: torch.Tensor, top_k: int | None, top_p: float | None, generator: torch.Generator | None, temperature: float = 1.0
) -> torch.Tensor:
    """(B, V) logits -> (B,) token ids drawn from the top-k / top-p candidates at this temperature."""
    logits, ids = candidates(logits, top_k, top_p, temperature)
    picked = draw(logits.softmax(-1), generator)  # positions among the candidates
    return picked if ids is None else ids.gather(1, picked[:, None]).squeeze(1)


class CodeTransformer(nn.Module, HubModel, FaceModel):
    config_class = TransformerConfig
    family = "transformer"
    description = (  # the model card's summary (training/card.py)
        "GPT over the VQGAN's 16x16 code grid in raster order (a start token, learned positions, causal "
        "self-attention whose query heads share `n_kv_head` key/value heads: with 1, multi-query "
        "attention, the KV cache sampling reads is n_head times smaller), trained with the mean negative "
        "log-likelihood of the codes; sampling with a KV cache, temperature, top-k and top-p. With depth "
        "D > 1 (a residual-quantized VQGAN) each step predicts a cell's D codes: the first with the head,"
        " the others with small depth heads (RQ-Transformer)."
    )
    trains_on = "codes"
    samples_codes = True
    decoder_family = "vqgan"
    sample_options = ("temperature", "top_k", "top_p")

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config
        self.start_token = config.vocab_size
        self.tok_emb = nn.Embedding(config.vocab_size + 1, config.n_embd)
        self.pos_emb = nn.Embedding(config.block_size, config.n_embd)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.head = Linear(config.n_embd, config.vocab_size, bias=False)
        k, c, extra = config.vocab_size, config.n_embd, config.depth - 1
        # Stages 2..D: embeddings of the previous cell's codes (inputs; row K = start), embeddings of
        # the current cell's codes (depth-head inputs), and one depth head per stage.
        self.depth_in = nn.ModuleList(nn.Embedding(k + 1, c) for _ in range(extra))
        self.depth_cell = nn.ModuleList(nn.Embedding(k, c) for _ in range(extra))
        self.depth_heads = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(c), Linear(c, 2 * c), nn.GELU(), Linear(2 * c, k, bias=False)) for _ in range(extra)
        )
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

    def new_cache(self, batch: int) -> KVCache:
        return KVCache(self.config, batch, self.head.weight.dtype, self.head.weight.device)

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """(..., D) stage tokens in [0, K] (K = start) -> (..., C): the sum of the stages' embeddings."""
        x = self.tok_emb(tokens[..., 0])
        for d, table in enumerate(self.depth_in):
            x = x + table(tokens[..., d + 1])
        return x

    def hidden(self, tokens: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """tokens (B, T, D) at positions past .. past+T-1, past = cache.length -> h (B, T, C) after
        the final norm, which predicts the next cell; the cache, if given, is extended."""
        past = 0 if cache is None else cache.length
        if past + tokens.shape[1] > self.config.block_size:
            raise ValueError(f"sequence of {past + tokens.shape[1]} tokens exceeds block_size {self.config.block_size}")
        pos = torch.arange(past, past + tokens.shape[1], device=tokens.device)
        x = self.embed(tokens) + self.pos_emb(pos)
        for i, block in enumerate(self.blocks):
            x = block(x, cache, i)
        if cache is not None:
            cache.length += tokens.shape[1]
        return self.ln_f(x)

    def forward(self, tokens: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """tokens (B, T) in [0, K] (K = start), or (B, T, D) stage tokens -> logits (B, T, K) of the
        next cell's first code at each position; the cache, if given, is extended."""
        return self.head(self.hidden(tokens if tokens.dim() == 3 else tokens[..., None], cache))

    def depth_logits(self, h: torch.Tensor, cell: torch.Tensor, stage: int) -> torch.Tensor:
        """h (..., C) and the cell's codes of stages < stage, (..., >= stage) -> logits (..., K) of code `stage` (>= 1)."""
        u = h
        for d in range(stage):
            u = u + self.depth_cell[d](cell[..., d])
        return self.depth_heads[stage - 1](u)

    def decode_step(self, tokens: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """One sampling step: stage tokens (B, D) at position cache.length -> h (B, C); extends the cache.

        The same arithmetic as hidden(tokens[:, None], cache)[:, 0], written without module calls
        or (B, 1, C) reshapes: a step is about 60 small operations on 16 rows, and on 2 CPU cores
        their fixed cost is a large part of its time (sampling with this path: 15-30% faster).
        """
        cfg = self.config
        pos, (b, c), nh, hd, kv = cache.length, (tokens.shape[0], cfg.n_embd), cfg.n_head, cfg.head_dim, cfg.n_kv_head
        if pos >= self.config.block_size:
            raise ValueError(f"sequence of {pos + 1} tokens exceeds block_size {self.config.block_size}")
        x = self.tok_emb.weight[tokens[:, 0]] + self.pos_emb.weight[pos]  # (B, C)
        for d, table in enumerate(self.depth_in):
            x = x + table.weight[tokens[:, d + 1]]
        for i, block in enumerate(self.blocks):
            attn, (fc, _, out) = block.attn, block.mlp
            q, k, v = attn.qkv.rows(F.layer_norm(x, (c,), block.ln1.weight, block.ln1.bias)).split([c, attn.kv_dim, attn.kv_dim], dim=1)
            keys, values = cache.extend(i, k.view(b, kv, 1, hd), v.view(b, kv, 1, hd))  # (B, n_kv, pos + 1, hd)
            # One new query per head sees every key, so no mask. The n_head / n_kv query heads that
            # share a key/value head are the rows of one product: (B, n_kv, group, hd) @ (B, n_kv, hd, pos + 1).
            # Timed alone, two batched products take half the time of SDPA's CPU kernel (made for many queries).
            scores = torch.matmul(q.view(b, kv, nh // kv, hd), keys.transpose(2, 3)).mul_(hd**-0.5)
            y = torch.matmul(scores.softmax(-1), values)  # (B, n_kv, group, hd): heads in order
            x = x + attn.proj.rows(y.view(b, c))
            x = x + out.rows(F.gelu(fc.rows(F.layer_norm(x, (c,), block.ln2.weight, block.ln2.bias))))
        cache.length += 1
        return F.layer_norm(x, (c,), self.ln_f.weight, self.ln_f.bias)

    def with_start(self, codes: torch.Tensor) -> torch.Tensor:
        """(B, L) or (B, L, D) codes -> inputs of the same shape: the start token, then codes[:, :-1]."""
        start = torch.full_like(codes[:, :1], self.start_token)
        return torch.cat([start, codes[:, :-1]], dim=1)

    def loss(self, codes: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """L_T = mean over cells and stages of -log p(s_t,d | s_<t, s_t,<d), in nats; codes (B, L)
        packed (models/quantizer.py), L <= block_size. In training, config.input_noise of the
        input cells are random codes (the targets stay the true ones) and the returned objective weighs
        the residual stages by config.residual_weight (the logs stay the plain mean)."""
        cfg = self.config
        stages = unpack_codes(codes, cfg.vocab_size, cfg.depth)  # (B, L, D)
        inputs = self.with_start(stages)
        if self.training and cfg.input_noise > 0:
            noisy = torch.rand(inputs.shape[:2], generator=generator) < cfg.input_noise  # (B, L) cells
            noisy[:, 0] = False  # the start token stays
            inputs = torch.where(noisy[..., None], torch.randint(cfg.vocab_size, inputs.shape, generator=generator), inputs)
        h = self.hidden(inputs)
        logits = [self.head(h)] + [self.depth_logits(h, stages, d) for d in range(1, cfg.depth)]
        nlls = [F.cross_entropy(lg.reshape(-1, lg.shape[-1]), stages[..., d].reshape(-1)) for d, lg in enumerate(logits)]
        nll = torch.stack(nlls).mean()  # reported: every stage alike, whatever the training weights
        weights = torch.tensor([1.0] + [cfg.residual_weight] * (cfg.depth - 1))
        objective = nll if not self.training else (torch.stack(nlls) * weights).sum() / weights.sum()
        logs = {"loss": nll.item(), "bits_per_token": nll.item() / math.log(2)}
        if cfg.depth > 1:
            logs.update({f"bits_stage_{d + 1}": v.item() / math.log(2) for d, v in enumerate(nlls)})
        return objective, logs

    def training_loss(self, batch, step=0, critic=None, generator=None):
        return *self.loss(batch, generator), None

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
        """Draw n sequences (n, length) of (packed) codes in raster order.

        given, given_mask: (n, length) codes and bools; where the mask is set the code is kept as
        given (completion / inpainting), elsewhere it is sampled. use_cache=False recomputes the
        whole prefix at every step (the reference the cache is tested against).
        """
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        cfg = self.config
        length = length or cfg.block_size
        device = self.head.weight.device
        given_stages = None if given is None else unpack_codes(given, cfg.vocab_size, cfg.depth)
        # inputs[:, i] is the cell fed at step i (D stage tokens): the start token, then each sampled cell.
        inputs = torch.empty(n, length + 1, cfg.depth, dtype=torch.long, device=device)
        inputs[:, 0] = self.start_token
        cache = self.new_cache(n) if use_cache else None
        for i in range(length):
            h = self.decode_step(inputs[:, i], cache) if use_cache else self.hidden(inputs[:, : i + 1])[:, -1]
            cell = inputs[:, i + 1]
            for d in range(cfg.depth):
                logits = self.head.rows(h) if d == 0 else self.depth_logits(h, cell, d)
                token = draw_tokens(logits.float(), top_k, top_p, generator, temperature)
                if given is not None:
                    token = torch.where(given_mask[:, i], given_stages[:, i, d], token)
                cell[:, d] = token
        return pack_codes(inputs[:, 1:], cfg.vocab_size)
