# %% [markdown]
# # 第 1 章　构建词表（`vocab.json`）
#
# 语言模型只认识数字。第一步是给数据里出现的每一个**字**编一个号，这张“字 ↔ 编号”的对照表就是**词表**（vocabulary）。
#
# 本章会：
#
# 1. 看一眼数据 `data/data.jsonl`（每行一个问答）；
# 2. 自己写一个词表构建器：数一数每个字、排序、编号，一共十几行；
# 3. 证明它和包里的 `minigpt/build_vocab.py` 给出完全相同的 `data/vocab.json`（逐字节相同），此后就用包里的版本；
# 4. 看词表的统计：哪些字最常见、有多少字只在一个成语的题里出现；
# 5. 看看坏数据会被怎样处理。
#
# 对应模块：`minigpt/build_vocab.py`，命令行和种子一样：
#
# ```bash
# python ./minigpt/build_vocab.py --data ./data/data.jsonl --output ./data/vocab.json
# ```
#
# ### “种子”是什么
#
# 这门课是从一份中文教程长出来的，课程里把它叫作**种子**（seed）。种子按“建词表 → 拆分数据 → 写 Dataset →
# 写 GPT 模型 → 训练”一步步给出代码，三条命令就能从一个问答文件训练出一个按字切分的 GPT。
#
# - **它做对了的**：路线短，每一步都是一个能单独运行的小脚本；一个字就是一个 token，简单直观；文件格式清楚。
# - **它缺少的**：没有测试，也很少解释“为什么”；“先把训练逻辑写好”一节只写着 TODO，“生成回答”一节是空的，
#   “Qwen3”一节只有一句“详见代码”；代码里有几个会悄悄出错的 bug（从本章起你会逐个遇到）。
#
# 本课程保留种子的命令和文件格式，把缺的部分补上。种子前四步的原始代码原样保存在
# `tests/fixtures/seed_ch1_4.py`，课程里随时拿它对照。以后说“种子”，都指这份教程；
# 随机数生成器的 seed 则一律叫“**随机种子**”（第 3 章会用到）。
#
# ### 读代码前的一个说明
#
# 很多代码单元的第一行是 `# NBVAL_CHECK_OUTPUT`。它是给自动测试（nbval）看的标记：测试会重新运行这个单元，
# 把输出和这里存档的输出逐字比较，所以带标记的单元的输出是确定的。它不影响代码的运行，读的时候可以忽略。

# %% [markdown]
# ### 怎么读这一章
#
# 大约 **1 小时 30 分钟**（读、运行和做练习；只读不做练习要少一半左右），完整运行一遍 8 秒（2 核 CPU）。
# 本章分两部分，每部分以练习或小测验结束，读完一部分就可以停下：
#
# | 部分 | 内容 | 练习 | 时间 |
# |---|---|---|---|
# | 一 | 第 1–3 节：数据，自己写词表构建器，和包里的对比 | 1.1、1.2 | 约 35 分钟 |
# | 二 | 第 4–5 节：词表统计，坏数据；小测验 | 1.3、1.4、1.5 | 约 50 分钟 |

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
# ## 1. 数据长什么样
#
# 数据是 **JSONL** 格式：每行一个独立的 JSON 对象（不是整个文件一个数组）。
# `question` 和 `answer` 是必需的字段；其他字段读取时会被忽略（这里的 `type` 是题型，`idiom` 是这道题问的成语，
# 第 3 章划分数据时会用到）。同一个成语的意思、读音等，数据里都换着问法问了好几遍。

# %%
# NBVAL_CHECK_OUTPUT
DATA = "./data/data.jsonl"
with open(DATA, encoding="utf-8") as f:
    lines = f.read().splitlines()
print(f"{len(lines)} 行，前 4 行：")
for line in lines[:4]:
    print(line)

# %% [markdown]
# ## 2. 自己写词表构建器
#
# 种子的规则：
#
# - **分词单位**：每一个字符（汉字、标点、数字、字母、空格……）都是一个 token；
# - **特殊 token**：`<pad>`（填充）= 0，`<unk>`（词表里没有的字）= 1，`<sep>`（分隔问题和答案）= 2；
# - 其余字符按 **Unicode 码位**排序后依次编号。
#
# 所以词表大小
#
# $$|V| = 3 + \text{不同字符的个数}.$$
#
# 第一步是数一数每个字出现几次。先自己写一个（练习 1.1），再往下看我们的版本。

# %% [markdown]
# ### 练习 1.1　数一数每个字出现了几次（★）
#
# 统计问题和答案里每个字符出现的次数（汉字、标点、空格、拼音字母……每个字符都算）。
#
# - 输入：`pairs`，一个列表，每项是 `(question, answer)` 两个字符串
# - 输出：`collections.Counter`（或 dict）：字符 → 次数
#
# 对照：`minigpt/build_vocab.py` 的 `count_chars`。卡住了运行 `hint("1.1")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch01.py)

# %%
from collections import Counter
from minigpt.exercises import check, hint


def count_chars(pairs):
    """pairs: [(question, answer), ...]。返回 Counter：字符 → 出现次数。"""
    raise NotImplementedError  # 在这里写你的代码

check("1.1", count_chars)

# %% [markdown]
# 数字符：Python 的字符串按字迭代，`Counter.update` 正好逐字计数。先在两句话上试：

# %%
# NBVAL_CHECK_OUTPUT
from collections import Counter

counter = Counter()
for text in ["你好吗？", "我很好，谢谢！"]:
    counter.update(text)  # 字符串按字迭代：每个字计数一次
print(counter)

# %% [markdown]
# 第二步是编号：特殊 token 先占 0、1、2，其余字符排好序，依次取下一个空闲的编号。先自己写（练习 1.2）。

# %% [markdown]
# ### 练习 1.2　建 word2id：特殊 token 在前，其余按码位排序（★★）
#
# 由字符计数建出词表的 `word2id`（字符 → 编号），规则与种子相同：
#
# 1. 特殊 token 先编号：`<pad>` = 0，`<unk>` = 1，`<sep>` = 2；
# 2. 其余字符按 Unicode 码位排序（`sorted`），从 3 开始依次编号。
#
# - 输入：`counter`，字符 → 次数（`Counter`）
# - 输出：dict，字符 → 编号（`int`）
#
# 对照：`minigpt/build_vocab.py` 的 `vocab_from_counter`（`SPECIAL_TOKENS`）。卡住了运行 `hint("1.2")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch01.py)

# %%
from minigpt.exercises import check, hint


def build_word2id(counter):
    """counter: Counter（字符 → 次数）。返回 dict：字符 → 编号。"""
    raise NotImplementedError  # 在这里写你的代码

check("1.2", build_word2id)

# %% [markdown]
# 编号，我们的版本。反过来的表 `id2word` 把每一对倒过来。对应 `minigpt/build_vocab.py` 的 `vocab_from_counter`：

# %%
# NBVAL_CHECK_OUTPUT
SPECIAL_TOKENS = ["<pad>", "<unk>", "<sep>"]


def my_vocab_from_counter(counter):
    word2id = {token: i for i, token in enumerate(SPECIAL_TOKENS)}  # 0、1、2
    for ch in sorted(counter):  # 按 Unicode 码位排序
        word2id[ch] = len(word2id)  # 下一个空闲的编号
    id2word = {i: token for token, i in word2id.items()}
    return {"word2id": word2id, "id2word": id2word}


toy = my_vocab_from_counter(counter)
print(toy["word2id"])
print(toy["id2word"])

# %% [markdown]
# 注意顺序：“你”（U+4F60）排在“好”（U+597D）前面，全角标点“！，？”（U+FF01…）排在最后。
# 按码位排序和拼音、笔画都无关，它的好处是**确定**：同样的数据永远得到同样的编号，换一台机器重建也一样。
#
# 现在对整个数据文件做同样的事。读文件的部分对应 `build_vocab.py` 的 `count_chars`：
# 逐行解析 JSON，把问题和答案的字都数进去（这里先假设每一行都是好的，第 5 节再看坏行）：

# %%
# NBVAL_CHECK_OUTPUT
import json


def my_count_chars(path):
    counter = Counter()
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():  # 跳过空行
                item = json.loads(line)
                counter.update(item["question"])
                counter.update(item["answer"])
    return counter


my_vocab = my_vocab_from_counter(my_count_chars(DATA))
print("词表大小:", len(my_vocab["word2id"]))

# %% [markdown]
# 最后一步是写文件。种子用 `json.dump(vocab, f, ensure_ascii=False, indent=4)`：`ensure_ascii=False`
# 让汉字原样写出（否则是 `\u4e00` 这样的转义），`indent=4` 让每个键单独占一行。
# JSON 的键只能是字符串，所以 `id2word` 的键 `0` 会写成 `"0"`（读回来时 `Tokenizer` 再把它变回整数）。
# 对应 `build_vocab.py` 的 `vocab_json`：

# %%
# NBVAL_CHECK_OUTPUT
my_text = json.dumps(my_vocab, ensure_ascii=False, indent=4)
print("\n".join(my_text.splitlines()[:8]))
print("...")
print("\n".join(my_text.splitlines()[-3:]))

# %% [markdown]
# ## 3. 和包里的 `build_vocab` 对比
#
# `build_vocab()` 就是命令行背后的函数。它做的事和上面一样，只是更谨慎：读数据用第 5 节的
# `read_qa_jsonl`（坏行会被跳过并报告行号），先写临时文件再改名（中途崩溃也不会留下写了一半的 `vocab.json`），
# 还会说明是原样重写、还是编号变了——**编号变了，用旧词表训练的模型就不能再用**。

# %%
from minigpt.build_vocab import build_vocab

vocab = build_vocab(DATA, "./data/vocab.json")  # 等价于上面的命令行

# %% [markdown]
# 两份词表逐项相同、顺序相同，写出的文件逐字节相同：

# %%
# NBVAL_CHECK_OUTPUT
from pathlib import Path

file_bytes = Path("./data/vocab.json").read_bytes()
assert my_vocab["word2id"] == vocab["word2id"] and my_vocab["id2word"] == vocab["id2word"]
assert list(my_vocab["word2id"]) == list(vocab["word2id"])  # 键的顺序也一样
assert my_text.encode("utf-8") == file_bytes
print(f"自己写的词表 = build_vocab 的词表（{len(vocab['word2id'])} 个 token），"
      f"文件逐字节相同（{len(file_bytes):,} 字节）")

# %% [markdown]
# 从这里起就用包里的版本。看看词表的两头：空格、半角符号和拼音字母的码位最小，全角标点最大：

# %%
# NBVAL_CHECK_OUTPUT
from minigpt.jsonl import read_qa_jsonl

word2id = vocab["word2id"]
print("词表大小:", len(word2id))
print("特殊 token:", list(word2id.items())[:3])
print("编号最小的 12 个字符:", list(word2id)[3:15])
print("编号最大的 6 个字符:", list(word2id)[-6:])

pairs = read_qa_jsonl(DATA, warn=lambda msg: None)
chars = set("".join(p.question + p.answer for p in pairs))
assert len(word2id) == 3 + len(chars)  # |V| = 3 + 不同字符数

# %% [markdown]
# ---
#
# **第一部分到这里结束**（第 1–3 节和练习 1.1、1.2）。这是一个可以停下的地方。
# 下次接着读：打开 notebook，选中下面这个单元，运行它上面的所有单元（JupyterLab 菜单 Run → Run All Above Selected Cell，几秒），再往下读。
#
# **第二部分**：词表的统计，以及坏数据会怎样。

# %% [markdown]
# ## 4. 词表统计
#
# 字的出现次数极不均匀：少数字（问题里的“成语”“什么”、句号、拼音之间的空格）出现上万次，很多字只出现几次。
# 自然语言里第 $r$ 常见的词，出现次数大约是
#
# $$f(r) \approx \frac{C}{r^{s}}, \qquad s \approx 1,$$
#
# 这叫 **Zipf 定律**。在双对数坐标里它近似一条直线。

# %% [markdown]
# ### 练习 1.3　预测：最常见的字是第 100 常见的字的几倍（★）
#
# **先别运行下面的统计。** Zipf 定律说：第 $r$ 常见的字出现的次数大约是 $C / r^{s}$，$s \approx 1$。
# 在我们的成语问答数据（`data/data.jsonl`）里，出现次数排第 1 的字，是排第 100 的字的**几倍**？
#
# 把你的预测写成一个数，赋给 `my_guess`，再运行。误差在 ±50% 以内算对（这是估计，不是背答案）。
#
# 对照：`minigpt/build_vocab.py` 的 `count_chars`；本节下面的频率统计。卡住了运行 `hint("1.3")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch01.py)

# %%
from minigpt.exercises import check, hint

my_guess = ...  # 你的预测：排第 1 的字出现的次数 ÷ 排第 100 的字出现的次数

check("1.3", my_guess)

# %%
# NBVAL_CHECK_OUTPUT
from collections import defaultdict
from minigpt.build_vocab import count_chars

counter = count_chars(DATA, warn=lambda msg: None)
total = sum(counter.values())
print(f"字符总数 {total:,}，不同字符 {len(counter):,}")
print("最常见的 15 个字符：")
for ch, n in counter.most_common(15):
    print(f"  {ch!r:6} {n:6,}  {n / total:6.2%}")
print(f"出现次数最少的字也出现了 {min(counter.values())} 次")
top = counter.most_common(100)
print(f"第 1 名出现的次数是第 100 名（{top[99][0]!r}，{top[99][1]:,} 次）的 {top[0][1] / top[99][1]:.1f} 倍（练习 1.3）")
assert counter.most_common(1)[0][1] > 10_000

# %% [markdown]
# 最少的也有好几次，可这不说明它常见：同一条释义换着问法问了好几遍，里面的字就跟着出现好几遍。
# 更能说明一个字“见得多不多”的，是它出现在几个成语的题里（用上 `idiom` 字段）：

# %%
# NBVAL_CHECK_OUTPUT
idioms_of_char = defaultdict(set)  # 字 → 它出现在哪些成语的题里
for line in lines:
    item = json.loads(line)
    for ch in item["question"] + item["answer"]:
        idioms_of_char[ch].add(item["idiom"])
only_one = sorted(ch for ch, s in idioms_of_char.items() if len(s) == 1)
print(f"只在一个成语的题里出现过的字：{len(only_one)} 个，例如 {''.join(only_one[:20])}")
assert 100 <= len(only_one) < 1000  # 小结里说的“几百个”

# %% [markdown]
# 这些字符都是什么？按 Unicode 的名称和类别分一下类。拼音带声调的字母（ā á ǎ à）各是一个独立的字符
# （有趣的是，数据里没有不带声调的 `a`：拼音里 a 总是主要元音，声调就标在它上面）。
# 标点里有全角的，也有半角的：人们打字提问时两种都用，数据里的问法也就两种都有（“其他”是填空题里代表空位的 □）：

# %%
# NBVAL_CHECK_OUTPUT
import unicodedata


def kind(ch):
    name = unicodedata.name(ch, "")
    if name.startswith("CJK UNIFIED IDEOGRAPH"):
        return "汉字"
    if name.startswith("LATIN"):
        return "拉丁字母（拼音）"
    if unicodedata.category(ch).startswith("P"):
        return "标点"
    if ch.isspace():
        return "空白"
    return "其他"


kinds, examples = Counter(), defaultdict(str)
for ch in sorted(counter):
    kinds[kind(ch)] += 1
    if len(examples[kind(ch)]) < 16:
        examples[kind(ch)] += ch
for k, n in kinds.most_common():
    print(f"{k:10} {n:5}  {examples[k]!r}")
assert "a" not in counter

# %% [markdown]
# ### 练习 1.4　最常见的多少个字覆盖 90% 的字符（★★）
#
# 字的频率极不均匀（Zipf 定律）。最常见的多少个字，加起来就占了全部字符出现次数的比例 $p$？
#
# 从最常见的字开始累加次数，返回**第一次**使累计比例 $\ge p$ 时用了几个字。
#
# - 输入：`counter`（字符 → 次数），`p`（0 到 1 之间，如 0.9）
# - 输出：整数
#
# 对照：`minigpt/build_vocab.py` 的 `count_chars`（统计），`Counter.most_common()`（按次数从多到少）。卡住了运行 `hint("1.4")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch01.py)

# %%
from minigpt.exercises import check, hint


def chars_for_coverage(counter, p):
    """counter: Counter（字符 → 次数）；p: 比例。返回最少要几个最常见的字，才能覆盖 ≥ p 的字符出现次数。"""
    raise NotImplementedError  # 在这里写你的代码

check("1.4", chars_for_coverage)

# %% [markdown]
# 画出来：左图是 Zipf 图（横轴是名次，纵轴是出现次数，都取对数），右图是“最常见的 $k$ 个字一共占了多少文本”。

# %%
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import PercentFormatter
from minigpt.common import use_chinese_font

use_chinese_font()  # 让 matplotlib 用中文字体（Linux 上需要 fonts-noto-cjk）
ranked = counter.most_common()
freqs = np.array([n for _, n in ranked])
ranks = np.arange(1, len(freqs) + 1)
coverage = np.cumsum(freqs) / freqs.sum()

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
ax1.loglog(ranks, freqs, ".", markersize=3)
for r in (1, 10, 100, 1000):  # 标出几个名次上的字
    ch, n = ranked[r - 1]
    ax1.annotate(f"第 {r} 名：{'空格' if ch == ' ' else ch}", (r, n), xytext=(0 if r == 1 else -6, -12),
                 textcoords="offset points", ha="left" if r == 1 else "right", va="top")
ax1.set(title="字频与名次（Zipf 图，双对数坐标）", xlabel="名次（1 = 最常见）", ylabel="出现次数")
ax2.plot(ranks, coverage)
ax2.axhline(0.9, color="gray", linestyle="--", linewidth=1)
ax2.yaxis.set_major_formatter(PercentFormatter(1.0))
ax2.set(title="最常见的 k 个字覆盖了多少文本", xlabel="k（按出现次数从多到少取前 k 个字）", ylabel="占全部字符的比例")
plt.tight_layout()
plt.show()

# %%
# NBVAL_CHECK_OUTPUT
for share in (0.5, 0.9, 0.99):
    k = int(np.searchsorted(coverage, share)) + 1
    print(f"最常见的 {k:4} 个字符覆盖了 {share:.0%} 的文本")
    assert share != 0.9 or 100 <= k < 1000  # “几百个字覆盖了 90%”

# %% [markdown]
# 只在一个成语里出现的字，模型只见过它的一种用法：它的向量（第 5 章的 embedding）只从这一处学到东西，
# 别处再遇到这个字也帮不上忙。这是按字切分的代价。第 8 章的 Qwen3 用的是 **BPE**（byte pair encoding，字节对编码）子词词表：
# 从单个字节出发，反复把语料里最常相邻出现的两段合并成一个新 token，于是常见的词是一个 token，
# 生僻字拆成几个字节片段，永远不会变成 `<unk>`。第 2 章末尾会在这份数据上动手合并几次，对比两种做法。
#
# 另外，词表是用**全部**数据（训练集 + 验证集）建的，所以验证集里不会出现 `<unk>`。
# 种子也是这样：它的命令用全部数据 `data.jsonl` 建词表，并说明 `<unk>` “理论上不会出现”。

# %% [markdown]
# ## 5. 坏数据会怎样
#
# 真实的数据文件总会有问题：Windows 记事本存的文件开头带 **BOM**（`EF BB BF` 三个字节），行尾是 `\r\n`；
# 有的行 JSON 写坏了、缺字段、值是 `null` 或数字、字符串为空。`tests/fixtures/qa_bad.jsonl` 把这些情况都放在了一起。
# 第 2 节的 `my_count_chars` 遇到其中任何一种都会出错或悄悄算错。
#
# 所有读数据的地方（词表、划分、Dataset）都用同一个读取函数 `minigpt.jsonl.read_qa_jsonl`：
# 每跳过一行就给出 `文件:行号: 原因`，最后一行是汇总。空行直接忽略，只在汇总里计数。

# %%
# NBVAL_CHECK_OUTPUT
BAD = "tests/fixtures/qa_bad.jsonl"
raw = open(BAD, "rb").read()
print("前 3 个字节:", raw[:3], "  \\r\\n 行尾个数:", raw.count(b"\r\n"))
print()
bad_pairs = read_qa_jsonl(BAD)
print()
for p in bad_pairs:
    print(f"第 {p.line} 行: {p.question} → {p.answer}")

# %% [markdown]
# 留下的三行里：emoji 😀 是一个字符（超出基本平面也一样），多余的字段被忽略，
# 问题里的 `<sep>` 只是五个普通字符——真正的分隔符只能由 tokenizer 加上（第 2 章）。
#
# 种子的 `build_vocab` 在同一个文件上会怎样？下面把 `tests/fixtures/seed_ch1_4.py` 当作一个模块导入
# （`importlib` 按文件路径导入，不需要它在哪个包里），再在一个临时文件夹里运行它：

# %%
# NBVAL_CHECK_OUTPUT
import contextlib, importlib.util, io, tempfile

spec = importlib.util.spec_from_file_location("seed_ch1_4", "tests/fixtures/seed_ch1_4.py")
seed = importlib.util.module_from_spec(spec)  # 把种子的原始代码当作一个模块导入
spec.loader.exec_module(seed)

with tempfile.TemporaryDirectory() as tmp:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        seed.build_vocab(BAD, f"{tmp}/vocab.json")
    with open(f"{tmp}/vocab.json", encoding="utf-8") as f:
        seed_vocab = json.load(f)
for line in out.getvalue().splitlines():
    if line.startswith("Warning"):
        print(line)
print()
print("种子的词表里有第 1 行的“画”字吗？", "画" in seed_vocab["word2id"])

# %% [markdown]
# 种子的问题：
#
# - 第 1 行因为开头的 BOM 被当成坏行丢掉了（`Unexpected UTF-8 BOM`），它的字（比如“画”）因此不在词表里；警告里也没有行号；
# - `"answer": null` 和空字符串的两行被悄悄留下：`Counter.update(None)` 什么也不做，不报错；
# - 缺 `answer` 的那一行，问题里的字在发现缺字段之前就已经被计数了。
#
# 文件不存在、是个目录、不是 UTF-8 编码、或者一行有效数据都没有时，读取直接报错 `DataError`，
# 消息只有一行，说清是哪个文件、哪里错了。命令行则打印 `错误：...` 并以退出码 1 结束，不打印 Python 的 traceback：

# %%
# NBVAL_CHECK_OUTPUT
import subprocess, sys
from minigpt.jsonl import DataError

try:
    build_vocab("./data/no_such_file.jsonl", "./data/vocab.json")
except DataError as e:
    print("DataError:", e)

r = subprocess.run([sys.executable, "./minigpt/build_vocab.py", "--data", "./data/no_such_file.jsonl",
                    "--output", "./data/vocab.json"], capture_output=True, text=True)
print("stderr:", r.stderr.strip(), "| 退出码:", r.returncode)

# %% [markdown]
# ### 练习 1.5　加了新数据，旧模型还能用吗：哪些编号变了（★★★）
#
# 模型只认编号：第 5 行嵌入向量学的是“编号 5 的字”。用新数据**重建**词表后，哪些旧 token 的编号变了
# （或者根本不在新词表里了）？这些字在旧模型眼里都成了别的字。
#
# - 输入：`old_word2id`（旧词表，字符 → 编号），`new_counter`（新数据的字符计数）
# - 输出：列表，旧词表里编号变了或消失了的 token，按旧编号从小到大；没有就返回 `[]`
# - 新词表按练习 1.2 的规则建（可以直接用 `vocab_from_counter(new_counter)["word2id"]`）
#
# 想一想：只加一个新字，为什么会有这么多字的编号一起变？
#
# 对照：`minigpt/build_vocab.py` 的 `build_vocab`（覆盖 vocab.json 时会提示编号是否变了）。卡住了运行 `hint("1.5")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch01.py)

# %%
from minigpt.build_vocab import vocab_from_counter
from minigpt.exercises import check, hint


def ids_changed(old_word2id, new_counter):
    """返回旧词表里编号变了或消失了的 token（按旧编号排序）。"""
    raise NotImplementedError  # 在这里写你的代码

check("1.5", ids_changed)

# %% [markdown]
# ## 小测验
#
# 几道概念题，检查本章的要点：选一个答案，就会看到每个选项为什么对、为什么错。

# %%
from minigpt.exercises import quiz

quiz(1)

# %%
from minigpt.exercises import show_progress

show_progress(1)

# %% [markdown]
# ## 小结
#
# - 你写了一个词表构建器：`Counter` 逐字计数，特殊 token 占 0、1、2，其余字符按 Unicode 码位排序编号，
#   `json.dumps(..., ensure_ascii=False, indent=4)` 写出；它和 `minigpt/build_vocab.py` 的输出逐字节相同，
#   也就和种子写出的 `data/vocab.json` 相同；
# - 你量了字频：它服从 Zipf 定律，几百个字覆盖了 90% 的文本，另有几百个字只在一个成语里出现（按字切分的代价）；
# - 坏行会被跳过并报告 `文件:行号`，无法读取的文件给出一行清楚的错误；种子的读法会悄悄丢字或算错；
# - **换了数据就要重建词表，重建后编号可能变化，模型要重新训练。**
#
# 下一章：[第 2 章　Tokenizer：文字 ↔ 编号](02_tokenizer.ipynb)，用这张词表把文字编码成编号序列。
