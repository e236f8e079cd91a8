"""Chapter 4: the PyTorch Dataset that turns QA pairs into (input_ids, attention_mask, targets).

    from minigpt.qa_dataset import QADataset, collate_batch, BucketBatchSampler
    ds = QADataset("./data/train.jsonl", tokenizer, max_length=128)       # the seed's items
    ds = QADataset(path, tokenizer, 128, pad_to_max_length=False, answer_only_loss=True)
    sampler = BucketBatchSampler(ds.lengths, batch_size=32, seed=0)      # call sampler.set_epoch(e)
    loader = DataLoader(ds, batch_sampler=sampler, collate_fn=collate_batch)

    python ./minigpt/qa_dataset.py      # the seed's demo on ./data/train.jsonl and ./data/vocab.json

A pair becomes one sequence  q1 … qn <sep> a1 … am <sep>  and the model learns to predict each next
token:  input = tokens[:-1], targets = tokens[1:]. A target that must not count in the loss holds
<pad> (the training loss uses ignore_index=pad_token_id, as in the seed): padding always, and with
answer_only_loss=True also the question's characters, so the model is trained only on answering.

Padding: the seed pads every item to max_length (pad_to_max_length=True, still the default, items
identical to the seed's). With pad_to_max_length=False items keep their own length and collate_batch
pads each batch to its longest row; BucketBatchSampler puts items of similar length in the same batch,
so little of the computation is spent on padding. Sequences longer than max_length are cut like the
seed does (the final <sep> is lost) and counted in `num_truncated`.
"""
from __future__ import annotations

import random
import sys
from pathlib import Path

import torch
from torch.utils.data import Dataset, Sampler

if __package__ in (None, ""):  # run as `python ./minigpt/qa_dataset.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minigpt.jsonl import DataError, ReadStats, read_qa_jsonl
from minigpt.tokenizer import Tokenizer


class QADataset(Dataset):
    """Autoregressive QA dataset: item i is a dict of LongTensors input_ids / attention_mask / targets.

    max_length: longest token sequence (question + <sep> + answer + <sep>); items have max_length - 1
        positions when padded, because input and targets are the sequence shifted by one.
    pad_to_max_length: True (seed) pads every item to max_length - 1; False leaves them unpadded.
    answer_only_loss: targets of question positions are set to <pad> too (ignored by the loss).
    Attributes: data (list of (question, answer), as in the seed), lengths (unpadded item length of
    each item = its number of real input tokens), num_truncated, num_unknown (characters → <unk>).
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
            raise ValueError(f"max_length must be at least 2 (one input and one target), got {max_length}")
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.pad_to_max_length = pad_to_max_length
        self.answer_only_loss = answer_only_loss

        print(f"Loading data from {data_path}")
        stats = ReadStats()
        pairs = read_qa_jsonl(data_path, warn=warn, summary=False, stats=stats)

        self.data: list[tuple[str, str]] = []
        self.line_numbers: list[int] = []
        self._tokens: list[list[int]] = []  # unpadded, cut to max_length
        self._n_question: list[int] = []  # question characters kept: targets[:n] are the question's
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
                warn(
                    f"warning: {data_path}:{pair.line}: the question alone fills max_length={max_length}, "
                    "no answer token left to learn (answer_only_loss), line skipped"
                )
                continue
            self.data.append((pair.question, pair.answer))
            self.line_numbers.append(pair.line)
            self._tokens.append(tokens)
            self._n_question.append(n_question)
        if not self.data:
            raise DataError(f"{data_path}: no QA pair left to train on (see the warnings above)")
        self.lengths: list[int] = [len(t) - 1 for t in self._tokens]

        if self.num_truncated:
            warn(
                f"note: {self.num_truncated} QA pairs are longer than max_length={max_length} and were cut "
                f"(first at {data_path}:{first_truncated}); they lose their final <sep>, so raise max_length to keep them whole"
            )
        extra = f", {self.num_unknown} characters not in the vocabulary → <unk>" if self.num_unknown else ""
        print(
            f"✅ Loaded {len(self.data)} valid QA pairs ({stats.skipped} lines skipped, "
            f"{self.num_truncated} truncated at max_length={max_length}{extra})."
        )

    def __len__(self):
        return len(self.data)

    def __getitem__(self, idx):
        tokens = self._tokens[idx]
        pad = self.tokenizer.pad_token_id
        if self.pad_to_max_length:
            # the seed's order of operations: pad to max_length, then shift
            n_pad = self.max_length - len(tokens)
            full = tokens + [pad] * n_pad
            mask = [1] * len(tokens) + [0] * n_pad
            input_ids, attention_mask, targets = full[:-1], mask[:-1], full[1:]
        else:
            input_ids, attention_mask, targets = tokens[:-1], [1] * (len(tokens) - 1), tokens[1:]
        if self.answer_only_loss:
            n = self._n_question[idx]
            # targets[i] = tokens[i+1]: i < n predicts the question's characters 2..n and its <sep>
            targets = [pad] * n + targets[n:]
        return {
            "input_ids": torch.tensor(input_ids, dtype=torch.long),
            "attention_mask": torch.tensor(attention_mask, dtype=torch.long),
            "targets": torch.tensor(targets, dtype=torch.long),
        }


def collate_batch(items: list[dict], pad_token_id: int = 0) -> dict:
    """Stack items into a batch padded on the right to the batch's longest row: (B, T_max) each.

    input_ids and targets are padded with pad_token_id (an ignored target), attention_mask with 0.
    """
    if not items:
        raise ValueError("collate_batch got an empty list of items")
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
    """Batches of indices whose items have similar lengths, in random batch order.

    Each epoch: shuffle all indices, cut them into groups of bucket_batches * batch_size, sort each
    group by length, cut the group into batches, then shuffle the order of all batches. Items in a
    batch then have nearly the same length (little padding) while every epoch still sees different
    batches. The order depends only on (seed, epoch): call set_epoch(epoch) before each epoch, as
    with torch's DistributedSampler. shuffle=False sorts without randomness (for validation).
    Only the very last batch can be smaller than batch_size (dropped with drop_last=True).
    """

    def __init__(self, lengths, batch_size: int, *, shuffle: bool = True, seed: int = 0, bucket_batches: int = 50, drop_last: bool = False):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if bucket_batches < 1:
            raise ValueError(f"bucket_batches must be at least 1, got {bucket_batches}")
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
        """All batches of the current epoch, in the order they are yielded."""
        order = list(range(len(self.lengths)))
        rng = random.Random(self.seed * 1_000_003 + self.epoch)
        if self.shuffle:
            rng.shuffle(order)
        group = self.bucket_batches * self.batch_size  # a multiple of batch_size: full batches inside
        batches = []
        for start in range(0, len(order), group):
            bucket = sorted(order[start : start + group], key=self.lengths.__getitem__)  # stable sort
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
    """Positions computed for batches of indices into lengths: each batch padded to its longest row
    (width=None, collate_batch), or every row padded to `width` (the seed's fixed padding)."""
    return sum(len(batch) * (width if width is not None else max(lengths[i] for i in batch)) for batch in batches)


def padding_fraction(lengths, batches, width: int | None = None) -> float:
    """Share of the computed positions that are padding (see padded_tokens for `width`)."""
    total = padded_tokens(lengths, batches, width)
    real = sum(lengths[i] for batch in batches for i in batch)
    return 1 - real / total if total else 0.0


SEED_PADDED_LENGTH = 128  # the seed pads every pair to max_length=128


def padding_report(lengths, batches, seed_length: int = SEED_PADDED_LENGTH) -> dict:
    """How much of the compute goes to <pad>: per-batch padding ("waste") vs the seed's fixed 128 ("seed_waste"),
    plus the token counts of one pass over these batches."""
    useful = sum(lengths[i] for batch in batches for i in batch)
    padded = padded_tokens(lengths, batches)
    return {"useful_tokens": useful, "padded_tokens": padded, "waste": 1 - useful / padded,
            "seed_waste": padding_fraction(lengths, batches, width=seed_length - 1)}  # the seed's inputs: 127 tokens


if __name__ == "__main__":
    try:
        tokenizer = Tokenizer("./data/vocab.json")
        dataset = QADataset("./data/train.jsonl", tokenizer, max_length=128)
    except DataError as e:
        print(f"error: {e} (first run build_vocab.py and split_data.py, see README)", file=sys.stderr)
        sys.exit(1)

    print(f"数据集大小：{len(dataset)}")

    item = dataset[0]
    print(item)
    print(tokenizer.decode(item["input_ids"].tolist()))
    print(tokenizer.decode(item["targets"].tolist()))
