"""第 8 章练习的参考答案。先自己做，卡住了再看。"""
import torch
import torch.nn.functional as F


# 8.1 RMSNorm
def rms_norm(x, weight, eps=1e-6):
    x32 = x.float()  # bf16 只有 8 位有效二进制数字：在 float32 里求均方根
    y = x32 / torch.sqrt(x32.pow(2).mean(-1, keepdim=True) + eps)  # 均方根：不减均值
    return weight * y.to(x.dtype)  # 先转回输入的 dtype，再乘 weight（与官方实现的舍入顺序相同）


# 8.2 只转前 rotary_dim 维的 RoPE
def apply_rotary(x, position_ids, theta, rotary_dim):
    r = rotary_dim
    inv_freq = 1.0 / (theta ** (torch.arange(0, r, 2).float() / r))  # (r/2,)：θ_i = θ^(−2i/r)，按旋转的维数算
    angles = position_ids.float()[..., None] * inv_freq  # (B, T, r/2)
    cos, sin = angles.cos()[:, None], angles.sin()[:, None]  # (B, 1, T, r/2)：所有头共用
    x1, x2, rest = x[..., : r // 2], x[..., r // 2: r], x[..., r:]  # 第 i 维与第 i + r/2 维配成一对；rest 不转
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin, rest], dim=-1)


# 8.3 GQA：repeat_kv
def repeat_kv(k, n_rep):
    return k.repeat_interleave(n_rep, dim=1)  # (B, nkv, T, d) → (B, nkv·n_rep, T, d)：头 0,0,…,1,1,…


# 8.4 预测：2（K、V）× 28 层 × 8 个键值头 × 128 维 × 2 字节 = 112 KiB / token
my_guess = 112


# 8.5 SwiGLU
def swiglu(mlp, x):
    gate = F.silu(mlp.gate_proj(x))  # 门：silu(z) = z·σ(z)
    return mlp.down_proj(gate * mlp.up_proj(x))


# 8.6 一次 MoE 路由
def moe_forward(moe, x):
    B, T, C = x.shape
    x = x.reshape(B * T, C)  # 每个 token 各自路由
    probs = moe.gate(x).softmax(dim=-1)  # (N, E)：路由概率
    weights, chosen = probs.topk(moe.top_k, dim=-1)  # (N, k)
    if moe.norm_topk_prob:
        weights = weights / weights.sum(dim=-1, keepdim=True)  # 选中的 k 个重新归一化到和为 1
    out = torch.zeros_like(x)
    for n in range(x.shape[0]):
        for w, e in zip(weights[n], chosen[n].tolist()):
            out[n] += w * moe.experts[e](x[n])  # 只运行选中的专家
    return out.view(B, T, C)
