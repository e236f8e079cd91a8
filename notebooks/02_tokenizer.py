# %% [markdown]
# # 第 2 章　Tokenizer：文字 ↔ 编号
#
# 有了词表，tokenizer 负责两件事：
#
# - `encode`：把一对问答变成编号序列（模型的输入）；
# - `decode`：把编号序列变回文字（看模型输出了什么）。
#
# 本章先自己写这两个函数（十几行），用它们看清序列的布局、`<unk>`、截断和生成时的提示，
# 然后证明它们在全部课程数据上和包里的 `Tokenizer` 给出完全相同的结果，此后就用包里的版本。
#
# 对应模块：`minigpt/tokenizer.py`。接口和种子完全相同（`Tokenizer(vocab_path)`、`encode`、`decode`、`get_vocab_size`），
# 编出的编号也和种子的代码逐个相同；另外加了几样后面章节要用的东西：`encode_text`、`from_word2id`、`vocab_hash`。

# %% [markdown]
# ### 怎么读这一章
#
# 大约 **1 小时 35 分钟**（读、运行和做练习；只读不做练习要少一半左右），完整运行一遍 15 秒（2 核 CPU）。
# 本章分两部分，每部分以练习或小测验结束，读完一部分就可以停下：
#
# | 部分 | 内容 | 练习 | 时间 |
# |---|---|---|---|
# | 一 | 第 1–3 节：编码与解码，<unk>，特殊 token | 2.1、2.2、2.3 | 约 40 分钟 |
# | 二 | 第 4–9 节：截断，生成时的编码，和包里的对比，vocab_hash，BPE 预告；小测验 | 2.4、2.5、2.6 | 约 55 分钟 |

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

# %% [markdown]
# 本章需要第 1 章的 `data/vocab.json`。`prepare_data()` 在文件缺失或与数据不一致时用包里的函数现做一份
# （和种子的两条命令结果相同），否则什么也不改：

# %%
from minigpt.split_data import prepare_data

paths = prepare_data()  # data/vocab.json, data/train.jsonl, data/val.jsonl

# %% [markdown]
# ## 1. 一对问答变成一个序列
#
# 种子的格式：问题的字、`<sep>`、答案的字、`<sep>`，不够 `max_length` 就在后面补 `<pad>`：
#
# $$\underbrace{q_1 \dots q_n}_{\text{问题}}\ \texttt{<sep>}\ \underbrace{a_1 \dots a_m}_{\text{答案}}\ \texttt{<sep>}\ \underbrace{\texttt{<pad>} \dots \texttt{<pad>}}_{\text{补齐到 max\_length}}$$
#
# 第一个 `<sep>` 告诉模型“问题结束，该回答了”，第二个告诉它“回答完了，停下”。
# 另一个输出 `attention_mask` 标出哪些位置是真内容（1），哪些是填充（0）。
#
# 先把词表读进来。JSON 的键都是字符串，`id2word` 要把键变回整数：

# %%
# NBVAL_CHECK_OUTPUT
import json

with open("./data/vocab.json", encoding="utf-8") as f:
    vocab = json.load(f)
word2id = vocab["word2id"]
id2word = {int(i): w for i, w in vocab["id2word"].items()}
PAD, UNK, SEP = word2id["<pad>"], word2id["<unk>"], word2id["<sep>"]
print("词表大小:", len(word2id), " pad/unk/sep =", PAD, UNK, SEP)

# %% [markdown]
# 先自己写这三个函数：查表编码、解码、编码一对问答。

# %% [markdown]
# ### 练习 2.1　编码文字：词表里没有的字变成 <unk>（★）
#
# 把一段文字变成编号列表，一个字一个编号。词表里没有的字用 `<unk>` 的编号代替（不要跳过它，也不要报错）。
#
# - 输入：`text`（字符串），`word2id`（字符 → 编号，含 `<pad>`、`<unk>`、`<sep>`）
# - 输出：`list[int]`，长度等于 `len(text)`
#
# 对照：`minigpt/tokenizer.py` 的 `Tokenizer.encode_text`。卡住了运行 `hint("2.1")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch02.py)

# %%
from minigpt.exercises import check, hint


def encode_text(text, word2id):
    """返回 text 每个字的编号（list[int]）；没见过的字用 word2id["<unk>"]。"""
    raise NotImplementedError  # 在这里写你的代码

check("2.1", encode_text)

# %% [markdown]
# ### 练习 2.2　解码：跳过 <pad>（★）
#
# 把编号列表变回文字。`<pad>` 只是凑长度用的，解码时跳过；`<sep>`、`<unk>` 照常写出来（和种子一样）。
#
# - 输入：`ids`（`list[int]`），`id2word`（编号 → 字符）
# - 输出：字符串
#
# 对照：`minigpt/tokenizer.py` 的 `Tokenizer.decode`。卡住了运行 `hint("2.2")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch02.py)

# %%
from minigpt.exercises import check, hint


def decode(ids, id2word):
    """返回 ids 对应的文字，跳过 <pad>。"""
    raise NotImplementedError  # 在这里写你的代码

check("2.2", decode)

# %% [markdown]
# ### 练习 2.3　编码一对问答：<sep>、填充和 attention_mask（★★）
#
# 按种子的格式编码一对问答：`问题的字 <sep> 答案的字 <sep>`，然后
#
# - 比 `max_length` 短：在右边补 `<pad>` 到 `max_length`，`attention_mask` 真实 token 为 1、填充为 0；
# - 比 `max_length` 长：只留前 `max_length` 个（种子的做法）。
#
# 输入：`question`、`answer`（字符串），`word2id`，`max_length`。输出：`(ids, attention_mask)`，两个长度都是 `max_length` 的 `list[int]`。
#
# 对照：`minigpt/tokenizer.py` 的 `Tokenizer.encode`。卡住了运行 `hint("2.3")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch02.py)

# %%
from minigpt.exercises import check, hint


def encode_pair(question, answer, word2id, max_length):
    """返回 (ids, attention_mask)，两个 list[int]，长度都是 max_length。"""
    raise NotImplementedError  # 在这里写你的代码

check("2.3", encode_pair)

# %% [markdown]
# 写完（或者用过提示）之后，看我们的版本。`encode` 的全部逻辑，对应 `minigpt/tokenizer.py` 的 `Tokenizer.encode`（查表那一行是它的 `encode_text`）：
#
# - 查表，不在词表里的字给 `<unk>`；
# - 问题后面加 `<sep>`；有答案时再加答案和 `<sep>`（`answer=None` 的用处见第 5 节）；
# - `pad_to_max_length=True` 时：太长就从后面截掉，太短就补 `<pad>`，`attention_mask` 跟着一起截、一起补。

# %%
def my_encode(question, answer=None, max_length=128, pad_to_max_length=True):
    tokens = [word2id.get(ch, UNK) for ch in question] + [SEP]  # 问题 <sep>
    if answer is not None:
        tokens += [word2id.get(ch, UNK) for ch in answer] + [SEP]  # 答案 <sep>
    mask = [1] * len(tokens)  # 1 = 真内容
    if pad_to_max_length:
        tokens, mask = tokens[:max_length], mask[:max_length]  # 太长：保留开头，截掉后面
        n_pad = max_length - len(tokens)
        tokens, mask = tokens + [PAD] * n_pad, mask + [0] * n_pad  # 太短：补 <pad>，mask 为 0
    return tokens, mask


def my_decode(ids):
    return "".join(id2word[i] for i in ids if i != PAD)  # 和种子一样跳过 <pad>


# %% [markdown]
# 跑一下种子文档里的例子：

# %%
# NBVAL_CHECK_OUTPUT
question, answer = "你好，最近怎么样？", "我很好，谢谢！"
ids, mask = my_encode(question, answer, max_length=32)
print(ids)
print(mask)
print(my_decode(ids))

# %% [markdown]
# 种子文档在这一步打印的是下面这串编号。它的词表来自另一份数据，所以编号本身不同，但**布局**应该一样：
# `<sep>`（2）和 `<pad>`（0）在同样的位置，同一个字在两边都重复出现在同样的位置（比如“好”在下标 1 和 12，也就是第 2 和第 13 个位置）。
# 逐位检查这两点：

# %%
# NBVAL_CHECK_OUTPUT
seed_doc_ids = [368, 1086, 4810, 2005, 4169, 1521, 240, 2103, 4816, 2, 1646, 1480, 1086, 4810, 3989, 3989, 4806, 2,
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]  # 种子文档里的输出，原样抄来
same_specials = [t if t in (PAD, SEP) else "字" for t in ids] == [t if t in (PAD, SEP) else "字" for t in seed_doc_ids]
same_repeats = all((ids[i] == ids[j]) == (seed_doc_ids[i] == seed_doc_ids[j]) for i in range(32) for j in range(32))
print("特殊 token 的位置相同：", same_specials, "  重复的字的位置相同：", same_repeats)
assert same_specials and same_repeats
print(f"编号本身不同：比如“！”在种子的词表里是 {seed_doc_ids[16]}，在这份成语数据的词表里是 {ids[16]}")

# %% [markdown]
# 两份词表里的字不一样多，码位排在“！”前面的字也不一样多，所以同一个字的编号不同。
# 再逐字对照一个短例子，看清每个位置放的是什么：

# %%
# NBVAL_CHECK_OUTPUT
import unicodedata


def pad(s, width):
    # 左对齐到 width 个显示宽度：汉字和全角标点在等宽字体里占两格
    w = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)
    return s + " " * max(0, width - w)


ids, mask = my_encode("画蛇添足？", "多此一举。", max_length=16)
print("位置  token   编号  mask")
for i, (t, m) in enumerate(zip(ids, mask)):
    print(f"{i:4}  {pad(id2word[t], 7)} {t:5}  {m}")

# %% [markdown]
# ## 2. 词表里没有的字：`<unk>`
#
# 不在词表里的字一律变成 `<unk>`（编号 1），信息就此丢失：`decode(encode(x))` 不再等于 `x`。
# emoji 也是一个字符，只是不在这份词表里：

# %%
# NBVAL_CHECK_OUTPUT
text = "我爱🐼和龘龘"
ids = [word2id.get(ch, UNK) for ch in text]  # 只查表，不加 <sep>（包里叫 encode_text）
print(ids)
print(my_decode(ids))
print("未登录字:", [ch for ch, i in zip(text, ids) if i == UNK])
assert my_decode(ids) != text and len(ids) == len(text)

# %% [markdown]
# ## 3. 特殊 token 只能由 tokenizer 产生
#
# 如果用户的问题里恰好写着 `<sep>`，它必须还是五个普通字符，否则用户就能在问题里伪造一个分隔符，让问题提前结束。
# 按字查表天然做到了这一点：查表是一个字一个字查的，`"<sep>"` 这个键永远查不到。

# %%
# NBVAL_CHECK_OUTPUT
ids = [word2id.get(ch, UNK) for ch in "<sep>"]
print(ids, "→", [id2word[i] for i in ids])
assert SEP not in ids

# %% [markdown]
# 这份成语数据里恰好没有 `<` 和 `>`，所以它们变成了 `<unk>`；但无论如何都不会变成编号 2 的 `<sep>`。

# %% [markdown]
# ---
#
# **第一部分到这里结束**（第 1–3 节和练习 2.1–2.3）。这是一个可以停下的地方。
# 下次接着读：打开 notebook，选中下面这个单元，运行它上面的所有单元（JupyterLab 菜单 Run → Run All Above Selected Cell，几秒），再往下读。
#
# **第二部分**：截断的坑，生成时的编码，证明和包里的 `Tokenizer` 相同，以及按字切分和 BPE 的比较。

# %% [markdown]
# ## 4. 截断：种子的一个坑
#
# `pad_to_max_length=True` 时，超过 `max_length` 的序列会被**从后面截掉**，连同答案末尾的 `<sep>`。
# 模型在这样的样本上永远看不到“答案到这里结束”，于是学不会停下来。种子对此一声不吭：

# %%
# NBVAL_CHECK_OUTPUT
ids, mask = my_encode("画蛇添足是什么意思？", "比喻做了多余的事，反而不恰当。", max_length=16)
print(my_decode(ids))
print("结尾还有 <sep> 吗？", ids[-1] == SEP)

# %% [markdown]
# 包里的 `Tokenizer` 保留了这个行为（编号要和种子一致），但第 4 章的 Dataset 会数出被截断的样本并提醒你。
# 真正的办法是把 `max_length` 选得够大（练习 2.6 会让你写一个截断时保住结尾 `<sep>` 的版本）。下面看看这份数据的序列长度（问题 + 答案 + 2 个 `<sep>`），先做一个预测：

# %% [markdown]
# ### 练习 2.4　预测：填充到 128 时，多大比例的位置是 <pad>（★）
#
# **先别运行下面的长度统计。** 种子把每一对问答都填充到 `max_length=128`。一对问答编码后有多长？
# 想想一道典型的题（“成语“画蛇添足”的意思是什么？”）和它的答案，问题 + 答案 + 2 个 `<sep>` 大约多少个 token。
# 那么在整个数据集上，全部 128 × 对数 个位置里，`<pad>` 占多大比例（0 到 1 之间）？
#
# 把你的预测赋给 `my_guess`，再运行。误差在 ±0.1 以内算对。
#
# 对照：`minigpt/tokenizer.py` 的 `Tokenizer.encode`；本节下面的长度统计。卡住了运行 `hint("2.4")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch02.py)

# %%
from minigpt.exercises import check, hint

my_guess = ...  # 你的预测：<pad> 占全部位置的比例（0 到 1）

check("2.4", my_guess)

# %%
# NBVAL_CHECK_OUTPUT
import numpy as np
from minigpt.jsonl import read_qa_jsonl

pairs = read_qa_jsonl("./data/data.jsonl", warn=lambda msg: None)
lengths = np.array([len(my_encode(p.question, p.answer, pad_to_max_length=False)[0]) for p in pairs])
print(f"{len(lengths)} 对问答，长度：最短 {lengths.min()}，平均 {lengths.mean():.1f}，"
      f"中位数 {np.median(lengths):.0f}，最长 {lengths.max()}")
for max_length in (32, 48, 64, 128):
    print(f"max_length={max_length:3}：会被截断 {int((lengths > max_length).sum()):5} 对")
print(f"都补齐到 128 时，{1 - lengths.mean() / 128:.1%} 的位置是 <pad>（练习 2.4）")

# %%
import matplotlib.pyplot as plt
from minigpt.common import use_chinese_font

use_chinese_font()
plt.figure(figsize=(8, 3.5))
plt.hist(lengths, bins=range(0, lengths.max() + 2), color="tab:blue")
for limit in (32, 64, 128):
    plt.axvline(limit, color="gray", linestyle="--", linewidth=1)
    plt.text(limit + 1, plt.ylim()[1] * 0.9, f"max_length={limit}", fontsize=8)
plt.xlim(0, 150)
plt.title("序列长度：问题 + <sep> + 答案 + <sep>")
plt.xlabel("token 个数")
plt.ylabel("问答对数")
plt.show()

# %% [markdown]
# 种子默认的 `max_length=128` 不会截断这份数据里的任何一对，但平均长度还不到 30：
# 补齐到 128 意味着大部分计算花在 `<pad>` 上。第 4 章会量化这一点并解决它。

# %%
assert lengths.max() <= 128 and lengths.mean() < 30  # 上面这段话的两个说法

# %% [markdown]
# ### 练习 2.5　选 max_length：覆盖 99.9% 的问答对（★★）
#
# `max_length` 太小，长的问答对被截断（丢掉结尾的 `<sep>`）；太大，填充浪费计算。
# 找出**最小**的长度 $L$，使至少 `coverage` 比例的序列长度 $\le L$（不被截断）。
#
# - 输入：`lengths`（每对问答编码后的长度，`list[int]`，顺序任意），`coverage`（如 0.999）
# - 输出：整数 $L$（它一定是 `lengths` 里的某个值）
#
# 用例里有 `coverage × n` 正好是整数的情况（比如 0.07 × 100 = 7）：那时 $L$ 是排序后的第 7 个。
#
# 对照：本章“截断”一节的长度统计；`minigpt/tokenizer.py` 的 `Tokenizer.encode(..., pad_to_max_length=False)`。卡住了运行 `hint("2.5")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch02.py)

# %%
import math
from minigpt.exercises import check, hint


def pick_max_length(lengths, coverage):
    """返回最小的 L：至少 coverage 比例的长度 ≤ L。"""
    raise NotImplementedError  # 在这里写你的代码

check("2.5", pick_max_length)

# %% [markdown]
# ### 练习 2.6　截断时保住结尾的 <sep>（★★★）
#
# 种子截断时直接切掉后面，答案结尾的 `<sep>` 也没了：模型在这样的样本上学不会停下。
# 写一个更好的编码：和练习 2.3 一样，但序列太长时**切掉答案的尾巴，保留最后的 `<sep>`**——
# 取前 `max_length - 1` 个 token，再接一个 `<sep>`。不超长时与 2.3 完全相同。
#
# 输入、输出与练习 2.3 相同：`(ids, attention_mask)`，长度都是 `max_length`。
#
# 对照：`minigpt/tokenizer.py` 的 `Tokenizer.encode`（种子的截断），`QADataset.num_truncated`（数了有多少对被截断）。卡住了运行 `hint("2.6")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch02.py)

# %%
from minigpt.exercises import check, hint


def encode_keep_sep(question, answer, word2id, max_length):
    """像 Tokenizer.encode 一样编码，但截断时保留结尾的 <sep>。返回 (ids, attention_mask)。"""
    raise NotImplementedError  # 在这里写你的代码

check("2.6", encode_keep_sep)

# %% [markdown]
# ## 5. 生成时的编码：`answer=None`
#
# 回答问题时我们只有问题。`my_encode(question)` 给出“问题 + `<sep>`”，模型从这里接着往下写。
# `pad_to_max_length=False` 时既不补齐也不截断（提示结尾的 `<sep>` 一定要留着）：

# %%
# NBVAL_CHECK_OUTPUT
prompt_ids, prompt_mask = my_encode("“守株待兔”是什么意思？", pad_to_max_length=False)
print(prompt_ids)
print(my_decode(prompt_ids))
assert prompt_ids[-1] == SEP

# %% [markdown]
# ## 6. 和包里的 `Tokenizer` 对比
#
# 现在把你的 `my_encode` / `my_decode` 和 `minigpt.tokenizer.Tokenizer` 放在一起，在**全部**课程问答上比较，
# 每一对都试四种用法：补齐到 128、截断到 32（这份数据里有不少会被截断）、不补齐、生成用的提示（`answer=None`）：

# %%
# NBVAL_CHECK_OUTPUT
from minigpt.tokenizer import Tokenizer

tok = Tokenizer("./data/vocab.json")
checked = 0
for p in pairs:
    for args, kwargs in [((p.question, p.answer), {}), ((p.question, p.answer), {"max_length": 32}),
                         ((p.question, p.answer), {"pad_to_max_length": False}), ((p.question,), {"pad_to_max_length": False})]:
        mine, theirs = my_encode(*args, **kwargs), tok.encode(*args, **kwargs)
        assert mine == theirs, (p.line, kwargs)
        assert my_decode(mine[0]) == tok.decode(theirs[0])
        checked += 1
print(f"{len(pairs)} 对问答 × 4 种用法 = {checked} 次编码：my_encode 与 Tokenizer.encode 逐个编号相同，解码也相同")

# %% [markdown]
# 从这里起用包里的 `Tokenizer`。它比你的版本多出的都在边角：词表文件坏了时给出一行清楚的 `DataError`；
# `decode` 直接接受张量，`skip_special_tokens=True` 时连 `<sep>`、`<unk>` 也去掉；`encode_text` 只查表不加 `<sep>`：

# %%
# NBVAL_CHECK_OUTPUT
import torch

ids, _ = tok.encode("画蛇添足？", "多此一举。", max_length=16)
print(tok.decode(torch.tensor(ids)))
print(tok.decode(ids, skip_special_tokens=True))
print(tok.encode_text("画蛇添足"), "| 词表大小", tok.get_vocab_size())

# %% [markdown]
# 词表是用全部数据建的，所以每一对问答都应该能原样编码、解码回来（没有 `<unk>`）：

# %%
# NBVAL_CHECK_OUTPUT
bad = [p for p in pairs
       if tok.decode(tok.encode(p.question, p.answer, pad_to_max_length=False)[0]) != p.question + "<sep>" + p.answer + "<sep>"]
print(f"{len(pairs)} 对问答，往返不一致的 {len(bad)} 对")
assert not bad

# %% [markdown]
# ## 7. 模型和词表绑在一起：`vocab_hash`
#
# 模型的第 $i$ 行词向量只对“编号 $i$ 的那个字”有意义。换一份词表，哪怕只有两个字交换了编号，模型就答非所问。
# 所以检查点里会保存 `word2id`，加载时用 `Tokenizer.from_word2id` 重建 tokenizer，并用 `vocab_hash`
# （按编号顺序排列的全部 token 的 SHA-256）核对两份词表是否一致：

# %%
# NBVAL_CHECK_OUTPUT
same = Tokenizer.from_word2id(tok.word2id)
print("vocab_hash:", tok.vocab_hash[:16], "...")
print("从 word2id 重建后一致吗？", same.vocab_hash == tok.vocab_hash)

swapped = dict(tok.word2id)
swapped["一"], swapped["丁"] = swapped["丁"], swapped["一"]  # 只交换两个字的编号
print("交换两个编号后一致吗？", Tokenizer.from_word2id(swapped).vocab_hash == tok.vocab_hash)

# %% [markdown]
# ## 8. 按字切分 vs BPE
#
# 这门课按字切分：一个字就是一个 token。第 8 章的 Qwen3（和今天的大多数大模型）用的是 **BPE**
# （byte pair encoding，字节对编码）：从最小的单位出发，数一数语料里哪两个相邻的单位一起出现得最多，
# 把它们合并成一个新 token；重复几万次，常见的词和短语就各自成了一个 token。
#
# 在这份数据上动手合并 20 次（为了好读，这里从字出发；Qwen3 的 BPE 从 UTF-8 字节出发，一个汉字是 3 个字节）。
# 每一轮数遍所有相邻的两个 token，把最常见的那一对处处换成一个新 token：

# %%
# NBVAL_CHECK_OUTPUT
from collections import Counter


def merge(seq, a, b):
    """把 seq 里每一处相邻的 a, b 换成一个 token a+b。"""
    out, i = [], 0
    while i < len(seq):
        if i + 1 < len(seq) and seq[i] == a and seq[i + 1] == b:
            out.append(a + b)
            i += 2
        else:
            out.append(seq[i])
            i += 1
    return out


seqs = [list(p.question + p.answer) for p in pairs[::5]]  # 起点：按字切分（为了快，每 5 对问答取 1 对）
n_chars = sum(map(len, seqs))
merges = []
for step in range(20):
    pair_counts = Counter(pair for s in seqs for pair in zip(s, s[1:]))
    (a, b), n = pair_counts.most_common(1)[0]  # 最常相邻出现的一对
    seqs = [merge(s, a, b) for s in seqs]
    merges.append(f"{a + b!r}（{n}）")
print("依次学到的新 token（括号里是合并时的次数）：")
for i in range(0, 20, 5):
    print("  " + "  ".join(merges[i : i + 5]))
print(f"token 总数：按字 {n_chars:,} → 合并 20 次后 {sum(map(len, seqs)):,}")
print("第一对问答：", seqs[0])

# %% [markdown]
# BPE 先学会的是这份数据里反复出现的片段：问题里的“这个成语”“是什么”，释义里的“形容”“比喻”，拼音里的 `ng`。
# 同样的文字用更少的 token 表示，序列变短，计算也少。两种做法的取舍：
#
# | | 按字切分（本课程） | BPE（Qwen3） |
# |---|---|---|
# | 词表大小 | 几千（数据里出现过的字） | Qwen3 是 151,643 个 BPE token 加 26 个特殊 token |
# | 没见过的字 | 变成 `<unk>`，信息丢失 | 拆成字节，任何文本都能表示 |
# | 序列长度 | 一个字一个 token，较长 | 常见的词一个 token，较短 |
# | 每个 token 能否读懂 | 能，一个 token 就是一个字 | 不一定：一个汉字可能被拆成两三个字节片段 |
#
# 对这门课的小模型来说，词表大小是决定性的：词表的每一行都是一个要学的向量。

# %%
# NBVAL_CHECK_OUTPUT
from minigpt.model import GPTLMHeadModel, config_for

model = GPTLMHeadModel(config_for("cpu", vocab_size=len(tok)))  # 课程默认的模型（第 5 章）
d, n_model = model.config.n_embd, model.num_parameters()  # d：每个 token 的向量维度
print(f"课程默认的整个模型：{n_model / 1e6:.1f}M 个参数，其中词向量表 {len(tok):,} × {d} = {len(tok) * d / 1e6:.1f}M")
print(f"换成 Qwen3 的词表：光词向量表就是 151,669 × {d} = {151_669 * d / 1e6:.1f}M 个参数")
assert 151_669 * d > 5 * n_model

# %% [markdown]
# 一张 Qwen3 大小的词向量表就比整个课程模型大好几倍，而且绝大多数行在成语数据上一次也用不到。所以前七章按字切分，第 8 章换成 Qwen3 时再用它的 BPE 分词器。
#
# 第 9 章从 UTF-8 字节出发写一个完整的字节级 BPE 分词器：装上 Qwen 的真实合并顺序后，编号和 Qwen 的分词器逐个相同；还在同样的算力下比较了按字切分和 BPE 谁学得好：[第 9 章](09_bpe.ipynb)。

# %% [markdown]
# ## 9. 和种子代码的差别
#
# 编号逐个相同（`tests/test_ch1_4_seed_compat.py` 用种子的原始代码对比过），不同之处都在边角：
#
# | | 种子 | 本项目 |
# |---|---|---|
# | 开头的 `import token`、`import enum` | 用不到的标准库模块（`token` 还容易和“token”混淆） | 删掉 |
# | `encode(question, answer)` | `answer` 必须给 | `answer=None` 就是生成用的提示 |
# | `decode(tensor)` | 要先 `.tolist()` | 直接接受张量；`skip_special_tokens=True` 可去掉 `<sep>` |
# | 词表文件坏了 | `KeyError` 等 traceback | 一行 `DataError`，说明哪个文件、哪里不对 |
# | 截断丢掉结尾 `<sep>` | 一声不吭 | 行为不变（编号要和种子一致），第 4 章的 Dataset 会统计并提示 |

# %% [markdown]
# ## 小测验
#
# 几道概念题，检查本章的要点：选一个答案，就会看到每个选项为什么对、为什么错。

# %%
from minigpt.exercises import quiz

quiz(2)

# %%
from minigpt.exercises import show_progress

show_progress(2)

# %% [markdown]
# ## 小结
#
# - 你写了 `my_encode` / `my_decode`：查表（没有的字给 `<unk>`）、`问题 <sep> 答案 <sep>`、截断或补 `<pad>`、
#   `attention_mask`、生成用的提示（`answer=None`）；它们在全部课程问答上和 `minigpt/tokenizer.py` 的
#   `Tokenizer.encode` / `decode` 逐个编号相同；
# - 文本里的 `<sep>` 只是普通字符，特殊 token 只能由 tokenizer 产生；
# - `max_length` 太小会截掉结尾的 `<sep>`，太大则浪费在填充上；
# - 模型和词表一一对应，用 `vocab_hash` 核对；
# - 按字切分词表小、每个 token 都读得懂，代价是序列更长、没见过的字成了 `<unk>`；BPE 正好相反。
#
# 下一章：[第 3 章　拆分训练集和验证集](03_split_data.ipynb)。
