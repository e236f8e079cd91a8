"""第 11 章：LoRA——冻住原模型，只训练每个线性层旁边的一对小矩阵。

    from minigpt.lora import add_lora, merge, unmerge, trainable_parameters, save_adapter, load_adapter
    add_lora(model, rank=8, alpha=16)                 # 原地替换 qkv_proj、out_proj、c_fc、c_proj；原权重冻住
    optimizer = torch.optim.AdamW(trainable_parameters(model), lr=1e-3)
    ...训练...
    save_adapter(model, tokenizer, "output/ch11/adapter.pth", base="checkpoints/minigpt-idiom.pth")
    model, tokenizer = load_adapter("output/ch11/adapter.pth", "checkpoints/minigpt-idiom.pth")

一个线性层 y = x·Wᵀ + b 的权重 W 是 (out, in)。全量微调改 W 的每个数；LoRA（Hu et al., 2021）假设
微调需要的改动 ΔW 的秩很低，写成两个小矩阵的乘积 ΔW = (alpha/rank)·B·A，B: (out, rank)，A: (rank, in)，
只训练 A、B：

    y = x·Wᵀ + b + (alpha/rank) · dropout(x)·Aᵀ·Bᵀ

B 初始化为 0，所以刚加上时 ΔW = 0，模型和原来完全一样；A 的初始化和 nn.Linear 的权重相同
（kaiming_uniform，a=√5），与 peft 的默认做法一致（tests/test_lora.py 逐项比较 logits 和 A、B 的梯度）。
训练完可以把 ΔW 加进 W（merge）：推理时就没有额外的计算；unmerge 再减回去。

要存成普通的检查点（save_checkpoint）或导出（minigpt/export.py），先 merge_and_unload(model)：
带 LoRA 的模型的 state_dict 里是 qkv_proj.base.weight、qkv_proj.lora_A 这样的键，普通的 GPT 加载不了。
生成的快速路径（minigpt/fast_decode.py）直接读每层的 .weight。合并之后 LoRALinear.weight 就是原层的权重
（已经加上了 ΔW）；没合并时读它会报错，而不是悄悄用掉没有 ΔW 的权重：先 merge(model)，或者生成时 fast=False。
"""
import math
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from minigpt.checkpoint import CheckpointError, atomic_save, load_for_inference

TARGETS = ("qkv_proj", "out_proj", "c_fc", "c_proj")  # 注意力的两个投影和 MLP 的两层：每个 Block 4 个
FORMAT = "minigpt-lora"


class LoRALinear(nn.Module):
    """包住一个 nn.Linear：原层冻住，旁边加 A (rank, in)、B (out, rank)。"""

    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float = 0.0):
        super().__init__()
        if rank < 1:
            raise ValueError(f"rank 至少是 1，实际 {rank}")
        self.base = base.requires_grad_(False)
        self.rank, self.alpha, self.scaling = rank, alpha, alpha / rank
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features, device=base.weight.device))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank, device=base.weight.device))  # 0：开始时 ΔW = 0
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # 和 nn.Linear 的权重一样（peft 的默认）
        self.dropout = nn.Dropout(dropout)
        self.merged = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base(x)  # (..., out)
        if self.merged:  # ΔW 已经在 base.weight 里
            return y
        return y + F.linear(F.linear(self.dropout(x), self.lora_A), self.lora_B) * self.scaling  # (..., rank) → (..., out)

    def delta_weight(self) -> torch.Tensor:
        """ΔW = (alpha/rank)·B·A，形状和 base.weight 一样 (out, in)。"""
        return (self.lora_B @ self.lora_A) * self.scaling

    @torch.no_grad()
    def merge(self) -> None:
        if not self.merged:
            self.base.weight += self.delta_weight()  # 原地加：权重的版本号变了，快速路径的缓存会重建
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        if self.merged:
            self.base.weight -= self.delta_weight()
            self.merged = False

    @property
    def weight(self) -> torch.Tensor:
        """合并之后这一层真正用的权重；没合并时报错（见模块说明）。"""
        if not self.merged:
            raise RuntimeError("LoRA 适配器还没合并，这一层的权重不只是 base.weight："
                               "生成前先 minigpt.lora.merge(model)，或者用 fast=False")
        return self.base.weight

    @property
    def bias(self):
        return self.base.bias

    def extra_repr(self) -> str:
        return f"rank={self.rank}, alpha={self.alpha}, merged={self.merged}"


def add_lora(model: nn.Module, rank: int = 8, alpha: float = 16.0, targets=TARGETS, dropout: float = 0.0) -> nn.Module:
    """把 model 里名字以 targets 之一结尾的每个 nn.Linear 换成 LoRALinear；其余所有参数冻住。返回 model。"""
    model.requires_grad_(False)
    names = [name for name, m in model.named_modules() if isinstance(m, nn.Linear) and name.split(".")[-1] in targets]
    if not names:
        raise ValueError(f"模型里没有名字是 {', '.join(targets)} 的线性层")
    for name in names:
        parent, _, child = name.rpartition(".")
        owner = model.get_submodule(parent)
        setattr(owner, child, LoRALinear(getattr(owner, child), rank, alpha, dropout))
    return model


def lora_layers(model: nn.Module) -> dict[str, LoRALinear]:
    return {name: m for name, m in model.named_modules() if isinstance(m, LoRALinear)}


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    """要交给优化器的参数（add_lora 之后就是各层的 A 和 B）。"""
    return [p for p in model.parameters() if p.requires_grad]


def merge(model: nn.Module) -> None:
    for layer in lora_layers(model).values():
        layer.merge()


def unmerge(model: nn.Module) -> None:
    for layer in lora_layers(model).values():
        layer.unmerge()


@contextmanager
def merged(model: nn.Module):
    """with merged(model): ...  在里面生成、评估（快速路径可用），出来时减回去，接着训练。"""
    merge(model)
    try:
        yield model
    finally:
        unmerge(model)


def merge_and_unload(model: nn.Module) -> nn.Module:
    """合并后把每个 LoRALinear 换回它的 nn.Linear：得到一个普通的 GPT，能照常保存成检查点、导出。"""
    for name, layer in lora_layers(model).items():
        layer.merge()
        parent, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent), child, layer.base)
    return model


# ---------------------------------------------------------------- 只存适配器
def save_adapter(model: nn.Module, tokenizer, path, base="") -> None:
    """只写 A、B（rank 8 的 cpu 预设约 0.5 MB，整个模型 16 MB），外加它训练时的原模型的样子：
    每层的名字和形状、词表哈希，加载到别的原模型上时才能认出来。原子写入。"""
    layers = lora_layers(model)
    if not layers:
        raise ValueError("模型里没有 LoRA 层：先 add_lora(model, ...)")
    first = next(iter(layers.values()))
    atomic_save({
        "format": FORMAT, "version": 1, "base": str(base), "vocab_hash": tokenizer.vocab_hash,
        "rank": first.rank, "alpha": first.alpha,
        "shapes": {name: list(m.base.weight.shape) for name, m in layers.items()},
        "weights": {f"{name}.{ab}": getattr(m, ab).detach().cpu() for name, m in layers.items() for ab in ("lora_A", "lora_B")},
    }, path)


def load_adapter(path, base_path, device="cpu"):
    """(model, tokenizer)：base_path 的模型加上 path 的适配器（没合并）。

    适配器不是在这个原模型上训练的（词表、层的名字或形状不同）时，抛出一个说清楚两个文件的 CheckpointError。
    """
    try:
        adapter = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: 找不到 LoRA 适配器文件") from None
    except Exception:
        adapter = None
    if not isinstance(adapter, dict) or adapter.get("format") != FORMAT:
        raise CheckpointError(f"{path}: 不是 minigpt.lora.save_adapter 写的 LoRA 适配器")
    model, tokenizer = load_for_inference(base_path, device)
    mismatch = _mismatch(adapter, model, tokenizer)
    if mismatch:
        raise CheckpointError(f"{path}: 这个 LoRA 适配器不是在 {base_path} 上训练的（{mismatch}）；"
                              f"请换成训练它时的原模型{'（' + adapter['base'] + '）' if adapter['base'] else ''}")
    add_lora(model, adapter["rank"], adapter["alpha"], targets={n.rsplit(".", 1)[-1] for n in adapter["shapes"]})
    try:  # 原模型的权重已经在里面，这里只填 A、B
        unexpected = model.load_state_dict(adapter["weights"], strict=False).unexpected_keys
    except RuntimeError:  # 形状不对
        unexpected = ["A、B 的形状和 rank 对不上"]
    if unexpected:
        raise CheckpointError(f"{path}: 适配器文件里的权重对不上它自己记下的层（{unexpected[0]}）；请重新保存适配器")
    return model.to(device).eval(), tokenizer


def _mismatch(adapter: dict, model: nn.Module, tokenizer) -> str:
    """适配器和原模型哪里对不上（对得上时返回空字符串）。"""
    if adapter["vocab_hash"] != tokenizer.vocab_hash:
        return f"词表不同：适配器的哈希 {adapter['vocab_hash'][:12]}，原模型的 {tokenizer.vocab_hash[:12]}"
    linears = {name: list(m.weight.shape) for name, m in model.named_modules() if isinstance(m, nn.Linear)}
    missing = [name for name in adapter["shapes"] if name not in linears]
    if missing:
        return f"原模型没有 {missing[0]} 这一层（共缺 {len(missing)} 层）"
    targets = {name.rsplit(".", 1)[-1] for name in adapter["shapes"]}
    extra = [name for name in linears if name.rsplit(".", 1)[-1] in targets and name not in adapter["shapes"]]
    if extra:
        return f"原模型多出 {extra[0]} 这一层（共多 {len(extra)} 层）"
    for name, shape in adapter["shapes"].items():
        if linears[name] != shape:
            return f"{name} 的形状不同：适配器训练时是 {tuple(shape)}，原模型是 {tuple(linears[name])}"
    return ""
