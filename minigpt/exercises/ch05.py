"""第 5 章练习：滑动窗口的因果注意力、多头注意力、LayerNorm、Pre-LN Block、参数量公式、预测初始损失。

期望值都由课程包里的代码算出（minigpt/model.py、F.scaled_dot_product_attention），用例是很小的固定输入。
编号按练习在 notebook 里出现的顺序。
"""
import functools
import math
from pathlib import Path

import torch
import torch.nn.functional as F

from minigpt.build_vocab import count_chars, vocab_from_counter
from minigpt.exercises.core import Case, Exercise, Wrong, randn, register, seeded
from minigpt.model import Block, CausalSelfAttention, GPTConfig, GPTLMHeadModel, config_for

INF = float("inf")


# ------------------------------------------------------------------------------ 5.1 滑动窗口的因果注意力（本章只写了因果的）
def _hand_example():
    """notebook 05 开头手算的 Q、K、V，加上 batch 和 head 两维：(1, 1, 3, 4)、(1, 1, 3, 2)。"""
    q = torch.tensor([[1., 0, 1, 0], [0, 2, 0, 0], [1, 1, 1, 1]])
    k = torch.tensor([[2., 0, 0, 0], [0, 2, 0, 0], [0, 0, 2, 0]])
    v = torch.tensor([[1., 0], [0, 1], [3, 3]])
    return q[None, None], k[None, None], v[None, None]


def _scores(q, k):
    return q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, nh, T, T)


def _future(q, diagonal=1):
    """True = 要屏蔽的位置。diagonal=1：j > i（未来）。"""
    T = q.shape[-2]
    return torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=diagonal)


def _visible(T, window, *, extra=0, both_sides=False):
    """True = 位置 i 可以看位置 j：j ≤ i 且 i − j < window（extra=1：多看一个；both_sides：不管先后）。"""
    i, j = torch.arange(T)[:, None], torch.arange(T)[None, :]
    near = (i - j).abs() < window + extra if both_sides else (i - j < window + extra)
    return near if both_sides else (j <= i) & near


def _window_reference(q, k, v, window):
    return F.scaled_dot_product_attention(q, k, v, attn_mask=_visible(q.shape[-2], window))


def _att(q, k, v, window, *, scale="sqrt", dim=-1, fill=-INF, after=False, **visible):
    s = q @ k.transpose(-2, -1) / {"sqrt": math.sqrt(q.shape[-1]), "none": 1.0, "hs": q.shape[-1]}[scale]
    hidden = ~_visible(q.shape[-2], window, **visible)
    if after:
        return s.softmax(dim).masked_fill(hidden, 0.0) @ v
    return s.masked_fill(hidden, fill).softmax(dim) @ v


def _qkv(shape, seed, dtype=torch.float32):
    return tuple(randn(*shape, seed=seed + i).to(dtype) for i in range(3))


register(Exercise(
    id="5.1", stars=2, title="滑动窗口的因果注意力：只看最近的 window 个位置", name="my_attention",
    task=r"""
上面写的因果注意力让位置 $i$ 看见 $0..i$ 的所有位置。长文本的模型（如 Mistral）常用**滑动窗口**：
位置 $i$ 只看见自己和它前面的 `window - 1` 个位置，即 $i - \text{window} < j \le i$：

$$\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{QK^\top}{\sqrt{d}} + M\right) V,\qquad
M_{ij} = \begin{cases}0 & i - \text{window} < j \le i\\ -\infty & \text{其他}\end{cases}$$

- 输入：`q`、`k` 形状 `(B, nh, T, hs)`，`v` 形状 `(B, nh, T, hv)`（$d$ = `hs`），`window`（≥ 1 的整数）
- 输出：`(B, nh, T, hv)`，dtype 与输入相同。`window ≥ T` 时就是普通的因果注意力。
- 不要调用 `F.scaled_dot_product_attention`；判题拿它（带 `attn_mask`）的结果作期望值。第 1 个用例是本章开头手算的例子。
""",
    where="`minigpt/model.py` 的 `CausalSelfAttention.forward`（因果的版本：`is_causal=True`）",
    stub='''
import math
import torch
from minigpt.exercises import check, hint


def my_attention(q, k, v, window):
    """q, k: (B, nh, T, hs)；v: (B, nh, T, hv)。位置 i 只看 i-window < j <= i。返回 (B, nh, T, hv)。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=_window_reference,
    cases=[
        Case("本章开头手算的例子 q, k (1, 1, 3, 4)，v (1, 1, 3, 2)，window=2", lambda: (*_hand_example(), 2)),
        Case("随机 q, k, v (2, 3, 5, 8)，window=3", lambda: (*_qkv((2, 3, 5, 8), 1), 3)),
        Case("window=1：每个位置只看自己", lambda: (*_qkv((1, 2, 4, 4), 4), 1)),
        Case("window=8 ≥ T=5：就是普通的因果注意力", lambda: (*_qkv((1, 2, 5, 6), 7), 8)),
        Case("float64 的输入 (1, 1, 6, 4)，window=4（结果也要是 float64）", lambda: (*_qkv((1, 1, 6, 4), 10, torch.float64), 4)),
    ],
    hints=["和因果注意力只差掩码：位置 i 能看的 j 要同时满足“不在未来”（j ≤ i）和“不太远”（i − j < window）。",
           "用 torch.arange(T) 造行号 i（[:, None]）和列号 j（[None, :]），两个条件用 & 合起来；看不见的分数设为 -inf，再 softmax(dim=-1)。",
           "i, j = torch.arange(T)[:, None], torch.arange(T)[None, :]；ok = (j <= i) & (i - j < window)；"
           "scores = q @ k.transpose(-2, -1) / math.sqrt(hs)；return scores.masked_fill(~ok, float('-inf')).softmax(-1) @ v。"],
    proved="你的滑动窗口注意力与 F.scaled_dot_product_attention（带同样的掩码）一致：只改掩码，就能决定每个位置看多远。",
    patterns=("shape-order", "shape-dim", "scale", "nan", "inf-small", "normalize", "transpose"),
    wrong=[
        Wrong(lambda q, k, v, w: _att(q, k, v, w, scale="none"),
              "分数忘了除以 √hs（hs = q.shape[-1]）：不除的话 hs 越大 softmax 越尖，几乎只看一个位置。"),
        Wrong(lambda q, k, v, w: _att(q, k, v, w, scale="hs"), "除的是 hs，应该除以 √hs：math.sqrt(q.shape[-1])。"),
        Wrong(lambda q, k, v, w: _att(q, k, v, w, dim=-2),
              "softmax 的维度不对：每个查询（每一行）对所有键的权重加起来是 1，应为 softmax(dim=-1)。"),
        Wrong(lambda q, k, v, w: _att(q, k, v, w, extra=1),
              "窗口多看了一个位置：能看的是 i − window < j ≤ i（连自己一共 window 个），条件是 i − j < window，不是 ≤。"),
        Wrong(lambda q, k, v, w: _att(q, k, v, T := q.shape[-2]),
              "只做了因果掩码，没有窗口：离得比 window 远的位置也要屏蔽（i − j ≥ window 的设为 -inf）。"),
        Wrong(lambda q, k, v, w: _att(q, k, v, w, both_sides=True),
              "窗口只往前看：位置 i 不能看 j > i 的未来位置，条件是 (j <= i) & (i - j < window)。"),
        Wrong(lambda q, k, v, w: _att(q, k, v, w, fill=0.0),
              "被屏蔽的分数要设为 -inf，不是 0：e⁰ = 1，分数为 0 的位置仍然分到了权重。"),
        Wrong(lambda q, k, v, w: _att(q, k, v, w, after=True),
              "掩码要在 softmax 之前加：softmax 之后再把权重置 0，每一行的权重和就不是 1 了。"),
        Wrong(lambda q, k, v, w: _window_reference(q.float(), k.float(), v.float(), w),
              "结果的 dtype 要和输入一样：float64 进、float64 出（别把输入 .float()，也别用 float32 的常量张量）。"),
    ],
))


# ------------------------------------------------------------------------------ 5.2 多头注意力
def _mha_case(seed, C, nh, B, T):
    def args():
        with seeded(seed):
            attn = CausalSelfAttention(GPTConfig(n_embd=C, n_head=nh, n_layer=1, dropout=0.0, block_size=16, vocab_size=10)).eval()
        return attn, randn(B, T, C, seed=seed + 1)
    return args


def _mha(attn, x, *, order="qkv", split_ok=True, merge_ok=True, causal=True, scale_by="hs", out=True, heads=None):
    """多头注意力，以及几种常见的写错方式（关键字参数打开某一种错误）。"""
    B, T, C = x.shape
    nh = heads or attn.config.n_head
    hs = C // nh
    parts = dict(zip(order, attn.qkv_proj(x).chunk(3, dim=-1)))
    q, k, v = parts["q"], parts["k"], parts["v"]
    if split_ok:
        q, k, v = (t.view(B, T, nh, hs).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
    else:
        q, k, v = (t.reshape(B, nh, T, hs) for t in (q, k, v))
    s = q @ k.transpose(-2, -1) / math.sqrt(hs if scale_by == "hs" else C)
    if causal:
        s = s.masked_fill(_future(q), -INF)
    y = s.softmax(-1) @ v  # (B, nh, T, hs)
    y = y.transpose(1, 2).reshape(B, T, C) if merge_ok else y.reshape(B, T, C)
    return attn.out_proj(y) if out else y


register(Exercise(
    id="5.2", stars=3, title="多头因果自注意力（CausalSelfAttention.forward）", name="my_mha",
    task=r"""
用 `attn` 的权重写出整个多头注意力层：

1. `attn.qkv_proj(x)` 一次算出 $Q, K, V$（按 q、k、v 的顺序拼在最后一维），各 `(B, T, C)`；
2. 拆成 `nh = attn.config.n_head` 个头：`(B, T, C)` → `(B, nh, T, hs)`，`hs = C // nh`；
3. 每个头做带因果掩码的缩放点积注意力（可以用练习 5.1 的函数、`window` 取 `T`，或 `F.scaled_dot_product_attention`）；
4. 拼回 `(B, T, C)`，经过 `attn.out_proj`。

- 输入：`attn`（`minigpt.model.CausalSelfAttention`，dropout 为 0）、`x` 形状 `(B, T, C)`
- 输出：`(B, T, C)`。不要直接调用 `attn(x)`。
""",
    where="`minigpt/model.py` 的 `CausalSelfAttention.forward`",
    stub='''
import math
import torch
import torch.nn.functional as F
from minigpt.exercises import check, hint


def my_mha(attn, x):
    """attn: CausalSelfAttention；x: (B, T, C)。返回 (B, T, C)。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=lambda attn, x: attn(x),
    cases=[Case("C=8, 2 个头，x (2, 5, 8)", _mha_case(0, 8, 2, 2, 5)), Case("C=12, 3 个头，x (1, 4, 12)", _mha_case(1, 12, 3, 1, 4)),
           Case("C=16, 4 个头，x (2, 3, 16)", _mha_case(2, 16, 4, 2, 3))],
    hints=["四步：一次投影得到 q、k、v；把最后一维 C 切成 nh 个头、头那一维挪到序列前面；每个头各自做因果注意力；把头拼回去再投影。",
           "chunk(3, dim=-1) 切出 q、k、v；头数 nh = attn.config.n_head（不要写死），hs = C // nh；"
           "view(B, T, nh, hs) 再 transpose(1, 2) 得到 (B, nh, T, hs)；合并时反过来 transpose(1, 2) 再 reshape(B, T, C)。",
           "q, k, v = attn.qkv_proj(x).chunk(3, dim=-1)；每个 .view(B, T, nh, hs).transpose(1, 2)；注意力之后 .transpose(1, 2).reshape(B, T, C)，再 attn.out_proj。"],
    patterns=("shape-order", "shape-reshape"),
    proved="你的多头注意力与 minigpt.model.CausalSelfAttention 一致：拆头、合并、缩放、因果掩码、输出投影都对。",
    wrong=[
        Wrong(lambda a, x: _mha(a, x, split_ok=False),
              "拆头要先 view(B, T, nh, hs) 再 transpose(1, 2)；直接变成 (B, nh, T, hs) 会把不同位置的数混进同一个头。"),
        Wrong(lambda a, x: _mha(a, x, merge_ok=False),
              "合并头之前要先 transpose(1, 2) 回到 (B, T, nh, hs)，再 reshape(B, T, C)；直接 reshape 会把不同头、不同位置混在一起。"),
        Wrong(lambda a, x: _mha(a, x, causal=False), "别忘了因果掩码：位置 i 只能看见 0..i（is_causal=True）。"),
        Wrong(lambda a, x: _mha(a, x, out=False), "最后还要经过输出投影 attn.out_proj。"),
        Wrong(lambda a, x: _mha(a, x, order="kqv"), "qkv_proj 的输出按 q、k、v 的顺序排：q, k, v = attn.qkv_proj(x).chunk(3, dim=-1)。"),
        Wrong(lambda a, x: _mha(a, x, order="vkq"), "qkv_proj 的输出按 q、k、v 的顺序排：q, k, v = attn.qkv_proj(x).chunk(3, dim=-1)。"),
        Wrong(lambda a, x: _mha(a, x, scale_by="C"), "缩放用每个头的维度：除以 √hs（hs = C / n_head），不是 √C。"),
        Wrong(lambda a, x: _mha(a, x, heads=2), "头数要从 attn.config.n_head 读，不要写死 2：别的模型头数不一样。"),
    ],
))


# ------------------------------------------------------------------------------ 5.3 LayerNorm
def _ln_cases():
    return [
        Case("随机输入 x (2, 3, 8)", lambda: (randn(2, 3, 8, seed=1) * 2 + 1, 1 + 0.1 * randn(8, seed=2), 0.1 * randn(8, seed=3))),
        Case("均值很大的输入 x (4, 16)", lambda: (randn(4, 16, seed=4) + 5, torch.ones(16), torch.zeros(16))),
        Case("很小的数，方差和 eps 差不多 x (2, 6)", lambda: (randn(2, 6, seed=5) * 3e-3, torch.ones(6), torch.zeros(6))),
        Case("另一个 eps：eps=0.1，x (3, 5)", lambda: (randn(3, 5, seed=6) * 0.5, 1 + 0.1 * randn(5, seed=7), randn(5, seed=8), 0.1)),
        Case("float64 的输入 x (2, 4)（结果也要是 float64）",
             lambda: (randn(2, 4, seed=9).double(), torch.ones(4, dtype=torch.float64), torch.zeros(4, dtype=torch.float64))),
    ]


def _ln_unbiased(x, weight, bias, eps=1e-5):
    mu = x.mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(x.var(-1, keepdim=True) + eps) * weight + bias  # var 默认除以 C-1


def _ln_eps_outside(x, weight, bias, eps=1e-5):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / (var.sqrt() + eps) * weight + bias


def _ln_no_center(x, weight, bias, eps=1e-5):
    return x / torch.sqrt((x ** 2).mean(-1, keepdim=True) + eps) * weight + bias


def _ln_no_affine(x, weight, bias, eps=1e-5):
    mu = x.mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(((x - mu) ** 2).mean(-1, keepdim=True) + eps)


def _ln_dim0(x, weight, bias, eps=1e-5):
    mu = x.mean(0, keepdim=True)
    return (x - mu) / torch.sqrt(((x - mu) ** 2).mean(0, keepdim=True) + eps) * weight + bias


register(Exercise(
    id="5.3", stars=1, title="LayerNorm", name="my_layer_norm",
    task=r"""
LayerNorm 把每个 token 的 $C$ 个数变成均值 0、方差 1，再逐维缩放、平移：

$$\mathrm{LN}(x) = \gamma \odot \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta,\qquad
\mu = \frac1C\sum_i x_i,\quad \sigma^2 = \frac1C\sum_i (x_i-\mu)^2$$

- 输入：`x` 形状 `(..., C)`；`weight`（$\gamma$）、`bias`（$\beta$）形状 `(C,)`；`eps` 默认 `1e-5`（与 `nn.LayerNorm` 相同）
- 输出：与 `x` 同形状、同 dtype。不要调用 `F.layer_norm` / `nn.LayerNorm`，用 `mean`、`sqrt` 自己写。
""",
    where="`minigpt/model.py` 里 `Block` 的 `ln_1`、`ln_2`（`nn.LayerNorm`）",
    stub='''
import torch
from minigpt.exercises import check, hint


def my_layer_norm(x, weight, bias, eps=1e-5):
    """x: (..., C)；weight, bias: (C,)。对最后一维归一化，返回与 x 同形状的张量。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=lambda x, weight, bias, eps=1e-5: F.layer_norm(x, x.shape[-1:], weight, bias, eps),
    cases=_ln_cases(),
    hints=["每个 token 自己的 C 个数（最后一维）：减去它们的均值，除以它们的标准差（根号里加 eps），再逐维乘 γ、加 β。",
           "mean(-1, keepdim=True) 保留最后一维，才能和 x 广播；方差是 ((x - μ)**2).mean(-1)，除以 C 而不是 C − 1；eps 用参数，不要写死。",
           "μ = x.mean(-1, keepdim=True)，σ² = ((x - μ)**2).mean(-1, keepdim=True)，再 (x - μ) / sqrt(σ² + eps) * weight + bias。"],
    patterns=("offset", "shape-dim"),
    proved="你的 LayerNorm 与 PyTorch 的 F.layer_norm（模型里 ln_1、ln_2、ln_f 用的就是它）逐元素一致。",
    wrong=[
        Wrong(_ln_unbiased, "方差要除以 C（有偏估计），不是 C−1：用 ((x - μ)**2).mean(-1) 或 x.var(-1, unbiased=False)。"),
        Wrong(_ln_eps_outside, "eps 要加在根号里面：sqrt(σ² + eps)，不是 sqrt(σ²) + eps（方差很小时差别很大）。"),
        Wrong(_ln_no_center, "LayerNorm 要先减去均值 μ（只除以均方根、不减均值的是第 8 章的 RMSNorm）。"),
        Wrong(_ln_no_affine, "归一化之后别忘了乘 weight（γ）、加 bias（β）。"),
        Wrong(_ln_dim0, "归一化的是最后一维（每个 token 自己的 C 个数）：mean(-1, keepdim=True)，不是 dim=0。"),
        Wrong(lambda x, weight, bias, eps=1e-5: F.layer_norm(x, x.shape[-1:], weight, bias, 1e-5),
              "用参数 eps，不要写死 1e-5：调用的人传进来的 eps 可能不一样。"),
    ],
))


# ------------------------------------------------------------------------------ 5.4 Pre-LN Block
def _block_case(seed, B, T, C=16, n_head=2):
    def args():
        with seeded(seed):
            block = Block(GPTConfig(n_embd=C, n_head=n_head, n_layer=1, dropout=0.0, block_size=8, vocab_size=10)).eval()
            with torch.no_grad():  # LayerNorm 的 γ、β 不取 1 和 0，才分得清用没用、用在哪
                for ln in (block.ln_1, block.ln_2):
                    ln.weight.normal_(1.0, 0.3)
                    ln.bias.normal_(0.0, 0.3)
        return block, randn(B, T, C, seed=seed + 1) * 2 + 0.5
    return args


def _post_ln(block, x):
    x = block.ln_1(x + block.attn(x))
    return block.ln_2(x + block.mlp(x))


def _residual_of_normed(block, x):
    h = block.ln_1(x)
    x = h + block.attn(h)
    h = block.ln_2(x)
    return h + block.mlp(h)


def _swapped_ln(block, x):
    x = x + block.attn(block.ln_2(x))
    return x + block.mlp(block.ln_1(x))


register(Exercise(
    id="5.4", stars=2, title="Pre-LN 残差块 Block.forward", name="my_block",
    task=r"""
用 `block` 的四个子模块 `ln_1`、`attn`、`ln_2`、`mlp` 写出一个 Pre-LN 解码器块的前向传播：

$$x \leftarrow x + \mathrm{Attn}(\mathrm{LN}_1(x)),\qquad x \leftarrow x + \mathrm{MLP}(\mathrm{LN}_2(x))$$

- 输入：`block`（`minigpt.model.Block`）、`x` 形状 `(B, T, C)`
- 输出：`(B, T, C)`。不要直接调用 `block(x)`。
""",
    where="`minigpt/model.py` 的 `Block.forward`",
    stub='''
from minigpt.exercises import check, hint


def my_block(block, x):
    """block: minigpt.model.Block；x: (B, T, C)。返回 (B, T, C)。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=lambda block, x: block(x),
    cases=[Case("C=16, 2 个头，x (2, 5, 16)", _block_case(0, 2, 5)), Case("x (1, 8, 16)", _block_case(10, 1, 8)),
           Case("C=24, 3 个头，x (1, 4, 24)", _block_case(20, 1, 4, 24, 3))],
    hints=["两个子层先后串联，每个都是“x 加上子层的输出”；Pre-LN 的意思是 LayerNorm 放在子层的输入上，残差那条路上的 x 不归一化。",
           "ln_1 配 attn，ln_2 配 mlp；第二步的输入是第一步加完之后的 x。",
           "x = x + block.attn(block.ln_1(x))；x = x + block.mlp(block.ln_2(x))；return x。"],
    proved="你的 Block 与 minigpt.model.Block 一致：先归一化再进子层，残差加在没归一化的 x 上。",
    wrong=[
        Wrong(_post_ln, "这是 Post-LN（原始 Transformer 的写法）。GPT-2 起用 Pre-LN：LayerNorm 放在子层的输入上，x = x + attn(ln_1(x))。"),
        Wrong(lambda b, x: b.mlp(b.ln_2(b.attn(b.ln_1(x)))), "少了残差连接：每一步都是 x = x + 子层(…)。"),
        Wrong(_residual_of_normed, "残差要加在原来的 x 上，不是归一化之后的值：x = x + attn(ln_1(x))。"),
        Wrong(lambda b, x: x + b.attn(b.ln_1(x)) + b.mlp(b.ln_2(x)),
              "MLP 的输入是加完注意力之后的 x：两个子层是先后串联的，不是并联。"),
        Wrong(_swapped_ln,
              "ln_1 配 attn，ln_2 配 mlp：两个 LayerNorm 的参数不一样，用反了。"),
    ],
))


# ------------------------------------------------------------------------------ 5.5 参数量公式
def _count_params(n_embd, n_layer, vocab_size, block_size):
    config = GPTConfig(n_embd=n_embd, n_head=1, n_layer=n_layer, dropout=0.0, block_size=block_size, vocab_size=vocab_size)
    with torch.device("meta"):  # 只记录形状，不分配内存
        return GPTLMHeadModel(config).num_parameters()


def _formula(C, L, V, T):
    return V * C + T * C + L * (12 * C * C + 7 * C) + 2 * C


register(Exercise(
    id="5.5", stars=2, title="用公式算出模型的参数量", name="n_params",
    task=r"""
不建模型，只用公式算出 `GPTLMHeadModel` 的参数个数（权重绑定：`lm_head` 与 `wte` 是同一个矩阵，只算一次）。
本章“参数都在哪里”一节的表列出了每个部分；看 `minigpt/model.py` 里每个 `nn.Linear` 有没有 `bias`，`nn.LayerNorm` 有几个参数。

- 输入：`n_embd`（$C$）、`n_layer`（$L$）、`vocab_size`（$V$）、`block_size`（上下文长度）
- 输出：一个整数。用例包括 `tiny`、`cpu`、`seed` 三个预设的形状。
""",
    where="`minigpt/model.py` 的 `GPTLMHeadModel.num_parameters`",
    stub='''
from minigpt.exercises import check, hint


def n_params(n_embd, n_layer, vocab_size, block_size):
    """返回 GPTLMHeadModel 的参数个数（整数）。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=_count_params,
    cases=[
        Case("tiny：C=32, L=2, V=20, block_size=16", lambda: (32, 2, 20, 16)),
        Case("cpu：C=256, L=4, V=4825, block_size=128", lambda: (256, 4, 4825, 128)),
        Case("seed：C=768, L=6, V=4825, block_size=128", lambda: (768, 6, 4825, 128)),
        Case("GPT-2 small 的形状：C=768, L=12, V=50257, block_size=1024", lambda: (768, 12, 50257, 1024)),
    ],
    hints=["分块相加：词向量（和 lm_head 共用，只算一次）、位置向量、L 个一样的层、最后一个 LayerNorm。",
           "每层里：qkv_proj 是 C → 3C 带 bias；out_proj、c_fc（C → 4C）、c_proj（4C → C）都没有 bias；两个 LayerNorm 各 2C 个参数。",
           "V·C + block_size·C + L·(3C² + 3C + C² + 4C² + 4C² + 2·2C) + 2C。"],
    proved="你的公式与 model.num_parameters() 在三个预设上完全一致：参数几乎都在每层约 12C² 的矩阵和 V·C 的词向量里。",
    wrong=[
        Wrong(lambda C, L, V, T: _formula(C, L, V, T) + V * C,
              "lm_head 与 wte 共用一个矩阵（权重绑定），只算一次。"),
        Wrong(lambda C, L, V, T: _formula(C, L, V, T) - 3 * C * L,
              "qkv_proj 有 bias（3C 个）：nn.Linear 默认带 bias，只有 out_proj、c_fc、c_proj 写了 bias=False。"),
        Wrong(lambda C, L, V, T: _formula(C, L, V, T) + 6 * C * L,
              "out_proj、c_fc、c_proj 没有 bias（bias=False），只有 qkv_proj 有。"),
        Wrong(lambda C, L, V, T: _formula(C, L, V, T) - 4 * C * L - 2 * C,
              "LayerNorm 也有参数：weight 和 bias 各 C 个；每层两个（ln_1、ln_2），最后还有 ln_f。"),
        Wrong(lambda C, L, V, T: _formula(C, L, V, T) - T * C,
              "位置向量 wpe 是 block_size × C 个参数，别漏了。"),
    ],
))


# ------------------------------------------------------------------------------ 5.6 预测：刚初始化的模型，损失是多少
DATA = Path(__file__).resolve().parents[2] / "data" / "data.jsonl"


@functools.cache
def _vocab_size(path=DATA) -> int:
    """课程的词表大小：data/data.jsonl 里的字 + 3 个特殊 token（第 1 章）。"""
    return len(vocab_from_counter(count_chars(path, warn=lambda msg: None))["word2id"])


def _initial_loss():
    """cpu 预设的 GPT（课程的词表）刚初始化时，在随机 token 上的交叉熵。"""
    V = _vocab_size()
    with seeded(0):
        model = GPTLMHeadModel(config_for("cpu", vocab_size=V)).eval()
    tokens = torch.randint(0, V, (4, 33), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits = model(tokens[:, :-1])
    return F.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten()).item()


register(Exercise(
    id="5.6", stars=1, kind="predict", title="预测：刚初始化的模型，第一步的损失是多少", name="my_guess",
    task=r"""
**先别运行下面的单元格。** 课程的词表有 $V$ 个 token（上面的 `config.vocab_size`，两千多个）。一个刚初始化、什么也没学过的 GPT
（权重是很小的随机数），在一批数据上的交叉熵损失大约是多少？

把你的预测赋给 `my_guess`（一个数），再运行。误差在 ±5% 以内算对。
""",
    where="`minigpt/model.py` 的 `GPTLMHeadModel`（GPT-2 初始化）；本节下面的单元格",
    stub='''
from minigpt.exercises import check, hint

my_guess = ...  # 你的预测：刚初始化的模型，交叉熵损失大约是多少
''',
    reference=_initial_loss,
    cases=[],
    atol=0.0, rtol=0.05,
    hints=["权重很小，logits 都接近 0：softmax 之后，每个 token 的概率差不多是多少？",
           "所有 logits 相等时 softmax 是均匀分布，每个 token 的概率是 1 / V；交叉熵是 −log(正确 token 的概率)。",
           "−log(1 / V) = ln V：用 math.log(config.vocab_size) 算一下（V = 2,786 时约 7.93）。"],
    proved=("刚初始化时 logits 都接近 0，softmax 近似均匀分布，正确 token 的概率约为 1/V，交叉熵 ≈ −ln(1/V) = ln V（V = 2,786 时约 7.93）。"
            "训练开始时损失明显高于 ln V，说明初始化有问题（比如 logits 太大，模型“自信地猜错”）。"),
    wrong=[Wrong(lambda: float(_vocab_size()), "你写的是词表大小 V：交叉熵是 −log(概率)，均匀分布时是 ln V，不是 V。"),
           Wrong(lambda: 1 / _vocab_size(), "1/V 是均匀分布时每个 token 的概率；损失是它的负对数 −log(1/V) = ln V。"),
           Wrong(lambda: math.log10(_vocab_size()), "交叉熵用自然对数 ln V，不是 log₁₀ V。")],
))
