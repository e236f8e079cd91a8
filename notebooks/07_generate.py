# %% [markdown]
# # 第 7 章　生成回答：贪心、采样与 KV cache
#
# 第 6 章训练出的模型只会做一件事：读一串字，给出**下一个字**的概率分布。生成一个回答，就是反复做三步：
#
# 1. 把“问题 + `<sep>` + 已经生成的字”送进模型，取最后一个位置的 logits；
# 2. 从这个分布里**选**一个字（怎么选，就是本章的主题）；
# 3. 把它接到序列后面；选到 `<sep>` 就停。
#
# 本章把生成的每个部件亲手写出来，再证明它和 `minigpt/generate.py` 的 `generate` **逐个 token 相同**：
#
# 1. 十行的贪心循环（第 2 节）；
# 2. 采样：温度、top-k、top-p、重复惩罚（第 3–4 节）；
# 3. KV cache：不再每一步把整句重算一遍，量一量快了多少（第 5 节）；
# 4. 批量生成、“幻觉”和每个字的把握、注意力热图，最后是答题游乐场（第 6–9 节）。
#
# 对应的模块：`minigpt/generate.py`（生成，命令行 `python ./minigpt/generate.py`）、`minigpt/kv_cache.py`（KV cache）、
# `minigpt/playground.py`（答题游乐场）。

# %% [markdown]
# ### 怎么读这一章
#
# 大约 **2 小时 30 分钟**（读、运行和做练习；只读不做练习要少一半左右），完整运行一遍约 90 秒（2 核 CPU）。
# 本章分三部分，每部分以练习或小测验结束，读完一部分就可以停下：
#
# | 部分 | 内容 | 练习 | 时间 |
# |---|---|---|---|
# | 一 | 第 1–4 节：加载模型，贪心循环，温度、top-k、top-p，重复惩罚 | 7.1–7.4 | 约 85 分钟 |
# | 二 | 第 5–6 节：KV cache，批量生成 | 7.5、7.6 | 约 40 分钟 |
# | 三 | 第 7–9 节：学会的是成语还是问法，幻觉，注意力热图，游乐场；小测验（附录选读，约 15 分钟） | — | 约 25 分钟 |

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
# ## 1. 加载模型
#
# `minigpt.checkpoint.default_checkpoint()` 先找你自己训练的模型（命令行写的 `output/`、第 6 章写的 `output/ch06/`，
# 每个文件夹取最后的权重 `last_model.pth`——第 6 章量过，它比 `best_model.pth` 会答的多——有几个就用最新的），
# 都没有才用仓库自带的 `checkpoints/minigpt-idiom.pth`，并打印用的是哪个、为什么。
# 命令行 `python ./minigpt/generate.py` 和本章最后的游乐场默认都用它。
#
# 为了让本章的输出在每台机器上都一样（测试会逐字比较），下面的演示**固定用仓库自带的模型**；
# 到了游乐场再换成你的模型（如果你训练过；存下的这次运行还没有，上面打印的是“使用仓库自带的模型”，游乐场也就用它）。

# %%
import time

import matplotlib.pyplot as plt
import torch
from IPython.display import HTML, display

from minigpt import evaluate, generate
from minigpt.checkpoint import SHIPPED_CHECKPOINT, default_checkpoint, load_checkpoint, load_tokenizer
from minigpt.common import use_chinese_font
from minigpt.generate import answer, answers, apply_repetition_penalty, filter_logits
from minigpt.jsonl import read_qa_jsonl
from minigpt.playground import playground, probability_html
from minigpt.split_data import prepare_data

font = use_chinese_font()  # 图里的中文标题、坐标轴和刻度（刻度就是候选的字）

# %%
torch.set_grad_enabled(False)  # 本章只做推理，不需要梯度
if device.type == "cpu":
    # 一次只生成一个字，矩阵很小：单线程反而更快（多线程的同步开销更大，机器忙时尤其明显），结果也与核数无关
    torch.set_num_threads(1)
your_checkpoint = default_checkpoint()  # 游乐场用它（第 9 节）
model, meta = load_checkpoint(SHIPPED_CHECKPOINT, map_location="cpu")
model = model.to(device).eval()
tokenizer = load_tokenizer(meta)
SEP = tokenizer.sep_token_id
paths = prepare_data()  # 训练/验证划分（第 3 章），缺了就现做
quiet = dict(warn=lambda message: None, summary=False)
train_pairs = read_qa_jsonl(paths["train"], **quiet)  # 划分时已经打乱过
val_pairs = read_qa_jsonl(paths["val"], **quiet)

# %%
# NBVAL_CHECK_OUTPUT
print("架构:", meta["arch"], " 训练步数:", meta["step"])
print("配置:", meta["config"])
print(f"参数量: {model.num_parameters():,}  词表: {tokenizer.get_vocab_size()}  上下文: {model.config.block_size}")


# %% [markdown]
# ## 2. 一步生成，然后十行的贪心循环
#
# 模型在每个位置输出 logits $z \in \mathbb{R}^{V}$（$V$ 是词表大小，第 5 章），softmax 把它变成概率：
#
# $$p_i = \frac{e^{z_i}}{\sum_{j=1}^{V} e^{z_j}}$$
#
# 生成只用得到**最后一个位置**的 logits：它是对“下一个字”的打分。看看模型读完“问题 + `<sep>`”之后，
# 对回答第一个字的打分：

# %%
# NBVAL_CHECK_OUTPUT
def prompt_ids(question):
    ids, _ = tokenizer.encode(question, None, pad_to_max_length=False)  # 问题 + <sep>
    return torch.tensor([ids], device=device)  # (1, T)


question = "成语“画蛇添足”的意思是什么？"
logits = model(prompt_ids(question))[0, -1]  # (V,) 最后一个位置 = 对下一个字的打分
probs = logits.softmax(-1)
top = probs.topk(8)
for p, i in zip(top.values.tolist(), top.indices.tolist()):
    print(f"{tokenizer.id2word[i]!r:>8}  id={i:<5d} p={p:.3f}")

# %% [markdown]
# 释义题的回答往往以“比喻”“形容”“指”开头。这个成语模型学过：它几乎把全部概率都押在了“比”上（0.992），
# 别的字只分到零头。第 3 节会找一个它没把握的位置，那里的分布要平得多。
#
# **贪心**（greedy）：每一步都取概率最大的字（argmax）。确定、可复现。写成循环只要十行：
# 每一步把**整个序列**重新送进模型，取最后一个位置的 logits，选出最大的那个接到后面，选到 `<sep>` 就停。
# 这也是种子风格的生成（`benchmarks/seed_reference.py` 的 `seed_generate`）：每一步都把前面所有的字重算一遍。
# 先自己写（练习 7.1），再看我们的十行。

# %% [markdown]
# ### 练习 7.1　贪心生成循环（★★）
#
# 一个 token 一个 token 地生成：每一步把当前序列 `(1, T)` 喂给模型，取**最后一个位置**的 logits，选概率最大的
# （argmax）接到序列后面；生成了停止符就停（停止符本身也放进结果），最多 `max_new_tokens` 个。不用 KV cache。
#
# - 输入：`model`（`GPTLMHeadModel`，`model(ids)` 返回 `(1, T, V)`），`prompt`（`list[int]`），`max_new_tokens`，`stop_id`
# - 输出：新生成的 token（`list[int]`，不含提示词）
#
# 对照：`minigpt/generate.py` 的 `generate(..., use_cache=False)`。卡住了运行 `hint("7.1")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch07.py)

# %%
import torch
from minigpt.exercises import check, hint


@torch.no_grad()
def greedy_generate(model, prompt, max_new_tokens, stop_id):
    """返回新生成的 token 列表（含停止符，不含提示词）。"""
    raise NotImplementedError  # 在这里写你的代码

check("7.1", greedy_generate)

# %% [markdown]
# 我们的版本：

# %%
def my_greedy(model, ids, max_new_tokens, stop_id):
    """ids: (1, T) 提示词。返回 提示词 + 新生成的 token（含停止符）。"""
    for _ in range(max_new_tokens):
        logits = model(ids)[:, -1]  # (1, V)：整个序列算一遍，只用最后一个位置
        next_id = logits.argmax(-1, keepdim=True)  # (1, 1)
        ids = torch.cat([ids, next_id], dim=1)  # (1, T+1)
        if next_id.item() == stop_id:
            break
    return ids


# %% [markdown]
# 证明：对训练集、验证集各 3 个问题和一个编出来的成语，`my_greedy` 与包里的 `generate`（不用缓存
# `use_cache=False`，和默认用缓存的两种）逐个 token 相同。`answer()` 是它外面的一层：把问题编码、把新 token
# 解码成文字（✓ = 与参考答案完全一致）。

# %%
# NBVAL_CHECK_OUTPUT
questions = [(p.question, p.answer, "训练") for p in train_pairs[:3]] + [(p.question, p.answer, "验证") for p in val_pairs[:3]]
questions.append(("“月下敲猫”是什么意思？", None, "编的"))
for q, ref, where in questions:
    prompt = prompt_ids(q)
    mine = my_greedy(model, prompt, 64, SEP)
    assert torch.equal(mine, generate.generate(model, prompt, 64, stop_token_ids=(SEP,), use_cache=False))
    assert torch.equal(mine, generate.generate(model, prompt, 64, stop_token_ids=(SEP,)))
    text = tokenizer.decode(mine[0, prompt.shape[1]:-1].tolist())  # 去掉提示词和最后的 <sep>
    assert text == answer(model, tokenizer, q)
    verdict = "" if ref is None else ("✓" if text == ref else f"✗（参考：{ref}）")
    print(f"[{where}] {q} → {text} {verdict}")
print("my_greedy 与 generate 逐个 token 相同（不用缓存、用缓存都一样）")

# %% [markdown]
# 训练集里的三个问题都答对了。验证集里的成语模型从没见过（第 3 章按成语划分）：两道释义都是编的；
# 拼音也错了，不过四个音节对了两个（“不”“行”这两个字在别的成语里学过怎么读）。编出来的“月下敲猫”它也照样回答。
# 学过的和没见过的差多少、换个问法还认不认得，第 7 节再量。

# %% [markdown]
# ## 3. 采样：温度、top-k、top-p
#
# 贪心总选“最保险”的字，同一个问题永远是同一个回答。**采样**（sampling）按概率抽一个字：
# 概率 0.6 的字十次里大约抽中六次。怎么抽由三个旋钮决定，它们都是在抽之前**改 logits**：
#
# **温度** $T$：先把 logits 除以 $T$ 再做 softmax。$T<1$ 分布更尖（更像贪心），$T>1$ 更平（更随机），$T\to 0$ 就是贪心：
#
# $$p_i(T) = \frac{e^{z_i / T}}{\sum_j e^{z_j / T}}$$
#
# **top-k**：只保留 logit 最大的 $k$ 个字，其余设为 $-\infty$（softmax 之后概率为 0）。
#
# **top-p**（nucleus，“核”）：按概率从大到小排，保留**最少**的几个字，使它们的概率之和 $\ge p$：
#
# $$S_p = \text{最小的集合 } S,\ \text{使得}\ \sum_{i \in S} p_i \ge p$$
#
# 判断一个字留不留：**比它更可能的字**的概率和还不到 $p$，它就是凑够 $p$ 所需要的，留下。
# 分布尖时 top-p 只留一两个字，分布平时留很多，比固定的 $k$ 更灵活。顺序与 transformers 相同：温度 → top-k → top-p。
# 先自己写两个过滤器：练习 7.2 是本章不写的 min-p（和温度一起），练习 7.3 是 top-p。

# %% [markdown]
# ### 练习 7.2　温度 + min-p：按最可能的那个字定门槛（★★）
#
# top-k 总留 $k$ 个，top-p 按累计概率留。**min-p** 是另一种截断（transformers 的 `min_p`）：门槛随分布变化——
# 先除以温度 $z / T$，算出概率 $p_i$；概率低于 **min_p × 最大的那个概率** 的字，logit 设为 `-inf`，其余保留（除以温度后的值）。
# 分布尖的时候门槛高、留得少；分布平的时候门槛低、留得多。
#
# - 输入：`logits` `(B, V)`，`temperature`（> 0），`min_p`（0 到 1 之间）
# - 输出：`(B, V)`：除以温度后的 logits，被去掉的位置是 `float("-inf")`
#
# 对照：本章“采样”一节的 top-k、top-p（`minigpt/generate.py` 的 `filter_logits`）；transformers 的 `MinPLogitsWarper`。卡住了运行 `hint("7.2")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch07.py)

# %%
import torch
from minigpt.exercises import check, hint


def temperature_min_p(logits, temperature, min_p):
    """logits: (B, V)。返回 (B, V)：除以 temperature；概率 < min_p × 最大概率 的位置为 -inf。"""
    raise NotImplementedError  # 在这里写你的代码

check("7.2", temperature_min_p)

# %% [markdown]
# ### 练习 7.3　top-p（nucleus）过滤（★★）
#
# 按概率从大到小排，保留**最少**的几个字，使它们的概率之和 $\ge p$；其余的 logit 设为 `-inf`。
# 概率最大的那个字总是保留。结果要放回原来的位置（不是排序后的顺序）。
#
# 判断一个字留不留：**比它更可能的字**的概率之和 $< p$ 就留下（它是凑够 $p$ 所需要的）。
#
# - 输入：`logits` `(B, V)`，`p`（0 < p ≤ 1）
# - 输出：`(B, V)`，与输入同样的顺序
#
# 对照：`minigpt/generate.py` 的 `filter_logits`（`top_p`）。卡住了运行 `hint("7.3")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch07.py)

# %%
import torch
from minigpt.exercises import check, hint


def top_p_filter(logits, p):
    """logits: (B, V)。返回 (B, V)：核（nucleus）之外的位置为 -inf。"""
    raise NotImplementedError  # 在这里写你的代码

check("7.3", top_p_filter)

# %% [markdown]
# 我们的版本：下面的函数对应 `minigpt/generate.py` 的 `filter_logits`。

# %%
def my_filter_logits(logits, *, temperature=1.0, top_k=None, top_p=None):
    """logits: (B, V)。被排除的字的 logit 设为 -inf。"""
    logits = logits / temperature
    if top_k is not None:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]  # (B, 1) 第 k 大的 logit
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)  # (B, V)
        probs = sorted_logits.softmax(-1)
        before = probs.cumsum(-1) - probs  # 比它更可能的字的概率和
        remove_sorted = before >= top_p  # 前面已经凑够 p：不在核里（第一个永远保留）
        remove = remove_sorted.scatter(1, order, remove_sorted)  # 排序后的位置 → 原来的位置
        logits = logits.masked_fill(remove, float("-inf"))
    return logits


# %% [markdown]
# 用一个模型没那么有把握的位置来看：几个数据里没有的成语，挑模型对回答第一个字最拿不准的那个。
# “拿不准”用**熵** $H = -\sum_i p_i \ln p_i$ 衡量：所有概率都押在一个字上时是 0，越分散越大；
# 用自然对数算，单位叫 nat（第 5 章的交叉熵也是）。

# %%
# NBVAL_CHECK_OUTPUT
def entropy(p):
    return float(-(p * p.clamp_min(1e-12).log()).sum())  # 单位：nat；越大越“拿不准”


candidates = ["“分钗破镜”是什么意思？", "“屠所牛羊”是什么意思？", "“鲜蹦活跳”是什么意思？", "“月下敲猫”是什么意思？"]
data_text = Path("data/data.jsonl").read_text(encoding="utf-8")
assert not any(q.split("”")[0].lstrip("“") in data_text for q in candidates)  # 这些成语都不在数据里
demo_question = max(candidates, key=lambda q: entropy(model(prompt_ids(q))[0, -1].softmax(-1)))
demo_logits = model(prompt_ids(demo_question))[0, -1][None]  # (1, V)
order = demo_logits[0].softmax(-1).topk(12).indices.tolist()  # T=1 时最可能的 12 个字，下面的图都用这个顺序
settings = [dict(temperature=0.5), dict(temperature=2.0), dict(top_k=5), dict(top_p=0.8),
            dict(temperature=0.7, top_k=20, top_p=0.9)]
for kw in settings:
    assert torch.equal(my_filter_logits(demo_logits, **kw), filter_logits(demo_logits, **kw))
print("演示问题:", demo_question)
print(f"my_filter_logits 与 filter_logits 在 {len(settings)} 种设置下逐位相同")

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 3.2), sharey=True)
entropies = {}
for ax, T in zip(axes, [0.5, 1.0, 2.0]):
    p = my_filter_logits(demo_logits, temperature=T).softmax(-1)[0]
    entropies[T] = entropy(p)
    ax.bar(range(len(order)), p[order].tolist(), color="tab:blue")
    ax.set_xticks(range(len(order)), [tokenizer.id2word[i] for i in order])
    ax.set_title(f"温度 T = {T}（熵 {entropies[T]:.2f} nat）")
    ax.set_xlabel("候选的下一个字")
axes[0].set_ylabel("概率")
plt.tight_layout()
plt.show()
assert entropies[0.5] < entropies[1.0] < entropies[2.0]  # 温度越高，分布越平（熵越大）

# %%
variants = {"原始分布": {}, "top-k = 5": {"top_k": 5}, "top-p = 0.8": {"top_p": 0.8}}
fig, axes = plt.subplots(1, 3, figsize=(13, 3.2), sharey=True)
kept = {}
for ax, (name, kw) in zip(axes, variants.items()):
    p = my_filter_logits(demo_logits, **kw).softmax(-1)[0]
    kept[name] = int((p > 0).sum())
    ax.bar(range(len(order)), p[order].tolist(), color="tab:orange" if kw else "tab:blue")
    ax.set_xticks(range(len(order)), [tokenizer.id2word[i] for i in order])
    ax.set_title(f"{name}：剩 {kept[name]} 个字" if kw else f"{name}（{kept[name]} 个字都有概率）")
    ax.set_xlabel("候选的下一个字")
axes[0].set_ylabel("概率（重新归一化后）")
plt.tight_layout()
plt.show()

p_sorted = demo_logits[0].softmax(-1).sort(descending=True).values
n_nucleus = kept["top-p = 0.8"]
assert kept["top-k = 5"] == 5
assert p_sorted[:n_nucleus].sum() >= 0.8 > p_sorted[:n_nucleus - 1].sum()  # 最少的、凑够 0.8 的那几个
print(f"top-p=0.8 留下 {n_nucleus} 个字，它们原来的概率和 = {float(p_sorted[:n_nucleus].sum()):.3f}")

# %% [markdown]
# ## 4. 重复惩罚，然后把它们装进一个生成循环
#
# 贪心解码容易进入循环：某个片段一旦出现，它让自己再次出现的概率变大。
# 重复惩罚（CTRL，Keskar et al. 2019；transformers 的做法相同）对已经出现过的字 $i$（提示词和已生成的）：
#
# $$z_i' = \begin{cases} z_i / \theta & z_i > 0 \\ z_i \cdot \theta & z_i \le 0 \end{cases}\qquad \theta > 1$$
#
# 两种情况都让出现过的字更不可能被选中。先自己写（练习 7.4）。

# %% [markdown]
# ### 练习 7.4　重复惩罚（★★）
#
# 对已经出现过的字 $i$（提示词 + 已生成的）：
#
# $$z_i' = \begin{cases} z_i / \theta & z_i > 0 \\ z_i \cdot \theta & z_i \le 0 \end{cases}\qquad (\theta > 1)$$
#
# 两种情况都让它更不可能被选中。一个字出现几次都只惩罚一次；没出现过的字不变。不要改动传进来的 `logits`。
#
# - 输入：`logits` `(B, V)`，`seen_ids` `(B, L)`（`torch.long`，可能有重复），`penalty`（$\theta$）
# - 输出：`(B, V)`
#
# 对照：`minigpt/generate.py` 的 `apply_repetition_penalty`。卡住了运行 `hint("7.4")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch07.py)

# %%
import torch
from minigpt.exercises import check, hint


def repetition_penalty(logits, seen_ids, penalty):
    """logits: (B, V)；seen_ids: (B, L)。返回 (B, V)：出现过的字被惩罚。"""
    raise NotImplementedError  # 在这里写你的代码

check("7.4", repetition_penalty)

# %% [markdown]
# 我们的版本，对应 `minigpt/generate.py` 的 `apply_repetition_penalty`。

# %%
def my_repetition_penalty(logits, seen_ids, penalty):
    """logits: (B, V)；seen_ids: (B, L) 出现过的 token。"""
    if penalty == 1.0:
        return logits
    score = torch.gather(logits, 1, seen_ids)  # (B, L) 出现过的字现在的 logit
    score = torch.where(score < 0, score * penalty, score / penalty)
    return logits.scatter(1, seen_ids, score)  # 放回原位（出现几次都只惩罚一次）


# %% [markdown]
# 现在把所有部件装进一个生成循环 `my_generate`，形状和 `generate` 的内部循环（`minigpt/generate.py` 的 `_steps`）一样：
#
# - 先做重复惩罚，再做温度、top-k、top-p，最后按概率抽（`torch.multinomial`）；`do_sample=False` 时是贪心；
# - 采样用一个自己的随机数生成器 `torch.Generator().manual_seed(seed)`：同样的 seed 得到同样的回答，也不影响全局随机状态；
# - `logits_to_keep=1`：只为最后一个位置算 logits（$C \times V$ 的矩阵乘只做一次，而不是每个位置一次），
#   生成只用得到它。

# %%
def my_generate(model, ids, max_new_tokens, stop_id, *, do_sample=False, temperature=1.0, top_k=None, top_p=None,
                repetition_penalty=1.0, seed=None):
    generator = torch.Generator(device=ids.device).manual_seed(seed) if do_sample and seed is not None else None
    for _ in range(max_new_tokens):
        logits = model(ids, logits_to_keep=1)[:, -1]  # (1, V)
        logits = my_repetition_penalty(logits, ids, repetition_penalty)
        if do_sample:
            probs = my_filter_logits(logits.float(), temperature=temperature, top_k=top_k, top_p=top_p).softmax(-1)
            next_id = torch.multinomial(probs, 1, generator=generator)  # (1, 1)：按概率抽一个
        else:
            next_id = logits.argmax(-1, keepdim=True)
        ids = torch.cat([ids, next_id], dim=1)
        if next_id.item() == stop_id:
            break
    return ids


# %%
# NBVAL_CHECK_OUTPUT
seen = prompt_ids(demo_question)
for penalty in (1.0, 1.3):
    assert torch.equal(my_repetition_penalty(demo_logits, seen, penalty), apply_repetition_penalty(demo_logits, seen, penalty))
runs = 0
for q, _, _ in questions[:4] + questions[-1:]:
    for kw in [dict(do_sample=True, temperature=1.0), dict(do_sample=True, temperature=0.7, top_k=20, top_p=0.9),
               dict(do_sample=True, top_p=0.8, repetition_penalty=1.3), dict(repetition_penalty=1.3)]:
        for seed in range(3):
            mine = my_generate(model, prompt_ids(q), 64, SEP, seed=seed, **kw)
            theirs = generate.generate(model, prompt_ids(q), 64, stop_token_ids=(SEP,), use_cache=False, seed=seed, **kw)
            assert torch.equal(mine, theirs)
            runs += 1
print(f"my_repetition_penalty 与 apply_repetition_penalty 相同；my_generate 与 generate 在 {runs} 次生成里逐个 token 相同")

# %% [markdown]
# 一个小问题：`top_k=1` 的采样和贪心是什么关系？top-k 只留一个字，抽样只能抽到它——就是贪心：

# %%
# NBVAL_CHECK_OUTPUT
greedy_ids = my_generate(model, prompt_ids(question), 64, SEP)
assert all(torch.equal(my_generate(model, prompt_ids(question), 64, SEP, do_sample=True, top_k=1, seed=s), greedy_ids)
           for s in range(5))
print("top_k=1 的采样（5 个不同的 seed）都和贪心一样：", tokenizer.decode(greedy_ids[0, prompt_ids(question).shape[1]:-1].tolist()))

# %% [markdown]
# ### 采样的结果怎么样？
#
# 问一个训练过的成语，温度 1.0，用不同的 seed 采样：

# %%
for seed in range(4):
    print(f"采样 seed={seed}: {answer(model, tokenizer, question, do_sample=True, temperature=1.0, seed=seed)}")

# %% [markdown]
# 四次采样都和贪心一字不差：这个成语模型学过，每一步都很有把握（第一个字的概率 0.992），按概率抽也几乎总抽到
# 同一个字。可一旦某一步抽到了概率不高的字，后面的字就接在一个训练时从没见过的开头上，回答很快就乱了。
# 对一个只会背固定答案的小模型，采样不会带来“更好的表达”，只会带来更多的错；事实问答用贪心。
#
# 在没见过的成语上降低温度也救不了它：

# %%
for T in [0.3, 1.0, 1.5]:
    outs = [answer(model, tokenizer, demo_question, do_sample=True, temperature=T, seed=s) for s in range(3)]
    print(f"T={T}: " + " | ".join(outs))

# %% [markdown]
# $T=0.3$ 的三个回答彼此更像（分布更尖，接近贪心），但同样不是这个成语的意思：模型不认识它，温度只改变
# “从它猜的分布里怎么抽”，不会让它知道答案；$T$ 越高，回答越散、越不成句。
#
# ### 重复惩罚的效果
#
# 为了看清楚循环，这里**不在 `<sep>` 处停**（`stop_token_ids=()`），让模型一直写 60 个 token。注意这已经超出了
# 训练时见过的情形：训练数据里 `<sep>` 后面就结束了，模型从没学过回答之后该写什么。

# %%
def continue_text(q, n, penalty):
    prompt = prompt_ids(q)
    out = generate.generate(model, prompt, n, stop_token_ids=(), repetition_penalty=penalty)[0, prompt.shape[1]:]
    return out, len(set(out.tolist())) / len(out)  # 新生成的 id，以及其中不同字的占比


rep_candidates = [p.question for p in val_pairs[:20]]
rep_question = min(rep_candidates, key=lambda q: continue_text(q, 60, 1.0)[1])  # 贪心时重复最严重的问题
print("问题:", rep_question)
distinct = {}
for penalty in [1.0, 1.3]:
    out, distinct[penalty] = continue_text(rep_question, 60, penalty)
    text = tokenizer.decode(out).replace("<sep>", " ⏎ ")
    print(f"penalty={penalty}: 不同字占比 {distinct[penalty]:.2f}\n  {text}")
assert distinct[1.3] > distinct[1.0]  # 惩罚之后，重复少了

# %% [markdown]
# 惩罚之后重复少了，但多出来的是**另一些**不相干的字：惩罚只能让模型“别再写这个字”，不能让它知道该写什么。
# 它治的是循环这个症状，对一个本来就不知道答案的模型，换来的是更多样的乱码，而不是更好的回答。

# %% [markdown]
# ---
#
# **第一部分到这里结束**（第 1–4 节和练习 7.1–7.4）。这是一个可以停下的地方。
# 下次接着读：打开 notebook，选中下面这个单元，运行它上面的所有单元（JupyterLab 菜单 Run → Run All Above Selected Cell，约 10 秒），再往下读。
#
# **第二部分**：KV cache（每一步只算新来的那个字）和批量生成。

# %% [markdown]
# ## 5. KV cache：每一步只算新来的那个字
#
# `my_greedy` 生成第 $t$ 个字时，把前面 $t$ 个位置全部重新算一遍。可是位置 $j$ 的键 $k_j$ 和值 $v_j$ 只取决于
# 它自己和它左边的字（因果注意力），后面的字改变不了它们：上一步算过的，这一步算出来还是一样。
# **KV cache** 把每一层已经算过的 $K, V$ 存起来，每一步只为新来的那个字算 $q, k, v$：
#
# - 第一步（prefill）：把整个提示词送进去，每层的 $K, V$ 存进缓存；
# - 之后每一步：只送进新字 `(1, 1)`，每层把它的 $k, v$ 接在缓存后面，新字的 $q$ 对缓存里**全部**的键做注意力
#   （它本来就能看见所有过去的位置，不需要因果掩码）。
#
# 缓存要占多少内存？先预测（练习 7.5），下一个单元量给你看。

# %% [markdown]
# ### 练习 7.5　预测：读满 128 个 token 后，KV cache 有多大（★）
#
# **先别往下运行。** 课程的 `cpu` 模型：`n_layer=4`、`n_embd=256`、上下文 128，float32。生成时 KV cache 为**每一层、每个位置**
# 存下 K 和 V。一条序列读满 128 个 token 之后，缓存里一共有多少 KiB（$2^{10}$ 字节）？
#
# 把你的预测赋给 `my_guess`，误差在 ±10% 以内算对。
#
# 对照：`minigpt/kv_cache.py` 的 `KVCache`；本节下面的单元格。卡住了运行 `hint("7.5")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch07.py)

# %%
from minigpt.exercises import check, hint

my_guess = ...  # 你的预测：KV cache 一共多少 KiB

check("7.5", my_guess)

# %%
# 练习 7.5 的答案：用包里的 KVCache 读满一条序列，数一数缓存里的字节
from minigpt.kv_cache import KVCache

full_cache = KVCache(model.config.n_layer)
model(torch.randint(3, model.config.vocab_size, (1, model.config.block_size), device=device), kv_cache=full_cache, logits_to_keep=1)
kib = sum(t.numel() * t.element_size() for t in full_cache.keys + full_cache.values) / 2**10
print(f"读满 {full_cache.seq_len} 个 token：{model.config.n_layer} 层 × (K + V) × {model.config.n_embd} 维 × 4 字节 × {full_cache.seq_len} = {kib:,.0f} KiB")

# %% [markdown]
# 再自己写带缓存的一步注意力（练习 7.6）。

# %% [markdown]
# ### 练习 7.6　KV cache：只算新来的那个 token（★★★）
#
# 生成时每一步只多一个 token。把之前所有位置的键 $K$、值 $V$ 存起来，新的一步只为新 token 算 $q, k, v$：
#
# 1. `attn.qkv_proj(x_new)` 得到新 token 的 $q, k, v$，拆成 `(B, nh, 1, hs)`（练习 5.2；`nh = attn.config.n_head`）；
# 2. 把新的 $k, v$ 接在缓存后面（沿序列那一维）：`(B, nh, S + 1, hs)`；
# 3. 新 token 的 $q$ 对**全部** $S + 1$ 个键做注意力（它本来就能看见所有过去的位置，不需要因果掩码）；合并头，经过 `attn.out_proj`。
#
# 结果必须和把整句重新算一遍时最后一个位置的输出相同。
#
# - 输入：`attn`（`CausalSelfAttention`），`x_new` `(B, 1, C)`，`past_k`、`past_v` `(B, nh, S, hs)`（S 可以是 0）
# - 输出：`(y, k, v)`：`y` `(B, 1, C)`；`k`、`v` 是更新后的缓存 `(B, nh, S + 1, hs)`
#
# 对照：`minigpt/model.py` 的 `CausalSelfAttention.forward`（`kv_cache`）和 `minigpt/kv_cache.py` 的 `KVCache.update`。卡住了运行 `hint("7.6")`（一次一步）；[参考答案](../minigpt/exercises/solutions/ch07.py)

# %%
import torch
import torch.nn.functional as F
from minigpt.exercises import check, hint


def attend_with_cache(attn, x_new, past_k, past_v):
    """x_new: (B, 1, C)；past_k, past_v: (B, nh, S, hs)。返回 (y (B, 1, C), k, v (B, nh, S+1, hs))。"""
    raise NotImplementedError  # 在这里写你的代码

check("7.6", attend_with_cache)

# %% [markdown]
# 我们的版本。模型的 `forward` 已经支持这件事（`minigpt/model.py` 的 `CausalSelfAttention.forward`：
# `k, v = kv_cache.update(self.layer_idx, k, v)`），它只要求缓存有两样东西：`update` 和 `seq_len`
# （已经存了多少个位置，用来给新字编位置号）。下面的 `MyKVCache` 就是 `minigpt/kv_cache.py` 里 `KVCache`
# 最简单的那种存法（用 `torch.cat` 追加）：

# %%
class MyKVCache:
    def __init__(self, n_layer):
        self.keys = [None] * n_layer  # keys[i]：第 i 层已缓存的 K，(B, nh, S, hs)
        self.values = [None] * n_layer

    @property
    def seq_len(self):
        return 0 if self.keys[0] is None else self.keys[0].shape[2]

    def update(self, layer_idx, k, v):
        """追加这一步的 k、v (B, nh, T_new, hs)；返回到目前为止的全部。"""
        if self.keys[layer_idx] is not None:
            k = torch.cat([self.keys[layer_idx], k], dim=2)  # (B, nh, S + T_new, hs)
            v = torch.cat([self.values[layer_idx], v], dim=2)
        self.keys[layer_idx], self.values[layer_idx] = k, v
        return k, v


def my_cached_greedy(model, ids, max_new_tokens, stop_id):
    cache = MyKVCache(model.config.n_layer)
    step_ids = ids  # 第一步送进整个提示词，之后只送新字
    for _ in range(max_new_tokens):
        logits = model(step_ids, kv_cache=cache, logits_to_keep=1)[:, -1]  # (1, V)
        next_id = logits.argmax(-1, keepdim=True)  # (1, 1)
        ids = torch.cat([ids, next_id], dim=1)
        if next_id.item() == stop_id:
            break
        step_ids = next_id
    return ids


# %%
# NBVAL_CHECK_OUTPUT
for q, _, _ in questions:
    prompt = prompt_ids(q)
    cached = my_cached_greedy(model, prompt, 64, SEP)
    assert torch.equal(cached, my_greedy(model, prompt, 64, SEP))  # 与每步重算的结果相同
    assert torch.equal(cached, generate.generate(model, prompt, 64, stop_token_ids=(SEP,)))  # 与包里的相同
print(f"{len(questions)} 个问题：my_cached_greedy 与 my_greedy、generate 逐个 token 相同")

# %% [markdown]
# 省下了什么？设回答有 $T$ 个字。每一层的计算分两部分：
#
# - 投影和 MLP（每个位置一次矩阵乘）：不用缓存时第 $t$ 步要算 $t$ 个位置，一个回答总共 $O(T^2)$；
#   用缓存时每步只算 1 个位置，总共 $O(T)$。
# - 注意力本身：第 $t$ 步的新字要和缓存里的 $t$ 个键逐个打分，这部分**仍然随 $t$ 增长**，一个回答总共 $O(T^2)$；
#   不用缓存时每步要算 $t \times t$ 的分数矩阵，总共 $O(T^3)$。
#
# 所以 KV cache 去掉的是“把前缀重算一遍”，而不是让每一步的代价与长度无关。对这个 128 个位置的小模型，
# 投影和 MLP 占大头，缓存的收益很明显。量一量：从一个短问题出发，一直生成到上下文填满，比较三种循环。

# %%
speed_prompt = prompt_ids("请写出“一丝一毫”的拼音。")
n_new = model.config.block_size - speed_prompt.shape[1]  # 一直写到上下文填满
repeats = 1 if FAST else 5
loops = {
    "种子风格：每步重算整句（my_greedy）": lambda: my_greedy(model, speed_prompt, n_new, stop_id=-1),
    "KV cache（my_cached_greedy）": lambda: my_cached_greedy(model, speed_prompt, n_new, stop_id=-1),
    "包里的 generate（预留缓存）": lambda: generate.generate(model, speed_prompt, n_new, stop_token_ids=()),
}
speed = {}
for name, run in loops.items():
    run()  # 预热一次（第一次调用有一次性的开销）
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - t0)
    assert out.shape[1] == model.config.block_size
    speed[name] = n_new / best
baseline = next(iter(speed.values()))
print(f"生成 {n_new} 个 token（设备 {device}，单线程，取 {repeats} 次中最快的一次）")
for name, tps in speed.items():
    print(f"  {tps:6.0f} token/s（×{tps / baseline:.1f}）  {name}")

# %% [markdown]
# 包里的 `generate` 和 `my_cached_greedy` 算的东西一样，谁快要看机器和当时的负载（这台共享的机器上几次运行互有先后）。它知道最终长度，
# 一开始就给每层预留好整块缓存（`KVCache(n_layer, max_len=...)`），每步原地写进下一个空位，不用 `torch.cat`
# 把已缓存的全部复制一遍；可它每一步还要照顾批量生成（哪些行已经结束、停止符、掩码），省下的又花掉了一些。
# 这两种循环生成一个字都要一毫秒多（上面每秒七百个左右），而这个模型一个字的算术量很小：时间花到哪里去了？简单说，只有一行输入时，
# 每生成一个字都要把全部权重从内存里读一遍（每读 4 个字节只做 2 次运算，快慢看内存，不看算力），再加上每一步
# 上百次 Python 调用和算子分发的杂事；第 6 节的批量生成让整批分摊这些花费。细节、实测和包里的快速解码路径
# （`minigpt/fast_decode.py`）放在本章末尾的附录里，选读。

# %% [markdown]
# ## 6. 批量生成
#
# `answers()` 把多个问题一起生成。问题长短不一，要补齐成一个矩形：补在**左边**（左填充），每一行最后一个位置都是真实的字，
# 下一个字的 logits 都在 `[:, -1]`；再配上 attention mask（第 5 章：padding 不被看见，位置编号从第一个真实字数起）。
# 先生成完（选到 `<sep>`）的行从批里拿掉，缓存也同步删掉。结果与逐个贪心生成完全相同，只是更快：

# %%
batch_questions = [p.question for p in val_pairs[:32]]
t0 = time.perf_counter()
one_by_one = [answer(model, tokenizer, q) for q in batch_questions]
t_single = time.perf_counter() - t0
t0 = time.perf_counter()
batched = answers(model, tokenizer, batch_questions)
t_batch = time.perf_counter() - t0
assert batched == one_by_one  # 左填充 + mask：与逐个生成一字不差
print(f"{len(batch_questions)} 个问题：逐个 {t_single:.2f} s，批量 {t_batch:.2f} s，快 {t_single / t_batch:.1f} 倍")

# %% [markdown]
# 快这么多，是因为每一步的固定花费（把权重读一遍、上百个算子的杂事，第 5 节末尾）由整批的每一行分摊，而不是每行各付一遍。
# 第 6 章的精确匹配评估就是这样批量生成的（`minigpt/generate.py` 的 `greedy_answers`）。

# %% [markdown]
# ---
#
# **第二部分到这里结束**（第 5–6 节和练习 7.5、7.6）。这是一个可以停下的地方。
# 下次接着读：打开 notebook，选中下面这个单元，运行它上面的所有单元（JupyterLab 菜单 Run → Run All Above Selected Cell，约 30 秒），再往下读。
#
# **第三部分**：拿这个模型做实验：换个问法还认得吗，没见过的成语会怎样，生成时在看哪里。

# %% [markdown]
# ## 7. 学会的是成语，还是问题的字符串？
#
# 训练数据里，同一个成语的同一个事实用好几种问法出现（第 6 章第 8 节）。模型是学会了“这个成语是什么意思”，
# 还是只背下了那几个问题字符串？把一个训练过的成语用四种方式问一遍：训练时见过的问法；训练中**别的**成语
# 常用、这个成语却没这样问过的问法；留出的一族问法（`data/heldout_phrasings.jsonl`，提示词和句式在训练中从没出现）；
# 再加一个随手打的问法。

# %%
# NBVAL_CHECK_OUTPUT
IDIOM = "画蛇添足"
heldout = read_qa_jsonl("data/heldout_phrasings.jsonl", **quiet)
facts = [p for p in train_pairs if p.get("idiom") == IDIOM and p.type == "meaning"]
reference = facts[0].answer
trained_questions = {p.question for p in train_pairs}
ways = {
    "训练时见过的问法": facts[0].question,
    "别的成语常用的问法": f"“{IDIOM}”是什么意思？",
    "留出的问法": next(p.question for p in heldout if p.get("idiom") == IDIOM and p.type == "meaning"),
    "随手打的问法": f"{IDIOM}这个词到底啥意思啊",
}
for kind, q in ways.items():
    got = answer(model, tokenizer, q)
    seen_before = "训练中见过" if q in trained_questions else "训练中没见过"
    print(f"[{kind}，{seen_before}] {q}\n    → {got} {'✓' if got == reference else '✗'}")
print(f"参考答案：{reference}")

# %% [markdown]
# 前三种问法都答对了，包括训练时这个成语从没用过的两种：模型认得的是“问的是哪个成语、问它什么”，不只是背过的句子。
# 随手打的那句错了：开头“比喻做了”还对，后面就跑偏了——“到底啥意思啊”这样的口语，训练数据里很少见。
#
# 在训练集、留出的问法（只问训练过的成语）和验证集（没见过的成语）各随机抽一批问题，比较贪心回答与参考答案
# 完全一致的比例。抽题的随机种子和训练结束时的报告一样（第 6 章），所以这就是 `checkpoints/README.md` 表里的那 500 题：

# %%
n_eval = 64 if FAST else 500
taught_heldout = evaluate.taught_heldout(heldout, train_pairs)  # 只留问训练过的成语的那些（第 6 章）
groups = {"训练（见过的问法）": (train_pairs, 2), "换问法（训练过的成语）": (taught_heldout, 4),
          "验证（没见过的成语）": (val_pairs, 3)}
results = {}
for name, (pairs, k) in groups.items():
    rows = evaluate.sample(pairs, n_eval, 42 + k)  # 训练的随机种子 42，和最终报告抽同样的题
    preds = answers(model, tokenizer, [p.question for p in rows])  # 批量贪心
    results[name] = sum(pred == p.answer for pred, p in zip(preds, rows)) / len(rows)
    print(f"{name}：{len(rows)} 题，完全答对 {results[name]:.1%}")
assert results["训练（见过的问法）"] > results["换问法（训练过的成语）"] > results["验证（没见过的成语）"]

# %% [markdown]
# 训练时见过的问法几乎全对（99.6%）；换一种训练中从没出现过的问法，训练过的成语答对约四分之三（73.0%）；
# 没见过的成语只答对 9.2%。`checkpoints/README.md` 的表（99.6%、72.8%、8.8%）是训练结束时用 bf16 算的，
# 这里用 fp32，个别题的回答不同；那里还按题型拆开了：换问法时读音题最容易错，没见过的成语里接龙最好猜。

# %% [markdown]
# ### 没见过的成语：“幻觉”
#
# 对没见过的成语，模型照样回答：语言模型只会“接着写最像的字”，不会说“我不知道”。这就是幻觉（hallucination）。
# 验证集里的成语是真成语，只是训练时从没出现过；最后一个是编的：

# %%
# NBVAL_CHECK_OUTPUT
never_seen = [p for p in val_pairs if p.type == "meaning"][:3]
for p in never_seen:
    print(f"{p.question}\n  模型：{answer(model, tokenizer, p.question)}\n  参考：{p.answer}")
print(f"“月下敲猫”是什么意思？（编的成语）\n  模型：{answer(model, tokenizer, '“月下敲猫”是什么意思？')}")

# %% [markdown]
# 都不是参考答案。有的一眼就看得出是乱的（“到处理事情的处理事情。”）；有的却读得通，甚至沾点边：“必由之路”答成
# “一定要经过的道路。”，是字面意思（参考答案说的是引申义）；编出来的“月下敲猫”也得到一句像模像样的“比喻……的人”。
# 光看文字，有时看得出它在编，有时看不出。下面换一个办法看。

# %% [markdown]
# ### 每个字的把握：按概率上色
#
# `answer(..., return_probs=True)` 同时返回每个字被选中时的概率。绿色 = 很有把握，红色 = 没把握。
# 同一种问法，问一个训练过的成语和一个没见过的成语：

# %%
taught_q = ways["别的成语常用的问法"]
unseen_q = f"“{never_seen[0].get('idiom')}”是什么意思？"
confidence = {}
for q in [taught_q, unseen_q]:
    text, p = answer(model, tokenizer, q, return_probs=True)
    confidence[q] = sum(p) / len(p)
    print(f"{q}  →  {text}")
    print("  每个字的概率：", " ".join(f"{c}{x:.2f}" for c, x in zip(text, p)), f"（平均 {confidence[q]:.2f}）")
    display(HTML(probability_html(list(text), p)))
assert confidence[taught_q] > confidence[unseen_q]

# %% [markdown]
# 学过的成语每个字都是绿色（概率都不低于 0.96）。没见过的成语，开头的格式词“形容”还很有把握——释义题的答案
# 常这样开头；后面的内容字有一半只有 0.3–0.5（黄到橙）：每一步都有好几个字差不多可能，模型只是挑了其中一个。
# 颜色把“它在猜”暴露了出来。在更大、说话更通顺的模型上，文字本身常常看不出破绽，这种逐字的概率就更有用。

# %% [markdown]
# ## 8. 注意力：生成每个字时在看哪里
#
# `minigpt/model.py` 用 `F.scaled_dot_product_attention` 直接算出结果，不返回注意力权重。
# 我们自己算最后一层的权重：用 forward hook（在模块运行前被调用的回调）拿到这一层注意力的输入 $x$，
# 再用它自己的 `qkv_proj` 得到 $Q, K$：
#
# $$A = \mathrm{softmax}\!\left(\frac{QK^\top}{\sqrt{d_{head}}} + M_{causal}\right)$$
#
# （$M_{causal}$ 把右上角——“未来”的位置——设为 $-\infty$。）先取到输入：

# %%
layer = model.config.n_layer - 1  # 最后一层
text = answer(model, tokenizer, question)
ids, _ = tokenizer.encode(question, text, pad_to_max_length=False)  # 问题 <sep> 回答 <sep>
ids = torch.tensor([ids[:-1]], device=device)  # (1, T) 最后的 <sep> 是输出，不是输入

captured = {}
attn = model.transformer.blocks[layer].attn
hook = attn.register_forward_pre_hook(lambda module, args: captured.update(x=args[0]))  # args[0]：这一层注意力的输入
model(ids)
hook.remove()
print(f"问题：{question}  回答：{text}；第 {layer} 层注意力的输入形状 {tuple(captured['x'].shape)}")

# %% [markdown]
# 再按第 5 章的做法算每个头的权重，对所有头取平均：

# %%
B, T, C = captured["x"].shape
nh, hs = model.config.n_head, C // model.config.n_head
q, k, _ = attn.qkv_proj(captured["x"]).chunk(3, dim=-1)  # 各 (B, T, C)
q = q.view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
k = k.view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
scores = q @ k.transpose(-2, -1) / hs ** 0.5  # (B, nh, T, T)
causal = torch.ones(T, T, dtype=torch.bool, device=device).tril()
weights = scores.masked_fill(~causal, float("-inf")).softmax(-1)  # (B, nh, T, T)
assert torch.allclose(weights.sum(-1), torch.ones(B, nh, T, device=device))
mean_weights = weights[0].mean(0).cpu()  # (T, T)，所有头取平均

# %%
labels = [tokenizer.id2word[i] for i in ids[0].tolist()]
plt.figure(figsize=(11, 10))
plt.imshow(mean_weights, cmap="viridis")
plt.colorbar(label="注意力权重", shrink=0.8)
plt.xticks(range(T), labels, rotation=90, fontsize=9)  # 刻度就是这句话里的字
plt.yticks(range(T), labels, fontsize=9)
plt.title(f"第 {layer} 层（最后一层），{nh} 个头的平均")
plt.xlabel("被看的位置（key）")
plt.ylabel("当前位置（query，预测下一个字）")
plt.show()

# %% [markdown]
# 怎么读：第 $i$ 行是位置 $i$（它要预测第 $i+1$ 个字）把注意力分给左边各个位置的比例，每行加起来是 1，
# 右上角是“未来”，全是 0。找一找回答部分（`<sep>` 之后的行）主要看哪几列：

# %%
sep_pos = labels.index("<sep>")
idiom_pos = range(labels.index("“") + 1, labels.index("”"))  # 问题里成语的那几个字
on_idiom = 0
for i in range(sep_pos, T):
    top2 = mean_weights[i].topk(2)
    looked = "、".join(f"“{labels[j]}”({w:.2f})" for w, j in zip(top2.values.tolist(), top2.indices.tolist()))
    nxt = labels[i + 1] if i + 1 < T else "<sep>"
    print(f"在“{labels[i]}”处预测“{nxt}”：最看重 {looked}")
    on_idiom += int(top2.indices[0]) in idiom_pos
print(f"回答部分 {T - sep_pos} 行里，有 {on_idiom} 行最看重的是成语里的字")
assert on_idiom >= (T - sep_pos) / 2

# %% [markdown]
# 回答部分的多数行最看重的是问题里成语的字，其次常常是回答自己开头的字（比如“比”）：模型一边看“问的是哪个成语”，
# 一边看“回答写到哪儿了”。这只是四个头的平均，也只是最后一层；单个头、前面几层看的东西往往不同。

# %% [markdown]
# ## 9. 答题游乐场
#
# 输入问题（或从“示例”里选：前面是平常人会怎么问的问法，标着“训练过的成语”“没见过的成语”“编的成语”；
# 后面是训练集、验证集里的原题），点“生成”：回答一个字一个字地流出来，下面按概率上色。
# 游乐场用 `default_checkpoint()` 选的模型：你在第 6 章训练过，就是你的模型（第 1 节打印过是哪个）；
# “模型”下拉框里还能换成仓库自带的、或者 `output/` 下别的检查点（比如 `output/ch06/best_model.pth`）。
# 试试：
#
# - 贪心 vs 采样；采样时把温度调到 0.3 和 1.8；在“随机种子”框里填一个数，采样就可复现；
# - 采样时把 top-k 设成 1：和贪心一样吗？（第 4 节）
# - 问一个编出来的成语，看它的颜色；输入一个词表里没有的字（下面打印了几个），看游乐场怎么提示；
# - 打开“重复惩罚”，看看回答变成什么样。
#
# 状态栏的“首字延迟”是从点击到第一个字出现的时间。

# %%
# NBVAL_CHECK_OUTPUT
letters = [c for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" if c in tokenizer.word2id]
missing = [c for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in tokenizer.word2id]
print(f"词表里有 {len(letters)} 个英文字母（拼音答案里用到的）：{''.join(letters)}")
print(f"不在词表里、会变成 <unk> 的：{''.join(missing)}")

# %%
pg = playground(your_checkpoint)

# %% [markdown]
# 上面是一个 Jupyter 控件：在 GitHub 上或重新打开的 notebook 里，它只显示成一行文字，要运行这个单元格才能用。
# 下面用代码“点”一次它的按钮，把结果打印出来（存下的这次运行里没有第 6 章训练的模型，所以是仓库自带的）：

# %%
pg.question.value = "“画蛇添足”是什么意思？"
pg.generate_button.click()
pg.wait()  # 在 Jupyter 里生成在后台线程里进行：等它结束
print(f"模型：{pg.checkpoint_picker.label}")
print(f"问：{pg.question.value}\n答：{pg.last_answer}")
print(pg.status.value)

# %% [markdown]
# ## 附录（选读）：每一步的时间花在哪里？
#
# 本章的主线到第 9 节为止，这个附录可以跳过，直接做小测验。它接着第 5 节的测速往下问：用到第 5 节的 `speed`、
# `speed_prompt`、`n_new` 和 `my_cached_greedy`，所以先把上面的单元都运行过。
#
#
# 有了 KV cache，每生成一个字，模型要做的乘加次数是固定的：每层四个矩阵乘（$QKV$ 投影、输出投影、MLP 的两个），
# 再加最后的 $C \times V$（`lm_head`），注意力对缓存的那部分很小。拿这个数和这台机器做矩阵乘的速度比一比：

# %%
cfg = model.config
C = cfg.n_embd
macs = cfg.n_layer * (C * 3 * C + C * C + C * 4 * C + 4 * C * C) + C * cfg.vocab_size  # 一个字的乘加次数


def best_ms(fn, repeats=20):
    fn()  # 预热
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1000


a, b = torch.randn(512, C), torch.randn(C, 4 * C)
gflops = 2 * 512 * C * 4 * C / best_ms(lambda: a @ b) / 1e6  # 大矩阵乘每秒做多少十亿次浮点运算（GFLOP/s）
arith_ms = 2 * macs / (gflops * 1e9) * 1000  # 按大矩阵乘的速度，一个字的算术要多少毫秒
plain_ms = 1000 / speed["包里的 generate（预留缓存）"]
print(f"一个字：{2 * macs / 1e6:.1f} MFLOP；这台机器大矩阵乘约 {gflops:.0f} GFLOP/s → 算术只要约 {arith_ms:.2f} ms")
print(f"实测用缓存的 generate 每个字 {plain_ms:.2f} ms：按这个算法，算术只占约 {arith_ms / plain_ms:.0%}")

# %% [markdown]
# 可“大矩阵乘的速度”在这里并不适用。大矩阵乘里，每个权重读进来一次，要和 512 行输入各乘一次；生成一个字时输入只有
# **一行**，矩阵乘退化成“向量 × 矩阵”：每个权重读进来只用一次（读 4 个字节，做 2 次浮点运算），
# 快慢取决于内存读得多快，而不是算得多快。每生成一个字，全部权重都要读一遍。只做这件事要多久？

# %%
weights = [m.weight for m in model.modules() if isinstance(m, torch.nn.Linear)]  # 每层 4 个，加上 lm_head
mb = sum(w.numel() * w.element_size() for w in weights) / 1e6
floor_ms = best_ms(lambda: [w.sum() for w in weights])  # 只把权重读一遍、不做乘法：内存能给的最快速度
xs = {n: torch.randn(1, n) for n in {w.shape[1] for w in weights}}  # 一行输入
row_ms = best_ms(lambda: [xs[w.shape[1]] @ w.T for w in weights])  # nn.Linear 的算法：x @ W.T
print(f"{len(weights)} 个权重矩阵，共 {mb:.1f} MB（fp32）；只把它们读一遍（w.sum()）{floor_ms:.2f} ms，{mb / floor_ms:.0f} GB/s")
print(f"一行输入乘一遍全部权重（x @ W.T）{row_ms:.2f} ms；实测用缓存的 generate 每个字 {plain_ms:.2f} ms")

# %% [markdown]
# 所以一个字的时间主要花在两件事上：
#
# 1. **读权重**（上面第二行的前一个数）。一行输入的矩阵乘，每个权重读进来只用一次，快慢看内存和矩阵乘库，我们的代码
#    省不掉；除非一次生成很多行：读一遍权重，整批的每一行都用上（第 6 节的批量生成就是这样变快的）。
# 2. **杂事**（开销，overhead；上面第二行两个数之差的大部分）：每个 `nn.Module` 调用、每次 `view`/`transpose`/`chunk`/`cat`
#    都是一次 Python 函数调用，再加一次 PyTorch 的**算子分发**（dispatch：查这个张量在什么设备、什么类型，该调哪个内核），
#    每个几微秒，一步有上百个；每一步还要重新推算位置编号、检查注意力掩码该不该要。
#
# 读权重也有不同的读法：按 `W.T` 读，读事先转置好、连续存放的矩阵，或者交给 PyTorch 自带的另一个矩阵乘库、先把权重排成它的
# 内存布局。哪种快随 CPU、线程数和一次几行而变，差别能到两三倍；这是矩阵乘库的事，不是本课的重点。各种读法在几台机器上的
# 实测见 [`benchmarks/README.md`](../benchmarks/README.md)（“快速解码路径”一节）。
#
# `minigpt/fast_decode.py` 的 `FastDecoder`（`decoder_for(model, max_len)` 建一个）两头都省一点，算的东西完全一样：
#
# - 权重事先打包一次（排成这台机器上量出来最快的那种读法：第一次用时各量几遍），每个模型存一份、反复用；
#   权重一变（训练了一步、加载了别的权重），下次自动重做；
# - KV cache 按 `max_len` 一次预留好；
# - 提示词照常走一遍普通的前向（`prefill`，把缓存填好）；之后的每一步（`step`）是一个从头到尾平铺直叙的函数，
#   没有模块调用，位置编号和掩码只维护一份、原地更新。
#
# 它不用 `torch.compile`（把模型编译成融合的内核），所以没有要等的编译时间：游乐场的第一个字不用等。
# 这个文件是本章的进阶内容，后面的章节不需要读它。每一步的全部代码就是下面这些：

# %%
import inspect

from minigpt.fast_decode import FastDecoder

print(inspect.getsource(FastDecoder.step))

# %% [markdown]
# 和第 5 章的 `Block.forward` 一行对一行：LayerNorm → 注意力 → 残差 → LayerNorm → MLP → 残差，最后 `ln_f` 和
# `lm_head`。不同的只是写法：没有 `nn.Linear`，每个矩阵乘都是 `linear(x, 打包好的权重, 偏置)`（就是 `x @ W.T + b`，
# `gelu=True` 时再过一次 GELU），LayerNorm 直接调 `F.layer_norm`。
# `generate(..., fast=True)` 用它；`answer`、`answers`（所以第 6 章的精确匹配评估也是）和游乐场默认就走这条路。
# 先证明它和你写的 `my_cached_greedy` 逐个 token 相同：

# %%
# NBVAL_CHECK_OUTPUT
for q, _, _ in questions:
    prompt = prompt_ids(q)
    fast_ids = generate.generate(model, prompt, 64, stop_token_ids=(SEP,), fast=True)
    assert torch.equal(fast_ids, my_cached_greedy(model, prompt, 64, SEP))
print(f"{len(questions)} 个问题：generate(..., fast=True) 与 my_cached_greedy 逐个 token 相同")

# %%
loops = {"普通的缓存路径": lambda: generate.generate(model, speed_prompt, n_new, stop_token_ids=()),
         "快速路径": lambda: generate.generate(model, speed_prompt, n_new, stop_token_ids=(), fast=True)}
loops["快速路径"]()  # 第一次：打包权重（之后复用）
best = dict.fromkeys(loops, float("inf"))
for _ in range(2 * repeats):  # 两条路径交替着量：机器忽快忽慢时，两者受的影响一样
    for name, loop in loops.items():
        t0 = time.perf_counter()
        loop()
        best[name] = min(best[name], time.perf_counter() - t0)
speed["快速路径 generate(..., fast=True)"] = n_new / best["快速路径"]
for name, tps in speed.items():
    print(f"  {tps:6.0f} token/s（×{tps / baseline:.1f}）  {name}")
fast_ms, pair_ms = (1000 * best[name] / n_new for name in ("快速路径", "普通的缓存路径"))
print(f"交替着量：快速路径每个字 {fast_ms:.2f} ms，普通的缓存路径 {pair_ms:.2f} ms，快 {pair_ms / fast_ms:.1f} 倍；"
      f"一行输入乘一遍全部权重（x @ W.T）{row_ms:.2f} ms")
assert FAST or fast_ms < pair_ms  # 快速模式（测试）只量一次，太吵，不比

# %% [markdown]
# 同样的算术，每个字快了一些（这份输出里从 1.36 ms 降到 1.11 ms，快 1.2 倍）。省下的来自两处：去掉的模块调用和杂事，以及读权重的方式
# （它用的是自己在这台机器上量出来更快的读法，不一定是 `x @ W.T`）。两者各占多少，随机器和当时的负载变化很大（这份输出是在一台 2 核的共享云主机上跑的，
# 几次运行之间差得不少），在你的机器上多跑几次这几个单元格看看。剩下的时间里，一大块是一行输入的矩阵乘（库和内存的事），
# 其余是每一步的杂事：`FastDecoder` 自己的几十个算子，加上 `generate` 循环本身（判断停止符、取 argmax、记下哪些行还在生成……）。
# 要再快，就得把一整步融合成少数几个内核（`torch.compile`；GPU 上还有 CUDA graph，把一整步录下来一次重放）。
# 在 2 核的 CPU 上，`torch.compile` 编译之后每步并不比即时执行快，第一次调用却要先等几秒到十几秒的编译
# （`python benchmarks/bench_compile.py`，数字在 `benchmarks/README.md`）：对在游乐场里问几句话的场景不划算，所以课程停在这里。
# `benchmarks/bench_generate.py` 在同一台机器上把这几种循环和 transformers 的 `generate` 放在一起比。

# %% [markdown]
# ## 小测验
#
# 几道概念题，检查本章的要点：选一个答案，就会看到每个选项为什么对、为什么错。

# %%
from minigpt.exercises import quiz

quiz(7)

# %%
from minigpt.exercises import show_progress

show_progress(7)

# %% [markdown]
# ## 小结
#
# 你在本章亲手写了生成的每个部件，并证明它们与包里的相同：
#
# | 你写的 | 对应模块里的 | 证明 |
# |---|---|---|
# | `my_greedy`（十行，每步重算整句） | `generate.py` 的 `generate(..., use_cache=False)` | 逐个 token 相同 |
# | `my_filter_logits` | `generate.py` 的 `filter_logits` | 5 种设置下逐位相同 |
# | `my_repetition_penalty` | `generate.py` 的 `apply_repetition_penalty` | 逐位相同 |
# | `my_generate`（贪心/采样/惩罚） | `generate.py` 的 `generate`（内部循环 `_steps`） | 60 次生成逐个 token 相同 |
# | `MyKVCache`、`my_cached_greedy` | `kv_cache.py` 的 `KVCache`、`generate(...)` | 逐个 token 相同 |
# | （读懂）快速路径 | `fast_decode.py` 的 `FastDecoder`、`generate(..., fast=True)` | 与 `my_cached_greedy` 逐个 token 相同 |
#
# - 生成 = 反复“取最后一个位置的 logits → 选一个字 → 接上”。贪心确定；采样由温度、top-k、top-p 决定从哪个分布里抽；
#   `top_k=1` 的采样就是贪心。
# - 对这个只会背答案的小模型，采样和重复惩罚都不会让回答更好，事实问答用贪心。
# - KV cache 去掉了“每步把前缀重算一遍”：投影和 MLP 从每个回答 $O(T^2)$ 降到 $O(T)$，注意力仍随长度增长。
#   之后一个字的时间花在两处：杂事（Python 调用、算子分发）和把权重读一遍（只有一行输入时，快慢由内存和矩阵乘库决定，
#   不由算术决定），各占多少看机器；快速路径把权重事先打包好、去掉杂事，算的东西不变；批量生成让每一步的这些花费由整批分摊。
#   你量到的加速见第 5 节和附录。
# - 没见过的成语，模型照样回答（幻觉）；逐字的概率把它在猜的地方标了出来。
#
# 下一章把同样的训练和生成用在一个现代的结构上：[第 8 章　Qwen3](08_qwen3.ipynb)
