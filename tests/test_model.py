"""Chapter 5 model: shapes, weight tying, seed state_dict parity, masks, KV cache, errors, initial loss.

    pytest tests/test_model.py -p no:randomly -x -q
"""
import importlib.util
import math
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from minigpt.kv_cache import KVCache
import minigpt.model
from minigpt.model import (GPT_CPU, PRESETS, GPTConfig, GPTLMHeadModel, causal_attention, config_for, dropout,
                           make_attention_mask)

ROOT = Path(__file__).resolve().parent.parent
VOCAB = 50


def load_seed_reference():
    spec = importlib.util.spec_from_file_location("seed_reference", ROOT / "benchmarks" / "seed_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny(tiny_gpt):
    """tiny(seed, **config): a tiny random GPT with a 50-token vocabulary (tests/conftest.py)."""
    return lambda seed=0, **overrides: tiny_gpt(VOCAB, seed, **overrides)


def left_pad(rows, pad=0):
    """rows: list of id lists -> (ids, mask), LEFT padded as generation expects."""
    T = max(len(r) for r in rows)
    ids = torch.tensor([[pad] * (T - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (T - len(r)) + [1] * len(r) for r in rows])
    return ids, mask


def right_pad(rows, pad=0):
    T = max(len(r) for r in rows)
    ids = torch.tensor([r + [pad] * (T - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (T - len(r)) for r in rows])
    return ids, mask


def random_rows(lengths, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(3, VOCAB, (n,), generator=g).tolist() for n in lengths]


def test_shapes_presets_and_tying(tiny):
    model = tiny()
    logits = model(torch.randint(0, VOCAB, (3, 7)))
    assert logits.shape == (3, 7, VOCAB)
    assert model.lm_head.weight is model.transformer.wte.weight
    # tied weights are counted once
    assert model.num_parameters() == sum(p.numel() for p in set(model.parameters()))
    assert set(PRESETS) >= {"seed", "cpu", "tiny"}
    seed_cfg = config_for("seed", 4825)
    assert (seed_cfg.n_embd, seed_cfg.n_head, seed_cfg.n_layer) == (768, 8, 6)
    assert PRESETS["cpu"].vocab_size == GPT_CPU.vocab_size  # config_for does not mutate the preset
    assert asdict(config_for("cpu", 123))["vocab_size"] == 123
    with torch.device("meta"):
        n = GPTLMHeadModel(seed_cfg).num_parameters()
    assert 45e6 < n < 48e6, n
    with pytest.raises(ValueError):
        GPTConfig(n_embd=30, n_head=4)
    with pytest.raises(ValueError):
        config_for("huge", 10)


def test_seed_state_dict_loads_unchanged_and_gives_same_logits():
    seed = load_seed_reference()
    torch.manual_seed(1)
    ref = seed.GPTLMHeadModel(seed.GPTConfig(n_embd=32, n_head=4, n_layer=2, dropout=0.0,
                                             block_size=64, vocab_size=VOCAB)).eval()
    ours = GPTLMHeadModel(GPTConfig(**asdict(ref.config))).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    assert list(ours.state_dict()) == list(ref.state_dict())

    ids = torch.randint(3, VOCAB, (2, 20))
    with torch.no_grad():
        torch.testing.assert_close(ours(ids), ref(ids))
        # the seed's training path: right padding with an explicit mask; ours takes the is_causal path,
        # exact on every non-pad position (pad positions are ignored by the loss)
        ids, mask = right_pad(random_rows([20, 13, 5]))
        got, want = ours(ids, mask), ref(ids, mask)
        keep = mask.bool()
        torch.testing.assert_close(got[keep], want[keep])
        # an all-ones mask is the same as no mask (both take the is_causal path)
        torch.testing.assert_close(ours(ids, torch.ones_like(mask)), ref(ids))


def test_right_padding_fast_path_equals_explicit_mask_on_real_tokens(tiny):
    model = tiny(2)
    ids, mask = right_pad(random_rows([9, 4, 1], seed=3))
    with torch.no_grad():
        fast = model(ids, mask)  # right padding -> is_causal path
        # explicit padding mask, forced by passing it through the blocks directly
        x = model.transformer.wte(ids) + model.transformer.wpe(torch.arange(ids.shape[1]))
        explicit = make_attention_mask(mask, ids.shape[1], 0, ids.shape[0])
        for block in model.transformer.blocks:
            x = block(x, explicit)
        slow = model.lm_head(model.transformer.ln_f(x))
    keep = mask.bool()
    torch.testing.assert_close(fast[keep], slow[keep])


def test_left_padded_row_equals_unpadded_row_and_no_nan(tiny):
    model = tiny(3)
    rows = random_rows([8, 3, 5], seed=4)
    ids, mask = left_pad(rows)
    with torch.no_grad():
        batched = model(ids, mask)
        assert not torch.isnan(batched).any()  # pad queries see themselves, never a fully masked row
        for i, row in enumerate(rows):
            alone = model(torch.tensor([row]))[0]
            torch.testing.assert_close(batched[i, -len(row):], alone, atol=1e-5, rtol=1e-5)


def test_mask_has_no_empty_row():
    _, mask = left_pad(random_rows([6, 2]))
    m = make_attention_mask(mask, 6)
    assert m.shape == (2, 1, 6, 6)
    assert m.any(-1).all()
    assert not m[1, 0, 5, :4].any()  # a real query never sees left padding


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cached_forward_equals_full_forward(seed, tiny):
    model = tiny(seed)
    rows = random_rows([10, 6, 8], seed=seed)
    ids, mask = left_pad(rows)
    with torch.no_grad():
        full = model(ids, mask)
        cache = KVCache(model.config.n_layer)
        parts = [model(ids[:, :4], mask[:, :4], kv_cache=cache)]  # prefill
        parts.append(model(ids[:, 4:7], mask[:, :7], kv_cache=cache))  # a chunk of 3 with an offset
        for t in range(7, ids.shape[1]):  # then one token at a time
            parts.append(model(ids[:, t:t + 1], mask[:, :t + 1], kv_cache=cache))
        assert cache.seq_len == ids.shape[1]
    torch.testing.assert_close(torch.cat(parts, 1)[mask.bool()], full[mask.bool()], atol=1e-5, rtol=1e-5)

    # without padding and without a mask: positions come from the cache length
    ids = torch.tensor(random_rows([9], seed=seed))
    with torch.no_grad():
        full = model(ids)
        cache = KVCache(model.config.n_layer)
        parts = [model(ids[:, :5], kv_cache=cache), model(ids[:, 5:7], kv_cache=cache),
                 model(ids[:, 7:8], kv_cache=cache), model(ids[:, 8:], kv_cache=cache)]
    torch.testing.assert_close(torch.cat(parts, 1), full, atol=1e-5, rtol=1e-5)


def test_too_long_raises_clear_error(tiny):
    model = tiny(block_size=16)
    model(torch.zeros(1, 16, dtype=torch.long))
    with pytest.raises(ValueError, match="block_size=16"):
        model(torch.zeros(1, 17, dtype=torch.long))
    cache = KVCache(model.config.n_layer)
    model(torch.zeros(1, 10, dtype=torch.long), kv_cache=cache)
    with pytest.raises(ValueError, match="block_size=16"):
        model(torch.zeros(1, 7, dtype=torch.long), kv_cache=cache)
    with pytest.raises(ValueError, match="attention_mask"):
        model(torch.zeros(2, 5, dtype=torch.long), torch.ones(2, 4))
    with pytest.raises(ValueError, match="position_ids"):
        model(torch.zeros(1, 2, dtype=torch.long), position_ids=torch.tensor([[0, 16]]))


def test_initial_loss_is_close_to_log_vocab():
    torch.manual_seed(0)
    vocab = 4825
    model = GPTLMHeadModel(config_for("cpu", vocab)).eval()
    ids = torch.randint(3, vocab, (4, 32))
    with torch.no_grad():
        logits = model(ids[:, :-1])
    loss = F.cross_entropy(logits.reshape(-1, vocab), ids[:, 1:].reshape(-1))
    assert abs(loss.item() - math.log(vocab)) < 0.15, (loss.item(), math.log(vocab))


def test_gradients_reach_every_parameter(tiny):
    model = tiny(dropout=0.1).train()
    ids, mask = right_pad(random_rows([12, 7], seed=5))
    logits = model(ids, mask)
    targets = ids.roll(-1, 1).masked_fill(~mask.bool(), 0)
    F.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1), ignore_index=0).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_dropout_only_in_training(tiny):
    model = tiny(dropout=0.5)
    ids = torch.randint(0, VOCAB, (2, 8))
    model.eval()
    torch.testing.assert_close(model(ids), model(ids))
    model.train()
    assert not torch.equal(model(ids), model(ids))


def test_fast_dropout_drops_the_right_share_and_keeps_the_expectation():
    """minigpt.model.dropout on CPU: drop share p (to 1/65536), survivors scaled so the mean is unchanged,
    the gradient goes through the same mask, the same seed gives the same mask, and p=0 / eval are no-ops."""
    n = 1_000_000
    for p in (0.1, 0.5, 0.9):
        torch.manual_seed(0)
        x = torch.full((n,), 2.0, requires_grad=True)
        y = dropout(x, p)
        dropped = (y == 0).float().mean().item()
        sigma = math.sqrt(p * (1 - p) / n)
        assert abs(dropped - p) < 5 * sigma + 1 / 65536, (p, dropped)
        kept = y[y != 0]
        torch.testing.assert_close(kept, torch.full_like(kept, 2.0 * 65536 / (65536 - round(p * 65536))))
        assert abs(y.mean().item() - 2.0) < 5 * 2.0 * math.sqrt(p / (1 - p) / n), (p, y.mean().item())
        y.backward(torch.ones(n))
        torch.testing.assert_close(x.grad, y.detach() / 2.0)  # d(mask * scale * x)/dx = mask * scale
    # every 16-bit lane of the 64-bit random numbers is used: no position in a group of 4 is dropped more often
    torch.manual_seed(1)
    y = dropout(torch.ones(4 * 250_000), 0.5).view(-1, 4)
    for lane in range(4):
        assert abs((y[:, lane] == 0).float().mean().item() - 0.5) < 0.005, lane
    x = torch.randn(3, 5, 7).transpose(0, 2)  # any shape, any strides
    torch.manual_seed(2); a = dropout(x, 0.3)
    torch.manual_seed(2); b = dropout(x, 0.3)
    assert a.shape == x.shape and torch.equal(a, b)
    assert dropout(x, 0.0) is x and dropout(x, 0.3, training=False) is x
    assert torch.equal(dropout(x, 1.0), torch.zeros_like(x))


def test_model_dropout_modules_use_the_fast_dropout(tiny, monkeypatch):
    """The model's dropout modules (and the training attention) go through minigpt.model.dropout."""
    calls = []
    real = minigpt.model.dropout
    monkeypatch.setattr(minigpt.model, "dropout", lambda x, p, training=True: calls.append(p) or real(x, p, training))
    model = tiny(dropout=0.2).train()
    model(torch.randint(0, VOCAB, (2, 8)))
    n_layer = model.config.n_layer
    assert calls.count(0.2) == 1 + 3 * n_layer, calls  # embeddings + per block: attention weights, attn out, mlp out
    assert all(isinstance(m, nn.Dropout) for m in (model.transformer.drop, model.transformer.blocks[0].mlp.dropout))


def test_causal_attention_by_formula_equals_sdpa_values_and_gradients():
    """On CPU with gradients, causal_attention computes softmax(q·kᵀ/√hs + causal mask)·v itself: same values
    and same gradients as SDPA(is_causal=True), for a square and a long-and-thin case."""
    for B, nh, T, hs in ((3, 4, 17, 16), (1, 2, 64, 8)):
        torch.manual_seed(T)
        q, k, v = (torch.randn(B, nh, T, hs, requires_grad=True) for _ in range(3))
        grad_out = torch.randn(B, nh, T, hs)
        ours = causal_attention(q, k, v)
        want = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        torch.testing.assert_close(ours, want)
        got_grads = torch.autograd.grad(ours, (q, k, v), grad_out)
        want_grads = torch.autograd.grad(want, (q, k, v), grad_out)
        for got, exp in zip(got_grads, want_grads):
            torch.testing.assert_close(got, exp)


def test_causal_attention_uses_sdpa_only_without_gradients_on_cpu(monkeypatch):
    """The formula is for CPU training only: without gradients (evaluation, generation) SDPA does the work."""
    calls = []
    sdpa = F.scaled_dot_product_attention
    monkeypatch.setattr(minigpt.model.F, "scaled_dot_product_attention",
                        lambda *a, **kw: calls.append(kw) or sdpa(*a, **kw))
    q = torch.randn(2, 2, 5, 4, requires_grad=True)
    causal_attention(q, q, q)
    assert calls == []
    with torch.no_grad():
        causal_attention(q, q, q)
    assert calls == [dict(dropout_p=0.0, is_causal=True)]


def test_training_step_gradients_equal_with_sdpa_attention(tiny, monkeypatch):
    """A whole model's loss gradients with the CPU formula equal those with SDPA everywhere (fp32), and under bf16
    autocast they agree to bf16 precision."""
    model = tiny(6)
    ids, mask = right_pad(random_rows([12, 7, 3], seed=6))
    targets = ids.roll(-1, 1).masked_fill(~mask.bool(), 0)

    def grads(autocast=False):
        model.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            logits = model(ids, mask)
        F.cross_entropy(logits.float().reshape(-1, VOCAB), targets.reshape(-1), ignore_index=0).backward()
        return {n: p.grad.clone() for n, p in model.named_parameters()}

    ours, ours_bf16 = grads(), grads(autocast=True)
    monkeypatch.setattr(minigpt.model, "causal_attention", lambda q, k, v, dropout_p=0.0:
                        F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True))
    sdpa, sdpa_bf16 = grads(), grads(autocast=True)
    for name in ours:
        torch.testing.assert_close(ours[name], sdpa[name], msg=name)
        torch.testing.assert_close(ours_bf16[name], sdpa_bf16[name], atol=2e-2, rtol=5e-2, msg=name)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu_with_padding_and_cache(tiny):
    model = tiny(6)
    rows = random_rows([9, 4, 6], seed=6)
    ids, mask = left_pad(rows)
    with torch.no_grad():
        want = model(ids, mask)
        gpu = model.to("cuda")
        got = gpu(ids.cuda(), mask.cuda())
        assert not torch.isnan(got).any()
        torch.testing.assert_close(got.cpu()[mask.bool()], want[mask.bool()], atol=1e-4, rtol=1e-4)
        cache = KVCache(gpu.config.n_layer)
        parts = [gpu(ids[:, :5].cuda(), mask[:, :5].cuda(), kv_cache=cache)]
        for t in range(5, ids.shape[1]):
            parts.append(gpu(ids[:, t:t + 1].cuda(), mask[:, :t + 1].cuda(), kv_cache=cache))
        torch.testing.assert_close(torch.cat(parts, 1).cpu()[mask.bool()], want[mask.bool()], atol=1e-4, rtol=1e-4)
        with torch.autocast("cuda", dtype=torch.bfloat16):  # the fused kernels with a boolean mask
            assert torch.isfinite(gpu(ids.cuda(), mask.cuda())).all()
