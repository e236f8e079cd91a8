# %% [markdown]
# # 第 6 章　训练模型
#
# 第 5 章的 GPT 还是随机权重，回答全是乱码。本章让它**学会**回答：给它看成千上万个问答对，
# 每次都问它“下一个字是什么”，答错了就按梯度把权重往对的方向推一点。
#
# 和第 5 章一样，训练的每个部件都先在 notebook 里亲手写一遍，再证明它和包里的同名函数**逐位相同**，
# 之后才用包里的版本：
#
# 1. 最小的训练循环：五行代码，在一个很小的模型上背下 32 个问答对（第 1–2 节）；
# 2. 亲手写一个训练步：只在该算的位置上算损失、学习率预热 + 余弦退火、梯度裁剪、bf16 混合精度，
#    与 `minigpt/train.py` 的 `train_step` 逐步比较（第 3 节）；
# 3. 亲手写训练循环：按长度分桶取批、每步设学习率，与包里的 `train()` 逐步比较（第 4 节）；
# 4. 亲手写评估：验证损失和精确匹配，与 `minigpt/evaluate.py` 比较（第 5 节）；
# 5. 用课程默认的 CPU 模型完整训练一次，读懂曲线和按题型的报告：它学会了什么、没学会什么（第 6–9 节）；
# 6. “我的 loss 正常吗？”、检查点与续训、命令行（第 10–12 节）。
#
# 本章对应的模块：`minigpt/train.py`（训练步、学习率、循环，命令行 `python ./minigpt/train.py`）、
# `minigpt/evaluate.py`（评估）、`minigpt/runlog.py`（指标日志）、`minigpt/checkpoint.py`（检查点）、
# `minigpt/plots.py`（画图）。

# %% [markdown]
# ### 怎么读这一章
#
# 大约 **2 小时 45 分钟**（读、运行和做练习；只读不做练习要少一半左右），完整运行一遍约 10 分钟（2 核 CPU）。
# 本章分三部分，每部分以练习或小测验结束，读完一部分就可以停下：
#
# | 部分 | 内容 | 练习 | 时间 |
# |---|---|---|---|
# | 一 | 第 1–5 节：五行的训练循环，亲手写训练步、学习率、训练循环和评估 | 6.1、6.2、6.3 | 约 85 分钟 |
# | 二 | 第 6–10 节：完整训练一次（约 10 分钟），读曲线和报告，记忆与幻觉，“我的 loss 正常吗？” | 6.4、6.5 | 约 55 分钟 |
# | 三 | 第 11–12 节：检查点，best 还是 last，续训，命令行；小测验 | — | 约 25 分钟 |

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
import contextlib
import copy
import math
import tempfile
import time
from collections import Counter

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from minigpt import evaluate, train as train_module
from minigpt.checkpoint import BEST, LAST, default_checkpoint, load_checkpoint, load_tokenizer
from minigpt.common import bf16_is_faster, use_chinese_font
from minigpt.generate import greedy_answers
from minigpt.jsonl import read_qa_jsonl
from minigpt.model import GPTLMHeadModel, config_for
from minigpt.models import build_model_for
from minigpt.plots import LivePlot, plot_metrics
from minigpt.qa_dataset import BucketBatchSampler, QADataset, collate_batch, padding_report
from minigpt.split_data import prepare_data
from minigpt.tokenizer import Tokenizer
from minigpt.train import TrainSettings, lr_at, train, train_step

use_chinese_font()  # 图里的中文标题和坐标轴
paths = prepare_data()  # 第 1、3 章的产物：词表、按成语划分的训练/验证集；缺了就现做

# %% [markdown]
# ## 1. 数据：问答对 → 训练样本
#
# 第 4 章的 `QADataset` 把一个问答对拼成 `问题 <sep> 答案 <sep>`，输入是去掉最后一个字的序列，
# 目标是去掉第一个字的序列：**每个位置的目标就是下一个字**。

# %%
# NBVAL_CHECK_OUTPUT
tokenizer = Tokenizer(str(paths["vocab"]))
pad = tokenizer.pad_token_id
V = tokenizer.get_vocab_size()
train_ds = QADataset(str(paths["train"]), tokenizer, 128, pad_to_max_length=False)
val_ds = QADataset(str(paths["val"]), tokenizer, 128, pad_to_max_length=False)
print(f"词表大小 {V}，训练集 {len(train_ds)} 对，验证集 {len(val_ds)} 对")
print(f"样本长度（token）：平均 {sum(train_ds.lengths) / len(train_ds):.1f}，最长 {max(train_ds.lengths)}")


# %% [markdown]
# ### 损失只算在哪些位置？
#
# 目标里写着 `<pad>` 的位置不参与损失（和种子代码一样，交叉熵的 `ignore_index=pad_token_id`）。
# `answer_only_loss=True` 时，问题部分的目标也换成 `<pad>`：模型只学“怎么回答”，不学“怎么提问”。
# 下面把一个样本逐字对齐打印出来：`·` 表示这个位置不算损失。

# %%
# NBVAL_CHECK_OUTPUT
def show_alignment(item, width=14):
    inp = [tokenizer.id2word[i] for i in item["input_ids"].tolist()]
    tgt = ["·" if t == pad else tokenizer.id2word[t] for t in item["targets"].tolist()]
    for start in range(0, len(inp), width):
        print("输入 ", " ".join(f"{w:^5}" for w in inp[start:start + width]))
        print("目标 ", " ".join(f"{w:^5}" for w in tgt[start:start + width]))
        print()

answer_only = QADataset(str(paths["train"]), tokenizer, 128, pad_to_max_length=False, answer_only_loss=True)
print("默认：问题和答案都算损失")
show_alignment(train_ds[1])
print("answer_only_loss=True：只有答案（和结尾的 <sep>）算损失")
show_alignment(answer_only[1])

# %% [markdown]
# ## 2. 最小的训练循环：五行
#
# 训练循环的核心只有五行，和种子训练代码里 `train_epoch` 的循环体一样：
#
# 1. 前向：`logits = model(input_ids)`，形状 `(B, T, V)`，每个位置给词表里每个字一个分数；
# 2. 损失：交叉熵 $\mathcal{L} = -\frac{1}{N}\sum_{t:\,y_t \ne \texttt{<pad>}} \log p_\theta(y_t \mid x_{\le t})$，$N$ 是不被忽略的位置数；
# 3. `optimizer.zero_grad()` 清掉上一步的梯度；
# 4. `loss.backward()` 算梯度；
# 5. `optimizer.step()` 用 AdamW 更新权重。
#
# 先用 `tiny` 预设（2 层、32 维，参数大多在词向量表里）在 32 个问答对上反复训练：损失应该稳定下降——
# 模型在“背”这 32 个问答对。

# %%
# NBVAL_CHECK_OUTPUT
torch.manual_seed(0)
# float64 只为了让打印的数字在任何机器、任何线程数下都一样（float32 的求和顺序会让第 3 位小数略有不同）
tiny = GPTLMHeadModel(config_for("tiny", V)).double()
batch = collate_batch([train_ds[i] for i in range(32)], pad)  # 右填充到这一批最长的样本
optimizer = torch.optim.AdamW(tiny.parameters(), lr=3e-3)
print(f"tiny 模型参数量 {tiny.num_parameters():,}；这一批 input_ids 形状 {tuple(batch['input_ids'].shape)}")

losses = []
for step in range(1, 61):
    logits = tiny(batch["input_ids"])  # (B, T, V)
    loss = F.cross_entropy(logits.flatten(0, 1), batch["targets"].flatten(), ignore_index=pad)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
    if step == 1 or step % 10 == 0:
        print(f"step {step:3d}  loss {loss.item():.3f}")
assert losses[-1] < losses[0] - 1, "损失应该明显下降"

# %% [markdown]
# 为什么第 1 步的损失约等于 $\ln V$（$V$ 是词表大小）？随机初始化的模型对每个字给出差不多的概率 $1/V$，
# 交叉熵就是 $-\ln(1/V) = \ln V$（第 5 章）。这是训练前最便宜的一次检查：差得远，先别往下训练。

# %%
# NBVAL_CHECK_OUTPUT
print(f"ln(V) = ln({V}) = {math.log(V):.3f}；第 1 步的损失 {losses[0]:.3f}")
assert abs(losses[0] - math.log(V)) < 0.2

# %% [markdown]
# ## 3. 亲手写一个训练步
#
# 上面的五行能训练，但还缺四样让训练又准又稳的东西。本节一样一样写出来，最后拼成 `my_train_step`，
# 和 `minigpt/train.py` 的 `train_step` 在同样的批上逐位比较。
#
# ### 3.1 损失：只算目标不是 `<pad>` 的位置
#
# `F.cross_entropy(..., ignore_index=pad)` 做的事，拆开就是三步：对每个位置做 log-softmax，
# 取出目标字的那一项，只在目标不是 `<pad>` 的位置上求平均。注意是**按 token 平均**：
# 一批里长的样本贡献的位置多，它在损失里的分量也大。先自己写（练习 6.1），再看我们的版本。

# %% [markdown]
# ### 练习 6.1　损失只算在目标不是 <pad> 的位置（★★）
#
# 训练的损失是所有**目标不是 `<pad>`** 的位置上交叉熵的平均：
#
# $$\mathcal{L} = \frac{1}{|\{(b,t): y_{bt} \ne \text{pad}\}|}\sum_{y_{bt} \ne \text{pad}} -\log \mathrm{softmax}(z_{bt})_{y_{bt}}$$
#
# `targets` 已经在数据集里错开过一位（第 4 章），这里不要再移。可以用 `F.cross_entropy` 的 `ignore_index`，也可以自己写掩码。
#
# - 输入：`logits` `(B, T, V)`，`targets` `(B, T)`（`torch.long`），`pad_token_id`
# - 输出：0 维张量（标量，能 `backward()`：`logits` 带着梯度，你返回的 loss 要连着它）
#
# 对照：`minigpt/train.py` 的 `train_step`（`F.cross_entropy(..., ignore_index=pad_token_id)`）。卡住了运行 `hint("6.1")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch06.py)

# %%
import torch
import torch.nn.functional as F
from minigpt.exercises import check, hint


def masked_loss(logits, targets, pad_token_id):
    """logits: (B, T, V)；targets: (B, T)。返回目标不是 pad 的位置上交叉熵的平均（0 维张量）。"""
    raise NotImplementedError  # 在这里写你的代码

check("6.1", masked_loss)

# %% [markdown]
# 我们的版本：

# %%
def my_masked_loss(logits, targets, pad_token_id):
    """logits: (B, T, V)；targets: (B, T)。目标不是 <pad> 的位置上交叉熵的平均。"""
    logp = logits.log_softmax(-1)  # (B, T, V)
    picked = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (B, T)：每个位置上目标字的对数概率
    keep = targets != pad_token_id  # (B, T)
    return -(picked * keep).sum() / keep.sum()


# %%
# NBVAL_CHECK_OUTPUT
with torch.no_grad():
    logits = tiny(batch["input_ids"])  # 上面训练过 60 步的 tiny 模型
mine = my_masked_loss(logits, batch["targets"], pad)
package = F.cross_entropy(logits.flatten(0, 1), batch["targets"].flatten(), ignore_index=pad)
torch.testing.assert_close(mine, package)
counted = int((batch["targets"] != pad).sum())
print(f"这一批 {batch['targets'].numel()} 个位置里有 {counted} 个算损失；两种写法一致：{mine.item():.6f}")

# %% [markdown]
# ### 3.2 学习率：先预热，再余弦退火
#
# 刚开始权重是随机的，梯度又大又乱，先用很小的学习率，在 $w$ 步里线性升到峰值 $\eta_{max}$；
# 然后沿余弦曲线慢慢降到 $\eta_{min}$：前期大步走，后期小步微调。
#
# $$\eta_t = \begin{cases} \eta_{max}\cdot\frac{t+1}{w} & t < w \\[4pt]
# \eta_{min} + \tfrac12(\eta_{max}-\eta_{min})\left(1+\cos\left(\pi\,\tfrac{t-w}{T-w}\right)\right) & t \ge w \end{cases}$$
#
# 种子代码用固定的 $10^{-4}$。`benchmarks/README.md`（“默认值是怎么选的”）比较过：对这个小模型，
# $\eta_{max}=10^{-3}$ 加短暂预热学得快得多（同样 4,000 步，训练题答对 80.0%，$10^{-4}$ 只有 4.0%），
# $2\times10^{-3}$、$3\times10^{-3}$ 反而不稳定（在旧版数据上量的）。
# 先自己写（练习 6.2），再看我们的版本。

# %% [markdown]
# ### 练习 6.2　学习率：线性预热 + 余弦退火（★★）
#
# 第 `step` 步（从 0 数）的学习率：
#
# - 预热（`step < warmup_steps`）：线性增长，$\eta = \eta_{max} \cdot \frac{step + 1}{w}$（第 0 步就不是 0）；
# - 之后：余弦退火到 $\eta_{min} = \eta_{max} \cdot$ `min_lr_ratio`，
#   $\eta_t = \eta_{min} + \tfrac12(\eta_{max}-\eta_{min})\left(1+\cos\left(\pi\,\tfrac{t-w}{T-w}\right)\right)$；
# - 超过 `total_steps`（$T$）后保持 $\eta_{min}$。
#
# 输入：`step`、`max_lr`、`warmup_steps`、`total_steps`、`min_lr_ratio`（默认 0.1）。输出：一个浮点数。
#
# 对照：`minigpt/train.py` 的 `lr_at`（练习里的函数叫 `my_lr_at`，不会盖掉它）。卡住了运行 `hint("6.2")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch06.py)

# %%
import math
from minigpt.exercises import check, hint


def my_lr_at(step, max_lr, warmup_steps, total_steps, min_lr_ratio=0.1):
    """第 step 步的学习率。"""
    raise NotImplementedError  # 在这里写你的代码

check("6.2", my_lr_at)

# %% [markdown]
# 我们的版本对应 `minigpt/train.py` 的 `lr_at`，参数从 `TrainSettings` 里取（`lr`、`warmup_steps`、`min_lr_ratio`）。

# %%
def my_lr_at(step, s, total_steps):
    if step < s.warmup_steps:
        return s.lr * (step + 1) / s.warmup_steps  # 第 0 步就不是 0
    progress = min(1.0, (step - s.warmup_steps) / max(1, total_steps - s.warmup_steps))  # 0 → 1，超过 T 后停在 1
    min_lr = s.lr * s.min_lr_ratio
    return min_lr + 0.5 * (s.lr - min_lr) * (1 + math.cos(math.pi * progress))


# %%
# NBVAL_CHECK_OUTPUT
settings = TrainSettings()
total = 4000
schedule = [my_lr_at(t, settings, total) for t in range(total + 100)]  # 也检查超过 T 之后
assert schedule == [lr_at(t, settings, total) for t in range(total + 100)]
print(f"my_lr_at 与 lr_at 在 {len(schedule)} 个步上完全相同")
print(f"第 0 步 {schedule[0]:.1e}，第 {settings.warmup_steps} 步 {schedule[settings.warmup_steps]:.1e}（峰值），"
      f"第 {total} 步 {schedule[total]:.1e}（= 峰值 × {settings.min_lr_ratio}）")

# %%
plt.figure(figsize=(7, 3))
plt.plot(schedule[:total])
plt.title(f"学习率：预热 {settings.warmup_steps} 步，再余弦退火到峰值的 {settings.min_lr_ratio:g} 倍")
plt.xlabel("步数")
plt.ylabel("学习率")
plt.show()

# %% [markdown]
# ### 3.3 梯度裁剪
#
# 偶尔有一批数据的梯度特别大，一步就能把学好的权重打乱。梯度裁剪把**所有参数的梯度连在一起**看成一个长向量，
# 算它的长度（L2 范数）$\|g\|$；超过上限 $c$（课程用 1.0）时整体缩小：
#
# $$g \leftarrow g \cdot \min\left(1,\ \frac{c}{\|g\| + 10^{-6}}\right)$$
#
# 方向不变，只是步子不迈太大。对应 `torch.nn.utils.clip_grad_norm_`，它返回裁剪**之前**的范数。

# %%
def my_clip_grad_norm_(parameters, max_norm):
    grads = [p.grad for p in parameters if p.grad is not None]
    total_norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))  # 所有梯度连成一个向量的长度
    scale = (max_norm / (total_norm + 1e-6)).clamp(max=1.0)  # 没超过上限时是 1：不变
    for g in grads:
        g.mul_(scale)
    return total_norm


# %%
# NBVAL_CHECK_OUTPUT
def tiny_grads():
    torch.manual_seed(0)
    m = GPTLMHeadModel(config_for("tiny", V))
    logits = m(batch["input_ids"])
    F.cross_entropy(logits.flatten(0, 1), batch["targets"].flatten(), ignore_index=pad).backward()
    return m

a, b = tiny_grads(), tiny_grads()  # 同一个随机种子：两份完全相同的梯度
norm_mine = my_clip_grad_norm_(list(a.parameters()), 0.1)  # 上限故意设得很小，好让裁剪真的发生
norm_torch = torch.nn.utils.clip_grad_norm_(b.parameters(), 0.1)
torch.testing.assert_close(norm_mine, norm_torch)
for pa, pb in zip(a.parameters(), b.parameters()):
    torch.testing.assert_close(pa.grad, pb.grad)
clipped = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in a.parameters()]))
print(f"裁剪前的梯度范数 {norm_mine.item():.3f} → 裁剪后 {clipped.item():.3f}；与 clip_grad_norm_ 一致")

# %% [markdown]
# ### 3.4 精度：bf16 与 autocast
#
# 训练默认用 32 位浮点数（fp32）。**bf16**（bfloat16）是一种 16 位浮点数：1 位符号、8 位指数（和 fp32 一样，
# 所以能表示同样大、同样小的数）、7 位尾数，也就是 8 位有效**二进制**数字，只相当于 2–3 位十进制有效数字。
# 存储和读写只要一半，在有 bf16 硬件指令的处理器上矩阵乘也快得多。

# %%
# NBVAL_CHECK_OUTPUT
x = torch.tensor([1 / 3, 1 + 1 / 300, 1000.7])
print("fp32:", x.tolist())
print("bf16:", x.to(torch.bfloat16).float().tolist())

# %% [markdown]
# $1 + 1/300$ 在 bf16 里就是 1：这么粗的精度存不住 AdamW 每一步那一点点更新。所以不把整个模型换成 bf16，
# 而用 **autocast**（自动混合精度）：权重保持 fp32，只在 `with torch.autocast(...)` 里面把矩阵乘换成 bf16 算；
# 算损失前再把 logits 转回 fp32（`logits.float()`），log-softmax 对精度敏感。
#
# bf16 更快吗，要看硬件：有的 CPU（带 AMX 或 AVX512-BF16 这类 bf16 矩阵指令）算 bf16 比 fp32 快好几倍，
# 没有这些指令的 CPU 只能模拟 bf16，反而慢几倍。`--dtype auto`（默认）在训练开始前**实测**一次同样大小的矩阵乘再决定
# （`minigpt/common.py` 的 `bf16_is_faster`）；GPU 上支持 bf16 就用。

# %%
print(f"{device}：bf16 autocast {'更快，训练会用它' if bf16_is_faster(device) else '不更快，训练用 fp32'}")


def my_autocast(device, dtype):
    """fp32 时什么也不做；否则矩阵乘用 dtype 算（对应 minigpt/common.py 的 autocast）。"""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


# %% [markdown]
# ### 3.5 拼起来：`my_train_step`
#
# 四样东西拼成一个训练步，形状和 `minigpt/train.py` 的 `train_step` 一行对一行。
# 批是**右填充**的（`<pad>` 都在右边），所以不传注意力掩码：因果注意力里每个真实 token 只看得见左边，
# 本来就看不到右边的 `<pad>`，每个算损失的位置都和加了掩码时完全一样，模型于是只用因果掩码（第 5 章的
# `is_causal`），不必构造填充掩码。
#
# 梯度裁剪用 PyTorch 的 `clip_grad_norm_`（上面证明了它和 `my_clip_grad_norm_` 一样），
# 损失用 `F.cross_entropy`（和 `my_masked_loss` 一样，但融合成一个算子，更快也更省内存）。

# %%
def my_train_step(model, optimizer, batch, *, pad_token_id, device, dtype=torch.float32, grad_clip=1.0):
    input_ids = batch["input_ids"].to(device)  # (B, T)，右填充
    targets = batch["targets"].to(device)  # (B, T)，不需要学的位置是 <pad>
    with my_autocast(device, dtype):
        logits = model(input_ids)  # (B, T, V)；右填充：不需要注意力掩码
    loss = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=pad_token_id)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss.detach()


# %% [markdown]
# 证明：两份一模一样的 tiny 模型，一份用 `my_train_step`，一份用包里的 `train_step`，
# 在同样的 20 批上各走 20 步（学习率按 `lr_at` 设），fp32 和 bf16 各做一次：每一步的损失、最后的每一个权重都逐位相同。

# %%
# NBVAL_CHECK_OUTPUT
def twin_steps(dtype, n_steps=20):
    torch.manual_seed(0)
    mine = GPTLMHeadModel(config_for("tiny", V))
    theirs = copy.deepcopy(mine)
    s = TrainSettings()
    opt_mine = torch.optim.AdamW(mine.parameters(), lr=s.lr, weight_decay=s.weight_decay)
    opt_theirs = torch.optim.AdamW(theirs.parameters(), lr=s.lr, weight_decay=s.weight_decay)
    losses_mine, losses_theirs = [], []
    for step, idx in zip(range(n_steps), BucketBatchSampler(train_ds.lengths, s.batch_size, seed=s.seed)):
        batch = collate_batch([train_ds[i] for i in idx], pad)
        for opt in (opt_mine, opt_theirs):
            for group in opt.param_groups:
                group["lr"] = lr_at(step, s, n_steps)
        losses_mine.append(my_train_step(mine, opt_mine, batch, pad_token_id=pad, device=torch.device("cpu"), dtype=dtype).item())
        losses_theirs.append(train_step(theirs, opt_theirs, batch, pad_token_id=pad, device=torch.device("cpu"), dtype=dtype).item())
    same_weights = all(torch.equal(p, q) for p, q in zip(mine.parameters(), theirs.parameters()))
    return losses_mine == losses_theirs, same_weights

for dtype in (torch.float32, torch.bfloat16):
    same_losses, same_weights = twin_steps(dtype)
    print(f"{str(dtype).replace('torch.', ''):9s} 20 步的损失逐位相同：{same_losses}；最后的权重逐位相同：{same_weights}")
    assert same_losses and same_weights

# %% [markdown]
# ## 4. 亲手写训练循环
#
# ### 4.1 按长度分桶：别把算力花在 `<pad>` 上
#
# 种子代码把每个样本都填充到 128 个 token。成语问答平均只有二十几个字，大部分计算都花在 `<pad>` 上。
# 第 4 章的 `BucketBatchSampler` 把长度相近的样本放进同一批，每批只填充到这一批里最长的那个：
# 每一轮先打乱，每 50 批的样本按长度排序后切成批，再打乱批的顺序。顺序只由（随机种子，第几轮）决定。

# %%
# NBVAL_CHECK_OUTPUT
sampler = BucketBatchSampler(train_ds.lengths, 32, seed=TrainSettings.seed)
report = padding_report(train_ds.lengths, list(sampler))
kept = (1 - report["seed_waste"]) / (1 - report["waste"])  # 分桶后要算的 token 数 / 种子代码要算的
print(f"有用的 token：{report['useful_tokens']:,}")
print(f"种子代码（固定 128）：{report['seed_waste']:.1%} 的计算花在 <pad> 上")
print(f"分桶 + 每批填充到最长：{report['waste']:.1%} 花在 <pad> 上")
print(f"每一轮要算的 token 只剩种子代码的 {kept:.1%}（少了 {1 - kept:.1%}）→ 约 {1 / kept:.1f} 倍的有效吞吐")

# %% [markdown]
# ### 4.2 循环：取批 → 设学习率 → 训练一步
#
# 下面的 `my_train` 就是 `minigpt/train.py` 里 `training_loop` 的骨架（包里的版本还要计时、评估、保存、
# 处理 Ctrl-C 和多进程，见第 11 节）：
#
# - 优化器 AdamW，`weight_decay=0.01`，`fused=True`（CPU 和 CUDA 上）：每个参数的整个更新在一个内核里一次算完，
#   而不是十来个逐元素运算各把参数和动量扫一遍内存；算的是同一个公式，768×6 的模型上一次更新快 5 倍
#   （包里是 `make_optimizer`）；
# - 开始前 `torch.manual_seed(seed)`：初始化之外的随机性（dropout）也可复现；
# - 每一轮 `sampler.set_epoch(epoch)` 换一个批的顺序，“轮”（epoch）就是把训练集完整地过一遍；
# - 每一步按 `lr_at` 设学习率，再调用训练步。

# %%
def my_train(model, train_ds, max_steps, s, device=torch.device("cpu"), dtype=torch.float32):
    """返回每一步的训练损失。对应 minigpt/train.py 的 prepare + resume_or_start + training_loop。"""
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=s.weight_decay,
                                  fused=device.type in ("cpu", "cuda"))
    sampler = BucketBatchSampler(train_ds.lengths, s.batch_size, shuffle=True, seed=s.seed)
    torch.manual_seed(s.seed)
    losses, step, epoch = [], 0, 0
    while step < max_steps:
        sampler.set_epoch(epoch)
        for idx in sampler:
            if step == max_steps:
                break
            batch = collate_batch([train_ds[i] for i in idx], pad)
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, s, max_steps)
            loss = my_train_step(model, optimizer, batch, pad_token_id=pad, device=device, dtype=dtype, grad_clip=s.grad_clip)
            losses.append(loss.item())
            step += 1
        epoch += 1
    return losses


# %% [markdown]
# 证明：同一个初始化的 tiny 模型，一份交给 `my_train`，一份交给包里的 `train()`（就是命令行
# `python ./minigpt/train.py` 背后的函数），各训练 100 步。为了让 100 步就看得出下降，预热缩短到 10 步、
# 峰值学习率 $3\times10^{-3}$（两边一样）。`train()` 返回的 `History` 就是每一步的训练损失。

# %%
# NBVAL_CHECK_OUTPUT
demo = TrainSettings(lr=3e-3, warmup_steps=10)
torch.manual_seed(0)
model_mine = GPTLMHeadModel(config_for("tiny", V))
model_package = copy.deepcopy(model_mine)

my_losses = my_train(model_mine, train_ds, 100, demo)
with tempfile.TemporaryDirectory() as folder:
    history = train(model_package, tokenizer, paths["train"], paths["val"], max_steps=100, lr=demo.lr,
                    warmup_steps=demo.warmup_steps, output_dir=folder, device="cpu", dtype="fp32", resume=False,
                    tensorboard_dir=None, progress=False, verbose=False, eval_every=10**9,
                    eval_samples=4, final_eval_samples=4, val_loss_samples=32)
print(f"100 步，每一步的损失逐位相同：{my_losses == list(history)}")
print(f"最后的权重逐位相同：{all(torch.equal(p, q) for p, q in zip(model_mine.parameters(), model_package.parameters()))}")
assert my_losses == list(history)

# %%
print("前 5 步：", [round(x, 3) for x in my_losses[:5]])
print("后 5 步：", [round(x, 3) for x in my_losses[-5:]])
plt.figure(figsize=(7, 3))
plt.plot(range(1, 101), my_losses)
plt.title("tiny 模型：my_train 的训练损失（与 train() 逐位相同）")
plt.xlabel("步数")
plt.ylabel("交叉熵")
plt.show()

# %% [markdown]
# 曲线在下降，但一步一步跳得厉害：每个点只是**一批** 32 个问答对上的损失，而分桶让同一批里都是长度相近的样本——
# 第 7 节会看到，长度相近往往意味着题型相同，而不同题型的难度差得很远。

# %% [markdown]
# ## 5. 亲手写评估
#
# ### 5.1 验证损失
#
# 训练损失只看一批；验证损失在一组**固定的**验证问答对上算，每次评估都用同一组，前后才能比较。
# 先把所有目标 token 的交叉熵**加起来**，最后除以 token 总数：这样结果与怎么分批无关。
# 按长度排序后再分批（填充最少），右填充，不需要掩码。对应 `minigpt/evaluate.py` 的 `validation_loss`。

# %%
@torch.no_grad()
def my_validation_loss(model, dataset, indices, *, pad_token_id, batch_size=64):
    was_training = model.training
    model.eval()  # 关掉 dropout
    order = sorted(indices, key=lambda i: dataset.lengths[i])
    total, count = 0.0, 0
    for start in range(0, len(order), batch_size):
        batch = collate_batch([dataset[i] for i in order[start:start + batch_size]], pad_token_id)
        logits = model(batch["input_ids"])  # (B, T, V)
        total += F.cross_entropy(logits.float().flatten(0, 1), batch["targets"].flatten(),
                                 ignore_index=pad_token_id, reduction="sum").item()
        count += (batch["targets"] != pad_token_id).sum().item()
    model.train(was_training)
    return total / count


# %%
# NBVAL_CHECK_OUTPUT
indices = list(range(0, len(val_ds), 8))  # 每 8 个验证问答对取一个
mine = my_validation_loss(model_mine, val_ds, indices, pad_token_id=pad)
package = evaluate.validation_loss(model_mine, val_ds, indices, pad_token_id=pad, device=torch.device("cpu"),
                                   dtype=torch.float32)
print(f"{len(indices)} 个验证问答对：my_validation_loss 与 validation_loss 逐位相同：{mine == package}")
assert mine == package

# %% [markdown]
# ### 5.2 精确匹配：会不会答，而不只是损失低
#
# 损失低不等于会回答。**精确匹配**（exact match）：让模型对问题**贪心地**生成回答（每一步取概率最大的字，
# 第 7 章亲手写这个生成循环），和参考答案**一字不差**才算对。再按题型分开统计，并给一个宽松些的
# **逐字准确率**：有多少位置的字对了（拼音按音节比，也就是成语里的每个字；长度不同的部分算错）。
# 先自己写精确匹配（练习 6.3），再看我们的版本。

# %% [markdown]
# ### 练习 6.3　精确匹配：一字不差才算对（★）
#
# 损失低不等于会答题。**精确匹配**（exact match）：模型对第 $i$ 题的回答和第 $i$ 题的参考答案一字不差
# （标点、空格、大小写都算）的题所占的比例。
#
# - 输入：`preds`（模型的回答，`list[str]`），`refs`（参考答案，同样长）
# - 输出：0 到 1 之间的小数
#
# 对照：`minigpt/evaluate.py` 的 `exact_match_report`（`p == r.answer`）。卡住了运行 `hint("6.3")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch06.py)

# %%
from minigpt.exercises import check, hint


def exact_match(preds, refs):
    """返回 preds[i] == refs[i] 的比例。"""
    raise NotImplementedError  # 在这里写你的代码

check("6.3", exact_match)

# %% [markdown]
# 我们的版本，对应 `minigpt/evaluate.py` 的 `char_accuracy` 和 `exact_match_report`。

# %%
def my_char_accuracy(pred, ref):
    if " " in ref:  # 拼音：按音节比
        pred, ref = pred.split(), ref.split()
    if not pred and not ref:
        return 1.0
    return sum(a == b for a, b in zip(pred, ref)) / max(len(pred), len(ref))


def my_exact_match_report(model, tokenizer, records, *, device=torch.device("cpu"), dtype=torch.float32):
    longest = max(len(tokenizer.encode_text(r.answer)) for r in records)
    preds = greedy_answers(model, tokenizer, [r.question for r in records], max_new_tokens=longest + 1,
                           device=device, dtype=dtype)  # 回答最多比最长的参考答案多 1 个字
    by_type = {}
    for r, p in zip(records, preds):
        t = by_type.setdefault(r.type, {"n": 0, "correct": 0, "char_acc_sum": 0.0})
        t["n"] += 1
        t["correct"] += p == r.answer
        t["char_acc_sum"] += my_char_accuracy(p, r.answer)
    return {
        "n": len(records),
        "exact_match": sum(p == r.answer for r, p in zip(records, preds)) / len(records),
        "by_type": {name: {"n": t["n"], "exact_match": t["correct"] / t["n"], "char_acc": t["char_acc_sum"] / t["n"]}
                    for name, t in sorted(by_type.items())},
        "examples": [{"question": r.question, "answer": r.answer, "predicted": p, "type": r.type}
                     for r, p in zip(records, preds)],
    }


# %% [markdown]
# 拿仓库自带的训练好的模型（`checkpoints/minigpt-idiom.pth`，第 7 章用它）来比较，才有答对的题可数：

# %%
# NBVAL_CHECK_OUTPUT
shipped, shipped_meta = load_checkpoint("checkpoints/minigpt-idiom.pth")
shipped_tok = load_tokenizer(shipped_meta)
quiet = dict(warn=lambda message: None, summary=False)
train_pairs = read_qa_jsonl(paths["train"], **quiet)
val_pairs = read_qa_jsonl(paths["val"], **quiet)
records = train_pairs[:48] + val_pairs[:48]
assert all(my_char_accuracy(p, r) == evaluate.char_accuracy(p, r)
           for p, r in [("yī sī yī hao", "yī sī yī háo"), ("画蛇添足", "画蛇添"), ("", "")])
mine = my_exact_match_report(shipped, shipped_tok, records)
package = evaluate.exact_match_report(shipped, shipped_tok, records, device=torch.device("cpu"))
print(f"{len(records)} 道题：my_exact_match_report 与 exact_match_report 完全相同：{mine == package}")
assert mine == package
print(f"精确匹配 {mine['exact_match']:.1%}；按题型：",
      "，".join(f"{k} {v['exact_match']:.0%}" for k, v in mine["by_type"].items()))

# %% [markdown]
# ---
#
# **第一部分到这里结束**（训练的每个部件：第 1–5 节和练习 6.1–6.3）。这是一个可以停下的地方。
# 下次接着读：打开 notebook，选中下面这个单元，运行它上面的所有单元（JupyterLab 菜单 Run → Run All Above Selected Cell，约 1 分钟），再往下读。
#
# **第二部分**：用包里的 `train()` 完整训练一次（约 10 分钟），读懂它学会了什么、没学会什么。

# %% [markdown]
# ## 6. 真正的训练：课程默认的 CPU 模型
#
# 部件都写过、都证明过了，从这里开始用包里的 `train()`。它就是上面的 `my_train`，外加：
#
# - 打印分桶后的 padding 比例，测几步的速度后**估计总用时**；
# - 每隔一段评估一次：验证损失，以及三组题各 100 道的精确匹配（第 5 节的两个函数）：训练题、
#   换个问法问训练过的成语（“换问法”，第 8 节细说）、验证题（没见过的成语）；
# - 把 `last_model.pth`（最后的权重，可续训）和 `best_model.pth`（验证损失最低的那一次）写进输出目录，
#   指标写进 `metrics.jsonl`（`minigpt/runlog.py`），TensorBoard 日志写进 `runs/ch06`。
#
# 模型是 `cpu` 预设：4 层、256 维、4 个头，约 390 万参数（第 5 章）。训练的设置就是命令行的默认值
# （`TrainSettings`：每批 32 对，峰值学习率 $10^{-3}$，预热 100 步，余弦退火到 $10^{-4}$，梯度裁剪 1.0），
# 只是步数固定为 4,000（约 3.3 轮；空闲的 2 核 CPU 上每步约 0.12 秒，连评估十分钟左右；机器忙时慢得多：
# 存下的这次运行和别的程序抢 CPU，开头测速每步 1.3 秒，连评估一共 31 分钟）。仓库自带的模型（`checkpoints/minigpt-idiom.pth`，第 7 章用它）用同样的设置训练得更久（步数见 `checkpoints/README.md`），第 11 节把它和你这次训练的结果放在一起比。
#
# 输出写到 `output/ch06/`：第 7 章、命令行 `python ./minigpt/generate.py` 和游乐场默认就会找到它（下面会验证）。
# 快速模式（测试）只跑 20 步，写到临时文件夹，不碰你的 `output/`。

# %%
FULL_STEPS = 4000  # 约 3.3 轮；仓库自带的模型训练得更久
OUT_ROOT = Path(tempfile.mkdtemp()) if FAST else Path(".")
out_dir = OUT_ROOT / "output" / "ch06"
model = build_model_for("gpt", "cpu", V)  # 和命令行一样：torch.manual_seed(42) 后初始化
print(f"cpu 预设：{model.config}，参数量 {model.num_parameters():,}")

# %% [markdown]
# 训练之前先预测一件事：优化器要占多少内存（练习 6.4）。

# %% [markdown]
# ### 练习 6.4　预测：AdamW 为这个模型多存了多少 MB（★）
#
# **先别往下运行。** 本章训练的是 `cpu` 预设的 GPT，参数个数是上面打印的 `model.num_parameters()`（不到 400 万，float32）。
# AdamW 除了参数本身，还要为**每个参数**记住一些状态。这些状态一共占多少 MiB（$2^{20}$ 字节）？
#
# 把你的预测赋给 `my_guess`，误差在 ±20% 以内算对。
#
# 对照：`torch.optim.AdamW` 的 `state`（`exp_avg`、`exp_avg_sq`）；`minigpt/model.py` 的 `num_parameters`。卡住了运行 `hint("6.4")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch06.py)

# %%
from minigpt.exercises import check, hint

my_guess = ...  # 你的预测：AdamW 的状态一共多少 MiB

check("6.4", my_guess)

# %%
t0 = time.time()
history = train(
    model, tokenizer, paths["train"], paths["val"],
    max_steps=20 if FAST else FULL_STEPS,
    output_dir=out_dir, resume=False, tensorboard_dir=None if FAST else "runs/ch06",
    eval_samples=10 if FAST else 100, final_eval_samples=20 if FAST else 500,
    callback=LivePlot(every=5 if FAST else 200),
)
minutes = (time.time() - t0) / 60
assert history[-1] < history[0]

# %% [markdown]
# 上面的进度条是一个 Jupyter 控件：在 GitHub 上或重新打开的 notebook 里，它只显示存档时的样子（常常是“0%”）。
# 下面用文字再说一遍这次训练：

# %%
tail = history[-100:]
print(f"训练了 {len(history)} 步（{len(history) / math.ceil(len(train_ds) / 32):.1f} 轮），"
      f"用时 {minutes:.1f} 分钟（含评估）")
print(f"训练损失：第 1 步 {history[0]:.3f}（ln V = {math.log(V):.3f}），最后 100 步平均 {sum(tail) / len(tail):.3f}")
print(f"评估了 {len(history.evals)} 次；最后的验证损失 {history.evals[-1]['val_loss']:.4f}，"
      f"最低 {min(e['val_loss'] for e in history.evals):.4f}")
adam = torch.load(out_dir / LAST, weights_only=True)["train_state"]["optimizer"]["state"]  # 每个参数张量一份状态
moments = [t for s in adam.values() for t in s.values() if torch.is_tensor(t) and t.dim() > 0]  # 不算 0 维的步数 step
adam_mib = sum(t.numel() * t.element_size() for t in moments) / 2**20
print(f"AdamW 的状态（exp_avg、exp_avg_sq 各一份，和参数一样大）：{adam_mib:.2f} MiB（练习 6.4）")

# %% [markdown]
# ### 第 7 章会用到你训练的模型吗？
#
# `minigpt.checkpoint.default_checkpoint()` 在 `output/`（命令行写的）和 `output/ch06/`（本 notebook 写的）里找你训练的模型，
# 每个文件夹取 `last_model.pth`（最后的权重；为什么不是 `best_model.pth`，第 11 节会量给你看），有几个就用最新的；
# 都没有才用仓库自带的 `checkpoints/minigpt-idiom.pth`。
# 第 7 章的游乐场、`python ./minigpt/generate.py` 都调用它。验证一下它找到的正是刚才写下的文件：

# %%
found = default_checkpoint(roots=[OUT_ROOT])
assert found.resolve().parent == out_dir.resolve()
print("找到的正是本章刚训练的模型：", found.resolve().parent == out_dir.resolve())

# %% [markdown]
# ## 7. 训练曲线怎么读
#
# 左：训练损失（每 10 步记一个点）和验证损失；右：训练题、验证题上的精确匹配。

# %%
plot_metrics(out_dir / "metrics.jsonl", title="cpu 预设")
plt.show()

# %% [markdown]
# ### 训练损失为什么跳得这么厉害？
#
# 记下的训练损失是**那一步那一批** 32 个问答对上的损失，不是平均值；验证损失是 1000 个固定验证问答对的平均。
# 一批和一批之间差很多，主要不是随机的：分桶把长度相近的样本放进同一批，而长度和题型关系很大——训练集里
# 拼音和释义的问答对平均 27.6 和 26.2 个字，接龙和补全的回答只有四个字，整对平均 18.6 和 16.6 个字。所以一批里
# 往往是某一种题占多数（下面第一行：最多的那种平均占一半多），而不同题型难度差得很远，“这一批多是哪种题”
# 就左右了这一步的损失。用训练好的模型把第一轮的前 120 批各算一次损失，按每批里最多的那种题型分组：

# %%
pair_types = [p.type for p in train_pairs]
assert len(pair_types) == len(train_ds)
model.eval()
rows = []
with torch.no_grad():
    for idx in list(BucketBatchSampler(train_ds.lengths, 32, seed=TrainSettings.seed))[:120]:
        b = collate_batch([train_ds[i] for i in idx], pad)
        loss = F.cross_entropy(model(b["input_ids"].to(device)).float().flatten(0, 1), b["targets"].to(device).flatten(),
                               ignore_index=pad).item()
        kind, count = Counter(pair_types[i] for i in idx).most_common(1)[0]
        rows.append((kind, count / len(idx), loss))
share = sum(r[1] for r in rows) / len(rows)
print(f"一批里最多的那种题型平均占 {share:.0%}")
for kind in sorted({r[0] for r in rows}):
    ls = [r[2] for r in rows if r[0] == kind]
    print(f"主要是 {kind:8s}的批：{len(ls):3d} 批，损失平均 {sum(ls) / len(ls):.3f}（{min(ls):.3f} – {max(ls):.3f}）")

# %% [markdown]
# 所以单独一步的训练损失比验证损失高或低都不奇怪；看趋势要看平滑后的曲线，或者看验证损失。
#
# ### 过拟合：看到了什么，没看到什么
#
# 验证集是**从没见过的成语**（第 3 章按成语划分）。验证损失先降后升，说明过了某一步以后，模型对没见过的成语
# 越来越**自信地猜错**：它在背训练集里的释义，背得越熟，对新成语编出的释义越笃定。这就是过拟合的信号。
#
# 但它**没有**说明模型变差了：训练题的精确匹配一路上升，验证题的精确匹配也没有跟着验证损失回升而下降，
# 反而从 0–1% 涨到了 5% 左右——主要是接龙（只看最后一个字，再接一个学过的、以这个字开头的成语）。
# `best_model.pth` 是验证损失最低的那一步，不等于“最会回答的那一步”（第 11 节量给你看）。

# %% [markdown]
# ## 8. 按题型的精确匹配：背下了问题，还是学会了成语？
#
# 数据里有四种题（见 `data/README.md`）：释义 `meaning`、拼音 `pinyin`、接龙 `chain`、补全 `fill`。
# 同一个成语的同一个事实，在训练数据里用好几种问法出现（“X是什么意思？”“X 啥意思”“释义：X”……）。
# 最终报告在三组题上各评估 500 道，每组回答一个问题：
#
# - **训练**：训练过的成语，训练时见过的问法。背下来了吗？
# - **换问法**：训练过的成语，用一族训练中**从没出现过**的问法来问（`data/heldout_phrasings.jsonl`，
#   比如“我在书上读到“X”，该怎么理解”：提示词和句式都是新的）。模型认出的是成语和题型，还是只认得问题的字符串？
# - **验证**：没见过的成语（第 3 章按成语划分）。能不能从规律推出来？
#
# “验证逐字”是没见过的成语上的逐字准确率（拼音按音节）。

# %%
final = history.final
print(evaluate.format_report(final["metrics"]))
em = final["metrics"]["exact_match"]
if not FAST:
    assert em["train"] > em["heldout"] > em["val"]  # 背下的问法 > 换个问法 > 没见过的成语

# %% [markdown]
# 4,000 步以后（存下的这次运行）：
#
# - **训练**：训练时见过的问法答对 81.6%。释义（93.9%）和接龙（98.9%）差不多背熟了，读音只有 51.0%——
#   拼音要一个音节一个音节地背，4,000 步还不够；
# - **换问法**：同样的成语换一种从没见过的问法，答对 46.0%。接龙（82.1%）和释义（61.7%）换了问法大多还认得，
#   读音只有 14.5%：模型认出的不只是问题字符串，但还没有全认出来；
# - **验证**：没见过的成语只答对 5.0%，几乎全靠接龙（22.8%）。
#
# 和第 3 章第 5 节的线索比一比：那里不训练模型，只看数据，验证集接龙题有 89.5% 的尾字在训练集的接龙题里出现过
# （答案相同），拼音题 92.3% 的音节以同一个字、同一个读音读过，释义只有 4.1% 一字不差地见过。模型只用上了
# 一部分线索：接龙 22.8%（线索允许 89.5%）；拼音整题只对 0.6%，按音节算 28.2%（线索允许 92.3%）——四个音节
# 全对才算对，而它还没学会一个字一个字地读；释义 2.6%，在线索给的 4.1% 以内。
#
# 仓库自带的模型用同样的设置训练了 9,000 步，这三组题上是 99.6%、73.0%、9.2%（第 11 节）：多训练几轮，
# 背下的和换个问法认得的都还会涨。

# %% [markdown]
# ## 9. 记忆与幻觉
#
# 同一个模型，分别问**训练时见过的**问题和**没见过的**成语（验证集）。见过的大多答对——它在背书；
# 下面两道读音题还没背熟：四个音节都只对了第一个。没见过的成语：
#
# - 接龙偶尔答得对（上表 22.8%）：只要认出最后一个字，再接一个学过的、以这个字开头的成语；下面的两个例子都没接对
#   （“随时随地”接了以“时”开头的“时过境迁”，不是以最后一个字“地”开头）；
# - 读音只对了不到三成的音节（“不可思议”读成 bù kě kě cháng），有时连题型都认错（问“义愤填膺怎么读”，答了一个成语）；
# - 补全一题都没答对：有时填上一个学过的、开头一样的成语（“面面*到”→“面不改色”），有时填出来的连成语都不是
#   （“__斤计较”→“无可 无故”）；
# - 释义全错，可错的样子值得细看：格式学到了（以“指”“形容”开头、以“。”结尾），用的也是释义里常见的说法
#   （训练集里有好几条释义以“形容说话做事”开头）。下面两个回答都不是训练集里的原句，是模型一个字一个字接出来的：
#   “形容说话做事只有一点儿非常小。”读着像一句释义，只是说的不是“有意无意”；“指大略有告大量，而知道一点声势。”
#   连句子都不通。模型没见过这个成语，又不会说“我不知道”，就把最像答案的字一个个接下去。这就是语言模型的**幻觉**
#   （hallucination）在这个小模型上的样子：错的回答用的是对的回答的语气和格式，乍一看像那么回事。

# %%
def show(examples, kinds=("meaning", "pinyin", "chain", "fill"), per_kind=2):
    for kind in kinds:
        for ex in [e for e in examples if e["type"] == kind][:per_kind]:
            mark = "✓" if ex["predicted"] == ex["answer"] else "✗"
            print(f"{mark} [{kind}] {ex['question']}\n    模型：{ex['predicted']}\n    答案：{ex['answer']}")

print("===== 训练集里的问题（见过）=====")
show(final["train"]["examples"])
print("\n===== 验证集里的问题（没见过的成语）=====")
show(final["val"]["examples"])
if not FAST:
    assert final["metrics"]["by_type"]["val"]["meaning"]["exact_match"] < 0.05  # 没见过的释义几乎全错

# %% [markdown]
# ## 10. 我的 loss 正常吗？
#
# 训练自己的模型时最常见的问题。`minigpt.diagnose` 只看损失曲线（加上词表大小 $V$，用来算 $\ln V$），
# 认出几种典型的毛病：停在 $\ln V$ 附近不动、出现 NaN、一下子掉到接近 0、学习率太大（剧烈跳动或发散）、
# 训练在降而验证在升（过拟合），并说该检查什么。先看你刚才这次训练：

# %%
from minigpt.diagnose import print_diagnosis

findings = print_diagnosis(history, vocab_size=V)

# %% [markdown]
# 它认出了第 7 节看到的过拟合，但没有叫你换成 `best_model.pth`：按成语划分时，验证损失回升说的是模型给没见过的成语
# 编答案时越来越笃定，而不是答对的题变少了。哪一个检查点答得更好，要在同样的题上量精确匹配（第 11 节量给你看）。
#
# 再看一个埋了 bug 的训练：目标**没有错开一位**（`targets = input_ids`）。模型只要把输入原样抄出来，
# 损失掉得飞快：tiny 模型 150 步就从 7.5 掉到 0.85 左右，而上面正常的训练（cpu 预设）到第 2,400 步才降到 1 左右。
# 看起来“训练得太好了”，其实什么也没学会：生成时下一个字根本不在输入里。诊断在它掉到 $\ln V$ 的 10% 以下时报警
# （输出里说是哪一步）。

# %%
def leaky_loss_curve(n_steps=150):
    torch.manual_seed(0)
    m = GPTLMHeadModel(config_for("tiny", V))
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    curve = []
    for step, idx in zip(range(n_steps), BucketBatchSampler(train_ds.lengths, 32, seed=0)):
        b = collate_batch([train_ds[i] for i in idx], pad)
        leaky = {"input_ids": b["input_ids"], "targets": b["input_ids"].masked_fill(b["targets"] == pad, pad)}  # bug
        curve.append(my_train_step(m, opt, leaky, pad_token_id=pad, device=torch.device("cpu")).item())
    return curve

leaky = leaky_loss_curve()
print(f"损失：第 1 步 {leaky[0]:.2f} → 第 {len(leaky)} 步 {leaky[-1]:.3f}")
findings = print_diagnosis(leaky, vocab_size=V)
assert [f.kind for f in findings] == ["instant_zero"]

# %% [markdown]
# ### 练习 6.5　我的 loss 正常吗？诊断并修好一个埋了 bug 的训练步（★★★）
#
# 下面的 `my_train_step` 里埋了一个 bug。先运行这个单元格：`tiny_training` 用它把一个很小的 GPT（词表 20 个字）训练 30 步，
# `print_diagnosis` 读这条 loss 曲线，说它像哪种病、该查什么。然后改好 `my_train_step`，再运行一次，直到诊断说曲线正常、判题通过。
#
# - 输入：`model`、`optimizer`（AdamW）、`input_ids`、`targets`（`(B, T)`，右填充，目标 `<pad>` = 0 不计损失）
# - 输出：这一步的 loss（`float`）。不做梯度裁剪。判题比较整条 30 步的 loss 曲线。
#
# 对照：`minigpt/train.py` 的 `train_step`；`minigpt/diagnose.py` 的 `diagnose_loss`。卡住了运行 `hint("6.5")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch06.py)

# %%
import torch
import torch.nn.functional as F
from minigpt.diagnose import print_diagnosis
from minigpt.exercises import check, hint
from minigpt.exercises.ch06 import tiny_training


def my_train_step(model, optimizer, input_ids, targets):
    """一步训练，返回这一步的 loss（float）。这里埋了一个 bug。"""
    logits = model(input_ids)  # (B, T, V)
    loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=0)
    loss.backward()
    optimizer.zero_grad()
    optimizer.step()
    return loss.item()

losses = tiny_training(my_train_step)  # 用你的 my_train_step 训练 30 步
print(f"loss：第 1 步 {losses[0]:.3f} → 第 30 步 {losses[-1]:.3f}")
print_diagnosis(losses, vocab_size=20)

check("6.5", my_train_step)

# %% [markdown]
# ---
#
# **第二部分到这里结束**（第 6–10 节和练习 6.4、6.5）。这是一个可以停下的地方。
# 下次接着读：打开 notebook，选中下面这个单元，运行它上面的所有单元（JupyterLab 菜单 Run → Run All Above Selected Cell，约 10 分钟：第 6 节的训练要重跑一遍），再往下读。
#
# **第三部分**：检查点，和哪一个对话（best 还是 last），中断后续训，命令行。

# %% [markdown]
# ## 11. 检查点：保存、加载、续训
#
# 一个检查点文件里有：权重、模型配置、**词表**（和它的哈希）、步数、最近的评估结果；`last_model.pth` 还有
# 优化器状态、学习率计划、所有随机数生成器的状态，以及数据读到了第几轮第几批。
# 文件先写到同目录的临时文件再 `os.replace` 改名，所以中途崩溃不会留下半个文件；
# 读取用 `torch.load(..., weights_only=True)`：只允许张量和基本容器，不执行文件里的任何代码。

# %%
raw = torch.load(out_dir / LAST, weights_only=True)
print("检查点里的键：", sorted(raw))
print("续训状态：", sorted(raw["train_state"]))
best, metadata = load_checkpoint(out_dir / BEST)  # 按存下的配置重建模型，已经是 eval 模式
print(f"{BEST}：第 {metadata['step']} 步，验证损失 {metadata['metrics']['val_loss']:.4f}，词表哈希 {metadata['vocab_hash'][:12]}…")
print(f"{LAST}：第 {raw['step']} 步，验证损失 {raw['metrics']['val_loss']:.4f}")
assert load_tokenizer(metadata).vocab_hash == tokenizer.vocab_hash


# %% [markdown]
# ### 和哪一个对话：`best_model.pth` 还是 `last_model.pth`？
#
# `best_model.pth` 是验证损失最低的那一步（种子代码的做法），`last_model.pth` 是最后的权重。
# 在最终报告的同样三组题上比一比它们的精确匹配（用 fp32，和对话时一样）；再加上仓库自带的模型：
# 同样的设置、同样的划分，只是训练了更多步。

# %%
n_final = 20 if FAST else 500
heldout_pairs = evaluate.taught_heldout(read_qa_jsonl("data/heldout_phrasings.jsonl", **quiet), train_pairs)
same_questions = {"训练": evaluate.sample(train_pairs, n_final, TrainSettings.seed + 2),  # 最终报告用的同一批题
                  "换问法": evaluate.sample(heldout_pairs, n_final, TrainSettings.seed + 4),
                  "验证": evaluate.sample(val_pairs, n_final, TrainSettings.seed + 3)}
assert [r.question for r in same_questions["验证"]] == [e["question"] for e in final["val"]["examples"]]
last, last_meta = load_checkpoint(out_dir / LAST)
contenders = {BEST: (best, metadata, tokenizer), LAST: (last, last_meta, tokenizer),
              "仓库自带": (shipped, shipped_meta, shipped_tok)}
compare = {}
for name, (ckpt, meta, tok) in contenders.items():
    compare[name] = {k: evaluate.exact_match_report(ckpt, tok, recs, device=torch.device("cpu"))["exact_match"]
                     for k, recs in same_questions.items()}
    print(f"{name}：第 {meta['step']:,} 步，验证损失 {meta['metrics']['val_loss']:.4f}；精确匹配 "
          + "，".join(f"{k} {compare[name][k]:.1%}" for k in same_questions))
if not FAST:
    assert compare[LAST]["训练"] >= compare[BEST]["训练"] and compare[LAST]["换问法"] >= compare[BEST]["换问法"]

# %% [markdown]
# 对话要用最后的权重：比起 `best_model.pth`，它背下的成语多得多（81.6% 对 5.8%），换个问法也认得多得多（46.0% 对 4.0%）。验证损失最低的那一步（第 1,200 步）
# 来得早，那时训练过的成语还没背熟；之后验证损失回升，是因为模型给没见过的成语编释义时越来越笃定（本章第 7 节），
# 这并不妨碍它回答学过的成语——连没见过的成语，也是最后的权重答对得多（5.0% 对 1.2%）。
# 所以 `default_checkpoint()`（第 7 章、命令行、游乐场）取每个文件夹的 `last_model.pth`；`best_model.pth` 照样保存，
# 它回答的是另一个问题：“哪一步给没见过的成语的参考答案的概率最高”。
#
# 仓库自带的模型训练得更久，训练过的成语背得更熟；想要一样好的模型，就多训练几步
# （`python ./minigpt/train.py --max-steps …`，第 12 节）。

# ### 中断后接着训练，结果和不中断完全一样
#
# 在训练中按 Ctrl-C（或者在 Jupyter 里点“中断”），`train()` 会先保存 `last_model.pth` 再返回；
# 同样的调用再运行一次就从断点接着训练。因为随机数状态和数据顺序也存下来了，接着训练得到的损失和
# 一口气训练完**逐位相同**。下面用 tiny 模型验证：一次训练 12 步；另一次在第 6 步“按下 Ctrl-C”，再续训到 12 步。

# %%
# NBVAL_CHECK_OUTPUT
def tiny_run(folder, **kw):
    torch.manual_seed(0)
    m = GPTLMHeadModel(config_for("tiny", V, dropout=0.1))  # dropout：随机数状态也要恢复
    return train(m, tokenizer, paths["train"], paths["val"], max_steps=12, output_dir=folder, device="cpu", dtype="fp32",
                 tensorboard_dir=None, progress=False, verbose=False, eval_every=1000, final_eval_samples=4,
                 val_loss_samples=32, **kw)

def ctrl_c_at_step_6(step, loss, history):
    if step == 6:
        raise KeyboardInterrupt  # 和在键盘上按 Ctrl-C 一样

with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
    straight = tiny_run(a)
    first = tiny_run(b, callback=ctrl_c_at_step_6)
    resumed = tiny_run(b)  # 同样的调用：发现 last_model.pth，从第 6 步接着训练
print(f"一口气训练 {len(straight)} 步；中断前 {len(first)} 步（interrupted={first.interrupted}）；续训后共 {len(resumed)} 步")
print("每一步的损失逐位相同：", list(straight) == list(resumed))
assert list(straight) == list(resumed)

# %%
for step, (x, y) in enumerate(zip(straight, resumed), 1):
    print(f"step {step:2d}  一口气 {x:.6f}  续训 {y:.6f}{'   ← 从这里开始是续训' if step == 7 else ''}")

# %% [markdown]
# ## 12. 命令行
#
# 本章的一切也可以在终端里做（`--help` 列出所有参数）：
#
# ```bash
# python ./minigpt/train.py                          # 默认：cpu 预设，CPU 上训练 15 分钟，输出到 output/
# python ./minigpt/train.py --max-steps 4000         # 固定步数（本章上面的设置）
# python ./minigpt/train.py --preset seed --lr 3e-4  # 种子代码的 768×6（适合 GPU）；实测 1e-3 对它太大，3e-4 只是起点
# python ./minigpt/train.py --arch qwen3             # 第 8 章的 Qwen3 结构，同样的训练循环
# torchrun --nproc_per_node=2 ./minigpt/train.py     # 多进程数据并行：每个进程一份模型、各算一部分批，再平均梯度
# tensorboard --logdir runs                          # 看 TensorBoard 曲线
# python -m minigpt.plots output/metrics.jsonl --out curves.png
# python -m minigpt.diagnose output/metrics.jsonl --vocab data/vocab.json   # 我的 loss 正常吗？
# ```
#
# 训练被中断（Ctrl-C 或进程被杀）后，再运行同样的命令就会从 `output/last_model.pth` 接着训练，并说明从第几步开始；
# `--no-resume` 从头开始（并提示哪些文件会被覆盖）。换了词表再续训会报错并说明怎么办。
#
# ### 再试试（和本章一样 4,000 步，2 核 CPU 上每个十分钟到半小时，看机器忙不忙；用 `--max-steps 1000` 先看趋势）
#
# - 只学答案：`python ./minigpt/train.py --max-steps 4000 --answer-only-loss --output-dir output/answer_only`，
#   比较最终报告里各题型的精确匹配，特别是“换问法”那一列；
# - 种子代码的学习率：`python ./minigpt/train.py --max-steps 4000 --lr 1e-4 --output-dir output/lr1e-4`，
#   精确匹配差多少？验证损失呢？
#
# `benchmarks/README.md` 的“默认值是怎么选的”一节有我们在这份数据上量出的结果（4,000 步），可以对答案。
# 那里的默认一行和本章第 8 节的总数只差一两个百分点（那里 80.0% / 47.6% / 5.2%，本章 81.6% / 46.0% / 5.0%），
# 单个题型差得多一些（训练题的补全 65.7% 对 80.0%）：机器不同，浮点运算的顺序就不同，4,000 步后的权重也就不完全一样。
# 差这么多是正常的，比的是几种设置之间谁高谁低。
# 不同的 `--output-dir` 不会覆盖本章的 `output/ch06/`。

# %% [markdown]
# ## 小测验
#
# 几道概念题，检查本章的要点：选一个答案，就会看到每个选项为什么对、为什么错。

# %%
from minigpt.exercises import quiz

quiz(6)

# %%
from minigpt.exercises import show_progress

show_progress(6)

# %% [markdown]
# ## 小结
#
# 你在本章亲手写了训练的每个部件，并证明它们与包里的相同：
#
# | 你写的 | 对应模块里的 | 证明 |
# |---|---|---|
# | `my_masked_loss` | `F.cross_entropy(..., ignore_index=pad)`（`train.py` 的 `train_step`） | 同一批 logits，损失相同 |
# | `my_lr_at` | `train.py` 的 `lr_at` | 4100 个步上逐个相同 |
# | `my_clip_grad_norm_` | `torch.nn.utils.clip_grad_norm_` | 范数和裁剪后的梯度相同 |
# | `my_train_step` | `train.py` 的 `train_step` | fp32、bf16 各 20 步，损失和权重逐位相同 |
# | `my_train` | `train.py` 的 `train()`（`training_loop`） | 100 步的损失逐位相同 |
# | `my_validation_loss` | `evaluate.py` 的 `validation_loss` | 逐位相同 |
# | `my_char_accuracy`、`my_exact_match_report` | `evaluate.py` 的 `char_accuracy`、`exact_match_report` | 报告完全相同 |
#
# - 训练循环的核心只有五行；让它又准又稳的是：只在该算的位置算损失、预热 + 余弦退火、梯度裁剪、按实测选精度，
#   再加上分桶省掉大部分 `<pad>` 计算。
# - 记下的训练损失是一批的损失，跳得厉害是因为分桶让一批里多是同一种题型；看趋势看验证损失。
# - 精确匹配比损失更能说明“会不会答”；按题型拆开看，才知道模型擅长什么、不擅长什么。
# - 4,000 步后，训练过的成语用见过的问法答对八成多（读音背得最慢），换个问法不到一半；没见过的成语只有接龙偶尔答对，
#   读音只对不到三成的音节，释义只能编。多训练（仓库自带的模型 9,000 步）这些数都还会涨。
#
# 下一章用训练好的模型生成回答：[第 7 章　生成回答](07_generate.ipynb)
