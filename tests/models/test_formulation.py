"""The losses are exactly those of SEED-NOTES.md, checked against hand computations."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from models import GAN, VAE, VQGAN, Autoencoder, CodeTransformer
from models.autoencoder import weight_parameters
from models.gan import discriminator_loss, generator_loss
from models.quantizer import pack_codes, unpack_codes
from models.transformer import FP16_WEIGHTS, Linear, candidates, draw_tokens
from models.vae import kl_to_standard_normal

from .tiny import TINY


def test_ae_penalty_is_lambda_times_squared_weights_without_biases():
    model = Autoencoder(TINY["ae"])
    with torch.no_grad():  # make biases large: if they leaked into the penalty it would show
        for _name, p in model.named_parameters():
            if p.ndim == 1:
                p.fill_(10.0)
    by_hand = sum(
        (m.weight**2).sum() for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear, torch.nn.ConvTranspose2d))
    )
    assert torch.allclose(model.penalty(), by_hand)
    assert all(p.ndim >= 2 for p in weight_parameters(model))
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    total, logs = model.loss(x)
    assert math.isclose(logs["penalty"], TINY["ae"].penalty_weight * by_hand.item(), rel_tol=1e-5)


def test_ae_bce_matches_the_formula():
    model = Autoencoder(TINY["ae"])
    x = torch.rand(3, 3, 16, 16) * 2 - 1
    t = (x + 1) / 2
    xp = (model(x) + 1) / 2
    bce = -(t * xp.log() + (1 - t) * (1 - xp).log()).flatten(1).sum(1).mean()
    _, logs = model.loss(x)
    assert math.isclose(logs["reconstruction"], bce.item(), rel_tol=1e-4)


def test_vae_kl_matches_monte_carlo():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(3, 4, generator=g)
    logvar = torch.randn(3, 4, generator=g) * 0.5
    closed = kl_to_standard_normal(mu, logvar)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    z = q.sample((200_000,))
    mc = (q.log_prob(z) - p.log_prob(z)).sum(-1).mean(0)
    assert torch.allclose(closed, mc, atol=0.03, rtol=0.02)


def test_vae_kl_is_against_the_prior_and_zero_at_the_prior():
    assert torch.allclose(kl_to_standard_normal(torch.zeros(2, 5), torch.zeros(2, 5)), torch.zeros(2))
    model = VAE(TINY["vae"])
    samples = model.sample(3, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (3, 3, 16, 16)


def _grad_norm(loss, params):
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return sum(0.0 if g is None else float(g.abs().sum()) for g in grads)


def test_vq_stop_gradients_are_the_right_way_round():
    model = VQGAN(TINY["vqgan"]).train()
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    encoder = list(model.encoder.parameters()) + list(model.quantizer.project_in.parameters())
    codebook = [model.quantizer.codebook.weight]
    t = model.quantizer.terms(model.encode(x))
    assert _grad_norm(t["codebook_loss"], encoder) == 0.0
    assert _grad_norm(t["codebook_loss"], codebook) > 0.0
    assert _grad_norm(t["commitment_loss"], codebook) == 0.0
    assert _grad_norm(t["commitment_loss"], encoder) > 0.0
    # The reconstruction reaches the encoder only through the straight-through estimator.
    x_rec, _, _ = model(x)
    rec = (x_rec - x).pow(2).mean()
    assert _grad_norm(rec, encoder) > 0.0
    assert _grad_norm(rec, codebook) == 0.0  # z_e + sg[z_q - z_e]: no path to the codes


def test_vq_loss_is_codebook_plus_beta_commitment_and_straight_through_is_exact():
    model = VQGAN(TINY["vqgan"]).eval()
    z = model.encode(torch.rand(2, 3, 16, 16) * 2 - 1)
    t = model.quantizer.terms(z)
    quantized, indices, loss = model.quantizer(z)
    assert torch.allclose(loss, t["codebook_loss"] + TINY["vqgan"].beta * t["commitment_loss"])
    assert torch.equal(indices, t["indices"])
    assert torch.allclose(quantized, model.quantizer.lookup(indices), atol=1e-6)
    # nearest code by Euclidean distance, as in the formulation
    flat = t["z_e"].permute(0, 2, 3, 1).reshape(-1, t["z_e"].shape[1])
    assert torch.equal(torch.cdist(flat, model.quantizer.codes()).argmin(1), indices.flatten())


@pytest.mark.parametrize("bf16", [False, True])
def test_dead_codes_are_restarted_on_encoder_outputs(bf16):
    model = VQGAN(TINY["vqgan"]).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # a full step each time, weights unchanged
    q = model.quantizer
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        q.usage.zero_()
        q.usage[0] = 1.0  # code 0 well used, every other code looks dead
    before = q.codebook.weight.clone()
    for _ in range(q.restart_every + 1):  # the restart happens at the start of the next forward
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            x_rec, _, vq_loss = model(x)
        opt.zero_grad()
        ((x_rec - x).abs().mean() + vq_loss).backward()  # no in-place change under autograd's feet
        opt.step()
    changed = (q.codebook.weight != before).any(1)
    assert not changed[0] and changed.sum() > 0
    with torch.no_grad():
        z_e = q.terms(model.encode(x))["z_e"].permute(0, 2, 3, 1).reshape(-1, 4)
    distance = torch.cdist(q.codebook.weight[changed], z_e).min(1).values
    assert distance.max() < 0.1  # restarted codes sit on encoder outputs (plus small noise)


def test_gan_losses_equal_hand_computed_values():
    real = torch.tensor([2.0, -1.0, 0.5])
    fake = torch.tensor([-3.0, 0.0, 1.0])
    d = torch.sigmoid
    l_d = -(d(real).log().mean()) - (1 - d(fake)).log().mean()
    l_g = -(d(fake).log().mean())
    assert torch.allclose(discriminator_loss(real, fake), l_d)
    assert torch.allclose(generator_loss(fake), l_g)
    model = GAN(TINY["gan"])
    assert model.latents(5, truncation=0.5, generator=torch.Generator().manual_seed(0)).abs().max() <= 0.5


def test_transformer_loss_is_mean_negative_log_likelihood():
    model = CodeTransformer(TINY["transformer"])
    codes = torch.randint(0, 32, (2, 16))
    logits = model(model.with_start(codes))
    nll = -F.log_softmax(logits, -1).gather(2, codes[:, :, None]).mean()
    loss, logs = model.loss(codes)
    assert torch.allclose(loss, nll)
    assert math.isclose(logs["bits_per_token"], nll.item() / math.log(2), rel_tol=1e-6)


def test_input_noise_corrupts_training_inputs_only():
    """input_noise replaces input cells by random codes in training (seeded by the generator given);
    the targets and evaluation are untouched."""
    codes = torch.randint(0, 32, (4, 16), generator=torch.Generator().manual_seed(1))
    clean = CodeTransformer(TINY["transformer"])
    noisy = CodeTransformer(dataclasses.replace(TINY["transformer"], input_noise=0.5))
    noisy.load_state_dict(clean.state_dict())
    loss_clean = clean.train().loss(codes, torch.Generator().manual_seed(0))[0]
    loss_a = noisy.train().loss(codes, torch.Generator().manual_seed(0))[0]
    loss_b = noisy.loss(codes, torch.Generator().manual_seed(0))[0]
    assert torch.equal(loss_a, loss_b)  # the same draw of noise for the same generator
    assert not torch.allclose(loss_a, loss_clean)
    assert torch.allclose(noisy.eval().loss(codes)[0], clean.eval().loss(codes)[0])  # no noise outside training


def test_residual_weight_reweighs_the_training_objective_only():
    """With two codes per cell, residual_weight w makes the training objective (nll_1 + w nll_2) / (1 + w);
    the logged bits and the evaluation loss stay the plain mean of the stages."""
    cfg = dataclasses.replace(TINY["transformer"], depth=2)
    codes = torch.randint(0, 32 * 32, (4, 16), generator=torch.Generator().manual_seed(1))  # packed 2-stage codes
    plain = CodeTransformer(cfg)
    weighted = CodeTransformer(dataclasses.replace(cfg, residual_weight=0.25))
    weighted.load_state_dict(plain.state_dict())
    loss_plain, logs = plain.train().loss(codes)
    loss_weighted, logs_weighted = weighted.train().loss(codes)
    nll_1, nll_2 = (logs[f"bits_stage_{d}"] * math.log(2) for d in (1, 2))
    assert math.isclose(loss_plain.item(), (nll_1 + nll_2) / 2, rel_tol=1e-5)
    assert math.isclose(loss_weighted.item(), (nll_1 + 0.25 * nll_2) / 1.25, rel_tol=1e-5)
    assert logs_weighted == logs
    assert torch.allclose(weighted.eval().loss(codes)[0], plain.eval().loss(codes)[0])


def test_transformer_is_causal():
    model = CodeTransformer(TINY["transformer"]).eval()
    a = torch.randint(0, 32, (1, 16))
    b = a.clone()
    b[0, 10:] = (b[0, 10:] + 1) % 32
    la = model(a)
    lb = model(b)
    assert torch.allclose(la[0, :10], lb[0, :10], atol=1e-6)
    assert not torch.allclose(la[0, 10:], lb[0, 10:])


@pytest.mark.parametrize("n_head, n_kv_head", [(2, None), (2, 1), (4, 2)])  # multi-head, multi-query, grouped-query attention
def test_kv_cache_sampling_equals_the_uncached_path(n_head, n_kv_head):
    # the cached path (decode_step: batched products) and the uncached one (forward: SDPA) share no attention code
    model = CodeTransformer(dataclasses.replace(TINY["transformer"], n_head=n_head, n_kv_head=n_kv_head)).double().eval()
    for kwargs in ({}, {"temperature": 0.7, "top_k": 5}, {"top_p": 0.8}):
        a = model.sample(4, generator=torch.Generator().manual_seed(7), **kwargs)
        b = model.sample(4, generator=torch.Generator().manual_seed(7), use_cache=False, **kwargs)
        assert torch.equal(a, b)
    c = model.sample(4, generator=torch.Generator().manual_seed(8))
    assert not torch.equal(a, c)


def test_grouped_query_attention_equals_multi_head_attention_with_shared_key_value_heads():
    # 4 query heads sharing 2 key/value heads == 4-head attention whose heads 0,1 and 2,3 have the same keys and values
    config = dataclasses.replace(TINY["transformer"], n_head=4, n_kv_head=2)
    gqa = CodeTransformer(config).double().eval()
    mha = CodeTransformer(dataclasses.replace(config, n_kv_head=None)).double().eval()
    state = gqa.state_dict()
    c, hd = config.n_embd, config.head_dim

    def shared(rows):  # (2 * hd, ...) rows of 2 key/value heads -> (4 * hd, ...): each head twice, in place
        return rows.unflatten(0, (2, hd)).repeat_interleave(2, 0).flatten(0, 1)

    for name, w in list(state.items()):
        if name.endswith("attn.qkv.weight") or name.endswith("attn.qkv.bias"):
            q, k, v = w.split([c, 2 * hd, 2 * hd])
            state[name] = torch.cat([q, shared(k), shared(v)])
    mha.load_state_dict(state)
    tokens = torch.randint(0, config.vocab_size, (3, config.block_size))
    with torch.no_grad():
        assert torch.allclose(gqa(tokens), mha(tokens), atol=1e-10)
    assert gqa.new_cache(3).keys.shape[2] == 2 and mha.new_cache(3).keys.shape[2] == 4


def test_top_k_and_top_p_keep_the_right_tokens_and_sampling_follows_their_probabilities():
    logits = torch.tensor([[0.05, 0.5, 0.15, 0.3]]).log()

    def kept(top_k, top_p, temperature=1.0):
        values, ids = candidates(logits, top_k, top_p, temperature)
        ids = torch.arange(4)[None] if ids is None else ids
        return sorted(ids[values > float("-inf")].tolist())

    assert kept(None, None) == [0, 1, 2, 3]
    assert kept(2, None) == [1, 3]
    assert kept(None, 0.7) == [1, 3]  # 0.5 + 0.3 reaches 0.7
    assert kept(None, 0.5) == [1]
    assert kept(3, 0.9) == [1, 2, 3]
    # the temperature divides the logits before top-p (it changes which tokens reach the mass), after top-k
    for top_k, top_p in ((None, 0.7), (3, 0.7), (3, None)):
        hot, cold = candidates(logits, top_k, top_p, temperature=2.0), candidates(logits / 2.0, top_k, top_p)
        assert torch.equal(hot[0], cold[0]) and (hot[1] is None or torch.equal(hot[1], cold[1]))
    assert kept(None, 0.7, temperature=2.0) != kept(None, 0.7)  # flatter: 0.38 + 0.29 no longer reach 0.7
    # drawing from the top-2 candidates: only tokens 1 and 3, in the ratio 0.5 : 0.3
    tokens = draw_tokens(logits.expand(20_000, -1), 2, None, torch.Generator().manual_seed(0))
    assert set(tokens.tolist()) == {1, 3}
    assert abs((tokens == 1).float().mean().item() - 0.625) < 0.015


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])  # fp16 FBGEMM copy (on x86) / transposed copy
def test_inference_linear_matches_nn_linear_and_follows_weight_updates(dtype):
    torch.manual_seed(0)
    fast, reference = Linear(64, 48).to(dtype), torch.nn.Linear(64, 48).to(dtype)
    reference.load_state_dict(fast.state_dict())
    x = torch.randn(16, 2, 64, dtype=dtype)

    def tol():  # fp16 weights keep 11 significant bits: |error| <= sum |x w| 2^-11
        fp16 = FP16_WEIGHTS and dtype == torch.float32
        return float((x.abs() @ reference.weight.abs().t()).max()) * 2**-11 if fp16 else 1e-9

    with torch.no_grad():
        fast.eval()
        assert torch.allclose(fast(x), reference(x), rtol=0, atol=tol())
        assert fast._fp16 == (FP16_WEIGHTS and dtype == torch.float32)
        # after an optimizer step (in training mode) the cached copy is rebuilt, not reused
        before = fast(x)
    fast.train()
    fast(x).square().sum().backward()
    torch.optim.SGD(fast.parameters(), lr=0.1).step()
    reference.load_state_dict(fast.state_dict())
    with torch.no_grad():
        fast.eval()
        assert not torch.allclose(fast(x), before, rtol=0, atol=tol())
        assert torch.allclose(fast(x), reference(x), rtol=0, atol=tol())
        fast.bias.add_(1.0)  # a change of the bias alone is followed too
        assert torch.allclose(fast(x), reference(x) + 1.0, rtol=0, atol=tol())
    assert set(fast.state_dict()) == {"weight", "bias"}


def test_completion_keeps_the_given_codes():
    model = CodeTransformer(TINY["transformer"]).eval()
    given = torch.randint(0, 32, (3, 16))
    mask = torch.zeros(3, 16, dtype=torch.bool)
    mask[:, :8] = True
    out = model.sample(3, given=given, given_mask=mask, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out[:, :8], given[:, :8])


def test_ae_prior_fitted_to_latents_reproduces_their_statistics():
    model = Autoencoder(TINY["ae"]).eval()
    g = torch.Generator().manual_seed(0)
    mix = torch.randn(8, 8, generator=g)
    z = torch.randn(20_000, 8, generator=g) @ mix + 3.0
    model.fit_prior(z)
    assert torch.allclose(model.prior_mean, z.mean(0), atol=1e-5)
    fitted = model.prior_scale_tril @ model.prior_scale_tril.T
    assert torch.allclose(fitted, torch.cov(z.T), atol=1e-3, rtol=1e-3)
    assert model.sample(4, generator=torch.Generator().manual_seed(1)).shape == (4, 3, 16, 16)


# Residual quantization (RQ-VAE): D codes per cell, packed into one index per cell.

RQ = dataclasses.replace(TINY["vqgan"], quantizer_depth=2)


def test_packed_codes_round_trip_and_stage_one_is_most_significant():
    stages = torch.randint(0, 32, (3, 4, 4, 2))
    packed = pack_codes(stages, 32)
    assert torch.equal(unpack_codes(packed, 32, 2), stages)
    assert torch.equal(packed, stages[..., 0] * 32 + stages[..., 1])
    assert torch.equal(pack_codes(stages[..., :1], 32), stages[..., 0])  # depth 1: the plain index


def test_residual_stage_quantizes_what_the_first_stage_left():
    model = VQGAN(RQ).eval()
    q = model.quantizer
    z = model.encode(torch.rand(2, 3, 16, 16) * 2 - 1)
    t = q.terms(z)
    flat = t["z_e"].permute(0, 2, 3, 1).reshape(-1, 4)
    first = q.codes()[t["stage_indices"][..., 0].flatten()]
    residual = flat - first
    # stage 2 picks the nearest residual-codebook vector (l2) to what stage 1 left
    assert torch.equal(torch.cdist(residual, q.residual_codebooks[0].weight).argmin(1), t["stage_indices"][..., 1].flatten())
    z_q = t["z_q"].permute(0, 2, 3, 1).reshape(-1, 4)
    assert torch.allclose(z_q, first + q.residual_codebooks[0].weight[t["stage_indices"][..., 1].flatten()], atol=1e-6)
    # the second stage can only bring the code closer (its codebook holds a vector near 0 or better)
    with torch.no_grad():
        q.residual_codebooks[0].weight[0] = 0.0
    t = q.terms(z)
    z_q = t["z_q"].permute(0, 2, 3, 1).reshape(-1, 4)
    first = q.codes()[t["stage_indices"][..., 0].flatten()]
    assert ((flat - z_q).norm(dim=1) <= (flat - first).norm(dim=1) + 1e-6).all()
    quantized, indices, _ = q(z)
    assert torch.allclose(quantized, q.lookup(indices), atol=1e-5)  # lookup of packed codes = forward


def test_inference_indices_are_the_codes_training_picks_in_float32_even_under_autocast():
    model = VQGAN(RQ).eval()
    x = torch.rand(3, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        z = model.encode(x)
        expected = model.quantizer.terms(z)["indices"]
        assert torch.equal(model.quantizer.indices(z), expected)
        assert torch.equal(model.encode_to_indices(x), expected)
        # under bf16 autocast the choice among codes is still made in float32: the same latents give the
        # same codes (in bf16, near-ties between codes flip)
        z = model.encode(torch.rand(64, 3, 16, 16) * 2 - 1)
        exact = model.quantizer.indices(z)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert torch.equal(model.quantizer.indices(z), exact)
            assert not torch.equal(model.quantizer.terms(z)["indices"], exact)  # what bf16 picks would do
            assert model.quantizer.indices(z).dtype == torch.long


def test_residual_dead_codes_are_restarted_on_residuals():
    model = VQGAN(RQ).train()
    q = model.quantizer
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        q.residual_usage.zero_()
        q.residual_usage[0, 0] = 1.0
        q.steps.fill_(q.restart_every)
    before = q.residual_codebooks[0].weight.clone()
    model(x)
    changed = (q.residual_codebooks[0].weight != before).any(1)
    assert not changed[0] and changed.sum() == 31
    assert q.stage_usage().shape == (2, 32)


def test_depth_two_transformer_loss_cache_and_completion():
    config = dataclasses.replace(TINY["transformer"], depth=2, n_kv_head=1)
    model = CodeTransformer(config).double().eval()
    codes = torch.randint(0, 32 * 32, (2, 16))
    stages = unpack_codes(codes, 32, 2)
    loss, logs = model.loss(codes)
    # the mean over both stages of -log p: stage 1 from the head, stage 2 from the depth head fed stage 1
    h = model.hidden(model.with_start(stages))
    nll1 = -F.log_softmax(model.head(h), -1).gather(2, stages[..., :1]).mean()
    nll2 = -F.log_softmax(model.depth_logits(h, stages, 1), -1).gather(2, stages[..., 1:]).mean()
    assert torch.allclose(loss, (nll1 + nll2) / 2)
    assert math.isclose(logs["bits_per_token"], loss.item() / math.log(2), rel_tol=1e-6)
    a = model.sample(3, generator=torch.Generator().manual_seed(1), top_k=5)
    b = model.sample(3, generator=torch.Generator().manual_seed(1), top_k=5, use_cache=False)
    assert torch.equal(a, b) and a.shape == (3, 16) and int(a.max()) < 32 * 32
    mask = torch.zeros(3, 16, dtype=torch.bool)
    mask[:, :6] = True
    given = torch.randint(0, 32 * 32, (3, 16))
    c = model.sample(3, given=given, given_mask=mask, generator=torch.Generator().manual_seed(0))
    assert torch.equal(c[:, :6], given[:, :6]) and not torch.equal(c[:, 6:], given[:, 6:])
