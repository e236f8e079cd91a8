"""Qwen3 的配置：一个 dataclass，加上官方模型的命名预设和课程用的小配置。

运行 `python -m minigpt.qwen3.config` 打印每个预设的参数量。

字段名与 Hugging Face 的 config.json 一致（hidden_size、num_key_value_heads……），
所以读写 config.json 只需少量换算（见 `from_hf_dict` / `to_hf_dict`）。
"""
from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from minigpt.cli import ConfigError  # noqa: E402  （一个 ValueError：配置写错了，学习者能改）

__all__ = ["Qwen3Config", "count_parameters", "course_config", "PRESETS", "DENSE_ARCH", "MOE_ARCH", "QWEN3_0_6B",
           "QWEN3_1_7B", "QWEN3_4B", "QWEN3_8B", "QWEN3_30B_A3B", "TINY", "TINY_MOE", "QWEN3_COURSE_CPU",
           "QWEN3_COURSE_SEED", "QWEN3_COURSE_TINY"]

# 我们能读的两种架构（transformers 的类名）
DENSE_ARCH = "Qwen3ForCausalLM"
MOE_ARCH = "Qwen3MoeForCausalLM"


@dataclass
class Qwen3Config:
    vocab_size: int = 151936  # 词表大小：官方 Qwen3 是 151,643 个 BPE 词 + 特殊 token，补齐到 128 的倍数
    hidden_size: int = 1024  # 残差流的宽度（GPT 里的 n_embd）
    intermediate_size: int = 3072  # SwiGLU 中间层宽度（稠密 MLP；Qwen3 取 3 倍 hidden_size）
    num_hidden_layers: int = 28  # 解码层（Transformer block）的个数
    num_attention_heads: int = 16  # 查询（query）头数
    num_key_value_heads: int = 8  # 键/值头数：小于查询头数就是分组查询注意力 GQA，KV 缓存随之变小
    head_dim: int = 128  # 每个头的维度；Qwen3 单独给出，不一定等于 hidden_size / 头数
    max_position_embeddings: int = 40960  # 最长上下文；更长的输入直接报错
    rope_theta: float = 1_000_000.0  # RoPE 的底数 θ：越大，最慢的那个频率越慢，适合长上下文
    rms_norm_eps: float = 1e-6  # RMSNorm 分母里防止除零的小数
    tie_word_embeddings: bool = True  # 输出层与词嵌入共用一个矩阵（小模型省参数；8B 以上不共用）
    attention_bias: bool = False  # q/k/v/o 投影是否带偏置（Qwen3 不带，Qwen2 的 q/k/v 带）
    hidden_act: str = "silu"  # SwiGLU 的门控激活；Qwen3 只用 silu
    initializer_range: float = 0.02  # 从头训练时权重初始化的标准差
    # ---- 混合专家（MoE），num_experts = 0 表示稠密模型 ----
    num_experts: int = 0  # 每个 MoE 层的专家个数
    num_experts_per_tok: int = 0  # 每个 token 选几个专家（top-k）
    moe_intermediate_size: int = 0  # 每个专家 MLP 的中间层宽度（比稠密的窄得多）
    norm_topk_prob: bool = True  # 选出的 k 个概率是否再归一化到和为 1（Qwen3-MoE 官方为 True）
    decoder_sparse_step: int = 1  # 每隔几层放一个 MoE 层（1 = 每层都是）
    mlp_only_layers: list[int] = field(default_factory=list)  # 强制用稠密 MLP 的层号
    # ---- 特殊 token（只用于生成时停止，不影响网络结构） ----
    bos_token_id: int | None = 151643  # <|endoftext|>
    eos_token_id: int | None = 151645  # <|im_end|>：对话模型一轮回答结束

    def __post_init__(self):
        if self.num_attention_heads % self.num_key_value_heads:
            raise ConfigError(f"num_attention_heads={self.num_attention_heads} 必须是 "
                             f"num_key_value_heads={self.num_key_value_heads} 的整数倍")
        if self.hidden_act != "silu":
            raise ConfigError(f"hidden_act={self.hidden_act!r}：Qwen3 只支持 'silu'")
        if self.head_dim % 2:
            raise ConfigError(f"head_dim={self.head_dim} 必须是偶数（RoPE 把维度两两配对旋转）")
        if self.num_experts and not 0 < self.num_experts_per_tok <= self.num_experts:
            raise ConfigError(f"num_experts_per_tok={self.num_experts_per_tok} 必须在 1..{self.num_experts}")
        self.mlp_only_layers = list(self.mlp_only_layers)

    # ---- 由字段推出的量 ----
    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    def is_sparse_layer(self, layer_idx: int) -> bool:
        """第 layer_idx 层是不是 MoE 层（规则与 transformers 的 Qwen3-MoE 相同）。"""
        return (self.num_experts > 0 and layer_idx not in self.mlp_only_layers
                and (layer_idx + 1) % self.decoder_sparse_step == 0)

    @property
    def architecture(self) -> str:
        return MOE_ARCH if self.is_moe else DENSE_ARCH

    # ---- 与 Hugging Face config.json 互相转换 ----
    @classmethod
    def from_hf_dict(cls, d: dict, source: str = "config.json") -> "Qwen3Config":
        """读官方（transformers 4.x）或 transformers 5.x 写出的 config.json。

        两者的差别：4.x 把 rope_theta 放在顶层、专家数叫 num_experts；
        5.x 放在 rope_parameters.rope_theta、专家数叫 num_local_experts。
        """
        archs = d.get("architectures") or []
        model_type = d.get("model_type")
        if archs:
            if not any(a in (DENSE_ARCH, MOE_ARCH) for a in archs):
                raise ConfigError(f"{source}: architectures={archs}，不是 Qwen3（需要 {DENSE_ARCH} 或 {MOE_ARCH}）")
            is_moe_arch = MOE_ARCH in archs
        elif model_type in ("qwen3", "qwen3_moe"):
            is_moe_arch = model_type == "qwen3_moe"
        else:
            raise ConfigError(f"{source}: model_type={model_type!r}，不是 Qwen3")

        rope = d.get("rope_parameters") or d.get("rope_scaling") or {}
        rope_type = rope.get("rope_type", rope.get("type", "default"))
        if rope_type != "default":
            raise ConfigError(f"{source}: rope_type={rope_type!r} 不支持（这里只实现了原始 RoPE）")
        rope_theta = d.get("rope_theta", rope.get("rope_theta", 10000.0))
        if d.get("use_sliding_window"):
            raise ConfigError(f"{source}: use_sliding_window=true 不支持（Qwen3 官方模型都不用）")

        heads = d["num_attention_heads"]
        eos = d.get("eos_token_id")
        if isinstance(eos, list):  # 有的 config 给一组停止 token；我们只记第一个
            eos = eos[0] if eos else None
        kw = dict(
            vocab_size=d["vocab_size"],
            hidden_size=d["hidden_size"],
            intermediate_size=d["intermediate_size"],
            num_hidden_layers=d["num_hidden_layers"],
            num_attention_heads=heads,
            num_key_value_heads=d.get("num_key_value_heads") or heads,
            head_dim=d.get("head_dim") or d["hidden_size"] // heads,
            max_position_embeddings=d.get("max_position_embeddings", 32768),
            rope_theta=float(rope_theta),
            rms_norm_eps=d.get("rms_norm_eps", 1e-6),
            # transformers 的 Qwen3Config 默认不共用；官方小模型的 config.json 明确写了 true
            tie_word_embeddings=d.get("tie_word_embeddings", False),
            attention_bias=d.get("attention_bias", False),
            hidden_act=d.get("hidden_act", "silu"),
            initializer_range=d.get("initializer_range", 0.02),
            bos_token_id=d.get("bos_token_id"),
            eos_token_id=eos,
        )
        if is_moe_arch:
            kw.update(
                num_experts=d.get("num_experts", d.get("num_local_experts", 128)),
                num_experts_per_tok=d.get("num_experts_per_tok", 8),
                moe_intermediate_size=d.get("moe_intermediate_size", 768),
                # transformers 的默认值是 False，官方 30B-A3B 写的是 true
                norm_topk_prob=d.get("norm_topk_prob", False),
                decoder_sparse_step=d.get("decoder_sparse_step", 1),
                mlp_only_layers=list(d.get("mlp_only_layers") or []),
            )
        try:
            return cls(**kw)
        except ValueError as e:
            raise ConfigError(f"{source}: {e}") from None

    def to_hf_dict(self, dtype: str = "float32") -> dict:
        """写成 transformers 4.51+ 和 5.x 都能读的 config.json 内容（rope_theta 放顶层）。"""
        d = dict(
            architectures=[self.architecture],
            model_type="qwen3_moe" if self.is_moe else "qwen3",
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            intermediate_size=self.intermediate_size,
            num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads,
            num_key_value_heads=self.num_key_value_heads,
            head_dim=self.head_dim,
            max_position_embeddings=self.max_position_embeddings,
            rope_theta=self.rope_theta,
            rope_scaling=None,
            rms_norm_eps=self.rms_norm_eps,
            tie_word_embeddings=self.tie_word_embeddings,
            attention_bias=self.attention_bias,
            attention_dropout=0.0,
            hidden_act=self.hidden_act,
            initializer_range=self.initializer_range,
            use_sliding_window=False,
            sliding_window=None,
            max_window_layers=self.num_hidden_layers,
            bos_token_id=self.bos_token_id,
            eos_token_id=self.eos_token_id,
            use_cache=True,
            torch_dtype=dtype,
        )
        if self.is_moe:
            d.update(num_experts=self.num_experts, num_experts_per_tok=self.num_experts_per_tok,
                     moe_intermediate_size=self.moe_intermediate_size, norm_topk_prob=self.norm_topk_prob,
                     decoder_sparse_step=self.decoder_sparse_step, mlp_only_layers=list(self.mlp_only_layers))
        return d

    def to_dict(self) -> dict:
        return asdict(self)


def count_parameters(c: Qwen3Config) -> int:
    """不建模型，直接按形状算参数量（共用的嵌入只算一次）。"""
    hs, d = c.hidden_size, c.head_dim
    attn = hs * d * (c.num_attention_heads * 2 + c.num_key_value_heads * 2) + 2 * d
    if c.attention_bias:
        attn += d * (c.num_attention_heads + 2 * c.num_key_value_heads) + hs
    total = c.vocab_size * hs * (1 if c.tie_word_embeddings else 2) + hs
    for i in range(c.num_hidden_layers):
        if c.is_sparse_layer(i):
            mlp = c.num_experts * 3 * hs * c.moe_intermediate_size + c.num_experts * hs
        else:
            mlp = 3 * hs * c.intermediate_size
        total += attn + mlp + 2 * hs
    return total


# ---- 官方模型（数值取自各自 Hugging Face 仓库的 config.json）----
QWEN3_0_6B = Qwen3Config(hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
                         num_attention_heads=16, num_key_value_heads=8, tie_word_embeddings=True)
QWEN3_1_7B = Qwen3Config(hidden_size=2048, intermediate_size=6144, num_hidden_layers=28,
                         num_attention_heads=16, num_key_value_heads=8, tie_word_embeddings=True)
QWEN3_4B = Qwen3Config(hidden_size=2560, intermediate_size=9728, num_hidden_layers=36,
                       num_attention_heads=32, num_key_value_heads=8, tie_word_embeddings=True)
QWEN3_8B = Qwen3Config(hidden_size=4096, intermediate_size=12288, num_hidden_layers=36,
                       num_attention_heads=32, num_key_value_heads=8, tie_word_embeddings=False)
QWEN3_30B_A3B = Qwen3Config(hidden_size=2048, intermediate_size=6144, num_hidden_layers=48,
                            num_attention_heads=32, num_key_value_heads=4, tie_word_embeddings=False,
                            num_experts=128, num_experts_per_tok=8, moe_intermediate_size=768,
                            norm_topk_prob=True, decoder_sparse_step=1)

# ---- 测试用的小配置（几万个参数，几毫秒一次前向）----
TINY = Qwen3Config(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                   num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=256,
                   rope_theta=10000.0, bos_token_id=None, eos_token_id=None)
TINY_MOE = replace(TINY, tie_word_embeddings=False, num_experts=4, num_experts_per_tok=2,
                   moe_intermediate_size=32, norm_topk_prob=True, mlp_only_layers=[1])

# ---- 课程里从头训练的字符级 Qwen3（第 8 章），与同名 GPT 预设（minigpt/model.py）同宽同深 ----
# vocab_size 是占位，建模型时换成真实词表大小。课程词表里 <pad>=0、<unk>=1、<sep>=2；<sep> 也是回答结束的标志。
# 字符级上下文很短（128），θ 用经典的 10,000 而不是为 40K 上下文准备的 1,000,000。
_COURSE = dict(vocab_size=4825, max_position_embeddings=128, rope_theta=10000.0, tie_word_embeddings=True,
               bos_token_id=None, eos_token_id=2)
# "cpu"：hidden 256、4 层、4 个查询头 / 2 个键值头（head_dim 64）。GQA 让注意力从 GPT 的 4·256² 降到 3·256²，
# 省下的参数给 SwiGLU：中间层 768 = 3×256（正好是 Qwen3-0.6B 的 3072/1024 比例），每层参数与 GPT（4d² + 8d²）相同。
QWEN3_COURSE_CPU = Qwen3Config(hidden_size=256, intermediate_size=768, num_hidden_layers=4,
                               num_attention_heads=4, num_key_value_heads=2, head_dim=64, **_COURSE)
# "seed"：与种子 GPT（768 宽、6 层）同宽同深，GPU 上用；12 个查询头 / 4 组键值头，每层 11.7·d²（GPT 12·d²）。
QWEN3_COURSE_SEED = Qwen3Config(hidden_size=768, intermediate_size=2304, num_hidden_layers=6,
                                num_attention_heads=12, num_key_value_heads=4, head_dim=64, **_COURSE)
# "tiny"：测试用，几秒就能训几十步。
QWEN3_COURSE_TINY = Qwen3Config(hidden_size=64, intermediate_size=192, num_hidden_layers=2,
                                num_attention_heads=4, num_key_value_heads=2, head_dim=16, **_COURSE)

# 名字都以 "qwen3-" 开头：和 GPT 的预设（"seed"、"cpu"、"tiny"）放进同一张表 minigpt.models.PRESETS 也不会重名
PRESETS: dict[str, Qwen3Config] = {
    "qwen3-0.6b": QWEN3_0_6B, "qwen3-1.7b": QWEN3_1_7B, "qwen3-4b": QWEN3_4B, "qwen3-8b": QWEN3_8B,
    "qwen3-30b-a3b": QWEN3_30B_A3B, "qwen3-test": TINY, "qwen3-test-moe": TINY_MOE,
    "qwen3-seed": QWEN3_COURSE_SEED, "qwen3-cpu": QWEN3_COURSE_CPU, "qwen3-tiny": QWEN3_COURSE_TINY,
}


def course_config(vocab_size: int, preset: str = "cpu", max_position_embeddings: int = 128) -> Qwen3Config:
    """课程的 Qwen3 预设（"cpu"、"seed"、"tiny"，即 PRESETS 里的 "qwen3-cpu" 等），填入真实的词表大小。"""
    if preset not in ("seed", "cpu", "tiny"):
        raise ConfigError(f"没有名为“{preset}”的 Qwen3 课程预设，可选：seed, cpu, tiny")
    return replace(PRESETS[f"qwen3-{preset}"], vocab_size=vocab_size, max_position_embeddings=max_position_embeddings)


if __name__ == "__main__":
    for name, cfg in PRESETS.items():
        print(f"{name:14s} {count_parameters(cfg) / 1e6:10.1f} M")

