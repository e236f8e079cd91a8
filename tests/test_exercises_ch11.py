"""Chapter 11's exercises (minigpt/exercises/ch11.py): right answers written another way pass, realistic wrong answers
written from the task text alone are rejected with a hint, and the predict exercises' truths agree with a count done
by hand here (not by the code that computes them).

    pytest tests/test_exercises_ch11.py -q
"""
import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from minigpt.exercises import check
from minigpt.exercises.core import get

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _progress_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGPT_PROGRESS", str(tmp_path / "progress.json"))


def test_predict_truths_agree_with_a_count_by_hand():
    rows = [json.loads(line) for line in (ROOT / "data" / "data.jsonl").read_text(encoding="utf-8").splitlines()]
    V = 3 + len({c for r in rows for c in r["question"] + r["answer"]})  # <pad> <unk> <sep> + every character
    d, layers, ctx = 256, 4, 128  # the cpu preset
    per_block = 12 * d * d + 3 * d  # qkv, out, fc, proj weights; only qkv_proj has a bias
    total = V * d + ctx * d + layers * (per_block + 4 * d) + 2 * d  # embeddings, blocks with two LayerNorms, ln_f
    lora = layers * 8 * ((d + 3 * d) + (d + d) + (d + 4 * d) + (4 * d + d))  # r·(in + out) per adapted layer
    assert get("11.1").reference() == pytest.approx(100 * lora / total, rel=1e-9)
    assert get("11.6").reference() == pytest.approx(math.log(2), abs=1e-6)


# ---------------------------------------------------------------- right answers, written another way
def lora_einsum(x, W, A, B, alpha, rank):
    base = torch.einsum("...i,oi->...o", x, W)
    return base + torch.einsum("...r,or->...o", torch.einsum("...i,ri->...r", x, A), B) * alpha / rank


def merge_via_delta(W, A, B, alpha, rank):
    delta = torch.zeros_like(W)
    for r in range(rank):
        delta += torch.outer(B[:, r], A[r])
    return W + delta * (alpha / rank)


def dpo_by_hand(pc, pr, rc, rr, beta):
    z = beta * ((pc - rc) - (pr - rr))
    return torch.log1p(torch.exp(-z)).mean()  # -log σ(z) = log(1 + e^-z)


def seq_logprob_loop(logits, targets, mask):
    out = torch.zeros(logits.shape[0])
    logp = F.log_softmax(logits, dim=-1)
    for b in range(logits.shape[0]):
        for t in range(logits.shape[1]):
            if mask[b, t]:
                out[b] += logp[b, t, targets[b, t]]
    return out


def advantages_rowwise(rewards, eps):
    rows = []
    for r in rewards:
        if len(r) == 1:
            rows.append(torch.zeros(1))
        else:
            rows.append((r - r.mean()) / (r.std() + eps))
    return torch.stack(rows)


def k3_from_ratio(logp, ref_logp):
    ratio = torch.exp(ref_logp - logp)  # π_ref / π
    return ratio - torch.log(ratio) - 1


def clipped_where(ratio, adv, eps):
    A = adv.unsqueeze(1).expand_as(ratio)
    clipped = torch.clamp(ratio, min=1 - eps, max=1 + eps)
    return torch.where(ratio * A < clipped * A, ratio * A, clipped * A)


RIGHT = [("11.1", 3.3), ("11.1", 3.6), ("11.2", lora_einsum), ("11.3", merge_via_delta), ("11.4", dpo_by_hand),
         ("11.5", seq_logprob_loop), ("11.6", math.log(2)), ("11.6", 0.7), ("11.7", advantages_rowwise),
         ("11.8", k3_from_ratio), ("11.9", clipped_where)]


@pytest.mark.parametrize("ex, answer", RIGHT, ids=[f"{e}-{i}" for i, (e, _) in enumerate(RIGHT)])
def test_right_answers_pass(ex, answer, capsys):
    assert check(ex, answer)
    assert capsys.readouterr().out.startswith("✅")


# ---------------------------------------------------------------- wrong answers a learner writes
WRONG = {
    "11.1 total trainable counts every parameter of the four layers": ("11.1", 80.7),
    "11.1 rank 8 times the width, per layer": ("11.1", 100 * 4 * 4 * 8 * 256 / 3_899_392),
    "11.1 a fraction, not a percentage": ("11.1", 0.034),
    "11.2 alpha instead of alpha/r": ("11.2", lambda x, W, A, B, a, r: x @ W.T + a * x @ A.T @ B.T),
    "11.2 only the adapter": ("11.2", lambda x, W, A, B, a, r: a / r * x @ A.T @ B.T),
    "11.2 A and B swapped": ("11.2", lambda x, W, A, B, a, r: x @ W.T + a / r * x @ B @ A),
    "11.3 in place": ("11.3", lambda W, A, B, a, r: W.add_(a / r * B @ A)),
    "11.3 no scaling": ("11.3", lambda W, A, B, a, r: W + B @ A),
    "11.4 rejected minus chosen": ("11.4", lambda pc, pr, rc, rr, b: -F.logsigmoid(b * ((pr - rr) - (pc - rc))).mean()),
    "11.4 no reference": ("11.4", lambda pc, pr, rc, rr, b: -F.logsigmoid(b * (pc - pr)).mean()),
    "11.4 beta divides": ("11.4", lambda pc, pr, rc, rr, b: -F.logsigmoid(((pc - rc) - (pr - rr)) / b).mean()),
    "11.5 sums the prompt tokens too": ("11.5", lambda lg, t, m: lg.log_softmax(-1).gather(-1, t[..., None]).squeeze(-1).sum(-1)),
    "11.5 mean per token": ("11.5", lambda lg, t, m: (lg.log_softmax(-1).gather(-1, t[..., None]).squeeze(-1) * m).sum(-1) / m.sum(-1)),
    "11.5 raw logits": ("11.5", lambda lg, t, m: (lg.gather(-1, t[..., None]).squeeze(-1) * m).sum(-1)),
    "11.6 zero": ("11.6", 0.0),
    "11.6 sigma of zero": ("11.6", 0.5),
    "11.7 std without eps": ("11.7", lambda r, eps: (r - r.mean(1, keepdim=True)) / r.std(1, keepdim=True)),
    "11.7 population std": ("11.7", lambda r, eps: (r - r.mean(1, keepdim=True)) / (r.std(1, keepdim=True, unbiased=False) + eps)),
    "11.7 normalised over the batch": ("11.7", lambda r, eps: (r - r.mean()) / (r.std() + eps)),
    "11.8 k1": ("11.8", lambda lp, rp: lp - rp),
    "11.8 absolute difference": ("11.8", lambda lp, rp: (lp - rp).abs()),
    "11.8 ratio the other way": ("11.8", lambda lp, rp: torch.exp(lp - rp) - (lp - rp) - 1),
    "11.9 max instead of min": ("11.9", lambda r, a, e: torch.max(r * a[:, None], r.clamp(1 - e, 1 + e) * a[:, None])),
    "11.9 no clipping": ("11.9", lambda r, a, e: r * a[:, None]),
    "11.9 clip range 0..1+eps": ("11.9", lambda r, a, e: torch.min(r * a[:, None], r.clamp(0, 1 + e) * a[:, None])),
}


@pytest.mark.parametrize("label", list(WRONG))
def test_wrong_answers_are_rejected_with_a_hint(label, capsys):
    ex, answer = WRONG[label]
    assert not check(ex, answer)
    out = capsys.readouterr().out
    assert out.startswith("❌") and "提示：" in out and "判题器出错了" not in out, out


def test_an_all_zero_answer_is_rejected_with_a_hint(capsys):
    assert not check("11.3", lambda W, A, B, a, r: torch.zeros_like(W))
    out = capsys.readouterr().out
    assert out.startswith("❌") and "判题器出错了" not in out and "全是 0" in out, out
