"""第 6 章：在问答对上训练 GPT（或课程的 Qwen3）。

    python ./minigpt/train.py                       # ./data/train.jsonl、./data/val.jsonl、./data/vocab.json
    python ./minigpt/train.py --max-minutes 5       # 按时间预算训练，而不是种子代码的 15 轮
    python ./minigpt/train.py --preset tiny --max-steps 50 --output-dir /tmp/try
    python ./minigpt/train.py --arch qwen3          # 同一个循环训练第 8 章的 Qwen3（课程大小）
    torchrun --nproc_per_node=2 ./minigpt/train.py  # 数据并行（CPU 上用 gloo，GPU 上用 NCCL）
    python ./minigpt/train.py --help

保留种子代码的循环（AdamW、忽略 <pad> 的交叉熵、tqdm 进度条、runs/ 下的 TensorBoard 日志、
按验证损失挑出的 output/best_model.pth），再加上让训练又快又稳的几样东西：

* 按批填充加长度分桶：种子代码把每个问答对都填充到 128 个 token，大部分是 <pad>；
* 学习率预热 + 余弦退火、梯度裁剪、在更快的设备上用 bf16 autocast；
* 对问答有意义的评估：贪心回答的精确匹配，按题型分开（minigpt/evaluate.py）；
* 能续训的检查点（last + best，原子写入）：按 Ctrl-C 或进程被杀后再运行同样的命令，接着训练，
  损失和不中断的训练完全相同；
* 指标日志 output/metrics.jsonl（minigpt/runlog.py，画图见 minigpt.plots），长时间训练前先估计要多久。

循环本身在 train() 里从上往下读；它周围是几个有名字的小步骤：resume_or_start（续训或从头开始）、
plan_budget（按时间预算定步数）、evaluate_and_save（评估并保存最佳模型）、finish（最终报告）。
循环里会变的量都在 LoopState 里，不藏在闭包中。

在 Python 里（测试、notebook）：

    history = train(model, tokenizer, "data/train.jsonl", "data/val.jsonl", max_steps=20)
    assert history[-1] < history[0]          # 每一步的训练损失组成的列表
    history = train(..., settings=TrainSettings(lr=3e-4), max_steps=20)   # 一组设置，再改几项
    model, metadata = load_checkpoint("output/best_model.pth")
    tokenizer = load_tokenizer(metadata)
"""
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

if __package__ in (None, ""):  # 以脚本方式运行时，让 `import minigpt.*` 能找到仓库根目录
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm.auto import tqdm

from minigpt.cli import ArgumentParser, CheckpointError, DataError, UserError, add_settings, report, setting
from minigpt.cli import settings_from
from minigpt.checkpoint import BEST, LAST, check_vocab, load_base, read_checkpoint, rng_state, save_checkpoint
from minigpt.checkpoint import set_rng_state
from minigpt.common import autocast, end_processes, init_processes, pick_device, print0, resolve_dtype, unwrap
from minigpt.evaluate import EvalSet, evaluate, format_report, taught_heldout
from minigpt.jsonl import read_qa_jsonl
from minigpt.models import arch_of, build_model_for, context_length, width_of
from minigpt.qa_dataset import SEED_PADDED_LENGTH, BucketBatchSampler, QADataset, collate_batch, padding_report
from minigpt.runlog import METRICS, RunLog
from minigpt.tokenizer import Tokenizer
# 下面这些名字本文件不用：notebook、测试和基准习惯从 minigpt.train 导入它们，这里转一下
from minigpt.checkpoint import load_checkpoint, load_tokenizer  # noqa: F401
from minigpt.common import bf16_is_faster  # noqa: F401
from minigpt.evaluate import char_accuracy  # noqa: F401
from minigpt.generate import greedy_answers  # noqa: F401

__all__ = ["TrainSettings", "History", "train", "train_step", "make_optimizer", "lr_at", "new_model", "cpu_budget",
           "build_parser", "main", "LAST", "BEST", "METRICS", "load_checkpoint", "load_tokenizer", "char_accuracy",
           "greedy_answers", "autocast", "bf16_is_faster", "resolve_dtype",
           # 预训练（minigpt/pretrain.py）换了数据、共用这些
           "Run", "setup_model", "add_run_options", "run_in_processes", "run_loop"]

WARMUP_STEPS_UNTIMED = 10  # 前 10 步不算进时长估计（每种新的批长度都要建新的内核和缓冲区，CPU 上实测慢约一倍）
TIMED_STEPS = 10  # 然后量这么多步来估计每步多久
TIMED_SECONDS = 10.0  # 单进程时最多量这么多秒（慢的机器上 10 步可能要好几分钟）
EVALS_PER_RUN = 10  # 没给 --eval-every 时一次训练评估约这么多次……
MIN_EVAL_EVERY = 50  # ……但最多每 50 步一次
EM_NAMES = {"train": "训练", "heldout": "换问法", "val": "验证"}  # 评估那一行的精确匹配，按这个顺序
CPU_MINUTES = 15.0  # CPU 上没给步数、轮数或时间时的时间预算


# ====================================================================== 设置
@dataclass
class TrainSettings:
    """除了模型以外决定一次训练的一切；存进检查点和指标日志。命令行选项由这些字段生成（cli.add_settings）。"""

    # 每步的问答对数；种子代码也是 32，CPU 上测过更大的批次每秒学到的并不更多
    batch_size: int = setting(32, "每步多少个问答对")
    # 小模型上 1e-3 比种子代码的 1e-4 学得快得多（在本数据上重测过）
    lr: float = setting(1e-3, "峰值学习率（先预热，再余弦退火）")
    min_lr_ratio: float = setting(0.1, "余弦退火的终点 = lr × 这个比例")  # 最后阶段仍在慢慢学
    warmup_steps: int = setting(100, "学习率线性预热的步数")  # 开头梯度很乱，先用小步长
    weight_decay: float = setting(0.01, "AdamW 的权重衰减")  # AdamW 的默认值（种子代码未改）
    grad_clip: float = setting(1.0, "梯度裁剪的范数上限（0：不裁剪）")  # 偶尔的大梯度不会把训练打乱
    max_length: int = setting(128, "每个问答对最多多少个 token，更长的截断")  # 和种子代码一样
    # 问题位置的目标记为 <pad>，损失只算答案
    answer_only_loss: bool = setting(False, "只学答案的 token，不学问题")
    # 初始化之外的一切随机性（dropout、数据顺序、评估样本）；命令行的模型初始化也用它
    seed: int = setting(42, "随机种子")
    # None 且没有别的上限时用种子代码的 15 轮
    epochs: float | None = setting(None, "把训练数据过几遍（种子代码：15）")
    max_steps: int | None = setting(None, "做这么多步优化后停止（优先于 --epochs）")
    # 先测速，再按预算定步数
    max_minutes: float | None = setting(None, "时间预算（分钟）；CPU 上没给 --max-steps/--epochs 时默认 15")
    eval_every: int | None = setting(None, "每 N 步评估一次（默认：一次训练约 10 次）")
    # 换个问法问训练过的成语
    heldout_path: str | None = setting(None, "留出的问法（JSONL，带 idiom 字段）：用训练中没见过的问法问训练过的成语；"
                                       "默认用训练文件旁边的 heldout_phrasings.jsonl（有就用），'' 表示不评估",
                                       flag="--heldout", metavar="PATH")
    eval_samples: int = setting(100, "每次评估答多少道训练题和验证题")  # 精确匹配
    final_eval_samples: int = setting(500, "最终报告里每边多少道题")
    val_loss_samples: int | None = setting(1000, "验证损失在验证集的多少道题（固定的子集）上算")
    save_every: int | None = setting(None, "每 N 步保存 output-dir/last_model.pth（默认：每次评估时和每 2 分钟）")
    log_every: int = setting(10, "每 N 步写一行 metrics.jsonl / TensorBoard")


def lr_at(step: int, s: TrainSettings, total_steps: int) -> float:
    """线性预热到 s.lr，然后余弦退火，到 total_steps 时降到 s.lr * s.min_lr_ratio。

    $\\eta_t = \\eta_{min} + \\tfrac12(\\eta_{max}-\\eta_{min})(1+\\cos(\\pi\\,\\tfrac{t-w}{T-w}))$
    """
    if step < s.warmup_steps:
        return s.lr * (step + 1) / s.warmup_steps
    progress = min(1.0, (step - s.warmup_steps) / max(1, total_steps - s.warmup_steps))
    min_lr = s.lr * s.min_lr_ratio
    return min_lr + 0.5 * (s.lr - min_lr) * (1 + math.cos(math.pi * progress))


def make_optimizer(model, lr: float, weight_decay: float, device) -> torch.optim.AdamW:
    """AdamW。CPU 和 CUDA 上用 fused=True：每个参数张量的整个更新在一个内核里一次算完，而不是十来个逐元素运算
    各把参数和动量扫一遍内存（2 核 CPU 上 768×6 的一次更新 127 → 26 ms，benchmarks/README.md）。
    算的是同一个公式，结果与默认实现只差浮点舍入。"""
    fused = torch.device(device).type in ("cpu", "cuda")
    return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, fused=fused)


def train_step(model, optimizer, batch, *, pad_token_id, device, dtype=torch.float32, grad_clip=1.0):
    """在一个右填充的批上做一步优化；返回损失（不带梯度的 0 维张量）。

    benchmarks/bench_train.py 也调用它，所以基准测的正是这个函数。
    """
    input_ids = batch["input_ids"].to(device, non_blocking=True)  # (B, T)，右填充
    targets = batch["targets"].to(device, non_blocking=True)  # (B, T)，不需要学的位置是 <pad>
    with autocast(device, dtype):
        # 不传注意力掩码：右填充时，因果注意力本来就不会让真实 token 看到 <pad>，
        # 所以每个有目标的位置都是准确的，注意力也只要因果掩码（model.py 的 causal_attention）。
        logits = model(input_ids)  # (B, T, vocab)
    loss = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=pad_token_id)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss.detach()


class History(list):
    """每一步的训练损失（一个 list），外加 `.evals`（每次评估）和 `.final`（最终报告）。"""

    def __init__(self, losses=()):
        super().__init__(losses)
        self.evals = []
        self.final = None
        self.interrupted = False


# ====================================================================== 一次训练的各个部分
@dataclass
class Run:
    """一次训练里不变的东西：训练什么、用什么数据、在哪里算、写到哪里。"""

    s: TrainSettings
    model: torch.nn.Module  # 原始模型：保存、评估用
    train_model: torch.nn.Module  # 训练步用：可能包了 DDP 和 torch.compile
    optimizer: torch.optim.Optimizer
    tokenizer: object
    arch: str  # "gpt" 或 "qwen3"，存进检查点
    train_ds: QADataset
    evalset: EvalSet
    sampler: BucketBatchSampler
    batches_per_epoch: int  # 每个进程每轮的批数
    padded_per_epoch: float  # 每个进程每轮要算的 token 数（含填充），用来把测速换算成每步时间
    device: torch.device
    dtype: torch.dtype
    world: int  # 进程数
    rank: int  # 本进程编号；只有 0 号打印、写日志、保存
    output_dir: Path
    say: object  # print0，或者 verbose=False 时什么也不做


@dataclass
class LoopState:
    """循环里会变的量。保存 last_model.pth 时和优化器、随机数状态一起存下，续训时取回。"""

    total_steps: int | None  # 在哪一步结束；None：按时间预算，测速后才定
    provisional: int  # total_steps 定下之前，学习率计划和进度条按这么多步算
    eval_every: int
    save_every: int
    step: int = 0
    epoch: int = 0
    position: int = 0  # 这一轮已经训练过的批数
    elapsed_before: float = 0.0  # 续训之前已经用掉的秒数
    best_val: float = float("inf")
    latest_metrics: dict = field(default_factory=dict)  # 最近一次评估，存进检查点
    t_start: float = field(default_factory=time.perf_counter)
    last_save: float = field(default_factory=time.perf_counter)
    time_per_step: float | None = None  # 平滑过的每步秒数：决定评估多久一次才不会太占时间

    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.t_start

    def schedule_steps(self) -> int:
        return self.total_steps if self.total_steps is not None else self.provisional


@dataclass
class StepTimer:
    """为估计时长测几步：跳过前 WARMUP_STEPS_UNTIMED 步，再量 TIMED_STEPS 步（单进程时最多量 TIMED_SECONDS 秒）。"""

    seconds: float = 0.0
    padded: int = 0  # 量过的步一共算了多少 token（含填充）
    steps: int = 0
    done: bool = False

    def observe(self, step: int, dt: float, padded: int, world: int) -> bool:
        """记下一步；估计刚好可以做时返回 True（每个进程在同一步返回 True）。"""
        if self.done or step <= WARMUP_STEPS_UNTIMED:
            return False
        self.seconds += dt
        self.padded += padded
        self.steps += 1
        self.done = self.steps >= TIMED_STEPS or (world == 1 and self.seconds > TIMED_SECONDS)
        return self.done


def prepare(model, tokenizer, train_path, val_path, s, output_dir, procs, dtype_name, use_compile, say) -> Run:
    """数据、模型、优化器：一次训练里不变的一切。"""
    base = unwrap(model)
    dtype = resolve_dtype(dtype_name, procs.device, width_of(base))  # 测速用自己的随机数生成器，不影响训练
    max_length = min(s.max_length, context_length(base))
    train_ds = QADataset(train_path, tokenizer, max_length, pad_to_max_length=False, answer_only_loss=s.answer_only_loss)
    val_ds = QADataset(val_path, tokenizer, max_length, pad_to_max_length=False, answer_only_loss=s.answer_only_loss)
    heldout = heldout_pairs(s.heldout_path, train_path, train_ds.pairs, say)
    evalset = EvalSet.fixed(train_ds, val_ds, n=s.eval_samples, n_val_loss=s.val_loss_samples, seed=s.seed,
                            heldout_pairs=heldout)
    sampler = BucketBatchSampler(train_ds.lengths, s.batch_size, shuffle=True, seed=s.seed, drop_last=False)
    batches_per_epoch = len(sampler) // procs.world  # 每个进程取同一顺序里的每第 world 批
    if batches_per_epoch == 0:
        raise DataError(f"{train_path}: {len(train_ds)} 个问答对太少，不够 {procs.world} 个进程 × 每批 {s.batch_size} 个")
    sampler.set_epoch(0)
    pad_stats = padding_report(train_ds.lengths, list(sampler))
    say(f"数据：训练 {len(train_ds):,} 对，验证 {len(val_ds):,} 对，每轮 {batches_per_epoch:,} 批"
        + (f"（每个进程；共 {procs.world} 个进程）" if procs.world > 1 else ""))
    say(f"填充：按批填充时 {pad_stats['waste']:.1%} 的 token 是 <pad>"
        f"（种子代码固定填充到 {SEED_PADDED_LENGTH}：{pad_stats['seed_waste']:.1%}）")
    if train_ds.num_truncated:
        say(f"注意：{train_ds.num_truncated} 个训练问答对超过 {max_length} 个 token，已被截断")

    model, train_model, optimizer = setup_model(base, s, procs, use_compile)
    return Run(s, model, train_model, optimizer, tokenizer, arch_of(base), train_ds, evalset, sampler,
               batches_per_epoch, pad_stats["padded_tokens"] / procs.world, procs.device, dtype, procs.world,
               procs.rank, Path(output_dir), say)


def setup_model(model, s: TrainSettings, procs, use_compile: bool):
    """(模型, 训练步用的模型, 优化器)：模型放到设备上、train 模式；多进程时包 DDP，可选 torch.compile。
    第 10 章的预训练（minigpt/pretrain.py）也用它。"""
    model = unwrap(model).to(procs.device)
    model.train()
    optimizer = make_optimizer(model, s.lr, s.weight_decay, procs.device)
    train_model = model
    if procs.world > 1:
        ids = [procs.device.index] if procs.device.type == "cuda" else None
        train_model = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    if use_compile:
        train_model = torch.compile(train_model)
    return model, train_model, optimizer


def heldout_pairs(path, train_path, train_pairs, say) -> list:
    """评估“换个问法”用的题：留出问法文件里问训练过的成语的那些（minigpt.evaluate.taught_heldout）。

    path 为 None 时找训练文件旁边的 heldout_phrasings.jsonl（data/build_data.py 生成），没有就不评估；"" 表示不评估。
    """
    if path == "":
        return []
    if path is None:
        path = Path(train_path).parent / "heldout_phrasings.jsonl"
        if not path.is_file():
            return []
    pairs = taught_heldout(read_qa_jsonl(path, warn=lambda message: None, summary=False), train_pairs)
    if pairs:
        say(f"换问法评估：{path} 中问训练过的成语的 {len(pairs):,} 题")
    return pairs


def planned_steps(run: Run) -> int | None:
    """训练多少步：max_steps > epochs > 时间预算（None：测速后再定）> 种子代码的 15 轮。"""
    s = run.s
    if s.max_steps is not None:
        return int(s.max_steps)
    if s.epochs is not None:
        return max(1, round(s.epochs * run.batches_per_epoch))
    if s.max_minutes is not None:
        return None
    return 15 * run.batches_per_epoch


def resume_or_start(run: Run, resume: bool, history: History) -> LoopState:
    """有 last_model.pth 且 resume：取回模型、优化器、随机数状态和循环状态；否则设好随机种子从头开始。"""
    s, planned = run.s, planned_steps(run)
    st = LoopState(planned, planned if planned is not None else 15 * run.batches_per_epoch, 0, 0)
    run.output_dir.mkdir(parents=True, exist_ok=True)
    last_path, best_path = run.output_dir / LAST, run.output_dir / BEST
    if not (resume and last_path.exists()):
        if not resume and last_path.exists():
            run.say(f"--no-resume：从头开始；{last_path} 和 {best_path} 会被覆盖")
        elif best_path.exists():
            run.say(f"注意：之前那次训练的 {best_path} 会被这次的最佳模型覆盖")
        torch.manual_seed(s.seed + run.rank)  # 每个进程的 dropout 不同，同一种子可复现
        random.seed(s.seed)
        set_cadence(st, s)
        return st
    ckpt = read_checkpoint(last_path)
    check_vocab(ckpt, run.tokenizer, last_path)
    if ckpt["arch"] != run.arch or ckpt["config"] != asdict(run.model.config):
        raise CheckpointError(f"{last_path}: 里面是另一个模型（{ckpt['arch']} {ckpt['config']}）；"
                              "用 --no-resume 从头开始，或换一个 --output-dir")
    if ckpt.get("train_state") is None:
        raise CheckpointError(f"{last_path}: 没有可以续训的训练状态；用 --no-resume 从头开始")
    ts = ckpt["train_state"]
    run.model.load_state_dict(ckpt["model"])
    run.optimizer.load_state_dict(ts["optimizer"])
    st.step, st.epoch, st.position = ckpt["step"], ts["epoch"], ts["position"]
    st.elapsed_before, st.best_val = ts["elapsed"], ts["best_val_loss"]
    old_total = ts["scheduler"]["total_steps"]
    if planned is None:  # 时间预算：沿用上次测速定下的步数
        st.total_steps = old_total
    elif planned != old_total:
        run.say(f"注意：学习率计划现在在第 {planned} 步结束（原来是 {old_total}），学习率曲线会变")
    history.extend(ts["losses"])
    if ts.get("world_size", 1) != run.world:
        run.say(f"注意：续训用了 {run.world} 个进程（原来 {ts.get('world_size', 1)} 个），数据顺序和不中断的训练不同")
    rngs = ts["rng"]
    set_rng_state(rngs[run.rank] if isinstance(rngs, list) and run.rank < len(rngs) else rngs[0])
    run.say(f"从 {last_path} 续训：第 {st.step} 步（第 {st.epoch + 1} 轮，第 {st.position} 批）；--no-resume 从头开始")
    set_cadence(st, s)
    return st


def set_cadence(st: LoopState, s: TrainSettings, at_least: int = 0) -> None:
    """多久评估、保存一次。没给 eval_every 时一次训练约 EVALS_PER_RUN 次（最多每 MIN_EVAL_EVERY 步一次，
    也不比 at_least 更勤）；按时间预算时，测速定下步数后再定一次。没给 save_every 时跟着评估保存。"""
    if s.eval_every is not None:
        st.eval_every = s.eval_every
    else:
        st.eval_every = max(MIN_EVAL_EVERY, st.schedule_steps() // EVALS_PER_RUN, at_least)
    st.save_every = s.save_every or st.eval_every


def epoch_order(run: Run, epoch: int) -> list[list[int]]:
    """这一轮本进程的批次顺序：只由 (seed, epoch) 决定，所以续训时能接着原来的顺序。"""
    run.sampler.set_epoch(epoch)
    order = list(run.sampler)
    if run.world > 1:
        order = order[: len(order) - len(order) % run.world][run.rank :: run.world]
    return order


def plan_budget(run: Run, st: LoopState, timer: StepTimer, bar) -> None:
    """测速完成：报告每步多久。按时间预算训练（步数还没定）时，据此定下一共走多少步，学习率计划随之确定。"""
    s, kind = run.s, f"{run.device.type}，{str(run.dtype).replace('torch.', '')}"
    per_step = timer.seconds / timer.padded * run.padded_per_epoch / run.batches_per_epoch
    if st.total_steps is not None:  # 步数已定（--max-steps、--epochs，或续训时沿用上次的计划）
        left = (st.total_steps - st.step) * per_step
        run.say(f"测速（{kind}）：每步 {per_step * 1000:.0f} ms → {st.total_steps:,} 步"
                f"（{st.total_steps / run.batches_per_epoch:.1f} 轮）还要约 {left / 60:.1f} 分钟（另加评估）")
        return
    budget = s.max_minutes * 60 - st.elapsed()
    # 评估大约占 8%；循环到点也会停，这里定的是学习率计划
    total = max(st.step + 1, int(st.step + budget * 0.92 / per_step))
    if run.world > 1:  # 每个进程必须在同一步停下：以 0 号进程的估计为准
        shared = torch.tensor([total], device=run.device)
        dist.broadcast(shared, 0)
        total = int(shared.item())
    st.total_steps = bar.total = total
    run.say(f"测速（{kind}）：每步 {per_step * 1000:.0f} ms → {s.max_minutes:g} 分钟约 {total:,} 步"
            f"（{total / run.batches_per_epoch:.1f} 轮）")
    set_cadence(st, s)


def out_of_time(run: Run, st: LoopState) -> bool:
    """时间预算用完了吗？多进程时以 0 号进程的时钟为准，否则别的进程会一直等它的梯度。"""
    stop = run.s.max_minutes is not None and st.elapsed() > run.s.max_minutes * 60
    if run.world > 1:
        flag = torch.tensor([int(stop)], device=run.device)
        dist.broadcast(flag, 0)
        stop = bool(flag.item())
    return stop


def gather_rng(world: int) -> list:
    """每个进程的随机数状态（续训时各自取回自己的）；多进程时这是一次所有进程都要参加的通信。"""
    if world == 1:
        return [rng_state()]
    states = [None] * world
    dist.all_gather_object(states, rng_state())
    return states


def save_last(run: Run, st: LoopState, history: History, rng_states: list) -> None:
    """last_model.pth：模型 + 续训需要的一切（优化器、学习率计划、数据位置、随机数状态、损失历史）。"""
    if run.rank == 0:
        train_state = {
            "optimizer": run.optimizer.state_dict(),
            "scheduler": {"total_steps": st.schedule_steps(), **asdict(run.s)},
            "epoch": st.epoch,
            "position": st.position,
            "elapsed": st.elapsed(),
            "best_val_loss": st.best_val,
            "losses": list(map(float, history)),
            "rng": rng_states,
            "world_size": run.world,
        }
        save_checkpoint(run.output_dir / LAST, run.model, run.arch, run.tokenizer, st.step,
                        metrics=st.latest_metrics, train_state=train_state)
    st.last_save = time.perf_counter()


def evaluate_and_save(run: Run, st: LoopState, history: History, log: RunLog, final: bool = False):
    """评估一次（只在 0 号进程）；验证损失创新低就保存 best_model.pth。返回 evaluate() 的三元组。"""
    result = evaluate(run.model, run.tokenizer, run.evalset, step=st.step, device=run.device, dtype=run.dtype,
                      final_n=run.s.final_eval_samples if final else None)
    row = result[0]
    st.latest_metrics = row
    history.evals.append(row)
    log.write(row)
    if not final and run.s.eval_every is None and run.world == 1 and st.time_per_step:
        # 评估不超过约 10% 的时间：慢的 CPU 上评估可能比训练还费时（步数取整到 10 的倍数）
        set_cadence(st, run.s, at_least=max(st.eval_every, math.ceil(row["eval_seconds"] / (0.1 * st.time_per_step) / 10) * 10))
    if row["val_loss"] < st.best_val:
        st.best_val = row["val_loss"]
        save_checkpoint(run.output_dir / BEST, run.model, run.arch, run.tokenizer, st.step, metrics=row)
        if final:
            run.say(f"新的最佳模型（验证损失 {st.best_val:.4f}）已保存到 {run.output_dir / BEST}")
    return result


def finish(run: Run, st: LoopState, history: History, log: RunLog) -> None:
    """最后：在更多题上评估（训练集、验证集各 final_eval_samples 题）、保存 last、打印报告。"""
    states = gather_rng(run.world)
    if run.rank != 0:
        return
    row, em_train, em_val = evaluate_and_save(run, st, history, log, final=True)
    save_last(run, st, history, states)
    history.final = {"metrics": row, "train": em_train, "val": em_val}
    run.say(f"完成：{st.step} 步，用时 {st.elapsed() / 60:.1f} 分钟；验证损失 {row['val_loss']:.4f}（最低 {st.best_val:.4f}）")
    if None not in row["exact_match"].values():  # 预训练可以只提问一边，或者不提问
        run.say(format_report(row))
    if row["val_loss"] > st.best_val:
        # 种子代码保留验证损失最低的那一步；过了那一步，模型还在继续记住学过的成语
        run.say(f"注意：{BEST} 是验证损失最低的那一步，不是最后的权重；"
                f"对话默认用最后的权重 {run.output_dir / LAST}（见 minigpt.checkpoint.trained_checkpoints）")
    log.close()


def interrupted(run: Run, st: LoopState, history: History, log: RunLog | None) -> None:
    """Ctrl-C（或回调里抛出的 KeyboardInterrupt）：单进程时马上保存 last，之后同样的命令接着训练。"""
    history.interrupted = True
    if run.rank == 0 and run.world == 1:
        save_last(run, st, history, [rng_state()])
        run.say(f"\n在第 {st.step} 步中断：已保存 {run.output_dir / LAST}；再运行同样的命令就会接着训练")
    elif run.rank == 0:  # 多进程时别的进程不一定也停在这里：以最近一次定期保存为准
        run.say(f"\n在第 {st.step} 步中断；续训会从最近一次定期保存的检查点开始")
    if log is not None:
        log.close()


# ====================================================================== 训练循环
def training_loop(run: Run, st: LoopState, history: History, log: RunLog | None, bar, callback) -> None:
    """取一批 → 设学习率 → 一步优化 → 记录；该测速、评估、保存时做一下。直到步数用完或时间到。"""
    s, timer, pad = run.s, StepTimer(), run.tokenizer.pad_token_id
    tokens_since, time_since = 0, 0.0  # 吞吐量：上次记录以来的有效 token 数和秒数
    order_epoch, order = None, []
    run.train_model.train()
    while st.total_steps is None or st.step < st.total_steps:
        if order_epoch != st.epoch:
            order, order_epoch = epoch_order(run, st.epoch), st.epoch
        if st.position >= len(order):
            st.epoch, st.position = st.epoch + 1, 0
            continue
        batch = collate_batch([run.train_ds[i] for i in order[st.position]], pad)
        t0 = time.perf_counter()
        lr = lr_at(st.step, s, st.schedule_steps())
        for group in run.optimizer.param_groups:
            group["lr"] = lr
        loss = train_step(run.train_model, run.optimizer, batch, pad_token_id=pad, device=run.device,
                          dtype=run.dtype, grad_clip=s.grad_clip)
        if run.world > 1:  # 记下的损失是各进程的平均
            dist.all_reduce(loss, op=dist.ReduceOp.AVG)
        loss = loss.item()  # 也会等 GPU 算完，下面的计时才是真的
        dt = time.perf_counter() - t0
        st.time_per_step = dt if st.time_per_step is None else 0.9 * st.time_per_step + 0.1 * dt
        st.step += 1
        st.position += 1
        history.append(loss)
        tokens_since += int(batch["attention_mask"].sum()) * run.world
        time_since += dt
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}")

        if timer.observe(st.step, dt, batch["input_ids"].numel(), run.world):
            plan_budget(run, st, timer, bar)
        stop = out_of_time(run, st)
        if log is not None and (st.step % s.log_every == 0 or st.step == 1):
            log.write({"step": st.step, "epoch": st.epoch + st.position / len(order), "train_loss": loss, "lr": lr,
                       "tokens_per_s": tokens_since / max(time_since, 1e-9), "elapsed_s": st.elapsed()})
            tokens_since, time_since = 0, 0.0
        last_step = stop or (st.total_steps is not None and st.step >= st.total_steps)
        if st.step % st.eval_every == 0 and not last_step and run.rank == 0:
            row = evaluate_and_save(run, st, history, log)[0]
            em = {k: v for k, v in row["exact_match"].items() if v is not None}  # 预训练可以不提问
            bar.write(f"第 {st.step} 步：训练损失 {loss:.4f}  验证损失 {row['val_loss']:.4f}" + ("  精确匹配" if em else "")
                      + "".join(f" {name} {em[k]:.1%}" for k, name in EM_NAMES.items() if k in em))
        # 按时钟保存只在单进程时做：多进程时每个进程都得参加同样的保存
        if st.step % st.save_every == 0 or (run.world == 1 and time.perf_counter() - st.last_save > 120):
            save_last(run, st, history, gather_rng(run.world))
        if callback is not None:
            callback(st.step, loss, history)
        if stop:
            run.say(f"{s.max_minutes:g} 分钟的时间预算在第 {st.step} 步用完")
            break


def train(model, tokenizer, train_path, val_path, *, settings: TrainSettings | None = None, output_dir="output",
          device=None, dtype="auto", compile=False, resume=True, tensorboard_dir="runs/minigpt", callback=None,
          progress=True, verbose=True, **overrides):
    """在 train_path 上训练 model，在 val_path 上评估，保存 output_dir/{last,best}_model.pth。

    返回 History：每一步的训练损失（续训时包含之前的步）。`callback(step, loss, history)` 每步之后调用
    （实时画图、测试）；在里面抛出 KeyboardInterrupt 就像按了 Ctrl-C（已保存，同样的调用会接着训练）。
    settings 是一组 TrainSettings（默认值见那里）；其它关键字参数改其中的字段（max_steps、lr、eval_every……）。
    """
    s = replace(settings or TrainSettings(), **overrides)
    return run_in_processes(lambda procs, say: prepare(model, tokenizer, train_path, val_path, s, output_dir, procs,
                                                       dtype, compile, say),
                            device, verbose, resume, tensorboard_dir, progress, callback)


def run_in_processes(make_run, device, verbose: bool, resume: bool, tensorboard_dir, progress: bool, callback) -> History:
    """建进程组（torchrun 时）、用 make_run(procs, say) 准备好 Run、跑 run_loop，最后拆进程组。
    train() 和预训练（minigpt/pretrain.py）共用它，只是准备 Run 的函数不同。"""
    procs = init_processes(pick_device("auto") if device is None else torch.device(device))
    say = (lambda *a, **k: print0(procs.rank, *a, **k)) if verbose else (lambda *a, **k: None)
    history = None
    try:
        history = run_loop(make_run(procs, say), resume, tensorboard_dir, progress, callback)
        return history
    finally:  # 正常跑完时各进程先到齐再拆进程组；出错或 Ctrl-C 时不等（见 end_processes）
        end_processes(procs, finished=history is not None and not history.interrupted)


def run_loop(run: Run, resume: bool, tensorboard_dir, progress: bool, callback) -> History:
    """续训或从头开始，训练到结束（或 Ctrl-C），最后评估、保存。train() 和第 10 章的 pretrain() 都用它。"""
    history = History()
    st = resume_or_start(run, resume, history)
    log = RunLog(run.output_dir / METRICS, tensorboard_dir, keep_until_step=st.step or None) if run.rank == 0 else None
    bar = tqdm(total=st.schedule_steps(), initial=st.step, desc="训练", unit="步",
               disable=not progress or run.rank != 0, dynamic_ncols=True)
    st.t_start = st.last_save = time.perf_counter()
    try:
        training_loop(run, st, history, log, bar, callback)
    except KeyboardInterrupt:
        bar.close()
        interrupted(run, st, history, log)
        return history
    bar.close()
    finish(run, st, history, log)
    return history


# ====================================================================== 命令行
def build_parser():
    p = ArgumentParser(
        description="在问答对上训练 minigpt 的 GPT（或课程的 Qwen3）——第 6 章。",
    )
    p.add_argument("--train", default="./data/train.jsonl", help="训练用的问答对（JSONL）")
    p.add_argument("--val", default="./data/val.jsonl", help="验证用的问答对（JSONL）")
    p.add_argument("--vocab", default="./data/vocab.json", help="build_vocab.py 建的词表")
    p.add_argument("--init-from", default=None, metavar="PATH",
                   help="从预训练的基座模型开始微调（第 10 章，python -m minigpt.pretrain 的 last_model.pth）；"
                        "--vocab 必须是预训练用的词表")
    add_run_options(p)
    add_settings(p, TrainSettings)  # --batch-size、--lr、--max-steps……：每个 TrainSettings 字段一个
    return p


def add_run_options(p, output_dir="output", tensorboard_dir="runs/minigpt") -> None:
    """数据以外、设置以外的选项：写到哪里、什么模型、在哪里算、续训。train.py 和 pretrain.py 共用。"""
    p.add_argument("--output-dir", default=output_dir, help="last_model.pth、best_model.pth、metrics.jsonl 写到这里")
    p.add_argument("--arch", choices=["gpt", "qwen3"], default="gpt", help="模型架构")
    p.add_argument("--preset", default="cpu", help="模型大小，见 python -m minigpt.models（gpt：seed 是种子代码的 768×6 层；"
                   "qwen3：同名的 qwen3-seed、qwen3-cpu、qwen3-tiny）")
    p.add_argument("--device", default="auto", help="auto：依次选 cuda → mps → cpu")
    p.add_argument("--dtype", default="auto", choices=["auto", "fp32", "bf16"], help="auto：实测 bf16 更快时用 bf16 autocast")
    p.add_argument("--threads", type=int, default=None, help="torch 用几个 CPU 线程（默认由 torch 决定；机器很忙时 1 反而快）")
    p.add_argument("--compile", action="store_true", help="用 torch.compile 编译模型（GPU 上有用；这台 CPU 上没用）")
    p.add_argument("--resume", dest="resume", action="store_true", default=True,
                   help="output-dir/last_model.pth 存在就接着训练（默认就是这样）")
    p.add_argument("--no-resume", dest="resume", action="store_false", help="从头开始（覆盖 --output-dir 里的检查点）")
    p.add_argument("--tensorboard-dir", default=tensorboard_dir, help="TensorBoard 日志文件夹（'' 表示不写）")
    p.add_argument("--no-progress", action="store_true", help="不显示 tqdm 进度条（只打印日志）")


SPLIT = "先切分数据：python ./minigpt/split_data.py --input ./data/data.jsonl --train_ratio 0.8"
MISSING_HINTS = {
    "vocab": "先建词表：python ./minigpt/build_vocab.py --data ./data/data.jsonl --output ./data/vocab.json",
    "train": SPLIT,
    "val": SPLIT,
}


def new_model(vocab_path, arch="gpt", preset="cpu", seed=42, device="cpu"):
    """(新初始化的模型, 分词器)：词表来自 vocab_path；打印设备、架构、预设和参数量（命令行和 python -m minigpt 用）。"""
    tokenizer = Tokenizer(vocab_path)
    model = build_model_for(arch, preset, tokenizer.get_vocab_size(), seed=seed)
    rank = int(os.environ.get("RANK", "0"))
    print0(rank, f"设备：{device}  架构：{arch}  预设：{preset}  参数量：{sum(p.numel() for p in model.parameters()):,}")
    return model, tokenizer


def cpu_budget(s: TrainSettings, device) -> TrainSettings:
    """在 CPU 上没给步数、轮数或时间时，训练 CPU_MINUTES 分钟（种子代码的 15 轮在 CPU 上要好几个小时）。"""
    if s.max_minutes is None and s.max_steps is None and s.epochs is None and torch.device(device).type == "cpu":
        print0(int(os.environ.get("RANK", "0")),
               f"在 CPU 上默认训练 {CPU_MINUTES:g} 分钟后停止（用 --max-minutes、--max-steps 或 --epochs 改）")
        return replace(s, max_minutes=CPU_MINUTES)
    return s


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("vocab", "train", "val"):
        path = Path(getattr(args, name))
        if not path.is_file():
            return report(DataError(f"{path}: 找不到；{MISSING_HINTS[name]}"))
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        device = pick_device(args.device)
        settings = settings_from(args, TrainSettings)
        if args.init_from:
            tokenizer = Tokenizer(args.vocab)
            model = load_base(args.init_from, tokenizer, args.vocab, arch=args.arch, preset=args.preset)
        else:
            model, tokenizer = new_model(args.vocab, args.arch, args.preset, settings.seed, device)
        history = train(model, tokenizer, args.train, args.val, settings=cpu_budget(settings, device),
                        output_dir=args.output_dir, device=device, dtype=args.dtype, compile=args.compile,
                        resume=args.resume, tensorboard_dir=args.tensorboard_dir or None, progress=not args.no_progress)
    except UserError as e:
        return report(e)
    return 130 if history.interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
