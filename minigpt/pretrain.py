"""第 10 章：在原始文本上预训练——文档首尾相接、切成等长的块，每个位置都学下一个字。

    python data/build_corpus.py                                  # 先生成语料
    python -m minigpt.pretrain --max-minutes 20                  # data/corpus_augmented.jsonl → output/pretrain/
    python -m minigpt.pretrain --corpus data/corpus_fixed.jsonl --qa-val half_b.jsonl --output-dir output/pt_fixed
    python -m minigpt.pretrain --qa-train half_a.jsonl ...       # “混合训练”：这些问答也当文档一起预训练
    torchrun --nproc_per_node=2 -m minigpt.pretrain ...          # 数据并行，和 train.py 一样
    python ./minigpt/train.py --init-from output/pretrain/last_model.pth --vocab data/vocab_pretrain.json ...   # 再微调

训练循环、检查点、续训（中断后同样的命令接着训练，损失和不中断时完全相同）、TensorBoard、多进程都是
minigpt/train.py 的那一套（run_loop）；这里只换了数据：打包的文本代替问答对。

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

**为什么不加按文档隔开的注意力掩码，以及什么时候不该打包。** 一行里常有好几篇文档，因果注意力让后一篇也
看得见前一篇。按文档隔开（块对角掩码）可以避免，但这里不用：(1) 每行开头那篇文档完全不受影响（因果注意力
只往左看，tests/test_pretrain.py 检查它和单独计算的 logits 相同），后面的文档多看到的只是另一个成语的词条，
前面有 <sep> 隔开；(2) 课程的模型只接受 (B, T) 的填充掩码（model.py 的 attention_mask），块对角掩码得改模型、
给每行建一个 T×T 的掩码；(3) GPT-2、nanoGPT、nanochat 的预训练都这样做。

可打包还有另一个代价，掩码也去不掉：一篇文档可以从一行的**任何位置**开始。第 5 章的 GPT 的位置向量是学出来的、
每个位置一个，之后提问时问题却总从位置 0 开始。第 10 章的实验量了它（minigpt/knowledge.py，GPT，28 分钟，
1 个线程）：混合训练打包时，只在文字里读过的 B 半成语意思答对 15.5%、读音 46.5%；同样的数据 --no-pack
（`PackedDataset(..., packed=False)`：一篇文档一行，从位置 0 开始，批里按最长的一行填充）是 74.5% 和 85.5%。
文档很短（这里平均 37 个字）时，按长度分桶的批几乎没有填充（2%），每秒的 token 数和打包相同，所以
**短文档、要和问答一起学的时候，用 --no-pack**；长文档（一篇比一行长）才非打包不可，那时每篇都会被切开。
"""
from __future__ import annotations

import itertools
import random
import sys
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch.utils.data import Dataset

if __package__ in (None, ""):  # 以 `python ./minigpt/pretrain.py` 运行时
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minigpt.build_vocab import count_chars, vocab_from_counter, vocab_json
from minigpt.cli import ArgumentParser, ConfigError, DataError, UserError, add_settings, report, setting, settings_from
from minigpt.common import pick_device, resolve_dtype, unwrap
from minigpt.corpus import read_corpus
from minigpt.evaluate import EvalSet
from minigpt.jsonl import atomic_write_text, read_qa_jsonl
from minigpt.models import arch_of, context_length, width_of
from minigpt.qa_dataset import BucketBatchSampler, padded_tokens
from minigpt.tokenizer import Tokenizer
from minigpt.train import History, Run, TrainSettings, add_run_options, cpu_budget, new_model, run_in_processes, setup_model


def encode_documents(tokenizer: Tokenizer, docs: list[str]) -> list[list[int]]:
    """每篇文档的 token 编号（不加特殊 token；文档结束符由 pack 加）。"""
    return [tokenizer.encode_text(doc) for doc in docs]


def qa_documents(tokenizer: Tokenizer, pairs) -> list[list[int]]:
    """问答对当作文档（“混合训练”：预训练里也放一些问答）：问题 <sep> 答案，和问答训练里的序列相同；
    最后那个 <sep> 由 pack 作为文档结束符加上。pairs：有 question、answer 的对象（read_qa_jsonl 的 QAPair）。"""
    return [tokenizer.encode(p.question, p.answer, pad_to_max_length=False)[0][:-1] for p in pairs]


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


def one_per_row(docs: list[list[int]], block_size: int, eos_id: int) -> list[torch.Tensor]:
    """不打包：每篇文档自己一行（文档 <eos>），从位置 0 开始，和提问时问题所在的位置一样（所以每篇的第一个字
    不当目标，和问答训练里问题的第一个字一样）；比 block_size + 1 长的文档像 pack 那样切成几行（相邻两行共用一个 token）。"""
    rows = []
    for doc in docs:
        tokens = torch.tensor(doc + [eos_id], dtype=torch.long)
        rows += [tokens[i : i + block_size + 1] for i in range(0, max(1, len(tokens) - 1), block_size)]
    return [row for row in rows if len(row) > 1]


class PackedDataset(Dataset):
    """预训练数据：第 i 个样本是 dict，input_ids / attention_mask / targets 是 (长度,) 的 LongTensor，
    和 QADataset 的样本同样的键，所以 collate_batch、BucketBatchSampler 和 train_step 原样可用。

    docs：每篇文档的 token 编号；先用 seed 打乱文档顺序再打包（同一个成语的几篇不挨在一起）。
    pairs：和这份数据一起评估的问答对（训练数据：混进去的问答；验证数据：只提问、不训练的问答）。
    packed=False：不打包，一篇文档一行（one_per_row），批里按最长的一行填充，<pad> 不算损失。
    属性：rows（打包时是 (N, block_size + 1) 的张量，否则是一行行张量的列表）、lengths（每个样本的长度）、
    num_tokens（目标总数）。
    """

    def __init__(self, docs: list[list[int]], block_size: int, eos_id: int, *, seed: int = 0, pairs=(), packed: bool = True):
        self.pairs = list(pairs)
        order = list(range(len(docs)))
        random.Random(seed).shuffle(order)
        docs = [docs[i] for i in order]
        self.rows = pack(docs, block_size, eos_id) if packed else one_per_row(docs, block_size, eos_id)
        self.block_size = block_size
        self.lengths = [len(row) - 1 for row in self.rows]
        self.num_tokens = sum(self.lengths)

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, idx):
        row = self.rows[idx]
        return {"input_ids": row[:-1], "attention_mask": torch.ones(len(row) - 1, dtype=torch.long),
                "targets": row[1:]}  # 行里没有 <pad>：每个位置都算损失


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


# ====================================================================== 训练
@dataclass
class PretrainSettings(TrainSettings):
    """预训练的设置：和问答训练相同（学习率计划、时间预算、评估、保存……），只有这些不同。"""

    # 实测（benchmarks/bench_pretrain.py）：每步 32 行的每秒 token 数约是 8 行的 1.6 倍；16 行是折中，步数多一些
    batch_size: int = setting(16, "每步多少行（每行 block_size 个 token，没有填充）")
    val_fraction: float = setting(0.01, "没给 --val-corpus 时，留出多少比例的文档只算验证损失")
    eval_samples: int = setting(100, "每次评估问多少道 --qa-train 和 --qa-val 的题")
    # 一行 128 个 token：1,000 行（问答训练的默认）的一次前向在 2 核 CPU 上要半分钟以上
    val_loss_samples: int | None = setting(200, "验证损失在验证文字的多少行（固定的子集）上算")
    pack: bool = setting(True, "不打包：一篇文档一行，从位置 0 开始，批里填充（默认把文档首尾相接打包成等长的行；见模块说明）")


def packed_datasets(tokenizer, docs, val_docs, qa_train, qa_val, block_size, s: PretrainSettings, say=print):
    """(训练数据, 验证数据)，都是 PackedDataset。val_docs 为 None 时从 docs 里按 s.seed 留出 s.val_fraction。
    qa_train 的问答也当文档打包进训练数据（混合训练）。"""
    if val_docs is None:
        order = list(range(len(docs)))
        random.Random(s.seed).shuffle(order)
        k = max(1, round(len(docs) * s.val_fraction))
        val_docs, docs = [docs[i] for i in sorted(order[:k])], [docs[i] for i in sorted(order[k:])]
    eos = tokenizer.sep_token_id
    train_tokens = encode_documents(tokenizer, docs) + qa_documents(tokenizer, qa_train)
    val_tokens = encode_documents(tokenizer, val_docs)
    unknown = sum(t == tokenizer.unk_token_id for doc in train_tokens + val_tokens for t in doc)
    if unknown:
        say(f"注意：语料里有 {unknown:,} 个字不在词表里 → <unk>（删掉词表文件，会按语料和问答重建）")
    try:
        return (PackedDataset(train_tokens, block_size, eos, seed=s.seed, pairs=qa_train, packed=s.pack),
                PackedDataset(val_tokens, block_size, eos, seed=s.seed, pairs=qa_val, packed=s.pack))
    except ValueError as e:
        raise DataError(f"验证{e}：用更大的 --val-fraction，或者给 --val-corpus") from None


def prepare_packed(model, tokenizer, train_ds, val_ds, s, output_dir, procs, dtype_name, use_compile, say) -> Run:
    """和 train.prepare 一样的 Run，只是数据换成打包的文本。"""
    base = unwrap(model)
    if train_ds.block_size > context_length(base):
        raise ConfigError(f"每行 {train_ds.block_size} 个 token，超过模型的上下文长度 {context_length(base)}")
    dtype = resolve_dtype(dtype_name, procs.device, width_of(base))
    evalset = EvalSet.fixed(train_ds, val_ds, n=s.eval_samples, n_val_loss=s.val_loss_samples, seed=s.seed)
    # 行都一样长：分桶的排序是稳定的，不改变打乱后的顺序；只用它按 (seed, epoch) 打乱、切批
    sampler = BucketBatchSampler(train_ds.lengths, s.batch_size, shuffle=True, seed=s.seed)
    batches_per_epoch = len(sampler) // procs.world
    if batches_per_epoch == 0:
        raise DataError(f"训练文字只有 {len(train_ds)} 行，不够 {procs.world} 个进程 × 每批 {s.batch_size} 行")
    padded = padded_tokens(train_ds.lengths, list(sampler))  # 打包时等于 num_tokens：没有填充
    rows = f"{len(train_ds):,} 行 × {train_ds.block_size}" if padded == train_ds.num_tokens else f"{len(train_ds):,} 篇一篇一行"
    say(f"数据：训练 {rows} = {train_ds.num_tokens:,} 个 token（填充 {1 - train_ds.num_tokens / padded:.1%}），"
        f"验证 {len(val_ds):,} 行；每轮 {batches_per_epoch:,} 批；提问：训练 {len(train_ds.pairs):,} 题，验证 {len(val_ds.pairs):,} 题")
    model, train_model, optimizer = setup_model(base, s, procs, use_compile)
    return Run(s, model, train_model, optimizer, tokenizer, arch_of(base), train_ds, evalset, sampler,
               batches_per_epoch, padded / procs.world, procs.device, dtype, procs.world, procs.rank,
               Path(output_dir), say)


def pretrain(model, tokenizer, train_ds, val_ds, *, settings: PretrainSettings | None = None,
             output_dir="output/pretrain", device=None, dtype="auto", compile=False, resume=True,
             tensorboard_dir="runs/pretrain", callback=None, progress=True, verbose=True, **overrides) -> History:
    """在打包的文本上训练 model（train.train 的预训练版本，同一个 run_loop）；返回每一步的训练损失（History）。"""
    s = replace(settings or PretrainSettings(), **overrides)
    return run_in_processes(lambda procs, say: prepare_packed(model, tokenizer, train_ds, val_ds, s, output_dir, procs,
                                                              dtype, compile, say),
                            device, verbose, resume, tensorboard_dir, progress, callback)


# ====================================================================== 命令行
COURSE_QA = ("./data/data.jsonl", "./data/heldout_phrasings.jsonl")  # 词表也要覆盖课程的问答，之后才能微调
QA_ONLY = ("max_length", "answer_only_loss", "heldout_path")  # 只对问答训练有意义的设置：预训练的命令行不列出它们


def build_parser():
    p = ArgumentParser(description="在原始文本（成语词典）上预训练 minigpt 的 GPT——第 10 章。")
    p.add_argument("--corpus", default="./data/corpus_augmented.jsonl", help="预训练语料（data/build_corpus.py 生成）")
    p.add_argument("--val-corpus", default=None, metavar="PATH", help="只算验证损失的语料（默认从 --corpus 留出一部分）")
    p.add_argument("--qa-train", default=None, metavar="PATH", help="混进预训练的问答对（JSONL；训练中也拿它们提问）")
    p.add_argument("--qa-val", default=None, metavar="PATH", help="只提问、不训练的问答对（JSONL）：读过的文字能不能被问出来")
    p.add_argument("--vocab", default="./data/vocab_pretrain.json",
                   help="词表；不存在时按语料、问答和课程数据建一个（之后微调要用同一个）")
    add_run_options(p, output_dir="output/pretrain", tensorboard_dir="runs/pretrain")
    add_settings(p, PretrainSettings, skip=QA_ONLY)
    return p


def read_inputs(args, say):
    """(文档, 验证文档或 None, 混进去的问答, 只提问的问答)；词表不存在时顺便建好。"""
    if not Path(args.corpus).is_file():
        raise DataError(f"{args.corpus}: 找不到；先生成语料：python data/build_corpus.py")
    docs = read_corpus(args.corpus)
    val_docs = read_corpus(args.val_corpus) if args.val_corpus else None
    quiet = dict(warn=say, summary=False)
    qa_train = read_qa_jsonl(args.qa_train, **quiet) if args.qa_train else []
    qa_val = read_qa_jsonl(args.qa_val, **quiet) if args.qa_val else []
    if not Path(args.vocab).is_file():
        qa = [q for q in (args.qa_train, args.qa_val, *COURSE_QA) if q and Path(q).is_file()]
        tok = corpus_tokenizer(docs + (val_docs or []), qa, args.vocab)
        say(f"建了词表 {args.vocab}：{len(tok):,} 个 token（语料 + {', '.join(qa)}）")
    return docs, val_docs, qa_train, qa_val


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        device = pick_device(args.device)
        settings = settings_from(args, PretrainSettings)
        docs, val_docs, qa_train, qa_val = read_inputs(args, print)
        model, tokenizer = new_model(args.vocab, args.arch, args.preset, settings.seed, device)
        train_ds, val_ds = packed_datasets(tokenizer, docs, val_docs, qa_train, qa_val, context_length(model), settings)
        history = pretrain(model, tokenizer, train_ds, val_ds, settings=cpu_budget(settings, device),
                           output_dir=args.output_dir, device=device, dtype=args.dtype, compile=args.compile,
                           resume=args.resume, tensorboard_dir=args.tensorboard_dir or None,
                           progress=not args.no_progress)
    except UserError as e:
        return report(e)
    return 130 if history.interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
