"""第 10 章：在原始文本上预训练——文档首尾相接、切成等长的块，每个位置都学下一个字。

    from minigpt.corpus import corpus_documents
    from minigpt.pretrain import PackedDataset, corpus_tokenizer, encode_documents
    docs = corpus_documents("augmented")
    tok = corpus_tokenizer(docs, ["data/data.jsonl"], "data/vocab_pretrain.json")   # 语料 + 问答共用一个词表
    ds = PackedDataset(encode_documents(tok, docs), block_size=128, eos_id=tok.sep_token_id, seed=0)
    batch = collate_batch([ds[i] for i in range(32)])     # 和 QADataset 的批是同样的 dict，没有一个 <pad>
    loss = train_step(model, optimizer, batch, pad_token_id=tok.pad_token_id, device="cpu")   # minigpt/train.py

**打包（packing）。** 问答训练（第 4、6 章）一行一个问答对，短的用 <pad> 补齐，只学答案的损失也可以。
预训练读的是连续的文字：把所有文档接成一条 token 流，每篇后面放一个文档结束符，再切成一行行
block_size + 1 个 token（`pack`）。没有填充，每个位置都有要预测的下一个字，所以损失算在**每个位置**上：
预训练要学的就是文字本身，没有哪部分是“问题”不用学。相邻两行共用一个 token（上一行的最后一个目标
是下一行的第一个输入），于是流里除了第一个 token，每个 token 正好当一次目标；凑不满一行的尾巴丢掉。
文档先按种子打乱再接起来：增强语料里同一个成语的 5 篇挨在一起的话，模型在同一行里直接抄前一篇就能
预测后一篇，不用把事实记进权重。

**文档结束符用 <sep>。** 课程的字符级词表只有三个特殊 token（<pad>、<unk>、<sep>，build_vocab 写的每个
词表都一样）。<sep> 在问答里就是“这一段说完了”，这里同样表示“一篇文档说完了、下一篇开始”；不另加一个
<eos>，词表、分词器和检查点的词表检查就都不用改。流的开头也放一个 <sep>：每篇文档的第一个字都是
“在 <sep> 之后”被预测的，和问答里回答从 <sep> 后开始一样。

**为什么不加按文档隔开的注意力掩码。** 一行里常有好几篇文档，因果注意力让后一篇也看得见前一篇。
按文档隔开（块对角掩码）可以避免，但这里不用：(1) 每行开头那篇文档完全不受影响（因果注意力只往左看，
tests/test_pretrain.py 检查它和单独计算的 logits 相同），后面的文档多看到的只是另一个成语的词条，
前面有 <sep> 隔开，模型很快学会 <sep> 之前的内容和之后无关；(2) 课程的模型只接受“因果 + 右填充”的掩码，
这样训练走 SDPA 的 is_causal 快路径，块对角掩码要给每行建一个 T×T 的掩码，走慢路径；(3) GPT-2、nanoGPT、
nanochat 的预训练都这样做（Llama 3 在很长的上下文里才加文档掩码）。代价是：模型在文档开头偶尔
“看见”的上文和以后提问时不同；文档开头前面总有 <sep>，这个差别很小。
"""
from __future__ import annotations

import itertools
import random
import sys
from collections import Counter
from pathlib import Path

import torch
from torch.utils.data import Dataset

if __package__ in (None, ""):  # 以 `python ./minigpt/pretrain.py` 运行时
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minigpt.build_vocab import count_chars, vocab_from_counter, vocab_json
from minigpt.jsonl import atomic_write_text
from minigpt.tokenizer import Tokenizer


def encode_documents(tokenizer: Tokenizer, docs: list[str]) -> list[list[int]]:
    """每篇文档的 token 编号（不加特殊 token；文档结束符由 pack 加）。"""
    return [tokenizer.encode_text(doc) for doc in docs]


def pack(docs: list[list[int]], block_size: int, eos_id: int) -> torch.Tensor:
    """把文档接成一条流（<eos> 文档1 <eos> 文档2 <eos> …），切成 (N, block_size + 1) 的 LongTensor。

    第 i 行是流的 [i*block_size, (i+1)*block_size] 这一段（含两端）：输入 row[:-1]、目标 row[1:]，
    所以相邻两行共用一个 token，流里除了第一个 token 每个都正好当一次目标；最后凑不满一行的部分丢掉。
    """
    if block_size < 1:
        raise ValueError(f"block_size 至少是 1，实际是 {block_size}")
    stream = [eos_id]
    stream.extend(itertools.chain.from_iterable(doc + [eos_id] for doc in docs))
    n = (len(stream) - 1) // block_size
    if n == 0:
        raise ValueError(f"文字太少：一共 {len(stream)} 个 token（含文档结束符），凑不满一行 block_size + 1 = {block_size + 1}")
    data = torch.tensor(stream[: n * block_size + 1], dtype=torch.long)
    return data.unfold(0, block_size + 1, block_size).contiguous()  # (N, block_size + 1)


class PackedDataset(Dataset):
    """打包好的预训练数据：第 i 个样本是 dict，input_ids / attention_mask / targets 都是 (block_size,) 的 LongTensor，
    和 QADataset 的样本同样的键，所以 collate_batch、BucketBatchSampler 和 train_step 原样可用。

    docs：每篇文档的 token 编号；先用 seed 打乱文档顺序再打包（同一个成语的几篇不挨在一起）。
    属性：rows（(N, block_size + 1)）、lengths（每个样本的长度，都是 block_size）、num_tokens（目标总数）。
    """

    def __init__(self, docs: list[list[int]], block_size: int, eos_id: int, *, seed: int = 0):
        order = list(range(len(docs)))
        random.Random(seed).shuffle(order)
        self.rows = pack([docs[i] for i in order], block_size, eos_id)
        self.block_size = block_size
        self.lengths = [block_size] * len(self.rows)
        self.num_tokens = self.rows.shape[0] * block_size

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, idx):
        row = self.rows[idx]
        return {"input_ids": row[:-1], "attention_mask": torch.ones(self.block_size, dtype=torch.long),
                "targets": row[1:]}  # 没有 <pad>：每个位置都算损失


def corpus_tokenizer(docs: list[str], qa_paths, output) -> Tokenizer:
    """一个同时覆盖语料和问答数据的字符词表（编号规则和 build_vocab.py 相同），写到 output 并返回它的分词器。

    预训练和之后的问答微调必须用同一个词表：问答里有语料里没有的字（“啥”“咋”……），语料里有问答里
    没有的生僻字，所以把两边的字都数进来。
    """
    counter = Counter()
    for doc in docs:
        counter.update(doc)
    for path in qa_paths:
        counter.update(count_chars(path, warn=lambda message: None))
    atomic_write_text(output, vocab_json(vocab_from_counter(counter)))
    return Tokenizer(output)
