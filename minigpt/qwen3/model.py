"""Qwen3（稠密与 MoE）的 PyTorch 实现，模块名与官方权重文件的键一一对应。

运行 `python -m minigpt.qwen3.model` 建一个课程用的小 Qwen3，打印参数量和一次前向的形状。

和第 5 章的 GPT 相比，每个部件都换成了现代做法：
    LayerNorm → RMSNorm（只缩放，不减均值；在 fp32 里算）
    学习到的位置向量 → RoPE（把 q、k 按位置旋转，位置信息进入注意力分数）
    多头注意力 MHA → 分组查询注意力 GQA（几个查询头共用一组键值头）
    新增 QK-Norm（每个头的 q、k 先做 RMSNorm 再旋转，训练更稳）
    GELU MLP → SwiGLU（门控：silu(gate(x)) * up(x)）
    稠密 MLP → 可选的稀疏专家层 MoE（路由器为每个 token 选 top-k 个专家）

模块名（model.embed_tokens、model.layers.N.self_attn.q_proj、lm_head……）就是 safetensors 里的键，
所以加载真实权重只是 `load_state_dict`，见 `Qwen3ForCausalLM.from_pretrained`。
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from minigpt.kv_cache import KVCache
from minigpt.model import causal_attention
from minigpt.qwen3.config import Qwen3Config


class RMSNorm(nn.Module):
    """y = x / sqrt(mean(x²) + eps) * weight。

    在 fp32 里求均方根：bf16 只有 8 个二进制有效位（约 2–3 位十进制有效数字），平方再求和会明显失真。
    乘 weight 之前转回输入精度，与官方实现的舍入顺序一致（bf16 时逐位相同）。
    """

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x32.to(dtype)


def rope_cos_sin(position_ids: torch.Tensor, head_dim: int, theta: float, dtype: torch.dtype):
    """RoPE 的 cos/sin 表，(B, T) → 两个 (B, T, head_dim)。

    频率 inv_freq_i = θ^(-2i/d)。角度 = 位置 × 频率，一律在 fp32 里算：
    位置上千时 bf16 的角度误差会超过 0.1 弧度。也不把 inv_freq 存成 buffer，
    这样 `model.to(torch.bfloat16)` 不会顺手把它降成 bf16。transformers 的模型就有这个坑：
    `.to(torch.bfloat16)` 连存下的 RoPE 频率一起降精度，2,000 个位置处 logits 差 0.28；要比较 bf16 时请用 `dtype=` 加载。
    """
    device = position_ids.device
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim))
    angles = position_ids.float()[..., None] * inv_freq  # (B, T, d/2)
    angles = torch.cat([angles, angles], dim=-1)  # (B, T, d)：前后两半用同一组频率
    return angles.cos().to(dtype), angles.sin().to(dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """把 (x1, x2) 变成 (-x2, x1)：第 i 维与第 i + d/2 维配成一对做二维旋转。"""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x: (B, nh, T, d)，cos/sin: (B, T, d) → 旋转后的 x。"""
    cos, sin = cos[:, None], sin[:, None]  # (B, 1, T, d)：所有头共用
    return x * cos + rotate_half(x) * sin


class Qwen3Attention(nn.Module):
    """分组查询注意力 + QK-Norm + RoPE。"""

    def __init__(self, config: Qwen3Config):
        super().__init__()
        self.n_head = config.num_attention_heads
        self.n_kv = config.num_key_value_heads
        self.head_dim = config.head_dim
        hs, d, bias = config.hidden_size, config.head_dim, config.attention_bias
        self.q_proj = nn.Linear(hs, self.n_head * d, bias=bias)
        self.k_proj = nn.Linear(hs, self.n_kv * d, bias=bias)  # GQA：k、v 只有 n_kv 个头
        self.v_proj = nn.Linear(hs, self.n_kv * d, bias=bias)
        self.o_proj = nn.Linear(self.n_head * d, hs, bias=bias)
        # QK-Norm：对每个头的 d 维向量做 RMSNorm，防止注意力分数随训练变得过大
        self.q_norm = RMSNorm(d, config.rms_norm_eps)
        self.k_norm = RMSNorm(d, config.rms_norm_eps)

    def forward(self, x, cos, sin, attn_mask, is_causal, kv_cache: KVCache | None, layer_idx: int):
        B, T, _ = x.shape
        d = self.head_dim
        q = self.q_norm(self.q_proj(x).view(B, T, self.n_head, d)).transpose(1, 2)  # (B, nh, T, d)
        k = self.k_norm(self.k_proj(x).view(B, T, self.n_kv, d)).transpose(1, 2)  # (B, nkv, T, d)
        v = self.v_proj(x).view(B, T, self.n_kv, d).transpose(1, 2)  # (B, nkv, T, d)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)  # 先归一化再旋转（顺序与官方一致）
        if kv_cache is not None:
            k, v = kv_cache.update(layer_idx, k, v)  # (B, nkv, T_past + T, d)：缓存里存的是已旋转的 k
        if self.n_kv != self.n_head:
            # 每个键值头服务 n_head / n_kv 个查询头：复制成与查询头一样多
            rep = self.n_head // self.n_kv
            k = k.repeat_interleave(rep, dim=1)  # (B, nh, T_k, d)
            v = v.repeat_interleave(rep, dim=1)
        if is_causal:  # 一整段、没有填充（这时没有 attn_mask）：与第 5 章的 GPT 相同（CPU 上训练时按公式算）
            y = causal_attention(q, k, v)  # (B, nh, T, d)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal)
        y = y.transpose(1, 2).reshape(B, T, self.n_head * d)  # (B, T, nh·d)
        return self.o_proj(y)


class Qwen3MLP(nn.Module):
    """SwiGLU：down( silu(gate(x)) * up(x) )。门控让网络按输入决定每个中间维度放行多少。"""

    def __init__(self, hidden_size: int, intermediate_size: int):
        super().__init__()
        self.gate_proj = nn.Linear(hidden_size, intermediate_size, bias=False)
        self.up_proj = nn.Linear(hidden_size, intermediate_size, bias=False)
        self.down_proj = nn.Linear(intermediate_size, hidden_size, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Qwen3SparseMoeBlock(nn.Module):
    """混合专家层：路由器 `gate` 给每个 token 打分，只运行得分最高的 k 个专家，按分数加权求和。

    参数量是 num_experts 个 MLP，但每个 token 只花 k 个 MLP 的计算——这就是 30B-A3B
    “总参数 30B、激活 3B” 的由来。
    """

    def __init__(self, config: Qwen3Config):
        super().__init__()
        self.top_k = config.num_experts_per_tok
        self.norm_topk_prob = config.norm_topk_prob
        self.gate = nn.Linear(config.hidden_size, config.num_experts, bias=False)  # 路由器
        self.experts = nn.ModuleList(
            Qwen3MLP(config.hidden_size, config.moe_intermediate_size) for _ in range(config.num_experts))

    def forward(self, x):
        B, T, C = x.shape
        x = x.reshape(B * T, C)  # (N, C)：路由按 token 逐个进行，与位置无关
        # softmax 在 fp32 里算：专家多时概率很小，bf16 会把它们舍入得难以区分
        probs = F.softmax(self.gate(x), dim=-1, dtype=torch.float32)  # (N, E)
        weights, chosen = probs.topk(self.top_k, dim=-1)  # (N, k), (N, k)
        if self.norm_topk_prob:
            weights = weights / weights.sum(dim=-1, keepdim=True)
        weights = weights.to(x.dtype)
        out = torch.zeros_like(x)
        # 按专家循环：每个专家一次处理所有选中它的 token（比按 token 循环快得多）
        for e in chosen.unique().tolist():
            token_idx, slot = torch.where(chosen == e)  # 哪些 token、在它的第几个选择里选中了专家 e
            y = self.experts[e](x[token_idx]) * weights[token_idx, slot, None]
            out.index_add_(0, token_idx, y)
        return out.view(B, T, C)


class Qwen3DecoderLayer(nn.Module):
    """Pre-Norm 残差块：x + attn(norm(x))，再 x + mlp(norm(x))。与 GPT 的 Block 同构。"""

    def __init__(self, config: Qwen3Config, layer_idx: int):
        super().__init__()
        self.layer_idx = layer_idx
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.self_attn = Qwen3Attention(config)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        if config.is_sparse_layer(layer_idx):
            self.mlp = Qwen3SparseMoeBlock(config)
        else:
            self.mlp = Qwen3MLP(config.hidden_size, config.intermediate_size)

    def forward(self, x, cos, sin, attn_mask, is_causal, kv_cache):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, attn_mask, is_causal, kv_cache, self.layer_idx)
        return x + self.mlp(self.post_attention_layernorm(x))


class Qwen3Model(nn.Module):
    """嵌入 + N 个解码层 + 最后的 RMSNorm（对应权重里的 `model.*`）。"""

    def __init__(self, config: Qwen3Config):
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(Qwen3DecoderLayer(config, i) for i in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)


def build_attn_mask(attention_mask: torch.Tensor | None, past_len: int, T: int, device) -> torch.Tensor | None:
    """SDPA 用的布尔掩码 (B 或 1, 1, T, past_len + T)，True = 可以看。

    因果：第 i 个新位置（绝对位置 past_len + i）只看 ≤ 它的键。
    填充：attention_mask 为 0 的键谁也不看。
    左填充时，填充位置自己的那一行会全是 False，softmax 得 NaN 并随残差污染后面的层；
    所以总让每个位置看见它自己（对角线）——真实 token 本来就看得见自己，结果不变。
    """
    S = past_len + T
    q_pos = torch.arange(past_len, S, device=device)[:, None]  # (T, 1)
    k_pos = torch.arange(S, device=device)[None, :]  # (1, S)
    mask = (k_pos <= q_pos)[None, None]  # (1, 1, T, S)
    if attention_mask is not None:
        mask = mask & attention_mask.bool()[:, None, None, :]  # (B, 1, T, S)
        mask = mask | (k_pos == q_pos)[None, None]
    return mask


class Qwen3ForCausalLM(nn.Module):
    """语言模型：Qwen3Model + lm_head。课程里所有模型共用的调用约定：

        logits = model(input_ids, attention_mask=None, *, kv_cache=None, position_ids=None)  # (B, T, V)
    """

    def __init__(self, config: Qwen3Config):
        super().__init__()
        self.config = config
        self.model = Qwen3Model(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        if config.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight  # 共用同一个 Parameter
        self.apply(self._init_weights)
        # 与第 5 章的 GPT 相同的 GPT-2 做法：写回残差流的投影（o_proj、down_proj）再缩小 1/sqrt(2·层数)，
        # 让初始时残差流的方差不随层数增长。只影响从头训练；加载真实权重时会被覆盖。
        for name, p in self.named_parameters():
            if name.endswith(("o_proj.weight", "down_proj.weight")):
                nn.init.normal_(p, mean=0.0, std=config.initializer_range / math.sqrt(2 * config.num_hidden_layers))

    def _init_weights(self, module):
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=std)

    def num_parameters(self, exclude_embeddings: bool = False) -> int:
        """参数个数；共用的嵌入/输出矩阵只算一次（parameters() 本身就去重）。"""
        n = sum(p.numel() for p in self.parameters())
        if exclude_embeddings:
            n -= self.model.embed_tokens.weight.numel()
        return n

    def new_kv_cache(self, max_len: int | None = None) -> KVCache:
        return KVCache(self.config.num_hidden_layers, max_len=max_len)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, *,
                kv_cache: KVCache | None = None, position_ids: torch.Tensor | None = None,
                logits_to_keep: int = 0) -> torch.Tensor:
        # logits_to_keep=n > 0：只算最后 n 个位置的 logits（生成只要最后一个），0 = 全部，同 transformers
        B, T = input_ids.shape
        past_len = kv_cache.seq_len if kv_cache is not None else 0
        if past_len + T > self.config.max_position_embeddings:
            raise ValueError(f"序列长度 {past_len + T} 超过 max_position_embeddings="
                             f"{self.config.max_position_embeddings}")
        if attention_mask is not None and tuple(attention_mask.shape) != (B, past_len + T):
            raise ValueError(f"attention_mask 的形状应为 (B, 缓存 + 新输入) = {(B, past_len + T)}，"
                             f"实际是 {tuple(attention_mask.shape)}")
        device = input_ids.device
        if position_ids is None:
            if attention_mask is not None:
                # 左填充时真实 token 的位置从 0 数起：位置 = 之前真实 token 的个数
                position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)[:, past_len:]  # (B, T)
            else:
                position_ids = torch.arange(past_len, past_len + T, device=device)[None].expand(B, T)

        if attention_mask is not None and bool(attention_mask.all()):
            attention_mask = None  # 没有填充：位置已算好，省掉显式掩码，走下面更快的路径

        x = self.model.embed_tokens(input_ids)  # (B, T, C)
        cos, sin = rope_cos_sin(position_ids, self.config.head_dim, self.config.rope_theta, x.dtype)
        # 没有填充时：无缓存的一整段用 SDPA 自带的因果掩码（最快）；逐个生成（T=1）什么掩码都不需要
        if attention_mask is None and (past_len == 0 or T == 1):
            attn_mask, is_causal = None, T > 1
        else:
            attn_mask, is_causal = build_attn_mask(attention_mask, past_len, T, device), False
        for layer in self.model.layers:
            x = layer(x, cos, sin, attn_mask, is_causal, kv_cache)
        return self.lm_head(self.model.norm(x[:, -logits_to_keep:]))  # (B, T 或 n, V)；-0 即 0：全部

    # ---- 读写 Hugging Face 格式的文件夹 ----
    @classmethod
    def from_pretrained(cls, folder, dtype=None, device="cpu") -> "Qwen3ForCausalLM":
        """读 config.json + model.safetensors（或分片的 model.safetensors.index.json）。见 loading.py。"""
        from minigpt.qwen3.loading import load_pretrained
        return load_pretrained(cls, folder, dtype=dtype, device=device)

    def save_pretrained(self, folder) -> Path:
        """写 config.json + model.safetensors，transformers 的 AutoModelForCausalLM 可以直接读。"""
        from safetensors.torch import save_file
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        dtype = next(self.parameters()).dtype
        (folder / "config.json").write_text(
            json.dumps(self.config.to_hf_dict(str(dtype).removeprefix("torch.")), indent=2) + "\n")
        state = {k: v.detach().contiguous() for k, v in self.state_dict().items()}
        if self.config.tie_word_embeddings:
            state.pop("lm_head.weight")  # 共用的矩阵只存一次（safetensors 不允许共享存储）
        save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
        return folder


if __name__ == "__main__":
    from minigpt.qwen3.config import course_config
    model = Qwen3ForCausalLM(course_config(vocab_size=3000))
    print(model.config)
    print(f"参数量: {model.num_parameters() / 1e6:.2f} M")
    ids = torch.randint(0, 3000, (2, 16))
    print("logits:", tuple(model(ids).shape))
