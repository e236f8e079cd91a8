"""minigpt: 从问答数据到自己训练的 GPT，再到 Qwen3 的动手课程。

每一章对应一个模块：build_vocab → tokenizer → split_data → qa_dataset → model → train → generate → qwen3。
"""

__version__ = "0.1.0"
