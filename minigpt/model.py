"""第 5 章：GPT 模型（decoder-only Transformer + 语言建模头）。

    python ./minigpt/model.py            # 打印各预设的参数量，并跑一次前向传播
    python -m minigpt.model

结构与模块名和种子代码（seed 第 6 章）完全一致：transformer.wte/wpe/drop/blocks/ln_f，
blocks[i].ln_1/attn(qkv_proj, out_proj, resid_dropout)/ln_2/mlp(c_fc, c_proj)，lm_head 与 wte 共享权重。
所以种子代码保存的 state_dict 可以原样 `load_state_dict`。

相对种子代码的修正（notebook 05 逐条演示）：
  1. `self.resid_dropput` 拼写错误 → 第一次前向就 AttributeError；这里统一为 `resid_dropout`。
  2. 不传 attention_mask 时变量 `y` 从未赋值 → UnboundLocalError；这里无 mask 时走因果注意力。
  3. 多余的 `import token`（tokenizer.py）等无用导入已删除。
  4. 超长序列用 `assert` 检查（`python -O` 会跳过），这里改为 ValueError 并说明原因。
新增（接口与第 8 章的 Qwen3 模型相同，minigpt/generate.py 的文档字符串写明了这份“模型约定”）：
  - `forward(input_ids, attention_mask=None, *, kv_cache=None, position_ids=None) -> logits`
  - KV cache（minigpt.kv_cache.KVCache），左填充的批量生成（位置编号从 attention_mask 推出）。
  - 掩码交给 F.scaled_dot_product_attention：没有填充（或只有右填充）时只用因果掩码（causal_attention：
    在 CPU 上训练时按公式自己算，反向传播更快）。
  - 残差投影（attn.out_proj、mlp.c_proj）按 GPT-2 的做法把初始化标准差缩小为 0.02/sqrt(2*n_layer)。
  - dropout 模块是 nn.Dropout 的子类 Dropout：作用相同，只是 CPU 上随机数抽得更快（dropout() 的说明）。
生成时一次一个 token 的快速路径（打包好的权重、oneDNN）不在这里：在 minigpt/fast_decode.py（第 7 章进阶）。
"""
import math
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

if __package__ in (None, ""):  # 以脚本方式运行时，让 `import minigpt.*` 能找到仓库根目录
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minigpt.kv_cache import KVCache

__all__ = ["GPTConfig", "GPT_SEED", "GPT_CPU", "GPT_TINY", "PRESETS", "config_for", "make_attention_mask",
           "causal_attention", "dropout", "Dropout", "CausalSelfAttention", "MLP", "Block", "Transformer",
           "GPTLMHeadModel"]


@dataclass
class GPTConfig:
    """模型超参数。默认值就是种子代码的设置（见 GPT_SEED）；课程默认用更小的 GPT_CPU。"""

    n_embd: int = 768  # 每个 token 的向量维度（hidden size）；越大表达能力越强，计算量约按平方增长
    n_head: int = 8  # 注意力头数，必须整除 n_embd；每个头在 n_embd/n_head 维的子空间里各看各的关系
    n_layer: int = 6  # Transformer Block 层数；层数越多，能组合的模式越复杂，也越慢
    dropout: float = 0.1  # 训练时随机丢弃的比例，防止过拟合；推理（model.eval()）时自动关闭
    block_size: int = 128  # 最大上下文长度 = 位置编码表的行数；问题+答案+两个 <sep> 不能超过它
    vocab_size: int = 4825  # 词表大小，必须等于 tokenizer.get_vocab_size()（构建模型时用真实词表填入）

    def __post_init__(self):
        if self.n_embd % self.n_head != 0:
            raise ValueError(f"n_embd={self.n_embd} 必须能被 n_head={self.n_head} 整除")


# 预设：名字 → 配置。vocab_size 在构建模型时用 `config_for(name, vocab_size)` 填入真实词表大小。
# 与 Qwen3 的预设（名字都以 "qwen3-" 开头）合在 minigpt.models.PRESETS 里，名字不重复。
GPT_SEED = GPTConfig(n_embd=768, n_head=8, n_layer=6, dropout=0.1, block_size=128)  # 种子代码原样；词表约 4.8k 时约 46M 参数
GPT_CPU = GPTConfig(n_embd=256, n_head=4, n_layer=4, dropout=0.0, block_size=128)  # 课程默认：2 核 CPU 上几分钟能训出效果；训练短时 dropout 只会拖慢收敛
GPT_TINY = GPTConfig(n_embd=32, n_head=2, n_layer=2, dropout=0.0, block_size=128)  # 单元测试用，毫秒级
PRESETS: dict[str, GPTConfig] = {"seed": GPT_SEED, "cpu": GPT_CPU, "tiny": GPT_TINY}


def config_for(preset: str, vocab_size: int, **overrides) -> GPTConfig:
    """取一个预设并填入真实的 vocab_size（以及其它想改的字段），返回新的配置，不改动预设本身。"""
    if preset not in PRESETS:
        raise ValueError(f"未知的预设 {preset!r}，可选：{', '.join(PRESETS)}")
    return replace(PRESETS[preset], vocab_size=vocab_size, **overrides)


def make_attention_mask(attention_mask: Optional[torch.Tensor], query_len: int, past_len: int = 0,
                        batch_size: int = 1, device=None) -> torch.Tensor:
    """构造 SDPA 用的布尔掩码 (B, 1, T, S)，True = 可以看。S = past_len + T。

    可以看 = 因果（key 不在 query 右边）且 key 不是 padding。
    另外每个 query 总能看见它自己：左填充的 padding 位置作为 query 时，左边全是 padding，
    整行都是 False，softmax 会得到 0/0 = NaN；让它看自己就不会有 NaN（它的输出反正没人用）。
    """
    T, S = query_len, past_len + query_len
    q_pos = torch.arange(past_len, S, device=device)[:, None]  # (T, 1)：query 的绝对下标
    k_pos = torch.arange(S, device=device)[None, :]  # (1, S)
    causal = k_pos <= q_pos  # (T, S)
    if attention_mask is None:
        return causal[None, None].expand(batch_size, 1, T, S)
    keep = attention_mask.to(device=causal.device, dtype=torch.bool)[:, None, None, :]  # (B, 1, 1, S)
    return (causal & keep) | (k_pos == q_pos)  # (B, 1, T, S)


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, dropout_p: float = 0.0) -> torch.Tensor:
    """因果的缩放点积注意力 softmax(q·kᵀ/√hs + 因果掩码)·v，没有 padding 要屏蔽。q、k、v: (B, nh, T, hs)。

    通常交给 F.scaled_dot_product_attention(is_causal=True)，它自己生成因果掩码、挑最快的内核。
    只有在 CPU 上训练（要算梯度）时按公式自己算：我们的句子只有几十个 token，PyTorch 的 CPU 融合注意力内核
    在这样的形状上反向传播很慢（2 核 AMD EPYC 上 bf16 前向+反向慢 4–6 倍，cpu 预设的训练步整步慢 1.2–1.3 倍；
    benchmarks/README.md）。只做前向（评估、生成）时它更快或差不多，GPU 上它用 flash 内核，这两种情况都不改。
    两种算法的结果在浮点误差内相同（tests/test_model.py）。
    """
    if not (torch.is_grad_enabled() and q.requires_grad and q.device.type == "cpu"):
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
    T = q.shape[-2]
    future = torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1)  # (T, T)：True = 右边，看不见
    att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))  # (B, nh, T, T)
    att = att.masked_fill(future, float("-inf")).softmax(-1)
    att = dropout(att, dropout_p)
    return att @ v  # (B, nh, T, hs)


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """与 F.dropout 相同的作用：训练时每个元素以概率 p 置 0，留下的乘一个系数，让期望不变。

    GPU 上就用 F.dropout。CPU 上 F.dropout 给每个元素单独抽一个随机数（bernoulli_），在 768×6 的训练步里
    占到 8% 的时间；这里一次抽一个 64 位随机整数、切成 4 个 16 位来用，整个 dropout（前向+反向）快 3 倍多
    （benchmarks/README.md）。代价：丢弃概率只能是 1/65536 的整数倍（p=0.1 时是 6554/65536 ≈ 0.100006）；
    留下的元素乘 65536/(65536-6554)，期望仍然等于 x（bf16 的张量上这个系数按 bf16 取整，和 F.dropout 一样）。
    随机数来自 torch 的默认生成器，所以 torch.manual_seed 照样让结果可复现。
    """
    if not training or p == 0.0:
        return x
    drop = round(p * 65536)  # 16 位整数的 65536 个取值里，有 drop 个表示“丢掉”
    if x.device.type != "cpu" or not 0 < drop < 65536:
        return F.dropout(x, p, training=True)
    n = x.numel()
    bits = torch.empty((n + 3) // 4, dtype=torch.int64).random_(-2**63, None)  # 每个 64 位的随机数...
    bits = bits.view(torch.int16)[:n].view(x.shape)  # ...切成 4 个 -32768..32767 之间均匀的 16 位整数
    keep = bits >= drop - 32768  # 最小的 drop 个取值 = 丢掉
    return x * (keep.to(x.dtype) * (65536 / (65536 - drop)))


class Dropout(nn.Dropout):
    """nn.Dropout，只是 forward 用上面的 dropout()（CPU 上更快）。名字、参数、train()/eval() 的行为都不变。"""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig, layer_idx: int = 0):
        super().__init__()
        assert config.n_embd % config.n_head == 0
        self.config = config
        self.layer_idx = layer_idx  # KV cache 里这一层的编号（普通属性，不进 state_dict）
        self.head_dim = config.n_embd // config.n_head
        # 一次矩阵乘得到 Q、K、V：[B, T, C] -> [B, T, 3C]
        self.qkv_proj = nn.Linear(config.n_embd, 3 * config.n_embd)
        # 多头拼接后映射回 C 维
        self.out_proj = nn.Linear(config.n_embd, config.n_embd, bias=False)
        self.resid_dropout = Dropout(config.dropout)  # 种子写成了 resid_dropput（修正 1）

    def forward(self, x: torch.Tensor, attn_mask: Optional[torch.Tensor] = None, *,
                kv_cache: Optional[KVCache] = None) -> torch.Tensor:
        """x: (B, T, C)。attn_mask: None 表示纯因果（走 is_causal 快速路径），或 (B, 1, T, S) 布尔掩码。"""
        B, T, C = x.shape
        q, k, v = self.qkv_proj(x).chunk(3, dim=-1)  # 各 (B, T, C)
        q = q.view(B, T, self.config.n_head, self.head_dim).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.config.n_head, self.head_dim).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.config.n_head, self.head_dim).transpose(1, 2)  # (B, nh, T, hs)
        if kv_cache is not None:
            k, v = kv_cache.update(self.layer_idx, k, v)  # (B, nh, S, hs)，S = 过去 + 现在
        past_len = k.shape[2] - T

        dropout_p = self.config.dropout if self.training else 0.0
        if attn_mask is not None:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p)
        elif past_len == 0:
            # 没有缓存、没有需要屏蔽的 padding：只要因果掩码（修正 2 也在这里）
            y = causal_attention(q, k, v, dropout_p)
        elif T == 1:
            # 有缓存、只来一个新 token：它本来就能看见所有过去的 token，不需要掩码
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)
        else:
            # 有缓存又一次来多个 token：is_causal 按左上角对齐，不适用，显式构造带偏移的因果掩码
            mask = make_attention_mask(None, T, past_len, B, device=x.device)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)

        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, nh, hs) -> (B, T, C)
        return self.resid_dropout(self.out_proj(y))


class MLP(nn.Module):
    """前馈网络：Linear(C, 4C) → GELU → Linear(4C, C)。4 倍是 GPT 系列的惯例。"""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=False)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=False)
        self.dropout = Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x))))  # (B, T, C)


class Block(nn.Module):
    """Pre-LN 解码器块：x + Attn(LN(x))，再 x + MLP(LN(x))。先归一化再进子层，深了也好训练。"""

    def __init__(self, config: GPTConfig, layer_idx: int = 0):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config, layer_idx)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, attn_mask: Optional[torch.Tensor] = None, *,
                kv_cache: Optional[KVCache] = None) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), attn_mask, kv_cache=kv_cache)  # (B, T, C)
        x = x + self.mlp(self.ln_2(x))  # (B, T, C)
        return x


class Transformer(nn.Module):
    """词向量 + 可学习的位置向量 → N 个 Block → 最后一个 LayerNorm。"""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)  # [vocab, C]
        self.wpe = nn.Embedding(config.block_size, config.n_embd)  # [block_size, C]：位置也是学出来的（GPT-2）
        self.drop = Dropout(config.dropout)
        self.blocks = nn.ModuleList([Block(config, i) for i in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd)

    def forward(self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None, *,
                kv_cache: Optional[KVCache] = None, position_ids: Optional[torch.Tensor] = None) -> torch.Tensor:
        B, T = input_ids.shape
        past_len = kv_cache.seq_len if kv_cache is not None else 0
        S = past_len + T
        if S > self.config.block_size:
            # 种子用 assert；assert 在 python -O 下会被跳过，之后 wpe 查表越界，报错更难懂
            raise ValueError(f"序列长度 {S}（缓存 {past_len} + 新输入 {T}）超出最大上下文长度 "
                             f"block_size={self.config.block_size}：请截短问题或减少 max_new_tokens")
        if attention_mask is not None and attention_mask.shape != (B, S):
            raise ValueError(f"attention_mask 的形状应为 (B, 过去+现在) = {(B, S)}，实际是 {tuple(attention_mask.shape)}")

        if position_ids is None:
            if attention_mask is not None:
                # 位置从第一个真实 token 开始数：左填充时真实内容仍从位置 0 开始，与不填充时完全一样
                position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)[:, past_len:]  # (B, T)
            else:
                position_ids = torch.arange(past_len, S, device=input_ids.device)[None, :]  # (1, T)
        elif position_ids.numel() and int(position_ids.max()) >= self.config.block_size:
            raise ValueError(f"position_ids 最大为 {int(position_ids.max())}，超出 block_size={self.config.block_size}")

        attn_mask = None
        if attention_mask is not None and not _causal_is_enough(attention_mask, past_len):
            attn_mask = make_attention_mask(attention_mask, T, past_len, B, device=input_ids.device)

        x = self.drop(self.wte(input_ids) + self.wpe(position_ids))  # (B, T, C)
        for block in self.blocks:
            x = block(x, attn_mask, kv_cache=kv_cache)
        return self.ln_f(x)  # (B, T, C)


def _causal_is_enough(attention_mask: torch.Tensor, past_len: int) -> bool:
    """不需要显式掩码的情况：没有 padding，或（无缓存时）只有右填充。

    右填充时，真实 token 都在 padding 左边；因果注意力下真实 token 只看得见左边，自然看不到 padding，
    所以它们的输出与带 padding 掩码时完全相同。只有 padding 位置自己的输出不同——而损失函数会忽略
    这些位置（targets 为 <pad>，ignore_index）。于是训练可以走 is_causal 快速路径。
    """
    m = attention_mask.bool()
    if bool(m.all()):
        return True  # 没有 padding；有缓存时的因果偏移由注意力层按 T 处理
    if past_len > 0:
        return False
    return bool((m[:, 1:] <= m[:, :-1]).all())  # 每行都是 1…1 0…0：右填充


class GPTLMHeadModel(nn.Module):
    """完整的 GPT 语言模型：Transformer + lm_head（与 wte 共享权重）。输出每个位置对下一个 token 的 logits。"""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.transformer = Transformer(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        # 权重绑定：输入词向量与输出投影是同一个矩阵，省下 vocab×C 个参数（Press & Wolf, 2017）
        self.transformer.wte.weight = self.lm_head.weight
        self.apply(self._init_weights)
        # GPT-2：每个残差分支的输出投影再缩小 1/sqrt(2*n_layer)。残差流是 2*n_layer 个分支的累加，
        # 这样初始时残差流的方差不随层数增长（nanoGPT 同样如此）。
        for name, p in self.named_parameters():
            if name.endswith("attn.out_proj.weight") or name.endswith("mlp.c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    def _init_weights(self, module):
        """GPT-2 初始化：Linear/Embedding 权重 ~ N(0, 0.02)，bias 为 0；LayerNorm 保持 1 和 0。"""
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None, *,
                kv_cache: Optional[KVCache] = None, position_ids: Optional[torch.Tensor] = None,
                logits_to_keep: int = 0) -> torch.Tensor:
        """input_ids: (B, T)。attention_mask: (B, 过去+现在)，1=真实 token，0=padding（与 transformers 相同）。

        返回 logits: (B, T, vocab_size)。有 kv_cache 时只算新输入的 T 个位置，并把它们的 K、V 追加进缓存。
        logits_to_keep=n > 0：只算最后 n 个位置的 logits (B, n, vocab)。生成只要最后一个位置，
        提示词有 20 个字时，这省下 19 次“C × 词表”的矩阵乘（与 transformers 的同名参数相同）。
        """
        hidden_states = self.transformer(input_ids, attention_mask, kv_cache=kv_cache, position_ids=position_ids)
        return self.lm_head(hidden_states[:, -logits_to_keep:])  # (B, T 或 n, vocab)；-0: 等于 [:, 0:]，全部

    def num_parameters(self, exclude_embeddings: bool = False) -> int:
        """参数个数（共享的权重只算一次）。exclude_embeddings=True 时不算词向量和位置向量。"""
        n = sum(p.numel() for p in self.parameters())
        if exclude_embeddings:
            n -= self.transformer.wte.weight.numel() + self.transformer.wpe.weight.numel()
        return n

    def new_kv_cache(self, max_len: Optional[int] = None) -> KVCache:
        """给生成用的空缓存，每层一格；知道最终长度 max_len 时一次预留好。"""
        return KVCache(self.config.n_layer, max_len=max_len)


if __name__ == "__main__":
    for name in PRESETS:
        m = GPTLMHeadModel(config_for(name, vocab_size=4825))
        print(f"{name:5s} {asdict(m.config)}  参数量 {m.num_parameters() / 1e6:.2f}M")
    ids = torch.randint(0, 4825, (2, 16))
    print("logits:", tuple(m(ids).shape))
