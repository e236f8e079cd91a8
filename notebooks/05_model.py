# %% [markdown]
# # 第 5 章：GPT 模型
#
# 前四章把问答文本变成了一批批 token id。本章搭建吃进这些 id、输出「下一个字」概率的模型：
# 一个 decoder-only 的 GPT（和 GPT-2 同一个结构，只是小得多）。
#
# 本章的代码在 `minigpt/model.py`，类名和参数名与种子代码完全相同（`GPTConfig`、`CausalSelfAttention`、`MLP`、
# `Block`、`Transformer`、`GPTLMHeadModel`），所以种子代码训练出的权重可以原样加载。
#
# 路线：先用几个能手算的数字理解**注意力**，再看**多头**和**掩码**，然后看种子代码里的几个 bug 会发生什么，
# 最后把完整模型搭起来，数一数参数，用真实数据跑一次前向传播。

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
import math

import matplotlib.pyplot as plt
import torch
import torch.nn as nn
import torch.nn.functional as F

from minigpt.kv_cache import KVCache
from minigpt.model import (PRESETS, CausalSelfAttention, GPTConfig, GPTLMHeadModel, config_for,
                           make_attention_mask)
from minigpt.qa_dataset import QADataset, collate_batch
from minigpt.split_data import prepare_data
from minigpt.tokenizer import Tokenizer

torch.set_printoptions(precision=4, sci_mode=False)

# %% [markdown]
# ## 1. 注意力：一个能手算的例子
#
# 每个 token 有三个向量：**查询** $q$（我在找什么）、**键** $k$（我是什么）、**值** $v$（我能提供什么）。
# token $i$ 的输出是所有值的加权平均，权重由 $q_i$ 和各个 $k_j$ 的相似度决定：
#
# $$\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{QK^\top}{\sqrt{d}}\right) V$$
#
# 除以 $\sqrt{d}$ 是为了让点积的大小不随维度 $d$ 增长，否则 softmax 会过早变成「只看一个」。

# %% [markdown]
# 取 3 个 token、$d = 4$（于是 $\sqrt{d} = 2$）：
#
# $$Q = \begin{pmatrix}1&0&1&0\\0&2&0&0\\1&1&1&1\end{pmatrix},\quad
# K = \begin{pmatrix}2&0&0&0\\0&2&0&0\\0&0&2&0\end{pmatrix},\quad
# V = \begin{pmatrix}1&0\\0&1\\3&3\end{pmatrix}$$
#
# 手算：$QK^\top = \begin{pmatrix}2&0&2\\0&4&0\\2&2&2\end{pmatrix}$，除以 2 得到分数
# $S = \begin{pmatrix}1&0&1\\0&2&0\\1&1&1\end{pmatrix}$。
#
# - 第 1 行：$\mathrm{softmax}(1, 0, 1) = \frac{1}{2e+1}(e, 1, e) \approx (0.4223, 0.1554, 0.4223)$
# - 第 2 行：$\frac{1}{e^2+2}(1, e^2, 1) \approx (0.1065, 0.7870, 0.1065)$
# - 第 3 行：三个分数相同，权重都是 $1/3$，输出是 $V$ 各行的平均 $(4/3, 4/3)$
#
# 第 1 行的输出：$0.4223\cdot(1,0) + 0.1554\cdot(0,1) + 0.4223\cdot(3,3) \approx (1.6893, 1.4223)$。

# %%
# NBVAL_CHECK_OUTPUT
Q = torch.tensor([[1., 0, 1, 0], [0, 2, 0, 0], [1, 1, 1, 1]])
K = torch.tensor([[2., 0, 0, 0], [0, 2, 0, 0], [0, 0, 2, 0]])
V = torch.tensor([[1., 0], [0, 1], [3, 3]])

scores = Q @ K.T / math.sqrt(Q.shape[-1])  # (3, 3)
weights = scores.softmax(dim=-1)  # 每一行加起来是 1
out = weights @ V  # (3, 2)
print("分数 S:\n", scores)
print("权重 softmax(S):\n", weights)
print("输出:\n", out)
assert torch.allclose(weights[0], torch.tensor([math.e, 1, math.e]) / (2 * math.e + 1))
assert torch.allclose(out[2], torch.tensor([4 / 3, 4 / 3]))

# %% [markdown]
# ## 2. 因果掩码：不许偷看后面的字
#
# 生成时模型是一个字一个字往后写的，第 $i$ 个位置只能看见位置 $0..i$。训练时我们一次喂进整句，
# 所以要用**因果掩码**把「右上角」的分数设为 $-\infty$，softmax 之后这些权重就是 0：
#
# $$S_{ij} = -\infty \quad (j > i)$$
#
# 手算：第 1 行只剩自己，权重 $(1, 0, 0)$，输出 $(1, 0)$；第 2 行在 $(0, 2)$ 上做 softmax，
# 得到 $\frac{1}{1+e^2}(1, e^2) \approx (0.1192, 0.8808)$；第 3 行本来就能看见所有字，不变。

# %%
# NBVAL_CHECK_OUTPUT
causal = torch.tril(torch.ones(3, 3, dtype=torch.bool))  # 下三角：True = 可以看
masked_weights = scores.masked_fill(~causal, float("-inf")).softmax(dim=-1)
causal_out = masked_weights @ V
print("因果权重:\n", masked_weights)
print("因果输出:\n", causal_out)

# 同样的计算，交给 PyTorch 的 scaled_dot_product_attention（模型里用的就是它）
sdpa = F.scaled_dot_product_attention(Q[None], K[None], V[None], is_causal=True)[0]
torch.testing.assert_close(sdpa, causal_out)
assert torch.allclose(causal_out[1], torch.tensor([1, math.e**2]) / (1 + math.e**2))

# %% [markdown]
# ## 3. 多头注意力
#
# 一组 $Q, K, V$ 只能表达一种「关注方式」。**多头**把 $C$ 维向量切成 $n_\text{head}$ 段，每段 $C/n_\text{head}$ 维，
# 各自做一次注意力，再拼回 $C$ 维，经过输出投影 `out_proj`：
#
# $$\mathrm{MultiHead}(x) = \mathrm{Concat}(\mathrm{head}_1, \dots, \mathrm{head}_h)\,W^O$$
#
# 模型里 `qkv_proj` 一次矩阵乘算出 $Q, K, V$，`view` + `transpose` 把形状从 `(B, T, C)` 变成 `(B, n_head, T, head_dim)`，
# 所有头一起算。下面用 for 循环一个头一个头地算，结果必须和 `CausalSelfAttention` 完全一样。

# %%
# NBVAL_CHECK_OUTPUT
torch.manual_seed(0)
small = GPTConfig(n_embd=8, n_head=2, n_layer=1, dropout=0.0, block_size=16, vocab_size=10)
attn = CausalSelfAttention(small).eval()
x = torch.randn(1, 5, 8)  # (B=1, T=5, C=8)

q, k, v = attn.qkv_proj(x).split(8, dim=-1)  # 各 (1, 5, 8)
hs = small.n_embd // small.n_head  # 每个头 4 维
mask = torch.tril(torch.ones(5, 5, dtype=torch.bool))
heads, head_weights = [], []
for h in range(small.n_head):
    part = slice(h * hs, (h + 1) * hs)  # 这个头负责的 4 维
    s = q[..., part] @ k[..., part].transpose(-2, -1) / math.sqrt(hs)  # (1, 5, 5)
    w = s.masked_fill(~mask, float("-inf")).softmax(-1)
    head_weights.append(w[0])
    heads.append(w @ v[..., part])  # (1, 5, 4)
by_hand = attn.out_proj(torch.cat(heads, dim=-1))  # 拼回 (1, 5, 8) 再投影

with torch.no_grad():
    torch.testing.assert_close(by_hand, attn(x))
print("qkv_proj:", tuple(attn.qkv_proj.weight.shape), " out_proj:", tuple(attn.out_proj.weight.shape))
print("输出形状:", tuple(attn(x).shape), "—— 和逐头计算一致")

# %%
fig, axes = plt.subplots(1, 2, figsize=(8, 3.5))
for h, ax in enumerate(axes):
    im = ax.imshow(head_weights[h].detach(), cmap="viridis", vmin=0, vmax=1)
    ax.set_title(f"head {h}: attention weights")
    ax.set_xlabel("key position j")
    ax.set_ylabel("query position i")
fig.colorbar(im, ax=axes, shrink=0.8)
plt.show()

# %% [markdown]
# 两个头看同一句话，各有一套权重。现在是随机初始化，差别还不大；训练之后，不同的头会学出不同的关注方式
# （比如一个头盯着 `<sep>`，另一个头看前一个字）。两张图的右上角都是 0——因果掩码。

# %% [markdown]
# ## 4. padding 掩码
#
# 一批句子长短不一，短的要补 `<pad>`。padding 不是内容，真实 token 不应该看它。
# `attention_mask` 里 1 = 真实 token、0 = padding（和 transformers 相同）。
# 模型把它和因果掩码合成一个布尔掩码 $(B, 1, T, S)$：**可以看 = 在左边（或自己）且不是 padding**。
#
# - **右填充**（训练）：padding 在句尾。真实 token 只看左边，本来就看不到右边的 padding——
#   所以训练时只要因果掩码就够了，真实位置的输出与加了 padding 掩码时**完全相同**；
#   padding 位置自己的输出不同，但损失函数会忽略它们（目标是 `<pad>`，`ignore_index`）。
#   模型检测到右填充时会走更快的 `is_causal` 路径。
# - **左填充**（批量生成，第 7 章）：padding 在句首，这样每一行的最后一个位置都是真实 token。
#   这时必须用显式掩码。

# %%
T = 6
right = torch.tensor([[1, 1, 1, 1, 0, 0]])  # 4 个真实 token + 2 个 padding
left = torch.tensor([[0, 0, 1, 1, 1, 1]])
panels = [("causal only", make_attention_mask(None, T)[0, 0]),
          ("right padding (training)", make_attention_mask(right, T)[0, 0]),
          ("left padding (generation)", make_attention_mask(left, T)[0, 0])]
fig, axes = plt.subplots(1, 3, figsize=(12, 4))
for ax, (title, m) in zip(axes, panels):
    ax.imshow(m, cmap="Greens", vmin=0, vmax=1)
    ax.set_title(f"{title}\n(green = may attend)")
    ax.set_xlabel("key position j")
    ax.set_ylabel("query position i")
    ax.set_xticks(range(T))
    ax.set_yticks(range(T))
plt.show()

# %% [markdown]
# 注意第三张图左上角的对角线：左填充时，padding 位置作为**查询**，左边全是 padding，一个能看的都没有。
# 整行被屏蔽时 softmax 是 $0/0$：

# %%
# NBVAL_CHECK_OUTPUT
row_scores = torch.tensor([[float("-inf"), float("-inf"), float("-inf")],
                           [0.5, 1.0, float("-inf")]])
print(row_scores.softmax(-1))  # 第一行全被屏蔽

# %% [markdown]
# 第一行是 NaN。NaN 一旦进入隐藏状态，经过下一层的注意力就会扩散。较早版本的 PyTorch 的 SDPA 在这里也返回 NaN；
# 我们测过的新版本（2.11、2.13，CPU 和 CUDA）改成了返回 0。模型不依赖这种细节：`make_attention_mask` 让每个查询
# **总能看见它自己**（图里的对角线）。padding 位置的输出因此是有限的「垃圾」，而它们本来就没人用。

# %%
# NBVAL_CHECK_OUTPUT
torch.manual_seed(0)
tiny = GPTLMHeadModel(config_for("tiny", vocab_size=20)).eval()
rows = [[5, 6, 7, 8, 9], [10, 11]]
ids = torch.tensor([[5, 6, 7, 8, 9], [0, 0, 0, 10, 11]])  # 第二行左填充
mask = torch.tensor([[1, 1, 1, 1, 1], [0, 0, 0, 1, 1]])
with torch.no_grad():
    batched = tiny(ids, mask)
    alone = tiny(torch.tensor([rows[1]]))  # 第二行单独算，不填充
print("有 NaN 吗？", torch.isnan(batched).any().item())
torch.testing.assert_close(batched[1, -2:], alone[0])
print("左填充的行 == 不填充单独算：", True)

# 右填充（训练时的样子）：模型走 is_causal 快速路径，真实位置的输出同样与单独计算一致
right_ids = torch.tensor([[5, 6, 7, 8, 9], [10, 11, 0, 0, 0]])
right_mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]])
with torch.no_grad():
    torch.testing.assert_close(tiny(right_ids, right_mask)[1, :2], alone[0])
print("右填充的行（真实位置）== 不填充单独算：", True)

# %% [markdown]
# 上面能相等，还靠一件事：**位置编号**。第二行的真实内容从第 3 个格子开始，但它是这句话的第 0 个字。
# 模型默认从 `attention_mask` 推出位置：`position_ids = cumsum(mask) - 1`（padding 处截到 0）。
# 种子代码总是用 `arange(T)`，左填充的行就会拿到错位的位置向量：

# %%
# NBVAL_CHECK_OUTPUT
print("从 mask 推出的位置:", (mask.cumsum(-1) - 1).clamp(min=0)[1].tolist())
with torch.no_grad():
    wrong = tiny(ids, mask, position_ids=torch.arange(5)[None])  # 种子的做法
diff = (wrong[1, -2:] - alone[0]).abs().max().item()
print(f"用 arange 位置时与单独计算的最大差: {diff:.2f}")
assert diff > 0.01


# %% [markdown]
# ## 5. 种子代码里的 bug
#
# 种子代码（第 6 章）的模型有两个会让程序崩溃的错误。下面用最小的复现看看它们会怎样发生。
#
# **bug 1：拼写。** `__init__` 里写的是 `self.resid_dropput`，`forward` 里用的是 `self.resid_dropout`：

# %%
# NBVAL_CHECK_OUTPUT
class SeedTypo(nn.Module):
    def __init__(self):
        super().__init__()
        self.out_proj = nn.Linear(4, 4, bias=False)
        self.resid_dropput = nn.Dropout(0.1)  # 种子代码的拼写

    def forward(self, y):
        return self.resid_dropout(self.out_proj(y))  # 用的是正确的名字


try:
    SeedTypo()(torch.randn(1, 4))
except AttributeError as e:
    print("AttributeError:", e)


# %% [markdown]
# 第一次前向传播就崩溃——所以种子代码其实从来没能训练起来。修正：统一叫 `resid_dropout`
# （这也是 state_dict 里的名字，但 Dropout 没有参数，所以不影响加载权重）。
#
# **bug 2：`y` 只在有 mask 时才赋值。** 种子把「计算注意力」整段缩进在 `if attention_mask is not None:` 里：

# %%
# NBVAL_CHECK_OUTPUT
def seed_attention(q, k, v, attention_mask=None):
    if attention_mask is not None:
        T = q.shape[-2]
        causal_mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
        attn_mask = causal_mask & attention_mask.bool()[:, None, None, :]
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
    return y  # 没有 mask 时 y 从未赋值


q = k = v = torch.randn(1, 1, 3, 4)
print("有 mask：", tuple(seed_attention(q, k, v, torch.ones(1, 3)).shape))
try:
    seed_attention(q, k, v)  # 生成时通常不传 mask
except NameError as e:  # UnboundLocalError 是 NameError 的子类
    print(f"{type(e).__name__}: {e}")

# %% [markdown]
# 训练时总会传 mask，所以这个 bug 要到生成回答时才暴露。修正：没有 mask 时用 `is_causal=True` 的因果注意力。
#
# **其它小问题：** `tokenizer.py` 里多余的 `import token`（一个无关的标准库模块）已删除；超长序列的检查从 `assert`
# 改成 `ValueError`——`python -O` 会跳过所有 `assert`，之后位置向量查表越界，报错就难懂多了：

# %%
# NBVAL_CHECK_OUTPUT
try:
    tiny(torch.zeros(1, tiny.config.block_size + 1, dtype=torch.long))
except ValueError as e:
    print("ValueError:", e)

# %% [markdown]
# `benchmarks/seed_reference.py` 保存了只修掉这两个崩溃 bug 的种子代码，测试（`tests/test_model.py`）用它检查：
# 种子的 state_dict 能原样加载进我们的模型，并且给出相同的 logits。
#
# ## 6. 完整的模型
#
# $$\text{logits} = \mathrm{LN}_f\big(\mathrm{Block}_N(\cdots\mathrm{Block}_1(\mathrm{wte}[x] + \mathrm{wpe}[p]))\big)\, W_\text{wte}^\top$$
#
# 每个 Block 是 Pre-LN 结构：$x \leftarrow x + \mathrm{Attn}(\mathrm{LN}_1(x))$，$x \leftarrow x + \mathrm{MLP}(\mathrm{LN}_2(x))$。
# 最后的 `lm_head` 和输入的词向量 `wte` **共享同一个矩阵**（权重绑定）。
#
# 先准备词表（第 1–3 章的产物；缺了就现做），再用课程默认的 `cpu` 预设建模型。

# %%
paths = prepare_data()  # data/vocab.json、train.jsonl、val.jsonl：缺了或过期了才重新生成
tokenizer = Tokenizer(str(paths["vocab"]))

# %%
# NBVAL_CHECK_OUTPUT
for name, preset in PRESETS.items():
    print(f"{name:5s} n_embd={preset.n_embd:<4d} n_head={preset.n_head} n_layer={preset.n_layer} "
          f"dropout={preset.dropout} block_size={preset.block_size}")
config = config_for("cpu", vocab_size=tokenizer.get_vocab_size())  # 预设 + 真实词表大小
print(config)

# %%
# NBVAL_CHECK_OUTPUT
torch.manual_seed(0)
model = GPTLMHeadModel(config).to(device)
print(model)

# %% [markdown]
# ## 7. 参数都在哪里
#
# 每层 Block 里：`qkv_proj` 是 $C \times 3C$（加 $3C$ 个 bias），`out_proj` 是 $C \times C$，MLP 是 $C \times 4C$ 加 $4C \times C$，
# 合计约 $12C^2$。词向量是 $V \times C$，由于和 `lm_head` 共享，只算一次。

# %%
# NBVAL_CHECK_OUTPUT
C, L, V = config.n_embd, config.n_layer, config.vocab_size
block = model.transformer.blocks[0]


def count(module):
    return sum(p.numel() for p in module.parameters())


parts = [
    ("wte 词向量（= lm_head，共享）", model.transformer.wte.weight.numel(), 1),
    ("wpe 位置向量", model.transformer.wpe.weight.numel(), 1),
    ("attn.qkv_proj（每层）", count(block.attn.qkv_proj), L),
    ("attn.out_proj（每层）", count(block.attn.out_proj), L),
    ("mlp.c_fc（每层）", count(block.mlp.c_fc), L),
    ("mlp.c_proj（每层）", count(block.mlp.c_proj), L),
    ("ln_1 + ln_2（每层）", count(block.ln_1) + count(block.ln_2), L),
    ("ln_f 最后的 LayerNorm", count(model.transformer.ln_f), 1),
]
total = sum(n * times for _, n, times in parts)
print(f"{'部分':<22}{'参数':>10}{'× 层数':>8}{'合计':>11}{'占比':>8}")
for name, n, times in parts:
    print(f"{name:<22}{n:>10,}{times:>8}{n * times:>11,}{n * times / total:>8.1%}")
print(f"{'总计':<22}{'':>10}{'':>8}{total:>11,}")
assert total == model.num_parameters()
assert model.lm_head.weight is model.transformer.wte.weight  # 权重绑定：同一个张量
print(f"\n每层约 12C² = {12 * C * C:,}（实际 {count(block):,}）；共享权重省下 {V * C:,} 个参数")

# %% [markdown]
# 这个小模型里词向量占了很大一部分。把三个预设放在一起比较（`meta` 设备只记录形状，不真正分配内存）：

# %%
# NBVAL_CHECK_OUTPUT
for name in PRESETS:
    with torch.device("meta"):
        m = GPTLMHeadModel(config_for(name, vocab_size=V))
    print(f"{name:5s} {m.num_parameters():>12,} 个参数  （不含词/位置向量 {m.num_parameters(exclude_embeddings=True):>11,}）")

# %% [markdown]
# ## 8. 用真实数据跑一次前向传播
#
# 取训练集的前 8 条，用第 4 章的 `collate_batch` 填充到这一批里最长的那条（右填充）：

# %%
dataset = QADataset(paths["train"], tokenizer, max_length=config.block_size, pad_to_max_length=False)
batch = collate_batch([dataset[i] for i in range(8)], pad_token_id=tokenizer.pad_token_id)

# %%
# NBVAL_CHECK_OUTPUT
input_ids = batch["input_ids"].to(device)
attention_mask = batch["attention_mask"].to(device)
targets = batch["targets"].to(device)
print("第 0 条:", tokenizer.decode(batch["input_ids"][0].tolist()))
print("input_ids     ", tuple(input_ids.shape))
print("attention_mask", tuple(attention_mask.shape), " 真实 token:", int(attention_mask.sum()))
model.eval()
with torch.no_grad():
    logits = model(input_ids, attention_mask)
print("logits        ", tuple(logits.shape), "= (批大小, 序列长度, 词表大小)")

# %% [markdown]
# ## 9. 初始损失应当约等于 $\ln V$
#
# 刚初始化的模型什么也没学，对每个位置的预测应当接近均匀分布：每个字的概率约 $1/V$。
# 交叉熵是正确答案概率的负对数，所以初始损失应当约为
#
# $$-\ln\frac{1}{V} = \ln V$$
#
# 明显更大，说明初始化让模型「自信地猜错」（例如初始化尺度太大）；这是训练前值得做的一次检查。
# padding 位置的目标是 `<pad>`，用 `ignore_index` 排除在损失之外。

# %%
loss = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=tokenizer.pad_token_id)
print(f"初始损失 {loss.item():.3f}   ln(V) = ln({V}) = {math.log(V):.3f}")
assert abs(loss.item() - math.log(V)) < 0.2
probs = logits.softmax(-1)
print(f"最大概率的平均值 {probs.max(-1).values.mean().item():.5f}，均匀分布是 1/V = {1 / V:.5f}")

# %% [markdown]
# ## 10. 预告：KV cache
#
# 生成时每一步只多一个字。模型的 `forward` 可以接收一个 `kv_cache`：把已经算过的键和值存起来，
# 新的一步只算新来的那个 token。结果必须和整句重算完全一样（第 7 章会用它把生成加速好几倍）：

# %%
# NBVAL_CHECK_OUTPUT
ids = input_ids[:1, :int(attention_mask[0].sum())]  # 第 0 条，去掉 padding
with torch.no_grad():
    full = model(ids)  # 整句一次算完
    cache = KVCache(config.n_layer)
    steps = [model(ids[:, :-3], kv_cache=cache)]  # 先算前面的部分
    for t in range(ids.shape[1] - 3, ids.shape[1]):  # 再一个字一个字地算
        steps.append(model(ids[:, t:t + 1], kv_cache=cache))
torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-4, rtol=1e-4)
print("缓存长度:", cache.seq_len, " 与整句计算一致:", True)

# %% [markdown]
# ## 小结
#
# - 注意力 = 用 $q \cdot k$ 算权重，对 $v$ 加权平均；除以 $\sqrt{d}$ 保持尺度；多头 = 在几个子空间里各算一次。
# - 因果掩码保证不偷看；padding 掩码屏蔽填充。右填充训练只要因果掩码；左填充生成要显式掩码，
#   并让每个查询至少能看见自己，避免 NaN；位置编号从 `attention_mask` 推出。
# - 种子代码的两个崩溃 bug（`resid_dropput`、未赋值的 `y`）已修正，权重名与种子完全一致。
# - 初始损失 ≈ $\ln V$ 说明初始化正常。下一章（`06_train.ipynb`）开始训练它。
