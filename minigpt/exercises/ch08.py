"""第 8 章练习：RMSNorm（含 bf16）、只转一部分维度的 RoPE、GQA 的 repeat_kv、预测 GQA 省下的 KV cache、SwiGLU、一次 MoE 路由。

期望值由 minigpt/qwen3/model.py 的 RMSNorm、Qwen3MLP、rope_cos_sin + apply_rope、Qwen3SparseMoeBlock 和
minigpt/qwen3/config.py 的 QWEN3_0_6B 算出。编号按练习在 notebook 里出现的顺序。
"""
import torch
import torch.nn.functional as F

from minigpt.exercises.core import Case, Exercise, Wrong, randn, register, seeded
from minigpt.qwen3.config import QWEN3_0_6B, Qwen3Config
from minigpt.qwen3.model import Qwen3MLP, Qwen3SparseMoeBlock, RMSNorm, apply_rope, rope_cos_sin


# ------------------------------------------------------------------------------ 8.1 RMSNorm
def _rms_reference(x, weight, eps=1e-6):
    norm = RMSNorm(x.shape[-1], eps).to(weight.dtype)
    with torch.no_grad():  # weight 是传进来的普通张量：期望值也不带计算图
        norm.weight.copy_(weight)
        return norm(x)


def _rms(x, weight, eps=1e-6, *, center=False, mean=True, eps_inside=True, scale=True, upcast=True):
    if upcast and x.dtype != torch.float32:  # 照任务说明：在 float32 里归一化，转回原来的 dtype 再乘 weight
        y = _rms(x.float(), weight, eps, center=center, mean=mean, eps_inside=eps_inside, scale=False).to(x.dtype)
        return y * weight if scale else y
    if center:
        x = x - x.mean(-1, keepdim=True)
    ms = (x ** 2).mean(-1, keepdim=True) if mean else (x ** 2).sum(-1, keepdim=True)
    y = x / torch.sqrt(ms + eps) if eps_inside else x / (torch.sqrt(ms) + eps)
    return y * weight if scale else y


UPCAST_HINT = "bf16 的输入没有升到 float32（或舍入的先后不对）：先 x.float() 算出 x / rms，转回 x.dtype，再乘 weight。"


register(Exercise(
    id="8.1", stars=1, title="RMSNorm：只缩放，不减均值", name="rms_norm",
    task=r"""
$$\mathrm{RMSNorm}(x) = \gamma \odot \frac{x}{\sqrt{\frac{1}{d}\sum_i x_i^2 + \epsilon}}$$

和 LayerNorm（练习 5.3）比：不减均值，没有 $\beta$。

- 输入：`x` `(..., d)`，`weight`（$\gamma$）`(d,)`，与 `x` 同一个 dtype；`eps` 默认 `1e-6`
- 输出：与 `x` 同形状、同 dtype

bf16 只有 8 位有效二进制数字：平方、求平均、开方都在 bf16 里做会明显失真。和 Qwen3 一样：先把 `x` 转成 float32，
在 float32 里算出 $x / \sqrt{\cdot}$，**转回 `x` 原来的 dtype，再乘 `weight`**（这个顺序和官方实现逐位相同）。
""",
    where="`minigpt/qwen3/model.py` 的 `RMSNorm.forward`",
    stub='''
import torch
from minigpt.exercises import check, hint


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
        Case("bf16 的输入和 weight x (4, 64)（结果也是 bf16；舍入的先后不同，允许差 bf16 的 1 个最低位）",
             lambda: ((randn(4, 64, seed=7) * 3).bfloat16(), (1 + 0.2 * randn(64, seed=8)).bfloat16()), tol=(1e-6, 2 ** -7)),
    ],
    hints=["和 LayerNorm 比只少两样：不减均值，没有 β。每个向量除以它的均方根，再逐维乘 γ；bf16 的输入先升到 float32 再算。",
           "均方根 = sqrt((x²).mean(-1, keepdim=True) + eps)，eps 用参数；x.float() 升精度，.to(x.dtype) 转回，转回之后才乘 weight。",
           "x32 = x.float()；y = x32 / torch.sqrt(x32.pow(2).mean(-1, keepdim=True) + eps)；return weight * y.to(x.dtype)。"],
    proved="你的 RMSNorm 与 Qwen3 的一致：比 LayerNorm 少算一个均值、少一组参数。",
    wrong=[
        Wrong(lambda x, w, eps=1e-6: _rms(x, w, eps, center=True), "RMSNorm 不减均值（那是 LayerNorm）：直接 x / sqrt(mean(x²) + eps)。"),
        Wrong(lambda x, w, eps=1e-6: _rms(x, w, eps, mean=False), "是均方根：平方的平均 mean(-1)，不是平方和 sum(-1)。"),
        Wrong(lambda x, w, eps=1e-6: _rms(x, w, eps, eps_inside=False), "eps 加在根号里面：sqrt(mean(x²) + eps)。"),
        Wrong(lambda x, w, eps=1e-6: _rms(x, w, eps, scale=False), "最后还要乘 weight（γ）。"),
        Wrong(lambda x, w, eps=1e-6: _rms(x, w, 1e-6), "用参数 eps，不要写死 1e-6：不同模型的 rms_norm_eps 不一样。"),
        Wrong(lambda x, w, eps=1e-6: _rms(x, w, eps, upcast=False), UPCAST_HINT),
    ],
    explain=lambda args, got: UPCAST_HINT if args[0].dtype == torch.bfloat16 else None,  # float32 的用例都过了，只错在 bf16
))


# ------------------------------------------------------------------------------ 8.2 只转一部分维度的 RoPE（本章写的是全部维度都转）
def _rope_reference(x, position_ids, theta, rotary_dim):
    cos, sin = rope_cos_sin(position_ids, rotary_dim, theta, x.dtype)  # Qwen3 的 RoPE，只用在前 rotary_dim 维上
    return torch.cat([apply_rope(x[..., :rotary_dim], cos, sin), x[..., rotary_dim:]], dim=-1)


def _partial(x, position_ids, theta, rotary_dim, **mistake):
    """前 rotary_dim 维用 _rope（可以带一种错误），其余原样接上。"""
    return torch.cat([_rope(x[..., :rotary_dim], position_ids, theta, **mistake), x[..., rotary_dim:]], dim=-1)


def _partial_freq_of_d(x, position_ids, theta, rotary_dim):
    """频率的分母用了整个头的 d：θ^(−2i/d) = (θ^(r/d))^(−2i/r)。"""
    return _partial(x, position_ids, theta ** (rotary_dim / x.shape[-1]), rotary_dim)


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
    id="8.2", stars=2, title="只转一部分维度的 RoPE（partial rotary）", name="apply_rotary",
    task=r"""
本章的 RoPE 旋转每个头的全部 $d$ 维。有的模型（GPT-NeoX、Phi、GLM）只转前 `rotary_dim` 维，其余维度原样不动（不带位置信息）。
在前 $r$ = `rotary_dim` 维里，把每一对 $(x_i, x_{i+r/2})$（前一半和后一半配对，与 Qwen3 相同）按位置 $m$ 旋转角度 $m\theta_i$，$\theta_i = \theta^{-2i/r}$：

$$\begin{pmatrix} x'_i \\ x'_{i+d/2} \end{pmatrix} =
\begin{pmatrix} \cos m\theta_i & -\sin m\theta_i \\ \sin m\theta_i & \cos m\theta_i \end{pmatrix}
\begin{pmatrix} x_i \\ x_{i+r/2} \end{pmatrix},\qquad i = 0, \dots, r/2 - 1$$

- 输入：`x` `(B, nh, T, d)`，`position_ids` `(B, T)`（每行每个 token 的位置），`theta`（底数，如 10000），`rotary_dim`（偶数，≤ d）
- 输出：与 `x` 同形状：前 `rotary_dim` 维旋转过，其余 `d - rotary_dim` 维与输入相同。`rotary_dim = d` 时就是本章的 RoPE。
""",
    where="`minigpt/qwen3/model.py` 的 `rope_cos_sin`、`rotate_half`、`apply_rope`（全部维度都转的版本）",
    stub='''
import torch
from minigpt.exercises import check, hint


def apply_rotary(x, position_ids, theta, rotary_dim):
    """x: (B, nh, T, d)；position_ids: (B, T)。只旋转前 rotary_dim 维，返回与 x 同形状的张量。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=_rope_reference,
    cases=[
        Case("x (1, 2, 5, 8)，位置 0..4，θ=10000，rotary_dim=4", lambda: (randn(1, 2, 5, 8, seed=0), torch.arange(5)[None], 10000.0, 4)),
        Case("x (2, 1, 4, 16)，第 0 行左填充：位置 [0, 0, 1, 2]，θ=10⁶，rotary_dim=8",
             lambda: (randn(2, 1, 4, 16, seed=1), torch.tensor([[0, 0, 1, 2], [0, 1, 2, 3]]), 1e6, 8)),
        Case("rotary_dim = d = 8：就是本章的 RoPE", lambda: (randn(1, 2, 3, 8, seed=2), torch.arange(3)[None], 10000.0, 8)),
        Case("x (1, 1, 6, 12)，位置 3..8，θ=500，rotary_dim=6", lambda: (randn(1, 1, 6, 12, seed=3), torch.arange(3, 9)[None], 500.0, 6)),
    ],
    hints=["把 x 切成两段：前 rotary_dim 维做本章的 RoPE（频率按 rotary_dim 算，不是按 d），后面的维度原样接回去。",
           "x[..., :r] 和 x[..., r:]；在前一段里 θ_i = theta^(−2i/r)，第 i 维与第 i + r/2 维配对；torch.cat(…, dim=-1) 拼回。",
           "r = rotary_dim；inv_freq = 1 / theta ** (torch.arange(0, r, 2) / r)；angles = position_ids[..., None] * inv_freq；"
           "x1, x2 = x[..., :r//2], x[..., r//2:r]；return cat([x1·cos − x2·sin, x2·cos + x1·sin, x[..., r:]], -1)（cos、sin 加一维 [:, None] 给头）。"],
    proved="你的 RoPE 与 Qwen3 一致：q·k 只依赖两个位置之差，位置信息直接进了注意力分数。",
    wrong=[
        Wrong(lambda x, p, t, r: _rope(x, p, t),
              "整个头都转了：只转前 rotary_dim 维，后面的 d − rotary_dim 维原样保留（x[..., rotary_dim:]）。"),
        Wrong(lambda x, p, t, r: torch.cat([_rope(x, p, t)[..., :r], x[..., r:]], dim=-1),
              "频率和配对要按 rotary_dim 算，不是按整个头的 d：θ_i = theta^(−2i/r)，第 i 维与第 i + r/2 维配对。"),
        Wrong(_partial_freq_of_d, "频率的分母是 rotary_dim，不是整个头的 d：θ_i = theta^(−2i/r)，用 torch.arange(0, r, 2) / r。"),
        Wrong(lambda x, p, t, r: _partial(x, p, t, r, interleaved=True),
              "配对方式不对：Qwen3（和 transformers）把第 i 维与第 i + r/2 维配对（前一半、后一半），不是相邻的两维（2i, 2i+1）。"),
        Wrong(lambda x, p, t, r: _partial(x, p, t, r, sign=-1), "旋转方向反了：x'_i = x_i·cos − x_{i+r/2}·sin，x'_{i+r/2} = x_{i+r/2}·cos + x_i·sin。"),
        Wrong(lambda x, p, t, r: _partial(x, p, t, r, freq_step=1), "频率是 θ^(−2i/r)：指数里是 2i，用 torch.arange(0, r, 2) / r。"),
        Wrong(lambda x, p, t, r: _partial(x, p, t, r, offset=1), "位置从 0 数：第一个 token 不旋转（角度 0）。直接用 position_ids。"),
        Wrong(lambda x, p, t, r: _partial(x, p, t, r, swap=True), "cos 和 sin 用反了：旋转矩阵的对角线是 cos。"),
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
from minigpt.exercises import check, hint


def repeat_kv(k, n_rep):
    """k: (B, nkv, T, d)。返回 (B, nkv * n_rep, T, d)：每个键值头连续复制 n_rep 份。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=lambda k, n_rep: k.repeat_interleave(n_rep, dim=1),  # 与 Qwen3Attention.forward 里的这一行相同
    cases=[
        Case("2 个键值头，每个给 3 个查询头：k (2, 2, 3, 4)", lambda: (randn(2, 2, 3, 4, seed=0), 3)),
        Case("4 个键值头，n_rep=2：k (1, 4, 5, 2)", lambda: (randn(1, 4, 5, 2, seed=1), 2)),
        Case("n_rep=1（就是普通的多头注意力）", lambda: (randn(1, 2, 3, 4, seed=2), 1)),
        Case("3 个键值头，n_rep=4：k (1, 3, 2, 2)", lambda: (randn(1, 3, 2, 2, seed=3), 4)),
    ],
    hints=["查询头 h 用键值头 h // n_rep：复制后的第 h 个头应该是原来的第 h // n_rep 个，所以同一个键值头的副本要挨在一起。",
           "沿头那一维（dim=1）复制；torch 里有“每个元素连续重复”的函数，也可以用 [:, :, None] 加一维、expand、再 reshape。",
           "return k.repeat_interleave(n_rep, dim=1)。"],
    proved="你的 repeat_kv 与 Qwen3 一致：查询头 h 用的是键值头 h // n_rep，KV cache 只需存 nkv 个头。",
    wrong=[
        Wrong(lambda k, n: k.repeat(1, n, 1, 1),
              "复制的顺序不对：k.repeat 得到 0、1、0、1……（整体平铺），要的是 0、0、1、1……：用 repeat_interleave(n_rep, dim=1)。"),
        Wrong(lambda k, n: k.repeat_interleave(n, dim=2), "复制的是头那一维（dim=1），不是序列那一维。"),
    ],
))


# ------------------------------------------------------------------------------ 8.4 预测：GQA 下每个 token 的 KV cache
def _kv_cache_kib_per_token(config=QWEN3_0_6B, bytes_per_number=2):
    """每个 token、所有层的 K 和 V（只有 num_key_value_heads 个头），bf16，合多少 KiB。"""
    numbers = 2 * config.num_hidden_layers * config.num_key_value_heads * config.head_dim
    return numbers * bytes_per_number / 2**10


register(Exercise(
    id="8.4", stars=1, kind="predict", title="预测：Qwen3-0.6B 每读一个 token，KV cache 长多少", name="my_guess",
    task=r"""
**先别往下运行。** Qwen3-0.6B：28 层，16 个查询头，**8 个键值头**（GQA），每个头 128 维，推理用 bf16（每个数 2 字节）。
每多读一个 token，KV cache 要多存多少 KiB？（第 7 章算过 GPT 的：每层、每个位置存 K 和 V。）

把你的预测赋给 `my_guess`，误差在 ±10% 以内算对。
""",
    where="`minigpt/qwen3/config.py` 的 `QWEN3_0_6B`；第 7 章的 KV cache",
    stub='''
from minigpt.exercises import check, hint

my_guess = ...  # 你的预测：每个 token 的 KV cache，多少 KiB
''',
    reference=_kv_cache_kib_per_token,
    cases=[],
    atol=0.0, rtol=0.1,
    hints=["缓存里只存键值头：查询头有 16 个，但 K、V 只有 8 个头（它们被复制给查询头用，复制品不用存）。",
           "个数 = 2（K、V）× 层数 × 键值头数 × head_dim；bf16 每个 2 字节；1 KiB = 1024 字节。",
           "2 × 28 × 8 × 128 × 2 字节 = 114,688 字节 = 112 KiB。"],
    proved=("2（K、V）× 28 层 × 8 个键值头 × 128 维 × 2 字节 = 112 KiB / token；一段 32k token 的上下文就要 3.5 GiB。"
            "没有 GQA（16 个头都存）要翻倍：GQA 正是为了把这块内存减半（或更多）。"),
    wrong=[Wrong(lambda: 2 * _kv_cache_kib_per_token(), "缓存只存 8 个键值头，不是 16 个查询头（或者你按 float32 算了）：GQA 让缓存减半。"),
           Wrong(lambda: _kv_cache_kib_per_token() / 2, "K 和 V 都要存：2 × 层数 × 键值头数 × head_dim 个数。"),
           Wrong(lambda: _kv_cache_kib_per_token() / 28, "每一层都有自己的 K、V：还要乘以 28 层。")],
))


# ------------------------------------------------------------------------------ 8.5 SwiGLU
def _mlp_case(seed, B, T, C=16, hidden=48):
    def args():
        with seeded(seed):
            mlp = Qwen3MLP(C, hidden)
        return mlp, randn(B, T, C, seed=seed + 1)
    return args


register(Exercise(
    id="8.5", stars=1, title="SwiGLU：带门控的 MLP", name="swiglu",
    task=r"""
$$\mathrm{SwiGLU}(x) = W_\text{down}\big(\mathrm{silu}(W_\text{gate}\,x) \odot W_\text{up}\,x\big),\qquad \mathrm{silu}(z) = z\,\sigma(z)$$

- 输入：`mlp`（`Qwen3MLP`，有 `gate_proj`、`up_proj`、`down_proj` 三个 `nn.Linear`），`x` `(B, T, C)`
- 输出：`(B, T, C)`。不要直接调用 `mlp(x)`。
""",
    where="`minigpt/qwen3/model.py` 的 `Qwen3MLP.forward`",
    stub='''
import torch
import torch.nn.functional as F
from minigpt.exercises import check, hint


def swiglu(mlp, x):
    """mlp: Qwen3MLP；x: (B, T, C)。返回 (B, T, C)。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=lambda mlp, x: mlp(x),
    cases=[Case("C=16，中间层 48，x (2, 5, 16)", _mlp_case(0, 2, 5)), Case("x (1, 3, 16)", _mlp_case(7, 1, 3)),
           Case("C=24，中间层 40，x (1, 2, 24)", _mlp_case(9, 1, 2, 24, 40))],
    hints=["两条路并排：一条经过激活函数当“门”，一条不经过；两条逐元素相乘，再投影回 C 维。",
           "门是 gate_proj 的输出过 F.silu（silu(z) = z·σ(z)）；另一条是 up_proj；最后 down_proj。",
           "return mlp.down_proj(F.silu(mlp.gate_proj(x)) * mlp.up_proj(x))。"],
    proved="你的 SwiGLU 与 Qwen3MLP 一致：门 silu(gate(x)) 按输入决定每个中间维度放行多少。",
    wrong=[
        Wrong(lambda m, x: m.down_proj(m.gate_proj(x) * F.silu(m.up_proj(x))), "silu 作用在 gate_proj 的输出上，不是 up_proj。"),
        Wrong(lambda m, x: m.down_proj(F.gelu(m.gate_proj(x)) * m.up_proj(x)), "门控激活是 silu（z·σ(z)），不是 GELU。"),
        Wrong(lambda m, x: m.down_proj(torch.sigmoid(m.gate_proj(x)) * m.up_proj(x)), "silu(z) = z·σ(z)，不只是 σ(z)：用 F.silu。"),
        Wrong(lambda m, x: m.down_proj(F.silu(m.up_proj(x))), "少了门：两条路 gate_proj 和 up_proj 逐元素相乘，再 down_proj。"),
    ],
))


# ------------------------------------------------------------------------------ 8.6 MoE
def _moe_case(seed, B, T, norm_topk_prob, experts=4, k=2):
    def args():
        config = Qwen3Config(vocab_size=10, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                             num_key_value_heads=1, head_dim=8, num_experts=experts, num_experts_per_tok=k,
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
    id="8.6", stars=3, title="一次 MoE 路由：选专家、重新归一化、加权求和", name="moe_forward",
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
from minigpt.exercises import check, hint


def moe_forward(moe, x):
    """moe: Qwen3SparseMoeBlock；x: (B, T, C)。返回 (B, T, C)。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=lambda moe, x: moe(x),
    cases=[
        Case("4 个专家选 2 个，重新归一化，x (2, 3, 16)", _moe_case(0, 2, 3, True)),
        Case("norm_topk_prob=False：不重新归一化，x (1, 4, 16)", _moe_case(5, 1, 4, False)),
        Case("6 个专家选 3 个，重新归一化，x (1, 3, 16)", _moe_case(8, 1, 3, True, experts=6, k=3)),
        Case("4 个专家只选 1 个，不重新归一化，x (2, 2, 16)", _moe_case(11, 2, 2, False, k=1)),
    ],
    hints=["每个 token 自己选专家：路由器打分 → 概率 → 取最大的 k 个 → （需要时）让这 k 个概率加起来是 1 → 这 k 个专家输出的加权和。",
           "先 reshape 成 (B·T, C)；softmax(dim=-1) 在专家那一维；topk(moe.top_k) 同时给出概率和专家编号；k 和要不要重新归一化都从 moe 上读，不要写死。",
           "x = x.reshape(-1, C)；probs = moe.gate(x).softmax(-1)；weights, chosen = probs.topk(moe.top_k, dim=-1)；需要时 weights /= weights.sum(-1, keepdim=True)；out[n] += weights[n, j] * moe.experts[chosen[n, j]](x[n])。"],
    proved="你的 MoE 与 Qwen3SparseMoeBlock 一致：每个 token 只运行 k 个专家，参数多、计算少。",
    wrong=[
        Wrong(lambda m, x: _moe(m, x, renorm=not m.norm_topk_prob),
              "看 moe.norm_topk_prob：为真时把选中的 k 个概率除以它们的和（重新归一化），为假时直接用 softmax 的概率。"),
        Wrong(lambda m, x: _moe(m, x, weighted=False), "专家的输出要按路由概率加权：w_e · Expert_e(x)，不是直接相加。"),
        Wrong(lambda m, x: _moe(m, x, softmax_dim=0), "softmax 在专家那一维（dim=-1）：每个 token 对所有专家的概率加起来是 1。"),
        Wrong(lambda m, x: _moe(m, x, k=1), "每个 token 选 moe.top_k 个专家，不是只选最好的一个。"),
        Wrong(lambda m, x: _moe(m, x, k=2), "选几个专家要读 moe.top_k，不要写死 2：别的配置里 num_experts_per_tok 不一样。"),
    ],
))
