"""第 3 章：把问答 JSONL 文件划分成 train.jsonl 和 val.jsonl（写在输入文件旁边）。

    python ./minigpt/split_data.py --input ./data/data.jsonl --train_ratio 0.8
    python ./minigpt/split_data.py --input ./data/data.jsonl --train_ratio 0.8 --group-by idiom

默认（不加 --group-by）与种子代码的划分完全相同：有效的行按原样保留（去掉首尾空白），用 --seed
（默认 42）作随机种子的 Python `random` 打乱，前 int(n * train_ratio) 行进 train.jsonl，其余进 val.jsonl。
输入有效时两个文件与种子代码逐字节相同。与种子不同的是：只有课程的所有读取器都接受的行才会保留
（见 minigpt/jsonl.py），坏行不会经过划分文件混进训练。

--group-by idiom：同一个成语的所有问题（意思、读音、接龙、补全，各种问法）放在同一边。按行划分时，
验证集里的成语几乎都在训练集里以别的问法出现过，验证分数量的是“换个问法还认不认得”；按成语分组后，
验证集才真正是“从没见过的成语”。做法：按字段值把行分组（没有这个字段的行各自成组），用 --seed 打乱
组的顺序，前 int(组数 * train_ratio) 组进训练集，再把两边各自的行打乱（不然同一个成语的行会挨在一起）。

train_ratio 必须严格在 0 和 1 之间，并且两边都至少分到一条（分组时：一组）。

`prepare_data()` 只在 vocab.json、train.jsonl、val.jsonl 缺失或过期时重新生成它们（按成语分组划分）：
后面各章调用它，所以每个 notebook 在全新的克隆里也能单独运行。
"""
from __future__ import annotations

import random
import sys
from pathlib import Path

if __package__ in (None, ""):  # 以 `python ./minigpt/split_data.py` 运行时
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minigpt.build_vocab import count_chars, vocab_from_counter, vocab_json, write_vocab
from minigpt.cli import ArgumentParser, ConfigError, DataError, UserError, report
from minigpt.jsonl import atomic_write_text, read_qa_jsonl

__all__ = ["GROUP_FIELD", "shuffle_and_cut", "group_key", "grouped_shuffle_and_cut", "check_ratio", "split_paths",
           "cut", "split_jsonl_data", "prepare_data", "main"]

GROUP_FIELD = "idiom"  # 课程数据里每条记录所属的成语；prepare_data() 按它分组


def shuffle_and_cut(lines: list, train_ratio: float, seed: int) -> tuple[list, list]:
    """种子代码的打乱与切分。random.Random(seed) 抽出的随机数与 random.seed(seed) 完全相同，
    但不会改动调用者的全局随机状态。"""
    data = list(lines)
    random.Random(seed).shuffle(data)
    n_train = int(len(data) * train_ratio)
    return data[:n_train], data[n_train:]


def group_key(pair, field: str):
    """这一行所属的组：字段的值（字符串）；没有这个字段（或不是非空字符串）时，这一行自己成一组。"""
    value = pair.get(field)
    return ("value", value) if isinstance(value, str) and value else ("line", pair.line)


def grouped_shuffle_and_cut(pairs: list, train_ratio: float, seed: int, field: str = GROUP_FIELD) -> tuple[list, list, int, int]:
    """按 field 分组后再切分：同一组的行全在一边。返回 (训练行, 验证行, 训练组数, 验证组数)。

    组按第一次出现的顺序排列，用 random.Random(seed) 打乱后前 int(组数 * train_ratio) 组进训练集；
    同一个随机数生成器接着把两边各自的行打乱。结果只取决于文件内容、train_ratio 和 seed。
    """
    groups: dict = {}
    for pair in pairs:
        groups.setdefault(group_key(pair, field), []).append(pair.raw)
    keys = list(groups)
    rng = random.Random(seed)
    rng.shuffle(keys)
    n_train = int(len(keys) * train_ratio)
    train = [line for k in keys[:n_train] for line in groups[k]]
    val = [line for k in keys[n_train:] for line in groups[k]]
    rng.shuffle(train)
    rng.shuffle(val)
    return train, val, n_train, len(keys) - n_train


def check_ratio(train_ratio) -> None:
    """train_ratio 必须严格在 0 和 1 之间；否则是一个 ConfigError。"""
    if not (isinstance(train_ratio, (int, float)) and 0 < train_ratio < 1):
        raise ConfigError(f"train_ratio 必须在 0 和 1 之间（不含两端），现在是 {train_ratio}")


def split_paths(input_path) -> tuple[Path, Path]:
    """划分结果写在哪里：输入文件旁边的 train.jsonl 和 val.jsonl（不许覆盖输入文件本身）。"""
    input_path = Path(input_path)
    paths = input_path.parent / "train.jsonl", input_path.parent / "val.jsonl"
    for out in paths:
        if input_path.exists() and out.exists() and out.resolve() == input_path.resolve():
            raise DataError(f"{input_path}: 划分结果会覆盖输入文件本身；请先给它改个名字（例如 data.jsonl）")
    return paths


def cut(pairs: list, input_path, train_ratio: float, seed: int, group_by: str | None):
    """(训练行, 验证行, 说明)：按行（种子代码）或按 group_by 字段分组；两边都至少要有一条，否则是 DataError。"""
    if group_by is None:
        train, val = shuffle_and_cut([p.raw for p in pairs], train_ratio, seed)
        groups = ""
    else:
        train, val, n_train, n_val = grouped_shuffle_and_cut(pairs, train_ratio, seed, group_by)
        groups = f"按 {group_by} 分组：训练 {n_train} 组，验证 {n_val} 组"
    if not train or not val:
        raise DataError(
            f"{input_path}: {len(pairs)} 条有效问答" + (f"（{groups}）" if groups else "")
            + f"，train_ratio={train_ratio} 时训练集 {len(train)} 条、验证集 {len(val)} 条；"
            "两边都至少需要一条（请增加数据或修改 --train_ratio）"
        )
    return train, val, groups


def _jsonl_text(lines: list) -> str:
    return "\n".join(lines) + "\n"  # 与种子代码相同的文件格式


def split_jsonl_data(input_path: str, train_ratio: float = 0.9, seed: int = 42, *, group_by: str | None = None,
                     warn=print) -> tuple[Path, Path]:
    """把 input_path 划分成同一文件夹下的 train.jsonl / val.jsonl，返回它们的路径。

    group_by=None 是种子代码的按行划分；group_by="idiom" 让同一个成语的行留在同一边。
    """
    check_ratio(train_ratio)
    train_path, val_path = split_paths(input_path)
    pairs = read_qa_jsonl(input_path, warn=warn)
    train_data, val_data, groups = cut(pairs, input_path, train_ratio, seed, group_by)
    for out in (train_path, val_path):
        if out.exists():
            print(f"注意：覆盖已有的 {out}")
    atomic_write_text(train_path, _jsonl_text(train_data))
    atomic_write_text(val_path, _jsonl_text(val_data))

    print("✅ 划分完成！")
    print(f"   总数：{len(pairs)}")
    print(f"   训练：{len(train_data)} → {train_path}")
    print(f"   验证：{len(val_data)} → {val_path}")
    print(f"   训练比例：{train_ratio:.1%}" + (f"（{groups}）" if groups else ""))
    return train_path, val_path


def prepare_data(data_path="./data/data.jsonl", train_ratio: float = 0.8, seed: int = 42, *, vocab_path=None,
                 group_by: str | None = GROUP_FIELD, warn=None) -> dict:
    """确保种子代码的产物存在并且与数据一致：vocab.json、train.jsonl、val.jsonl。

    给需要在全新克隆里独立运行的 notebook 和测试用：缺失或过期的才重新生成（词表的编号与数据不符，
    或划分文件与“当前数据按 train_ratio、seed、group_by 划分的结果”不同；0.8 和 42 是种子 README 的命令），
    其余不动，并打印一行说明做了什么。默认按成语分组（group_by="idiom"），验证集是没见过的成语；
    group_by=None 是种子代码的按行划分。vocab_path 默认是数据旁边的 vocab.json。
    返回 {"vocab": Path, "train": Path, "val": Path}。data_path 只读一次：词表和划分都由这一次读出的问答对算出。
    """
    quiet = warn if warn is not None else (lambda msg: None)
    data_path = Path(data_path)
    vocab_path = Path(vocab_path) if vocab_path is not None else data_path.parent / "vocab.json"
    check_ratio(train_ratio)
    train_path, val_path = split_paths(data_path)
    pairs = read_qa_jsonl(data_path, warn=quiet)
    made = []

    vocab = vocab_from_counter(count_chars(pairs))
    if not vocab_path.exists() or vocab_path.read_text(encoding="utf-8") != vocab_json(vocab):
        made.append(f"{'重建了' if vocab_path.exists() else '生成了'} {vocab_path}")
        write_vocab(vocab, vocab_path, say=quiet)

    train_data, val_data, groups = cut(pairs, data_path, train_ratio, seed, group_by)
    expected = (_jsonl_text(train_data), _jsonl_text(val_data))
    current = tuple(p.read_text(encoding="utf-8") if p.is_file() else None for p in (train_path, val_path))
    if current != expected:
        made.append(f"{'重新划分' if any(current) else '划分'}为 {train_path} / {val_path}")
        atomic_write_text(train_path, expected[0])
        atomic_write_text(val_path, expected[1])

    status = "；".join(made) if made else "都是最新的"
    print(f"数据就绪（{status}）：{vocab_path}（{len(vocab['word2id'])} 个 token），"
          f"{train_path}（{len(train_data)} 条），{val_path}（{len(val_data)} 条）" + (f"，{groups}" if groups else ""))
    return {"vocab": vocab_path, "train": train_path, "val": val_path}


def main(argv=None) -> int:
    parser = ArgumentParser(description="把问答数据集划分为训练集和验证集（train.jsonl / val.jsonl，写在输入文件旁边）。")
    parser.add_argument("--input", type=str, required=True, help="原始 JSONL 数据集的路径（例如 data/data.jsonl）")
    parser.add_argument("--train_ratio", type=float, default=0.9, help="训练集所占比例")
    parser.add_argument("--seed", type=int, default=42, help="随机种子，保证结果可复现")
    parser.add_argument("--group-by", default=None, metavar="FIELD",
                        help="按这个字段分组划分，同组的行留在同一边（课程数据用 idiom：验证集是没见过的成语）；"
                             "默认不分组，按行划分，与种子代码相同")
    args = parser.parse_args(argv)
    try:
        split_jsonl_data(args.input, args.train_ratio, args.seed, group_by=args.group_by)
    except UserError as e:
        return report(e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
