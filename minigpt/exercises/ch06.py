"""第 6 章练习：只在该算的位置上算损失、预热 + 余弦退火、精确匹配、预测 AdamW 的状态有多大、诊断并修好一个埋了 bug 的训练步。

期望值由 minigpt/train.py 的 lr_at、train_step、minigpt/evaluate.py 的精确匹配和 F.cross_entropy(ignore_index=…) 算出。
6.5 用 tiny_training 在几毫秒一步的小 GPT 上训练几十步，比较整条 loss 曲线。编号按练习在 notebook 里出现的顺序。
"""
import math

import torch
import torch.nn.functional as F

from minigpt.exercises.core import Case, Exercise, Wrong, randn, register, seeded
from minigpt.model import GPTLMHeadModel, config_for

PAD = 0
TINY_VOCAB = 20  # 6.4 的小模型：初始 loss ≈ ln 20 ≈ 3.0


# ------------------------------------------------------------------------------ 6.1 只在该算的位置上算损失
def _loss_case(seed, pad_at, pad=PAD):
    def args():
        logits = (randn(2, 6, 7, seed=seed) * 2).requires_grad_()  # (B, T, V)；loss 要能 backward
        targets = torch.randint(0, 7, (2, 6), generator=torch.Generator().manual_seed(seed + 1))
        targets[targets == pad] = (pad + 1) % 7  # 只有 pad_at 里的位置是填充
        for row, cols in pad_at.items():
            targets[row, cols] = pad
        return logits, targets, pad
    return args


def _per_row_mean(logits, targets, pad):
    rows = [F.cross_entropy(l, t, ignore_index=pad) for l, t in zip(logits, targets)]
    return torch.stack(rows).mean()


register(Exercise(
    id="6.1", stars=2, title="损失只算在目标不是 <pad> 的位置", name="masked_loss",
    task=r"""
训练的损失是所有**目标不是 `<pad>`** 的位置上交叉熵的平均：

$$\mathcal{L} = \frac{1}{|\{(b,t): y_{bt} \ne \text{pad}\}|}\sum_{y_{bt} \ne \text{pad}} -\log \mathrm{softmax}(z_{bt})_{y_{bt}}$$

`targets` 已经在数据集里错开过一位（第 4 章），这里不要再移。可以用 `F.cross_entropy` 的 `ignore_index`，也可以自己写掩码。

- 输入：`logits` `(B, T, V)`，`targets` `(B, T)`（`torch.long`），`pad_token_id`
- 输出：0 维张量（标量，能 `backward()`：`logits` 带着梯度，你返回的 loss 要连着它）
""",
    where="`minigpt/train.py` 的 `train_step`（`F.cross_entropy(..., ignore_index=pad_token_id)`）",
    stub='''
import torch
import torch.nn.functional as F
from minigpt.exercises import check, hint


def masked_loss(logits, targets, pad_token_id):
    """logits: (B, T, V)；targets: (B, T)。返回目标不是 pad 的位置上交叉熵的平均（0 维张量）。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=lambda logits, targets, pad: F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=pad),
    cases=[
        Case("右填充：两行末尾是 <pad>（B=2, T=6, V=7）", _loss_case(0, {0: [4, 5], 1: [2, 3, 4, 5]})),
        Case("只算答案：两行开头是 <pad>", _loss_case(2, {0: [0, 1, 2], 1: [0]})),
        Case("没有 <pad>", _loss_case(4, {})),
        Case("另一个词表：pad_token_id=5", _loss_case(6, {0: [5], 1: [3, 4, 5]}, pad=5)),
    ],
    hints=["交叉熵对每个位置算 −log(正确 token 的概率)，然后只在目标不是 <pad> 的位置上求平均；返回的张量要能 backward()。",
           "F.cross_entropy 要 (N, V) 的 logits 和 (N,) 的目标：用 flatten 把 B、T 两维并成一维；ignore_index 参数跳过 <pad>，默认的 reduction='mean' 只除以没被跳过的个数。",
           "return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=pad_token_id)。"],
    patterns=("scale",),
    proved="你的损失与 train_step 里的一致：<pad> 目标不计入，平均是按真正要预测的 token 个数求的。",
    wrong=[
        Wrong(lambda l, t, pad: F.cross_entropy(l.flatten(0, 1), t.flatten()),
              "<pad> 目标没有排除：加上 ignore_index=pad_token_id，否则模型在学怎样预测填充。"),
        Wrong(lambda l, t, pad: F.cross_entropy(l.flatten(0, 1), t.flatten(), ignore_index=0),
              "用参数 pad_token_id，不要写死 0：ignore_index=pad_token_id（别的词表里 <pad> 不一定是 0）。"),
        Wrong(lambda l, t, pad: F.cross_entropy(l.flatten(0, 1), t.flatten(), ignore_index=pad, reduction="sum"),
              "要的是平均，不是总和：reduction 用默认的 'mean'（除以不是 pad 的目标个数）。"),
        Wrong(_per_row_mean, "先按行平均再平均，会让短的行权重更大：所有有效位置一起平均（摊平后一次算）。"),
        Wrong(lambda l, t, pad: F.nll_loss(l.flatten(0, 1), t.flatten(), ignore_index=pad),
              "nll_loss 要的是 log 概率：先 log_softmax(dim=-1)，或者直接用 F.cross_entropy（它自己做 log_softmax）。"),
        Wrong(lambda l, t, pad: F.cross_entropy(l[:, :-1].flatten(0, 1), t[:, 1:].flatten(), ignore_index=pad),
              "targets 在数据集里已经错开过一位（第 4 章），这里不要再移：logits[:, t] 对应 targets[:, t]。"),
        Wrong(lambda l, t, pad: torch.tensor(F.cross_entropy(l.flatten(0, 1), t.flatten(), ignore_index=pad).item()),
              "数值对，但这个 loss 不能反向传播：.item() 取出的是一个普通的数，torch.tensor(…) 重新包起来也没有计算图了。直接返回 F.cross_entropy 的结果。"),
    ],
))


# ------------------------------------------------------------------------------ 6.2 预热 + 余弦退火
def _lr_reference(step, max_lr, warmup_steps, total_steps, min_lr_ratio=0.1):
    from minigpt.train import TrainSettings, lr_at
    return lr_at(step, TrainSettings(lr=max_lr, warmup_steps=warmup_steps, min_lr_ratio=min_lr_ratio), total_steps)


def _lr(step, max_lr, warmup, total, ratio=0.1, *, warm_from_zero=False, floor=True, span="total-warmup", clamp=True, cosine=True):
    """学习率，以及几种常见的写错方式（关键字参数打开某一种错误）。"""
    if step < warmup:
        return max_lr * (step if warm_from_zero else step + 1) / warmup
    progress = {"total-warmup": (step - warmup) / (total - warmup), "total": (step - warmup) / total,
                "no-warmup": step / total}[span]
    if clamp:
        progress = min(1.0, progress)
    min_lr = max_lr * ratio if floor else 0.0
    shape = 0.5 * (1 + math.cos(math.pi * progress)) if cosine else 1 - progress
    return min_lr + (max_lr - min_lr) * shape


def _lr_case(step, note, max_lr=1e-3, warmup=100, total=1000, ratio=0.1):
    return Case(f"第 {step} 步（{note}）；峰值 {max_lr:g}，预热 {warmup} 步，共 {total} 步，min_lr_ratio={ratio}",
                lambda: (step, max_lr, warmup, total, ratio))


register(Exercise(
    id="6.2", stars=2, title="学习率：线性预热 + 余弦退火", name="my_lr_at",
    task=r"""
第 `step` 步（从 0 数）的学习率：

- 预热（`step < warmup_steps`）：线性增长，$\eta = \eta_{max} \cdot \frac{step + 1}{w}$（第 0 步就不是 0）；
- 之后：余弦退火到 $\eta_{min} = \eta_{max} \cdot$ `min_lr_ratio`，
  $\eta_t = \eta_{min} + \tfrac12(\eta_{max}-\eta_{min})\left(1+\cos\left(\pi\,\tfrac{t-w}{T-w}\right)\right)$；
- 超过 `total_steps`（$T$）后保持 $\eta_{min}$。

输入：`step`、`max_lr`、`warmup_steps`、`total_steps`、`min_lr_ratio`（默认 0.1）。输出：一个浮点数。
""",
    where="`minigpt/train.py` 的 `lr_at`（练习里的函数叫 `my_lr_at`，不会盖掉它）",
    stub='''
import math
from minigpt.exercises import check, hint


def my_lr_at(step, max_lr, warmup_steps, total_steps, min_lr_ratio=0.1):
    """第 step 步的学习率。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=_lr_reference,
    cases=[_lr_case(0, "预热的第一步"), _lr_case(99, "预热的最后一步"), _lr_case(100, "余弦的起点"),
           _lr_case(550, "余弦的中点"), _lr_case(900, "快结束"), _lr_case(1500, "超过了 total_steps"),
           _lr_case(10, "预热中", 3e-4, 40, 400, 0.0), _lr_case(220, "余弦中段", 3e-4, 40, 400, 0.0),
           _lr_case(150, "余弦中段", 6e-4, 20, 300, 0.25), _lr_case(400, "超过了 total_steps", 6e-4, 20, 300, 0.25)],
    atol=1e-12, rtol=1e-6,
    hints=["两段：前 warmup_steps 步从很小线性升到峰值；之后沿半个余弦周期从峰值降到 max_lr × min_lr_ratio，过了 total_steps 就停在那里。",
           "预热：max_lr × (step + 1) / warmup_steps；余弦的进度从预热结束算起：(step − w) / (T − w)，用 min(1.0, …) 截住；min_lr_ratio 用参数。",
           "if step < warmup_steps: return max_lr * (step + 1) / warmup_steps；否则 progress = min(1, (step - w) / (T - w))，min_lr = max_lr * min_lr_ratio，返回 min_lr + 0.5 * (max_lr - min_lr) * (1 + math.cos(math.pi * progress))。"],
    proved="你的学习率曲线与训练用的 lr_at 逐点一致：先小步预热，再沿余弦平滑地降到峰值的十分之一。",
    wrong=[
        Wrong(lambda *a: _lr(*a, warm_from_zero=True),
              "预热从 (step + 1) / warmup_steps 开始：第 0 步的学习率就不是 0（否则第一步白走）。"),
        Wrong(lambda *a: _lr(*a, floor=False), "余弦退火到 min_lr = max_lr × min_lr_ratio，不是降到 0。"),
        Wrong(lambda *a: _lr(*a, span="total"), "余弦的进度从预热结束算起：(step − warmup_steps) / (total_steps − warmup_steps)。"),
        Wrong(lambda *a: _lr(*a, span="no-warmup"),
              "余弦的进度要减去预热：(step − warmup_steps) / (total_steps − warmup_steps)，预热一结束正好是峰值。"),
        Wrong(lambda *a: _lr(*a, clamp=False), "超过 total_steps 之后保持 min_lr：进度要截到 1（min(1.0, …)），否则余弦又升回去了。"),
        Wrong(lambda *a: _lr(*a, cosine=False), "这是线性衰减；要用余弦：0.5 × (1 + cos(π × 进度))。"),
        Wrong(lambda step, max_lr, w, total, ratio=0.1: _lr(step, max_lr, w, total, 0.1),
              "用参数 min_lr_ratio，不要写死 0.1：不同的训练设置，学习率的下限不一样。"),
        Wrong(lambda step, max_lr, w, total, ratio=0.1: _lr(step + w, max_lr, w, total + w, ratio),
              "没有预热：前 warmup_steps 步学习率要从 max_lr / warmup_steps 线性升到 max_lr，之后才开始余弦退火。"),
    ],
))


# ------------------------------------------------------------------------------ 6.3 精确匹配
PREDS = ["足智多谋", "huà shé tiān zú", "比喻做了多余的事", "一丝一毫", "苟延残喘。"]
REFS = ["足智多谋", "huà shé tiān zú", "比喻做了多余的事，非但无益，反而不合适。", "一丝一毫", "苟延残喘"]


def _explain_share(args, got):
    """你的比例比精确匹配高还是低：太宽松（不是一字不差也算对），还是太严格？"""
    preds, refs = args
    try:
        yours, exact = float(got), sum(p == r for p, r in zip(preds, refs)) / len(refs)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if 0 <= yours <= 1 and yours > exact:
        return "你多算了答对的题：一字不差（p == r）才算对；多了空格或标点、大小写不同、只是包含参考答案，都不算。"
    if 0 <= yours < exact:
        return "你少算了答对的题：回答和它自己的参考答案一字不差（p == r）时就算对。"
    return None


def _char_share(preds, refs):
    return sum(sum(a == b for a, b in zip(p, r)) / max(len(p), len(r)) for p, r in zip(preds, refs)) / len(refs)


register(Exercise(
    id="6.3", stars=1, title="精确匹配：一字不差才算对", name="exact_match",
    task=r"""
损失低不等于会答题。**精确匹配**（exact match）：模型对第 $i$ 题的回答和第 $i$ 题的参考答案一字不差
（标点、空格、大小写都算）的题所占的比例。

- 输入：`preds`（模型的回答，`list[str]`），`refs`（参考答案，同样长）
- 输出：0 到 1 之间的小数
""",
    where="`minigpt/evaluate.py` 的 `exact_match_report`（`p == r.answer`）",
    stub='''
from minigpt.exercises import check, hint


def exact_match(preds, refs):
    """返回 preds[i] == refs[i] 的比例。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=lambda preds, refs: sum(p == r for p, r in zip(preds, refs)) / len(refs),
    cases=[
        Case("5 道题：两道答了一半、一道多了句号", lambda: (list(PREDS), list(REFS))),
        Case("全对", lambda: (list(REFS), list(REFS))),
        Case("多了空格的拼音", lambda: (["huà shé tiān zú ", "yī sī yī háo"], ["huà shé tiān zú", "yī sī yī háo"])),
        Case("大小写不同的拼音", lambda: (["Huà shé tiān zú", "yī sī yī háo", "zú zhì duō móu"], ["huà shé tiān zú", "yī sī yī háo", "Zú zhì duō móu"])),
        Case("答案都对，可是对错了题（第 i 题的回答是别的题的参考答案）",
             lambda: (["一丝一毫", "足智多谋", "苟延残喘"], ["足智多谋", "一丝一毫", "苟延残喘"])),
    ],
    hints=["逐题比较：第 i 题的回答只和第 i 题的参考答案比，完全相同才算答对；最后算答对的比例。",
           "zip(preds, refs) 把两边按题配对；字符串用 == 比较（不要 strip、lower，也不要 in）；True 相加就是个数。",
           "return sum(p == r for p, r in zip(preds, refs)) / len(refs)。"],
    patterns=("percent",),
    explain=_explain_share,
    proved="你的精确匹配与训练报告里的一致：多一个句号、少半句话，都不算答对。",
    wrong=[
        Wrong(lambda preds, refs: sum(p.strip() == r.strip() for p, r in zip(preds, refs)) / len(refs),
              "精确匹配是一字不差：空格也算，不要 strip()。"),
        Wrong(lambda preds, refs: sum(r.startswith(p) or p.startswith(r) for p, r in zip(preds, refs)) / len(refs),
              "答了一半（或多出几个字）不算对：要 p == r。"),
        Wrong(lambda preds, refs: sum(p == r for p, r in zip(preds, refs)), "要返回比例（除以题数），不是答对的题数。"),
        Wrong(_char_share, "这是逐字的准确率（char accuracy）；精确匹配是整句一字不差才算 1，否则算 0。"),
        Wrong(lambda preds, refs: sum(p.lower() == r.lower() for p, r in zip(preds, refs)) / len(refs),
              "精确匹配区分大小写：不要 lower()，“Huà” 和 “huà” 是不同的回答。"),
        Wrong(lambda preds, refs: sum(p in refs for p in preds) / len(refs),
              "每道题只和它自己的参考答案比：p in refs 会把“别的题的答案”也算对，要用 zip(preds, refs) 逐题 p == r。"),
    ],
))


# ------------------------------------------------------------------------------ 6.4 预测：AdamW 的状态有多大
def _adamw_state_mib(vocab_size=None):
    """cpu 预设的 GPT（课程的词表）训练时，AdamW 为每个参数多存的状态（exp_avg、exp_avg_sq，各 float32）有多少 MiB。"""
    from minigpt.exercises.ch05 import _vocab_size
    with torch.device("meta"):  # 只要形状
        model = GPTLMHeadModel(config_for("cpu", vocab_size=vocab_size or _vocab_size()))
    optimizer = torch.optim.AdamW(model.parameters())
    state_bytes = sum(2 * p.numel() * p.element_size() for group in optimizer.param_groups for p in group["params"])
    return state_bytes / 2**20


register(Exercise(
    id="6.4", stars=1, kind="predict", title="预测：AdamW 为这个模型多存了多少 MB", name="my_guess",
    task=r"""
**先别往下运行。** 本章训练的是 `cpu` 预设的 GPT，参数个数是上面打印的 `model.num_parameters()`（不到 400 万，float32）。
AdamW 除了参数本身，还要为**每个参数**记住一些状态。这些状态一共占多少 MiB（$2^{20}$ 字节）？

把你的预测赋给 `my_guess`，误差在 ±20% 以内算对。
""",
    where="`torch.optim.AdamW` 的 `state`（`exp_avg`、`exp_avg_sq`）；`minigpt/model.py` 的 `num_parameters`",
    stub='''
from minigpt.exercises import check, hint

my_guess = ...  # 你的预测：AdamW 的状态一共多少 MiB
''',
    reference=_adamw_state_mib,
    cases=[],
    atol=0.0, rtol=0.2,
    hints=["Adam 给每个参数记两个滑动平均：梯度的（一阶矩）和梯度平方的（二阶矩）。每个是一个 float32。",
           "状态字节数 = 参数个数 × 2 × 4（float32 是 4 字节）；再除以 2²⁰ = 1,048,576 得到 MiB。",
           "约 390 万个参数 × 8 字节 ≈ 3,100 万字节 ≈ 30 MiB。"],
    proved=("AdamW 为每个参数存 exp_avg 和 exp_avg_sq 两个 float32：状态是参数本身的 2 倍，"
            "约 390 万参数 × 8 字节 ≈ 30 MiB。加上参数和梯度，训练时一共要 4 份参数大小的内存——大模型的显存大多花在这里。"),
    wrong=[Wrong(lambda: _adamw_state_mib() / 2, "只算了一份状态：AdamW 每个参数存两个（一阶矩 exp_avg 和二阶矩 exp_avg_sq）。"),
           Wrong(lambda: _adamw_state_mib() * 2, "只问 AdamW 多存的状态（两份），不包括参数本身和梯度。")],
))


# ------------------------------------------------------------------------------ 6.5 埋了 bug 的训练步
def _tiny_batch():
    """8 条长短不一的序列（右填充），重复的小模式：一个很小的模型几十步就能学会。"""
    g = torch.Generator().manual_seed(0)
    rows = []
    for i in range(8):
        n = 6 + i % 5
        start = int(torch.randint(3, TINY_VOCAB, (1,), generator=g))
        rows.append([3 + (start + 2 * j) % (TINY_VOCAB - 3) for j in range(n)])
    width = max(len(r) for r in rows)
    tokens = torch.tensor([r + [PAD] * (width - len(r)) for r in rows])  # (8, width)
    return tokens[:, :-1], tokens[:, 1:]  # input_ids, targets（填充位置的目标是 <pad>）


def tiny_training(train_step, steps: int = 30, lr: float = 2e-3) -> list[float]:
    """用 train_step(model, optimizer, input_ids, targets) 把一个很小的 GPT 训练 steps 步，返回每步的 loss。

    每次调用都从同样的初始权重和数据开始，所以两个正确的 train_step 给出同一条曲线。
    """
    with seeded(0):
        model = GPTLMHeadModel(config_for("tiny", vocab_size=TINY_VOCAB, block_size=16))
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    input_ids, targets = _tiny_batch()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 这么小的模型，一个线程最快
    try:
        losses = [train_step(model, optimizer, input_ids, targets) for _ in range(steps)]
    finally:
        torch.set_num_threads(threads)
    return [float(x.detach()) if isinstance(x, torch.Tensor) else float(x) for x in losses]


def _package_step(model, optimizer, input_ids, targets):
    from minigpt.train import train_step
    batch = {"input_ids": input_ids, "targets": targets}
    return train_step(model, optimizer, batch, pad_token_id=PAD, device=torch.device("cpu"), grad_clip=0).item()


def _step(model, optimizer, input_ids, targets, *, bug=None):
    """一步训练，以及几种常见的 bug（bug 参数打开某一种）。"""
    logits = model(input_ids)  # (B, T, V)
    if bug == "double_shift":
        loss = F.cross_entropy(logits[:, :-1].flatten(0, 1), targets[:, 1:].flatten(), ignore_index=PAD)
    elif bug == "no_ignore":
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
    else:
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=PAD)
    if bug not in ("zero_grad_between", "no_zero_grad"):
        optimizer.zero_grad()
    loss.backward()
    if bug == "zero_grad_between":
        optimizer.zero_grad()  # 埋好的 bug：刚算出的梯度被清零了
    optimizer.step()
    return loss.item()


PLANTED_HINT = ("loss 一直停在 ln V ≈ 3.0 附近，模型什么也没学到。看看 loss.backward()、optimizer.zero_grad()、"
                "optimizer.step() 的顺序：梯度刚算出来就被清零了（或者根本没有 step）。顺序应是 zero_grad → backward → step。")


def _explain_curve(args, losses):
    """你的 loss 曲线和参考的不一样：它是平的，还是在降、只是降得不一样？"""
    try:
        first, last = float(losses[0]), float(losses[-1])
    except (TypeError, ValueError, IndexError):
        return None
    if abs(first - last) < 0.05 * abs(first):
        return PLANTED_HINT
    return ("你的曲线在下降，但和课程的 train_step 不完全一样：是不是多做了什么（梯度裁剪、改了学习率、"
            "多走了一步）或少做了什么（ignore_index=0）？每一步只做 zero_grad → backward → step。")

register(Exercise(
    id="6.5", stars=3, title="我的 loss 正常吗？诊断并修好一个埋了 bug 的训练步", name="my_train_step",
    task=r"""
下面的 `my_train_step` 里埋了一个 bug。先运行这个单元格：`tiny_training` 用它把一个很小的 GPT（词表 20 个字）训练 30 步，
`print_diagnosis` 读这条 loss 曲线，说它像哪种病、该查什么。然后改好 `my_train_step`，再运行一次，直到诊断说曲线正常、判题通过。

- 输入：`model`、`optimizer`（AdamW）、`input_ids`、`targets`（`(B, T)`，右填充，目标 `<pad>` = 0 不计损失）
- 输出：这一步的 loss（`float`）。不做梯度裁剪。判题比较整条 30 步的 loss 曲线。
""",
    where="`minigpt/train.py` 的 `train_step`；`minigpt/diagnose.py` 的 `diagnose_loss`",
    stub='''
import torch
import torch.nn.functional as F
from minigpt.diagnose import print_diagnosis
from minigpt.exercises import check, hint
from minigpt.exercises.ch06 import tiny_training


def my_train_step(model, optimizer, input_ids, targets):
    """一步训练，返回这一步的 loss（float）。这里埋了一个 bug。"""
    logits = model(input_ids)  # (B, T, V)
    loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=0)
    loss.backward()
    optimizer.zero_grad()
    optimizer.step()
    return loss.item()
''',
    tail='''
losses = tiny_training(my_train_step)  # 用你的 my_train_step 训练 30 步
print(f"loss：第 1 步 {losses[0]:.3f} → 第 30 步 {losses[-1]:.3f}")
print_diagnosis(losses, vocab_size=20)
''',
    harness=lambda step_fn: tiny_training(step_fn),
    reference=_package_step,
    cases=[Case("词表 20 的小 GPT，8 条序列，训练 30 步", lambda: ())],
    atol=1e-4, rtol=1e-3,
    hints=["先运行单元格，读诊断：loss 几乎不动，说明参数没有被有效地更新。一步训练里，梯度从哪里来、在哪里被用掉、在哪里被清掉？",
           "PyTorch 的梯度累加在 .grad 里：zero_grad 清掉上一步的，backward 算这一步的，step 用 .grad 更新参数。看看这三行的先后。",
           "logits → F.cross_entropy(…, ignore_index=0) → optimizer.zero_grad() → loss.backward() → optimizer.step()，返回 loss.item()。"],
    explain=_explain_curve,
    proved="你的 train_step 与课程的 train_step 给出同一条 loss 曲线：清零梯度、反向传播、更新参数，一步不少，顺序也对。",
    wrong=[
        Wrong(lambda *a: _step(*a, bug="zero_grad_between"), PLANTED_HINT, stub=True),
        Wrong(lambda *a: _step(*a, bug="no_zero_grad"),
              "梯度没有清零：PyTorch 的梯度是累加的，每一步开始先 optimizer.zero_grad()，否则这一步的更新里混着之前所有步的梯度。"),
        Wrong(lambda *a: _step(*a, bug="no_ignore"),
              "<pad> 目标也算进了损失：加上 ignore_index=0（练习 6.3）。曲线会好看，但模型在学怎样预测填充。"),
        Wrong(lambda *a: _step(*a, bug="double_shift"), "targets 已经错开过一位，这里不要再移：logits[:, t] 对应 targets[:, t]。"),
    ],
))
