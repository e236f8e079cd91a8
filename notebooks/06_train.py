# %% [markdown]
# # 第 6 章：训练模型
#
# 第 5 章的 GPT 还是随机权重，回答全是乱码。本章让它**学会**回答：给它看成千上万个问答对，
# 每次都问它「下一个字是什么」，答错了就按梯度把权重往对的方向推一点。
#
# 路线：
#
# 1. 先在一个**很小的模型**上把训练逻辑写清楚（种子代码里的「先把训练逻辑写好」）；
# 2. 看清楚三件让训练又快又稳的事：按长度分桶的 padding、学习率预热 + 余弦退火、梯度裁剪；
# 3. 用课程默认的 CPU 模型在真实成语数据上完整训练一次：实时损失曲线、用时估计、按题型的精确匹配；
# 4. 看模型在**训练过的**问题和**没见过的**问题上的表现：记忆 vs 幻觉；
# 5. 检查点：中断后接着训练，结果和不中断完全一样。
#
# 本章的代码在 `minigpt/train.py`（命令行 `python ./minigpt/train.py`）、`minigpt/checkpoint.py` 和 `minigpt/plots.py`。

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
import tempfile
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from minigpt.model import GPTLMHeadModel, config_for
from minigpt.plots import LivePlot, plot_metrics
from minigpt.qa_dataset import BucketBatchSampler, QADataset, collate_batch
from minigpt.split_data import prepare_data
from minigpt.tokenizer import Tokenizer
from minigpt.train import (TrainSettings, build_model_for, format_report, load_checkpoint, load_tokenizer, lr_at,
                           padding_report, train)

paths = prepare_data()  # 第 1、3 章的产物：词表、训练/验证划分；缺了就现做

# %% [markdown]
# ## 1. 数据：问答对 → 训练样本
#
# 第 4 章的 `QADataset` 把一个问答对拼成 `问题 <sep> 答案 <sep>`，输入是去掉最后一个字的序列，
# 目标是去掉第一个字的序列：**每个位置的目标就是下一个字**。

# %%
# NBVAL_CHECK_OUTPUT
tokenizer = Tokenizer(str(paths["vocab"]))
pad = tokenizer.pad_token_id
train_ds = QADataset(str(paths["train"]), tokenizer, 128, pad_to_max_length=False)
val_ds = QADataset(str(paths["val"]), tokenizer, 128, pad_to_max_length=False)
print(f"词表大小 {tokenizer.get_vocab_size()}，训练集 {len(train_ds)} 对，验证集 {len(val_ds)} 对")
print(f"样本长度（token）：平均 {sum(train_ds.lengths) / len(train_ds):.1f}，最长 {max(train_ds.lengths)}")


# %% [markdown]
# ### 损失只算在哪些位置？
#
# 目标里写着 `<pad>` 的位置不参与损失（`ignore_index=pad_token_id`，和种子代码一样）。
# `answer_only_loss=True` 时，问题部分的目标也换成 `<pad>`：模型只学「怎么回答」，不学「怎么提问」。
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
# ## 2. 先把训练逻辑写好：一个很小的模型
#
# 训练循环的核心只有五行，和种子代码第 7 章一样：
#
# 1. 前向：`logits = model(input_ids)`，形状 `(B, T, vocab)`；
# 2. 损失：交叉熵 $\mathcal{L} = -\frac{1}{N}\sum_{t:\,y_t \ne \texttt{<pad>}} \log p_\theta(y_t \mid x_{\le t})$，$N$ 是不被忽略的位置数；
# 3. `optimizer.zero_grad()` 清掉上一步的梯度；
# 4. `loss.backward()` 算梯度；
# 5. `optimizer.step()` 用 AdamW 更新权重。
#
# 先用 `tiny` 预设（2 层、32 维，约 10 万参数）在 32 个问答对上反复训练：损失应该稳定下降——
# 模型在「背」这 32 个问答对。

# %%
# NBVAL_CHECK_OUTPUT
torch.manual_seed(0)
# float64 只为了让打印的数字在任何机器、任何线程数下都一样（float32 的求和顺序会让第 3 位小数略有不同）
tiny = GPTLMHeadModel(config_for("tiny", tokenizer.get_vocab_size())).double()
batch = collate_batch([train_ds[i] for i in range(32)], pad)  # 右填充到这一批最长的样本
optimizer = torch.optim.AdamW(tiny.parameters(), lr=3e-3)
print(f"tiny 模型参数量 {tiny.num_parameters():,}；这一批 input_ids 形状 {tuple(batch['input_ids'].shape)}")

losses = []
for step in range(1, 61):
    logits = tiny(batch["input_ids"])  # (B, T, vocab)
    loss = F.cross_entropy(logits.flatten(0, 1), batch["targets"].flatten(), ignore_index=pad)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
    if step == 1 or step % 10 == 0:
        print(f"step {step:3d}  loss {loss.item():.3f}")
assert losses[-1] < losses[0] - 1, "损失应该明显下降"

# %% [markdown]
# 为什么第 1 步的损失约等于 $\ln(\text{词表大小})$？随机初始化的模型对每个字给出差不多的概率 $1/V$，
# 交叉熵就是 $-\ln(1/V) = \ln V$：

# %%
# NBVAL_CHECK_OUTPUT
import math
print(f"ln(V) = ln({tokenizer.get_vocab_size()}) = {math.log(tokenizer.get_vocab_size()):.3f}")

# %% [markdown]
# ## 3. 让训练又快又稳的三件事
#
# ### 3.1 按长度分桶：别把算力花在 `<pad>` 上
#
# 种子代码把每个样本都填充到 128 个 token。成语问答平均只有二十几个字，于是大部分计算都花在 `<pad>` 上。
# `BucketBatchSampler` 把长度相近的样本放进同一批，每批只填充到这一批里最长的那个。

# %%
# NBVAL_CHECK_OUTPUT
sampler = BucketBatchSampler(train_ds.lengths, 32, seed=TrainSettings.seed)
report = padding_report(train_ds.lengths, list(sampler))
print(f"有用的 token：{report['useful_tokens']:,}")
print(f"种子代码（固定 128）：{report['seed_waste']:.1%} 的计算花在 <pad> 上")
print(f"分桶 + 每批填充到最长：{report['waste']:.1%} 花在 <pad> 上")
print(f"每个 epoch 要算的 token 少了 {(1 - report['seed_waste']) / (1 - report['waste']):.1%} → 约 "
      f"{(1 - report['waste']) / (1 - report['seed_waste']):.1f} 倍的有效吞吐")

# %% [markdown]
# 右填充时训练不需要注意力掩码：因果注意力里，真实 token 只能看见**左边**，而 padding 都在右边，
# 所以每个要算损失的位置都和加了掩码时完全一样；模型于是走 SDPA 的 `is_causal` 快速路径。
#
# ### 3.2 学习率：先预热，再余弦退火
#
# 刚开始梯度很乱，先用很小的学习率（线性预热 $w$ 步），然后沿余弦曲线从 $\eta_{max}$ 慢慢降到 $\eta_{min}$：
#
# $$\eta_t = \eta_{min} + \tfrac12(\eta_{max}-\eta_{min})\left(1+\cos\left(\pi\,\tfrac{t-w}{T-w}\right)\right)$$
#
# 种子代码用固定的 $10^{-4}$。在 GPU 上用同样的 4000 步比较过（见 `benchmarks/README.md`）：
# 对这个小模型，$\eta_{max}=10^{-3}$ 最好；$2\times10^{-3}$、$3\times10^{-3}$ 反而不稳定。

# %%
settings = TrainSettings()
total = 4000
plt.figure(figsize=(7, 3))
plt.plot([lr_at(t, settings, total) for t in range(total)])
plt.title(f"Learning rate: {settings.warmup_steps} warm-up steps, cosine decay to {settings.min_lr_ratio:g} x peak")
plt.xlabel("step")
plt.ylabel("learning rate")
plt.show()

# %% [markdown]
# ### 3.3 梯度裁剪
#
# 偶尔有一批数据的梯度特别大，一步就能把学好的权重打乱。`clip_grad_norm_(params, 1.0)` 把梯度的总范数限制在 1 以内：
# 方向不变，只是步子不迈太大。
#
# ### 3.4 精度：bf16 只在更快的地方用
#
# 有些 CPU（带 AMX 或 AVX512-BF16）算 bf16 比 fp32 快好几倍，有些 CPU 只能模拟 bf16，反而慢 5 倍。
# `--dtype auto` 在开始前**实测**一次矩阵乘法再决定；GPU 上支持 bf16 就用。

# %%
from minigpt.train import bf16_is_faster
print(f"{device}: bf16 autocast {'更快，会使用' if bf16_is_faster(device) else '不更快，用 fp32'}")

# %% [markdown]
# ## 4. 真正的训练：课程默认的 CPU 模型
#
# `cpu` 预设：4 层、256 维、4 个头，约 390 万参数。`train()` 就是命令行 `python ./minigpt/train.py` 背后的函数，它会：
#
# - 打印分桶后的 padding 比例，计时几步后**估计总用时**；
# - 每隔一段评估一次：验证损失，以及训练集、验证集各 100 道题的**精确匹配**（贪心生成的答案和标准答案一字不差）；
# - 把 `last_model.pth`（可续训）和按验证损失选出的 `best_model.pth` 写进输出目录，指标写进 `metrics.jsonl`。
#
# 4000 步在一台空闲的 2 核 Xeon 上约 8 分钟（实测 109 ms/步，两个线程）；机器忙的时候会慢很多，
# 下面打印的估计以你的机器实测为准。命令行默认按时间预算训练（CPU 上 15 分钟），能跑多少步就跑多少步。
# 快速模式（测试）只跑 20 步。

# %%
out_dir = Path("output/ch06") if not FAST else Path(tempfile.mkdtemp())
model = build_model_for("gpt", "cpu", tokenizer.get_vocab_size())  # 和命令行一样：torch.manual_seed(42) 后初始化
print(f"cpu 预设：{model.config}，参数量 {model.num_parameters():,}")
t0 = time.time()
history = train(
    model, tokenizer, paths["train"], paths["val"],
    max_steps=20 if FAST else 4000,
    output_dir=out_dir, resume=False, tensorboard_dir=None if FAST else "runs/ch06",
    eval_samples=10 if FAST else 100, final_eval_samples=20 if FAST else 500,
    callback=LivePlot(every=5 if FAST else 200),
)
print(f"用时 {(time.time() - t0) / 60:.1f} 分钟；损失 {history[0]:.3f} → {history[-1]:.3f}")
assert history[-1] < history[0]

# %% [markdown]
# ### 训练曲线
#
# 左：训练损失（每 10 步一个点）和验证损失；右：训练集、验证集上的精确匹配。
# 训练集的精确匹配一路上升到接近 100%；验证集的损失下降一段后不再下降甚至回升——模型开始**死记**训练数据（过拟合）。
# `best_model.pth` 是验证损失最低的那一次。

# %%
plot_metrics(out_dir / "metrics.jsonl", title="cpu preset")
plt.show()

# %% [markdown]
# ### 按题型的精确匹配
#
# 数据里有四种题（见 `data/README.md`）：释义 `meaning`、拼音 `pinyin`、接龙 `chain`、填空 `fill`。
# `char acc` 是逐字的正确率（拼音按音节，也就是成语里的每个字）。

# %%
final = history.final
print(format_report(final["metrics"]))
if not FAST:
    assert final["train"]["exact_match"] >= 0.9, "训练过的问题应该几乎都能答对"


# %% [markdown]
# ## 5. 记忆 vs 幻觉
#
# 同一个模型，分别问**训练时见过的**问题和**没见过的**问题（验证集）。见过的几乎都答对——它在背书；
# 没见过的成语，模型照样给出一个**看起来很像样**的回答：格式对、语气对、字也都是常见字，但内容是编的。
# 这就是语言模型的「幻觉」：它学到的是「这类问题的答案长什么样」，而不是查一本它没读过的词典。
#
# 接龙题是例外：只要知道最后一个字、再记得一个以它开头的成语就行，没见过的题也能答对不少。

# %%
def show(examples, kinds=("meaning", "pinyin", "chain", "fill"), per_kind=2):
    for kind in kinds:
        for ex in [e for e in examples if e["type"] == kind][:per_kind]:
            mark = "✓" if ex["predicted"] == ex["answer"] else "✗"
            print(f"{mark} [{kind}] {ex['question']}\n    模型：{ex['predicted']}\n    答案：{ex['answer']}")

print("===== 训练集里的问题（见过）=====")
show(final["train"]["examples"])
print("\n===== 验证集里的问题（没见过）=====")
show(final["val"]["examples"])

# %% [markdown]
# ## 6. 检查点：保存、加载、续训
#
# 一个检查点文件里有：权重、模型配置、**词表**（和它的哈希）、步数、最近的评估结果；`last_model.pth` 还有
# 优化器状态、学习率计划、所有随机数生成器的状态，以及数据读到了第几轮第几批。
# 文件先写到同目录的临时文件再 `os.replace` 改名，所以中途崩溃不会留下半个文件；
# 读取用 `torch.load(..., weights_only=True)`：只允许张量和基本容器，不执行文件里的任何代码。

# %%
raw = torch.load(out_dir / "last_model.pth", weights_only=True)
print("检查点里的键：", sorted(raw))
print("续训状态：", sorted(raw["train_state"]))
best, metadata = load_checkpoint(out_dir / "best_model.pth")  # 按存下的配置重建模型，已经是 eval 模式
print(f"best_model.pth：第 {metadata['step']} 步，验证损失 {metadata['metrics']['val_loss']:.4f}，词表哈希 {metadata['vocab_hash'][:12]}…")
assert load_tokenizer(metadata).vocab_hash == tokenizer.vocab_hash


# %% [markdown]
# ### 中断后接着训练，结果和不中断完全一样
#
# 在训练中按 Ctrl-C（或者在 Jupyter 里点「中断」），`train()` 会先保存 `last_model.pth` 再返回；
# 同样的调用再运行一次就从断点接着训练。因为随机数状态和数据顺序也存下来了，接着训练得到的损失和
# 一口气训练完**逐位相同**。下面用 tiny 模型验证：一次训练 12 步；另一次在第 6 步「按下 Ctrl-C」，再续训到 12 步。

# %%
# NBVAL_CHECK_OUTPUT
def tiny_run(folder, **kw):
    torch.manual_seed(0)
    m = GPTLMHeadModel(config_for("tiny", tokenizer.get_vocab_size(), dropout=0.1))  # dropout：随机数状态也要恢复
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
# ## 7. 命令行
#
# 本章的一切也可以在终端里做（`--help` 列出所有参数）：
#
# ```bash
# python ./minigpt/train.py                          # 默认：cpu 预设，CPU 上训练 15 分钟，输出到 output/
# python ./minigpt/train.py --max-steps 4000         # 固定步数（本章上面的设置）
# python ./minigpt/train.py --preset seed --lr 3e-4  # 种子代码的 768×6（适合 GPU）；实测 1e-3 对它太大，3e-4 只是起点
# python ./minigpt/train.py --arch qwen3             # 第 8 章的 Qwen3 结构，同样的训练循环
# torchrun --nproc_per_node=2 ./minigpt/train.py     # 多进程数据并行（CPU 用 gloo，GPU 用 NCCL）
# tensorboard --logdir runs                          # 看 TensorBoard 曲线
# python -m minigpt.plots output/metrics.jsonl --out curves.png
# ```
#
# 训练被中断（Ctrl-C 或进程被杀）后，再运行同样的命令就会从 `output/last_model.pth` 接着训练，并说明从第几步开始；
# `--no-resume` 从头开始（并提示哪些文件会被覆盖）。换了词表再续训会报错并说明怎么办。
#
# ## 小结与练习
#
# - 训练循环的核心只有五行；让它又快又稳的是：分桶减少 padding、预热 + 余弦退火、梯度裁剪、按实测选精度。
# - 精确匹配比损失更能说明「会不会答」；按题型拆开看，才知道模型擅长什么（接龙）、不擅长什么（没见过的释义）。
# - 训练集上接近 100%、验证集上的释义几乎全错：模型记住了答案，而不是学会了成语。
#
# 练习：
#
# 1. 用 `answer_only_loss=True` 再训练一次，比较两种损失下的精确匹配。
# 2. 把学习率改成种子代码的 `1e-4`，同样 4000 步，精确匹配差多少？
# 3. 看 `output/ch06/metrics.jsonl` 里验证损失最低的是第几步，那时训练集的精确匹配是多少？
#
# 下一章：用训练好的模型生成回答——贪心、采样和 KV cache。
