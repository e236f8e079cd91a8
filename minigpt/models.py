"""课程的两种模型（第 5 章的 GPT、第 8 章的 Qwen3）只在这里被区分：按名字建模型、问它的上下文长度和架构名。

    from minigpt.models import build_model_for, context_length, arch_of, PRESETS
    model = build_model_for("gpt", "cpu", vocab_size=57)        # 和 `python ./minigpt/train.py` 的默认模型相同
    model = build_model_for("qwen3", "cpu", vocab_size=57)      # 同样大小的 Qwen3（预设 "qwen3-cpu"）
    context_length(model), arch_of(model)                       # 128, "qwen3"

    python -m minigpt.models        # 列出所有预设和参数量

预设只有一套：PRESETS 把名字映射到一个配置实例（GPTConfig 或 Qwen3Config），名字各不相同，
配置的类型就决定了架构。GPT 的 "seed"/"cpu"/"tiny" 沿用旧名字（命令行 `--preset cpu`）；
Qwen3 的预设都以 "qwen3-" 开头：课程从头训练的 "qwen3-seed"/"qwen3-cpu"/"qwen3-tiny"，
官方的 "qwen3-0.6b" 等。命令行的 `--arch qwen3 --preset cpu` 就是 "qwen3-cpu"。
vocab_size 在建模型时换成真实词表的大小。
"""
import sys
from dataclasses import asdict, replace
from pathlib import Path

if __package__ in (None, ""):  # 以脚本方式运行时，让 `import minigpt.*` 能找到仓库根目录
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from minigpt.cli import ConfigError
from minigpt.common import unwrap
from minigpt.model import PRESETS as GPT_PRESETS
from minigpt.model import GPTConfig, GPTLMHeadModel
from minigpt.qwen3.config import PRESETS as QWEN3_PRESETS
from minigpt.qwen3.config import Qwen3Config, count_parameters
from minigpt.qwen3.model import Qwen3ForCausalLM

__all__ = ["ARCHS", "PRESETS", "preset_name", "preset_config", "build_model_for", "build_model", "arch_of",
           "context_length", "width_of", "config_dict"]

ARCHS = {"gpt": (GPTConfig, GPTLMHeadModel), "qwen3": (Qwen3Config, Qwen3ForCausalLM)}
PRESETS = {**GPT_PRESETS, **QWEN3_PRESETS}  # 名字 → 配置；两边的名字不重叠（tests/test_structure.py 检查）


def preset_name(arch: str, preset: str) -> str:
    """命令行的 (--arch, --preset) → PRESETS 里的名字：Qwen3 的预设名前面加 "qwen3-"。"""
    if arch == "qwen3" and not preset.startswith("qwen3-"):
        return f"qwen3-{preset}"
    return preset


def preset_config(arch: str, preset: str, vocab_size: int):
    """命令行的 (--arch, --preset) 对应的预设的一份副本，填入真实的 vocab_size（预设本身不变）。
    （第 5 章的 minigpt.model.config_for(preset, vocab_size) 只管 GPT 的预设。）"""
    name = preset_name(arch, preset)
    config = PRESETS.get(name)
    if config is None or not isinstance(config, ARCHS[arch][0]):
        choices = [n for n, c in PRESETS.items() if isinstance(c, ARCHS[arch][0])]
        raise ConfigError(f"没有名为“{preset}”的 {arch} 预设，可选：{', '.join(choices)}")
    return replace(config, vocab_size=vocab_size)


def build_model_for(arch: str, preset: str, vocab_size: int, seed: int = 42):
    """一个新初始化的模型：先 torch.manual_seed(seed)，同一预设同一种子的初始权重每次都一样。"""
    config = preset_config(arch, preset, vocab_size)
    torch.manual_seed(seed)
    return ARCHS[arch][1](config)


def build_model(arch: str, config: dict):
    """按检查点里存的架构名和配置（dict）重建一个未训练的模型。"""
    if arch not in ARCHS:
        raise ConfigError(f"检查点里的架构“{arch}”未知（应为 gpt 或 qwen3）")
    config_cls, model_cls = ARCHS[arch]
    return model_cls(config_cls(**config))


def arch_of(model) -> str:
    """"gpt" 或 "qwen3"（DDP、torch.compile 包装也认得）。"""
    config = unwrap(model).config
    return "qwen3" if isinstance(config, Qwen3Config) else "gpt"


def context_length(model) -> int:
    """模型一次最多能看多少个位置：GPT 叫 block_size，Qwen3 叫 max_position_embeddings。"""
    config = unwrap(model).config
    return config.max_position_embeddings if isinstance(config, Qwen3Config) else config.block_size


def width_of(model) -> int:
    """每个 token 向量的宽度：GPT 叫 n_embd，Qwen3 叫 hidden_size（测 bf16 速度时按这个宽度）。"""
    config = unwrap(model).config
    return config.hidden_size if isinstance(config, Qwen3Config) else config.n_embd


def config_dict(model) -> dict:
    """存进检查点的配置（dataclasses.asdict）。"""
    return asdict(unwrap(model).config)


if __name__ == "__main__":
    for name, cfg in PRESETS.items():
        n = count_parameters(cfg) if isinstance(cfg, Qwen3Config) else GPTLMHeadModel(cfg).num_parameters()
        print(f"{name:14s} {type(cfg).__name__:12s} {n / 1e6:10.2f} M 参数")
