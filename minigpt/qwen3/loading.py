"""从 Hugging Face 格式的文件夹加载 Qwen3 权重（config.json + safetensors）。

用法：`Qwen3ForCausalLM.from_pretrained("path/to/Qwen3-0.6B", dtype=torch.bfloat16)`。

做法：先在 meta 设备上建模型（只有形状，不占内存），再用 safetensors 逐个张量读进来，
检查形状后 `load_state_dict(..., assign=True)` 直接把读到的张量挂到模型上——
内存里始终只有一份权重（0.6B 的 bf16 是 1.2 GB，双份就是 2.4 GB）。
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from minigpt.cli import CheckpointError, ConfigError
from minigpt.qwen3.config import Qwen3Config

# transformers 5 在内存里把一层的所有专家并成 3 维张量：
#   mlp.experts.gate_up_proj (E, 2·I, H)：每个专家的 [gate; up] 上下拼接
#   mlp.experts.down_proj    (E, H, I)
# save_pretrained 写文件时会拆回官方的逐专家键，但别人直接 torch.save 的 state_dict 可能是并起来的。
_FUSED = re.compile(r"^(.*\.mlp\.experts)\.(gate_up_proj|down_proj)$")


def _as_dtype(dtype) -> torch.dtype | None:
    if dtype is None or dtype == "auto":
        return None
    if isinstance(dtype, str):
        if not isinstance(getattr(torch, dtype, None), torch.dtype):
            raise ConfigError(f"未知的 dtype {dtype!r}（例如 'float32'、'bfloat16'）")
        return getattr(torch, dtype)
    return dtype


def weight_files(folder: Path) -> list[Path]:
    """单文件 model.safetensors，或索引 model.safetensors.index.json 列出的所有分片。"""
    single, index = folder / "model.safetensors", folder / "model.safetensors.index.json"
    if single.is_file():
        return [single]
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        missing = [s for s in shards if not (folder / s).is_file()]
        if missing:
            raise FileNotFoundError(f"{index}: 列出的分片不存在：{', '.join(missing)}")
        return [folder / s for s in shards]
    raise FileNotFoundError(f"{folder}: 找不到 model.safetensors 或 model.safetensors.index.json")


def read_config(folder) -> Qwen3Config:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: 文件夹不存在")
    path = folder / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: 文件不存在")
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}:{e.lineno}: 不是合法的 JSON（{e.msg}）") from None
    try:
        return Qwen3Config.from_hf_dict(d, source=str(path))
    except KeyError as e:
        raise CheckpointError(f"{path}: 缺少字段 {e}") from None


def iter_checkpoint_tensors(files, device="cpu"):
    """逐个产出 (键, 张量)；并起来的专家张量拆成官方的逐专家键。"""
    from safetensors import safe_open
    for f in files:
        with safe_open(str(f), framework="pt", device=str(device)) as st:
            for key in st.keys():
                t = st.get_tensor(key)
                m = _FUSED.match(key)
                if m is None:
                    yield key, t
                elif m.group(2) == "gate_up_proj":
                    gate, up = t.chunk(2, dim=1)  # (E, I, H) 各一份
                    for e in range(t.shape[0]):
                        yield f"{m.group(1)}.{e}.gate_proj.weight", gate[e]
                        yield f"{m.group(1)}.{e}.up_proj.weight", up[e]
                else:
                    for e in range(t.shape[0]):
                        yield f"{m.group(1)}.{e}.down_proj.weight", t[e]


def load_state_into(model, tensors, dtype: torch.dtype | None, source: str) -> None:
    """把 (键, 张量) 装进一个（可能在 meta 设备上的）模型；键或形状不符时给出清楚的错误。"""
    expected = {k: v.shape for k, v in model.state_dict().items()}
    tied = model.config.tie_word_embeddings
    if tied:
        expected.pop("lm_head.weight")  # 共用矩阵：文件里可能没有，有也忽略（与 transformers 相同）
    state = {}
    for key, t in tensors:
        if tied and key == "lm_head.weight":
            continue
        if key not in expected:
            raise CheckpointError(f"{source}: 多出来的权重 {key} {tuple(t.shape)}（config.json 与权重不匹配？）")
        if t.shape != expected[key]:
            raise CheckpointError(f"{source}: {key} 的形状是 {tuple(t.shape)}，按 config.json 应为 "
                             f"{tuple(expected[key])}")
        state[key] = t if dtype is None else t.to(dtype)
    missing = sorted(set(expected) - set(state))
    if missing:
        more = f" 等 {len(missing)} 个" if len(missing) > 3 else ""
        raise CheckpointError(f"{source}: 缺少权重 {', '.join(missing[:3])}{more}")
    # assign=True：直接用读到的张量替换 meta 参数，不再分配第二份内存
    model.load_state_dict(state, strict=False, assign=True)
    if tied:  # assign 换掉了 embed_tokens.weight 这个 Parameter，重新绑定共用关系
        model.lm_head.weight = model.model.embed_tokens.weight


def load_pretrained(cls, folder, dtype=None, device="cpu"):
    folder = Path(folder)
    config = read_config(folder)
    files = weight_files(folder)
    dtype = _as_dtype(dtype)
    with torch.device("meta"):
        model = cls(config)
    load_state_into(model, iter_checkpoint_tensors(files, device), dtype, source=str(folder))
    return model.eval()
