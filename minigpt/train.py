"""Chapter 6: train the GPT (or the course's Qwen3) on question–answer pairs.

    python ./minigpt/train.py                       # ./data/train.jsonl, ./data/val.jsonl, ./data/vocab.json
    python ./minigpt/train.py --max-minutes 5       # a time budget instead of the seed's 15 epochs
    python ./minigpt/train.py --preset tiny --max-steps 50 --output-dir /tmp/try
    python ./minigpt/train.py --arch qwen3          # the same loop for chapter 8's Qwen3 (course size)
    torchrun --nproc_per_node=2 ./minigpt/train.py  # data-parallel (gloo on CPU, NCCL on GPUs)
    python ./minigpt/train.py --help

It keeps the seed's loop (AdamW, cross-entropy that ignores <pad>, tqdm bars, TensorBoard logs under
runs/, output/best_model.pth chosen by validation loss) and adds what makes training fast and safe:

* per-batch padding with length buckets: the seed pads every pair to 128 tokens, most of them <pad>;
* learning-rate warm-up + cosine decay, gradient clipping, bf16 autocast where it is faster;
* evaluation that means something for QA: exact match of greedy answers, per question type;
* resumable checkpoints (last + best, written atomically): Ctrl-C or a killed run continues where it
  stopped and gives the same losses as an uninterrupted run;
* a metrics log (output/metrics.jsonl) for minigpt.plots, a duration estimate before the long part.

From Python (tests, notebooks):

    history = train(model, tokenizer, "data/train.jsonl", "data/val.jsonl", max_steps=20)
    assert history[-1] < history[0]          # a list of per-step training losses
    model, metadata = load_checkpoint("output/best_model.pth")
    tokenizer = load_tokenizer(metadata)
"""
import argparse
import contextlib
import json
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm.auto import tqdm

from minigpt.checkpoint import (  # noqa: F401  (load_checkpoint/load_tokenizer are part of this module's API)
    CheckpointError,
    check_vocab,
    load_checkpoint,
    load_tokenizer,
    read_checkpoint,
    save_checkpoint,
    set_rng_state,
    rng_state,
    unwrap,
)
from minigpt.common import pick_device
from minigpt.jsonl import DataError
from minigpt.qa_dataset import BucketBatchSampler, QADataset, collate_batch

LAST = "last_model.pth"
BEST = "best_model.pth"  # the seed's name: chapter 7 loads output/best_model.pth
METRICS = "metrics.jsonl"
SEED_PADDED_LENGTH = 128  # the seed pads every pair to max_length=128
WARMUP_STEPS_UNTIMED = 10  # steps left out of the duration estimate


# ====================================================================== settings
@dataclass
class TrainSettings:
    """Everything that shapes a run besides the model; stored in the checkpoint and the metrics log."""

    batch_size: int = 32  # 对话对数/步；seed 也是 32，CPU 上测过更大的批次每秒学到的并不更多
    lr: float = 1e-3  # 峰值学习率：小模型上 1e-3 比 seed 的 1e-4 学得快得多（DESIGN §8，本数据上重测过）
    min_lr_ratio: float = 0.1  # 余弦退火的终点 = lr × 0.1，最后阶段仍在慢慢学
    warmup_steps: int = 100  # 线性预热：开头梯度很乱，先用小步长
    weight_decay: float = 0.01  # AdamW 的默认值（seed 未改）
    grad_clip: float = 1.0  # 梯度裁剪：偶尔的大梯度不会把训练打乱
    max_length: int = 128  # 每个问答对最多 128 个 token，和 seed 一样
    answer_only_loss: bool = False  # True：只对答案部分计算损失（问题位置的目标记为 <pad>）
    seed: int = 42  # 随机种子：初始化之外的一切随机性（dropout、数据顺序、评估样本）
    epochs: float | None = None  # 训练多少轮；None 且没有别的上限时用 seed 的 15 轮
    max_steps: int | None = None  # 最多多少步（优先于 epochs）
    max_minutes: float | None = None  # 时间预算（分钟）：先测速，再按预算定步数
    eval_every: int | None = None  # 每多少步评估一次；None：约 10 次/整个训练
    eval_samples: int = 100  # 训练中评估：训练集、验证集各抽这么多题做精确匹配
    final_eval_samples: int = 500  # 结束时的报告：各抽这么多题
    val_loss_samples: int | None = 1000  # 验证损失用的固定子集大小；None：整个验证集
    save_every: int | None = None  # 每多少步保存一次 last；None：每次评估时 + 至少每 2 分钟
    log_every: int = 10  # 每多少步写一行 metrics.jsonl / TensorBoard


def lr_at(step: int, s: TrainSettings, total_steps: int) -> float:
    """Linear warm-up to s.lr, then cosine decay to s.lr * s.min_lr_ratio at total_steps.

    $\\eta_t = \\eta_{min} + \\tfrac12(\\eta_{max}-\\eta_{min})(1+\\cos(\\pi\\,\\tfrac{t-w}{T-w}))$
    """
    if step < s.warmup_steps:
        return s.lr * (step + 1) / s.warmup_steps
    progress = min(1.0, (step - s.warmup_steps) / max(1, total_steps - s.warmup_steps))
    min_lr = s.lr * s.min_lr_ratio
    return min_lr + 0.5 * (s.lr - min_lr) * (1 + math.cos(math.pi * progress))


# ====================================================================== device and precision
_PROBE_CACHE = {}


def bf16_is_faster(device: torch.device, n_embd: int = 256) -> bool:
    """Does a bf16 matmul of the model's width beat fp32 on this device? (measured, ~0.2 s)

    Some CPUs (AMX, AVX512-BF16) run bf16 several times faster; others (plain AVX-512, AVX2) emulate it and
    run it 5x slower. Guessing wrong costs a lot either way, so we time it.
    """
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    key = (device.type, n_embd)
    if key not in _PROBE_CACHE:
        gen = torch.Generator().manual_seed(0)  # own generator: the probe must not shift the training RNG
        times = {}
        for dtype in (torch.float32, torch.bfloat16):
            a = torch.randn(1024, n_embd, generator=gen).to(dtype)
            b = torch.randn(n_embd, 4 * n_embd, generator=gen).to(dtype)
            a @ b  # warm-up
            best = float("inf")
            for _ in range(3):
                t = time.perf_counter()
                for _ in range(5):
                    a @ b
                best = min(best, time.perf_counter() - t)
            times[dtype] = best
        _PROBE_CACHE[key] = times[torch.float32] / times[torch.bfloat16] > 1.2
    return _PROBE_CACHE[key]


def resolve_dtype(name: str, device: torch.device, n_embd: int) -> torch.dtype:
    if name == "auto":
        return torch.bfloat16 if bf16_is_faster(device, n_embd) else torch.float32
    return {"fp32": torch.float32, "float32": torch.float32, "bf16": torch.bfloat16, "bfloat16": torch.bfloat16}[name]


def autocast(device: torch.device, dtype: torch.dtype):
    """Weights stay fp32 (AdamW needs the precision); matmuls run in bf16 inside this context."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


# ====================================================================== data
def read_records(path) -> list[dict]:
    """Raw records with their extra "type" field (the Dataset keeps only question/answer).

    Same skipping rule as the Dataset, silently: QADataset already reported bad lines.
    """
    records = []
    with open(path, encoding="utf-8-sig") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict) and all(isinstance(obj.get(k), str) and obj.get(k) for k in ("question", "answer")):
                records.append({"question": obj["question"], "answer": obj["answer"], "type": str(obj.get("type") or "qa")})
    return records


def padding_report(lengths, batches, seed_length=SEED_PADDED_LENGTH) -> dict:
    """How much of the compute goes to <pad>: per-batch padding vs the seed's fixed 128."""
    useful = sum(lengths[i] for b in batches for i in b)
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    fixed = sum(len(b) for b in batches) * (seed_length - 1)  # the seed's inputs are 127 tokens long
    return {"useful_tokens": useful, "padded_tokens": padded, "waste": 1 - useful / padded, "seed_waste": 1 - useful / fixed}


# ====================================================================== evaluation
def block_size_of(model) -> int:
    cfg = unwrap(model).config
    return getattr(cfg, "block_size", None) or getattr(cfg, "max_position_embeddings")


@torch.no_grad()
def greedy_answers(model, tokenizer, questions, *, max_new_tokens, device, dtype=torch.float32, batch_size=128, use_cache=True):
    """Greedy answers, batched, with chapter 7's generator (KV cache; use_cache=False recomputes everything).

    Prompts are LEFT-padded so that every row's next token sits in the last column; the attention mask
    hides the padding and the model derives positions from it (model contract). Questions are sorted by
    length first, so a batch holds little padding.
    """
    from minigpt.generate import generate

    model = unwrap(model)
    was_training = model.training
    model.eval()
    pad, sep = tokenizer.pad_token_id, tokenizer.sep_token_id
    limit = block_size_of(model)
    out = [""] * len(questions)
    order = sorted(range(len(questions)), key=lambda i: len(questions[i]))
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        prompts = [tokenizer.encode(questions[i], None, max_length=limit, pad_to_max_length=False)[0] for i in idx]
        width = max(len(p) for p in prompts)
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=device)  # (B, T)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
        with autocast(device, dtype):
            gen = generate(model, ids, max(0, min(max_new_tokens, limit - width)), attention_mask=mask,
                           stop_token_ids=(sep,), pad_token_id=pad, use_cache=use_cache)[:, width:].tolist()
        for row, i in zip(gen, idx):
            row = row[: row.index(sep)] if sep in row else row
            out[i] = tokenizer.decode([t for t in row if t != pad])
    model.train(was_training)
    return out


def char_accuracy(pred: str, ref: str) -> float:
    """Share of positions where the prediction has the reference's character (length differences count as errors).

    Pinyin answers ("yī sī yī háo") are compared syllable by syllable, i.e. per idiom character: one
    wrong syllable of a different length should not make every later letter count as wrong.
    """
    if " " in ref:
        pred, ref = pred.split(), ref.split()
    if not pred and not ref:
        return 1.0
    return sum(a == b for a, b in zip(pred, ref)) / max(len(pred), len(ref))


def exact_match_report(model, tokenizer, records, *, device, dtype=torch.float32) -> dict:
    """Exact match of greedy answers on `records`, overall and per question type (+ char accuracy for pinyin)."""
    if not records:
        return {"n": 0, "exact_match": None, "by_type": {}, "examples": []}
    longest = max(len(tokenizer.encode_text(r["answer"])) for r in records)
    preds = greedy_answers(model, tokenizer, [r["question"] for r in records], max_new_tokens=longest + 1, device=device, dtype=dtype)
    by_type = {}
    for r, p in zip(records, preds):
        t = by_type.setdefault(r["type"], {"n": 0, "correct": 0, "char_acc_sum": 0.0})
        t["n"] += 1
        t["correct"] += p == r["answer"]
        t["char_acc_sum"] += char_accuracy(p, r["answer"])
    report = {"n": len(records), "exact_match": sum(p == r["answer"] for r, p in zip(records, preds)) / len(records), "by_type": {}}
    for name, t in sorted(by_type.items()):
        report["by_type"][name] = {"n": t["n"], "exact_match": t["correct"] / t["n"], "char_acc": t["char_acc_sum"] / t["n"]}
    report["examples"] = [{"question": r["question"], "answer": r["answer"], "predicted": p, "type": r["type"]} for r, p in zip(records, preds)]
    return report


@torch.no_grad()
def validation_loss(model, dataset, indices, *, pad_token_id, device, dtype, batch_size=64) -> float:
    """Mean cross-entropy per target token over `indices` (length-sorted batches: fast and deterministic)."""
    model = unwrap(model)
    was_training = model.training
    model.eval()
    order = sorted(indices, key=lambda i: dataset.lengths[i])
    total, count = 0.0, 0
    for start in range(0, len(order), batch_size):
        batch = collate_batch([dataset[i] for i in order[start : start + batch_size]], pad_token_id)
        targets = batch["targets"].to(device)
        with autocast(device, dtype):
            logits = model(batch["input_ids"].to(device))  # right padding: causal attention alone is exact
        loss = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=pad_token_id, reduction="sum")
        total += loss.item()
        count += (targets != pad_token_id).sum().item()
    model.train(was_training)
    return total / max(1, count)


def sample(records, n, seed):
    """A fixed sample (same seed → same questions every evaluation and every run)."""
    if n is None or n >= len(records):
        return list(records)
    return random.Random(seed).sample(records, n)


# ====================================================================== the training loop
def train_step(model, optimizer, batch, *, pad_token_id, device, dtype=torch.float32, grad_clip=1.0):
    """One optimizer step on a right-padded batch; returns the loss (a detached 0-d tensor).

    Also used by benchmarks/bench_train.py, so the benchmark times exactly this.
    """
    input_ids = batch["input_ids"].to(device, non_blocking=True)  # (B, T), right-padded
    targets = batch["targets"].to(device, non_blocking=True)  # (B, T), <pad> where nothing is learned
    with autocast(device, dtype):
        # No attention mask: with right padding, causal attention never lets a real token see <pad>,
        # so every position that has a target is exact, and SDPA takes its fast causal path.
        logits = model(input_ids)  # (B, T, vocab)
    loss = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=pad_token_id)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss.detach()


class History(list):
    """Per-step training losses (a list), plus `.evals` (every evaluation) and `.final` (the final report)."""

    def __init__(self, losses=()):
        super().__init__(losses)
        self.evals = []
        self.final = None
        self.interrupted = False
        self.output_dir = None


def _arch_of(model) -> str:
    return "qwen3" if type(unwrap(model)).__module__.startswith("minigpt.qwen3") else "gpt"


def _rank0_print(rank, *args, **kw):
    if rank == 0:
        print(*args, **kw, flush=True)


class _MetricsLog:
    """output_dir/metrics.jsonl: one JSON object per line (step, train_loss, lr, tokens_per_s, val_loss, ...)."""

    def __init__(self, path, keep_until_step=None):
        self.path = Path(path)
        if keep_until_step is None:
            self.path.write_text("", encoding="utf-8")
        elif self.path.exists():  # resume: drop lines written after the checkpoint we continue from
            kept = [ln for ln in self.path.read_text(encoding="utf-8").splitlines() if ln.strip() and json.loads(ln).get("step", 0) <= keep_until_step]
            self.path.write_text("".join(ln + "\n" for ln in kept), encoding="utf-8")

    def write(self, row: dict):
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def train(
    model,
    tokenizer,
    train_path,
    val_path,
    *,
    max_steps=None,
    max_minutes=None,
    epochs=None,
    batch_size=32,
    lr=1e-3,
    output_dir="output",
    device=None,
    dtype="auto",
    compile=False,
    resume=True,
    tensorboard_dir="runs/minigpt",
    callback=None,
    progress=True,
    verbose=True,
    **settings,
):
    """Train `model` on train_path, evaluate on val_path, save output_dir/{last,best}_model.pth.

    Returns a History: the list of per-step training losses (resumed runs include the earlier steps).
    `callback(step, loss, history)` runs after every step (live plots, tests); raise KeyboardInterrupt in it
    to stop like Ctrl-C (the run is saved and the same call resumes it). Extra keyword arguments are
    TrainSettings fields (warmup_steps, eval_every, answer_only_loss, seed, ...).
    """
    s = TrainSettings(batch_size=batch_size, lr=lr, epochs=epochs, max_steps=max_steps, max_minutes=max_minutes, **settings)
    output_dir = Path(output_dir)

    # ---- processes: torchrun sets WORLD_SIZE/RANK/LOCAL_RANK; one process otherwise
    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = pick_device("auto") if device is None else torch.device(device)
    own_group = False
    if world > 1 and not dist.is_initialized():
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        own_group = True
    rank = dist.get_rank() if world > 1 else 0
    say = (lambda *a, **k: _rank0_print(rank, *a, **k)) if verbose else (lambda *a, **k: None)
    try:
        return _train(model, tokenizer, train_path, val_path, s, output_dir, device, dtype, compile, resume,
                      tensorboard_dir, callback, progress and rank == 0, world, rank, say)
    finally:
        if own_group:
            dist.destroy_process_group()


def _train(model, tokenizer, train_path, val_path, s, output_dir, device, dtype_name, use_compile, resume,
           tensorboard_dir, callback, progress, world, rank, say):
    pad = tokenizer.pad_token_id
    arch = _arch_of(model)
    base = unwrap(model)
    width = getattr(base.config, "n_embd", None) or getattr(base.config, "hidden_size", 256)
    dtype = resolve_dtype(dtype_name, device, width)  # before seeding: the probe has its own generator anyway
    block = block_size_of(base)
    max_length = min(s.max_length, block)

    # ---- data (the Dataset reports skipped lines; the raw records give us the "type" field)
    train_ds = QADataset(train_path, tokenizer, max_length, pad_to_max_length=False, answer_only_loss=s.answer_only_loss)
    val_ds = QADataset(val_path, tokenizer, max_length, pad_to_max_length=False, answer_only_loss=s.answer_only_loss)
    train_records, val_records = read_records(train_path), read_records(val_path)
    sampler = BucketBatchSampler(train_ds.lengths, s.batch_size, shuffle=True, seed=s.seed, drop_last=False)
    batches_per_epoch = len(sampler) // world  # each process takes every world-th batch of the same order
    if batches_per_epoch == 0:
        raise DataError(f"error: {train_path}: {len(train_ds)} pairs are too few for {world} process(es) × batch size {s.batch_size}")
    sampler.set_epoch(0)
    pad_stats = padding_report(train_ds.lengths, list(sampler))
    say(f"data: {len(train_ds):,} training pairs, {len(val_ds):,} validation pairs, {batches_per_epoch:,} batches/epoch"
        + (f" per process ({world} processes)" if world > 1 else ""))
    say(f"padding: {pad_stats['waste']:.1%} of the batch tokens are <pad> with per-batch padding "
        f"(the seed's fixed {SEED_PADDED_LENGTH}: {pad_stats['seed_waste']:.1%})")
    if train_ds.num_truncated:
        say(f"note: {train_ds.num_truncated} training pairs are longer than {max_length} tokens and were cut")

    # ---- how long: max_steps > epochs > max_minutes (then decided after timing a few steps)
    if s.max_steps is not None:
        planned = int(s.max_steps)
    elif s.epochs is not None:
        planned = max(1, round(s.epochs * batches_per_epoch))
    elif s.max_minutes is not None:
        planned = None  # decided by the time estimate below
    else:
        planned = 15 * batches_per_epoch  # the seed's 15 epochs
    provisional = planned if planned is not None else 15 * batches_per_epoch

    # ---- model, optimizer
    model = base.to(device)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=s.weight_decay)
    train_model = model
    if world > 1:
        train_model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if use_compile:
        train_model = torch.compile(train_model)

    # ---- fresh start or resume
    output_dir.mkdir(parents=True, exist_ok=True)
    last_path, best_path = output_dir / LAST, output_dir / BEST
    history = History()
    history.output_dir = output_dir
    step, epoch, position, elapsed_before, best_val = 0, 0, 0, 0.0, float("inf")
    total_steps = planned
    if resume and last_path.exists():
        ckpt = read_checkpoint(last_path)
        check_vocab(ckpt, tokenizer, last_path)
        if ckpt["arch"] != arch or ckpt["config"] != asdict(base.config):
            raise CheckpointError(
                f"error: {last_path}: holds a different model ({ckpt['arch']} {ckpt['config']}); "
                "start fresh with --no-resume, or pick another --output-dir"
            )
        if ckpt.get("train_state") is None:
            raise CheckpointError(f"error: {last_path}: has no training state to resume from; use --no-resume")
        st = ckpt["train_state"]
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(st["optimizer"])
        step, epoch, position = ckpt["step"], st["epoch"], st["position"]
        elapsed_before, best_val = st["elapsed"], st["best_val_loss"]
        total_steps = planned if s.max_minutes is None or planned is not None else st["scheduler"]["total_steps"]
        if planned is not None and planned != st["scheduler"]["total_steps"]:
            say(f"note: the schedule now ends at step {planned} (was {st['scheduler']['total_steps']}): the learning rate curve changes")
        history.extend(st["losses"])
        if st.get("world_size", 1) != world:
            say(f"note: resumed with {world} process(es) instead of {st.get('world_size', 1)}: the data order differs from an uninterrupted run")
        set_rng_state(st["rng"][rank] if isinstance(st["rng"], list) and rank < len(st["rng"]) else st["rng"][0])
        say(f"resuming from {last_path} at step {step} (epoch {epoch + 1}, batch {position}); --no-resume starts fresh")
    else:
        if not resume and last_path.exists():
            say(f"--no-resume: starting fresh; {last_path} and {best_path} will be overwritten")
        elif best_path.exists():
            say(f"note: {best_path} from an earlier run will be overwritten by this run's best model")
        torch.manual_seed(s.seed + rank)  # dropout differs per process, reproducible per seed
        random.seed(s.seed)
    metrics_log = _MetricsLog(output_dir / METRICS, keep_until_step=step if step else None) if rank == 0 else None

    # ---- fixed evaluation samples (same questions at every evaluation)
    val_loss_idx = sample(list(range(len(val_ds))), s.val_loss_samples, s.seed + 1)
    eval_train, eval_val = sample(train_records, s.eval_samples, s.seed + 2), sample(val_records, s.eval_samples, s.seed + 3)

    writer = None
    if rank == 0 and tensorboard_dir:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(tensorboard_dir))

    def lr_now(t):
        return lr_at(t, s, total_steps if total_steps is not None else provisional)

    def make_state(rng_states):
        return {
            "optimizer": optimizer.state_dict(),
            "scheduler": {"total_steps": total_steps if total_steps is not None else provisional, **asdict(s)},
            "epoch": epoch,
            "position": position,
            "elapsed": elapsed_before + (time.perf_counter() - t_start),
            "best_val_loss": best_val,
            "losses": list(map(float, history)),
            "rng": rng_states,
            "world_size": world,
        }

    def gather_rng():
        if world == 1:
            return [rng_state()]
        states = [None] * world
        dist.all_gather_object(states, rng_state())
        return states

    def save_last(rng_states):
        save_checkpoint(last_path, model, arch, tokenizer, step, metrics=latest_metrics, train_state=make_state(rng_states))

    def evaluate(final=False):
        n = s.final_eval_samples if final else s.eval_samples
        tr = eval_train if not final else sample(train_records, n, s.seed + 2)
        va = eval_val if not final else sample(val_records, n, s.seed + 3)
        t0 = time.perf_counter()
        row = {"step": step, "val_loss": validation_loss(model, val_ds, val_loss_idx, pad_token_id=pad, device=device, dtype=dtype)}
        em_train = exact_match_report(model, tokenizer, tr, device=device, dtype=dtype)
        em_val = exact_match_report(model, tokenizer, va, device=device, dtype=dtype)
        row["exact_match"] = {"train": em_train["exact_match"], "val": em_val["exact_match"]}
        row["by_type"] = {"train": em_train["by_type"], "val": em_val["by_type"]}
        row["eval_seconds"] = time.perf_counter() - t0
        if final:
            row["final"] = True
            row["n"] = {"train": em_train["n"], "val": em_val["n"]}
        return row, em_train, em_val

    # ---- training
    schedule_fixed = total_steps is not None  # a time budget fixes the schedule once, after timing a few steps
    t_start = time.perf_counter()
    latest_metrics = {}
    if s.eval_every is None:
        eval_every = max(50, (total_steps or provisional) // 10)
    else:
        eval_every = s.eval_every
    save_every = s.save_every or eval_every
    last_save_time = time.perf_counter()
    timing = {"seconds": 0.0, "padded": 0, "steps": 0}
    time_per_step = None
    estimated = False
    tokens_since, time_since = 0, 0.0
    bar = tqdm(total=total_steps or provisional, initial=step, desc="train", unit="step", disable=not progress, dynamic_ncols=True)
    interrupted = False
    train_model.train()
    try:
        order_epoch, order = None, []
        while total_steps is None or step < total_steps:
            if order_epoch != epoch:  # this epoch's batch order: deterministic for (seed, epoch)
                sampler.set_epoch(epoch)
                order = list(sampler)
                order = order[: len(order) - len(order) % world][rank::world] if world > 1 else order
                order_epoch = epoch
            if position >= len(order):
                epoch, position = epoch + 1, 0
                continue
            batch_idx = order[position]
            batch = collate_batch([train_ds[i] for i in batch_idx], pad)
            t0 = time.perf_counter()
            lr = lr_now(step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss_value = train_step(train_model, optimizer, batch, pad_token_id=pad, device=device, dtype=dtype, grad_clip=s.grad_clip)
            if world > 1:  # the logged loss is the mean over processes
                dist.all_reduce(loss_value, op=dist.ReduceOp.AVG)
            loss_value = loss_value.item()  # also waits for the GPU, so the timing below is real
            dt = time.perf_counter() - t0
            time_per_step = dt if time_per_step is None else 0.9 * time_per_step + 0.1 * dt  # smoothed
            step += 1
            position += 1
            history.append(loss_value)
            useful = int(batch["attention_mask"].sum()) * world
            tokens_since += useful
            time_since += dt
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.4f}", lr=f"{lr:.2e}")

            # ---- duration estimate from a few timed steps. The first ~10 are slow (measured ~2x on CPU: every new
            # batch length builds new kernels and buffers), so they are left out, or a time budget would be undersold.
            if step > WARMUP_STEPS_UNTIMED and not estimated:
                timing["seconds"] += dt
                timing["padded"] += batch["input_ids"].numel()
                timing["steps"] += 1
                if timing["steps"] >= 10 or (world == 1 and timing["seconds"] > 10):  # same step on every process
                    estimated = True
                    per_token = timing["seconds"] / timing["padded"]
                    epoch_padded = pad_stats["padded_tokens"] / world
                    per_step = per_token * epoch_padded / batches_per_epoch
                    if s.max_minutes is not None and not schedule_fixed:
                        budget = s.max_minutes * 60 - elapsed_before - (time.perf_counter() - t_start)
                        # ~8% for evaluations; the loop also stops on the clock, this sets the LR schedule
                        total_steps = max(step + 1, int(step + budget * 0.92 / per_step))
                        if world > 1:  # every process must stop at the same step: rank 0's estimate decides
                            shared = torch.tensor([total_steps], device=device)
                            dist.broadcast(shared, 0)
                            total_steps = int(shared.item())
                        bar.total = total_steps
                        say(f"estimate on {device.type} ({str(dtype).replace('torch.', '')}): {per_step * 1000:.0f} ms/step "
                            f"→ about {total_steps:,} steps ({total_steps / batches_per_epoch:.1f} epochs) in {s.max_minutes:g} min")
                        if s.eval_every is None:
                            eval_every = max(50, total_steps // 10)
                            save_every = s.save_every or eval_every
                    else:
                        remaining = (total_steps - step) * per_step
                        say(f"estimate on {device.type} ({str(dtype).replace('torch.', '')}): {per_step * 1000:.0f} ms/step "
                            f"→ {total_steps:,} steps ({total_steps / batches_per_epoch:.1f} epochs) take about "
                            f"{remaining / 60:.1f} min more (+ evaluations)")

            stop = False
            if s.max_minutes is not None and elapsed_before + time.perf_counter() - t_start > s.max_minutes * 60:
                stop = True
            if world > 1:  # every process must agree, or the others would wait forever for gradients
                flag = torch.tensor([int(stop)], device=device)
                dist.broadcast(flag, 0)
                stop = bool(flag.item())

            if rank == 0 and (step % s.log_every == 0 or step == 1):
                row = {"step": step, "epoch": epoch + position / len(order), "train_loss": loss_value, "lr": lr,
                       "tokens_per_s": tokens_since / max(time_since, 1e-9), "elapsed_s": elapsed_before + time.perf_counter() - t_start}
                metrics_log.write(row)
                if writer:
                    writer.add_scalar("Loss/train", loss_value, step)
                    writer.add_scalar("LR", lr, step)
                    writer.add_scalar("Throughput/tokens_per_s", row["tokens_per_s"], step)
                tokens_since, time_since = 0, 0.0

            last_step = stop or (total_steps is not None and step >= total_steps)
            if step % eval_every == 0 and not last_step:
                if rank == 0:
                    row, _, _ = evaluate()
                    latest_metrics = row
                    history.evals.append(row)
                    metrics_log.write(row)
                    if writer:
                        writer.add_scalar("Loss/val", row["val_loss"], step)
                        writer.add_scalar("ExactMatch/train", row["exact_match"]["train"], step)
                        writer.add_scalar("ExactMatch/val", row["exact_match"]["val"], step)
                    bar.write(f"step {step}: train loss {loss_value:.4f}  val loss {row['val_loss']:.4f}  "
                              f"exact match train {row['exact_match']['train']:.1%} val {row['exact_match']['val']:.1%}")
                    if s.eval_every is None and world == 1 and time_per_step:
                        # keep evaluations under ~10% of the time: on a slow CPU they can cost more than training
                        eval_every = max(eval_every, math.ceil(row["eval_seconds"] / (0.1 * time_per_step) / 10) * 10)
                        save_every = s.save_every or eval_every
                    if row["val_loss"] < best_val:
                        best_val = row["val_loss"]
                        save_checkpoint(best_path, model, arch, tokenizer, step, metrics=row)
            # the clock-based save only without DDP: every process must take part in the same saves
            if step % save_every == 0 or (world == 1 and time.perf_counter() - last_save_time > 120):
                states = gather_rng()
                if rank == 0:
                    save_last(states)
                last_save_time = time.perf_counter()
            if callback is not None:
                callback(step, loss_value, history)
            if stop:
                say(f"time budget of {s.max_minutes:g} min reached at step {step}")
                break
    except KeyboardInterrupt:
        interrupted = True
        history.interrupted = True
        bar.close()
        states = [rng_state()] if world == 1 else None
        if rank == 0 and states is not None:  # with several processes the periodic checkpoint is the fallback
            save_last(states)
            say(f"\ninterrupted at step {step}: saved {last_path}; run the same command again to resume")
        elif rank == 0:
            say(f"\ninterrupted at step {step}; resume continues from the last periodic checkpoint")
        if writer:
            writer.close()
        return history
    bar.close()

    # ---- final: last checkpoint, evaluation of 500 + 500 questions, best model by validation loss
    states = gather_rng()
    if rank == 0:
        row, em_train, em_val = evaluate(final=True)
        latest_metrics = row
        history.evals.append(row)
        metrics_log.write(row)
        if row["val_loss"] < best_val:
            best_val = row["val_loss"]
            save_checkpoint(best_path, model, arch, tokenizer, step, metrics=row)
            say(f"new best model (val loss {best_val:.4f}) saved to {best_path}")
        save_last(states)
        history.final = {"metrics": row, "train": em_train, "val": em_val}
        minutes = (elapsed_before + time.perf_counter() - t_start) / 60
        say(f"done: {step} steps in {minutes:.1f} min; val loss {row['val_loss']:.4f} (best {best_val:.4f})")
        say(format_report(row))
        if row["val_loss"] > best_val:
            # the seed keeps the lowest validation loss; memorising training answers goes on after that point
            say(f"note: {BEST} is the step with the lowest validation loss, not these final weights; to chat with "
                f"the final ones: python ./minigpt/generate.py --checkpoint {output_dir / LAST}")
        if writer:
            writer.add_scalar("Loss/val", row["val_loss"], step)
            writer.close()
    return history


def format_report(row) -> str:
    """Exact match per question type as a small text table."""
    lines = [f"exact match on {row.get('n', {}).get('train', '?')} training / {row.get('n', {}).get('val', '?')} validation questions "
             "(char acc: share of right characters; pinyin: right syllables):",
             f"  {'type':<12}{'train':>8}{'val':>8}{'val char acc':>14}"]
    types = sorted(set(row["by_type"]["train"]) | set(row["by_type"]["val"]))
    def pct(d, key):
        return f"{d[key]:.1%}" if d else "-"

    for t in types:
        tr, va = row["by_type"]["train"].get(t), row["by_type"]["val"].get(t)
        lines.append(f"  {t:<12}{pct(tr, 'exact_match'):>8}{pct(va, 'exact_match'):>8}{pct(va, 'char_acc'):>14}")
    em = row["exact_match"]
    lines.append(f"  {'all':<12}{em['train']:>8.1%}{em['val']:>8.1%}")
    return "\n".join(lines)


# ====================================================================== command line
def build_parser():
    p = argparse.ArgumentParser(
        description="Train the minigpt GPT (or the course Qwen3) on QA pairs (chapter 6).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--train", default="./data/train.jsonl", help="training pairs (JSONL)")
    p.add_argument("--val", default="./data/val.jsonl", help="validation pairs (JSONL)")
    p.add_argument("--vocab", default="./data/vocab.json", help="vocabulary from build_vocab.py")
    p.add_argument("--output-dir", default="output", help="where last_model.pth, best_model.pth, metrics.jsonl go")
    p.add_argument("--arch", choices=["gpt", "qwen3"], default="gpt")
    p.add_argument("--preset", default="cpu", help="model size from minigpt.model.PRESETS (seed: the seed's 768x6; qwen3: course_config presets)")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many optimizer steps")
    p.add_argument("--max-minutes", type=float, default=None, help="time budget; default on CPU without --max-steps/--epochs: 15")
    p.add_argument("--epochs", type=float, default=None, help="passes over the training data (the seed: 15)")
    p.add_argument("--batch-size", type=int, default=TrainSettings.batch_size)
    p.add_argument("--lr", type=float, default=TrainSettings.lr, help="peak learning rate (warm-up, then cosine decay)")
    p.add_argument("--warmup-steps", type=int, default=TrainSettings.warmup_steps)
    p.add_argument("--device", default="auto", help="auto: cuda → mps → cpu")
    p.add_argument("--dtype", default="auto", choices=["auto", "fp32", "bf16"], help="auto: bf16 autocast where measured faster")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice; 1 helps on a busy shared machine)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (helps on GPUs; not on this CPU)")
    p.add_argument("--seed", type=int, default=TrainSettings.seed)
    p.add_argument("--resume", dest="resume", action="store_true", default=True, help="continue from output-dir/last_model.pth if it exists")
    p.add_argument("--no-resume", dest="resume", action="store_false", help="start fresh (overwrites the checkpoints in --output-dir)")
    p.add_argument("--answer-only-loss", action="store_true", help="learn only the answer tokens, not the questions")
    p.add_argument("--eval-every", type=int, default=None, help="evaluate every N steps (default: about 10 times per run)")
    p.add_argument("--save-every", type=int, default=None, help="save output-dir/last_model.pth every N steps (default: at evaluations and every 2 min)")
    p.add_argument("--eval-samples", type=int, default=TrainSettings.eval_samples, help="training and validation questions answered at each evaluation")
    p.add_argument("--final-eval-samples", type=int, default=TrainSettings.final_eval_samples, help="questions per split in the final report")
    p.add_argument("--tensorboard-dir", default="runs/minigpt", help="TensorBoard log folder ('' to switch off)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bars (logs only)")
    return p


MISSING_HINTS = {
    "vocab": "build it first: python ./minigpt/build_vocab.py --data ./data/data.jsonl --output ./data/vocab.json",
    "train": "split the data first: python ./minigpt/split_data.py --input ./data/data.jsonl --train_ratio 0.8",
    "val": "split the data first: python ./minigpt/split_data.py --input ./data/data.jsonl --train_ratio 0.8",
}


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("vocab", "train", "val"):
        path = Path(getattr(args, name))
        if not path.is_file():
            print(f"error: {path}: not found; {MISSING_HINTS[name]}", file=sys.stderr)
            return 1
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        from minigpt.tokenizer import Tokenizer

        tokenizer = Tokenizer(args.vocab)
        device = pick_device(args.device)
        preset = args.preset
        model = build_model_for(args.arch, preset, tokenizer.get_vocab_size(), seed=args.seed)
        rank = int(os.environ.get("RANK", "0"))
        _rank0_print(rank, f"device: {device}  arch: {args.arch}  preset: {preset}  parameters: {sum(p.numel() for p in model.parameters()):,}")
        max_minutes = args.max_minutes
        if max_minutes is None and args.max_steps is None and args.epochs is None and device.type == "cpu":
            max_minutes = 15.0
            _rank0_print(rank, "stopping after 15 min (the CPU default; --max-minutes, --max-steps or --epochs to change)")
        history = train(
            model, tokenizer, args.train, args.val,
            max_steps=args.max_steps, max_minutes=max_minutes, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
            output_dir=args.output_dir, device=device, dtype=args.dtype, compile=args.compile, resume=args.resume,
            tensorboard_dir=args.tensorboard_dir or None, progress=not args.no_progress,
            warmup_steps=args.warmup_steps, seed=args.seed, answer_only_loss=args.answer_only_loss,
            eval_every=args.eval_every, save_every=args.save_every,
            eval_samples=args.eval_samples, final_eval_samples=args.final_eval_samples,
        )
    except (DataError, CheckpointError) as e:  # CheckpointError is a DataError; both carry "error: FILE: ..."
        print(str(e), file=sys.stderr)
        return 1
    return 130 if history.interrupted else 0


def build_model_for(arch: str, preset: str, vocab_size: int, seed: int = TrainSettings.seed):
    """A fresh model of the named size with the vocabulary's size."""
    from dataclasses import replace

    torch.manual_seed(seed)  # the same initial weights every time for the same preset and seed
    if arch == "qwen3":
        from minigpt.qwen3 import Qwen3ForCausalLM, course_config

        return Qwen3ForCausalLM(course_config(vocab_size, preset=preset))
    from minigpt.model import PRESETS, GPTLMHeadModel

    if preset not in PRESETS:
        raise DataError(f"error: unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    return GPTLMHeadModel(replace(PRESETS[preset], vocab_size=vocab_size))


if __name__ == "__main__":
    sys.exit(main())
