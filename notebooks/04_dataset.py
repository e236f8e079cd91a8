# %% [markdown]
# # 第 4 章　Dataset：从问答到训练样本
#
# GPT 的训练目标只有一个：**根据前面的字，预测下一个字**。一对问答编码成序列 $x_1 \dots x_L$ 后，
# 输入是 $x_1 \dots x_{L-1}$，目标是错开一位的 $x_2 \dots x_L$。损失是所有计入位置的平均负对数似然：
#
# $$\mathcal{L} = -\frac{1}{|M|} \sum_{t \in M} \log p_\theta\left(x_{t+1} \mid x_1, \dots, x_t\right),$$
#
# 其中 $M$ 是**计入损失的位置**：目标是 `<pad>` 的位置不算（种子的 `CrossEntropyLoss(ignore_index=pad)`）。
#
# 对应模块：`minigpt/qa_dataset.py`。本章：
#
# 1. 自己写一个样本（`__getitem__`）：错开一位的输入和目标、`<pad>` 目标不计入损失、只在答案上算损失；
#    证明它和包里的 `QADataset` 逐个张量相同；
# 2. 损失掩码逐字对齐；
# 3. 补齐到 128 浪费了多少计算，按批补齐和按长度分桶能省多少；自己写按批补齐的 `collate`，和包里的 `collate_batch` 对比；
# 4. `DataLoader` 的用法、截断、只在答案上算损失。
#
# 本章常说的 **epoch**（中文常叫“轮”）：把训练集的每个样本都用一遍，叫训练了一轮。

# %% [markdown]
# ### 怎么读这一章
#
# 大约 **1 小时 20 分钟**（读、运行和做练习；只读不做练习要少一半左右），完整运行一遍 15 秒（2 核 CPU）。
# 本章分两部分，每部分以练习或小测验结束，读完一部分就可以停下：
#
# | 部分 | 内容 | 练习 | 时间 |
# |---|---|---|---|
# | 一 | 第 1–2 节：一个训练样本，损失掩码 | 4.1、4.2 | 约 35 分钟 |
# | 二 | 第 3–6 节：填充浪费，DataLoader，截断，只在答案上算损失；小测验 | 4.3、4.4、4.5 | 约 45 分钟 |

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
from minigpt.split_data import prepare_data

paths = prepare_data()  # 前几章的产物：缺失或过期时现做一份

# %% [markdown]
# ## 1. 一个训练样本
#
# 先看种子的做法（包里 `QADataset` 的默认值和它一样）：每个样本补齐到 `max_length`，再错开一位，
# 得到三个长度为 `max_length - 1` 的张量：

# %%
# NBVAL_CHECK_OUTPUT
import torch
from minigpt.qa_dataset import QADataset
from minigpt.tokenizer import Tokenizer

tokenizer = Tokenizer("./data/vocab.json")
dataset = QADataset("./data/train.jsonl", tokenizer, max_length=128)
print(f"数据集大小：{len(dataset)}")

item = dataset[0]
print({k: (tuple(v.shape), v.dtype) for k, v in item.items()})
print(tokenizer.decode(item["input_ids"].tolist()))
print(tokenizer.decode(item["targets"].tolist()))

# %% [markdown]
# 两行只差一个字：目标就是输入向左挪了一位。
#
# 现在自己写。一对问答变成一个样本分四步，对应 `QADataset.__init__` 里逐对处理的那个循环（编码、截断、
# 记下问题有几个字）和 `QADataset.__getitem__`（补齐、错开、掩掉问题）：
#
# 1. 用第 2 章的 `encode` 编码（不补齐），太长就截到 `max_length`；
# 2. `pad_to_max_length=True`（种子）时先补齐到 `max_length` 再错开；`False` 时不补齐，直接错开（补齐留给第 3 节的 `collate`）；
# 3. 目标是 `<pad>` 的位置不计入损失：训练时 `cross_entropy(..., ignore_index=pad)` 跳过它们；
# 4. `answer_only_loss=True` 时，问题部分的目标也换成 `<pad>`：模型只为“回答”负责。
#
# 先做练习 4.1（错开一位）和 4.2（只在答案上算损失），再看我们的版本。

# %% [markdown]
# ### 练习 4.1　输入和目标错开一位（★）
#
# 语言模型在每个位置预测**下一个** token。一条序列 `tokens` 变成训练样本：
#
# $$\text{input\_ids} = \text{tokens}[0 : n-1],\qquad \text{targets} = \text{tokens}[1 : n]$$
#
# - 输入：`tokens`（`list[int]`，一对问答编码后的序列：`问题 <sep> 答案 <sep>`）
# - 输出：`(input_ids, targets)`，两个长度为 `n - 1` 的 `torch.long` 张量
#
# 对照：`minigpt/qa_dataset.py` 的 `QADataset.__getitem__`。卡住了运行 `hint("4.1")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch04.py)

# %%
import torch
from minigpt.exercises import check, hint


def shift(tokens):
    """tokens: list[int]，长度 n。返回 (input_ids, targets)，各是长度 n-1 的 LongTensor。"""
    raise NotImplementedError  # 在这里写你的代码

check("4.1", shift)

# %% [markdown]
# ### 练习 4.2　只在答案上算损失：目标里的问题换成 <pad>（★★）
#
# 做一个 `answer_only_loss=True` 的训练样本（不填充）：和练习 4.1 一样错开一位，然后把**预测问题部分**
# 的目标换成 `<pad>`（损失函数的 `ignore_index` 会忽略它们），模型只为“回答”负责。
#
# 想清楚边界：输入是 `<sep>` 的那个位置，目标是答案的第一个字——它要算进损失；答案最后一个字的目标是 `<sep>`——也要算。
#
# - 输入：`question`、`answer`（字符串），`tokenizer`（`minigpt.tokenizer.Tokenizer`）
# - 输出：dict，`input_ids`、`attention_mask`（全 1）、`targets`，都是长度 `n - 1` 的 `torch.long` 张量
#
# 对照：`minigpt/qa_dataset.py` 的 `QADataset.__getitem__`（`answer_only_loss=True`）。卡住了运行 `hint("4.2")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch04.py)

# %%
import torch
from minigpt.exercises import check, hint


def make_item(question, answer, tokenizer):
    """返回 {"input_ids", "attention_mask", "targets"}；问题部分的目标是 <pad>。"""
    tokens, _ = tokenizer.encode(question, answer, pad_to_max_length=False)  # 问题 <sep> 答案 <sep>
    raise NotImplementedError  # 在这里写你的代码

check("4.2", make_item)

# %% [markdown]
# 我们的版本：

# %%
PAD = tokenizer.pad_token_id


def my_item(question, answer, max_length=128, pad_to_max_length=True, answer_only_loss=False):
    tokens, _ = tokenizer.encode(question, answer, max_length, pad_to_max_length=False)
    tokens = tokens[:max_length]  # 太长就截断（和种子一样，结尾的 <sep> 随之丢失）
    n_question = min(len(question), len(tokens))  # 目标的前 n_question 个是问题的字和问题后的 <sep>
    if pad_to_max_length:  # 种子的顺序：先补齐到 max_length，再错开
        n_pad = max_length - len(tokens)
        full, mask = tokens + [PAD] * n_pad, [1] * len(tokens) + [0] * n_pad
        input_ids, attention_mask, targets = full[:-1], mask[:-1], full[1:]
    else:
        input_ids, attention_mask, targets = tokens[:-1], [1] * (len(tokens) - 1), tokens[1:]
    if answer_only_loss:
        targets = [PAD] * n_question + targets[n_question:]  # 问题部分的目标换成 <pad>：不计入损失
    return {"input_ids": torch.tensor(input_ids), "attention_mask": torch.tensor(attention_mask),
            "targets": torch.tensor(targets)}


# %% [markdown]
# 和包里的 `QADataset` 比较：四种设置（种子的补齐、不补齐、只算答案、截断到 32），训练集里每隔 10 个取一个样本
# （为了快），三个张量都要相同：

# %%
# NBVAL_CHECK_OUTPUT
settings = [dict(max_length=128), dict(max_length=128, pad_to_max_length=False),
            dict(max_length=128, pad_to_max_length=False, answer_only_loss=True), dict(max_length=32, answer_only_loss=True)]
for kwargs in settings:
    ds = dataset if kwargs == settings[0] else QADataset("./data/train.jsonl", tokenizer, warn=lambda m: None, **kwargs)
    checked = range(0, len(ds), 10)
    for i in checked:
        mine, theirs = my_item(*ds.data[i], **kwargs), ds[i]
        assert all(torch.equal(mine[k], theirs[k]) and mine[k].dtype == theirs[k].dtype for k in theirs), (i, kwargs)
    print(f"{len(checked)} 个样本逐个张量相同：{kwargs}")

# %% [markdown]
# 最后一种设置读入的少了 3 行（输出里的“跳过 3 行”）：训练集里有 3 个问题长达 31–34 个字，截到 32 个 token 后
# 问题加 `<sep>` 就占满了，一个答案字也不剩；只算答案时它们没有可学的目标，`QADataset` 跳过它们并发出警告
# （这里用 `warn=lambda m: None` 把警告关掉了）。
#
# 从这里起用包里的 `QADataset`。它还和种子的原始代码（`tests/fixtures/seed_ch1_4.py`）给出**逐个张量相同**的样本
# （同样每隔 10 个取一个来比）。
# 种子代码里有个拼写错误 `self.tokeniner`——它自己前后一致，所以能跑，但你写 `dataset.tokenizer` 时就会碰壁：

# %%
# NBVAL_CHECK_OUTPUT
import contextlib, importlib.util, io

spec = importlib.util.spec_from_file_location("seed_ch1_4", "tests/fixtures/seed_ch1_4.py")
seed = importlib.util.module_from_spec(spec)  # 把种子的原始代码当作一个模块导入（第 1 章）
spec.loader.exec_module(seed)
with contextlib.redirect_stdout(io.StringIO()):
    seed_dataset = seed.QADataset("./data/train.jsonl", seed.Tokenizer("./data/vocab.json"), 128)

checked = range(0, len(dataset), 10)
same = all(torch.equal(dataset[i][k], seed_dataset[i][k]) for i in checked for k in item)
print(f"{len(checked)} 个样本与种子逐个相同：{same}")
assert same

try:
    seed_dataset.tokenizer
except AttributeError as e:
    print("AttributeError:", e)

# %% [markdown]
# ## 2. 损失掩码：逐字对齐
#
# 拿一个短样本，把每个位置的输入字、目标字、是否计入损失排成一张表。
# 最后一列是 `answer_only_loss=True` 的情况：问题部分的目标也换成 `<pad>`。

# %%
# NBVAL_CHECK_OUTPUT
import unicodedata


def pad(s, width):
    # 左对齐到 width 个显示宽度：汉字和全角标点在等宽字体里占两格
    w = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)
    return s + " " * max(0, width - w)


answer_only = QADataset("./data/train.jsonl", tokenizer, max_length=128, answer_only_loss=True, warn=lambda m: None)
idx = next(i for i, n in enumerate(dataset.lengths) if n <= 12)  # 第一个足够短的样本
a, b = dataset[idx], answer_only[idx]
print("问答:", dataset.data[idx])
print("位置  输入    目标    mask  计入损失  只算答案")
for t in range(dataset.lengths[idx] + 2):  # 多显示两行，看看填充部分
    x, y = (tokenizer.id2word[int(v[t])].replace(" ", "␣") for v in (a["input_ids"], a["targets"]))  # ␣ 是空格
    full = "✓" if a["targets"][t] != PAD else "·"
    ans = "✓" if b["targets"][t] != PAD else "·"
    print(f"{t:4}  {pad(x, 7)} {pad(y, 7)} {int(a['attention_mask'][t]):4}  {full:^8}  {ans:^8}")

# %% [markdown]
# 几点值得注意：
#
# - 输入是 `<sep>`（问题结束）的那一行，目标是答案的第一个字：从这里起，模型要“回答”；
# - 答案最后一个字的目标是 `<sep>`：模型由此学会**停下**；
# - 种子的样本里，输入结尾的 `<sep>` 那一行 mask 仍是 1，但目标是 `<pad>`，不计入损失；再往后全是填充。
# - 填充在右边，配合因果注意力（每个位置只看它前面的字，第 5 章），真实位置永远看不到后面的 `<pad>`。

# %% [markdown]
# ---
#
# **第一部分到这里结束**（第 1–2 节和练习 4.1、4.2）。这是一个可以停下的地方。
# 下次接着读：打开 notebook，选中下面这个单元，运行它上面的所有单元（JupyterLab 菜单 Run → Run All Above Selected Cell，几秒），再往下读。
#
# **第二部分**：按批填充与分桶，省下多少计算；截断和只在答案上算损失。

# %% [markdown]
# ## 3. 填充浪费了多少计算
#
# 种子把每个样本都补齐到 128，可第 2 章看到平均长度还不到 30。三种做法（每批 32 个样本）：
#
# 1. **固定补齐**（种子）：每行 127 个位置；
# 2. **按批补齐**：`pad_to_max_length=False` 的样本，每批只补齐到这批最长的那行；
# 3. **按长度分桶**：`BucketBatchSampler` 先打乱，再在每组（50 批）内按长度排序、切批，最后打乱批的顺序。
#    同一批的样本长度相近，几乎不用补齐，而每一轮的批仍然不同。
#
# 按批补齐靠的是 `collate` 函数：`DataLoader` 取出一批样本（长短不一）后，由它在右边补齐、拼成矩形张量。
# 先自己写一个（练习 4.3）。

# %% [markdown]
# ### 练习 4.3　collate：每批只填充到这一批最长的那条（★★）
#
# `DataLoader` 把几个样本交给 `collate_fn` 拼成一批。样本长短不一，在**右边**填充到这一批里最长的那条：
# `input_ids`、`targets` 填 `pad_token_id`（目标是 `<pad>` 的位置不计损失），`attention_mask` 填 0。
#
# - 输入：`items`（列表，每项是 dict：`input_ids`、`attention_mask`、`targets`，都是一维 `torch.long` 张量），`pad_token_id`
# - 输出：dict，同样三个键，每个是 `(B, T_max)` 的 `torch.long` 张量
#
# 对照：`minigpt/qa_dataset.py` 的 `collate_batch`。卡住了运行 `hint("4.3")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch04.py)

# %%
import torch
from minigpt.exercises import check, hint


def collate(items, pad_token_id=0):
    """items: [{"input_ids", "attention_mask", "targets"}, ...]，长短不一。返回右填充后的 (B, T_max) 张量 dict。"""
    raise NotImplementedError  # 在这里写你的代码

check("4.3", collate)

# %% [markdown]
# 我们的版本，对应 `minigpt/qa_dataset.py` 的 `collate_batch`：

# %%
def my_collate(items, pad_token_id=0):
    width = max(len(it["input_ids"]) for it in items)  # 这一批最长的一行
    batch = {}
    for key in items[0]:
        fill = 0 if key == "attention_mask" else pad_token_id  # 填充位置：mask 为 0，输入和目标为 <pad>
        rows = [torch.cat([it[key], torch.full((width - len(it[key]),), fill)]) for it in items]
        batch[key] = torch.stack(rows)  # (B, T_max)
    return batch


# %% [markdown]
# 用分桶取一轮的批，前 200 批每一批都和 `collate_batch` 比较：

# %%
# NBVAL_CHECK_OUTPUT
from minigpt.qa_dataset import BucketBatchSampler, collate_batch, padding_fraction

dynamic = QADataset("./data/train.jsonl", tokenizer, max_length=128, pad_to_max_length=False, warn=lambda m: None)
lengths = dynamic.lengths
B = 32
bucket_batches = list(BucketBatchSampler(lengths, B, seed=0))
for batch in bucket_batches[:200]:
    items = [dynamic[i] for i in batch]
    mine, theirs = my_collate(items, PAD), collate_batch(items, PAD)
    assert all(torch.equal(mine[k], theirs[k]) for k in theirs)
print(f"一轮 {len(bucket_batches)} 批，前 200 批 my_collate 与 collate_batch 都逐个张量相同")

# %% [markdown]
# 模型对每个位置都要做同样的计算，所以“填充位置的占比”就是白花的算力占比。三种做法在一整轮上比一比；先预测一下：

# %% [markdown]
# ### 练习 4.4　预测：随机成批、按批补齐时，填充占多少（★）
#
# **先别运行下面的比较。** 第 2 章算过：全部补齐到 128 时，约八成的位置是 `<pad>`。
# 现在改成随机打乱后每 32 个样本一批，每批只补齐到**这一批最长的那条**。填充还占全部位置的多大比例（0 到 1）？
#
# 提示：这份数据的长度大多在 15 到 40 之间，平均不到 30，极少数超过 60。把你的预测赋给 `my_guess`，误差在 ±0.1 以内算对。
#
# 对照：`minigpt/qa_dataset.py` 的 `collate_batch`、`padding_fraction`；本节下面的比较。卡住了运行 `hint("4.4")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch04.py)

# %%
from minigpt.exercises import check, hint

my_guess = ...  # 你的预测：按批补齐时，填充占全部位置的比例（0 到 1）

check("4.4", my_guess)

# %%
# NBVAL_CHECK_OUTPUT
perm = torch.randperm(len(lengths), generator=torch.Generator().manual_seed(0)).tolist()
random_batches = [perm[i : i + B] for i in range(0, len(perm), B)]  # 普通 DataLoader(shuffle=True) 的批

useful = sum(lengths)
strategies = {
    "固定补齐到 127（种子）": (random_batches, 127),
    "按批补齐": (random_batches, None),
    "按长度分桶": (bucket_batches, None),
}
fractions = {name: padding_fraction(lengths, batches, width) for name, (batches, width) in strategies.items()}
computed = {name: round(useful / (1 - frac)) for name, frac in fractions.items()}
print(f"有用的位置：{useful:,}")
print("做法                    计算的位置    填充占比   相对计算量")
for name, frac in fractions.items():
    print(f"{pad(name, 22)} {computed[name]:12,}   {frac:8.1%}   {computed[name] / computed['按长度分桶']:8.2f}×")


# %% [markdown]
# ### 练习 4.5　填充浪费了多少计算（★★）
#
# 每一批都要算 `行数 × 宽度` 个位置，其中只有真实 token 是有用的。算出**所有批加起来**，填充占了多大比例：
#
# $$\text{waste} = 1 - \frac{\sum \text{真实 token}}{\sum_\text{批} \text{行数} \times \text{宽度}}$$
#
# 宽度：`width=None` 时每批填充到这一批最长的那条（练习 4.3）；给了整数时每行都填充到 `width`（种子的固定填充）。
#
# - 输入：`lengths`（每个样本的长度），`batches`（每批是样本下标的列表），`width`（`None` 或整数）
# - 输出：0 到 1 之间的小数
#
# 对照：`minigpt/qa_dataset.py` 的 `padding_fraction`。卡住了运行 `hint("4.5")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch04.py)

# %%
from minigpt.exercises import check, hint


def padding_waste(lengths, batches, width=None):
    """返回填充位置占全部计算位置的比例。"""
    raise NotImplementedError  # 在这里写你的代码

check("4.5", padding_waste)

# %% [markdown]
# 注意力的计算量还随长度的**平方**增长（每个位置都要和它前面所有位置打分），固定补齐在那里浪费得更多：

# %%
# NBVAL_CHECK_OUTPUT
def attention_pairs(batches, width=None):
    return sum(len(b) * (width or max(lengths[i] for i in b)) ** 2 for b in batches)


base = attention_pairs(bucket_batches)
for name, (batches, width) in strategies.items():
    print(f"{pad(name, 22)} 注意力打分 {attention_pairs(batches, width):14,}   {attention_pairs(batches, width) / base:6.2f}×")

# %% [markdown]
# 画出来：左边是一轮要算的位置（蓝色是真内容，灰色是填充），右边两张是一个随机批和一个分桶批，每行一个样本，白色是填充。

# %%
import matplotlib.pyplot as plt
import numpy as np
from minigpt.common import use_chinese_font

use_chinese_font()
labels = ["固定补齐到 127\n（种子）", "按批补齐", "按长度分桶"]
totals = np.array(list(computed.values())) / 1e4  # 以“万”为单位
fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), gridspec_kw={"width_ratios": [1.2, 1, 1]})
axes[0].bar(labels, [useful / 1e4] * 3, label="真内容", color="tab:blue")
axes[0].bar(labels, totals - useful / 1e4, bottom=useful / 1e4, label="填充", color="tab:gray")
axes[0].set(title="一轮要算的位置数", ylabel="位置数（万）")
axes[0].legend()


def mask_image(ax, batch, title):
    width = max(lengths[i] for i in batch)
    img = np.zeros((len(batch), width))
    for row, i in enumerate(batch):
        img[row, : lengths[i]] = 1
    ax.imshow(img, aspect="auto", cmap="Blues", vmin=0, vmax=1.3, interpolation="nearest")
    ax.set(title=title, xlabel="位置（白色 = 填充）", ylabel="批里的第几个样本")


mask_image(axes[1], random_batches[0], "一个随机批")
mask_image(axes[2], bucket_batches[0], "一个分桶批")
axes[2].set_xlim(axes[1].get_xlim())
plt.tight_layout()
plt.show()

# %% [markdown]
# 省下的计算在训练时就是速度：`benchmarks/README.md` 在 2 核 CPU 上实测了同一个模型的训练步，
# 课程的训练步每秒学到的有效 token 是种子训练循环的 4 倍以上。这个倍数不全归功于分桶：种子的循环还用显式掩码、
# fp32 和不融合的 AdamW（那里的“选手”一节逐项列出）；本节开头那张表里计算位置之比 4.84× 才是只由填充带来的那一份。
# 第 6 章的训练默认使用分桶。

# %% [markdown]
# ## 4. 用 `DataLoader` 取批
#
# `BucketBatchSampler` 决定每批有哪些样本，`collate_batch` 把它们在右边补齐成一个矩形张量。
# 每一轮开始前调用 `set_epoch(epoch)`：顺序只由 `(随机种子, 轮次)` 决定，可以复现，每一轮又各不相同。

# %%
# NBVAL_CHECK_OUTPUT
from torch.utils.data import DataLoader

sampler = BucketBatchSampler(dynamic.lengths, batch_size=32, seed=0)
loader = DataLoader(dynamic, batch_sampler=sampler, collate_fn=collate_batch)
print("每一轮的批数:", len(loader))
for epoch in range(2):
    sampler.set_epoch(epoch)
    for step, batch in enumerate(loader):
        if step == 3:
            break
        rows = batch["attention_mask"].sum(dim=1)
        print(f"第 {epoch} 轮 第 {step} 批: input_ids {tuple(batch['input_ids'].shape)}，各行长度 {rows.min()}–{rows.max()}")
        assert batch["input_ids"].shape[1] == rows.max()  # 只补齐到这批最长的一行

# %% [markdown]
# ## 5. 截断
#
# `max_length` 太小时，长样本会被截断，结尾的 `<sep>` 随之丢失（第 2 章）。种子对此不声不响；
# 这里的 `QADataset` 会统计截断的个数（`num_truncated`）并提示第一处所在的行：

# %%
# NBVAL_CHECK_OUTPUT
short = QADataset("./data/train.jsonl", tokenizer, max_length=32)
i = next(i for i, (q, a) in enumerate(short.data) if len(q) + len(a) + 2 > 32)
tokens = torch.cat([short[i]["input_ids"][:1], short[i]["targets"]])  # 整个序列 = 第一个输入 + 全部目标
print(tokenizer.decode(tokens))
print("被截断的样本以 <sep> 结尾吗？", short[i]["targets"][-1].item() == tokenizer.sep_token_id)

# %% [markdown]
# ## 6. 只在答案上算损失
#
# 这份数据的问题是几类固定的意思换着说法问（“……是什么意思？”“……怎么读？”），让模型学着复述问题没有多大意义，
# 而生成时问题总是现成给出的。`answer_only_loss=True` 只把答案（和它结尾的 `<sep>`）计入损失：

# %%
# NBVAL_CHECK_OUTPUT
answer_targets = QADataset("./data/train.jsonl", tokenizer, max_length=128, pad_to_max_length=False,
                           answer_only_loss=True, warn=lambda m: None)
counted_all = sum(dynamic.lengths)  # 每个样本的目标数 = 它的长度
counted_answer = sum(int((answer_targets[i]["targets"] != PAD).sum()) for i in range(len(answer_targets)))
print(f"计入损失的目标：全部 {counted_all:,}，只算答案 {counted_answer:,}（{counted_answer / counted_all:.1%}）")

# %% [markdown]
# 两种做法各有道理：种子在全部位置上训练（模型也学会了“问题长什么样”），只算答案则把学习集中在回答上。
# 第 6 章的训练可以选择其一，并在验证集上比较。

# %% [markdown]
# ## 小测验
#
# 几道概念题，检查本章的要点：选一个答案，就会看到每个选项为什么对、为什么错。

# %%
from minigpt.exercises import quiz

quiz(4)

# %%
from minigpt.exercises import show_progress

show_progress(4)

# %% [markdown]
# ## 小结
#
# - 你写了 `my_item`：编码、截断、错开一位（`input = tokens[:-1]`，`targets = tokens[1:]`）、不计入损失的目标写成
#   `<pad>`（填充，以及 `answer_only_loss` 时的问题部分）；它和 `minigpt/qa_dataset.py` 的 `QADataset` 在训练集上
#   （每 10 个取 1 个）、四种设置下逐个张量相同，也和种子的样本相同；
# - 你写了 `my_collate`：每批只补齐到最长的一行，和 `collate_batch` 逐个张量相同；
# - 你量了填充的浪费：固定补齐到 128 时大部分计算花在 `<pad>` 上，按批补齐 + 按长度分桶几乎消除了浪费；
# - `num_truncated` 告诉你 `max_length` 是否太小。
#
# 下一章：[第 5 章　GPT 模型](05_model.ipynb)，模型本身。
