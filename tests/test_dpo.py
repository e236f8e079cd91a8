"""DPO (minigpt/dpo.py): answer log-probabilities, the loss against its written formula, ln 2 at the start,
the loss moving the right way, and the preference-pair reader."""
import copy
import json
import math

import pytest
import torch

from minigpt.dpo import PreferencePair, answer_batch, dpo_batch_loss, dpo_loss, read_pairs, sequence_logprobs
from minigpt.jsonl import DataError

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
