"""Chapter 3: split a question/answer JSONL file into train.jsonl and val.jsonl (written beside it).

    python ./minigpt/split_data.py --input ./data/data.jsonl --train_ratio 0.8

Same split as the seed: the valid lines, kept exactly as written (stripped of surrounding
whitespace), shuffled with Python's `random` seeded with --seed (default 42); the first
int(n * train_ratio) go to train.jsonl, the rest to val.jsonl. For valid input the two files are
byte-for-byte the seed's. Unlike the seed, a line is kept only if every reader of the course accepts
it (see minigpt/jsonl.py), so a bad line can never reach training through the split files.

train_ratio must lie strictly between 0 and 1 and leave at least one pair on each side.

`prepare_data()` makes vocab.json, train.jsonl and val.jsonl only where they are missing or out of
date: later chapters call it so that each notebook runs on its own in a fresh clone.
"""
from __future__ import annotations

import contextlib
import io
import random
import sys
from collections import Counter
from pathlib import Path

if __package__ in (None, ""):  # run as `python ./minigpt/split_data.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minigpt.cli import ArgumentParser
from minigpt.jsonl import DataError, atomic_write_text, read_qa_jsonl


def shuffle_and_cut(lines: list, train_ratio: float, seed: int) -> tuple[list, list]:
    """The seed's shuffle and cut. random.Random(seed) draws exactly what random.seed(seed) would,
    without disturbing the global random state of the caller."""
    data = list(lines)
    random.Random(seed).shuffle(data)
    n_train = int(len(data) * train_ratio)
    return data[:n_train], data[n_train:]


def split_jsonl_data(input_path: str, train_ratio: float = 0.9, seed: int = 42, *, warn=print) -> tuple[Path, Path]:
    """Split input_path into train.jsonl / val.jsonl in the same folder; return their paths."""
    if not (isinstance(train_ratio, (int, float)) and 0 < train_ratio < 1):
        raise DataError(f"train_ratio must be between 0 and 1 (exclusive), got {train_ratio}")
    input_path = Path(input_path)
    output_dir = input_path.parent
    train_path = output_dir / "train.jsonl"
    val_path = output_dir / "val.jsonl"
    for out in (train_path, val_path):
        if input_path.exists() and out.exists() and out.resolve() == input_path.resolve():
            raise DataError(f"{input_path}: the input would be overwritten by the split; rename it (e.g. data.jsonl)")

    pairs = read_qa_jsonl(input_path, warn=warn)
    train_data, val_data = shuffle_and_cut([p.raw for p in pairs], train_ratio, seed)
    if not train_data or not val_data:
        raise DataError(
            f"{input_path}: {len(pairs)} valid QA pairs with train_ratio={train_ratio} give "
            f"{len(train_data)} for training and {len(val_data)} for validation; both need at least one "
            "(add data or change --train_ratio)"
        )

    for out in (train_path, val_path):
        if out.exists():
            print(f"注意：覆盖已有的 {out}")
    atomic_write_text(train_path, "\n".join(train_data) + "\n")  # the seed's file layout
    atomic_write_text(val_path, "\n".join(val_data) + "\n")

    print("✅ Split completed!")
    print(f"   Total samples: {len(pairs)}")
    print(f"   Train: {len(train_data)} → {train_path}")
    print(f"   Val:   {len(val_data)} → {val_path}")
    print(f"   Train ratio: {train_ratio:.1%}")
    return train_path, val_path


def prepare_data(data_path="./data/data.jsonl", train_ratio: float = 0.8, seed: int = 42, *, vocab_path=None, warn=None) -> dict:
    """Make sure the seed's outputs exist and match the data: vocab.json, train.jsonl and val.jsonl.

    For notebooks and tests that must run on their own in a fresh clone: builds what is missing or out
    of date (a vocabulary whose ids differ from the data's, split files that differ from the split
    of the current data with train_ratio and seed; 0.8 and 42 are the seed's README command), leaves
    the rest alone, and prints one line saying which. vocab_path defaults to vocab.json beside the data.
    Returns {"vocab": Path, "train": Path, "val": Path}.
    """
    from minigpt.build_vocab import build_vocab, count_chars, vocab_from_counter, vocab_json

    quiet = warn if warn is not None else (lambda msg: None)
    data_path = Path(data_path)
    vocab_path = Path(vocab_path) if vocab_path is not None else data_path.parent / "vocab.json"
    train_path, val_path = data_path.parent / "train.jsonl", data_path.parent / "val.jsonl"
    pairs = read_qa_jsonl(data_path, warn=quiet)
    made = []

    counter = Counter()
    for pair in pairs:
        counter.update(pair.question)
        counter.update(pair.answer)
    expected_vocab = vocab_json(vocab_from_counter(counter))
    if not vocab_path.exists() or vocab_path.read_text(encoding="utf-8") != expected_vocab:
        made.append(f"{'rebuilt' if vocab_path.exists() else 'built'} {vocab_path}")
        with contextlib.redirect_stdout(io.StringIO()):
            build_vocab(data_path, vocab_path, warn=quiet)

    train_data, val_data = shuffle_and_cut([p.raw for p in pairs], train_ratio, seed)
    expected = ("\n".join(train_data) + "\n", "\n".join(val_data) + "\n")
    current = tuple(p.read_text(encoding="utf-8") if p.is_file() else None for p in (train_path, val_path))
    if current != expected:
        made.append(f"{'re-split' if any(current) else 'split'} into {train_path} / {val_path}")
        with contextlib.redirect_stdout(io.StringIO()):
            split_jsonl_data(data_path, train_ratio, seed, warn=quiet)

    status = "; ".join(made) if made else "already up to date"
    print(f"data ready ({status}): {vocab_path} ({len(counter) + 3} tokens), "
          f"{train_path} ({len(train_data)} pairs), {val_path} ({len(val_data)} pairs)")
    return {"vocab": vocab_path, "train": train_path, "val": val_path}


def main(argv=None) -> int:
    parser = ArgumentParser(description="把问答数据拆成训练集和验证集（第 3 章）。")
    parser.add_argument("--input", type=str, required=True, help="原始的问答 JSONL 文件（例如 data/data.jsonl）")
    parser.add_argument("--train_ratio", type=float, default=0.9, help="多大比例的数据用来训练")
    parser.add_argument("--seed", type=int, default=42, help="随机种子：同样的随机种子，同样的拆分")
    args = parser.parse_args(argv)
    try:
        split_jsonl_data(args.input, args.train_ratio, args.seed)
    except DataError as e:
        print(f"错误：{e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
