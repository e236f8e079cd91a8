"""第 5 章练习的参考答案。先自己做，卡住了再看。"""
import math

import torch
import torch.nn.functional as F


# 5.1 滑动窗口的因果注意力
def my_attention(q, k, v, window):
    T, hs = q.shape[-2], q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(hs)  # (B, nh, T, T)
    i = torch.arange(T, device=q.device)[:, None]  # 行：查询的位置
    j = torch.arange(T, device=q.device)[None, :]  # 列：键的位置
    visible = (j <= i) & (i - j < window)  # 不看未来，也不看 window 个位置以外的过去
    weights = scores.masked_fill(~visible, float("-inf")).softmax(dim=-1)  # 每一行加起来是 1
    return weights @ v  # (B, nh, T, hv)


# 5.2 多头因果自注意力
def my_mha(attn, x):
    B, T, C = x.shape
    nh = attn.config.n_head
    hs = C // nh
    q, k, v = attn.qkv_proj(x).chunk(3, dim=-1)  # 各 (B, T, C)
    q = q.view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
    k = k.view(B, T, nh, hs).transpose(1, 2)
    v = v.view(B, T, nh, hs).transpose(1, 2)
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, nh, T, hs)
    y = y.transpose(1, 2).reshape(B, T, C)  # (B, T, nh, hs) → (B, T, C)
    return attn.out_proj(y)


# 5.3 LayerNorm
def my_layer_norm(x, weight, bias, eps=1e-5):
    mu = x.mean(-1, keepdim=True)  # (..., 1)：每个 token 自己的均值
    var = ((x - mu) ** 2).mean(-1, keepdim=True)  # 有偏方差：除以 C
    return (x - mu) / torch.sqrt(var + eps) * weight + bias


# 5.4 Pre-LN 残差块
def my_block(block, x):
    x = x + block.attn(block.ln_1(x))  # (B, T, C)：先归一化再进注意力，残差加在原来的 x 上
    x = x + block.mlp(block.ln_2(x))
    return x


# 5.5 参数量公式
def n_params(n_embd, n_layer, vocab_size, block_size):
    C = n_embd
    embeddings = vocab_size * C + block_size * C  # wte（= lm_head，只算一次）+ wpe
    per_layer = (
        (3 * C * C + 3 * C)  # attn.qkv_proj：权重 + bias
        + C * C  # attn.out_proj：bias=False
        + 4 * C * C + 4 * C * C  # mlp.c_fc、mlp.c_proj：bias=False
        + 2 * (2 * C)  # ln_1、ln_2：weight + bias
    )
    return embeddings + n_layer * per_layer + 2 * C  # 最后的 ln_f


# 5.6 预测：刚初始化的模型，损失 ≈ ln V（logits 都接近 0，softmax 近似均匀，正确 token 的概率约 1/V）
my_guess = 7.9  # ln 2786
