"""DPO (minigpt/dpo.py): answer log-probabilities, the loss against its written formula, ln 2 at the start,
the loss moving the right way, and the preference-pair reader."""
import copy
import json
import math

import pytest
import torch

import minigpt.dpo as dpo
from minigpt.dpo import (REFUSAL, PreferencePair, answer_batch, dpo_batch_loss, dpo_loss, is_refusal, made_up_idioms,
                         read_pairs, refusal_pairs, refusal_rate, sequence_logprobs, write_pairs)
from minigpt.generate import generate
from minigpt.jsonl import DataError
from minigpt.reward import idioms

CHARS = "一二三四五六七八九十天地人山水火风云日月久长海接龙"


@pytest.fixture
def setup(tiny_gpt, char_tokenizer):
    tok = char_tokenizer(CHARS)
    return tiny_gpt(tok.get_vocab_size(), seed=2), tok


def test_loss_equals_the_written_formula_on_a_fixed_batch():
    pc, pr = [-3.0, -5.0, -1.25], [-4.0, -2.0, -7.5]
    rc, rr = [-3.5, -4.0, -2.0], [-3.5, -2.5, -6.0]
    beta = 0.5
    expected = []
    for a, b, c, d in zip(pc, pr, rc, rr):
        z = beta * ((a - c) - (b - d))
        expected.append(-math.log(1 / (1 + math.exp(-z))))  # -log σ(z)
    loss, logits = dpo_loss(*(torch.tensor(v, dtype=torch.float64) for v in (pc, pr, rc, rr)), beta=beta)
    assert loss.item() == pytest.approx(sum(expected) / 3, rel=1e-12)
    assert logits.tolist() == pytest.approx([0.5, -0.75, 1.125])  # 0.5·(0.5+0.5), 0.5·(-1-0.5), 0.5·(0.75+1.5)


def test_answer_logprobs_count_only_the_answer_tokens_and_ignore_padding(setup):
    model, tok = setup
    questions, answers = ["天地接龙", "一二三四五接龙"], ["地久天长", "五"]
    batch_lp = sequence_logprobs(model, answer_batch(tok, questions, answers))
    for q, a, got in zip(questions, answers, batch_lp):
        tokens = tok.encode_text(q) + [tok.sep_token_id] + tok.encode_text(a) + [tok.sep_token_id]
        logp = model(torch.tensor([tokens]))[0].log_softmax(-1)  # (T, V), no padding
        start = len(q) + 1  # first answer token
        expected = sum(logp[i - 1, tokens[i]] for i in range(start, len(tokens)))  # answer chars and the last <sep>
        assert got.item() == pytest.approx(expected.item(), abs=1e-4)


def test_loss_is_ln2_when_the_policy_is_the_reference(setup):
    model, tok = setup
    pairs = [PreferencePair("天地接龙", "地久天长", "人山人海", 1), PreferencePair("水火接龙", "火", "山水", 2)]
    loss, logits = dpo_batch_loss(model, copy.deepcopy(model), tok, pairs, beta=0.3)
    assert loss.item() == pytest.approx(math.log(2), abs=1e-6)
    assert torch.allclose(logits, torch.zeros(2), atol=1e-6)


def test_a_few_steps_move_the_loss_down_and_the_margin_up(setup):
    policy, tok = setup
    reference = copy.deepcopy(policy).eval()
    pairs = [PreferencePair("天地接龙", "地久天长", "人山人海", 1)]
    batch = answer_batch(tok, ["天地接龙"] * 2, ["地久天长", "人山人海"])

    def margin():
        with torch.no_grad():
            lp = sequence_logprobs(policy, batch)
        return (lp[0] - lp[1]).item()

    optimizer = torch.optim.AdamW(policy.parameters(), lr=3e-3)
    start_margin, losses = margin(), []
    for _ in range(8):
        loss, _ = dpo_batch_loss(policy, reference, tok, pairs, beta=0.1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(math.log(2), abs=1e-6)
    assert losses[-1] < losses[0] - 0.05
    assert margin() > start_margin + 0.5


def test_read_pairs_reports_broken_lines_with_file_and_line(tmp_path):
    path = tmp_path / "pairs.jsonl"
    good = {"question": "天地接龙", "chosen": "地久天长", "rejected": "没有这个成语"}
    lines = [json.dumps(good, ensure_ascii=False), "{not json", json.dumps({"question": "q", "chosen": "a"}), "",
             json.dumps({**good, "rejected": good["chosen"]}, ensure_ascii=False), json.dumps([1, 2]),
             json.dumps({**good, "question": "水火接龙"}, ensure_ascii=False)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    messages = []
    pairs = read_pairs(path, warn=messages.append)
    assert [(p.question, p.line) for p in pairs] == [("天地接龙", 1), ("水火接龙", 7)]
    warnings = [m for m in messages if m.startswith("警告")]
    assert [m.split(": ")[0] for m in warnings] == [f"警告：{path}:{n}" for n in (2, 3, 5, 6)]
    assert "rejected" in warnings[1] and "一样" in warnings[2]
    assert messages[-1] == f"{path}: 保留 2 个偏好对，跳过 4 行"


def test_read_pairs_with_no_valid_line_is_one_clear_error(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text("{}\n", encoding="utf-8")
    with pytest.raises(DataError, match="没有一行有效的偏好对"):
        read_pairs(path, warn=lambda m: None)
    with pytest.raises(DataError, match="找不到"):
        read_pairs(tmp_path / "missing.jsonl")


# ---------------------------------------------------------------- refusal data: made-up idioms
def test_made_up_idioms_are_never_idioms_nor_share_a_four_character_run_with_one():
    words = idioms()
    runs = {w[i:i + 4] for w in words for i in range(len(w) - 3)}  # every 4 consecutive characters of every idiom
    chars = {c for w in words for c in w}
    fakes = made_up_idioms(300, seed=5)
    assert len(fakes) == len(set(fakes)) == 300
    for w in fakes:
        assert len(w) == 4 and set(w) <= chars and w not in words and w not in runs, w
    # a five-character idiom's inner run is an example of what "no shared 4-gram" excludes
    assert "一不做二不休"[1:5] in runs and "一不做二不休"[1:5] not in words


def test_made_up_idioms_are_reproducible_and_honour_exclude_and_alphabet():
    first = made_up_idioms(40, seed=1)
    assert made_up_idioms(40, seed=1) == first
    assert made_up_idioms(40, seed=2) != first
    fresh = made_up_idioms(40, seed=1, exclude=first[:20])
    assert not set(fresh) & set(first[:20])
    alphabet = set("一二三四五六七八九十天地人山水火风云日月")
    small = made_up_idioms(30, seed=3, alphabet=alphabet)
    assert all(set(w) <= alphabet for w in small)
    with pytest.raises(ValueError):
        made_up_idioms(5, alphabet=set("ab"))


@pytest.mark.parametrize("answer, refused", [
    ("没有这个成语", True), ("没有这个成语。", True), ("“没有这个成语”", True), ("  这不是成语！", True),
    ("我不知道这个成语的意思", True), ("不是成语", True),
    ("比喻做了多余的事，反而不恰当。", False), ("形容人不知道天高地厚", False), ("有这个成语", False), ("", False),
])
def test_is_refusal(answer, refused):
    assert is_refusal(answer) is refused


# ---------------------------------------------------------------- refusal pairs from the model's own answers
def greedy(model, tok, question, n=12):
    x = torch.tensor([tok.encode(question, None, pad_to_max_length=False)[0]])
    out = generate(model, x, n, stop_token_ids=(tok.sep_token_id,))[0, x.shape[1]:].tolist()
    return tok.decode(out[:out.index(tok.sep_token_id)] if tok.sep_token_id in out else out)


def test_refusal_pairs_use_the_models_own_greedy_answer_as_rejected(tiny_gpt, char_tokenizer):
    tok = char_tokenizer(CHARS + "是什么意思？“”的成语啥 ")
    model = tiny_gpt(tok.get_vocab_size(), seed=7)
    with torch.no_grad():  # an untrained model with tied embeddings answers <sep> at once: make it say something
        model.lm_head.weight[tok.sep_token_id] *= 0.2
    fakes = made_up_idioms(3, seed=0, alphabet=set(CHARS))
    pairs = refusal_pairs(model, tok, fakes, questions_per_idiom=2, seed=4, max_new_tokens=12)
    assert len(pairs) == 6 and [p.line for p in pairs] == list(range(1, 7))
    asked = [p.question for p in pairs]
    assert len(set(asked)) == 6 and all(w in q for i, w in enumerate(fakes) for q in asked[2 * i:2 * i + 2])
    for p in pairs:
        assert p.chosen == REFUSAL
        assert p.rejected == greedy(model, tok, p.question)
    assert refusal_pairs(model, tok, fakes, questions_per_idiom=2, seed=4, max_new_tokens=12) == pairs


def test_refusal_pairs_skip_answers_that_already_refuse_and_rate_counts_them(monkeypatch, tmp_path):
    canned = {"甲乙丙丁": "没有这个成语。", "戊己庚辛": "比喻编出来的意思", "壬癸子丑": ""}
    monkeypatch.setattr(dpo, "greedy_answers", lambda m, t, qs, **kw: [next(a for w, a in canned.items() if w in q) for q in qs])
    pairs = refusal_pairs(None, None, list(canned), questions_per_idiom=1)
    assert [(p.chosen, p.rejected) for p in pairs] == [(REFUSAL, "比喻编出来的意思")]
    assert refusal_rate(None, None, list(canned)) == pytest.approx(1 / 3)
    path = tmp_path / "pairs.jsonl"
    write_pairs(path, pairs)
    assert read_pairs(path, warn=lambda m: None) == pairs


def test_made_up_idioms_are_the_same_in_every_process():
    """The dictionary is a frozenset, iterated in an order that changes with PYTHONHASHSEED."""
    import os
    import subprocess
    import sys
    code = "from minigpt.dpo import made_up_idioms; print(made_up_idioms(5, seed=0))"
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": h}).stdout for h in ("0", "1")}
    assert len(outs) == 1


def test_the_nll_term_adds_the_chosen_answers_mean_token_nll(setup):
    """RPO: DPO + w · (the chosen answers' negative log-likelihood per token), computed here token by token."""
    model, tok = setup
    pairs = [PreferencePair("天地接龙", "地久天长", "人山人海", 1), PreferencePair("水火接龙", "火", "山水", 2)]
    reference = copy.deepcopy(model)
    plain, _ = dpo_batch_loss(model, reference, tok, pairs, beta=0.3)
    with_nll, _ = dpo_batch_loss(model, reference, tok, pairs, beta=0.3, nll_weight=0.5)
    nll, count = 0.0, 0
    for p in pairs:
        tokens = tok.encode_text(p.question) + [tok.sep_token_id] + tok.encode_text(p.chosen) + [tok.sep_token_id]
        logp = model(torch.tensor([tokens]))[0].log_softmax(-1)
        start = len(p.question) + 1
        nll -= sum(logp[i - 1, tokens[i]].item() for i in range(start, len(tokens)))
        count += len(tokens) - start  # 地久天长 <sep> = 5, 火 <sep> = 2
    assert count == 7
    assert with_nll.item() == pytest.approx(plain.item() + 0.5 * nll / count, abs=1e-4)


def test_details_split_the_margin_into_the_chosen_and_rejected_rewards(setup):
    model, tok = setup
    pairs = [PreferencePair("天地接龙", "地久天长", "人山人海", 1), PreferencePair("水火接龙", "火", "山水", 2)]
    reference = copy.deepcopy(model)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))  # the policy has moved a little
    details = {}
    _, margins = dpo_batch_loss(model, reference, tok, pairs, beta=0.3, details=details)
    assert details["chosen"] - details["rejected"] == pytest.approx(margins.mean().item(), abs=1e-5)
    batch = answer_batch(tok, [p.question for p in pairs], [p.chosen for p in pairs])
    expected = 0.3 * (sequence_logprobs(model, batch) - sequence_logprobs(reference, batch)).mean().item()
    assert details["chosen"] == pytest.approx(expected, abs=1e-5) and details["chosen"] != 0
