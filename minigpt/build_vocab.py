"""第 1 章：从问答 JSONL 文件建字符词表（vocab.json）。

    python ./minigpt/build_vocab.py --data ./data/data.jsonl --output ./data/vocab.json

问题或答案里出现的每个字符都是一个 token。编号：<pad>=0、<unk>=1、<sep>=2，然后按 Unicode 顺序排字符，
所以同样的数据总是得到同样的编号。文件是种子代码（课程出发点的那份原始代码）的格式
（{"word2id": ..., "id2word": ...}，indent=4，ensure_ascii=False），有效输入下和种子代码的 build_vocab.py
写出的逐字节相同。

模型和训练它的词表绑在一起：改了数据要重建词表，再重新训练。替换已有的 vocab.json 时，脚本会说一声，
并说明编号变了没有。
"""
from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

if __package__ in (None, ""):  # run as `python ./minigpt/build_vocab.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minigpt.cli import ArgumentParser, DataError, UserError, report
from minigpt.jsonl import atomic_write_text, read_qa_jsonl
from minigpt import tokenizer

__all__ = ["SPECIAL_TOKENS", "count_chars", "vocab_from_counter", "vocab_json", "write_vocab", "build_vocab", "main"]

SPECIAL_TOKENS = list(tokenizer.SPECIAL_TOKENS)  # 列表：打印出来和种子代码一样


def count_chars(data, *, warn=print) -> Counter:
    """问题和答案里每个字符出现多少次。data：JSONL 文件的路径，或者已经读出的问答对（QAPair 的列表）。"""
    pairs = data if isinstance(data, list) else read_qa_jsonl(data, warn=warn)
    counter = Counter()
    for pair in pairs:
        counter.update(pair.question)
        counter.update(pair.answer)
    return counter


def vocab_from_counter(counter: Counter) -> dict:
    """种子代码格式的词表 dict：先是特殊 token，再按 Unicode 顺序排字符。"""
    chars = sorted(counter.keys())
    word2id = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    for char in chars:
        if char not in word2id:  # 单个字符不可能等于特殊 token；以防万一
            word2id[char] = len(word2id)
    id2word = {i: token for token, i in word2id.items()}
    return {"word2id": word2id, "id2word": id2word}


def vocab_json(vocab: dict) -> str:
    """和种子代码写出的文本完全相同（json.dump，ensure_ascii=False，indent=4，末尾没有换行）。"""
    return json.dumps(vocab, ensure_ascii=False, indent=4)


def _check_output(output_path) -> None:
    if Path(output_path).is_dir():
        raise DataError(f"{output_path}: 是一个文件夹；请给一个文件名，比如 {Path(output_path) / 'vocab.json'}")


def write_vocab(vocab: dict, output_path, *, say=print) -> None:
    """把词表写到 output_path（原子写入）；覆盖已有的文件时用 say 说一声，编号变了没有。"""
    _check_output(output_path)
    output = Path(output_path)
    if output.exists():
        try:
            old = json.loads(output.read_text(encoding="utf-8"))["word2id"]
        except (OSError, ValueError, KeyError, TypeError):
            old = None
        if old == vocab["word2id"]:
            say(f"注意：{output_path} 已经存在，编号相同；原样重写")
        else:
            size = f"（原来 {len(old)} 个 token）" if isinstance(old, dict) else ""
            say(f"注意：覆盖已有的 {output_path}{size}：编号变了，用旧词表训练的模型和它对不上"
                "（重新训练，或者把旧文件和它的模型放在一起保留）")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"{output.parent}: 建不了这个文件夹（{e.strerror or e}）") from None
    atomic_write_text(output, vocab_json(vocab))  # 崩溃也不会留下写了一半的 vocab.json


def build_vocab(data_path: str, output_path: str, *, warn=print) -> dict:
    """数 data_path 里的字符，把 vocab.json 写到 output_path，返回词表 dict。"""
    _check_output(output_path)  # 先检查，免得读完数据才发现写不了
    counter = count_chars(data_path, warn=warn)
    vocab = vocab_from_counter(counter)
    write_vocab(vocab, output_path)

    chars = sorted(counter.keys())
    print(f"✅ 词表已建好，保存到 {output_path}")
    print(f"   token 总数：{len(vocab['word2id'])}")
    print(f"   特殊 token：{SPECIAL_TOKENS}")
    print(f"   字符示例：{chars[:10]}...")
    return vocab


def main(argv=None) -> int:
    parser = ArgumentParser(description="从问答数据建字符词表（第 1 章）。")
    parser.add_argument("--data", type=str, required=True, help="训练数据的路径（JSONL 格式）")
    parser.add_argument("--output", type=str, default="vocab.json", help="词表文件写到哪里")
    args = parser.parse_args(argv)
    try:
        build_vocab(args.data, args.output)
    except UserError as e:
        return report(e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
