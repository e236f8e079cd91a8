# %% [markdown]
# # 第 5 章　GPT 模型
#
# 前四章把问答文本变成了一批批 token id。本章搭建吃进这些 id、为“下一个字”打分的模型：一个
# **decoder-only**（只有解码器）的 GPT，和 GPT-2 同一个结构，只是小得多。
#
# “只有解码器”是相对最初的 Transformer（2017 年的机器翻译模型）说的。它有两半：**编码器**读原文，每个位置都能看见
# 整句；**解码器**逐字写译文，每个位置只能看见自己和左边已经写出的字。GPT 只留下解码器这一半（连同它“回头看编码器”
# 的那部分也去掉）：问题和答案拼成一条序列，模型只做一件事——根据左边所有的字，预测下一个字。
#
# 模型在每个位置输出一个长度为词表大小 $V$ 的向量，叫 **logits**：词表里每个字一个分数，分数越高，越可能是下一个字。
# logits 还不是概率，做一次 softmax（$p_i = e^{z_i} / \sum_j e^{z_j}$）才变成加起来等于 1 的概率。
#
# 本章的每个部件都先在 notebook 里亲手写一遍，再和 `minigpt/model.py` 里对应的部件比对，证明完全一样；之后就用包里的
# 版本。模块里的类名和参数名与种子代码相同（`GPTConfig`、`CausalSelfAttention`、`MLP`、`Block`、`Transformer`、
# `GPTLMHeadModel`），所以种子代码保存的权重可以原样加载。
#
# 路线：
#
# 1. 注意力：手算一个 3×3 的例子，再加上因果掩码、多头、padding 掩码（第 1–4 节）；
# 2. 其余部件：LayerNorm、GELU、MLP、带残差连接的 Block（第 5–7 节）；
# 3. 整个 GPT：结构图、权重绑定、GPT-2 初始化；你写的 GPT 装上包里模型的权重，输出一模一样（第 8–9 节）；
# 4. 用这个模型看左填充、种子代码的 bug、参数分布、初始损失和 KV cache（第 10–14 节）。
#
# 每道练习都放在它要你写的那段代码**之前**：先自己写，判题通过（或者用过提示 `hint("5.N")`）之后再往下读，
# 看我们的版本，并证明它和包里的相同。练习按出现的顺序编号。

# %% [markdown]
# ### 怎么读这一章
#
# 大约 **2 小时 45 分钟**（读、运行和做练习；只读不做练习要少一半左右），完整运行一遍 15 秒（2 核 CPU）。
# 本章分三部分，每部分以练习或小测验结束，读完一部分就可以停下：
#
# | 部分 | 内容 | 练习 | 时间 |
# |---|---|---|---|
# | 一 | 第 1–4 节：注意力，因果掩码，多头，padding 掩码 | 5.1、5.2 | 约 65 分钟 |
# | 二 | 第 5–9 节：LayerNorm，GELU 和 MLP，残差与 Block，整个 GPT，证明与包里相同 | 5.3、5.4 | 约 55 分钟 |
# | 三 | 第 10–14 节：左填充，种子代码的 bug，参数量，初始损失，KV cache 预告；测验 | 5.5、5.6 | 约 45 分钟 |

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
import unicodedata

import matplotlib.pyplot as plt
import torch
import torch.nn as nn
import torch.nn.functional as F

from minigpt.checkpoint import load_checkpoint, load_tokenizer
from minigpt.common import use_chinese_font
from minigpt.model import (MLP, PRESETS, Block, CausalSelfAttention, GPTConfig, GPTLMHeadModel, config_for,
                           make_attention_mask)
from minigpt.qa_dataset import QADataset, collate_batch
from minigpt.split_data import prepare_data
from minigpt.tokenizer import Tokenizer

use_chinese_font()  # 图里的中文标题和坐标轴
torch.set_printoptions(precision=4, sci_mode=False)


def width(s):
    # 显示宽度：汉字和全角标点在等宽字体里占两格（第 2、4 章用过同样的办法）
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


def pad(s, w):  # 左对齐到 w 个显示宽度
    return s + " " * max(0, w - width(s))


def rpad(s, w):  # 右对齐到 w 个显示宽度
    return " " * max(0, w - width(s)) + s

# %% [markdown]
# ## 1. 注意力：一个能手算的例子
#
# 每个 token 有三个向量：**查询** $q$（我在找什么）、**键** $k$（我是什么）、**值** $v$（我能提供什么）。
# token $i$ 的输出是所有值的加权平均，权重由 $q_i$ 和各个 $k_j$ 的相似度（点积）决定：
#
# $$\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{QK^\top}{\sqrt{d}}\right) V$$
#
# 点积是 $d$ 项之和，维度 $d$ 越大，数值通常越大。除以 $\sqrt{d}$ 让分数的大小不随维度增长，
# 否则 softmax 会过早变成“只看一个”。

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
# 所以要用**因果掩码**把“右上角”的分数设为 $-\infty$，softmax 之后这些权重就是 0：
#
# $$S_{ij} = -\infty \quad (j > i)$$
#
# 手算：第 1 行只剩自己，权重 $(1, 0, 0)$，输出 $(1, 0)$；第 2 行在 $(0, 2)$ 上做 softmax，
# 得到 $\frac{1}{1+e^2}(1, e^2) \approx (0.1192, 0.8808)$；第 3 行本来就能看见所有字，不变。
#
# PyTorch 把这几步（打分、除以 $\sqrt{d}$、掩码、softmax、对 $V$ 加权平均）做成了一个函数
# `F.scaled_dot_product_attention`，即“缩放点积注意力”（scaled dot-product attention，下文简称 **SDPA**）。
# 它会按设备挑最快的实现（比如 FlashAttention 内核），`is_causal=True` 让它自己生成因果掩码。模型里用的就是它。
# 只有一个例外：在 CPU 上训练时，包里的模型按上面的公式自己算（`minigpt/model.py` 的 `causal_attention`）。我们的句子只有
# 几十个字，这么短的序列上 SDPA 的 CPU 融合内核反向传播反而慢（`benchmarks/README.md` 有实测）；两种算法的结果在浮点误差内相同。

# %%
# NBVAL_CHECK_OUTPUT
causal = torch.tril(torch.ones(3, 3, dtype=torch.bool))  # 下三角：True = 可以看
masked_weights = scores.masked_fill(~causal, float("-inf")).softmax(dim=-1)
causal_out = masked_weights @ V
print("因果权重:\n", masked_weights)
print("因果输出:\n", causal_out)

# 同样的计算交给 SDPA：结果必须一样
sdpa = F.scaled_dot_product_attention(Q[None], K[None], V[None], is_causal=True)[0]
torch.testing.assert_close(sdpa, causal_out)
assert torch.allclose(causal_out[1], torch.tensor([1, math.e**2]) / (1 + math.e**2))

# %% [markdown]
# ### 练习 5.1　滑动窗口的因果注意力：只看最近的 window 个位置（★★）
#
# 上面写的因果注意力让位置 $i$ 看见 $0..i$ 的所有位置。长文本的模型（如 Mistral）常用**滑动窗口**：
# 位置 $i$ 只看见自己和它前面的 `window - 1` 个位置，即 $i - \text{window} < j \le i$：
#
# $$\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{QK^\top}{\sqrt{d}} + M\right) V,\qquad
# M_{ij} = \begin{cases}0 & i - \text{window} < j \le i\\ -\infty & \text{其他}\end{cases}$$
#
# - 输入：`q`、`k` 形状 `(B, nh, T, hs)`，`v` 形状 `(B, nh, T, hv)`（$d$ = `hs`），`window`（≥ 1 的整数）
# - 输出：`(B, nh, T, hv)`，dtype 与输入相同。`window ≥ T` 时就是普通的因果注意力。
# - 不要调用 `F.scaled_dot_product_attention`；判题拿它（带 `attn_mask`）的结果作期望值。第 1 个用例是本章开头手算的例子。
#
# 对照：`minigpt/model.py` 的 `CausalSelfAttention.forward`（因果的版本：`is_causal=True`）。卡住了运行 `hint("5.1")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch05.py)

# %%
import math
import torch
from minigpt.exercises import check, hint


def my_attention(q, k, v, window):
    """q, k: (B, nh, T, hs)；v: (B, nh, T, hv)。位置 i 只看 i-window < j <= i。返回 (B, nh, T, hv)。"""
    raise NotImplementedError  # 在这里写你的代码

check("5.1", my_attention)

# %% [markdown]
# ## 3. 多头注意力
#
# 一组 $Q, K, V$ 只能表达一种“关注方式”。**多头**把 $C$ 维向量切成 $n_\text{head}$ 段，每段 $C/n_\text{head}$ 维，
# 各自做一次注意力，再拼回 $C$ 维，经过输出投影 $W^O$（代码里叫 `out_proj`）：
#
# $$\mathrm{MultiHead}(x) = \mathrm{Concat}(\mathrm{head}_1, \dots, \mathrm{head}_h)\,W^O$$
#
# $Q, K, V$ 都由输入 $x$ 线性变换得到；模型用一个 `qkv_proj` 一次矩阵乘算出三者。先自己写一个（练习 5.2）。

# %% [markdown]
# ### 练习 5.2　多头因果自注意力（CausalSelfAttention.forward）（★★★）
#
# 用 `attn` 的权重写出整个多头注意力层：
#
# 1. `attn.qkv_proj(x)` 一次算出 $Q, K, V$（按 q、k、v 的顺序拼在最后一维），各 `(B, T, C)`；
# 2. 拆成 `nh = attn.config.n_head` 个头：`(B, T, C)` → `(B, nh, T, hs)`，`hs = C // nh`；
# 3. 每个头做带因果掩码的缩放点积注意力（可以用练习 5.1 的函数、`window` 取 `T`，或 `F.scaled_dot_product_attention`）；
# 4. 拼回 `(B, T, C)`，经过 `attn.out_proj`。
#
# - 输入：`attn`（`minigpt.model.CausalSelfAttention`，dropout 为 0）、`x` 形状 `(B, T, C)`
# - 输出：`(B, T, C)`。不要直接调用 `attn(x)`。
#
# 对照：`minigpt/model.py` 的 `CausalSelfAttention.forward`。卡住了运行 `hint("5.2")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch05.py)

# %%
import math
import torch
import torch.nn.functional as F
from minigpt.exercises import check, hint


def my_mha(attn, x):
    """attn: CausalSelfAttention；x: (B, T, C)。返回 (B, T, C)。"""
    raise NotImplementedError  # 在这里写你的代码

check("5.2", my_mha)

# %% [markdown]
# 我们的版本。先用 for 循环一个头一个头地算，
# 看清每一步；包里的 `CausalSelfAttention` 必须给出完全一样的结果。

# %%
# NBVAL_CHECK_OUTPUT
torch.manual_seed(0)
small = GPTConfig(n_embd=8, n_head=2, n_layer=1, dropout=0.0, block_size=16, vocab_size=10)
attn = CausalSelfAttention(small).eval()  # 包里的注意力层，随机初始化
x = torch.randn(1, 5, small.n_embd)  # (B=1, T=5, C=8)

q, k, v = attn.qkv_proj(x).split(small.n_embd, dim=-1)  # 各 (1, 5, C)
hs = small.n_embd // small.n_head  # 每个头的维数：8 / 2 = 4
mask = torch.tril(torch.ones(5, 5, dtype=torch.bool))
heads, head_weights = [], []
for h in range(small.n_head):
    part = slice(h * hs, (h + 1) * hs)  # 这个头负责的那几维
    s = q[..., part] @ k[..., part].transpose(-2, -1) / math.sqrt(hs)  # (1, 5, 5)
    w = s.masked_fill(~mask, float("-inf")).softmax(-1)
    head_weights.append(w[0].detach())
    heads.append(w @ v[..., part])  # (1, 5, hs)
by_hand = attn.out_proj(torch.cat(heads, dim=-1))  # 拼回 (1, 5, C) 再投影

with torch.no_grad():
    torch.testing.assert_close(by_hand, attn(x))
print("qkv_proj:", tuple(attn.qkv_proj.weight.shape), " out_proj:", tuple(attn.out_proj.weight.shape))
print("输出形状:", tuple(attn(x).shape), "—— 和逐头计算一致")

# %%
fig, axes = plt.subplots(1, 2, figsize=(8, 3.5))
for h, ax in enumerate(axes):
    im = ax.imshow(head_weights[h], cmap="viridis", vmin=0, vmax=1)
    ax.set_title(f"第 {h} 个头的注意力权重")
    ax.set_xlabel("键的位置 j")
    ax.set_ylabel("查询的位置 i")
fig.colorbar(im, ax=axes, shrink=0.8)
plt.show()

# %% [markdown]
# 两个头看同一句话，各有一套权重。现在是随机初始化，差别还不大；训练之后，不同的头会学出不同的关注方式
# （比如一个头盯着 `<sep>`，另一个头看前一个字）。两张图的右上角都是 0——这就是因果掩码。
#
# 循环好懂，但慢。模块里的写法把所有头放进同一个张量一起算：`view` 把 $C$ 维拆成 `(n_head, head_dim)`，
# `transpose` 把头的维度挪到前面，形状从 `(B, T, C)` 变成 `(B, n_head, T, head_dim)`，SDPA 对每个头各算一次。
# 下面这个类和 `minigpt/model.py` 的 `CausalSelfAttention` 一行对一行（`__init__` 和 `forward`），
# 只省掉了第 7 章才用到的 KV cache 分支。参数名也相同，所以能直接加载包里那一层的权重：

# %%
class MyCausalSelfAttention(nn.Module):
    """对应 minigpt/model.py 的 CausalSelfAttention（不含 KV cache）。"""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.head_dim = config.n_embd // config.n_head
        self.qkv_proj = nn.Linear(config.n_embd, 3 * config.n_embd)  # 一次算出 Q、K、V：(B, T, C) -> (B, T, 3C)
        self.out_proj = nn.Linear(config.n_embd, config.n_embd, bias=False)  # 多头拼接后映射回 C 维
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x, attn_mask=None):
        """x: (B, T, C)。attn_mask: None 表示纯因果，或 (B, 1, T, T) 的布尔掩码，True = 可以看。"""
        B, T, C = x.shape
        q, k, v = self.qkv_proj(x).chunk(3, dim=-1)  # 各 (B, T, C)
        q = q.view(B, T, self.config.n_head, self.head_dim).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.config.n_head, self.head_dim).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.config.n_head, self.head_dim).transpose(1, 2)  # (B, nh, T, hs)
        dropout_p = self.config.dropout if self.training else 0.0
        if attn_mask is None:  # 没有要屏蔽的 padding：让 SDPA 自己生成因果掩码
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, nh, hs) -> (B, T, C)：多头拼回去
        return self.resid_dropout(self.out_proj(y))


# %%
# NBVAL_CHECK_OUTPUT
my_attn = MyCausalSelfAttention(small).eval()
print(my_attn.load_state_dict(attn.state_dict()))  # 同名参数，一一对上
with torch.no_grad():
    torch.testing.assert_close(my_attn(x), attn(x))
    torch.testing.assert_close(my_attn(x), by_hand)
print("MyCausalSelfAttention == 包里的 CausalSelfAttention == 逐头循环")

# %% [markdown]
# ## 4. padding 掩码
#
# 一批句子长短不一，短的要补 `<pad>`。padding 不是内容，真实 token 不应该看它。
# `attention_mask` 里 1 = 真实 token、0 = padding（和 transformers 库相同）。
# 模型把它和因果掩码合成一个布尔掩码，形状 $(B, 1, T, T)$（中间的 1 让同一个掩码用于所有头）：
# **可以看 = 在左边（或自己）且不是 padding**。
#
# - **右填充**（训练）：padding 在句尾。真实 token 只看左边，本来就看不到右边的 padding，
#   所以训练时只要因果掩码就够了：真实位置的输出与加了 padding 掩码时**完全相同**。
#   padding 位置自己的输出会不同，但损失函数会忽略它们（目标是 `<pad>`，`ignore_index`）。
#   于是模型遇到右填充时只用因果掩码（`is_causal`），不必构造填充掩码。
# - **左填充**（批量生成，第 7 章）：padding 在句首，这样每一行的最后一个位置都是真实 token。
#   这时必须用显式掩码。
#
# 两个小函数，分别对应 `minigpt/model.py` 的 `make_attention_mask`（没有 KV cache 时）和 `_causal_is_enough`：

# %%
def my_attention_mask(attention_mask, T):
    """(B, 1, T, T) 布尔掩码，True = 可以看。attention_mask: (B, T)，1 = 真实 token；None = 只有因果。"""
    pos = torch.arange(T)
    causal = pos[None, :] <= pos[:, None]  # (T, T)：键不在查询右边
    if attention_mask is None:
        return causal[None, None]
    keep = attention_mask.bool()[:, None, None, :]  # (B, 1, 1, T)：键不是 padding
    return (causal & keep) | torch.eye(T, dtype=torch.bool)  # 每个查询总能看见自己（原因见下文）


def causal_is_enough(attention_mask):
    """每一行都是 1…1 0…0（右填充，或者没有填充）时，只用因果掩码就够了。"""
    return bool((attention_mask[:, 1:] <= attention_mask[:, :-1]).all())


# %%
# NBVAL_CHECK_OUTPUT
T = 6
right = torch.tensor([[1, 1, 1, 1, 0, 0]])  # 4 个真实 token + 2 个 padding
left = torch.tensor([[0, 0, 1, 1, 1, 1]])
for m in (right, left):
    assert torch.equal(my_attention_mask(m, T), make_attention_mask(m, T))
assert torch.equal(my_attention_mask(None, T)[0], make_attention_mask(None, T)[0])
print("右填充只要因果掩码？", causal_is_enough(right), "  左填充呢？", causal_is_enough(left))
print("my_attention_mask == 包里的 make_attention_mask")

# %%
panels = [("只有因果掩码", my_attention_mask(None, T)[0, 0]),
          ("右填充（训练）", my_attention_mask(right, T)[0, 0]),
          ("左填充（批量生成）", my_attention_mask(left, T)[0, 0])]
fig, axes = plt.subplots(1, 3, figsize=(12, 4))
for ax, (title, m) in zip(axes, panels):
    ax.imshow(m, cmap="Greens", vmin=0, vmax=1)
    ax.set_title(f"{title}\n绿色 = 可以看")
    ax.set_xlabel("键的位置 j")
    ax.set_ylabel("查询的位置 i")
    ax.set_xticks(range(T))
    ax.set_yticks(range(T))
plt.show()

# %% [markdown]
# 中间那张是完整的掩码，但前 4 行（真实 token）和第一张一模一样：这就是右填充只用因果掩码也行的原因。
#
# 再看第三张图左上角的对角线：左填充时，padding 位置作为**查询**，左边全是 padding，一个能看的都没有。
# 整行被屏蔽时，softmax 是 $0/0$：

# %%
# NBVAL_CHECK_OUTPUT
row_scores = torch.tensor([[float("-inf"), float("-inf"), float("-inf")],
                           [0.5, 1.0, float("-inf")]])
print(row_scores.softmax(-1))  # 第一行全被屏蔽

# %% [markdown]
# 第一行是 NaN（not a number，“不是一个数”）。NaN 一旦进入隐藏状态，经过下一层的注意力就会扩散到别的位置。
# 较早版本的 PyTorch 的 SDPA 在这里也返回 NaN；我们测过的新版本（2.11、2.13，CPU 和 CUDA）改成了返回 0。
# 模型不依赖这种细节：掩码让每个查询**总能看见它自己**（图里的对角线）。padding 位置的输出因此是有限的“垃圾”，
# 而它们本来就没人用。

# %% [markdown]
# ---
#
# **第一部分到这里结束**（注意力：第 1–4 节和练习 5.1、5.2）。这是一个可以停下的地方。
# 下次接着读：打开 notebook，选中下面这个单元，运行它上面的所有单元（JupyterLab 菜单 Run → Run All Above Selected Cell，几秒），再往下读。
#
# **第二部分**：其余的部件（LayerNorm、GELU、MLP、Block）和整个 GPT。

# %% [markdown]
# ## 5. LayerNorm：把每个 token 的向量拉回同一个尺度
#
# 注意力层写完了。一个 Block 里还有 LayerNorm 和 MLP，下面依次写出来。
#
# 向量一层层往上传，数值大小会漂移：有的 token 的向量越来越长，有的越来越短。**LayerNorm**（层归一化）把每个 token 的
# $C$ 维向量各自拉回“均值 0、方差 1”，再乘一个可学习的缩放 $\gamma$、加一个可学习的偏移 $\beta$：
#
# $$\mathrm{LN}(x) = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} \odot \gamma + \beta,\qquad
# \mu = \frac1C\sum_{i=1}^{C} x_i,\quad \sigma^2 = \frac1C\sum_{i=1}^{C} (x_i-\mu)^2$$
#
# - 均值和方差沿特征维（$C$ 维）算，每个 token 单独算，和批里别的句子、别的位置无关，所以训练和生成时行为一样。
# - 方差除以 $C$，不是 $C-1$；$\epsilon = 10^{-5}$ 防止除以 0。
# - $\gamma$、$\beta$ 在 PyTorch 里叫 `weight` 和 `bias`，初始为全 1 和全 0（一开始就是纯粹的归一化）。
#
# 模型里的 LayerNorm 直接用 `nn.LayerNorm`（`Block` 的 `ln_1`、`ln_2`，`Transformer` 的 `ln_f`）。先自己写一个（练习 5.3）。

# %% [markdown]
# ### 练习 5.3　LayerNorm（★）
#
# LayerNorm 把每个 token 的 $C$ 个数变成均值 0、方差 1，再逐维缩放、平移：
#
# $$\mathrm{LN}(x) = \gamma \odot \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta,\qquad
# \mu = \frac1C\sum_i x_i,\quad \sigma^2 = \frac1C\sum_i (x_i-\mu)^2$$
#
# - 输入：`x` 形状 `(..., C)`；`weight`（$\gamma$）、`bias`（$\beta$）形状 `(C,)`；`eps` 默认 `1e-5`（与 `nn.LayerNorm` 相同）
# - 输出：与 `x` 同形状、同 dtype。不要调用 `F.layer_norm` / `nn.LayerNorm`，用 `mean`、`sqrt` 自己写。
#
# 对照：`minigpt/model.py` 里 `Block` 的 `ln_1`、`ln_2`（`nn.LayerNorm`）。卡住了运行 `hint("5.3")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch05.py)

# %%
import torch
from minigpt.exercises import check, hint


def my_layer_norm(x, weight, bias, eps=1e-5):
    """x: (..., C)；weight, bias: (C,)。对最后一维归一化，返回与 x 同形状的张量。"""
    raise NotImplementedError  # 在这里写你的代码

check("5.3", my_layer_norm)

# %% [markdown]
# 我们的版本：

# %%
class MyLayerNorm(nn.Module):
    """对应 nn.LayerNorm(C)：参数名也是 weight（γ）和 bias（β）。"""

    def __init__(self, C, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(C))  # γ
        self.bias = nn.Parameter(torch.zeros(C))  # β

    def forward(self, x):
        mu = x.mean(-1, keepdim=True)  # (..., 1)：每个 token 自己的均值
        var = ((x - mu) ** 2).mean(-1, keepdim=True)  # (..., 1)：除以 C
        return (x - mu) / torch.sqrt(var + self.eps) * self.weight + self.bias


# %%
# NBVAL_CHECK_OUTPUT
torch.manual_seed(0)
x = torch.randn(2, 5, 8) * 3 + 1  # (B, T, C)，故意不是均值 0、方差 1
with torch.no_grad():
    y = MyLayerNorm(8)(x)
print("归一化之后每个 token 的均值:", y.mean(-1)[0])
print("归一化之后每个 token 的标准差:", y.std(-1, unbiased=False)[0])

ln = nn.LayerNorm(8)
nn.init.normal_(ln.weight)  # 给 γ、β 随机值，比较才有意义
nn.init.normal_(ln.bias)
my_ln = MyLayerNorm(8)
my_ln.load_state_dict(ln.state_dict())
torch.testing.assert_close(my_ln(x), ln(x))
print("MyLayerNorm == nn.LayerNorm")

# %% [markdown]
# ## 6. GELU 和 MLP
#
# **MLP**（多层感知机，也叫前馈网络）是 Block 的另一半：先把 $C$ 维升到 $4C$ 维，经过一个非线性函数，再降回 $C$ 维。
# 注意力在字与字之间搬运信息；MLP 则对每个位置各自加工，位置之间不交换信息。
# 中间必须有非线性函数（激活函数）：两个线性变换连在一起，还是一个线性变换。
#
# GPT 用的激活函数是 **GELU**（Gaussian Error Linear Unit，高斯误差线性单元）：
#
# $$\mathrm{GELU}(x) = x\,\Phi(x) = \frac{x}{2}\left(1 + \mathrm{erf}\!\left(\frac{x}{\sqrt2}\right)\right)$$
#
# $\Phi$ 是标准正态分布的累积分布函数。$x$ 很大时 $\Phi(x) \approx 1$，输出约等于 $x$；$x$ 很负时 $\Phi(x) \approx 0$，
# 输出约等于 0；中间平滑过渡。可以把它看成一个“软开关”：$x$ 越大，越放它通过。

# %%
def my_gelu(x):
    """对应 F.gelu(x)（默认的精确版本；GPT-2 原版用的是一个 tanh 近似，两者相差不到 0.001）。"""
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


# %%
# NBVAL_CHECK_OUTPUT
xs = torch.linspace(-4, 4, 801)
torch.testing.assert_close(my_gelu(xs), F.gelu(xs))
print("my_gelu == F.gelu")
print("GELU(-1), GELU(0), GELU(1), GELU(3):", [round(F.gelu(torch.tensor(v)).item(), 4) for v in (-1., 0., 1., 3.)])

# %% [markdown]
# 和最常见的激活函数 ReLU（$\max(0, x)$）放在一起看，右图是两者的导数（反向传播时梯度要乘上它）：

# %%
xs = torch.linspace(-4, 4, 801, requires_grad=True)
curves = {"ReLU": F.relu, "GELU": my_gelu}
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
for name, fn in curves.items():
    ys = fn(xs)
    (grad,) = torch.autograd.grad(ys.sum(), xs)
    ax1.plot(xs.detach(), ys.detach(), label=name)
    ax2.plot(xs.detach(), grad, label=name)
ax1.set_title("激活函数")
ax2.set_title("导数（梯度要乘上的系数）")
for ax in (ax1, ax2):
    ax.set_xlabel("输入 x")
    ax.axhline(0, color="gray", lw=0.5)
    ax.axvline(0, color="gray", lw=0.5)
    ax.legend()
ax1.set_ylabel("输出")
ax2.set_ylabel("导数")
plt.show()

# %% [markdown]
# 为什么不用 ReLU？ReLU 在 $x < 0$ 时输出和导数都**恰好是 0**：输入为负的那些神经元，这一步完全得不到梯度。
# 如果某个神经元对所有输入都是负的，它就再也学不动了（“死神经元”）。GELU 处处平滑，负半轴上还留着一点输出和梯度。
# 在随机初始化的输入上数一数：

# %%
# NBVAL_CHECK_OUTPUT
torch.manual_seed(0)
pre = torch.randn(100_000, requires_grad=True)  # 模拟 c_fc 的输出：一半左右是负的
zero_frac = {}
for name, fn in curves.items():
    (grad,) = torch.autograd.grad(fn(pre).sum(), pre)
    zero_frac[name] = (grad == 0).float().mean().item()
    print(f"{name}: {zero_frac[name]:.1%} 的位置梯度恰好为 0")
assert zero_frac["ReLU"] > 0.45 and zero_frac["GELU"] == 0

# %% [markdown]
# 两者的差别并不大，用 ReLU 也能训练。提出 GELU 的论文（Hendrycks & Gimpel, 2016）在图像、语音等任务上测得它略好于 ReLU，
# GPT 和 BERT 采用了它，于是成了 GPT 系列的惯例；Qwen3 这样的新模型用它的一个变体 SwiGLU（第 8 章）。
#
# 有了 GELU，MLP 就是三行。对应 `minigpt/model.py` 的 `MLP`（两层都不带 bias，和种子相同）：

# %%
class MyMLP(nn.Module):
    """对应 minigpt/model.py 的 MLP：Linear(C, 4C) → GELU → Linear(4C, C)。"""

    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=False)  # 升到 4C 维
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=False)  # 降回 C 维
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(my_gelu(self.c_fc(x))))  # (B, T, C)


# %%
# NBVAL_CHECK_OUTPUT
torch.manual_seed(0)
mlp = MLP(small)  # 包里的 MLP
my_mlp = MyMLP(small)
print(my_mlp.load_state_dict(mlp.state_dict()))
x = torch.randn(2, 5, small.n_embd)
torch.testing.assert_close(my_mlp(x), mlp(x))
print("c_fc:", tuple(my_mlp.c_fc.weight.shape), " c_proj:", tuple(my_mlp.c_proj.weight.shape))
print("MyMLP == 包里的 MLP")

# %% [markdown]
# 4 倍是 GPT 系列的惯例，于是每层 MLP 的参数（$8C^2$）是注意力（$4C^2$）的两倍。

# %% [markdown]
# ## 7. 残差连接与 Pre-LN：Block
#
# **残差连接**（residual connection）：子层不替换它的输入，而是把自己的输出**加到**输入上：$x \leftarrow x + f(x)$。
# 于是从词向量到最后一层有一条贯穿的主干，常叫**残差流**（residual stream）：每个子层读一下主干，再往上加一点东西。
#
# 为什么要这样？训练时梯度要从损失一路传回第一层。没有残差时，它依次乘上每一层的导数；只要每层把梯度缩小一点，
# 几十层乘下来就几乎是 0（梯度消失），前面的层学不动。有残差时
# $\frac{\partial}{\partial x}\big(x + f(x)\big) = I + \frac{\partial f}{\partial x}$：
# 总有一条什么也不乘的直通路径。拿刚写的 MLP（PyTorch 默认初始化）叠起来，看传回输入的梯度还剩多少：

# %%
# NBVAL_CHECK_OUTPUT
def grad_reaching_input(n_layers, residual):
    """n_layers 个 MLP 叠起来，返回 |输入处的梯度| / |输出处的梯度|。"""
    torch.manual_seed(0)
    layers = [MyMLP(GPTConfig(n_embd=64, n_head=1)) for _ in range(n_layers)]
    x0 = torch.randn(8, 64, requires_grad=True)
    x = x0
    for f in layers:
        x = x + f(x) if residual else f(x)
    g = torch.randn_like(x)  # 假装这是从损失传回来的梯度
    x.backward(g)
    return (x0.grad.norm() / g.norm()).item()


print(rpad("层数", 6) + rpad("有残差", 12) + rpad("没有残差", 12))
ratios = {}
for n in (1, 4, 16, 64):
    ratios[n] = grad_reaching_input(n, True), grad_reaching_input(n, False)
    print(f"{n:>6}{ratios[n][0]:>12.3g}{ratios[n][1]:>12.3g}")
assert ratios[64][0] > 0.5 and ratios[16][1] < 1e-6 and ratios[64][1] == 0

# %% [markdown]
# 没有残差，每多一层梯度大约缩小到五分之一，16 层之后只剩 $10^{-12}$ 量级，64 层之后在 float32 里干脆变成 0。
# 有残差，64 层之后梯度照样传得回来，反而越传越大（16 层 1.45 倍，64 层 6.54 倍）：每个残差分支都往主干上再加
# 一份，这几个 MLP 又用的是 PyTorch 的默认初始化，分支的输出不小。第 8 节的 GPT-2 初始化会把每个残差分支的输出
# 按层数调小，就是为了不让这种放大随层数累积。
#
# **归一化放在哪里？** 最初的 Transformer 把 LayerNorm 放在相加之后：$x \leftarrow \mathrm{LN}(x + f(x))$，叫 **Post-LN**。
# 这样主干每过一个子层都要被归一化一次，直通路径不再是“什么也不乘”；层数一多，训练就要靠很小的学习率和较长的
# warm-up（学习率从 0 慢慢升上去，第 6 章），否则容易发散（Xiong et al., 2020）。GPT-2 起改成 **Pre-LN**：
#
# $$x \leftarrow x + \mathrm{Attn}(\mathrm{LN}_1(x)),\qquad x \leftarrow x + \mathrm{MLP}(\mathrm{LN}_2(x))$$
#
# LayerNorm 只作用在送进子层的那一份上，主干上一个 LayerNorm 也没有，直通路径完好；每个子层又总能收到尺度固定的输入。
# 代价是主干本身不再被归一化，所以最后一个 Block 之后要补一个 LayerNorm（`ln_f`），再接输出层。
#
# 先自己写一个 Block 的 `forward`（练习 5.4）。

# %% [markdown]
# ### 练习 5.4　Pre-LN 残差块 Block.forward（★★）
#
# 用 `block` 的四个子模块 `ln_1`、`attn`、`ln_2`、`mlp` 写出一个 Pre-LN 解码器块的前向传播：
#
# $$x \leftarrow x + \mathrm{Attn}(\mathrm{LN}_1(x)),\qquad x \leftarrow x + \mathrm{MLP}(\mathrm{LN}_2(x))$$
#
# - 输入：`block`（`minigpt.model.Block`）、`x` 形状 `(B, T, C)`
# - 输出：`(B, T, C)`。不要直接调用 `block(x)`。
#
# 对照：`minigpt/model.py` 的 `Block.forward`。卡住了运行 `hint("5.4")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch05.py)

# %%
from minigpt.exercises import check, hint


def my_block(block, x):
    """block: minigpt.model.Block；x: (B, T, C)。返回 (B, T, C)。"""
    raise NotImplementedError  # 在这里写你的代码

check("5.4", my_block)

# %% [markdown]
# 我们的版本，对应 `minigpt/model.py` 的 `Block`（`forward` 的两行就是上面的公式）：

# %%
class MyBlock(nn.Module):
    """对应 minigpt/model.py 的 Block（Pre-LN）。"""

    def __init__(self, config):
        super().__init__()
        self.ln_1 = MyLayerNorm(config.n_embd)
        self.attn = MyCausalSelfAttention(config)
        self.ln_2 = MyLayerNorm(config.n_embd)
        self.mlp = MyMLP(config)

    def forward(self, x, attn_mask=None):
        x = x + self.attn(self.ln_1(x), attn_mask)  # 注意力：字与字之间交换信息，结果加回主干
        x = x + self.mlp(self.ln_2(x))  # MLP：每个位置各自加工，结果加回主干
        return x


# %%
# NBVAL_CHECK_OUTPUT
torch.manual_seed(0)
block = Block(small).eval()  # 包里的 Block
for p in block.parameters():  # LayerNorm 的 γ、β 初始是 1 和 0；都换成随机值，比较才不留死角
    nn.init.normal_(p, std=0.5)
mine_block = MyBlock(small).eval()
print(mine_block.load_state_dict(block.state_dict()))
print("state_dict 的键:", list(mine_block.state_dict()))

x = torch.randn(2, 5, small.n_embd)
left_mask = my_attention_mask(torch.tensor([[1, 1, 1, 1, 1], [0, 0, 1, 1, 1]]), 5)
with torch.no_grad():
    torch.testing.assert_close(mine_block(x), block(x))  # 纯因果
    torch.testing.assert_close(mine_block(x, left_mask), block(x, left_mask))  # 带左填充掩码
print("MyBlock == 包里的 Block（纯因果、左填充两种掩码）")

# %% [markdown]
# ## 8. 整个 GPT
#
# 部件齐了。整个模型从下往上：
#
# ```text
# input_ids (B, T)                          每个位置一个字的编号
#     |
# wte[input_ids] + wpe[position_ids]        词向量 + 位置向量（两张可学习的表，查表得到）
#     |
#    drop                                   x: (B, T, C)，残差流从这里开始
#     |
# +---|------------------+
# |   |------+           |
# |  ln_1    |           |                  Pre-LN：先归一化，再进子层
# |  attn    |           |                  因果自注意力：字与字之间交换信息
# |   + <----+           |                  残差：子层的输出加回主干
# |   |------+           |
# |  ln_2    |           |
# |  mlp     |           |                  MLP：每个位置各自加工
# |   + <----+           |
# +---|------------------+  x n_layer       同样结构的 Block 叠 n_layer 层（参数各不相同）
#     |
#    ln_f                                   主干最后归一化一次
#     |
#  lm_head                                  C 维 -> V 个分数；和 wte 是同一个矩阵（权重绑定）
#     |
# logits (B, T, V)                          每个位置对下一个字的打分
# ```

# %% [markdown]
# 写成公式：
#
# $$\text{logits} = \mathrm{LN}_f\big(\mathrm{Block}_N(\cdots\mathrm{Block}_1(\mathrm{wte}[x] + \mathrm{wpe}[p]))\big)\, W_\text{wte}^\top$$
#
# `Transformer`（对应 `minigpt/model.py` 的 `Transformer`）负责从 id 到最后的隐藏状态。
# 位置编号 `position_ids` 在有 `attention_mask` 时从掩码推出来，第 10 节会看到为什么；
# 掩码只在“因果不够用”（左填充）时才显式构造。模块里多出的几行是 KV cache（第 7 章）和几个更细的报错。

# %%
class MyTransformer(nn.Module):
    """对应 minigpt/model.py 的 Transformer（不含 KV cache）。"""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)  # (V, C)：每个字一个向量
        self.wpe = nn.Embedding(config.block_size, config.n_embd)  # (block_size, C)：每个位置一个向量，也是学出来的
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList([MyBlock(config) for _ in range(config.n_layer)])
        self.ln_f = MyLayerNorm(config.n_embd)

    def forward(self, input_ids, attention_mask=None):
        B, T = input_ids.shape
        if T > self.config.block_size:
            raise ValueError(f"序列长度 {T} 超出最大上下文长度 block_size={self.config.block_size}")
        if attention_mask is None:
            position_ids = torch.arange(T, device=input_ids.device)[None, :]  # (1, T)
        else:  # 从第一个真实 token 数起：左填充时真实内容仍从位置 0 开始
            position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)  # (B, T)
        attn_mask = None  # None：纯因果，走 SDPA 的 is_causal 路径
        if attention_mask is not None and not causal_is_enough(attention_mask):
            attn_mask = my_attention_mask(attention_mask.cpu(), T).to(input_ids.device)  # (B, 1, T, T)
        x = self.drop(self.wte(input_ids) + self.wpe(position_ids))  # (B, T, C)
        for block in self.blocks:
            x = block(x, attn_mask)
        return self.ln_f(x)  # (B, T, C)


# %% [markdown]
# 最后一步 `lm_head` 把 $C$ 维的隐藏状态变成 $V$ 个分数（logits）。两件事写在 `GPTLMHeadModel.__init__` 里：
#
# **权重绑定**（weight tying）。`wte` 是一个 $V \times C$ 的矩阵，第 $i$ 行是字 $i$ 的输入向量；`lm_head` 的权重也是
# $V \times C$，第 $i$ 行和隐藏状态做点积，得到“下一个字是字 $i$”的分数。两者都是“每个字在同一个 $C$ 维空间里的一个向量”，
# 于是干脆用同一个矩阵（Press & Wolf, 2017）：
#
# - 省下 $V \times C$ 个参数。我们的词表有几千个字，这在小模型里占了很大一块（第 12 节数给你看）；
# - 输出端的 softmax 每一步都给**所有**字的那一行梯度，于是训练里很少出现的字，它的输入向量也能在输出端学到东西。
#
# **GPT-2 初始化**。所有 `Linear` 和 `Embedding` 的权重取 $\mathcal{N}(0, 0.02^2)$，bias 取 0，LayerNorm 保持 1 和 0。
# 另外，每个残差分支最后的那个投影（`attn.out_proj` 和 `mlp.c_proj`，它们的输出直接加到主干上）把标准差再缩小为
# $0.02/\sqrt{2 \cdot n_\text{layer}}$。原因：主干最后 = 词向量 + $2 n_\text{layer}$ 个分支输出之和（每层注意力和 MLP 各一个）。
# 这些输出大致独立，方差相加，主干的方差随层数线性增长；每个分支的标准差乘上 $1/\sqrt{2 n_\text{layer}}$，
# 方差就乘上 $1/(2 n_\text{layer})$，加起来与层数无关。
#
# 对应 `minigpt/model.py` 的 `GPTLMHeadModel`（`__init__`、`_init_weights`、`forward`）：

# %%
class MyGPT(nn.Module):
    """对应 minigpt/model.py 的 GPTLMHeadModel。"""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.transformer = MyTransformer(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)  # C -> V：每个字一个分数
        self.transformer.wte.weight = self.lm_head.weight  # 权重绑定：同一个 (V, C) 张量
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # 残差分支的输出投影：标准差再除以 √(2·n_layer)
            if name.endswith("attn.out_proj.weight") or name.endswith("mlp.c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, input_ids, attention_mask=None):
        hidden_states = self.transformer(input_ids, attention_mask)  # (B, T, C)
        return self.lm_head(hidden_states)  # (B, T, V)：logits


# %% [markdown]
# 量一量初始化的效果：随机输入走过所有 Block 之后（`ln_f` 之前），主干的标准差是多少。
# 一组按 GPT-2 缩小残差投影，一组把它们也设成 0.02：

# %%
# NBVAL_CHECK_OUTPUT
def stream_std(n_layer, scaled):
    torch.manual_seed(0)
    gpt = MyGPT(GPTConfig(n_embd=128, n_head=4, n_layer=n_layer, dropout=0.0, block_size=64, vocab_size=500))
    if not scaled:
        for name, p in gpt.named_parameters():
            if name.endswith("attn.out_proj.weight") or name.endswith("mlp.c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02)
    t = gpt.transformer
    ids = torch.randint(0, 500, (4, 64))
    with torch.no_grad():
        x = t.wte(ids) + t.wpe(torch.arange(64))
        for block in t.blocks:
            x = block(x)
    return x.std().item()


print(rpad("层数", 6) + rpad("缩小 1/√(2L)", 14) + rpad("都用 0.02", 12))
stds = {}
for n in (4, 12, 48):
    stds[n] = stream_std(n, True), stream_std(n, False)
    print(f"{n:>6}{stds[n][0]:>14.3f}{stds[n][1]:>12.3f}")
assert stds[48][0] < 1.5 * stds[4][0] and stds[48][1] > 3 * stds[4][1]

# %% [markdown]
# 缩小之后，4 层和 48 层的主干一样大；不缩小，主干随层数变大（大约按 $\sqrt{n_\text{layer}}$），层越深，
# 词向量在主干里占的比例越小。
#
# ## 9. 你的 GPT = 包里的 GPT
#
# 先准备真实的词表（第 1–3 章的产物；缺了就现做），用课程默认的 `cpu` 预设配置模型：

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

# %% [markdown]
# **第一个证明：同样的结构、同样的初始化。** 用同一个随机种子分别建包里的模型和你的模型。两者按同样的顺序创建同样的层、
# 按同样的顺序初始化，所以应当得到**逐个相同**的参数，`state_dict` 的键也一个不差：

# %%
# NBVAL_CHECK_OUTPUT
torch.manual_seed(0)
model = GPTLMHeadModel(config).to(device)  # 包里的模型
torch.manual_seed(0)
mine = MyGPT(config).to(device)  # 你的模型

theirs, ours = model.state_dict(), mine.state_dict()
assert list(theirs) == list(ours)
assert all(torch.equal(theirs[k], ours[k]) for k in theirs)
assert mine.lm_head.weight is mine.transformer.wte.weight  # 绑定：是同一个张量，不是两份相同的数
print(f"{len(ours)} 个张量，键和数值都相同；前 6 个键:", list(ours)[:6])

# %% [markdown]
# **第二个证明：同样的权重，同样的 logits。** 随机初始化的模型输出几乎全是 0 附近的小数，比较起来不够有力。
# 换成训练好的权重：`checkpoints/minigpt-idiom.pth` 是随课程发布的、训练好的 `cpu` 预设模型（第 6 章讲它怎么来的）。
# 包里的模型从它加载；你的模型加载包里模型的 `state_dict`，然后在训练集的前 8 条上比较 logits：

# %%
# NBVAL_CHECK_OUTPUT
trained, metadata = load_checkpoint("checkpoints/minigpt-idiom.pth")  # 包里的 GPTLMHeadModel，eval 模式
trained_tokenizer = load_tokenizer(metadata)  # 它训练时用的词表
my_trained = MyGPT(trained.config).eval()
print(my_trained.load_state_dict(trained.state_dict()))

rows = QADataset(paths["train"], trained_tokenizer, max_length=trained.config.block_size, pad_to_max_length=False)
demo = collate_batch([rows[i] for i in range(8)], pad_token_id=trained_tokenizer.pad_token_id)  # 右填充
with torch.no_grad():
    theirs = trained(demo["input_ids"], demo["attention_mask"])
    ours = my_trained(demo["input_ids"], demo["attention_mask"])
# 自己写的 LayerNorm、GELU 与 PyTorch 的内核舍入方式不同，最后几位会差一点：容差 1e-4
torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-4)
assert torch.equal(ours.argmax(-1), theirs.argmax(-1))
print("logits:", tuple(ours.shape), "= (批大小, 序列长度, 词表大小)；逐元素相差不超过 1e-4，每个位置猜的字都相同")

# %% [markdown]
# 你写的模型已经能用训练好的权重“答题”了。拿训练集第 0 条的问题，只给到 `<sep>` 为止，
# 看它在 `<sep>` 之后给哪几个字打分最高（softmax 把 logits 变成概率）：

# %%
# NBVAL_CHECK_OUTPUT
question, answer = rows.data[0]  # (问题, 答案)
prompt = torch.tensor([trained_tokenizer.encode(question, pad_to_max_length=False)[0]])  # 问题 + <sep>
with torch.no_grad():
    probs = my_trained(prompt)[0, -1].softmax(-1)  # 最后一个位置（<sep>）对下一个字的概率
top = probs.topk(5)
print("问题:", question, "  标准答案:", answer)
print("答案第一个字的前 5 个候选:",
      "  ".join(f"{trained_tokenizer.id2word[int(i)]} {p:.1%}" for p, i in zip(top.values, top.indices)))

# %% [markdown]
# 从一个字到整句回答，要一个字一个字地接着往下猜，那是第 7 章的事。
#
# 两个证明都过了：从这里起，本章和后面各章都用包里的 `GPTLMHeadModel`。打印出来，结构和第 8 节的图一一对应：

# %%
# NBVAL_CHECK_OUTPUT
print(model)

# %% [markdown]
# ---
#
# **第二部分到这里结束**（整个 GPT：第 5–9 节和练习 5.3、5.4）。这是一个可以停下的地方。
# 下次接着读：打开 notebook，选中下面这个单元，运行它上面的所有单元（JupyterLab 菜单 Run → Run All Above Selected Cell，约 10 秒），再往下读。
#
# **第三部分**：用这个模型看左填充、种子代码的 bug、参数分布和初始损失。

# %% [markdown]
# ## 10. 左填充与位置编号
#
# 第 4 节说过，左填充（批量生成）要靠显式掩码。用一个很小的模型验证：左填充的那一行，真实位置的输出和它单独计算时一样。

# %%
# NBVAL_CHECK_OUTPUT
torch.manual_seed(0)
tiny = GPTLMHeadModel(config_for("tiny", vocab_size=20)).eval()
ids = torch.tensor([[5, 6, 7, 8, 9], [0, 0, 0, 10, 11]])  # 第二行左填充
mask = torch.tensor([[1, 1, 1, 1, 1], [0, 0, 0, 1, 1]])
with torch.no_grad():
    batched = tiny(ids, mask)
    alone = tiny(torch.tensor([[10, 11]]))  # 第二行单独算，不填充
print("有 NaN 吗？", torch.isnan(batched).any().item())
torch.testing.assert_close(batched[1, -2:], alone[0])
print("左填充的行 == 不填充单独算：", True)

# 右填充（训练时的样子）：模型走 is_causal 路径，真实位置的输出同样与单独计算一致
right_ids = torch.tensor([[5, 6, 7, 8, 9], [10, 11, 0, 0, 0]])
right_mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]])
with torch.no_grad():
    torch.testing.assert_close(tiny(right_ids, right_mask)[1, :2], alone[0])
print("右填充的行（真实位置）== 不填充单独算：", True)

# %% [markdown]
# 能相等，还靠一件事：**位置编号**。第二行的真实内容从下标 3（第 4 个格子）开始，但它是这句话的第 1 个字，位置编号应当是 0。
# 所以模型从 `attention_mask` 推出位置：`position_ids = cumsum(mask) - 1`（padding 处截到 0），就是 `MyTransformer.forward`
# 里的那一行。种子代码总是用 `arange(T)`，左填充的行就会拿到错位的位置向量：

# %%
# NBVAL_CHECK_OUTPUT
print("从 mask 推出的位置:", (mask.cumsum(-1) - 1).clamp(min=0)[1].tolist())
with torch.no_grad():
    wrong = tiny(ids, mask, position_ids=torch.arange(5)[None])  # 种子的做法
diff = (wrong[1, -2:] - alone[0]).abs().max().item()
print(f"用 arange 位置时与单独计算的最大差: {diff:.2f}")
assert diff > 0.01


# %% [markdown]
# ## 11. 种子代码里的 bug
#
# 种子教程里定义模型的那一节（`GPTLMHeadModel` 的代码）有两个会让程序崩溃的错误。下面用最小的复现看看它们会怎样发生。
#
# **bug 1：拼写。** 种子的 `CausalSelfAttention.__init__` 里写的是
#
# ```python
# self.resid_dropput = nn.Dropout(config.dropout)
# ```
#
# 而 `forward` 的最后用的是 `y = self.resid_dropout(self.out_proj(y))`：

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
# 第一次前向传播就崩溃，所以种子代码其实从来没能训练起来。修正：统一叫 `resid_dropout`
# （这也是 `state_dict` 里的名字，但 Dropout 没有参数，所以不影响加载权重）。
#
# **bug 2：`y` 只在有 mask 时才赋值。** 种子把“计算注意力”整段缩进在 `if attention_mask is not None:` 里，
# 而后面的 `y = y.transpose(1, 2)...` 在 `if` 外面：

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
# 训练时总会传 mask，所以这个 bug 要到生成回答时才暴露。修正：没有 mask 时用 `is_causal=True` 的因果注意力
# （`MyCausalSelfAttention.forward` 里的 `if attn_mask is None` 分支）。
#
# **其它小问题：** `tokenizer.py` 里多余的 `import token`（一个无关的标准库模块）已删除；超长序列的检查从 `assert`
# 改成 `ValueError`：`python -O` 会跳过所有 `assert`，之后位置向量查表越界，报错就难懂多了：

# %%
# NBVAL_CHECK_OUTPUT
try:
    tiny(torch.zeros(1, tiny.config.block_size + 1, dtype=torch.long))
except ValueError as e:
    print("ValueError:", e)

# %% [markdown]
# `benchmarks/seed_reference.py` 保存了只修掉这两个崩溃 bug 的种子代码（修改处都标着 `# FIX(seed):`），
# 测试（`tests/test_model.py`）用它检查：种子的 `state_dict` 能原样加载进我们的模型，并且给出相同的 logits。

# %% [markdown]
# ## 12. 参数都在哪里
#
# 先用公式自己算一算（练习 5.5），再看下面的表。

# %% [markdown]
# ### 练习 5.5　用公式算出模型的参数量（★★）
#
# 不建模型，只用公式算出 `GPTLMHeadModel` 的参数个数（权重绑定：`lm_head` 与 `wte` 是同一个矩阵，只算一次）。
# 本章“参数都在哪里”一节的表列出了每个部分；看 `minigpt/model.py` 里每个 `nn.Linear` 有没有 `bias`，`nn.LayerNorm` 有几个参数。
#
# - 输入：`n_embd`（$C$）、`n_layer`（$L$）、`vocab_size`（$V$）、`block_size`（上下文长度）
# - 输出：一个整数。用例包括 `tiny`、`cpu`、`seed` 三个预设的形状。
#
# 对照：`minigpt/model.py` 的 `GPTLMHeadModel.num_parameters`。卡住了运行 `hint("5.5")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch05.py)

# %%
from minigpt.exercises import check, hint


def n_params(n_embd, n_layer, vocab_size, block_size):
    """返回 GPTLMHeadModel 的参数个数（整数）。"""
    raise NotImplementedError  # 在这里写你的代码

check("5.5", n_params)

# %% [markdown]
# 每层 Block 里：`qkv_proj` 是 $C \times 3C$（加 $3C$ 个 bias），`out_proj` 是 $C \times C$，MLP 是 $C \times 4C$ 加 $4C \times C$，
# 合计约 $12C^2$（再加两个 LayerNorm 的 $4C$）。词向量是 $V \times C$，由于和 `lm_head` 共享，只算一次。

# %%
C, L, V = config.n_embd, config.n_layer, config.vocab_size
block = model.transformer.blocks[0]


def count(module):
    return sum(p.numel() for p in module.parameters())


parts = [  # (名称, 一份的参数量, 份数)
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


# %%
# NBVAL_CHECK_OUTPUT
print(pad("部分", 32) + rpad("参数", 10) + rpad("份数", 6) + rpad("合计", 11) + rpad("占比", 8))
for name, n, times in parts:  # 中文名按显示宽度补齐（用 :<32 会错位）
    print(f"{pad(name, 32)}{n:>10,}{times:>6}{n * times:>11,}{n * times / total:>8.1%}")
print(pad("总计", 32) + rpad(f"{total:,}", 27))
assert total == model.num_parameters()
assert count(block) == 12 * C * C + 3 * C + 4 * C  # 12C² + qkv 的 bias + 两个 LayerNorm
print(f"\n每层 12C² + 7C = {count(block):,}；共享权重省下 V×C = {V * C:,} 个参数")

# %% [markdown]
# 这个小模型里词向量占了很大一块。把三个预设放在一起比较（`meta` 设备只记录形状，不真正分配内存）：

# %%
# NBVAL_CHECK_OUTPUT
for name in PRESETS:
    with torch.device("meta"):
        m = GPTLMHeadModel(config_for(name, vocab_size=V))
    print(f"{name:5s} {m.num_parameters():>12,} 个参数  （不含词/位置向量 {m.num_parameters(exclude_embeddings=True):>11,}）")

# %% [markdown]
# ## 13. 初始损失：训练之前的一次检查
#
# 取训练集的前 8 条，用第 4 章的 `collate_batch` 填充到这一批里最长的那条（右填充），交给刚初始化的包里模型：

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
# 这批数据的损失会是多少？先预测（练习 5.6），再往下算。

# %% [markdown]
# ### 练习 5.6　预测：刚初始化的模型，第一步的损失是多少（★）
#
# **先别运行下面的单元格。** 课程的词表有 $V$ 个 token（上面的 `config.vocab_size`，两千多个）。一个刚初始化、什么也没学过的 GPT
# （权重是很小的随机数），在一批数据上的交叉熵损失大约是多少？
#
# 把你的预测赋给 `my_guess`（一个数），再运行。误差在 ±5% 以内算对。
#
# 对照：`minigpt/model.py` 的 `GPTLMHeadModel`（GPT-2 初始化）；本节下面的单元格。卡住了运行 `hint("5.6")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch05.py)

# %%
from minigpt.exercises import check, hint

my_guess = ...  # 你的预测：刚初始化的模型，交叉熵损失大约是多少

check("5.6", my_guess)

# %% [markdown]
# 刚初始化的模型什么也没学，对每个位置的预测应当接近均匀分布：每个字的概率约 $1/V$。
# 交叉熵损失是正确答案概率的负对数（自然对数，单位叫 nat），所以初始损失应当约为
#
# $$-\ln\frac{1}{V} = \ln V$$
#
# 如果初始损失明显大于 $\ln V$，说明初始化让模型“自信地猜错”（比如权重的尺度太大，logits 一开始就有大有小）；
# 这是训练前值得做的一次检查。padding 位置的目标是 `<pad>`，用 `ignore_index` 排除在损失之外。

# %%
loss = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=tokenizer.pad_token_id)
print(f"初始损失 {loss.item():.3f}   ln(V) = ln({V}) = {math.log(V):.3f}")
assert abs(loss.item() - math.log(V)) < 0.2
probs = logits.softmax(-1)
top_p = probs.max(-1).values.mean().item()  # 每个位置最看好的那个字的概率，取平均
print(f"最大概率的平均值 {top_p:.5f}，均匀分布是 1/V = {1 / V:.5f}")
assert top_p < 5 / V  # 最看好的字也只比均匀分布高几倍：还没有偏好

# %% [markdown]
# 损失约等于 $\ln V$，每个位置最看好的那个字，概率也只比 $1/V$ 高几倍：模型还没有任何偏好，初始化正常。
# 下一章从这里开始训练，看损失怎样从 $\ln V$ 一路降下去。

# %% [markdown]
# ## 14. 预告：KV cache
#
# 生成时每一步只多一个字。模型的 `forward` 可以接收一个 `kv_cache`：把已经算过的键和值存起来，
# 新的一步只算新来的那个 token。结果必须和整句重算完全一样（第 7 章会亲手写它，并用它把生成加速好几倍）：

# %%
# NBVAL_CHECK_OUTPUT
ids = input_ids[:1, :int(attention_mask[0].sum())]  # 第 0 条，去掉 padding
with torch.no_grad():
    full = model(ids)  # 整句一次算完
    cache = model.new_kv_cache()
    steps = [model(ids[:, :-3], kv_cache=cache)]  # 先算前面的部分
    for t in range(ids.shape[1] - 3, ids.shape[1]):  # 再一个字一个字地算
        steps.append(model(ids[:, t:t + 1], kv_cache=cache))
torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-4, rtol=1e-4)
print("缓存长度:", cache.seq_len, " 与整句计算一致:", True)

# %% [markdown]
# ## 本章测验
#
# 几道概念题：选一个答案，看对错和每个选项的解释（GitHub 上看不到按钮，下面也打印了文字版）。

# %%
from minigpt.exercises import quiz

quiz(5)

# %% [markdown]
# 本章练习的完成情况（通过的练习记在你自己电脑上的 `~/.minigpt/progress.json`，不在仓库里）：

# %%
from minigpt.exercises import show_progress

show_progress(5)

# %% [markdown]
# ## 小结
#
# 你在本章亲手写了 GPT 的每一个部件，并证明它们与 `minigpt/model.py` 相同：
#
# | 你写的 | 对应模块里的 | 证明 |
# |---|---|---|
# | 逐头循环、`MyCausalSelfAttention` | `CausalSelfAttention` | 同样的权重，输出相同 |
# | `my_attention_mask`、`causal_is_enough` | `make_attention_mask`、`_causal_is_enough` | 掩码逐格相同 |
# | `MyLayerNorm`、`my_gelu`、`MyMLP` | `nn.LayerNorm`、`F.gelu`、`MLP` | 输出相同 |
# | `MyBlock` | `Block` | 纯因果和左填充下输出相同 |
# | `MyTransformer`、`MyGPT` | `Transformer`、`GPTLMHeadModel` | 同一随机种子下参数逐个相同；训练好的权重下 logits 相同 |
#
# - 注意力 = 用 $q \cdot k$ 算权重，对 $v$ 加权平均；除以 $\sqrt{d}$ 保持尺度；多头 = 在几个子空间里各算一次。
# - 因果掩码保证不偷看；右填充训练只要因果掩码，左填充生成要显式掩码，并让每个查询至少能看见自己，避免 NaN；
#   位置编号从 `attention_mask` 推出。
# - Block = 残差 + Pre-LN：残差给梯度一条直通路径（64 层也传得回来），LayerNorm 放在子层入口，主干保持干净。
# - 权重绑定省下 $V \times C$ 个参数；残差投影按 $1/\sqrt{2 n_\text{layer}}$ 缩小，主干的尺度不随层数增长。
# - 种子代码的两个崩溃 bug（`resid_dropput`、未赋值的 `y`）已修正，参数名与种子完全一致；初始损失 ≈ $\ln V$ 说明初始化正常。
#
# 下一章训练它：[第 6 章　训练](06_train.ipynb)
