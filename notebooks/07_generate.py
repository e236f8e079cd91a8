# %% [markdown]
# # 第 7 章：生成回答——贪心、采样、KV cache 与答题游乐场
#
# 第 6 章训练出的模型只会做一件事：给出**下一个字**的概率分布。生成一个回答，就是反复做三步：
#
# 1. 把「问题 + `<sep>` + 已经生成的字」送进模型，取最后一个位置的 logits；
# 2. 从这个分布里**选**一个字（怎么选，就是本章的主题）；
# 3. 把它接到序列后面；选到 `<sep>` 就停。
#
# 本章的代码在 `minigpt/generate.py`（生成）和 `minigpt/playground.py`（最后的答题游乐场）。

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
# `default_checkpoint()` 优先用你在第 6 章训练的 `output/best_model.pth`，没有就用仓库自带的
# `checkpoints/minigpt-idiom.pth`，并打印用的是哪个。最后的游乐场默认用它。
#
# 为了让本章的输出在每台机器上都一样（测试会逐字比较），下面的演示**固定用仓库自带的模型**。

# %%
import json
import time

import matplotlib.pyplot as plt
import torch
from IPython.display import HTML, display
from matplotlib import font_manager

from minigpt import generate
from minigpt.generate import answer, answers, default_checkpoint, filter_logits
from minigpt.playground import playground, probability_html
from minigpt.split_data import prepare_data
from minigpt.train import load_checkpoint, load_tokenizer

torch.set_grad_enabled(False)  # 本章只做推理，不需要梯度
if device.type == "cpu":
    # 一次只生成一个字，矩阵很小：单线程反而更快（多线程的同步开销更大，机器忙时尤其明显），结果也与核数无关
    torch.set_num_threads(1)
your_checkpoint = default_checkpoint()
model, meta = load_checkpoint(generate.SHIPPED_CHECKPOINT, map_location="cpu")
model = model.to(device).eval()
tokenizer = load_tokenizer(meta)
paths = prepare_data()  # 训练/验证划分（第 3 章），缺了就现做


def read_pairs(path, n):
    # 前 n 个问答对（划分时已经打乱过）
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows[:n]


# %%
# NBVAL_CHECK_OUTPUT
print("架构:", meta["arch"], " 训练步数:", meta["step"])
print("配置:", meta["config"])
print(f"参数量: {model.num_parameters():,}  词表: {tokenizer.get_vocab_size()}  上下文: {model.config.block_size}")

# %% [markdown]
# 图里的刻度用字本身；如果这台机器的 matplotlib 没有中文字体（`fc-list :lang=zh` 为空），就用 token id（`#123`）代替，
# 免得出现方框和缺字警告。

# %%
CJK_HINTS = ("Noto Sans CJK", "Noto Serif CJK", "Source Han", "WenQuanYi", "SimHei", "Microsoft YaHei", "PingFang", "Heiti")
cjk_fonts = sorted({f.name for f in font_manager.fontManager.ttflist if any(h in f.name for h in CJK_HINTS)},
                   key=lambda name: (" SC" not in name, "Sans" not in name, name))  # 简体、无衬线优先
CJK_FONT = cjk_fonts[0] if cjk_fonts else None
if CJK_FONT:
    plt.rcParams["font.sans-serif"] = [CJK_FONT, *plt.rcParams["font.sans-serif"]]


def tick(token_id):
    # 有中文字体就显示字，没有就显示 id
    return tokenizer.id2word[token_id] if CJK_FONT else f"#{token_id}"


print("中文字体:", CJK_FONT or "没有（刻度用 token id）")


# %% [markdown]
# ## 2. 一步生成：下一个字的概率分布
#
# 模型最后一个位置输出的是 logits $z \in \mathbb{R}^{V}$（$V$ 是词表大小），softmax 把它变成概率：
#
# $$p_i = \frac{e^{z_i}}{\sum_{j=1}^{V} e^{z_j}}$$
#
# 看看模型读完「问题 + `<sep>`」之后，对回答第一个字的打分：

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
# 释义题的回答往往以「比喻」「形容」「指」开头：第一个字本身就有好几个合理的选择，模型把概率分给了它们。
#
# **贪心（greedy）**：每一步都取概率最大的字（argmax）。确定、可复现，但总选「最保险」的字，
# 有时会陷入重复。**采样（sampling）**：按概率抽一个字，同一个问题每次的回答可能不同。

# %%
# NBVAL_CHECK_OUTPUT
# 贪心：训练集和验证集各 3 个问题（✓ = 与参考答案完全一致）
for split in ["train", "val"]:
    for r in read_pairs(paths[split], 3):
        got = answer(model, tokenizer, r["question"])
        verdict = "✓" if got == r["answer"] else f"✗（参考：{r['answer']}）"
        print(f"[{split}] {r['question']} → {got} {verdict}")

# %% [markdown]
# 采样：同一个问题，不同的随机种子（`seed` 固定时结果可复现）：

# %%
for seed in range(4):
    print(f"采样 seed={seed}: {answer(model, tokenizer, question, do_sample=True, temperature=1.0, seed=seed)}")


# %% [markdown]
# ## 3. 温度、top-k、top-p：改变的是「从哪个分布里抽」
#
# **温度** $T$ 先把 logits 除以 $T$ 再做 softmax：
#
# $$p_i(T) = \frac{e^{z_i / T}}{\sum_j e^{z_j / T}}$$
#
# $T<1$ 分布更尖（更像贪心），$T>1$ 更平（更随机），$T\to 0$ 就是贪心。
# 下面用一个模型没那么有把握的位置来看（一个没训练过的成语）：

# %%
def entropy(p):
    return float(-(p * p.clamp_min(1e-12).log()).sum())  # 单位：nats；越大越「拿不准」


# 几个数据里没有的成语：挑模型对回答第一个字最拿不准（熵最大）的那个来演示
candidates = ["“分钗破镜”是什么意思？", "“屠所牛羊”是什么意思？", "“鲜蹦活跳”是什么意思？", "“月下敲猫”是什么意思？"]
demo_question = max(candidates, key=lambda q: entropy(model(prompt_ids(q))[0, -1].softmax(-1)))
demo_logits = model(prompt_ids(demo_question))[0, -1][None]  # (1, V)
order = demo_logits[0].softmax(-1).topk(12).indices.tolist()  # T=1 时最可能的 12 个字，三张图用同一顺序
print("演示问题:", demo_question)
if not CJK_FONT:
    print("图中的 id:", "  ".join(f"{tick(i)}={tokenizer.id2word[i]}" for i in order))

fig, axes = plt.subplots(1, 3, figsize=(13, 3.2), sharey=True)
entropies = {}
for ax, T in zip(axes, [0.5, 1.0, 2.0]):
    p = filter_logits(demo_logits, temperature=T).softmax(-1)[0]
    entropies[T] = entropy(p)
    ax.bar(range(len(order)), p[order].tolist(), color="tab:blue")
    ax.set_xticks(range(len(order)), [tick(i) for i in order], rotation=90)
    ax.set_title(f"temperature T = {T}  (entropy {entropies[T]:.2f} nats)")
    ax.set_xlabel("candidate next char")
axes[0].set_ylabel("probability")
plt.tight_layout()
plt.show()
assert entropies[0.5] < entropies[1.0] < entropies[2.0]  # 温度越高，分布越平（熵越大）

# %% [markdown]
# **top-k**：只保留概率最大的 $k$ 个字，其余设为 0，再重新归一化。
#
# **top-p（nucleus）**：按概率从大到小排，保留**最少**的几个字，使它们的概率之和 $\ge p$：
#
# $$S_p = \text{最小的集合 } S,\ \text{使得}\ \sum_{i \in S} p_i \ge p$$
#
# 分布尖时 top-p 只留一两个字，分布平时留很多——比固定的 $k$ 更灵活。
# `generate` 里的顺序与 transformers 相同：温度 → top-k → top-p。

# %%
variants = {"original": {}, "top-k = 5": {"top_k": 5}, "top-p = 0.8": {"top_p": 0.8}}
fig, axes = plt.subplots(1, 3, figsize=(13, 3.2), sharey=True)
kept = {}
for ax, (name, kw) in zip(axes, variants.items()):
    p = filter_logits(demo_logits, **kw).softmax(-1)[0]
    kept[name] = int((p > 0).sum())
    ax.bar(range(len(order)), p[order].tolist(), color="tab:orange" if kw else "tab:blue")
    ax.set_xticks(range(len(order)), [tick(i) for i in order], rotation=90)
    ax.set_title(f"{name}: {kept[name]} chars left")
    ax.set_xlabel("candidate next char")
axes[0].set_ylabel("probability (renormalised)")
plt.tight_layout()
plt.show()

p_sorted = demo_logits[0].softmax(-1).sort(descending=True).values
n_nucleus = kept["top-p = 0.8"]
assert kept["top-k = 5"] == 5
assert p_sorted[:n_nucleus].sum() >= 0.8 > p_sorted[:n_nucleus - 1].sum()  # 最少的、凑够 0.8 的那几个
print(f"top-p=0.8 留下 {n_nucleus} 个字，它们原来的概率和 = {float(p_sorted[:n_nucleus].sum()):.3f}")

# %% [markdown]
# 同一个问题，温度不同的采样结果（固定 seed，可复现）：

# %%
for T in [0.3, 1.0, 1.5]:
    outs = [answer(model, tokenizer, demo_question, do_sample=True, temperature=T, seed=s) for s in range(3)]
    print(f"T={T}: " + " | ".join(outs))


# %% [markdown]
# ## 4. 重复与重复惩罚
#
# 贪心解码容易进入循环：某个片段一旦出现，它让自己再次出现的概率变大。为了看清楚，这里**不在 `<sep>` 处停**
# （`stop_token_ids=()`），让模型一直写下去。
#
# 重复惩罚（CTRL，Keskar et al. 2019；transformers 的做法相同）对已经出现过的字 $i$：
#
# $$z_i' = \begin{cases} z_i / \theta & z_i > 0 \\ z_i \cdot \theta & z_i \le 0 \end{cases}\qquad \theta > 1$$
#
# 两种情况都让出现过的字更不可能被选中。

# %%
def continue_text(q, n, penalty):
    prompt = prompt_ids(q)
    out = generate.generate(model, prompt, n, stop_token_ids=(), repetition_penalty=penalty)[0, prompt.shape[1]:]
    return out, len(set(out.tolist())) / len(out)  # 新生成的 id，以及其中不同字的占比


# 挑一个贪心时重复最严重的问题来演示
rep_candidates = [r["question"] for r in read_pairs(paths["val"], 20)]
rep_question = min(rep_candidates, key=lambda q: continue_text(q, 60, 1.0)[1])
print("问题:", rep_question)
distinct = {}
for penalty in [1.0, 1.3]:
    out, distinct[penalty] = continue_text(rep_question, 60, penalty)
    text = tokenizer.decode(out).replace("<sep>", " ⏎ ")
    print(f"penalty={penalty}: 不同字占比 {distinct[penalty]:.2f}\n  {text}")
assert distinct[1.3] > distinct[1.0]  # 惩罚之后，重复少了

# %% [markdown]
# ## 5. 训练过的问题 vs 没见过的成语：「幻觉」
#
# 模型在训练集上答得好得多；验证集里的问题它没见过（成语可能在别的题型里出现过），正确率明显更低。
# 对**根本不在数据里**的成语，它照样会一本正经地回答——语言模型只会「接着写最像的字」，不会说「我不知道」。
# 这就是幻觉（hallucination）。

# %%
n_eval = 64 if FAST else 200
results = {}
for split in ["train", "val"]:
    rows = read_pairs(paths[split], n_eval)
    preds = answers(model, tokenizer, [r["question"] for r in rows])  # 批量贪心
    results[split] = sum(p == r["answer"] for p, r in zip(preds, rows)) / len(rows)
    print(f"{split:5s}: 前 {len(rows)} 个问题，回答与参考答案完全一致的比例 {results[split]:.1%}")
assert results["train"] > results["val"]  # 背过的题答得更好

# %%
# NBVAL_CHECK_OUTPUT
# 这些成语都不在 data/data.jsonl 里（最后一个是编的）
unseen = {
    "“分钗破镜”是什么意思？": "比喻夫妻失散或分离。",
    "“屠所牛羊”是什么意思？": "比喻临近死亡的人。",
    "“鲜蹦活跳”是什么意思？": "指鱼、禽等乱蹦乱跳而有生气。",
    "“月下敲猫”是什么意思？": "（编的成语，没有答案）",
}
data_text = Path("data/data.jsonl").read_text(encoding="utf-8")
for q, ref in unseen.items():
    idiom = q.split("”")[0].lstrip("“")
    assert idiom not in data_text
    print(f"{q}\n  模型：{answer(model, tokenizer, q)}\n  参考：{ref}")

# %% [markdown]
# ## 6. 每个字的把握：按概率上色
#
# `answer(..., return_probs=True)` 同时返回每个字被选中时的概率。绿色 = 很有把握，红色 = 没把握。
# 对比一个答对了的训练题和一个编出来的成语：红色的字就是模型在「猜」的地方——但它照样写出了一个通顺的回答，
# 光看文字是看不出来的。

# %%
solved = next((r["question"] for r in read_pairs(paths["train"], 50) if answer(model, tokenizer, r["question"]) == r["answer"]),
              question)  # 第一个答对了的训练题
for q in [solved, "“月下敲猫”是什么意思？"]:
    text, p = answer(model, tokenizer, q, return_probs=True)
    print(f"{q}  平均概率 {sum(p) / max(len(p), 1):.2f}")
    display(HTML(probability_html(list(text), p)))

# %% [markdown]
# ## 7. 注意力：生成每个字时在看哪里
#
# `minigpt/model.py` 用 `F.scaled_dot_product_attention` 直接算出结果，不返回注意力权重。
# 我们在这里自己算一层的权重：用 forward hook 拿到这一层注意力的输入 $x$，
# 再用它自己的 `qkv_proj` 得到 $Q, K$：
#
# $$A = \mathrm{softmax}\!\left(\frac{QK^\top}{\sqrt{d_{head}}} + M_{causal}\right)$$
#
# （$M_{causal}$ 把右上角——「未来」的位置——设为 $-\infty$。）

# %%
layer = model.config.n_layer - 1  # 最后一层
text = answer(model, tokenizer, question)
ids, _ = tokenizer.encode(question, text, pad_to_max_length=False)  # 问题 <sep> 回答 <sep>
ids = torch.tensor([ids[:-1]], device=device)  # (1, T) 最后的 <sep> 是输出，不是输入

captured = {}
attn = model.transformer.blocks[layer].attn
hook = attn.register_forward_pre_hook(lambda module, args: captured.update(x=args[0]))
logits_full = model(ids)
hook.remove()

B, T, C = captured["x"].shape
nh, hs = model.config.n_head, C // model.config.n_head
q, k, _ = attn.qkv_proj(captured["x"]).chunk(3, dim=-1)  # 各 (B, T, C)
q = q.view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
k = k.view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
scores = q @ k.transpose(-2, -1) / hs ** 0.5  # (B, nh, T, T)
causal = torch.ones(T, T, dtype=torch.bool, device=device).tril()
weights = scores.masked_fill(~causal, float("-inf")).softmax(-1)  # (B, nh, T, T)
assert torch.allclose(weights.sum(-1), torch.ones(B, nh, T, device=device))

labels = [tick(i) for i in ids[0].tolist()]
if not CJK_FONT:
    print("图中的 id:", "  ".join(f"{tick(i)}={tokenizer.id2word[i]}" for i in ids[0].tolist()))
plt.figure(figsize=(8, 7))
plt.imshow(weights[0].mean(0).cpu(), cmap="viridis")  # 所有头取平均
plt.colorbar(label="attention weight")
plt.xticks(range(T), labels, rotation=90)
plt.yticks(range(T), labels)
plt.title(f"layer {layer}, mean over {nh} heads")
plt.xlabel("key position (attended to)")
plt.ylabel("query position (predicting the next char)")
plt.show()

# %% [markdown]
# ## 8. 批量生成
#
# `answers()` 把多个问题**左填充**成一批（padding 放在左边，每行最后一个位置都是真实的字，
# 下一个字的 logits 都在 `[:, -1]`），配合 attention mask 一起生成。结果与逐个贪心生成完全相同，只是更快。

# %%
batch_questions = [r["question"] for r in read_pairs(paths["val"], 32)]
t0 = time.perf_counter()
one_by_one = [answer(model, tokenizer, q) for q in batch_questions]
t_single = time.perf_counter() - t0
t0 = time.perf_counter()
batched = answers(model, tokenizer, batch_questions)
t_batch = time.perf_counter() - t0
assert batched == one_by_one  # 左填充 + mask：与逐个生成一字不差
print(f"{len(batch_questions)} 个问题：逐个 {t_single:.2f} s，批量 {t_batch:.2f} s，快 {t_single / t_batch:.1f} 倍")

# %% [markdown]
# ## 9. KV cache：每一步只算新的那个字
#
# 不用缓存时，生成第 $t$ 个字要把前面 $t$ 个位置全部重算一遍，一个回答总共 $O(T^2)$；
# KV cache 把每层已经算过的 $K, V$ 存起来（`minigpt/kv_cache.py`），每一步只算新字，总共 $O(T)$。
# 两种方式的贪心结果逐字相同：

# %%
speed_prompt = prompt_ids("请写出“一丝一毫”的拼音。")
n_new = model.config.block_size - speed_prompt.shape[1]  # 一直写到上下文填满
repeats = 1 if FAST else 3
rows = []
outputs = {}
for use_cache in [False, True]:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        outputs[use_cache] = generate.generate(model, speed_prompt, n_new, stop_token_ids=(), use_cache=use_cache)
        best = min(best, time.perf_counter() - t0)
    rows.append((use_cache, n_new / best))
assert torch.equal(outputs[False], outputs[True])

print(f"生成 {n_new} 个 token（设备 {device}，取 {repeats} 次中最快的一次）")
print(f"{'KV cache':<10}{'tokens/s':>10}")
for use_cache, speed in rows:
    print(f"{'用' if use_cache else '不用':<10}{speed:>10.0f}")
print(f"加速 {rows[1][1] / rows[0][1]:.1f} 倍")

# %% [markdown]
# ## 10. 答题游乐场
#
# 输入问题（或从「示例」里选训练集/验证集的问题），点「生成」：回答一个字一个字地流出来，下面按概率上色。
# 试试：
#
# - 贪心 vs 采样；采样时把温度调到 0.3 和 1.8；固定「种子」让采样可复现；
# - top-k = 1 的采样和贪心有什么关系？
# - 问一个编出来的成语；输入一个词表里没有的字（比如英文字母）；
# - 在「模型」里切换到你自己训练的 checkpoint（`output/*.pth`）。
#
# 状态栏的「首字延迟」是从点击到第一个字出现的时间。

# %%
pg = playground()
