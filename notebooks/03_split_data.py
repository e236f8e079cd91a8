# %% [markdown]
# # 第 3 章　拆分训练集和验证集
#
# 模型在训练数据上的损失会一直下降，哪怕它只是在**背答案**。要知道它是否学到了能推广的东西，
# 就得留出一部分它从没见过的数据：**验证集**。训练时只用训练集更新参数，隔一段时间在验证集上算一次损失；
# 验证损失不再下降甚至上升，就说明开始过拟合了（第 6 章）。
#
# 本章先自己写种子的“打乱再切分”（五行），证明它和包里的 `split_data` 写出的文件逐字节相同；
# 然后看一个按行划分藏着的问题，以及课程实际使用的**按成语分组**的划分。
#
# 对应模块：`minigpt/split_data.py`，命令和种子相同：
#
# ```bash
# python ./minigpt/split_data.py --input ./data/data.jsonl --train_ratio 0.8
# ```
#
# 它把 `data/train.jsonl` 和 `data/val.jsonl` 写在输入文件旁边。

# %% [markdown]
# ### 怎么读这一章
#
# 大约 **1 小时 15 分钟**（读、运行和做练习；只读不做练习要少一半左右），完整运行一遍 9 秒（2 核 CPU）。
# 本章分两部分，每部分以练习或小测验结束，读完一部分就可以停下：
#
# | 部分 | 内容 | 练习 | 时间 |
# |---|---|---|---|
# | 一 | 第 1–4 节：为什么打乱，种子的切分，验证集真的没见过吗 | 3.1、3.2、3.3 | 约 40 分钟 |
# | 二 | 第 5–7 节：按成语分组划分，随机种子，参数检查；小测验 | 3.4 | 约 35 分钟 |

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
# `data/data.jsonl` 是**有序**的：按成语排列，同一个成语的所有题（几种题型，每种好几个问法）挨在一起。如果直接取前 80% 训练、后 20% 验证，
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
# ## 2. 种子教程的做法：打乱再切分
#
# 1. 读出所有有效行，**保留原始字符串**（不重新解析再写出，写出去的行和输入一字不差）；
# 2. `random.seed(42)` 之后 `random.shuffle`；
# 3. 前 $n_\text{train} = \lfloor n \cdot r \rfloor$ 行是训练集，其余是验证集（$r$ 是 `train_ratio`）。
#
# 第 2 步里的 42 是**随机种子**：伪随机数生成器从它出发，算出的“随机”数列每次都一样。
# 随机种子固定，打乱的结果就固定，所以谁来运行、运行几次，划分都相同。先自己写一遍（练习 3.1）。

# %% [markdown]
# ### 练习 3.1　打乱再切分，与课程包逐行相同（★）
#
# 和种子代码一样划分：复制一份列表，用随机种子 `seed` 打乱（`random.Random(seed).shuffle`，
# 与 `random.seed(seed)` 再 `random.shuffle` 打乱的结果相同），前 $\lfloor n \times \text{train\_ratio} \rfloor$ 行作训练集，其余作验证集。
# 不要改动传进来的列表。
#
# - 输入：`lines`（`list[str]`），`train_ratio`（如 0.8），`seed`（整数）
# - 输出：`(train, val)` 两个列表
#
# 对照：`minigpt/split_data.py` 的 `shuffle_and_cut`。卡住了运行 `hint("3.1")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch03.py)

# %%
import random
from minigpt.exercises import check, hint


def split_lines(lines, train_ratio, seed):
    """返回 (train, val)：打乱后前 int(n * train_ratio) 行是训练集。"""
    raise NotImplementedError  # 在这里写你的代码

check("3.1", split_lines)

# %% [markdown]
# 我们的版本，对应 `minigpt/split_data.py` 的 `shuffle_and_cut`。和种子只差一处：用 `random.Random(seed)`
# 这个独立的生成器。它抽到的随机数和 `random.seed(seed)` 完全一样，但不会改动调用者的全局随机状态：

# %%
import random


def my_shuffle_and_cut(lines, train_ratio, seed):
    data = list(lines)  # 复制一份，不改动传进来的列表
    random.Random(seed).shuffle(data)  # 随机种子固定 → 每次打乱的顺序都一样
    n_train = int(len(data) * train_ratio)  # 向下取整
    return data[:n_train], data[n_train:]


# %% [markdown]
# 读行、切分、写文件。写法照种子：各行用 `\n` 连起来，末尾再加一个 `\n`：

# %%
# NBVAL_CHECK_OUTPUT
import tempfile
from pathlib import Path

with open(DATA, encoding="utf-8") as f:
    all_lines = [line.strip() for line in f if line.strip()]
my_train, my_val = my_shuffle_and_cut(all_lines, 0.8, seed=42)
print(f"全部 {len(all_lines)}，训练 {len(my_train)}，验证 {len(my_val)}，训练占 {len(my_train) / len(all_lines):.1%}")

my_dir = Path(tempfile.mkdtemp())  # 写到临时文件夹，免得和包写的文件混在一起
for name, lines in [("train.jsonl", my_train), ("val.jsonl", my_val)]:
    (my_dir / name).write_text("\n".join(lines) + "\n", encoding="utf-8")

# %% [markdown]
# 现在用包里的函数做同样的事（等价于上面的命令行）。它多做的是检查：只保留**所有**读取器都接受的行
# （第 1 章的坏行规则，免得坏行经由划分文件混进训练），`train_ratio` 不合理时报错（第 7 节）：

# %%
from minigpt.split_data import split_jsonl_data

train_path, val_path = split_jsonl_data(DATA, train_ratio=0.8)

# %% [markdown]
# 两边的文件逐字节相同；再用种子的原话（全局的 `random.seed(42)` + `random.shuffle`）做一遍，也逐行相同：

# %%
# NBVAL_CHECK_OUTPUT
import shutil

for name, path in [("train.jsonl", train_path), ("val.jsonl", val_path)]:
    assert (my_dir / name).read_bytes() == Path(path).read_bytes()
    print(f"{name}: 自己写的和 split_jsonl_data 写的逐字节相同（{Path(path).stat().st_size:,} 字节）")
shutil.rmtree(my_dir)

random.seed(42)
seed_lines = list(all_lines)
random.shuffle(seed_lines)
assert seed_lines[: len(my_train)] == my_train and seed_lines[len(my_train):] == my_val
print("和种子的 random.seed(42) + random.shuffle 完全一致")

train_lines, val_lines = my_train, my_val
assert sorted(train_lines + val_lines) == sorted(all_lines)  # 不多不少，每行恰好在一边

# %% [markdown]
# ## 3. 两边的题型比例
#
# 随机划分不保证每种题型在两边的比例相同，但样本多时会很接近。数一下额外字段 `type`：

# %%
# NBVAL_CHECK_OUTPUT
import json
from collections import Counter


def type_table(train_lines, val_lines):
    train_types = Counter(json.loads(line)["type"] for line in train_lines)
    val_types = Counter(json.loads(line)["type"] for line in val_lines)
    print("题型" + " " * 6 + "    训练" + "    验证" + "  训练占比" + "  验证占比")  # 汉字占两格
    for t in sorted(train_types):
        print(f"{t:10}{train_types[t]:8}{val_types[t]:8}"
              f"{train_types[t] / len(train_lines):10.1%}{val_types[t] / len(val_lines):10.1%}")


type_table(train_lines, val_lines)

# %% [markdown]
# ## 4. 验证集真的“没见过”吗？
#
# 这份数据里，每个成语都问了好几件事（意思、读音、接龙或补全），每件事又换着问法问了好几遍；
# 每条记录的 `idiom` 字段记着它问的是哪个成语。按**行**划分，同一个成语的题会散落到两边：
# 验证集问“画蛇添足”是什么意思，训练集里很可能有同一个问题的另一种问法，答案一字不差。统计这种重叠之前，先预测一下，再自己写出统计：

# %% [markdown]
# ### 练习 3.2　预测：按行划分后，验证集有多少题在训练集里换个问法就有（★）
#
# **先别运行下面的统计。** 数据里每个成语问好几件事（意思、读音、接龙或补全），每件事又换着问法问了好几遍（这些问法答案一字不差）。
# 按**行**随机划分 80% / 20% 之后，验证集里有多大比例的题，训练集里有**同一个成语、同一种题型**的另一种问法？
#
# 把你的预测（0 到 1 之间）赋给 `my_guess`，再运行。误差在 ±0.1 以内算对。
#
# 对照：`minigpt/split_data.py` 的 `shuffle_and_cut`；本节下面的统计。卡住了运行 `hint("3.2")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch03.py)

# %%
from minigpt.exercises import check, hint

my_guess = ...  # 你的预测：验证集里“训练集有同一道题的另一种问法”的题所占的比例（0 到 1）

check("3.2", my_guess)

# %% [markdown]
# ### 练习 3.3　验证集里有多少题的成语在训练集见过（★★）
#
# 按行划分时，同一个成语的不同题型会分到两边。验证集里，有多大比例的**题**问的成语在训练集里出现过？
#
# - 输入：`train_groups`、`val_groups`：训练集、验证集每道题的成语（`list[str]`，一道题一项，可以重复）
# - 输出：0 到 1 之间的小数 = 验证集里“成语在训练集出现过”的题数 ÷ 验证集题数
#
# 对照：`minigpt/split_data.py` 的 `shuffle_and_cut`（按行划分会让同一个成语分到两边）。卡住了运行 `hint("3.3")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch03.py)

# %%
from minigpt.exercises import check, hint


def seen_share(train_groups, val_groups):
    """返回验证集里成语在训练集出现过的题所占的比例（0 到 1）。"""
    raise NotImplementedError  # 在这里写你的代码

check("3.3", seen_share)

# %%
# NBVAL_CHECK_OUTPUT
def idioms(lines):
    return [json.loads(line)["idiom"] for line in lines]  # 每道题问的是哪个成语


def seen_in_train(train_lines, val_lines):
    train_idioms = set(idioms(train_lines))
    seen = sum(idiom in train_idioms for idiom in idioms(val_lines))
    return seen, seen / len(val_lines)


seen, share = seen_in_train(train_lines, val_lines)
print(f"验证集 {len(val_lines)} 题中，{seen} 题（{share:.1%}）问的成语在训练集里出现过")

train_facts = {(item["idiom"], item["type"]) for item in map(json.loads, train_lines)}
same_fact = sum((item["idiom"], item["type"]) in train_facts for item in map(json.loads, val_lines))
print(f"其中 {same_fact} 题（{same_fact / len(val_lines):.1%}）问的是同一个成语、同一种题型：训练集里换了个问法，答案完全相同")
assert seen == len(val_lines) and same_fact > 0.9 * len(val_lines)  # 小结：每道题的成语都见过，绝大多数连答案都一样

# %% [markdown]
# 这样的验证集衡量的主要是“换一种问法还认不认得”，而不是“完全陌生的成语”。
# 想知道模型对**没见过的成语**能做什么，就要**按成语分组**划分：先决定每个成语去哪一边，再把它所有的题都放过去。

# %% [markdown]
# ---
#
# **第一部分到这里结束**（第 1–4 节和练习 3.1–3.3）。这是一个可以停下的地方。
# 下次接着读：打开 notebook，选中下面这个单元，运行它上面的所有单元（JupyterLab 菜单 Run → Run All Above Selected Cell，几秒），再往下读。
#
# **第二部分**：按成语分组划分（后面各章都用它），随机种子和参数检查。

# %% [markdown]
# ## 5. 按成语分组划分
#
# `split_jsonl_data(..., group_by="idiom")`（命令行加 `--group-by idiom`）就是这样划分的，对应
# `minigpt/split_data.py` 的 `grouped_shuffle_and_cut`（练习 3.4 会让你自己写一遍）：
#
# 1. 把行按成语分组，成语按第一次出现的顺序排好；
# 2. 用随机种子 42 打乱成语的顺序，前 $\lfloor 0.8 m \rfloor$ 个成语（$m$ 是成语个数）的全部题进训练集，其余进验证集；
# 3. 用同一个随机数生成器把两边的行各自打乱，免得同一个成语的题挨在一起。

# %%
train_path, val_path = split_jsonl_data(DATA, train_ratio=0.8, group_by="idiom")

# %% [markdown]
# 再数一遍重叠：

# %%
# NBVAL_CHECK_OUTPUT
g_train = Path(train_path).read_text(encoding="utf-8").splitlines()
g_val = Path(val_path).read_text(encoding="utf-8").splitlines()
seen, share = seen_in_train(g_train, g_val)
print(f"训练 {len(g_train)} 题（{len(set(idioms(g_train)))} 个成语），验证 {len(g_val)} 题（{len(set(idioms(g_val)))} 个成语）")
print(f"验证集里成语在训练集出现过的：{seen} 题（{share:.1%}）")
assert seen == 0 and sorted(g_train + g_val) == sorted(all_lines)
type_table(g_train, g_val)

# %% [markdown]
# 没有一个成语同时在两边，题型比例也几乎不变。**课程从这里起用这种划分**：后面每一章开头调用的
# `prepare_data()` 默认就按成语分组，它发现两个文件已经是这样划分的，什么也不改；
# 第 6 章在验证集上量到的，才真是“没见过的成语”。

# %%
# NBVAL_CHECK_OUTPUT
from minigpt.split_data import prepare_data

paths = prepare_data()

# %% [markdown]
# 那么对一个完全没见过的成语，模型**可能**答对什么？不用训练模型，先从数据里看有没有线索：
#
# - **拼音**：成语没见过，但它的每个字大多在别的成语的拼音题里读过；
# - **接龙**：答案只取决于成语的最后一个字（以这个字开头的最常用成语），同一个尾字很可能在训练集的接龙题里出现过；
# - **意思**：释义是一整句话，几乎不能从字面拼出来，训练集里也几乎不会有同一句。

# %% [markdown]
# 拼音：拼音答案和成语逐字对应（第 $i$ 个音节是第 $i$ 个字的读音）。先从训练集的拼音题里收集每个字读过哪些音，
# 再看验证集拼音题的每个音节是否在里面：

# %%
# NBVAL_CHECK_OUTPUT
from collections import defaultdict

train_items = [json.loads(line) for line in g_train]
val_items = [json.loads(line) for line in g_val]

readings = defaultdict(set)  # 字 → 训练集拼音题里它的读音
for it in train_items:
    if it["type"] == "pinyin":
        for ch, syllable in zip(it["idiom"], it["answer"].split()):
            readings[ch].add(syllable)
val_syllables = [(ch, s) for it in val_items if it["type"] == "pinyin" for ch, s in zip(it["idiom"], it["answer"].split())]
pinyin_known = sum(s in readings[ch] for ch, s in val_syllables) / len(val_syllables)
print(f"拼音：验证集拼音题的音节里，{pinyin_known:.1%} 在训练集里以同一个字、同一个读音出现过")
assert pinyin_known > 0.8

# %% [markdown]
# 接龙：答案由尾字决定，所以只要看训练集的接龙题里有没有同一个尾字：

# %%
# NBVAL_CHECK_OUTPUT
chain_answer = {it["idiom"][-1]: it["answer"] for it in train_items if it["type"] == "chain"}  # 尾字 → 答案
val_chain = [it for it in val_items if it["type"] == "chain"]
chain_known = sum(chain_answer.get(it["idiom"][-1]) == it["answer"] for it in val_chain) / len(val_chain)
print(f"接龙：验证集接龙题里，{chain_known:.1%} 的尾字在训练集的接龙题里出现过（答案相同）")
assert chain_known > 0.8

# %% [markdown]
# 意思：看验证集的释义在训练集里有没有一字不差的同一句（意思相近的成语偶尔共用一条释义，比如“心如刀割”和“心如刀绞”）：

# %%
# NBVAL_CHECK_OUTPUT
train_meanings = {it["answer"] for it in train_items if it["type"] == "meaning"}
val_meaning = [it for it in val_items if it["type"] == "meaning"]
meaning_known = sum(it["answer"] in train_meanings for it in val_meaning) / len(val_meaning)
print(f"意思：验证集释义题里，{meaning_known:.1%} 的答案在训练集里一字不差地出现过")
assert meaning_known < 0.1

# %% [markdown]
# 这是线索，不是模型的成绩：拼音和接龙有线索，模型**有可能**推广到没见过的成语，但它得自己学会用；
# 意思没有线索，对没见过的成语，模型只能编一句释义，这就是“幻觉”。第 6 章训练后按题型量验证集的精确匹配，
# 看模型实际做到了多少。

# %% [markdown]
# ### 练习 3.4　按成语分组划分：没有成语同时在两边（★★★）
#
# 更严格的划分：同一个成语的所有题只进一边。每行 JSON 里的 `"idiom"` 字段记着这道题问的成语。规则（照做，判题才能逐行比较）：
#
# 1. 按成语把行分组，成语按**第一次出现的顺序**排列，组内保持原来的顺序；
# 2. `rng = random.Random(seed)`，`rng.shuffle(成语列表)`，前 $\lfloor m \times \text{train\_ratio} \rfloor$ 个成语（$m$ 是成语个数）归训练集；
# 3. 训练集 = 这些成语的行（按打乱后成语的顺序，一组一组接起来），验证集 = 其余成语的行；
# 4. 用**同一个** `rng` 接着打乱训练集，再打乱验证集。
#
# - 输入：`lines`（`list[str]`，每行一个 JSON 对象），`train_ratio`，`seed`
# - 输出：`(train, val)` 两个列表
#
# 对照：`minigpt/split_data.py` 的 `grouped_shuffle_and_cut`（`--group-by idiom`）。卡住了运行 `hint("3.4")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch03.py)

# %%
import json
import random
from minigpt.exercises import check, hint


def split_by_idiom(lines, train_ratio, seed):
    """返回 (train, val)：同一个成语的行只出现在一边。"""
    raise NotImplementedError  # 在这里写你的代码

check("3.4", split_by_idiom)

# %% [markdown]
# ## 6. 随机种子
#
# 回到按行划分的 `shuffle_and_cut`：随机种子相同，划分逐字节相同；换一个随机种子，验证集就换了一批（分组划分也一样）：

# %%
# NBVAL_CHECK_OUTPUT
import hashlib
from minigpt.split_data import shuffle_and_cut

for s in (42, 42, 7):
    train, val = shuffle_and_cut(all_lines, 0.8, s)
    digest = hashlib.sha256("\n".join(val).encode()).hexdigest()[:12]
    overlap = len(set(val) & set(val_lines))
    print(f"随机种子 {s:2}：验证集 {len(val)} 行，sha256 {digest}…，与第 2 节（随机种子 42）的验证集重合 {overlap} 行")

# %% [markdown]
# ## 7. 参数检查
#
# `train_ratio` 必须在 0 和 1 之间（不含两端），而且两边都至少要有一条数据。
# 种子不检查：`train_ratio=1.5` 会得到一个空的验证集，第 6 章训练到验证时才出错。
# 课程包在划分时就报错，说清楚错在哪。设置不对是 `ConfigError`，数据不够是 `DataError`，两者都属于
# `minigpt.cli.UserError`：学习者能造成的错误都是它，命令行只打印一行中文说明，不打印 traceback。

# %%
# NBVAL_CHECK_OUTPUT
from minigpt.cli import UserError

try:
    split_jsonl_data(DATA, train_ratio=1.5)
except UserError as e:
    print(f"{type(e).__name__}:", e)

with tempfile.TemporaryDirectory() as tmp:
    tiny = Path(tmp) / "tiny.jsonl"
    tiny.write_text(all_lines[0] + "\n", encoding="utf-8")
    try:
        split_jsonl_data(tiny, train_ratio=0.8, warn=lambda msg: None)
    except UserError as e:
        print(f"{type(e).__name__}:", str(e).replace(tmp, "TMP"))

# %% [markdown]
# 命令行给出同样的一行错误，退出码为 1：

# %%
# NBVAL_CHECK_OUTPUT
import subprocess, sys

r = subprocess.run([sys.executable, "./minigpt/split_data.py", "--input", DATA, "--train_ratio", "1.5"],
                   capture_output=True, text=True)
print(r.stderr.strip(), "| 退出码:", r.returncode)

# %% [markdown]
# ## 小测验
#
# 几道概念题，检查本章的要点：选一个答案，就会看到每个选项为什么对、为什么错。

# %%
from minigpt.exercises import quiz

quiz(3)

# %%
from minigpt.exercises import show_progress

show_progress(3)

# %% [markdown]
# ## 小结
#
# - 你写了 `my_shuffle_and_cut`：用随机种子 42 打乱，前 $\lfloor 0.8n \rfloor$ 行训练，其余验证；
#   写出的文件和 `minigpt/split_data.py` 的 `split_jsonl_data` 逐字节相同，也和种子的 `random.seed(42)` + `shuffle` 相同；
# - 按行划分时，验证集里每道题的成语都在训练集里出现过，绝大多数连答案都一样；按成语分组划分
#   （`group_by="idiom"`，`prepare_data()` 的默认，课程从此用它）后一个也没有，验证集才衡量“没见过的成语”；
# - 对没见过的成语，数据里有拼音和接龙的线索，没有释义的线索；第 6 章量训练好的模型在这几种题上的成绩；
# - 比例不合理、数据太少时给出清楚的错误。
#
# 下一章：[第 4 章　Dataset：从问答到训练样本](04_dataset.ipynb)，把训练集变成 PyTorch 的 `Dataset`，并解决填充浪费的问题。
