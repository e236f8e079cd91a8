"""第 4 章：把问答对变成 (input_ids, attention_mask, targets) 的 PyTorch Dataset。

    from minigpt.qa_dataset import QADataset, collate_batch, BucketBatchSampler
    ds = QADataset("./data/train.jsonl", tokenizer, max_length=128)       # 和种子代码相同的样本
    ds = QADataset(path, tokenizer, 128, pad_to_max_length=False, answer_only_loss=True)
    sampler = BucketBatchSampler(ds.lengths, batch_size=32, seed=0)      # 每轮调用 sampler.set_epoch(e)
    loader = DataLoader(ds, batch_sampler=sampler, collate_fn=collate_batch)

    python ./minigpt/qa_dataset.py      # 种子代码的演示，用 ./data/train.jsonl 和 ./data/vocab.json

一个问答对变成一条序列  q1 … qn <sep> a1 … am <sep>，模型学习预测每个下一个 token：
input = tokens[:-1]，targets = tokens[1:]。不该算进损失的目标放 <pad>（训练损失用 ignore_index=pad_token_id，
和种子代码一样）：填充的位置总是这样；answer_only_loss=True 时问题的字符也是，模型就只学回答。

填充：种子代码把每个样本都填充到 max_length（pad_to_max_length=True，仍是默认值，样本和种子代码的相同）。
pad_to_max_length=False 时样本保持自己的长度，collate_batch 把每批填充到这批最长的那一行；
BucketBatchSampler 把长度相近的样本放进同一批，花在填充上的计算就很少。超过 max_length 的序列像种子代码
那样截断（丢掉最后的 <sep>），并计入 `num_truncated`。
"""
from __future__ import annotations

import random
import sys
from pathlib import Path

import torch
from torch.utils.data import Dataset, Sampler

if __package__ in (None, ""):  # 以 `python ./minigpt/qa_dataset.py` 运行时
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minigpt.cli import DataError, UserError, report
from minigpt.jsonl import QAPair, ReadStats, read_qa_jsonl
from minigpt.tokenizer import Tokenizer

__all__ = ["QADataset", "collate_batch", "BucketBatchSampler", "padded_tokens", "padding_fraction", "padding_report",
           "SEED_PADDED_LENGTH"]


class QADataset(Dataset):
    """自回归的问答数据集：第 i 个样本是一个 dict，input_ids / attention_mask / targets 都是 LongTensor。

    max_length：最长的 token 序列（问题 + <sep> + 答案 + <sep>）；填充后样本有 max_length - 1 个位置，
        因为输入和目标是同一条序列错开一位。
    pad_to_max_length：True（种子代码）把每个样本填充到 max_length - 1；False 不填充。
    answer_only_loss：问题位置的目标也设成 <pad>（损失忽略它们）。
    属性：data（(问题, 答案) 的列表，和种子代码一样）、pairs（同样的问答对，读文件时的 QAPair：带行号、题型 type
    和成语 idiom；评估从这里取题，不再读一遍文件）、lengths（每个样本不填充时的长度 = 真实输入 token 数）、
    num_truncated、num_unknown（变成 <unk> 的字符数）。
    """

    def __init__(
        self,
        data_path: str,
        tokenizer: Tokenizer,
        max_length: int = 128,
        *,
        pad_to_max_length: bool = True,
        answer_only_loss: bool = False,
        warn=print,
    ):
        if max_length < 2:
            raise ValueError(f"max_length 至少是 2（一个输入加一个目标），实际是 {max_length}")
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.pad_to_max_length = pad_to_max_length
        self.answer_only_loss = answer_only_loss

        print(f"从 {data_path} 读取数据")
        stats = ReadStats()
        pairs = read_qa_jsonl(data_path, warn=warn, summary=False, stats=stats)

        self.data: list[tuple[str, str]] = []
        self.pairs: list[QAPair] = []
        self.line_numbers: list[int] = []
        self._tokens: list[list[int]] = []  # 不填充，截到 max_length
        self._n_question: list[int] = []  # 保留下来的问题字符数：targets[:n] 属于问题
        self.num_truncated = 0
        self.num_unknown = 0
        first_truncated = None
        unk = tokenizer.unk_token_id
        for pair in pairs:
            tokens, _ = tokenizer.encode(pair.question, pair.answer, max_length, pad_to_max_length=False)
            self.num_unknown += sum(t == unk for t in tokens)
            if len(tokens) > max_length:
                self.num_truncated += 1
                first_truncated = first_truncated or pair.line
                tokens = tokens[:max_length]
            n_question = min(len(pair.question), len(tokens))
            if answer_only_loss and n_question >= len(tokens) - 1:
                stats.skipped += 1
                warn(f"警告：{data_path}:{pair.line}: 光问题就占满了 max_length={max_length}，"
                     "没有答案 token 可学（answer_only_loss），已跳过这一行")
                continue
            self.data.append((pair.question, pair.answer))
            self.pairs.append(pair)
            self.line_numbers.append(pair.line)
            self._tokens.append(tokens)
            self._n_question.append(n_question)
        if not self.data:
            raise DataError(f"{data_path}: 没有剩下可以训练的问答对（见上面的警告）")
        self.lengths: list[int] = [len(t) - 1 for t in self._tokens]

        if self.num_truncated:
            warn(
                f"注意：{self.num_truncated} 个问答对超过 max_length={max_length}，被截断了"
                f"（第一个在 {data_path}:{first_truncated}）；它们丢了最后的 <sep>，想保留完整就调大 max_length"
            )
        extra = f"，{self.num_unknown} 个字不在词表里 → <unk>" if self.num_unknown else ""
        print(
            f"✅ 读入 {len(self.data)} 个有效问答对（跳过 {stats.skipped} 行，"
            f"{self.num_truncated} 个在 max_length={max_length} 处截断{extra}）。"
        )

    def __len__(self):
        return len(self.data)

    def __getitem__(self, idx):
        tokens = self._tokens[idx]
        pad = self.tokenizer.pad_token_id
        if self.pad_to_max_length:
            # 种子代码的顺序：先填充到 max_length，再错开一位
            n_pad = self.max_length - len(tokens)
            full = tokens + [pad] * n_pad
            mask = [1] * len(tokens) + [0] * n_pad
            input_ids, attention_mask, targets = full[:-1], mask[:-1], full[1:]
        else:
            input_ids, attention_mask, targets = tokens[:-1], [1] * (len(tokens) - 1), tokens[1:]
        if self.answer_only_loss:
            n = self._n_question[idx]
            # targets[i] = tokens[i+1]：i < n 时预测的是问题的第 2..n 个字符和它的 <sep>
            targets = [pad] * n + targets[n:]
        return {
            "input_ids": torch.tensor(input_ids, dtype=torch.long),
            "attention_mask": torch.tensor(attention_mask, dtype=torch.long),
            "targets": torch.tensor(targets, dtype=torch.long),
        }


def collate_batch(items: list[dict], pad_token_id: int = 0) -> dict:
    """把样本叠成一批，在右边填充到这批最长的那一行：每个都是 (B, T_max)。

    input_ids 和 targets 用 pad_token_id 填充（被忽略的目标），attention_mask 用 0。
    """
    if not items:
        raise ValueError("collate_batch 拿到的样本列表是空的")
    width = max(len(item["input_ids"]) for item in items)
    batch = {}
    for key in items[0]:
        fill = 0 if key == "attention_mask" else pad_token_id
        out = torch.full((len(items), width), fill, dtype=torch.long)  # (B, T_max)
        for row, item in enumerate(items):
            out[row, : len(item[key])] = item[key]
        batch[key] = out
    return batch


class BucketBatchSampler(Sampler):
    """一批批下标，同一批里的样本长度相近，批的顺序随机。

    每一轮：打乱所有下标，切成每组 bucket_batches * batch_size 个，每组按长度排序，再切成批，
    最后打乱所有批的顺序。这样同一批里的样本长度差不多（填充很少），每一轮看到的批又各不相同。
    顺序只由 (seed, epoch) 决定：像 torch 的 DistributedSampler 一样，每轮之前调用 set_epoch(epoch)。
    shuffle=False 只排序、不打乱（验证用）。只有最后一批可能不满 batch_size（drop_last=True 时丢掉）。
    """

    def __init__(self, lengths, batch_size: int, *, shuffle: bool = True, seed: int = 0, bucket_batches: int = 50, drop_last: bool = False):
        if batch_size < 1:
            raise ValueError(f"batch_size 至少是 1，实际是 {batch_size}")
        if bucket_batches < 1:
            raise ValueError(f"bucket_batches 至少是 1，实际是 {bucket_batches}")
        self.lengths = [int(n) for n in lengths]
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.bucket_batches = bucket_batches
        self.drop_last = drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batches(self) -> list[list[int]]:
        """这一轮的所有批，按产出的顺序。"""
        order = list(range(len(self.lengths)))
        rng = random.Random(self.seed * 1_000_003 + self.epoch)
        if self.shuffle:
            rng.shuffle(order)
        group = self.bucket_batches * self.batch_size  # batch_size 的整数倍：组里都是满的批
        batches = []
        for start in range(0, len(order), group):
            bucket = sorted(order[start : start + group], key=self.lengths.__getitem__)  # 稳定排序
            batches += [bucket[i : i + self.batch_size] for i in range(0, len(bucket), self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        if self.shuffle:
            rng.shuffle(batches)
        return batches

    def __iter__(self):
        return iter(self.batches())

    def __len__(self) -> int:
        if self.drop_last:
            return len(self.lengths) // self.batch_size
        return -(-len(self.lengths) // self.batch_size)


def padded_tokens(lengths, batches, width: int | None = None) -> int:
    """这些批一共要算多少个位置：每批填充到它最长的一行（width=None，collate_batch 的做法），
    或者每行都填充到 `width`（种子代码的固定填充）。"""
    return sum(len(batch) * (width if width is not None else max(lengths[i] for i in batch)) for batch in batches)


def padding_fraction(lengths, batches, width: int | None = None) -> float:
    """算的位置里有多少比例是填充（`width` 见 padded_tokens）。"""
    total = padded_tokens(lengths, batches, width)
    real = sum(lengths[i] for batch in batches for i in batch)
    return 1 - real / total if total else 0.0


SEED_PADDED_LENGTH = 128  # 种子代码把每个问答对都填充到 max_length=128


def padding_report(lengths, batches, seed_length: int = SEED_PADDED_LENGTH) -> dict:
    """多少计算花在 <pad> 上：按批填充（"waste"）对比种子代码固定填充到 128（"seed_waste"），
    再加上把这些批过一遍的 token 数（"useful_tokens" 有用的，"padded_tokens" 含填充）。"""
    useful = sum(lengths[i] for batch in batches for i in batch)
    padded = padded_tokens(lengths, batches)
    return {"useful_tokens": useful, "padded_tokens": padded, "waste": 1 - useful / padded,
            "seed_waste": padding_fraction(lengths, batches, width=seed_length - 1)}  # 种子代码的输入是 127 个 token


if __name__ == "__main__":
    try:
        tokenizer = Tokenizer("./data/vocab.json")
        dataset = QADataset("./data/train.jsonl", tokenizer, max_length=128)
    except UserError as e:
        sys.exit(report(f"{e}（先运行 build_vocab.py 和 split_data.py，见 README）"))

    print(f"数据集大小：{len(dataset)}")

    item = dataset[0]
    print(item)
    print(tokenizer.decode(item["input_ids"].tolist()))
    print(tokenizer.decode(item["targets"].tolist()))
