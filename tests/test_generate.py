"""Chapter 7 generation: KV cache == full recompute, batching, sampling knobs, answer(s), the chat CLI.

    pytest tests/test_generate.py -p no:randomly -x -q
"""
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from minigpt.generate import (answer, answers, apply_repetition_penalty, filter_logits,
                              generate, sample_next, stream_answer, stream_generate)

ROOT = Path(__file__).resolve().parent.parent
VOCAB = 40
CHARS = "一二三四五六七八九十百千万是什么意思问答画蛇添足守株待兔，。？的了不有人"


@pytest.fixture(scope="module")
def tiny(tiny_gpt):
    """tiny(seed, vocab=40, **config): a tiny random GPT (tests/conftest.py)."""
    return lambda seed=0, vocab=VOCAB, **kw: tiny_gpt(vocab, seed, **kw)


def left_padded(lengths, seed=0, vocab=VOCAB):
    g = torch.Generator().manual_seed(seed)
    rows = [torch.randint(3, vocab, (n,), generator=g).tolist() for n in lengths]
    T = max(lengths)
    ids = torch.tensor([[0] * (T - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (T - len(r)) + [1] * len(r) for r in rows])
    return rows, ids, mask


@pytest.fixture(scope="module")
def tok(char_tokenizer):
    return char_tokenizer(sorted(set(CHARS)))


# ------------------------------------------------------------------ cache vs. no cache, batching
@pytest.mark.parametrize("seed,lengths", [(0, [5]), (1, [7, 3, 5]), (2, [4, 4]), (3, [9, 1, 6, 2])])
def test_greedy_with_cache_equals_without_cache(seed, lengths, tiny):
    model = tiny(seed)
    _, ids, mask = left_padded(lengths, seed)
    # stop at a common token so that rows finish at different steps (finished rows are dropped from the batch)
    kw = dict(attention_mask=mask, stop_token_ids=(2, 3, 4, 5))
    fast = generate(model, ids, 20, use_cache=True, **kw)
    slow = generate(model, ids, 20, use_cache=False, **kw)
    assert torch.equal(fast, slow)
    assert torch.equal(fast[:, :ids.shape[1]], ids)


def test_batched_rows_equal_rows_alone_and_finished_rows_are_padded(tiny):
    model = tiny(4)
    rows, ids, mask = left_padded([6, 2, 8], seed=4)
    stops = (2, 3, 4, 5, 6)
    out = generate(model, ids, 15, attention_mask=mask, stop_token_ids=stops)
    T = ids.shape[1]
    for i, row in enumerate(rows):
        alone = generate(model, torch.tensor([row]), 15, stop_token_ids=stops)[0, len(row):].tolist()
        new = out[i, T:].tolist()
        assert new[:len(alone)] == alone
        assert all(t == 0 for t in new[len(alone):])  # padded after its stop token
        if alone and alone[-1] in stops:
            assert len(alone) <= 15


# the fast path (minigpt/fast_decode.py) == the plain path: tests/test_fast_decode.py


def test_no_stop_gives_exactly_max_new_tokens(tiny):
    model = tiny(5)
    out = generate(model, torch.tensor([[3, 4, 5]]), 12, stop_token_ids=None)
    assert out.shape == (1, 15)


def test_stream_generate_matches_generate(tiny):
    model = tiny(6)
    prompt = torch.tensor([7, 8, 9, 2])
    streamed = list(stream_generate(model, prompt, 10, stop_token_ids=(2, 3)))
    out = generate(model, prompt[None], 10, stop_token_ids=(2, 3))[0, 4:].tolist()
    assert [t for t, _ in streamed] == out
    assert all(0 < p <= 1 for _, p in streamed)


def test_sampling_is_reproducible_with_seed_and_leaves_global_rng_alone(tiny):
    model = tiny(7)
    ids = torch.tensor([[3, 4, 5]])
    state = torch.get_rng_state()
    a = generate(model, ids, 20, do_sample=True, seed=123, stop_token_ids=None)
    b = generate(model, ids, 20, do_sample=True, seed=123, stop_token_ids=None)
    c = generate(model, ids, 20, do_sample=True, seed=124, stop_token_ids=None)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(torch.get_rng_state(), state)


def test_clear_errors_before_generating(tiny):
    model = tiny(8, block_size=16)
    with pytest.raises(ValueError, match="上下文长度 16"):
        generate(model, torch.ones(1, 10, dtype=torch.long), 7)
    generate(model, torch.ones(1, 10, dtype=torch.long), 6, stop_token_ids=None)
    with pytest.raises(ValueError, match="左填充"):
        generate(model, torch.tensor([[3, 4, 0]]), 2, attention_mask=torch.tensor([[1, 1, 0]]))


def test_works_with_the_qwen3_model():
    qwen3 = pytest.importorskip("minigpt.qwen3")
    torch.manual_seed(0)
    model = qwen3.Qwen3ForCausalLM(qwen3.course_config(VOCAB, preset="tiny")).eval()
    _, ids, mask = left_padded([6, 3], seed=9)
    kw = dict(attention_mask=mask, stop_token_ids=(2, 3, 4))
    assert torch.equal(generate(model, ids, 10, **kw), generate(model, ids, 10, use_cache=False, **kw))


def test_logits_to_keep_gives_the_last_positions_of_both_models(tiny):
    qwen3 = pytest.importorskip("minigpt.qwen3")
    torch.manual_seed(0)
    models = [tiny(), qwen3.Qwen3ForCausalLM(qwen3.course_config(VOCAB, preset="tiny")).eval()]
    _, ids, mask = left_padded([6, 3], seed=4)
    with torch.no_grad():
        for model in models:
            full = model(ids, mask)
            torch.testing.assert_close(model(ids, mask, logits_to_keep=1), full[:, -1:])
            torch.testing.assert_close(model(ids, mask, logits_to_keep=2), full[:, -2:])


# ------------------------------------------------------------------ sampling knobs on hand-made logits
def test_top_k_keeps_k():
    logits = torch.tensor([[1.0, 5.0, 3.0, 4.0, 2.0]])
    kept = torch.isfinite(filter_logits(logits, top_k=2))
    assert kept.tolist() == [[False, True, False, True, False]]
    assert torch.isfinite(filter_logits(logits, top_k=10)).all()  # k >= vocab keeps everything


def test_top_p_keeps_the_nucleus():
    logits = torch.tensor([[0.5, 0.3, 0.15, 0.05]]).log()
    # 0.5 alone < 0.7, 0.5 + 0.3 >= 0.7: the nucleus is the first two
    assert torch.isfinite(filter_logits(logits, top_p=0.7)).tolist() == [[True, True, False, False]]
    assert torch.isfinite(filter_logits(logits, top_p=0.5)).tolist() == [[True, False, False, False]]
    assert torch.isfinite(filter_logits(logits, top_p=0.01)).tolist() == [[True, False, False, False]]
    assert torch.isfinite(filter_logits(logits, top_p=1.0)).all()


def test_matches_transformers_logits_processors():
    tf = pytest.importorskip("transformers")
    torch.manual_seed(0)
    logits, seen = torch.randn(4, 50), torch.randint(0, 50, (4, 12))
    for top_k in (1, 5, 20):
        want = tf.TopKLogitsWarper(top_k)(seen, logits.clone())
        torch.testing.assert_close(filter_logits(logits, top_k=top_k), want)
    for top_p in (0.1, 0.5, 0.9):
        want = tf.TopPLogitsWarper(top_p)(seen, logits.clone())
        torch.testing.assert_close(filter_logits(logits, top_p=top_p), want)
    for penalty in (1.2, 2.0, 0.8):
        want = tf.RepetitionPenaltyLogitsProcessor(penalty)(seen, logits.clone())
        torch.testing.assert_close(apply_repetition_penalty(logits, seen, penalty), want)


def test_temperature_towards_zero_is_greedy():
    torch.manual_seed(0)
    logits = torch.randn(8, 30)
    g = torch.Generator().manual_seed(0)
    token, prob = sample_next(logits, temperature=1e-4, generator=g)
    assert torch.equal(token, logits.argmax(-1))
    torch.testing.assert_close(prob, torch.ones(8))
    with pytest.raises(ValueError):
        filter_logits(logits, temperature=0)
    hot = filter_logits(logits, temperature=100.0).softmax(-1)
    assert (hot.max(-1).values < 0.1).all()  # high temperature flattens towards uniform (1/30)


def test_repetition_penalty_lowers_repeated_tokens():
    logits = torch.tensor([[2.0, -1.0, 0.5, 3.0]])
    seen = torch.tensor([[0, 1, 1]])
    out = apply_repetition_penalty(logits, seen, 2.0)
    assert out.tolist() == [[1.0, -2.0, 0.5, 3.0]]  # positive / 2, negative * 2, unseen unchanged


def test_greedy_prob_is_the_model_probability():
    logits = torch.tensor([[0.0, math.log(3.0)]])
    token, prob = sample_next(logits, do_sample=False)
    assert token.item() == 1 and prob.item() == pytest.approx(0.75)


# ------------------------------------------------------------------ text at the edges
def test_answer_and_answers_agree(tiny, tok):
    model = tiny(10, vocab=tok.get_vocab_size())
    questions = ["画蛇添足是什么意思？", "守株待兔", "一"]
    single = [answer(model, tok, q, max_new_tokens=12) for q in questions]
    assert answers(model, tok, questions, max_new_tokens=12) == single
    assert answers(model, tok, questions, max_new_tokens=12, batch_size=2) == single
    text, probs = answer(model, tok, questions[0], max_new_tokens=12, return_probs=True)
    assert text == single[0]
    assert all(1 / tok.get_vocab_size() <= p <= 1 for p in probs)  # greedy: the top token is at least as likely as uniform
    assert "<sep>" not in "".join(single)


def test_answer_clips_to_the_context(tiny, tok):
    model = tiny(11, vocab=tok.get_vocab_size(), block_size=12)
    text = answer(model, tok, "画蛇添足是什么意思？", max_new_tokens=64)  # 11 prompt tokens: room for 1
    assert len(text) <= 1
    with pytest.raises(ValueError, match="问题太长"):
        answer(model, tok, "画蛇添足是什么意思？？？", max_new_tokens=64)


def test_stream_answer_pieces_make_the_answer(tiny, tok):
    model = tiny(15, vocab=tok.get_vocab_size())
    pieces = list(stream_answer(model, tok, "画蛇添足是什么意思？", max_new_tokens=12))
    text, probs = answer(model, tok, "画蛇添足是什么意思？", max_new_tokens=12, return_probs=True)
    assert "".join(pieces) == text and [p.prob for p in pieces] == probs
    assert all(isinstance(p, str) and len(p) == 1 for p in pieces)  # one character per piece (character tokenizer)


@pytest.mark.parametrize("sampling", [{}, dict(do_sample=True, seed=3, temperature=0.9, top_k=6, repetition_penalty=1.3)])
def test_answer_chat_and_playground_share_one_answering_loop(tiny, tok, monkeypatch, capsys, sampling):
    """generate.answer, the chat CLI's reply and the playground all stream through generate.stream_answer,
    and give the same text for the same question and settings."""
    from minigpt import generate as generate_module
    from minigpt.playground import Playground

    model = next(m for seed in range(16, 60) if answer(m := tiny(seed, vocab=tok.get_vocab_size()), tok,
                                                         "守株待兔", max_new_tokens=9, **sampling))
    calls, real = [], generate_module.stream_answer
    monkeypatch.setattr(generate_module, "stream_answer", lambda *a, **kw: calls.append(kw) or real(*a, **kw))
    want = generate_module.answer(model, tok, "守株待兔", max_new_tokens=9, **sampling)
    assert want

    monkeypatch.setattr(generate_module, "load_for_inference", lambda path, device: (model, tok))
    flags = ["--sample", "--seed", "3", "--temperature", "0.9", "--top-k", "6", "--repetition-penalty", "1.3"]
    assert generate_module.main(["--question", "守株待兔", "--max-new-tokens", "9", *(flags if sampling else [])]) == 0
    chat = capsys.readouterr().out.strip().splitlines()[-1]  # the last line is the answer

    pg = Playground(model, tok, examples=[], checkpoints=[], background=False)
    pg.max_new_tokens.value = 9
    if sampling:
        pg.mode.value = "sample"
        pg.temperature.value, pg.top_k.value, pg.seed.value, pg.repetition_penalty.value = 0.9, 6, 3, 1.3
    pg.question.value = "守株待兔"
    pg.generate_button.click()
    assert want == chat == pg.last_answer
    assert len(calls) == 3 and all(kw["max_new_tokens"] == 9 for kw in calls)


# ------------------------------------------------------------------ chat CLI
def run_cli(*args, stdin=""):
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    return subprocess.run([sys.executable, str(ROOT / "minigpt" / "generate.py"), *args], input=stdin,
                          capture_output=True, text=True, encoding="utf-8", env=env, cwd=ROOT, timeout=120)


@pytest.mark.slow
def test_cli_missing_checkpoint_is_a_clear_error(tmp_path):
    r = run_cli("--checkpoint", str(tmp_path / "nope.pth"), "--question", "一")
    assert r.returncode == 1
    assert "python ./minigpt/train.py" in r.stderr and "Traceback" not in r.stderr
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    r = run_cli("--checkpoint", str(bad), "--question", "一")
    assert r.returncode == 1 and r.stderr.startswith(f"错误：{bad}: ") and "Traceback" not in r.stderr


@pytest.mark.slow
def test_cli_answers_from_a_checkpoint(tmp_path, tiny, tok):
    checkpoint = pytest.importorskip("minigpt.checkpoint")
    for seed in range(12, 40):  # a random model whose greedy answer is not empty
        model = tiny(seed, vocab=tok.get_vocab_size())
        want = answer(model, tok, "画蛇添足", max_new_tokens=10)
        if want:
            break
    path = tmp_path / "m.pth"
    checkpoint.save_checkpoint(path, model, "gpt", tok, step=0)

    r = run_cli("--checkpoint", str(path), "--question", "画蛇添足", "--max-new-tokens", "10", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == want

    r = run_cli("--checkpoint", str(path), "--max-new-tokens", "10", "--device", "cpu", stdin="画蛇添足\n守株待兔\n")
    assert r.returncode == 0, r.stderr
    assert f"Q: 画蛇添足\nA: {want}\n" in r.stdout and "Q: 守株待兔" in r.stdout

    r = run_cli("--checkpoint", str(path), "--question", "画蛇添足", "--max-new-tokens", "10", "--sample", "--seed", "1",
                "--temperature", "0.8", "--top-k", "5", "--top-p", "0.9", "--repetition-penalty", "1.2",
                "--device", "cpu")
    assert r.returncode == 0, r.stderr
    sampled = answer(model, tok, "画蛇添足", max_new_tokens=10, do_sample=True, seed=1, temperature=0.8, top_k=5,
                     top_p=0.9, repetition_penalty=1.2)
    assert r.stdout.rstrip("\n").split("\n")[-1] == sampled  # the CLI's knobs reach the sampler


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_generation_matches_cpu_and_is_reproducible(tiny):
    model = tiny(13)
    _, ids, mask = left_padded([7, 3, 5], seed=13)
    kw = dict(attention_mask=mask, stop_token_ids=(2, 3, 4, 5))
    on_cpu = generate(model, ids, 20, **kw)
    model.to("cuda")
    fast = generate(model, ids, 20, **kw)
    assert fast.device.type == "cuda"
    assert torch.equal(fast, generate(model, ids, 20, use_cache=False, **kw))
    assert torch.equal(fast.cpu(), on_cpu)
    assert torch.equal(generate(model, ids, 20, fast=True, **kw), fast)
    a = generate(model, ids, 20, attention_mask=mask, do_sample=True, top_p=0.9, seed=1, stop_token_ids=None)
    b = generate(model, ids, 20, attention_mask=mask, do_sample=True, top_p=0.9, seed=1, stop_token_ids=None)
    assert torch.equal(a, b)


def test_bad_arguments_are_clear_errors(tiny):
    model = tiny(14)
    assert generate(model, torch.tensor([[3, 4]]), 0).tolist() == [[3, 4]]
    with pytest.raises(ValueError, match="负数"):
        generate(model, torch.tensor([[3, 4]]), -1)
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        generate(model, torch.tensor([3, 4]), 2)
    with pytest.raises(ValueError, match="一行"):
        list(stream_generate(model, torch.tensor([[3, 4], [5, 6]]), 2))
