"""第 1–4 章练习共用的小样本：几对成语问答（和 data/data.jsonl 里的题型相同），以及由它们建的词表。

判题不读 data/ 里的真实数据：数据会更新，用例却要每次都一样。
"""
import contextlib
import io
import json
import tempfile
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

from minigpt.build_vocab import vocab_from_counter
from minigpt.tokenizer import Tokenizer

PAIRS = [
    ("成语“画蛇添足”的意思是什么？", "比喻做了多余的事，非但无益，反而不合适。"),
    ("请写出“画蛇添足”的拼音。", "huà shé tiān zú"),
    ("用“画蛇添足”接龙，下一个成语是？", "足智多谋"),
    ("填空：一丝一＿，这是哪个成语？", "一丝一毫"),
    ("成语接龙：“一丝不苟”后面接什么？", "苟延残喘"),
]


def char_counter(pairs=PAIRS) -> Counter:
    counter = Counter()
    for question, answer in pairs:
        counter.update(question)
        counter.update(answer)
    return counter


def word2id(pairs=PAIRS) -> dict:
    """课程包（build_vocab.vocab_from_counter）给这些问答建的词表：<pad>=0, <unk>=1, <sep>=2, 然后按码位排序的字。"""
    return vocab_from_counter(char_counter(pairs))["word2id"]


def tokenizer(pairs=PAIRS) -> Tokenizer:
    return Tokenizer.from_word2id(word2id(pairs))


@contextmanager
def jsonl_file(pairs):
    """把问答对写进临时的 JSONL 文件（课程包的函数要读文件时用），离开时删掉。"""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.jsonl"
        lines = [json.dumps({"question": q, "answer": a}, ensure_ascii=False) for q, a in pairs]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        yield path


def quietly(fn, *args, **kwargs):
    """调用课程包的函数，不显示它打印的进度（判题输出里只留判题的话）。"""
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)
