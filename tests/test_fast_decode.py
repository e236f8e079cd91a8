"""Chapter 7's fast decode path (minigpt/fast_decode.py) == the plain path: tokens, logits, weight changes, fallback.

    pytest tests/test_fast_decode.py -p no:randomly -x -q
"""
import copy
import io
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from minigpt import fast_decode
from minigpt.fast_decode import (FastDecoder, decoder_for, linear, onednn_available, onednn_is_faster, pack,
                                 pack_weights, weight_sources)
from minigpt.generate import answer, answers, generate, stream_generate
from test_generate import VOCAB, left_padded  # random left-padded prompts (batches whose rows differ in length)

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "checkpoints" / "minigpt-idiom.pth"
QUESTIONS = ["画蛇添足是什么意思？", "守株待兔的拼音是什么？", "“一心一意”的下一个成语是什么？", "什么"]


@pytest.fixture(scope="module")
def tiny(tiny_gpt):
    """tiny(seed, vocab=40, **config): a tiny random GPT (tests/conftest.py)."""
    return lambda seed=0, vocab=VOCAB, **kw: tiny_gpt(vocab, seed, **kw)


@pytest.fixture
def no_onednn(monkeypatch):
    """Force the fallback: the availability probe says no, so every weight is a contiguous W.T for addmm."""
    monkeypatch.setattr(fast_decode, "onednn_available", lambda dtype: False)


def needs_onednn():
    if not onednn_available(torch.float32):
        pytest.skip("this PyTorch has no usable oneDNN")


# ------------------------------------------------------------------ fast == plain
@pytest.mark.parametrize("seed,lengths", [(0, [5]), (1, [7, 3, 5]), (2, [4, 4]), (3, [9, 1, 6, 2])])
@pytest.mark.parametrize("stops", [(2, 3, 4, 5), None])
def test_fast_path_gives_the_plain_greedy_tokens(seed, lengths, stops, tiny):
    """Batch 1 and left-padded batches; with stop tokens (rows finish at different steps and leave the batch)."""
    model = tiny(seed, n_embd=64, n_head=4)
    _, ids, mask = left_padded(lengths, seed)
    kw = dict(attention_mask=mask, stop_token_ids=stops)
    plain = generate(model, ids, 25, **kw)
    assert torch.equal(generate(model, ids, 25, fast=True, **kw), plain)
    assert torch.equal(plain, generate(model, ids, 25, use_cache=False, **kw))


def shipped():
    if not SHIPPED.is_file():
        pytest.skip("no shipped checkpoint")
    from minigpt.checkpoint import load_for_inference

    return load_for_inference(SHIPPED, "cpu")


def test_fast_path_equals_plain_on_the_shipped_checkpoint():
    """The real model (3.9M parameters): near-ties are likelier than in a tiny random model."""
    model, tok = shipped()
    plain = answers(model, tok, QUESTIONS, batch_size=2, fast=False)
    assert answers(model, tok, QUESTIONS, batch_size=2, fast=True) == plain
    assert [answer(model, tok, q, fast=True) for q in QUESTIONS] == plain


def test_forced_fallback_gives_the_same_tokens_on_the_shipped_checkpoint(monkeypatch):
    """With oneDNN forced off, the fast path (W.T + addmm) answers exactly like the plain path and the oneDNN path."""
    model, tok = shipped()
    plain = answers(model, tok, QUESTIONS, batch_size=2, fast=False)
    fast = [answer(model, tok, q, fast=True) for q in QUESTIONS]
    monkeypatch.setattr(fast_decode, "onednn_available", lambda dtype: False)
    assert not any(w.is_mkldnn for w in pack_weights(model))
    fallback = [answer(model, tok, q, fast=True) for q in QUESTIONS]
    assert fallback == plain == fast
    assert answers(model, tok, QUESTIONS, batch_size=2, fast=True) == plain


def test_forced_fallback_gives_the_plain_greedy_tokens(tiny, no_onednn):
    """The other branch (GPU, or a PyTorch without a usable oneDNN): contiguous W.T and torch.addmm."""
    model = tiny(25, n_embd=64, n_head=4)
    assert not any(w.is_mkldnn for w in pack_weights(model))
    _, ids, mask = left_padded([7, 3, 5], seed=25)
    kw = dict(attention_mask=mask, stop_token_ids=(2, 3, 4, 5))
    assert torch.equal(generate(model, ids, 25, fast=True, **kw), generate(model, ids, 25, **kw))


def test_fast_path_samples_stream_and_penalises_like_the_plain_path(tiny):
    model = tiny(21)
    prompt = torch.tensor([7, 8, 9, 2])
    for kw in (dict(do_sample=True, seed=5, top_k=8, temperature=0.9), dict(repetition_penalty=1.5)):
        plain = list(stream_generate(model, prompt, 15, stop_token_ids=(2, 3), **kw))
        fast = list(stream_generate(model, prompt, 15, stop_token_ids=(2, 3), fast=True, **kw))
        assert [t for t, _ in fast] == [t for t, _ in plain]
        assert [p for _, p in fast] == pytest.approx([p for _, p in plain])


def test_decoder_step_by_step_matches_the_model(tiny):
    """FastDecoder alone: each step's logits equal the plain cached forward's (left-padded batch)."""
    model = tiny(22, n_embd=64, n_head=4)
    _, ids, mask = left_padded([6, 2, 4], seed=22)
    dec, cache = decoder_for(model, ids.shape[1] + 5), model.new_kv_cache(ids.shape[1] + 5)
    assert isinstance(dec, FastDecoder)
    with torch.inference_mode():
        fast = dec.prefill(ids, mask)
        plain = model(ids, mask, kv_cache=cache, logits_to_keep=1)[:, -1]
        for _ in range(5):
            torch.testing.assert_close(fast, plain)
            token = plain.argmax(-1)
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)
            fast, plain = dec.step(token), model(token[:, None], mask, kv_cache=cache, logits_to_keep=1)[:, -1]


def test_fast_path_under_bf16_autocast_matches_the_plain_path(tiny):
    """Training evaluates under bf16 autocast: the packed weights are then bf16, and logits agree to bf16 precision."""
    model = tiny(26, n_embd=64, n_head=4)
    _, ids, mask = left_padded([6, 2, 4], seed=26)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        dec, cache = decoder_for(model, ids.shape[1] + 4), model.new_kv_cache(ids.shape[1] + 4)
        fast = dec.prefill(ids, mask)
        plain = model(ids, mask, kv_cache=cache, logits_to_keep=1)[:, -1]
        for _ in range(4):
            torch.testing.assert_close(fast.float(), plain.float(), atol=0.05, rtol=0.05)
            token = plain.argmax(-1)
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)
            fast, plain = dec.step(token), model(token[:, None], mask, kv_cache=cache, logits_to_keep=1)[:, -1]
    assert fast.dtype == torch.bfloat16


def test_models_without_a_fast_path_get_none_and_the_flag_is_ignored():
    qwen3 = pytest.importorskip("minigpt.qwen3")
    torch.manual_seed(0)
    model = qwen3.Qwen3ForCausalLM(qwen3.course_config(VOCAB, preset="tiny")).eval()
    assert decoder_for(model, 8) is None and decoder_for(torch.nn.Linear(2, 2), 8) is None
    _, ids, mask = left_padded([6, 3], seed=9)
    kw = dict(attention_mask=mask, stop_token_ids=(2, 3, 4))
    assert torch.equal(generate(model, ids, 10, fast=True, **kw), generate(model, ids, 10, **kw))


# ------------------------------------------------------------------ the packed-weight cache
def test_fast_path_follows_weight_changes(tiny):
    """The packed weights are cached per model; an in-place update must invalidate them."""
    model = tiny(23)
    _, ids, mask = left_padded([5, 3], seed=23)
    before = generate(model, ids, 12, attention_mask=mask, fast=True, stop_token_ids=None)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    after = generate(model, ids, 12, attention_mask=mask, fast=True, stop_token_ids=None)
    assert torch.equal(after, generate(model, ids, 12, attention_mask=mask, stop_token_ids=None))
    assert not torch.equal(after, before)


def test_fast_path_follows_a_fused_adamw_step(tiny):
    """AdamW(fused=True) (train()'s optimizer) updates parameters in place without bumping their version counters:
    the fast path must still see the new weights after optimizer.step()."""
    model = tiny(26)
    _, ids, mask = left_padded([5, 3], seed=26)
    kw = dict(attention_mask=mask, stop_token_ids=None)
    before = generate(model, ids, 12, fast=True, **kw)  # packs (and caches) the current weights
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.5, fused=True)
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    optimizer.step()
    after = generate(model, ids, 12, fast=True, **kw)
    assert torch.equal(after, generate(model, ids, 12, **kw))
    assert not torch.equal(after, before)


def test_packed_weights_are_reused_until_the_weights_change(tiny):
    model = tiny(28)
    first = pack_weights(model)
    assert len(first) == len(weight_sources(model)) == 5 * model.config.n_layer + 1
    assert pack_weights(model) is first  # cached: no second copy of the model
    with torch.no_grad():
        model.lm_head.weight.mul_(2)
    assert pack_weights(model) is not first


def test_a_model_that_generated_fast_can_still_be_copied_and_pickled(tiny):
    """The packed weights live outside the model: deepcopy (export does it) and torch.save must not meet them."""
    model = tiny(27)
    _, ids, mask = left_padded([5, 3], seed=27)
    kw = dict(attention_mask=mask, stop_token_ids=None)
    first = generate(model, ids, 8, fast=True, **kw)
    twin = copy.deepcopy(model)
    torch.save(model, io.BytesIO())
    assert torch.equal(generate(twin, ids, 8, fast=True, **kw), first)


def run_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_the_model_registers_nothing_and_the_hook_comes_with_the_first_pack():
    """minigpt.model is the learner's file: importing it must not touch every optimizer in the process."""
    out = run_python(
        "import sys\n"
        "from torch.optim.optimizer import _global_optimizer_post_hooks as hooks\n"
        "from minigpt.model import GPTLMHeadModel, config_for\n"
        "print(len(hooks), 'minigpt.fast_decode' in sys.modules)\n"
        "from minigpt import fast_decode, generate\n"
        "print(len(hooks))\n"
        "m = GPTLMHeadModel(config_for('tiny', 20))\n"
        "fast_decode.pack_weights(m); fast_decode.pack_weights(m, rows=4)\n"
        "print(len(hooks))\n")
    assert out.splitlines() == ["0 False", "0", "1"]  # one hook, registered by the first pack, not by an import


# ------------------------------------------------------------------ which matrix multiply, and whether it works
@pytest.mark.parametrize("onednn_faster", [True, False])
def test_fast_path_packs_the_weights_the_probe_found_faster(tiny, monkeypatch, onednn_faster):
    """On CPU the fast path multiplies by oneDNN-packed weights where they measured faster for this batch size,
    else by W.T with addmm; both give the plain path's greedy tokens."""
    if onednn_faster:
        needs_onednn()
    asked = []
    monkeypatch.setattr(fast_decode, "onednn_is_faster", lambda ms, dtype, rows: asked.append(rows) or onednn_faster)
    model = tiny(24, n_embd=64, n_head=4)
    assert all(w.is_mkldnn is onednn_faster for w in pack_weights(model) if w.dim() == 2)
    _, ids, mask = left_padded([7, 3, 5], seed=24)
    kw = dict(attention_mask=mask, stop_token_ids=(2, 3, 4, 5))
    assert torch.equal(generate(model, ids, 25, fast=True, **kw), generate(model, ids, 25, **kw))
    assert asked[-1] == 3  # the decoder asked for its batch size


def test_onednn_probe_picks_the_way_that_measured_faster(monkeypatch):
    """onednn_is_faster times both ways on the given matrices and keeps the faster, once per row bucket."""
    needs_onednn()
    for width, slow_onednn in ((48, True), (40, False)):  # new shapes each round: nothing remembered yet
        calls = []

        def slowed(x, w, b=None, gelu=False, real=linear, slow=slow_onednn):
            calls.append(x.shape[0])
            if w.is_mkldnn is slow:
                time.sleep(0.002)
            return real(x, w, b, gelu)

        monkeypatch.setattr(fast_decode, "linear", slowed)
        ws = [torch.randn(width, 16), torch.randn(16, width)]
        for rows in (1, 3, 500):
            assert onednn_is_faster(ws, torch.float32, rows) is (not slow_onednn)
        assert sorted(set(calls)) == [1, 4, 64]  # measured with the bucket's rows: 1, 3 -> 4, 500 -> 64
        calls.clear()
        for rows in (4, 64, 1000):  # the same buckets: remembered, not measured again
            assert onednn_is_faster(ws, torch.float32, rows) is (not slow_onednn)
        assert calls == []


def test_onednn_forms_agree_with_the_plain_multiply():
    """The three forms the decoder uses (plain, with bias, with fused GELU) against x @ W.T (+ b), then GELU."""
    needs_onednn()
    g = torch.Generator().manual_seed(1)
    w, b, x = torch.randn(24, 16, generator=g), torch.randn(24, generator=g), torch.randn(5, 16, generator=g)
    packed = pack(w, onednn=True)
    assert packed.is_mkldnn and not pack(w, onednn=False).is_mkldnn
    torch.testing.assert_close(linear(x, packed), x @ w.T)
    torch.testing.assert_close(linear(x, packed, b), x @ w.T + b)
    torch.testing.assert_close(linear(x, packed, gelu=True), torch.nn.functional.gelu(x @ w.T))


@pytest.mark.parametrize("broken", ["plain", "bias", "gelu", "raises"])
def test_availability_probe_rejects_any_broken_form(monkeypatch, broken):
    """If oneDNN gets any one of the decoder's forms wrong (or the op is missing), the probe says no."""
    needs_onednn()

    def faulty(x, w, b=None, gelu=False, real=linear):
        y = real(x, w, b, gelu)
        if w.is_mkldnn and broken == "raises":
            raise RuntimeError("no such op")
        form = "gelu" if gelu else "bias" if b is not None else "plain"
        return y + 1 if w.is_mkldnn and form == broken else y

    monkeypatch.setattr(fast_decode, "linear", faulty)
    onednn_available.cache_clear()
    try:
        assert onednn_available(torch.float32) is False
    finally:
        monkeypatch.undo()
        onednn_available.cache_clear()
    assert onednn_available(torch.float32) is True
