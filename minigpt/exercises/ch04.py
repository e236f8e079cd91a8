"""第 4 章练习：输入与目标错开一位、只算答案的损失、按批填充的 collate、预测随机成批时的填充比例、填充浪费了多少。

期望值由 minigpt/qa_dataset.py 的 QADataset、collate_batch、padding_fraction 算出；数据是 samples.py 里的几对问答，
预测题（4.4）读仓库里的 data/data.jsonl。
"""
import random
from pathlib import Path

import torch

from minigpt.exercises.core import Case, Exercise, Wrong, register
from minigpt.exercises.samples import PAIRS, jsonl_file, quietly, tokenizer
from minigpt.jsonl import read_qa_jsonl
from minigpt.qa_dataset import BucketBatchSampler, QADataset, collate_batch, padding_fraction

DATA = Path(__file__).resolve().parents[2] / "data" / "data.jsonl"


def _items(pairs, **options):
    """课程包的 QADataset 对这些问答给出的样本（不填充）。"""
    with jsonl_file(pairs) as path:
        dataset = quietly(QADataset, path, tokenizer(), 128, pad_to_max_length=False, warn=lambda msg: None, **options)
        return [dataset[i] for i in range(len(dataset))]


def _tokens(question, answer):
    ids, _ = tokenizer().encode(question, answer, pad_to_max_length=False)
    return ids


# ------------------------------------------------------------------------------ 4.1 错开一位
register(Exercise(
    id="4.1", stars=1, title="输入和目标错开一位", name="shift",
    task=r"""
语言模型在每个位置预测**下一个** token。一条序列 `tokens` 变成训练样本：

$$\text{input\_ids} = \text{tokens}[0 : n-1],\qquad \text{targets} = \text{tokens}[1 : n]$$

- 输入：`tokens`（`list[int]`，一对问答编码后的序列：`问题 <sep> 答案 <sep>`）
- 输出：`(input_ids, targets)`，两个长度为 `n - 1` 的 `torch.long` 张量
""",
    where="`minigpt/qa_dataset.py` 的 `QADataset.__getitem__`",
    stub='''
import torch
from minigpt.exercises import check, hint


def shift(tokens):
    """tokens: list[int]，长度 n。返回 (input_ids, targets)，各是长度 n-1 的 LongTensor。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=lambda tokens: (torch.tensor(tokens[:-1]), torch.tensor(tokens[1:])),
    cases=[
        Case("“画蛇添足”接龙的一对", lambda: (_tokens(*PAIRS[2]),)),
        Case("拼音题的一对", lambda: (_tokens(*PAIRS[1]),)),
        Case("最短的序列 [5, 2]", lambda: ([5, 2],)),
        Case("没有 <sep> 的一串编号 [9, 8, 7, 6]", lambda: ([9, 8, 7, 6],)),
    ],
    hints=["位置 i 读到 tokens[i]，要预测的是它后面的那个 tokens[i+1]：输入和目标是同一条序列错开一位。",
           "列表切片：输入去掉最后一个（它后面没有要预测的字），目标去掉第一个；torch.tensor(列表) 得到 torch.long 张量。",
           "return torch.tensor(tokens[:-1]), torch.tensor(tokens[1:])。"],
    patterns=("shift", "shape-off1"),
    proved="你的输入和目标与 QADataset 一致：位置 i 读到 tokens[i]，要预测 tokens[i+1]。",
    wrong=[
        Wrong(lambda t: (torch.tensor(t[:-1]), torch.tensor(t[:-1])),
              "targets 没有错开：位置 i 的目标是下一个 token tokens[i+1]，所以 targets = tokens[1:]。否则模型只要抄输入，loss 很快掉到 0。"),
        Wrong(lambda t: (torch.tensor(t[1:]), torch.tensor(t[:-1])),
              "反了：输入是 tokens[:-1]，目标是 tokens[1:]（用前面的字预测后面的字）。"),
        Wrong(lambda t: (torch.tensor(t), torch.tensor(t[1:])),
              "输入要去掉最后一个 token：最后一个 <sep> 后面没有要预测的字了，input_ids = tokens[:-1]。"),
    ],
))


# ------------------------------------------------------------------------------ 4.2 只算答案的损失
def _item(question, answer, tok, n_masked, keep_question=False):
    """一个不填充的样本，前 n_masked 个目标换成 <pad>（keep_question=True：反过来，只留前 n_masked 个）。"""
    tokens, _ = tok.encode(question, answer, pad_to_max_length=False)
    inputs, targets = tokens[:-1], tokens[1:]
    pad = tok.pad_token_id
    if keep_question:
        targets = targets[:n_masked] + [pad] * (len(targets) - n_masked)
    else:
        targets = [pad] * n_masked + targets[n_masked:]
    return {"input_ids": torch.tensor(inputs), "attention_mask": torch.ones(len(inputs), dtype=torch.long),
            "targets": torch.tensor(targets)}


register(Exercise(
    id="4.2", stars=2, title="只在答案上算损失：目标里的问题换成 <pad>", name="make_item",
    task=r"""
做一个 `answer_only_loss=True` 的训练样本（不填充）：和练习 4.1 一样错开一位，然后把**预测问题部分**
的目标换成 `<pad>`（损失函数的 `ignore_index` 会忽略它们），模型只为“回答”负责。

想清楚边界：输入是 `<sep>` 的那个位置，目标是答案的第一个字——它要算进损失；答案最后一个字的目标是 `<sep>`——也要算。

- 输入：`question`、`answer`（字符串），`tokenizer`（`minigpt.tokenizer.Tokenizer`）
- 输出：dict，`input_ids`、`attention_mask`（全 1）、`targets`，都是长度 `n - 1` 的 `torch.long` 张量
""",
    where="`minigpt/qa_dataset.py` 的 `QADataset.__getitem__`（`answer_only_loss=True`）",
    stub='''
import torch
from minigpt.exercises import check, hint


def make_item(question, answer, tokenizer):
    """返回 {"input_ids", "attention_mask", "targets"}；问题部分的目标是 <pad>。"""
    tokens, _ = tokenizer.encode(question, answer, pad_to_max_length=False)  # 问题 <sep> 答案 <sep>
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=lambda q, a, tok: _items([(q, a)], answer_only_loss=True)[0],
    cases=[
        Case("释义题：“画蛇添足”的意思", lambda: (*PAIRS[0], tokenizer())),
        Case("填空题", lambda: (*PAIRS[3], tokenizer())),
        Case("只有一个字的问题", lambda: ("足", "足智多谋", tokenizer())),
    ],
    hints=["先像练习 4.1 一样错开一位；然后数一数：哪些目标是在“预测问题本身”（问题的第 2 个字……问题后面的 <sep>）？",
           "目标里前 len(question) 个属于问题：输入是 <sep> 的那个位置，目标已经是答案的第一个字，要保留。"
           "换成 tokenizer.pad_token_id；attention_mask 是 torch.ones(len(inputs), dtype=torch.long)。",
           "inputs, targets = tokens[:-1], tokens[1:]；n = len(question)；targets = [pad] * n + targets[n:]；三个都用 torch.tensor(…)。"],
    proved="你的样本与 QADataset(answer_only_loss=True) 一致：从 <sep> 那个位置起，模型只学怎样回答、在哪里停。",
    wrong=[
        Wrong(lambda q, a, tok: _item(q, a, tok, len(q) + 1),
              "多屏蔽了一个：输入是 <sep> 的那个位置，目标是答案的第一个字，要算进损失。只屏蔽前 len(question) 个目标。"),
        Wrong(lambda q, a, tok: _item(q, a, tok, len(q) - 1),
              "少屏蔽了一个：问题后面那个 <sep> 也是问题的一部分（预测它的位置不计损失），屏蔽前 len(question) 个目标。"),
        Wrong(lambda q, a, tok: _item(q, a, tok, len(q), keep_question=True),
              "屏蔽反了：换成 <pad> 的是预测问题的那些目标，答案部分保留。"),
        Wrong(lambda q, a, tok: _item(q, a, tok, 0),
              "这是普通的样本：还要把预测问题部分的目标（前 len(question) 个）换成 <pad>。"),
    ],
))


# ------------------------------------------------------------------------------ 4.3 collate：按批填充
def _left_pad(items, pad_token_id=0):
    width = max(len(it["input_ids"]) for it in items)
    batch = {}
    for key in items[0]:
        fill = 0 if key == "attention_mask" else pad_token_id
        batch[key] = torch.stack([torch.cat([torch.full((width - len(it[key]),), fill), it[key]]) for it in items])
    return batch


def _fixed_width(items, pad_token_id=0, width=32):
    batch = {}
    for key in items[0]:
        fill = 0 if key == "attention_mask" else pad_token_id
        batch[key] = torch.stack([torch.cat([it[key], torch.full((width - len(it[key]),), fill)]) for it in items])
    return batch


def _mask_filled_with_pad(items, pad_token_id=0):
    return {k: torch.nn.utils.rnn.pad_sequence([it[k] for it in items], batch_first=True, padding_value=pad_token_id)
            for k in items[0]}


def _minus_100(items, pad_token_id=0):
    batch = collate_batch(items, pad_token_id)
    for row, it in enumerate(items):
        batch["targets"][row, len(it["targets"]):] = -100
    return batch


register(Exercise(
    id="4.3", stars=2, title="collate：每批只填充到这一批最长的那条", name="collate",
    task=r"""
`DataLoader` 把几个样本交给 `collate_fn` 拼成一批。样本长短不一，在**右边**填充到这一批里最长的那条：
`input_ids`、`targets` 填 `pad_token_id`（目标是 `<pad>` 的位置不计损失），`attention_mask` 填 0。

- 输入：`items`（列表，每项是 dict：`input_ids`、`attention_mask`、`targets`，都是一维 `torch.long` 张量），`pad_token_id`
- 输出：dict，同样三个键，每个是 `(B, T_max)` 的 `torch.long` 张量
""",
    where="`minigpt/qa_dataset.py` 的 `collate_batch`",
    stub='''
import torch
from minigpt.exercises import check, hint


def collate(items, pad_token_id=0):
    """items: [{"input_ids", "attention_mask", "targets"}, ...]，长短不一。返回右填充后的 (B, T_max) 张量 dict。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=collate_batch,
    cases=[
        Case("3 个长短不一的样本", lambda: (_items(PAIRS)[:3], 0)),
        Case("5 个样本，只算答案的损失", lambda: (_items(PAIRS, answer_only_loss=True), 0)),
        Case("一个样本", lambda: (_items(PAIRS)[3:4], 0)),
        Case("另一个词表：pad_token_id=7", lambda: (_items(PAIRS)[1:4], 7)),
    ],
    hints=["这一批最长的那条决定宽度；每条在右边补齐到这个宽度，三个键各拼成一个 (B, 宽度) 的矩形。",
           "input_ids、targets 补 pad_token_id，attention_mask 补 0；torch.full((n,), 值) 造填充，torch.cat 接在后面，torch.stack 叠成一批。",
           "width = max(len(it['input_ids']) for it in items)；对每个键：torch.stack([torch.cat([it[k], torch.full((width - len(it[k]),), fill)]) for it in items])。"],
    proved="你的 collate 与 collate_batch 一致：每批只填充到自己最长的那条，填充都在右边。",
    wrong=[
        Wrong(_left_pad, "训练时在右边填充：真实 token 在前，<pad> 在后（因果注意力下真实 token 看不到右边的 <pad>）。"),
        Wrong(_fixed_width, "填充到这一批里最长的那条，不是固定的长度：这正是按批填充省下计算的地方。"),
        Wrong(_mask_filled_with_pad, "attention_mask 的填充是 0（表示“不是真实 token”），不是 pad_token_id；只有 input_ids 和 targets 填 pad_token_id。"),
        Wrong(_minus_100, "targets 的填充用 pad_token_id：课程的损失函数用 ignore_index=pad_token_id（不是 transformers 习惯的 -100）。"),
    ],
))


# ------------------------------------------------------------------------------ 4.4 预测：随机成批时填充占多少
def _random_batch_waste(path=DATA, batch_size=32):
    """整个数据集，随机打乱后每 batch_size 个一批、每批补齐到这批最长的那条：填充占全部位置的比例。"""
    lengths = [len(p.question) + len(p.answer) + 1 for p in read_qa_jsonl(path, warn=lambda msg: None)]  # 输入 = 序列去掉最后一个
    perm = torch.randperm(len(lengths), generator=torch.Generator().manual_seed(0)).tolist()
    return padding_fraction(lengths, [perm[i:i + batch_size] for i in range(0, len(perm), batch_size)], None)


register(Exercise(
    id="4.4", stars=1, kind="predict", title="预测：随机成批、按批补齐时，填充占多少", name="my_guess",
    task=r"""
**先别运行下面的比较。** 第 2 章算过：全部补齐到 128 时，约八成的位置是 `<pad>`。
现在改成随机打乱后每 32 个样本一批，每批只补齐到**这一批最长的那条**。填充还占全部位置的多大比例（0 到 1）？

提示：这份数据的长度大多在 15 到 40 之间，平均不到 30，极少数超过 60。把你的预测赋给 `my_guess`，误差在 ±0.1 以内算对。
""",
    where="`minigpt/qa_dataset.py` 的 `collate_batch`、`padding_fraction`；本节下面的比较",
    stub='''
from minigpt.exercises import check, hint

my_guess = ...  # 你的预测：按批补齐时，填充占全部位置的比例（0 到 1）
''',
    reference=_random_batch_waste,
    cases=[],
    atol=0.1, rtol=0.0,
    hints=["每批的宽度是这批 32 条里最长的那条：32 条随机样本里，最长的一条大约有多长？",
           "填充比例 ≈ 1 − 平均长度 ÷ 每批的宽度。32 条随机样本里总会抽到一两条偏长的。",
           "平均长度约 26，32 条里最长的大约 40–45：1 − 26/42 ≈ 0.38。"],
    proved=("随机的 32 条里几乎总有一两条偏长的，整批都要补到它那么长：即使按批补齐，仍有三四成的位置是填充。"
            "所以还要按长度分桶，让同一批的样本长度相近，填充才降到几个百分点。"),
    wrong=[Wrong(lambda: 0.79, "这是全部补齐到 128 的比例（第 2 章）；按批补齐时宽度是这一批最长的那条，比 128 短得多。"),
           Wrong(lambda: 0.02, "几乎不补齐的是按长度分桶；随机成批时，每批里总有一两条偏长的样本，整批都要补到它那么长。")],
))


# ------------------------------------------------------------------------------ 4.5 填充浪费了多少
def _bucketed(n, seed):
    rng = random.Random(seed)
    lengths = [rng.randint(12, 40) for _ in range(n)]
    return lengths, BucketBatchSampler(lengths, 8, seed=seed, bucket_batches=4).batches()


def _waste_global_width(lengths, batches, width=None):
    w = width if width is not None else max(lengths)
    return padding_fraction(lengths, batches, w)


def _waste_mean_of_batches(lengths, batches, width=None):
    return sum(padding_fraction(lengths, [batch], width) for batch in batches) / len(batches)


def _waste_of_all_lengths(lengths, batches, width=None):
    total = sum((width if width is not None else max(lengths[i] for i in batch)) * len(batch) for batch in batches)
    return 1 - sum(lengths) / total


def _waste_of_real(lengths, batches, width=None):
    total = real = 0
    for batch in batches:
        rows = [lengths[i] for i in batch]
        total += (width if width is not None else max(rows)) * len(rows)
        real += sum(rows)
    return (total - real) / real


register(Exercise(
    id="4.5", stars=2, title="填充浪费了多少计算", name="padding_waste",
    task=r"""
每一批都要算 `行数 × 宽度` 个位置，其中只有真实 token 是有用的。算出**所有批加起来**，填充占了多大比例：

$$\text{waste} = 1 - \frac{\sum \text{真实 token}}{\sum_\text{批} \text{行数} \times \text{宽度}}$$

宽度：`width=None` 时每批填充到这一批最长的那条（练习 4.3）；给了整数时每行都填充到 `width`（种子的固定填充）。

- 输入：`lengths`（每个样本的长度），`batches`（每批是样本下标的列表），`width`（`None` 或整数）
- 输出：0 到 1 之间的小数
""",
    where="`minigpt/qa_dataset.py` 的 `padding_fraction`",
    stub='''
from minigpt.exercises import check, hint


def padding_waste(lengths, batches, width=None):
    """返回填充位置占全部计算位置的比例。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=padding_fraction,
    cases=[
        Case("长度 [3, 5, 8, 2]，两批 [0, 1]、[2, 3]，按批填充", lambda: ([3, 5, 8, 2], [[0, 1], [2, 3]], None)),
        Case("同样的批，固定填充到 10", lambda: ([3, 5, 8, 2], [[0, 1], [2, 3]], 10)),
        Case("200 个样本，BucketBatchSampler 分桶", lambda: (*_bucketed(200, 0), None)),
        Case("只取了其中两批（样本 2、5 不在任何一批里），固定填充到 12",
             lambda: ([4, 9, 11, 6, 3, 12], [[0, 1], [3, 4]], 12)),
        Case("只取了其中两批，按批填充", lambda: ([4, 9, 11, 6, 3, 12], [[0, 1], [3, 4]], None)),
    ],
    hints=["只看真的被取出来的那些批：有用的是这些批里样本的真实长度，要算的是每批“行数 × 宽度”；两者都是所有批加起来。",
           "每批的行是 [lengths[i] for i in batch]；宽度是 width（给了的话）或这批的 max；比例 = 1 − 有用 ÷ 全部。",
           "total = real = 0；每批：rows = [lengths[i] for i in batch]，宽度 w = width 或 max(rows)，total += w * len(rows)，real += sum(rows)；返回 1 - real / total。"],
    patterns=("complement", "scale", "percent"),
    proved="你的统计与 padding_fraction 一致：现在你能算出种子的固定填充浪费了多少，以及分桶省下了多少。",
    wrong=[
        Wrong(_waste_global_width, "按批填充时，每批的宽度是这一批里最长的那条，不是所有样本里最长的。"),
        Wrong(_waste_mean_of_batches,
              "不要先算每批的比例再平均（批的大小不同）：把所有批的填充位置加起来，除以所有批的总位置数。"),
        Wrong(lambda lengths, batches, width=None: padding_fraction(lengths, batches, None),
              "给了 width 时，每一行都填充到 width（种子代码的固定填充），宽度不是这一批最长的那条。"),
        Wrong(_waste_of_real, "分母是全部计算的位置（行数 × 宽度 之和），不是真实 token 的个数。"),
        Wrong(lambda lengths, batches, width=None: 1 - padding_fraction(lengths, batches, width),
              "要的是填充（浪费）的比例，你算的是有用的比例：1 减去它。"),
        Wrong(_waste_of_all_lengths,
              "有用的 token 只算被取进这些批的样本：sum(lengths[i] for i in batch)，不是 sum(lengths)（有的样本不在任何一批里）。"),
    ],
))
