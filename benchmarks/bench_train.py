"""Training speed: our training step vs. the seed's vs. transformers' GPT2LMHeadModel, on the course data.

    python benchmarks/bench_train.py --quick          # ~3-5 min on 2 CPU cores
    python benchmarks/bench_train.py                  # more repeats
    python benchmarks/bench_train.py --presets cpu --threads 1 --repeats 7
    python benchmarks/bench_train.py --device cuda    # on a GPU (ours uses bf16 autocast there)
    python benchmarks/bench_train.py --quick --plain-adamw   # both ours and transformers with torch's default AdamW

What each contender does per optimizer step (batch of --batch-size QA pairs from data/data.jsonl):

  seed          benchmarks/seed_reference.py: every pair padded to 128 tokens, explicit padding+causal mask,
                fp32, AdamW, CrossEntropyLoss(ignore_index=<pad>): exactly the seed's chapter 7 loop body
  ours          minigpt.train.train_step: length-bucketed batches padded to their longest row, causal attention
                without a padding mask (on CPU computed by its formula when training: minigpt.model.causal_attention),
                bf16 autocast where this device runs it faster (--dtype), gradient clipping
  ours-sdpa     (--sdpa) the same model and step with SDPA's fused causal kernel for the training attention too:
                how much the formula saves on this machine
  transformers  GPT2LMHeadModel of equal size (n_embd/n_head/n_layer/block/vocab; it adds biases) fed the
                same bucketed batches through the same train_step, same dtype and optimizer as ours
                (minigpt.train.make_optimizer, as train() uses: AdamW(fused=True) on CPU and CUDA;
                --plain-adamw gives both torch's default AdamW)

Numbers: *useful* tokens per second (non-<pad> input tokens; the seed spends most of its compute on <pad>),
the median over interleaved repeats (seed, ours, transformers, seed, ours, ...: load changes on a shared
machine hit all alike) with min-max, ratios of medians, and model FLOPs utilisation (MFU): useful tokens/s x
training FLOPs per token (6 x matmul parameters + 6 x n_layer x n_embd x context, the causal attention) divided
by the fp32 matmul rate measured in the same run (the best of (4096 x C) @ (C x 4C) products timed before and
between the repeats).
"""
import argparse
import importlib.util
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import minigpt.model  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from machine import header  # noqa: E402
from minigpt.model import GPTLMHeadModel, config_for  # noqa: E402
from minigpt.qa_dataset import BucketBatchSampler, QADataset, collate_batch  # noqa: E402
from minigpt.tokenizer import Tokenizer  # noqa: E402
from minigpt.train import make_optimizer, resolve_dtype, train_step  # noqa: E402

DATA = ROOT / "data" / "data.jsonl"
DTYPE_NAMES = {torch.float32: "fp32", torch.bfloat16: "bf16"}
DTYPE_DTYPES = {v: k for k, v in DTYPE_NAMES.items()}


def load_seed_reference():
    spec = importlib.util.spec_from_file_location("seed_reference", ROOT / "benchmarks" / "seed_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def course_tokenizer():
    vocab = ROOT / "data" / "vocab.json"
    if vocab.is_file():
        return Tokenizer(str(vocab))
    from minigpt.build_vocab import count_chars, vocab_from_counter

    return Tokenizer.from_word2id(vocab_from_counter(count_chars(DATA, warn=lambda *a, **k: None))["word2id"])


def matmul_rate(n_embd, device, dtype=torch.float32, size=4096):
    """Best-of-5 GFLOP/s of a (size x C) @ (C x 4C) product: the shape of the MLP, the bulk of the work."""
    a = torch.randn(size, n_embd, device=device, dtype=dtype)
    b = torch.randn(n_embd, 4 * n_embd, device=device, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(5):
        sync(device)
        t = time.perf_counter()
        for _ in range(3):
            a @ b
        sync(device)
        best = min(best, (time.perf_counter() - t) / 3)
    return 2 * size * n_embd * 4 * n_embd / best / 1e9


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def flops_per_token(config, context):
    """Training FLOPs per token: 6 x (block matmul params + lm_head) + causal attention 6 x L x C x context."""
    C, L, V = config.n_embd, config.n_layer, config.vocab_size
    matmul_params = L * (3 * C * C + C * C + 8 * C * C) + V * C
    return 6 * matmul_params + 6 * L * C * context


class HFLogits(nn.Module):
    """transformers' model behind our forward signature (logits only), so the same train_step drives it."""

    def __init__(self, hf):
        super().__init__()
        self.hf = hf

    def forward(self, input_ids, attention_mask=None):
        return self.hf(input_ids=input_ids, attention_mask=attention_mask).logits


def sdpa_attention(q, k, v, dropout_p=0.0):
    return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)


def with_sdpa(step):
    """step, run with minigpt.model.causal_attention replaced by SDPA's fused kernel (the ours-sdpa contender)."""
    def run(batch):
        formula, minigpt.model.causal_attention = minigpt.model.causal_attention, sdpa_attention
        try:
            return step(batch)
        finally:
            minigpt.model.causal_attention = formula
    return run


def gpt2_like(config):
    from transformers import GPT2Config, GPT2LMHeadModel
    from transformers.utils import logging

    logging.set_verbosity_error()  # its "pass an attention_mask" advice: right padding + causal is exact here

    cfg = GPT2Config(vocab_size=config.vocab_size, n_positions=config.block_size, n_embd=config.n_embd,
                     n_layer=config.n_layer, n_head=config.n_head, resid_pdrop=config.dropout,
                     embd_pdrop=config.dropout, attn_pdrop=config.dropout, pad_token_id=0,
                     bos_token_id=None, eos_token_id=None)
    cfg._attn_implementation = "sdpa"
    return GPT2LMHeadModel(cfg)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presets", nargs="+", default=["cpu", "seed"])
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=None,
                   help="optimizer steps per timing (default: 4, --quick 2; the cpu preset 4x as many, its steps are short)")
    p.add_argument("--repeats", type=int, default=None, help="interleaved repeats (default 5, --quick 3)")
    p.add_argument("--quick", action="store_true", help="few steps and repeats: under ~5 min on 2 CPU cores")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="auto", choices=["auto", "fp32", "bf16"], help="ours and transformers")
    p.add_argument("--skip", nargs="*", default=[], help="contenders to leave out: seed, ours, transformers")
    p.add_argument("--sdpa", action="store_true", help="add ours-sdpa: our model with SDPA's fused kernel for the "
                                                       "training attention (what the formula replaces on CPU)")
    p.add_argument("--plain-adamw", action="store_true",
                   help="ours and transformers: torch's default AdamW instead of train()'s make_optimizer "
                        "(AdamW(fused=True) on CPU and CUDA, also transformers' Trainer default with torch>=2.8)")
    args = p.parse_args(argv)
    base_steps = args.steps or (2 if args.quick else 4)
    repeats = args.repeats or (3 if args.quick else 5)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    seed_ref = load_seed_reference()
    tok = course_tokenizer()
    pad = tok.pad_token_id
    ours_ds = QADataset(str(DATA), tok, 128, pad_to_max_length=False)
    seed_ds = QADataset(str(DATA), tok, 128, pad_to_max_length=True)  # the seed's items: 127 tokens each
    rng = random.Random(0)
    print(header(device))
    print(f"数据：{DATA.relative_to(ROOT)}（{len(ours_ds):,} 个问答对），批大小 {args.batch_size}，每次计时 {base_steps} 步"
          f"{'' if args.steps or 'cpu' not in args.presets else '（cpu 预设一步很短：4 倍的步数）'}，"
          f"{repeats} 轮交错重复；设备 {device}")
    adamw = "AdamW（torch 默认实现）" if args.plain_adamw else "train() 的 make_optimizer（CPU 和 CUDA 上是 AdamW(fused=True)）"
    print(f"优化器：seed 用 AdamW（种子代码原样）；ours 和 transformers 都用 {adamw}，同一个 train_step、同样的批")
    print("（共享的机器上，别的进程会让数字上下浮动：请比较同一轮里的比值）\n")

    results = []
    for preset in args.presets:
        config = config_for(preset, tok.get_vocab_size())
        # a cpu-preset step takes ~0.1 s: 4x the steps keep each timing long enough that a burst of load elsewhere
        # on a shared machine does not decide it
        steps = base_steps * (4 if preset == "cpu" and not args.steps else 1)
        dtype = resolve_dtype(args.dtype, device, config.n_embd)
        peak = {d: matmul_rate(config.n_embd, device, d) for d in {torch.float32, dtype}}
        # the same steps for every repeat: `steps` bucketed batches, and `steps` random batches for the seed
        sampler = BucketBatchSampler(ours_ds.lengths, args.batch_size, seed=0)
        ours_batches = [collate_batch([ours_ds[i] for i in b], pad) for b in list(sampler)[:steps]]
        seed_batches = []
        for _ in range(steps):
            items = [seed_ds[i] for i in rng.sample(range(len(seed_ds)), args.batch_size)]
            seed_batches.append({k: torch.stack([it[k] for it in items]) for k in items[0]})

        def optimizer(model):
            if args.plain_adamw:
                return torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
            return make_optimizer(model, 1e-3, 0.01, device)

        contenders = {}
        if "seed" not in args.skip:
            torch.manual_seed(0)
            sm = seed_ref.GPTLMHeadModel(seed_ref.GPTConfig(**vars(config))).to(device).train()
            s_opt = torch.optim.AdamW(sm.parameters(), lr=1e-4)
            criterion = nn.CrossEntropyLoss(ignore_index=pad)

            def seed_step(batch, sm=sm, s_opt=s_opt, criterion=criterion):
                input_ids = batch["input_ids"].to(device)
                attention_mask = batch["attention_mask"].to(device)
                targets = batch["targets"].to(device)
                s_opt.zero_grad()
                logits = sm(input_ids=input_ids, attention_mask=attention_mask)
                loss = criterion(logits.view(-1, logits.size(-1)), targets.view(-1))
                loss.backward()
                s_opt.step()
                return loss.detach()

            contenders["seed"] = (seed_step, seed_batches, sm, "fp32")
        if "ours" not in args.skip:
            torch.manual_seed(0)
            om = GPTLMHeadModel(config).to(device).train()
            o_opt = optimizer(om)
            contenders["ours"] = (lambda b, m=om, o=o_opt: train_step(m, o, b, pad_token_id=pad, device=device, dtype=dtype),
                                  ours_batches, om, DTYPE_NAMES[dtype])
        if args.sdpa:
            torch.manual_seed(0)
            sm2 = GPTLMHeadModel(config).to(device).train()
            s2_opt = optimizer(sm2)
            contenders["ours-sdpa"] = (with_sdpa(lambda b, m=sm2, o=s2_opt: train_step(m, o, b, pad_token_id=pad,
                                                                                       device=device, dtype=dtype)),
                                       ours_batches, sm2, DTYPE_NAMES[dtype])
        if "transformers" not in args.skip:
            torch.manual_seed(0)
            hm = HFLogits(gpt2_like(config)).to(device).train()
            h_opt = optimizer(hm)
            contenders["transformers"] = (lambda b, m=hm, o=h_opt: train_step(m, o, b, pad_token_id=pad, device=device, dtype=dtype),
                                          ours_batches, hm, DTYPE_NAMES[dtype])

        useful = {name: sum(int(b["attention_mask"].sum()) for b in batches) for name, (_, batches, _, _) in contenders.items()}
        padded = {name: sum(b["input_ids"].numel() for b in batches) for name, (_, batches, _, _) in contenders.items()}
        mean_len = sum(useful.values()) / sum(sum(b["input_ids"].shape[0] for b in bs) for _, bs, _, _ in contenders.values())
        per_token = flops_per_token(config, mean_len)
        for name, (fn, batches, _, _) in contenders.items():  # warm-up (allocations, first-call costs)
            fn(batches[0])
        times = {name: [] for name in contenders}
        for _ in range(repeats):
            # the matmul rate is re-measured in every round and the best kept: on a shared machine one
            # measurement taken at a busy moment would make the MFU of everything look too high
            peak = {d: max(r, matmul_rate(config.n_embd, device, d)) for d, r in peak.items()}
            for name, (fn, batches, _, _) in contenders.items():
                sync(device)
                t = time.perf_counter()
                for b in batches:
                    loss = fn(b)
                loss.item()
                sync(device)
                times[name].append(time.perf_counter() - t)

        n_params = sum(p.numel() for p in contenders.get("ours", next(iter(contenders.values())))[2].parameters())
        print(f"== 预设 {preset}：{vars(config)}（{n_params / 1e6:.2f}M 参数；矩阵乘最好 "
              + "，".join(f"{DTYPE_NAMES[d]} {r:.0f}" for d, r in peak.items()) + " GFLOP/s，MFU 按各自精度的速率算）")
        print(f"   {'选手':<11}{'精度':<7}{'填充占比':>8}{'有效 token/s（中位数，最小-最大）':>26}{'MFU':>8}")
        rates = {}
        for name, ts in times.items():
            tps = sorted(useful[name] / t for t in ts)
            med = statistics.median(tps)
            rates[name] = med
            mfu = med * per_token / (peak[DTYPE_DTYPES[contenders[name][3]]] * 1e9)
            print(f"   {name:<13}{contenders[name][3]:<9}{1 - useful[name] / padded[name]:>10.1%}"
                  f"{med:>16,.0f}  ({tps[0]:,.0f}-{tps[-1]:,.0f}){'':>4}{mfu:>8.1%}")
        ratios = []
        if "ours" in rates and "seed" in rates:
            ratios.append(f"ours/seed（我们÷种子）{rates['ours'] / rates['seed']:.2f}x")
        if "ours" in rates and "transformers" in rates:
            ratios.append(f"ours/transformers（我们÷transformers）{rates['ours'] / rates['transformers']:.2f}x")
        if "ours" in rates and "ours-sdpa" in rates:
            ratios.append(f"ours/ours-sdpa（按公式÷融合内核）{rates['ours'] / rates['ours-sdpa']:.2f}x")
        print("   " + ", ".join(ratios) + "\n")
        results.append((preset, rates))
    return results


if __name__ == "__main__":
    main()
