"""第 8 章练习：RMSNorm、SwiGLU、GQA 的 repeat_kv、RoPE、一次 MoE 路由。

期望值由 minigpt/qwen3/model.py 的 RMSNorm、Qwen3MLP、rope_cos_sin + apply_rope、Qwen3SparseMoeBlock 算出。
"""
import torch
import torch.nn.functional as F

from minigpt.exercises.core import Case, Exercise, Wrong, randn, register, seeded
from minigpt.qwen3.config import Qwen3Config
from minigpt.qwen3.model import Qwen3MLP, Qwen3SparseMoeBlock, RMSNorm, apply_rope, rope_cos_sin


# ------------------------------------------------------------------------------ 8.1 RMSNorm
def _rms_reference(x, weight, eps=1e-6):
    norm = RMSNorm(x.shape[-1], eps)
    with torch.no_grad():
        norm.weight.copy_(weight)
    return norm(x)


def _rms(x, weight, eps=1e-6, *, center=False, mean=True, eps_inside=True, scale=True):
    if center:
        x = x - x.mean(-1, keepdim=True)
    ms = (x ** 2).mean(-1, keepdim=True) if mean else (x ** 2).sum(-1, keepdim=True)
    y = x / torch.sqrt(ms + eps) if eps_inside else x / (torch.sqrt(ms) + eps)
    return y * weight if scale else y


register(Exercise(
    id="8.1", stars=1, title="RMSNorm：只缩放，不减均值", name="rms_norm",
    task=r"""
$$\mathrm{RMSNorm}(x) = \gamma \odot \frac{x}{\sqrt{\frac{1}{d}\sum_i x_i^2 + \epsilon}}$$

和 LayerNorm（练习 5.1）比：不减均值，没有 $\beta$。

- 输入：`x` `(..., d)`，`weight`（$\gamma$）`(d,)`，`eps` 默认 `1e-6`
- 输出：与 `x` 同形状
""",
    where="`minigpt/qwen3/model.py` 的 `RMSNorm.forward`",
    stub='''
import torch
from minigpt.exercises import check


def rms_norm(x, weight, eps=1e-6):
    """x: (..., d)；weight: (d,)。返回与 x 同形状的张量。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=_rms_reference,
    cases=[
        Case("随机输入 x (2, 3, 8)", lambda: (randn(2, 3, 8, seed=1) * 2, 1 + 0.2 * randn(8, seed=2))),
        Case("均值不为 0 的输入 x (4, 16)", lambda: (randn(4, 16, seed=3) + 3, 1 + 0.2 * randn(16, seed=4))),
        Case("很小的数：均方和 eps 差不多", lambda: (randn(2, 6, seed=5) * 1e-3, torch.ones(6))),
        Case("另一个 eps：eps=1e-2", lambda: (randn(2, 6, seed=6) * 0.1, torch.ones(6), 1e-2)),
    ],
    first_hint="rms = torch.sqrt((x ** 2).mean(-1, keepdim=True) + eps)；返回 x / rms * weight。",
    proved="你的 RMSNorm 与 Qwen3 的一致：比 LayerNorm 少算一个均值、少一组参数。",
    wrong=[
        Wrong(lambda x, w, eps=1e-6: _rms(x, w, eps, center=True), "RMSNorm 不减均值（那是 LayerNorm）：直接 x / sqrt(mean(x²) + eps)。"),
        Wrong(lambda x, w, eps=1e-6: _rms(x, w, eps, mean=False), "是均方根：平方的平均 mean(-1)，不是平方和 sum(-1)。"),
        Wrong(lambda x, w, eps=1e-6: _rms(x, w, eps, eps_inside=False), "eps 加在根号里面：sqrt(mean(x²) + eps)。"),
        Wrong(lambda x, w, eps=1e-6: _rms(x, w, eps, scale=False), "最后还要乘 weight（γ）。"),
        Wrong(lambda x, w, eps=1e-6: _rms(x, w, 1e-6), "用参数 eps，不要写死 1e-6：不同模型的 rms_norm_eps 不一样。"),
    ],
))


# ------------------------------------------------------------------------------ 8.2 SwiGLU
def _mlp_case(seed, B, T):
    def args():
        with seeded(seed):
            mlp = Qwen3MLP(16, 48)
        return mlp, randn(B, T, 16, seed=seed + 1)
    return args


register(Exercise(
    id="8.2", stars=1, title="SwiGLU：带门控的 MLP", name="swiglu",
    task=r"""
$$\mathrm{SwiGLU}(x) = W_\text{down}\big(\mathrm{silu}(W_\text{gate}\,x) \odot W_\text{up}\,x\big),\qquad \mathrm{silu}(z) = z\,\sigma(z)$$

- 输入：`mlp`（`Qwen3MLP`，有 `gate_proj`、`up_proj`、`down_proj` 三个 `nn.Linear`），`x` `(B, T, C)`
- 输出：`(B, T, C)`。不要直接调用 `mlp(x)`。
""",
    where="`minigpt/qwen3/model.py` 的 `Qwen3MLP.forward`",
    stub='''
import torch
import torch.nn.functional as F
from minigpt.exercises import check


def swiglu(mlp, x):
    """mlp: Qwen3MLP；x: (B, T, C)。返回 (B, T, C)。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=lambda mlp, x: mlp(x),
    cases=[Case("C=16，中间层 48，x (2, 5, 16)", _mlp_case(0, 2, 5)), Case("x (1, 3, 16)", _mlp_case(7, 1, 3))],
    first_hint="mlp.down_proj(F.silu(mlp.gate_proj(x)) * mlp.up_proj(x))。",
    proved="你的 SwiGLU 与 Qwen3MLP 一致：门 silu(gate(x)) 按输入决定每个中间维度放行多少。",
    wrong=[
        Wrong(lambda m, x: m.down_proj(m.gate_proj(x) * F.silu(m.up_proj(x))), "silu 作用在 gate_proj 的输出上，不是 up_proj。"),
        Wrong(lambda m, x: m.down_proj(F.gelu(m.gate_proj(x)) * m.up_proj(x)), "门控激活是 silu（z·σ(z)），不是 GELU。"),
        Wrong(lambda m, x: m.down_proj(torch.sigmoid(m.gate_proj(x)) * m.up_proj(x)), "silu(z) = z·σ(z)，不只是 σ(z)：用 F.silu。"),
        Wrong(lambda m, x: m.down_proj(F.silu(m.up_proj(x))), "少了门：两条路 gate_proj 和 up_proj 逐元素相乘，再 down_proj。"),
    ],
))


# ------------------------------------------------------------------------------ 8.3 GQA：repeat_kv
register(Exercise(
    id="8.3", stars=2, title="GQA：把键值头复制给每组查询头", name="repeat_kv",
    task=r"""
分组查询注意力（GQA）里，`nkv` 个键值头服务 `nh = nkv × n_rep` 个查询头：查询头 $h$ 用键值头 $\lfloor h / n_\text{rep} \rfloor$。
所以要把每个键值头**就地**复制 `n_rep` 份：键值头 0、0、0、1、1、1……（不是 0、1、0、1……）。

- 输入：`k` `(B, nkv, T, d)`，`n_rep`（整数 ≥ 1）
- 输出：`(B, nkv × n_rep, T, d)`
""",
    where="`minigpt/qwen3/model.py` 的 `Qwen3Attention.forward`（`repeat_interleave`）",
    stub='''
import torch
from minigpt.exercises import check


def repeat_kv(k, n_rep):
    """k: (B, nkv, T, d)。返回 (B, nkv * n_rep, T, d)：每个键值头连续复制 n_rep 份。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=lambda k, n_rep: k.repeat_interleave(n_rep, dim=1),  # 与 Qwen3Attention.forward 里的这一行相同
    cases=[
        Case("2 个键值头，每个给 3 个查询头：k (2, 2, 3, 4)", lambda: (randn(2, 2, 3, 4, seed=0), 3)),
        Case("4 个键值头，n_rep=2：k (1, 4, 5, 2)", lambda: (randn(1, 4, 5, 2, seed=1), 2)),
        Case("n_rep=1（就是普通的多头注意力）", lambda: (randn(1, 2, 3, 4, seed=2), 1)),
    ],
    first_hint="k.repeat_interleave(n_rep, dim=1)：沿头那一维，每个头连续复制 n_rep 份。",
    proved="你的 repeat_kv 与 Qwen3 一致：查询头 h 用的是键值头 h // n_rep，KV cache 只需存 nkv 个头。",
    wrong=[
        Wrong(lambda k, n: k.repeat(1, n, 1, 1),
              "复制的顺序不对：k.repeat 得到 0、1、0、1……（整体平铺），要的是 0、0、1、1……：用 repeat_interleave(n_rep, dim=1)。"),
        Wrong(lambda k, n: k.repeat_interleave(n, dim=2), "复制的是头那一维（dim=1），不是序列那一维。"),
    ],
))


# ------------------------------------------------------------------------------ 8.4 RoPE
def _rope_reference(x, position_ids, theta):
    cos, sin = rope_cos_sin(position_ids, x.shape[-1], theta, x.dtype)
    return apply_rope(x, cos, sin)


def _rope(x, position_ids, theta, *, interleaved=False, sign=1, freq_step=2, offset=0, swap=False):
    d = x.shape[-1]
    inv_freq = 1.0 / (theta ** (torch.arange(0, d // 2 * freq_step, freq_step).float() / d))  # (d/2,)
    angles = (position_ids.float() + offset)[..., None] * inv_freq  # (B, T, d/2)
    cos, sin = angles.cos()[:, None], angles.sin()[:, None]  # (B, 1, T, d/2)
    if swap:
        cos, sin = sin, cos
    if interleaved:
        x1, x2 = x[..., ::2], x[..., 1::2]
    else:
        x1, x2 = x[..., : d // 2], x[..., d // 2:]
    y1, y2 = x1 * cos - sign * x2 * sin, x2 * cos + sign * x1 * sin
    if interleaved:
        return torch.stack([y1, y2], dim=-1).flatten(-2)
    return torch.cat([y1, y2], dim=-1)


register(Exercise(
    id="8.4", stars=2, title="RoPE：按位置旋转 q、k", name="apply_rotary",
    task=r"""
把每一对维度 $(x_i, x_{i+d/2})$（前一半和后一半配对，与 Qwen3 相同）按位置 $m$ 旋转角度 $m\theta_i$，$\theta_i = \theta^{-2i/d}$：

$$\begin{pmatrix} x'_i \\ x'_{i+d/2} \end{pmatrix} =
\begin{pmatrix} \cos m\theta_i & -\sin m\theta_i \\ \sin m\theta_i & \cos m\theta_i \end{pmatrix}
\begin{pmatrix} x_i \\ x_{i+d/2} \end{pmatrix},\qquad i = 0, \dots, d/2 - 1$$

- 输入：`x` `(B, nh, T, d)`（`d` 为偶数），`position_ids` `(B, T)`（每行每个 token 的位置），`theta`（底数，如 10000）
- 输出：与 `x` 同形状
""",
    where="`minigpt/qwen3/model.py` 的 `rope_cos_sin`、`rotate_half`、`apply_rope`",
    stub='''
import torch
from minigpt.exercises import check


def apply_rotary(x, position_ids, theta):
    """x: (B, nh, T, d)；position_ids: (B, T)。返回旋转后的 x。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=_rope_reference,
    cases=[
        Case("x (1, 2, 5, 8)，位置 0..4，θ=10000", lambda: (randn(1, 2, 5, 8, seed=0), torch.arange(5)[None], 10000.0)),
        Case("x (2, 1, 4, 16)，第 0 行左填充：位置 [0, 0, 1, 2]，θ=10⁶",
             lambda: (randn(2, 1, 4, 16, seed=1), torch.tensor([[0, 0, 1, 2], [0, 1, 2, 3]]), 1e6)),
    ],
    first_hint="inv_freq = 1 / theta ** (torch.arange(0, d, 2) / d)；angles = position_ids[..., None] * inv_freq → (B, T, d/2)；x1, x2 = 前一半、后一半；返回 cat([x1·cos − x2·sin, x2·cos + x1·sin])（cos、sin 加一维 [:, None] 给头）。",
    proved="你的 RoPE 与 Qwen3 一致：q·k 只依赖两个位置之差，位置信息直接进了注意力分数。",
    wrong=[
        Wrong(lambda x, p, t: _rope(x, p, t, interleaved=True),
              "配对方式不对：Qwen3（和 transformers）把第 i 维与第 i + d/2 维配对（前一半、后一半），不是相邻的两维（2i, 2i+1）。"),
        Wrong(lambda x, p, t: _rope(x, p, t, sign=-1), "旋转方向反了：x'_i = x_i·cos − x_{i+d/2}·sin，x'_{i+d/2} = x_{i+d/2}·cos + x_i·sin。"),
        Wrong(lambda x, p, t: _rope(x, p, t, freq_step=1), "频率是 θ^(−2i/d)：指数里是 2i，用 torch.arange(0, d, 2) / d。"),
        Wrong(lambda x, p, t: _rope(x, p, t, offset=1), "位置从 0 数：第一个 token 不旋转（角度 0）。直接用 position_ids。"),
        Wrong(lambda x, p, t: _rope(x, p, t, swap=True), "cos 和 sin 用反了：旋转矩阵的对角线是 cos。"),
    ],
))


# ------------------------------------------------------------------------------ 8.5 MoE
def _moe_case(seed, B, T, norm_topk_prob):
    def args():
        config = Qwen3Config(vocab_size=10, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                             num_key_value_heads=1, head_dim=8, num_experts=4, num_experts_per_tok=2,
                             moe_intermediate_size=8, norm_topk_prob=norm_topk_prob)
        with seeded(seed):
            moe = Qwen3SparseMoeBlock(config)
        return moe, randn(B, T, 16, seed=seed + 1)
    return args


def _moe(moe, x, *, renorm=None, weighted=True, softmax_dim=-1, k=None):
    B, T, C = x.shape
    x = x.reshape(B * T, C)
    probs = moe.gate(x).softmax(dim=softmax_dim)  # (N, E)
    weights, chosen = probs.topk(k or moe.top_k, dim=-1)
    if moe.norm_topk_prob if renorm is None else renorm:
        weights = weights / weights.sum(-1, keepdim=True)
    out = torch.zeros_like(x)
    for n in range(x.shape[0]):
        for w, e in zip(weights[n], chosen[n].tolist()):
            out[n] += (w if weighted else 1.0) * moe.experts[e](x[n])
    return out.view(B, T, C)


register(Exercise(
    id="8.5", stars=3, title="一次 MoE 路由：选专家、重新归一化、加权求和", name="moe_forward",
    task=r"""
路由器 `moe.gate` 给每个 token 打分，softmax 得到 $p$；取最大的 $k$ = `moe.top_k` 个专家；
`moe.norm_topk_prob` 为真时把这 $k$ 个概率重新归一化到和为 1（Qwen3 的做法）；输出是这 $k$ 个专家输出的加权和：

$$y = \sum_{e \in \mathrm{top}k(p)} w_e\, \mathrm{Expert}_e(x),\qquad w_e = \frac{p_e}{\sum_{e' \in \mathrm{top}k} p_{e'}}$$

每个 token 各自路由（先把 `(B, T, C)` 摊平成 `(B·T, C)`）。最简单的写法是对每个 token、每个选中的专家循环。

- 输入：`moe`（`Qwen3SparseMoeBlock`：`gate`、`experts[e]`、`top_k`、`norm_topk_prob`），`x` `(B, T, C)`
- 输出：`(B, T, C)`。不要直接调用 `moe(x)`。
""",
    where="`minigpt/qwen3/model.py` 的 `Qwen3SparseMoeBlock.forward`",
    stub='''
import torch
import torch.nn.functional as F
from minigpt.exercises import check


def moe_forward(moe, x):
    """moe: Qwen3SparseMoeBlock；x: (B, T, C)。返回 (B, T, C)。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=lambda moe, x: moe(x),
    cases=[
        Case("4 个专家选 2 个，重新归一化，x (2, 3, 16)", _moe_case(0, 2, 3, True)),
        Case("norm_topk_prob=False：不重新归一化，x (1, 4, 16)", _moe_case(5, 1, 4, False)),
    ],
    first_hint="x = x.reshape(-1, C)；probs = moe.gate(x).softmax(-1)；weights, chosen = probs.topk(moe.top_k, dim=-1)；需要时 weights /= weights.sum(-1, keepdim=True)；out[n] += weights[n, j] * moe.experts[chosen[n, j]](x[n])。",
    proved="你的 MoE 与 Qwen3SparseMoeBlock 一致：每个 token 只运行 k 个专家，参数多、计算少。",
    wrong=[
        Wrong(lambda m, x: _moe(m, x, renorm=not m.norm_topk_prob),
              "看 moe.norm_topk_prob：为真时把选中的 k 个概率除以它们的和（重新归一化），为假时直接用 softmax 的概率。"),
        Wrong(lambda m, x: _moe(m, x, weighted=False), "专家的输出要按路由概率加权：w_e · Expert_e(x)，不是直接相加。"),
        Wrong(lambda m, x: _moe(m, x, softmax_dim=0), "softmax 在专家那一维（dim=-1）：每个 token 对所有专家的概率加起来是 1。"),
        Wrong(lambda m, x: _moe(m, x, k=1), "每个 token 选 moe.top_k 个专家，不是只选最好的一个。"),
    ],
))
