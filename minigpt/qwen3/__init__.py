"""第 8 章：Qwen3。配置与预设、模型（模块名即官方权重键）、权重加载、分词器与对话模板。

    from minigpt.qwen3 import Qwen3ForCausalLM, course_config
    model = Qwen3ForCausalLM(course_config(vocab_size=3000))                  # 从头训练的字符级小 Qwen3
    model = Qwen3ForCausalLM.from_pretrained("Qwen3-0.6B", dtype="bfloat16")  # 真实权重

子模块按需导入（`python -m minigpt.qwen3.model` 这样运行子模块时不会被提前导入两次）。
"""
import importlib

_EXPORTS = {
    "Qwen3Config": "config", "course_config": "config", "count_parameters": "config", "PRESETS": "config",
    "QWEN3_0_6B": "config", "QWEN3_1_7B": "config", "QWEN3_4B": "config", "QWEN3_8B": "config",
    "QWEN3_30B_A3B": "config", "TINY": "config", "TINY_MOE": "config",
    "QWEN3_COURSE_CPU": "config", "QWEN3_COURSE_SEED": "config", "QWEN3_COURSE_TINY": "config",
    "Qwen3ForCausalLM": "model",
    "Qwen3Tokenizer": "chat", "build_qwen3_tokenizer_json": "chat", "apply_chat_template": "chat",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"minigpt.qwen3.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'minigpt.qwen3' has no attribute {name!r}")
