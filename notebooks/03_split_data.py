# %% [markdown]
# # 第 3 章　拆分训练集和验证集
#
# 模型在训练数据上的损失会一直下降，哪怕它只是在**背答案**。要知道它是否学到了能推广的东西，
# 就得留出一部分它从没见过的数据：**验证集**。训练时只用训练集更新参数，隔一段时间在验证集上算一次损失；
# 验证损失不再下降甚至上升，就说明开始过拟合了（第 6 章）。
#
# 对应模块：`minigpt/split_data.py`，命令和种子相同：
#
# ```bash
# python ./minigpt/split_data.py --input ./data/data.jsonl --train_ratio 0.8
# ```
#
# 它把 `data/train.jsonl` 和 `data/val.jsonl` 写在输入文件旁边。

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
# ## 1. 为什么一定要打乱
#
# `data/data.jsonl` 是**有序**的：按成语排列，同一个成语的几种题型挨在一起。如果直接取前 80% 训练、后 20% 验证，
# 验证集里全是训练时从没出现过的成语（而且都以某几个字开头），两部分的分布完全不同。

# %%
# NBVAL_CHECK_OUTPUT
from minigpt.jsonl import read_qa_jsonl

DATA = "./data/data.jsonl"
pairs = read_qa_jsonl(DATA)
for p in pairs[:6]:
    print(p.line, p.question, "→", p.answer)
print("...")
for p in pairs[-2:]:
    print(p.line, p.question, "→", p.answer)

# %% [markdown]
# ## 2. 种子的做法
#
# 1. 读出所有有效行，**保留原始字符串**（不重新序列化，写出去的行和输入一字不差）；
# 2. `random.seed(42)` 后 `random.shuffle`；
# 3. 前 $n_\text{train} = \lfloor n \cdot r \rfloor$ 行是训练集，其余是验证集（$r$ 是 `train_ratio`）。
#
# 种子固定，所以谁来运行、运行几次，结果都一样。本项目只改了两处：用 `random.Random(42)`
# （抽到的随机数和 `random.seed(42)` 完全一样，但不会改动调用者的全局随机状态），以及只保留**所有**读取器都接受的行
# （第 1 章的坏行规则），免得坏行经由划分文件混进训练。

# %%
from minigpt.split_data import split_jsonl_data

train_path, val_path = split_jsonl_data(DATA, train_ratio=0.8)  # 等价于上面的命令行

# %%
# NBVAL_CHECK_OUTPUT
import random

with open(DATA, encoding="utf-8") as f:
    all_lines = [line.strip() for line in f if line.strip()]
with open(train_path, encoding="utf-8") as f:
    train_lines = f.read().splitlines()
with open(val_path, encoding="utf-8") as f:
    val_lines = f.read().splitlines()

print(f"全部 {len(all_lines)}，训练 {len(train_lines)}，验证 {len(val_lines)}，训练占 {len(train_lines) / len(all_lines):.1%}")
assert len(train_lines) == int(len(all_lines) * 0.8)
assert sorted(train_lines + val_lines) == sorted(all_lines)  # 不多不少，每行恰好在一边
assert not set(train_lines) & set(val_lines)

# 用种子的原话再做一遍，结果逐行相同
random.seed(42)
seed_lines = list(all_lines)
random.shuffle(seed_lines)
assert seed_lines[: len(train_lines)] == train_lines and seed_lines[len(train_lines):] == val_lines
print("和种子的 random.seed(42) + random.shuffle 完全一致")

# %% [markdown]
# ## 3. 两边的题型比例
#
# 随机划分不保证每种题型在两边的比例相同，但样本多时会很接近。数一下额外字段 `type`：

# %%
# NBVAL_CHECK_OUTPUT
import json
from collections import Counter

train_types = Counter(json.loads(line)["type"] for line in train_lines)
val_types = Counter(json.loads(line)["type"] for line in val_lines)
print("题型" + " " * 6 + "    训练" + "    验证" + "  训练占比" + "  验证占比")  # 汉字占两格
for t in sorted(train_types):
    print(f"{t:10}{train_types[t]:8}{val_types[t]:8}{train_types[t] / len(train_lines):10.1%}{val_types[t] / len(val_lines):10.1%}")

# %% [markdown]
# ## 4. 验证集真的“没见过”吗？
#
# 按**行**划分，同一个成语的不同题型会分到两边：验证集问“画蛇添足”是什么意思，训练集里可能有它的拼音题或填空题。
# 模型在验证集上答对，有一部分是因为在训练集里见过这个成语。统计一下这种重叠：

# %%
# NBVAL_CHECK_OUTPUT
import re


def idiom_of(item):
    # 填空题的答案就是成语；其他题型的问题里用引号“”标出成语
    if item["type"] == "fill":
        return item["answer"]
    return re.search(r"“(.+?)”", item["question"]).group(1)


train_idioms = {idiom_of(json.loads(line)) for line in train_lines}
val_items = [json.loads(line) for line in val_lines]
seen = sum(idiom_of(item) in train_idioms for item in val_items)
print(f"训练集涉及 {len(train_idioms)} 个成语")
print(f"验证集 {len(val_items)} 题中，{seen} 题（{seen / len(val_items):.1%}）问的成语在训练集里以别的题型出现过")

# %% [markdown]
# 这不是错误，但要知道验证损失衡量的是什么：主要是“换一种问法还能不能答对”，而不是“完全陌生的成语”。
# 更严格的做法是**按成语分组**划分（同一个成语的所有题只进一边）。课程保留种子的按行划分，让结果可以和种子对照。

# %% [markdown]
# ## 5. 随机种子
#
# 种子相同，划分逐字节相同；换一个种子，验证集就换了一批：

# %%
# NBVAL_CHECK_OUTPUT
import hashlib
from minigpt.split_data import shuffle_and_cut

for s in (42, 42, 7):
    train, val = shuffle_and_cut(all_lines, 0.8, s)
    digest = hashlib.sha256("\n".join(val).encode()).hexdigest()[:12]
    overlap = len(set(val) & set(val_lines))
    print(f"seed={s:2}: 验证集 {len(val)} 行，sha256 {digest}…，与默认验证集重合 {overlap} 行")

# %% [markdown]
# ## 6. 参数检查
#
# `train_ratio` 必须在 0 和 1 之间（不含两端），而且两边都至少要有一条数据。
# 种子不检查：`train_ratio=1.5` 会得到一个空的验证集，第 6 章训练到验证时才出错。

# %%
# NBVAL_CHECK_OUTPUT
import tempfile
from pathlib import Path
from minigpt.jsonl import DataError

try:
    split_jsonl_data(DATA, train_ratio=1.5)
except DataError as e:
    print("DataError:", e)

with tempfile.TemporaryDirectory() as tmp:
    tiny = Path(tmp) / "tiny.jsonl"
    tiny.write_text(all_lines[0] + "\n", encoding="utf-8")
    try:
        split_jsonl_data(tiny, train_ratio=0.8, warn=lambda msg: None)
    except DataError as e:
        print("DataError:", str(e).replace(tmp, "TMP"))

# %% [markdown]
# 命令行给出同样的一行错误，退出码为 1：

# %%
# NBVAL_CHECK_OUTPUT
import subprocess, sys

r = subprocess.run([sys.executable, "./minigpt/split_data.py", "--input", DATA, "--train_ratio", "1.5"],
                   capture_output=True, text=True)
print(r.stderr.strip(), "| 退出码:", r.returncode)

# %% [markdown]
# ## 小结
#
# - 先打乱再切分：`random.seed(42)` + `shuffle`，前 $\lfloor 0.8n \rfloor$ 行训练，其余验证；结果和种子逐字节相同；
# - 两个文件写在输入旁边，覆盖已有文件时会说明；
# - 按行划分时，验证集里的大部分成语在训练集里以别的题型出现过，读验证指标时要记住这一点；
# - 比例不合理、数据太少时给出清楚的错误。
#
# 下一章：把训练集变成 PyTorch 的 `Dataset`，并解决填充浪费的问题。
