"""第 8 章练习的参考答案。先自己做，卡住了再看。"""
import torch
import torch.nn.functional as F


# 8.1 RMSNorm
def rms_norm(x, weight, eps=1e-6):
    rms = torch.sqrt((x ** 2).mean(-1, keepdim=True) + eps)  # 均方根：不减均值
    return x / rms * weight


# 8.2 SwiGLU
def swiglu(mlp, x):
    gate = F.silu(mlp.gate_proj(x))  # 门：silu(z) = z·σ(z)
    return mlp.down_proj(gate * mlp.up_proj(x))


# 8.3 GQA：repeat_kv
def repeat_kv(k, n_rep):
    return k.repeat_interleave(n_rep, dim=1)  # (B, nkv, T, d) → (B, nkv·n_rep, T, d)：头 0,0,…,1,1,…


# 8.4 RoPE
def apply_rotary(x, position_ids, theta):
    d = x.shape[-1]
    inv_freq = 1.0 / (theta ** (torch.arange(0, d, 2).float() / d))  # (d/2,)：θ_i = θ^(−2i/d)
    angles = position_ids.float()[..., None] * inv_freq  # (B, T, d/2)
    cos, sin = angles.cos()[:, None], angles.sin()[:, None]  # (B, 1, T, d/2)：所有头共用
    x1, x2 = x[..., : d // 2], x[..., d // 2:]  # 第 i 维与第 i + d/2 维配成一对
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


# 8.5 一次 MoE 路由
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
