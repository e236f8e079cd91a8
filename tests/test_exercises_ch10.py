"""Chapter 10's exercises (minigpt/exercises/ch10.py), checked from outside the checker.

- Each listed wrong solution (Wrong) has a regression test here: the mistake written again the way a learner would
  write it (not the checker's own function), rejected with that Wrong's hint.
- Learner-style correct solutions other than the stored one pass (the checker tests properties, not one text).
- The truths are computed here independently: 10.3's share straight from data/data.jsonl's characters,
  10.2's rows from the task's own definition, 10.4's numbers by hand.
Progress goes to a tmp file.
"""
import json
import random
from pathlib import Path

import pytest
import torch

from minigpt.exercises import check
from minigpt.exercises.core import get
from minigpt.pretrain import pack as package_pack

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _progress_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGPT_PROGRESS", str(tmp_path / "progress.json"))


def hint_of(exercise_id: str, words: str) -> str:
    """The hint of the Wrong of this exercise whose hint contains `words` (exactly one)."""
    found = [w.hint for w in get(exercise_id).wrong if words in w.hint]
    assert len(found) == 1, (exercise_id, words, found)
    return found[0]


def rejected(exercise_id, answer, capsys) -> str:
    assert not check(exercise_id, answer)
    out = capsys.readouterr().out
    assert out.startswith("❌") and "提示：" in out, out
    return out


def passed(exercise_id, answer, capsys) -> str:
    assert check(exercise_id, answer)
    out = capsys.readouterr().out
    assert out.startswith("✅"), out
    return out


# ====================================================================== 10.3 predict: the answer-only share
def test_answer_share_truth_from_the_raw_data():
    """Character-level: a pair's sequence q <sep> a <sep> has len(q) + len(a) + 1 targets, len(a) + 1 of them learned."""
    rows = [json.loads(line) for line in (ROOT / "data" / "data.jsonl").read_text(encoding="utf-8").splitlines()]
    learned = sum(len(r["answer"]) + 1 for r in rows)
    every = sum(len(r["question"]) + len(r["answer"]) + 1 for r in rows)
    from minigpt.exercises.ch10 import _answer_share
    assert _answer_share() == pytest.approx(learned / every, abs=1e-12)


@pytest.mark.parametrize("guess, words", [(1.0, "预训练"), (0.25, "4 个字")])
def test_prediction_wrong_guesses(guess, words, capsys):
    out = rejected("10.3", guess, capsys)
    assert hint_of("10.3", words) in out and "为什么：" in out


def test_prediction_half_is_close_enough(capsys):
    passed("10.3", 0.5, capsys)  # the truth is about 0.49: half the positions are learned


# ====================================================================== 10.2 pack
def by_definition(docs, block_size, eos_id):
    """The task's words: row i is stream[i*B : (i+1)*B] inclusive; rows that would run past the stream are dropped."""
    stream = [eos_id] + [t for doc in docs for t in doc + [eos_id]]
    rows = [stream[i * block_size:(i + 1) * block_size + 1] for i in range(len(stream))]
    return torch.tensor([r for r in rows if len(r) == block_size + 1], dtype=torch.long).reshape(-1, block_size + 1)


@pytest.mark.parametrize("seed", range(5))
def test_reference_pack_is_the_definition(seed):
    rng = random.Random(seed)
    docs = [[rng.randrange(3, 40) for _ in range(rng.randrange(0, 9))] for _ in range(rng.randrange(1, 15))]
    block, eos = rng.randrange(1, 9), rng.randrange(0, 3)
    if (1 + sum(len(d) + 1 for d in docs) - 1) // block == 0:
        return
    assert torch.equal(package_pack(docs, block, eos), by_definition(docs, block, eos))


def pack_stacked(docs, block_size, eos_id):
    stream = [eos_id]
    for d in docs:
        stream.extend(d)
        stream.append(eos_id)
    n = (len(stream) - 1) // block_size
    return torch.stack([torch.tensor(stream[i * block_size:i * block_size + block_size + 1]) for i in range(n)])


def pack_no_overlap(docs, block_size, eos_id):
    stream = [eos_id] + sum((d + [eos_id] for d in docs), [])
    n = len(stream) // (block_size + 1)
    return torch.tensor(stream[:n * (block_size + 1)]).view(n, block_size + 1)


def pack_no_leading_eos(docs, block_size, eos_id):
    stream = sum((d + [eos_id] for d in docs), [])
    n = (len(stream) - 1) // block_size
    return torch.tensor(stream[:n * block_size + 1]).unfold(0, block_size + 1, block_size)


def pack_pad_tail(docs, block_size, eos_id):
    stream = [eos_id] + sum((d + [eos_id] for d in docs), [])
    rows, i = [], 0
    while i < len(stream) - 1:
        row = stream[i:i + block_size + 1]
        rows.append(row + [eos_id] * (block_size + 1 - len(row)))
        i += block_size
    return torch.tensor(rows)


def pack_join(docs, block_size, eos_id):  # eos between documents, none after the last
    stream = [eos_id]
    for j, d in enumerate(docs):
        stream += d if j == len(docs) - 1 else d + [eos_id]
    n = (len(stream) - 1) // block_size
    return torch.tensor(stream[:n * block_size + 1]).unfold(0, block_size + 1, block_size)


def pack_concat(docs, block_size, eos_id):
    stream = [t for d in docs for t in d]
    n = (len(stream) - 1) // block_size
    return torch.tensor(stream[:n * block_size + 1]).unfold(0, block_size + 1, block_size)


def pack_rows_of_block(docs, block_size, eos_id):  # no room for the shifted target
    stream = [eos_id] + sum((d + [eos_id] for d in docs), [])
    n = len(stream) // block_size
    return torch.tensor(stream[:n * block_size]).view(n, block_size)


def pack_pad_zero(docs, block_size, eos_id):
    stream = [eos_id] + sum((d + [eos_id] for d in docs), [])
    n = -(-(len(stream) - 1) // block_size)
    stream += [0] * (n * block_size + 1 - len(stream))
    return torch.tensor(stream).unfold(0, block_size + 1, block_size)


def test_pack_learner_solution_passes(capsys):
    passed("10.2", pack_stacked, capsys)


@pytest.mark.parametrize("fn, words", [(pack_no_overlap, "共用一个 token"), (pack_no_leading_eos, "开头也要"),
                                       (pack_pad_tail, "不要填充"), (pack_join, "最后一篇"), (pack_concat, "隔开")])
def test_pack_wrong_solutions(fn, words, capsys):
    assert hint_of("10.2", words) in rejected("10.2", fn, capsys)


@pytest.mark.parametrize("fn, words", [(pack_rows_of_block, "block_size + 1 个 token"), (pack_pad_zero, "多出了一行")])
def test_pack_unlisted_mistakes_get_a_pointed_hint(fn, words, capsys):
    assert words in rejected("10.2", fn, capsys)


def test_pack_cases_drop_a_tail_and_span_rows():
    """The cases include one whose tail is dropped and one whose document spans several rows."""
    cases = [c.args() for c in get("10.2").cases]
    tails = [(1 + sum(len(d) + 1 for d in docs) - 1) % block for docs, block, _ in cases]
    assert any(tails) and not all(tails)
    assert any(max(len(d) for d in docs) > 2 * block for docs, block, _ in cases)
    assert len({block for _, block, _ in cases}) >= 4 and len({eos for *_, eos in cases}) >= 4


# ====================================================================== 10.1 augment
def augment_shuffled(word, facts, k, rng):
    """Another right way: shuffle the facts each time, and make sure two docs differ in order when they can."""
    frames = ["{w}的{k}是{v}。", "关于{w}：{k}，{v}。", "{w}——{k}：{v}。", "提到{w}，它的{k}是{v}。", "成语{w}的{k}为{v}。"]
    docs, orders = [], set()
    while len(docs) < k:
        keys = list(facts)
        rng.shuffle(keys)
        if len(docs) == k - 1 and len(keys) > 1 and orders == {tuple(keys)}:
            keys.reverse()
        doc = "".join(rng.choice(frames).format(w=word, k=key, v=facts[key]) for key in keys)
        if doc not in docs:
            docs.append(doc)
            orders.add(tuple(keys))
    return docs


def augment_same(word, facts, k, rng):
    doc = "".join(f"{word}的{key}是{value}" for key, value in facts.items())
    return [doc] * k


def augment_fixed_order(word, facts, k, rng):
    frames = ["{w}的{k}是{v}。", "关于{w}：{k}，{v}。", "{w}——{k}：{v}。", "成语{w}的{k}为{v}。"]
    docs = []
    while len(docs) < k:
        doc = "".join(rng.choice(frames).format(w=word, k=key, v=value) for key, value in facts.items())
        if doc not in docs:
            docs.append(doc)
    return docs


def augment_pronoun(word, facts, k, rng):
    docs = []
    while len(docs) < k:
        keys = list(facts)
        start = len(docs) % len(keys)
        keys = keys[start:] + keys[:start]
        doc = f"{word}。" + "".join(rng.choice(["它的{k}是{v}。", "这个成语的{k}：{v}。", "其{k}为{v}。"]).format(k=key, v=facts[key])
                                     for key in keys)
        if doc not in docs:
            docs.append(doc)
    return docs


def augment_first_facts_only(word, facts, k, rng):
    kept = list(facts)[:-1] or list(facts)  # forgets the last fact (when there is more than one)
    docs = []
    while len(docs) < k:
        doc = "".join(rng.choice(["{w}的{k}是{v}。", "说到{w}，{k}：{v}。", "{w}：{k}，{v}。", "成语{w}的{k}为{v}。"])
                      .format(w=word, k=key, v=facts[key]) for key in kept)
        if doc not in docs:
            docs.append(doc)
    return docs


def augment_global_random(word, facts, k, rng):
    return augment_shuffled(word, facts, k, random)  # the module's random, not the rng it was given


def test_augment_other_right_solution_passes(capsys):
    passed("10.1", augment_shuffled, capsys)


@pytest.mark.parametrize("fn, words", [(augment_same, "一模一样"), (augment_fixed_order, "顺序每篇都一样"),
                                       (augment_pronoun, "用“它”"), (augment_global_random, "只能来自参数 rng")])
def test_augment_wrong_solutions(fn, words, capsys):
    assert hint_of("10.1", words) in rejected("10.1", fn, capsys)


def test_augment_dropped_fact(capsys):
    out = rejected("10.1", augment_first_facts_only, capsys)
    assert "每个事实" in out, out


def test_augment_not_a_list_of_k_strings(capsys):
    out = rejected("10.1", lambda word, facts, k, rng: "\n".join(augment_shuffled(word, facts, k, rng)), capsys)
    assert "list" in out, out


def test_augment_cases_vary_every_value():
    cases = [c.args() for c in get("10.1").cases]
    for i in range(4):
        assert len({repr(args[i]) for args in cases}) >= 4, i
    assert {len(facts) for _, facts, _, _ in cases} >= {1, 2, 3, 4} and min(k for *_, k, _ in cases) == 1


# ====================================================================== 10.4 MFU
def test_mfu_values_by_hand():
    from minigpt.exercises.ch10 import _mfu
    assert _mfu(6000, 3.9e6, 2e11) == pytest.approx(0.702)  # 6 * 3.9e6 * 6e3 = 1.404e11 FLOP/s
    assert _mfu(1200, 25e6, 5e11) == pytest.approx(0.36)  # 1.8e11 / 5e11


@pytest.mark.parametrize("fn, words", [
    (lambda t, n, p: 2 * n * t / p, "2N 只是前向"),
    (lambda t, n, p: (n + 2 * n) * t / p, "一次乘加"),
    (lambda t, n, p: round(6 * n * t / p * 100, 6), "百分数"),
    (lambda t, n, p: p / (6 * n * t), "除反了"),
])
def test_mfu_wrong_solutions(fn, words, capsys):
    assert hint_of("10.4", words) in rejected("10.4", fn, capsys)


def test_mfu_learner_solution_passes(capsys):
    passed("10.4", lambda tokens_per_s, n_params, peak_flops: tokens_per_s * (2 + 4) * n_params / peak_flops, capsys)
