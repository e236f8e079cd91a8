# %% [markdown]
# # 第 2 章　Tokenizer：文字 ↔ 编号
#
# 有了词表，`Tokenizer` 负责两件事：
#
# - `encode`：把一对问答变成编号序列（模型的输入）；
# - `decode`：把编号序列变回文字（看模型输出了什么）。
#
# 对应模块：`minigpt/tokenizer.py`。接口和种子完全相同（`Tokenizer(vocab_path)`、`encode`、`decode`、`get_vocab_size`），
# 编出的编号也和种子的代码逐个相同；另外加了几样后面章节要用的东西：`encode_text`、`from_word2id`、`vocab_hash`。

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
# `attention_mask` 标出哪些位置是真内容（1），哪些是填充（0）。先跑种子里的例子：

# %%
# NBVAL_CHECK_OUTPUT
from minigpt.tokenizer import Tokenizer

tok = Tokenizer("./data/vocab.json")
print("词表大小:", tok.get_vocab_size(), " pad/unk/sep =", tok.pad_token_id, tok.unk_token_id, tok.sep_token_id)

question, answer = "你好，最近怎么样？", "我很好，谢谢！"
input_ids, attn_mask = tok.encode(question, answer, max_length=32)
print(input_ids)
print(attn_mask)
print(tok.decode(input_ids))

# %% [markdown]
# 和种子文档里的结果相比，布局一样，具体编号不同：编号取决于词表，而种子用的是另一份数据。
# 这里还冒出一个 `<unk>`：成语数据里没有全角感叹号“！”。逐字对照一下：

# %%
# NBVAL_CHECK_OUTPUT
import unicodedata


def pad(s, width):
    # 左对齐到 width 个显示宽度：汉字和全角标点在等宽字体里占两格
    w = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)
    return s + " " * max(0, width - w)


ids, mask = tok.encode("画蛇添足？", "多此一举。", max_length=16)
print("位置  token   编号  mask")
for i, (t, m) in enumerate(zip(ids, mask)):
    print(f"{i:4}  {pad(tok.id2word[t], 7)} {t:5}  {m}")

# %% [markdown]
# ## 2. 词表里没有的字：`<unk>`
#
# 不在词表里的字一律变成 `<unk>`（编号 1），信息就此丢失：`decode(encode(x))` 不再等于 `x`。
# emoji 也是一个字符，只是不在这份词表里：

# %%
# NBVAL_CHECK_OUTPUT
text = "我爱🐼和龘龘"
ids = tok.encode_text(text)  # 只编码文字本身，不加 <sep>
print(ids)
print(tok.decode(ids))
unknown = [ch for ch, i in zip(text, ids) if i == tok.unk_token_id]
print("未登录字:", unknown)
assert tok.decode(ids) != text and len(ids) == len(text)

# %% [markdown]
# ## 3. 特殊 token 只能由 tokenizer 产生
#
# 如果用户的问题里恰好写着 `<sep>`，它必须还是五个普通字符，否则别人就能在问题里“提前结束”问题。
# 字级 tokenizer 天然做到了这一点：查表是一个字一个字查的，`"<sep>"` 这个键永远查不到。

# %%
# NBVAL_CHECK_OUTPUT
ids = tok.encode_text("<sep>")
print(ids, "→", [tok.id2word[i] for i in ids])
assert tok.sep_token_id not in ids

# %% [markdown]
# 这份成语数据里恰好没有 `<` 和 `>`，所以它们变成了 `<unk>`；但无论如何都不会变成编号 2 的 `<sep>`。

# %% [markdown]
# ## 4. 截断：种子的一个坑
#
# `pad_to_max_length=True` 时，超过 `max_length` 的序列会被**从后面截掉**，连同答案末尾的 `<sep>`。
# 模型在这样的样本上永远看不到“答案到这里结束”，于是学不会停下来。种子对此一声不吭：

# %%
# NBVAL_CHECK_OUTPUT
ids, mask = tok.encode("画蛇添足是什么意思？", "比喻做了多余的事，反而不恰当。", max_length=16)
print(tok.decode(ids))
print("结尾还有 <sep> 吗？", ids[-1] == tok.sep_token_id)

# %% [markdown]
# 所以 `max_length` 要按数据来选。看看这份数据的序列长度（问题 + 答案 + 2 个 `<sep>`）：

# %%
# NBVAL_CHECK_OUTPUT
import numpy as np
from minigpt.jsonl import read_qa_jsonl

pairs = read_qa_jsonl("./data/data.jsonl", warn=lambda msg: None)
lengths = np.array([len(tok.encode(p.question, p.answer, pad_to_max_length=False)[0]) for p in pairs])
print(f"{len(lengths)} 对问答，长度：最短 {lengths.min()}，平均 {lengths.mean():.1f}，中位数 {np.median(lengths):.0f}，最长 {lengths.max()}")
for max_length in (32, 48, 64, 128):
    print(f"max_length={max_length:3}：会被截断 {int((lengths > max_length).sum()):5} 对")

# %%
import matplotlib.pyplot as plt

plt.figure(figsize=(8, 3.5))
plt.hist(lengths, bins=range(0, lengths.max() + 2), color="tab:blue")
for limit in (32, 64, 128):
    plt.axvline(limit, color="gray", linestyle="--", linewidth=1)
    plt.text(limit + 1, plt.ylim()[1] * 0.9, f"max_length={limit}", fontsize=8)
plt.xlim(0, 150)
plt.title("Sequence length: question + <sep> + answer + <sep>")
plt.xlabel("tokens")
plt.ylabel("number of QA pairs")
plt.show()

# %% [markdown]
# 种子默认的 `max_length=128` 不会截断这份数据里的任何一对，但平均长度还不到 30：
# 补齐到 128 意味着大部分计算花在 `<pad>` 上。第 4 章会量化这一点并解决它。

# %% [markdown]
# ## 5. 生成时的编码：`answer=None`
#
# 回答问题时我们只有问题。`encode(question)` 给出“问题 + `<sep>`”，模型从这里接着往下写。
# `pad_to_max_length=False` 时既不补齐也不截断（提示结尾的 `<sep>` 一定要留着）：

# %%
# NBVAL_CHECK_OUTPUT
prompt_ids, prompt_mask = tok.encode("“守株待兔”是什么意思？", pad_to_max_length=False)
print(prompt_ids)
print(tok.decode(prompt_ids))
assert prompt_ids[-1] == tok.sep_token_id

# %% [markdown]
# ## 6. 整份数据的往返检查
#
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
# ## 8. 和种子代码的差别
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
#
# ## 小结
#
# - 一对问答编码成 `问题 <sep> 答案 <sep> <pad>…`，`attention_mask` 标出真内容；
# - 不在词表里的字变成 `<unk>`，文本里的 `<sep>` 只是普通字符；
# - `max_length` 太小会截掉结尾的 `<sep>`，太大则浪费在填充上；
# - 模型和词表一一对应，用 `vocab_hash` 核对。
#
# 下一章：把数据分成训练集和验证集。
