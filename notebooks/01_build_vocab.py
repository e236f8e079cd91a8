# %% [markdown]
# # 第 1 章　构建词表（`vocab.json`）
#
# 语言模型只认识数字。第一步是给数据里出现的每一个**字**编一个号，这张“字 ↔ 编号”的对照表就是**词表**（vocabulary）。
#
# 本章会：
#
# 1. 看一眼数据 `data/data.jsonl`（每行一个问答）；
# 2. 按种子项目的思路统计字符、排序、编号；
# 3. 用 `minigpt/build_vocab.py` 生成 `data/vocab.json`（和种子代码的输出逐字节相同）；
# 4. 看词表的统计：哪些字最常见、有多少字只出现一次；
# 5. 看看坏数据会被怎样处理。
#
# 对应模块：`minigpt/build_vocab.py`，命令行和种子一样：
#
# ```bash
# python ./minigpt/build_vocab.py --data ./data/data.jsonl --output ./data/vocab.json
# ```

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
# `question` 和 `answer` 是必需的字段；其他字段（这里的 `type`，表示题型）读取时会被忽略。

# %%
# NBVAL_CHECK_OUTPUT
DATA = "./data/data.jsonl"
with open(DATA, encoding="utf-8") as f:
    lines = f.read().splitlines()
print(f"{len(lines)} 行，前 4 行：")
for line in lines[:4]:
    print(line)

# %% [markdown]
# ## 2. 种子的思路：一个字就是一个 token
#
# - **分词单位**：每一个字符（汉字、标点、数字、字母、空格……）都是一个 token；
# - **特殊 token**：`<pad>`（填充）= 0，`<unk>`（词表里没有的字）= 1，`<sep>`（分隔问题和答案）= 2；
# - 其余字符按 **Unicode 码位**排序后依次编号。
#
# 所以词表大小
#
# $$|V| = 3 + \text{不同字符的个数}.$$
#
# 先在两句话上试一下。Python 的字符串按字迭代，`Counter.update` 正好逐字计数：

# %%
# NBVAL_CHECK_OUTPUT
from collections import Counter
from minigpt.build_vocab import vocab_from_counter

counter = Counter()
for text in ["你好吗？", "我很好，谢谢！"]:
    counter.update(text)  # 每个字计数一次
print(counter)
print(vocab_from_counter(counter)["word2id"])

# %% [markdown]
# 注意顺序：“你”（U+4F60）排在“好”（U+597D）前面，全角标点“！，？”（U+FF01…）排在最后。
# 按码位排序和拼音、笔画都无关，它的好处是**确定**：同样的数据永远得到同样的编号，换一台机器重建也一样。

# %% [markdown]
# ## 3. 生成 `data/vocab.json`
#
# `build_vocab()` 就是命令行背后的函数：读数据（坏行会被跳过并报告行号）、统计、写文件，最后打印和种子一样的摘要。
# 如果 `vocab.json` 已经存在，它会说明是原样重写，还是编号变了——**编号变了，用旧词表训练的模型就不能再用**。

# %%
from minigpt.build_vocab import build_vocab

vocab = build_vocab(DATA, "./data/vocab.json")  # 等价于上面的命令行

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
# 文件本身就是两个字典：`word2id`（字 → 编号）和 `id2word`（编号 → 字）。`ensure_ascii=False` 让汉字原样写出，方便阅读：

# %%
# NBVAL_CHECK_OUTPUT
with open("./data/vocab.json", encoding="utf-8") as f:
    text = f.read()
print("\n".join(text.splitlines()[:8]))
print("...")

# %% [markdown]
# ## 4. 词表统计
#
# 字的出现次数极不均匀：少数字（模板里的“是什么”、引号、拼音之间的空格）出现上千次，很多字只出现一两次。
# 自然语言里第 $r$ 常见的词，出现次数大约是
#
# $$f(r) \approx \frac{C}{r^{s}}, \qquad s \approx 1,$$
#
# 这叫 **Zipf 定律**。在双对数坐标里它近似一条直线。

# %%
# NBVAL_CHECK_OUTPUT
from minigpt.build_vocab import count_chars

counter = count_chars(DATA, warn=lambda msg: None)
total = sum(counter.values())
print(f"字符总数 {total:,}，不同字符 {len(counter):,}")
print("最常见的 15 个字符：")
for ch, n in counter.most_common(15):
    print(f"  {ch!r:6} {n:6,}  {n / total:6.2%}")
once = sorted(ch for ch, n in counter.items() if n == 1)
print(f"只出现 1 次的字符：{len(once)} 个，例如 {''.join(once[:20])}")

# %% [markdown]
# 这些字符都是什么？按 Unicode 的名称和类别分一下类。拼音带声调的字母（ā á ǎ à）各是一个独立的字符
# （有趣的是，数据里没有不带声调的 `a`：拼音里 a 总是主要元音，声调就标在它上面）：

# %%
# NBVAL_CHECK_OUTPUT
import unicodedata
from collections import defaultdict


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

# %%
import matplotlib.pyplot as plt
import numpy as np

freqs = np.array(sorted(counter.values(), reverse=True))
ranks = np.arange(1, len(freqs) + 1)
coverage = np.cumsum(freqs) / freqs.sum()

# 图中只用英文：这台机器没有中文字体，中文会显示成方框
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
ax1.loglog(ranks, freqs, ".", markersize=3)
ax1.set(title="Character frequency vs rank (Zipf plot)", xlabel="rank (1 = most frequent)", ylabel="count")
ax2.plot(ranks, coverage)
ax2.axhline(0.9, color="gray", linestyle="--", linewidth=1)
ax2.set(title="Share of the text covered by the top-k characters", xlabel="k (most frequent characters)",
        ylabel="share of all characters")
plt.tight_layout()
plt.show()

# %%
# NBVAL_CHECK_OUTPUT
for share in (0.5, 0.9, 0.99):
    k = int(np.searchsorted(coverage, share)) + 1
    print(f"最常见的 {k:4} 个字符覆盖了 {share:.0%} 的文本")

# %% [markdown]
# 只出现一次的字对模型来说几乎学不到：它的向量（第 5 章的 embedding）在整个训练中只被更新寥寥几次。
# 这是字级模型的代价，也是后面 Qwen3 用 BPE 子词词表的原因之一。
#
# 另外，词表是用**全部**数据（训练集 + 验证集）建的，所以验证集里不会出现 `<unk>`。
# 这和种子一致：“理论上不会出现，因为用全集构建词表”。

# %% [markdown]
# ## 5. 坏数据会怎样
#
# 真实的数据文件总会有问题：Windows 记事本存的文件开头带 **BOM**（`EF BB BF` 三个字节），行尾是 `\r\n`；
# 有的行 JSON 写坏了、缺字段、值是 `null` 或数字、字符串为空。`tests/fixtures/qa_bad.jsonl` 把这些情况都放在了一起。
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
# 种子的 `build_vocab` 在同一个文件上会怎样？种子的原始代码原样保存在 `tests/fixtures/seed_ch1_4.py`：

# %%
# NBVAL_CHECK_OUTPUT
import contextlib, importlib.util, io, json, tempfile

spec = importlib.util.spec_from_file_location("seed_ch1_4", "tests/fixtures/seed_ch1_4.py")
seed = importlib.util.module_from_spec(spec)
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
# 消息只有一行，说清是哪个文件、哪里错了。命令行则打印 `error: ...` 并以退出码 1 结束，不打印 Python 的 traceback：

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
# ## 小结
#
# - 词表 = 3 个特殊 token + 数据里出现过的所有字符（按 Unicode 排序），`data/vocab.json` 和种子的格式、内容完全一致；
# - 字频服从 Zipf 定律：几百个字覆盖了大部分文本，另有一批字只出现一次；
# - 坏行会被跳过并报告 `文件:行号`，无法读取的文件给出一行清楚的错误；
# - **换了数据就要重建词表，重建后编号可能变化，模型要重新训练。**
#
# 下一章：用这张词表把文字编码成编号序列（`Tokenizer`）。
