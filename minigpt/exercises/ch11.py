"""第 11 章练习：LoRA（预测可训练参数的比例、前向、合并）、DPO（损失、回答的对数概率、预测起点 ln 2）、
GRPO（组内优势、k3 KL、截断的比值目标）。

期望值由 minigpt/lora.py 的 LoRALinear、add_lora，minigpt/dpo.py 的 dpo_loss、sequence_logprobs、dpo_batch_loss，
minigpt/grpo.py 的 group_advantages、k3_kl、clipped_surrogate 算出；预测题的真实值用课程的 cpu 预设和模型现算。
编号按练习在 notebook 里出现的顺序。
"""
import copy
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from minigpt.dpo import PreferencePair, dpo_batch_loss, dpo_loss, ids_batch, sequence_logprobs
from minigpt.exercises.core import Case, Exercise, Wrong, randn, register, seeded
from minigpt.build_vocab import count_chars, vocab_from_counter
from minigpt.exercises.samples import PAIRS, tokenizer
from minigpt.grpo import clipped_surrogate, group_advantages, k3_kl
from minigpt.lora import LoRALinear, add_lora, trainable_parameters
from minigpt.model import GPTLMHeadModel, config_for

DATA = Path(__file__).resolve().parents[2] / "data" / "data.jsonl"


# ------------------------------------------------------------------------------ 11.1 预测：LoRA 训练几成参数
def _cpu_preset(data=DATA):
    """课程的 cpu 预设，随机初始化；字表大小按 build_vocab.py 的规则从 data/data.jsonl 现数
    （和 data/vocab.json 相同，但不依赖那个文件已经生成）。"""
    vocab_size = len(vocab_from_counter(count_chars(str(data), warn=lambda m: None))["word2id"])
    with seeded(0):
        return GPTLMHeadModel(config_for("cpu", vocab_size))


def _lora_share(rank=8, part=None, denominator=None):
    """rank 8 的 LoRA（qkv_proj、out_proj、c_fc、c_proj）的可训练参数占原模型参数的百分比。"""
    model = _cpu_preset()
    total = denominator(model) if denominator else sum(p.numel() for p in model.parameters())
    add_lora(model, rank=rank, alpha=16)
    trainable = [p for name, p in model.named_parameters() if p in set(trainable_parameters(model))
                 and (part is None or part in name)]  # part="lora_A"：只数 A（一种错误的算法）
    return 100 * sum(p.numel() for p in trainable) / total


def _without_embeddings(model):
    return sum(p.numel() for name, p in model.named_parameters() if "wte" not in name and "wpe" not in name)


def _linear_weights_share():
    model = _cpu_preset()
    linear = sum(m.weight.numel() for name, m in model.named_modules()
                 if isinstance(m, nn.Linear) and name.split(".")[-1] in ("qkv_proj", "out_proj", "c_fc", "c_proj"))
    return 100 * linear / sum(p.numel() for p in model.parameters())


register(Exercise(
    id="11.1", stars=1, kind="predict", title="预测：rank 8 的 LoRA 只训练百分之几的参数", name="my_percent",
    task=r"""
**先别运行下面的代码。** 课程的 cpu 预设：4 层，每层 `n_embd = 256`，词表约 2,800 个字，共约 390 万个参数。
给每层的四个线性层加上 rank $r = 8$ 的 LoRA：`qkv_proj`（256 → 768）、`out_proj`（256 → 256）、
`c_fc`（256 → 1024）、`c_proj`（1024 → 256）。原来的权重全部冻住，只训练每层旁边的 $A$（$r \times$ 输入）和
$B$（输出 $\times r$）。

可训练的参数占**原模型**全部参数的百分之几？把你的预测写成一个数（比如 `12.5` 表示 12.5%），赋给 `my_percent`。
误差在 ±0.5 个百分点以内算对。
""",
    where="`minigpt/lora.py` 的 `LoRALinear.__init__`（A、B 的形状）和 `add_lora`",
    stub='''
from minigpt.exercises import check, hint

my_percent = ...  # 你的预测：可训练参数 ÷ 原模型参数 × 100
''',
    reference=_lora_share,
    cases=[],
    atol=0.5, rtol=0.0,
    hints=["一个 (输出 × 输入) 的线性层加上 rank r 的 LoRA，多出 A（r × 输入）和 B（输出 × r）：r·(输入 + 输出) 个参数。",
           "每层四个线性层：8·(256+768) + 8·(256+256) + 8·(256+1024) + 8·(1024+256) = 32,768；4 层再乘 4。",
           "4 × 32,768 = 131,072 个可训练参数，除以约 390 万：百分之三点几。"],
    proved=("每个线性层只多出 r·(输入 + 输出) 个参数，而原来的权重有 输入 × 输出 个：rank 8 时每层 32,768 个，"
            "4 层共 131,072 个，约占 390 万的 3.4%。优化器（AdamW）为每个可训练参数存两个数，"
            "所以它的状态也只有全量微调的 3% 左右；原模型的权重照样要放在内存里（前向要用）。"),
    wrong=[Wrong(lambda: _lora_share(part="lora_A"), "只算了 A（或只算了 B）：每个线性层旁边有 A 和 B 两个矩阵，都要训练。"),
           Wrong(_linear_weights_share, "这是这四个线性层原来的全部权重：全量微调它们才要训练这么多；LoRA 只训练旁边的 A 和 B。"),
           Wrong(lambda: _lora_share(denominator=_without_embeddings),
                 "分母要是原模型的全部参数，包括词嵌入（wte，约 2,800 × 256）和位置嵌入（wpe）。")],
))


# ------------------------------------------------------------------------------ 11.2 LoRA 的前向
def _layer(W, A, B, alpha, rank) -> LoRALinear:
    """权重是 W、A、B 的一个 LoRALinear（没有 bias）。"""
    base = nn.Linear(W.shape[1], W.shape[0], bias=False)
    layer = LoRALinear(base, rank, alpha)
    with torch.no_grad():
        base.weight.copy_(W)
        layer.lora_A.copy_(A)
        layer.lora_B.copy_(B)
    return layer


def _lora_forward(x, W, A, B, alpha, rank):
    with torch.no_grad():
        return _layer(W, A, B, alpha, rank)(x)


def _lora_case(shape, out, rank, alpha, seed, b_zero=False):
    d_in = shape[-1]
    B = torch.zeros(out, rank) if b_zero else randn(out, rank, seed=seed + 3)
    return lambda: (randn(*shape, seed=seed), randn(out, d_in, seed=seed + 1), randn(rank, d_in, seed=seed + 2), B.clone(),
                    alpha, rank)


register(Exercise(
    id="11.2", stars=2, title="LoRA 的前向：原层的输出加上低秩的修正", name="lora_forward",
    task=r"""
原层 $y = xW^\top$ 的权重 $W$ 是 `(out, in)`，冻住不动。LoRA 在旁边加两个小矩阵 $A$ `(rank, in)`、$B$ `(out, rank)`：

$$y = xW^\top + \frac{\alpha}{r}\, x A^\top B^\top$$

$B$ 初始化为 0，所以刚加上时 $y$ 和原层完全一样；$\alpha / r$ 让换 rank 时不必重新调学习率。

- 输入：`x` `(..., in)`，`W` `(out, in)`，`A` `(rank, in)`，`B` `(out, rank)`，`alpha`（float），`rank`（int）
- 输出：`(..., out)`
""",
    where="`minigpt/lora.py` 的 `LoRALinear.forward`（本节下面才展示）",
    stub='''
import torch
from minigpt.exercises import check, hint


def lora_forward(x, W, A, B, alpha, rank):
    """x: (..., in)；W: (out, in)；A: (rank, in)；B: (out, rank)。返回 (..., out)。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=_lora_forward,
    cases=[
        Case("rank 2，alpha 16（缩放 8）", _lora_case((5, 8), 8, 2, 16.0, seed=2)),
        Case("rank 4，alpha 2（缩放 0.5）", _lora_case((1, 4, 16), 12, 4, 2.0, seed=3)),
        Case("rank 8，alpha 8（缩放 1）", _lora_case((3, 10), 7, 8, 8.0, seed=4)),
        Case("B = 0（刚初始化）：就是原层的输出", _lora_case((2, 3, 8), 6, 4, 8.0, seed=1, b_zero=True)),
    ],
    hints=["两部分相加：原层 x·Wᵀ，和 LoRA 的修正 x·Aᵀ·Bᵀ（先降到 rank 维，再升到 out 维），修正要乘 alpha / rank。",
           "x @ W.T 是 (..., out)；x @ A.T 是 (..., rank)，再 @ B.T 得到 (..., out)。缩放只乘在修正上。",
           "return x @ W.T + (alpha / rank) * (x @ A.T @ B.T)"],
    proved=("你的 LoRA 前向与 minigpt/lora.py 的 LoRALinear.forward 一致：B = 0 时和原层逐位相同，"
            "所以加上适配器的模型一开始和原模型给出一样的 logits；训练只改 A、B。"),
    wrong=[
        Wrong(lambda x, W, A, B, a, r: x @ W.T + a * (x @ A.T @ B.T), "缩放是 alpha / rank，不是 alpha：rank 越大，每一维的修正越小。"),
        Wrong(lambda x, W, A, B, a, r: x @ W.T + (r / a) * (x @ A.T @ B.T), "缩放是 alpha / rank，你写反了（rank / alpha）。"),
        Wrong(lambda x, W, A, B, a, r: x @ W.T + x @ A.T @ B.T, "修正项要乘 alpha / rank。"),
        Wrong(lambda x, W, A, B, a, r: (a / r) * (x @ A.T @ B.T),
              "忘了原层：LoRA 的修正是加在原来的输出 x·Wᵀ 上的（B = 0 时结果应该就是原层的输出）。"),
        Wrong(lambda x, W, A, B, a, r: (a / r) * (x @ W.T + x @ A.T @ B.T), "alpha / rank 只乘在 LoRA 的修正上，原层的输出不缩放。"),
    ],
))


# ------------------------------------------------------------------------------ 11.3 合并
def _merge(W, A, B, alpha, rank):
    layer = _layer(W, A, B, alpha, rank)
    layer.merge()
    return layer.base.weight.detach().clone()


def _merge_case(out, d_in, rank, alpha, seed, b_zero=False):
    B = torch.zeros(out, rank) if b_zero else randn(out, rank, seed=seed + 2)
    return lambda: (randn(out, d_in, seed=seed), randn(rank, d_in, seed=seed + 1), B.clone(), alpha, rank)


register(Exercise(
    id="11.3", stars=1, title="合并：把 LoRA 的修正加进原来的权重", name="merge_weight",
    task=r"""
训练完以后，可以把修正直接加进 $W$，推理时就没有额外的计算，模型也变回普通的 GPT（能照常保存、导出）：

$$W' = W + \frac{\alpha}{r}\, B A$$

合并后的层对任何 $x$ 都给出和练习 11.2 一样的结果。

- 输入：`W` `(out, in)`，`A` `(rank, in)`，`B` `(out, rank)`，`alpha`，`rank`
- 输出：新的 `(out, in)` 张量（不要原地改 `W`）
""",
    where="`minigpt/lora.py` 的 `LoRALinear.delta_weight` 和 `merge`",
    stub='''
import torch
from minigpt.exercises import check, hint


def merge_weight(W, A, B, alpha, rank):
    """返回 W + (alpha / rank) · B @ A，形状 (out, in)；不改动 W。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=_merge,
    cases=[
        Case("方阵 8×8，rank 2，alpha 4", _merge_case(8, 8, 2, 4.0, seed=5)),
        Case("12×16，rank 4，alpha 16", _merge_case(12, 16, 4, 16.0, seed=6)),
        Case("B = 0（刚初始化）：权重不变", _merge_case(6, 10, 3, 6.0, seed=7, b_zero=True)),
        Case("4×20，rank 1，alpha 0.5", _merge_case(4, 20, 1, 0.5, seed=8)),
    ],
    hints=["ΔW = B @ A 的形状是 (out, rank) @ (rank, in) = (out, in)，正好和 W 一样；再乘 alpha / rank。",
           "用 W + …（得到新张量），不要 W += …（那会改动传进来的 W）。",
           "return W + (alpha / rank) * (B @ A)"],
    proved=("你的合并与 minigpt/lora.py 的 LoRALinear.merge 一致：x·W'ᵀ = x·Wᵀ + (α/r)·x·Aᵀ·Bᵀ，"
            "合并前后的输出相同；B = 0 时什么也不变。unmerge 就是再减回去。"),
    wrong=[
        Wrong(lambda W, A, B, a, r: W + B @ A, "B @ A 还要乘 alpha / rank，和前向里的缩放一样。"),
        Wrong(lambda W, A, B, a, r: W + a * (B @ A), "缩放是 alpha / rank，不是 alpha。"),
        Wrong(lambda W, A, B, a, r: W + (a / r) * (B @ A).T,
              "ΔW = B @ A 已经是 (out, in)，和 W 的形状一样，不用再转置（方阵时转置不报错，但结果不对）。"),
        Wrong(lambda W, A, B, a, r: W - (a / r) * (B @ A), "合并是加上 ΔW；减去是 unmerge（把合并撤回来）。"),
    ],
))


# ------------------------------------------------------------------------------ 11.4 DPO 损失
def _dpo(pc, pr, rc, rr, beta):
    return dpo_loss(pc, pr, rc, rr, beta)[0]


def _logps(n, seed, beta, same=False):
    def make():
        pc, pr = -5 * randn(n, seed=seed).abs(), -5 * randn(n, seed=seed + 1).abs()
        rc, rr = (pc.clone(), pr.clone()) if same else (-5 * randn(n, seed=seed + 2).abs(), -5 * randn(n, seed=seed + 3).abs())
        return pc, pr, rc, rr, beta
    return make


def _z(pc, pr, rc, rr, beta):
    return beta * ((pc - rc) - (pr - rr))


register(Exercise(
    id="11.4", stars=2, title="DPO 的损失：从四个对数概率算出来", name="dpo_loss",
    task=r"""
一批偏好对，每对有好回答 $y_w$ 和差回答 $y_l$。给出策略和参考模型对它们的序列对数概率（每个都是 `(B,)`）：

$$L = -\frac{1}{B}\sum \log\sigma\Big(\beta\,\big[(\log\pi(y_w) - \log\pi_\text{ref}(y_w)) - (\log\pi(y_l) - \log\pi_\text{ref}(y_l))\big]\Big)$$

- 输入：`policy_chosen`、`policy_rejected`、`ref_chosen`、`ref_rejected`（`(B,)` 张量），`beta`（float）
- 输出：一个数（0 维张量）：这一批的平均损失

$\log\sigma$ 用 `F.logsigmoid`（比先 sigmoid 再 log 稳定）。
""",
    where="`minigpt/dpo.py` 的 `dpo_loss`（本节下面才展示）",
    stub='''
import torch
import torch.nn.functional as F
from minigpt.exercises import check, hint


def dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta):
    """四个 (B,) 的序列对数概率 → 平均 DPO 损失（0 维张量）。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=_dpo,
    cases=[
        Case("4 对，β = 0.1", _logps(4, seed=1, beta=0.1)),
        Case("策略就是参考模型，β = 0.3", _logps(3, seed=2, beta=0.3, same=True)),
        Case("6 对，β = 0.5", _logps(6, seed=3, beta=0.5)),
        Case("1 对，β = 2", _logps(1, seed=4, beta=2.0)),
    ],
    hints=["先算每对的隐式奖励之差 z = β·[(策略 − 参考)(好) − (策略 − 参考)(差)]，形状 (B,)；损失是 −log σ(z) 的平均。",
           "z = beta * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected))；−log σ(z) 是 -F.logsigmoid(z)。",
           "return -F.logsigmoid(beta * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected))).mean()"],
    proved=("你的 DPO 损失与 minigpt/dpo.py 的 dpo_loss 一致。z > 0 说明策略比参考模型更偏向好回答，损失小于 ln 2；"
            "策略就是参考模型时 z = 0，损失正好是 ln 2 ≈ 0.693，与 β 无关。"),
    wrong=[
        Wrong(lambda pc, pr, rc, rr, b: -F.logsigmoid(-_z(pc, pr, rc, rr, b)).mean(),
              "符号反了（或好、差回答放反了）：好回答的隐式奖励要减去差回答的，z 越大损失越小。"),
        Wrong(lambda pc, pr, rc, rr, b: -F.logsigmoid(_z(pc, pr, rc, rr, 1.0)).mean(), "忘了乘 β：β 控制策略能离参考模型多远。"),
        Wrong(lambda pc, pr, rc, rr, b: -F.logsigmoid(b * (pc - pr)).mean(),
              "忘了参考模型：要比的是策略比参考模型多喜欢多少（log π − log π_ref），不是策略自己的对数概率。"),
        Wrong(lambda pc, pr, rc, rr, b: -F.logsigmoid(_z(pc, pr, rc, rr, b)).sum(), "要对这一批取平均，不是求和。"),
        Wrong(lambda pc, pr, rc, rr, b: F.logsigmoid(_z(pc, pr, rc, rr, b)).mean(), "少了负号：log σ(z) ≤ 0，损失是 −log σ(z)。"),
    ],
))


# ------------------------------------------------------------------------------ 11.5 回答的对数概率
def _seq_logprob(logits, targets, answer_mask):
    batch = {"input_ids": None, "attention_mask": None, "targets": targets, "answer_mask": answer_mask}
    return sequence_logprobs(lambda ids, mask: logits, batch)


def _seq_case(prompts, replies, V, seed):
    def make():
        batch = ids_batch(prompts, replies, pad=0)
        B, T = batch["targets"].shape
        return 2 * randn(B, T, V, seed=seed), batch["targets"], batch["answer_mask"]
    return make


def _masked(logits, targets, mask, logp=True):
    scores = logits.log_softmax(-1) if logp else logits.softmax(-1)
    return scores.gather(-1, targets[..., None]).squeeze(-1) * mask


register(Exercise(
    id="11.5", stars=3, title="回答的对数概率：只加回答的 token", name="sequence_logprob",
    task=r"""
DPO 要的是 $\log\pi(\text{回答}\mid\text{问题})$：回答里每个 token（包括最后的 `<sep>`）的对数概率之和。
模型照常对整条“问题 `<sep>` 回答 `<sep>`”前向，得到 `logits`；`targets` 已经错开了一位（位置 $t$ 的目标是第 $t+1$ 个
token），提示词部分和右边的填充位置的目标是 `<pad>`（编号 0）。`answer_mask` 标出回答的位置。

- 输入：`logits` `(B, T, V)`，`targets` `(B, T)`（long），`answer_mask` `(B, T)`（bool）
- 输出：`(B,)`：每行回答的 token 对数概率之和（提示词和填充位置不算）
""",
    where="`minigpt/dpo.py` 的 `token_logprobs` 和 `sequence_logprobs`",
    stub='''
import torch
from minigpt.exercises import check, hint


def sequence_logprob(logits, targets, answer_mask):
    """logits: (B, T, V)；targets: (B, T)；answer_mask: (B, T) bool。返回 (B,)。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=_seq_logprob,
    cases=[
        Case("两行，提示词和回答长短不同", _seq_case([[5, 6, 7, 2], [8, 2]], [[9, 4, 2], [3, 3, 6, 5, 2]], V=10, seed=1)),
        Case("一行，回答只有 <sep>", _seq_case([[3, 4, 2]], [[2]], V=6, seed=2)),
        Case("三行，回答里有 <pad> 这个字", _seq_case([[1, 2], [4, 5, 6, 2], [7, 2]], [[0, 3, 2], [2], [5, 5, 2]], V=8, seed=3)),
    ],
    hints=["先对最后一维取 log_softmax，再用 gather 取出每个位置上目标 token 的对数概率，得到 (B, T)。",
           "乘上 answer_mask（提示词和填充位置变成 0），再对 T 这一维求和。targets 已经错开了一位，不要再错开。",
           "return (logits.log_softmax(-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1) * answer_mask).sum(-1)"],
    proved=("你的回答对数概率与 minigpt/dpo.py 的 sequence_logprobs 一致：提示词的 token 不算（DPO 比的是回答），"
            "填充位置不算；回答里真有编号 0 的 token 时，按位置标的 answer_mask 照样把它算进去，`targets != 0` 就会漏掉。"),
    wrong=[
        Wrong(lambda lg, t, m: _masked(lg, t, torch.ones_like(m)).sum(-1),
              "提示词和填充位置也加进去了：乘上 answer_mask，只留回答的 token。"),
        Wrong(lambda lg, t, m: _masked(lg, t, m).sum(-1) / m.sum(-1), "要的是求和（整个回答的对数概率），不是每个 token 的平均。"),
        Wrong(lambda lg, t, m: _masked(lg, t, m, logp=False).sum(-1),
              "加的是概率，不是对数概率：先 log_softmax 再 gather（回答的概率是各 token 概率之积，取对数才变成求和）。"),
        Wrong(lambda lg, t, m: _masked(lg[:, :-1], t[:, 1:], m[:, 1:]).sum(-1),
              "targets 已经错开了一位（位置 t 的目标就是下一个 token），不要再错开。"),
        Wrong(lambda lg, t, m: _masked(lg, t, t != 0).sum(-1),
              "用 targets != 0 代替 answer_mask：回答里真有编号 0 的 token 时会漏掉它。用传进来的 answer_mask。"),
    ],
))


# ------------------------------------------------------------------------------ 11.6 预测：DPO 一开始的损失
def _dpo_at_start(beta=0.5):
    """策略就是参考模型（深拷贝）时，课程包给这批样例偏好对算出的 DPO 损失。"""
    tok = tokenizer()
    with seeded(0):
        policy = GPTLMHeadModel(config_for("tiny", tok.get_vocab_size())).eval()
    answers = [a for _, a in PAIRS]
    pairs = [PreferencePair(q, a, answers[(i + 1) % len(answers)], i + 1) for i, (q, a) in enumerate(PAIRS)]
    with torch.no_grad():
        return dpo_batch_loss(policy, copy.deepcopy(policy), tok, pairs, beta=beta)[0].item()


register(Exercise(
    id="11.6", stars=1, kind="predict", title="预测：DPO 训练第一步的损失", name="my_loss",
    task=r"""
**先别运行下面的代码。** DPO 训练开始时，参考模型是策略的一份拷贝（`reference = copy.deepcopy(model)`）。
用 β = 0.5，在 5 个偏好对上算第一步的 DPO 损失（练习 11.4 的公式），结果是多少？

把你的预测写成一个数，赋给 `my_loss`。误差在 ±0.05 以内算对。
""",
    where="`minigpt/dpo.py` 的 `dpo_batch_loss` 和模块说明里“为什么一开始损失正好是 ln 2”",
    stub='''
from minigpt.exercises import check, hint

my_loss = ...  # 你的预测：第一步的 DPO 损失
''',
    reference=_dpo_at_start,
    cases=[],
    atol=0.05, rtol=0.0,
    hints=["策略和参考模型一模一样时，log π(y) − log π_ref(y) 对每个回答都是多少？",
           "两个括号都是 0，所以 z = β·0 = 0，和 β 无关；σ(0) 是多少？",
           "损失 = −log σ(0) = −log(1/2) = ln 2。"],
    proved=("策略就是参考模型，每个回答的 log π − log π_ref = 0，z = 0，σ(0) = 1/2，损失 = −log(1/2) = ln 2 ≈ 0.693，"
            "不管 β 多大、偏好对是什么。训练中损失一直停在 0.693，说明策略根本没动"
            "（minigpt.diagnose.diagnose_post_training 会报 dpo_stuck_ln2）。"),
    wrong=[Wrong(lambda: 0.0, "策略和参考一样时 z = 0，但损失是 −log σ(0)，不是 0：σ(0) = 1/2。"),
           Wrong(lambda: 0.5, "σ(0) = 1/2 是概率；损失是它的负对数：−log(1/2)。"),
           Wrong(lambda: 1.0, "−log₂(1/2) = 1 是以比特计；课程的损失用自然对数（nats）：−ln(1/2)。")],
))


# ------------------------------------------------------------------------------ 11.7 组内优势
def _rewards(rows, eps):
    return lambda: (torch.tensor(rows, dtype=torch.float32), eps)


def _centered(r):
    return r - r.mean(dim=1, keepdim=True)


register(Exercise(
    id="11.7", stars=2, title="GRPO 的组内优势：同一道题的回答互为基线", name="group_advantages",
    task=r"""
每道题（提示词）抽 $G$ 个回答，词典给每个回答打分 $r_i$。GRPO 不训练价值网络，而是在**同一组**里归一化：

$$A_i = \frac{r_i - \operatorname{mean}(r)}{\operatorname{std}(r) + \varepsilon}$$

均值和标准差只在同一行（同一道题的 $G$ 个回答）里算；标准差用无偏估计（除以 $G-1$，`torch.std` 的默认）。
一组只有一个回答（$G = 1$）时没有可比的，优势是 0。

- 输入：`rewards` `(P, G)`，`eps`（float）
- 输出：`(P, G)`
""",
    where="`minigpt/grpo.py` 的 `group_advantages`（本节下面才展示）",
    stub='''
import torch
from minigpt.exercises import check, hint


def group_advantages(rewards, eps):
    """rewards: (P, G)，P 道题各 G 个回答的奖励。返回组内归一化的优势 (P, G)。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=group_advantages,
    cases=[
        Case("两道题，各 4 个回答", _rewards([[1, 0, 0, 1], [0, 0, 1, 0]], 1e-4)),
        Case("一组全对、一组全错、一组两对一错", _rewards([[1, 1, 1], [0, 0, 0], [1, 0, 1]], 1e-4)),
        Case("奖励不只 0 和 1，ε = 0.1", _rewards([[0.2, 0.9, 0.5, 0.1, 0.7], [0.3, 0.3, 0.8, 0.4, 0.0]], 0.1)),
        Case("每组只有一个回答（G = 1）", _rewards([[0.0], [0.0]], 1e-4)),
    ],
    hints=["每一行单独算：减去这一行的均值，再除以这一行的标准差加 ε。用 dim=1 和 keepdim=True。",
           "r.mean(dim=1, keepdim=True)、r.std(dim=1, keepdim=True)；全对或全错的组标准差是 0，靠 ε 才不会 0/0。"
           "G = 1 时无偏标准差没有定义（NaN），要单独处理。",
           "c = rewards - rewards.mean(dim=1, keepdim=True)；G = 1 时 return c；否则 return c / (rewards.std(dim=1, keepdim=True) + eps)"],
    proved=("你的优势与 minigpt/grpo.py 的 group_advantages 一致：同一道题里答对的是正、答错的是负；"
            "全对或全错的组、只有一个回答的组优势全是 0，这些题什么也学不到"
            "（它们多了，minigpt.diagnose.diagnose_post_training 会报 reward_collapse）。"),
    wrong=[
        Wrong(lambda r, eps: _centered(r) / (r.std(dim=1, keepdim=True, unbiased=False) + eps),
              "标准差用无偏估计（除以 G − 1，torch.std 的默认），和 TRL 一样；你除以了 G。"),
        Wrong(lambda r, eps: _centered(r) / r.std(dim=1, keepdim=True),
              "全对或全错的组标准差是 0，0/0 得到 NaN：分母要加 eps。"),
        Wrong(lambda r, eps: (r - r.mean()) / (r.std() + eps),
              "均值和标准差要在每一组（每一行）里算，不是整批一起：组内的回答才是同一道题，互为基线。"),
        Wrong(lambda r, eps: _centered(r), "减去均值之后还要除以（标准差 + eps）。"),
        Wrong(lambda r, eps: _centered(r) / (r.std(dim=1, keepdim=True) + eps),
              "G = 1 时无偏标准差是 NaN（除以 G − 1 = 0）：一组只有一个回答时直接返回全 0（没有可比的）。"),
        Wrong(lambda r, eps: _centered(r) / torch.sqrt(r.var(dim=1, keepdim=True) + eps),
              "ε 加在标准差外面：std + eps，不是 sqrt(方差 + eps)（那是 LayerNorm 的写法）。"),
    ],
))


# ------------------------------------------------------------------------------ 11.8 k3 KL
def _kl_case(n, T, spread, seed):
    def make():
        logp = -3 * randn(n, T, seed=seed).abs()
        return logp, logp + spread * randn(n, T, seed=seed + 1)
    return make


register(Exercise(
    id="11.8", stars=1, title="k3：每个 token 到参考模型的 KL", name="k3_kl",
    task=r"""
GRPO 用 KL 惩罚拉住策略，不让它离 SFT 模型太远。每个抽到的 token 只有一个样本，$\mathrm{KL}(\pi\,\|\,\pi_\text{ref})$
用 k3 估计（Schulman 2020，DeepSeekMath 和 TRL 都用它）：

$$d = \log\pi_\text{ref}(y_t) - \log\pi(y_t),\qquad \mathrm{KL}_t = e^{d} - d - 1$$

它总是 $\ge 0$，期望正好是 KL。

- 输入：`logp`、`ref_logp`：同形状的张量，策略和参考模型对每个 token 的对数概率
- 输出：同形状，每个 token 的 k3
""",
    where="`minigpt/grpo.py` 的 `k3_kl`",
    stub='''
import torch
from minigpt.exercises import check, hint


def k3_kl(logp, ref_logp):
    """逐 token 的 k3 KL 估计，形状同输入。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=k3_kl,
    cases=[
        Case("2 个回答 × 5 个 token，离参考不远", _kl_case(2, 5, 0.3, seed=1)),
        Case("离参考模型很近", _kl_case(3, 4, 0.05, seed=2)),
        Case("离参考很远", _kl_case(4, 3, 2.0, seed=3)),
    ],
    hints=["先算 d = ref_logp − logp（参考减策略），再套公式 e^d − d − 1。",
           "torch.exp(d) - d - 1：d = 0（策略和参考一样）时是 0，其余时候都大于 0。",
           "d = ref_logp - logp；return torch.exp(d) - d - 1"],
    proved=("你的 k3 与 minigpt/grpo.py 的 k3_kl 一致：e^d − d − 1 ≥ 0 对每个 token 都成立（k1 = log π − log π_ref 的"
            "单个样本可以是负数），期望又正好是 KL(π‖π_ref)：方差小、不会负，所以 GRPO 用它。"),
    wrong=[
        Wrong(lambda lp, rp: lp - rp, "这是 k1（log π − log π_ref）：期望对，但单个 token 可以是负数、方差大。题目要的是 k3：e^d − d − 1。"),
        Wrong(lambda lp, rp: torch.exp(lp - rp) - (lp - rp) - 1, "d 是参考减策略：d = ref_logp − logp，你写反了（那估计的是另一个方向的 KL）。"),
        Wrong(lambda lp, rp: (rp - lp) ** 2 / 2, "这是 k2（d²/2）：它有偏。题目要的是 k3：e^d − d − 1。"),
        Wrong(lambda lp, rp: torch.exp(rp - lp) - (rp - lp), "少了 −1：策略和参考一样时 KL 应该是 0。"),
    ],
))


# ------------------------------------------------------------------------------ 11.9 截断的比值目标
def _ratio_case(n, T, adv, eps, seed, spread=0.5):
    return lambda: ((1 + spread * randn(n, T, seed=seed)).clamp(0.05, 3.0), torch.tensor(adv), eps)  # 比值总是正的


register(Exercise(
    id="11.9", stars=2, title="截断的比值目标：一步别走太远", name="clipped_objective",
    task=r"""
同一批样本更新几次时，策略会离抽样时的策略越来越远。PPO 和 GRPO 用比值 $\rho_t = \pi(y_t) / \pi_\text{old}(y_t)$
和截断来限制一步的大小，**要最大化的**目标是

$$\min\big(\rho_t A,\ \operatorname{clip}(\rho_t,\, 1-\varepsilon,\, 1+\varepsilon)\, A\big)$$

$A$ 是这个回答的优势（练习 11.7），同一个回答的每个 token 共用它。

- 输入：`ratio` `(N, T)`，`adv` `(N,)`，`eps`（float）
- 输出：`(N, T)`
""",
    where="`minigpt/grpo.py` 的 `clipped_surrogate`（`grpo_loss` 里取它的相反数）",
    stub='''
import torch
from minigpt.exercises import check, hint


def clipped_objective(ratio, adv, eps):
    """ratio: (N, T)；adv: (N,)。返回逐 token 的截断目标 (N, T)。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=clipped_surrogate,
    cases=[
        Case("3 个回答 × 5 个 token，优势有正有负有 0，ε = 0.2", _ratio_case(3, 5, [1.5, -0.8, 0.0], 0.2, seed=1)),
        Case("4 × 4，ε = 0.1", _ratio_case(4, 4, [0.5, -1.2, 2.0, -0.3], 0.1, seed=2)),
        Case("比值离 1 很远，ε = 0.3", _ratio_case(2, 6, [-1.0, 1.0], 0.3, seed=3, spread=1.0)),
    ],
    hints=["adv 是每个回答一个数 (N,)：先变成 (N, 1)，才能和 (N, T) 的 ratio 逐 token 相乘。",
           "两项：ratio * A 和 ratio.clamp(1 - eps, 1 + eps) * A，逐元素取较小的（torch.min）。",
           "A = adv[:, None]；return torch.min(ratio * A, ratio.clamp(1 - eps, 1 + eps) * A)"],
    proved=("你的目标与 minigpt/grpo.py 的 clipped_surrogate 一致。取 min 是悲观的：A > 0 时 ρ 超过 1 + ε 就不再奖励，"
            "A < 0 时 ρ 低于 1 − ε 也不再奖励，但往坏的方向走多远都照算。每批只更新一次时 ρ = 1，截断不起作用。"),
    wrong=[
        Wrong(lambda r, a, e: torch.max(r * a[:, None], r.clamp(1 - e, 1 + e) * a[:, None]),
              "取 min，不是 max：目标要悲观，对走得太远的一步不给额外的奖励。"),
        Wrong(lambda r, a, e: r.clamp(1 - e, 1 + e) * a[:, None],
              "只用了截断的那一项：还要和没截断的 ρ·A 取较小的，否则往坏的方向走得太远时不受罚。"),
        Wrong(lambda r, a, e: (r * a[:, None]).clamp(1 - e, 1 + e), "截断的是比值 ρ，不是 ρ·A：先 clamp(ratio) 再乘 A。"),
        Wrong(lambda r, a, e: r * a[:, None], "忘了截断：ρ 超出 [1 − ε, 1 + ε] 时要用截断后的比值。"),
        Wrong(lambda r, a, e: torch.min(r * a, r.clamp(1 - e, 1 + e) * a),
              "adv 是每个回答一个数 (N,)，要先变成 (N, 1)（adv[:, None]）才能和 (N, T) 逐 token 相乘。"),
    ],
))
