"""Packed pretraining vs. the padded QA trainer: useful tokens per second, and what a time budget buys.

    python benchmarks/bench_pretrain.py                 # ~3 min on 2 CPU cores
    python benchmarks/bench_pretrain.py --repeats 5 --seconds 8 --threads 1

Both contenders run minigpt.train.train_step on the same model (the "cpu" preset, one vocabulary covering
the corpus and data/data.jsonl, built by minigpt.pretrain.corpus_tokenizer) with the same optimizer
(minigpt.train.make_optimizer):

  qa        data/data.jsonl through QADataset + BucketBatchSampler + collate_batch, --qa-batch pairs per step,
            each batch padded to its longest row (what python ./minigpt/train.py does)
  packed-N  the augmented corpus through PackedDataset (rows of block_size + 1 tokens, no padding), N rows per step
  unpacked-N  the same corpus one document per row (PackedDataset(packed=False), pretrain --no-pack), batched by
            BucketBatchSampler and padded to the longest row, N rows per step (what chapter 10's *_unpacked variants do)
  gpt2-packed-N  transformers' GPT2LMHeadModel of the same shape (no dropout), same AdamW and clipping, on the
            same packed batches as the widest packed-N (transformers shifts the labels itself)

Numbers: useful tokens per second (non-<pad> input positions), the median over interleaved repeats (qa,
packed-8, packed-32, gpt2, qa, ...: load on a shared machine hits all alike) with min-max, MFU (6 x parameters x
useful tokens/s over the best fp32 matmul rate measured in the same run, one per repeat), and how many tokens
10 / 20 / 30 minutes would see at the median rate. Then the size of both corpus forms in characters and
tokens (characters + one end-of-document token per document), and how many passes over each the budget buys.
"""
import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import torch  # noqa: E402

from machine import header, matmul_rate  # noqa: E402
from minigpt.corpus import FORMS, corpus_documents  # noqa: E402
from minigpt.models import build_model_for  # noqa: E402
from minigpt.pretrain import PackedDataset, corpus_tokenizer, encode_documents  # noqa: E402
from minigpt.qa_dataset import BucketBatchSampler, QADataset, collate_batch  # noqa: E402
from minigpt.train import make_optimizer, resolve_dtype, train_step  # noqa: E402

DATA = ROOT / "data" / "data.jsonl"


def rate(step, batches, seconds):
    """Useful tokens/s over `seconds` of step(batch) calls (after two warm-up steps)."""
    for batch in batches[:2]:
        step(batch)
    tokens, t0, i = 0, time.perf_counter(), 2
    while time.perf_counter() - t0 < seconds:
        batch = batches[i % len(batches)]
        step(batch)
        tokens += int(batch["attention_mask"].sum())
        i += 1
    return tokens / (time.perf_counter() - t0)


def gpt2_step(config, vocab_size):
    """One AdamW step of transformers' GPT2LMHeadModel with our shape (no dropout, same clip), as a step(batch)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    hf = GPT2LMHeadModel(GPT2Config(vocab_size=vocab_size, n_positions=config.block_size, n_embd=config.n_embd,
                                    n_layer=config.n_layer, n_head=config.n_head, resid_pdrop=0.0, embd_pdrop=0.0,
                                    attn_pdrop=0.0)).train()
    optimizer = make_optimizer(hf, 1e-4, 0.01, "cpu")

    def step(batch):
        loss = hf(input_ids=batch["input_ids"], labels=batch["input_ids"]).loss  # packed rows: no <pad> to ignore
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(hf.parameters(), 1.0)
        optimizer.step()
    return step


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="cpu")
    p.add_argument("--qa-batch", type=int, default=32)
    p.add_argument("--packed-batches", default="8,32", help="rows per packed step, comma-separated")
    p.add_argument("--unpacked-batch", type=int, default=32, help="rows per unpacked step (pretrain --no-pack)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seconds", type=float, default=6.0, help="timed seconds per contender per repeat")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--dtype", default="auto", choices=["auto", "fp32", "bf16"])
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(header(torch.device("cpu")))

    docs = {form: corpus_documents(form) for form in FORMS}
    tok = corpus_tokenizer(docs["augmented"] + docs["fixed"], [DATA], ROOT / "output" / "bench_vocab_pretrain.json")
    model = build_model_for("gpt", args.preset, tok.get_vocab_size(), seed=0).train()
    block = model.config.block_size
    dtype = resolve_dtype(args.dtype, torch.device("cpu"), model.config.n_embd)
    optimizer = make_optimizer(model, 1e-4, 0.01, "cpu")
    pad = tok.pad_token_id

    qa = QADataset(DATA, tok, block, pad_to_max_length=False)
    sampler = BucketBatchSampler(qa.lengths, args.qa_batch, seed=0)
    qa_batches = [collate_batch([qa[i] for i in b], pad) for b in list(sampler)[:200]]
    packed = PackedDataset(encode_documents(tok, docs["augmented"]), block, tok.sep_token_id, seed=0)
    contenders = {"qa": qa_batches}
    unpacked = PackedDataset(encode_documents(tok, docs["augmented"]), block, tok.sep_token_id, seed=0, packed=False)
    buckets = list(BucketBatchSampler(unpacked.lengths, args.unpacked_batch, seed=0))[:200]
    contenders[f"unpacked-{args.unpacked_batch}"] = [collate_batch([unpacked[i] for i in b], pad) for b in buckets]
    rng = random.Random(0)
    for n in map(int, args.packed_batches.split(",")):
        contenders[f"packed-{n}"] = [collate_batch([packed[i] for i in rng.sample(range(len(packed)), n)], pad)
                                     for _ in range(50)]
    print(f"model: {args.preset}, {sum(q.numel() for q in model.parameters()):,} parameters, vocab {len(tok)}, "
          f"block {block}, dtype {str(dtype).replace('torch.', '')}, threads {torch.get_num_threads()}")

    ours = lambda batch: train_step(model, optimizer, batch, pad_token_id=pad, device="cpu", dtype=dtype)  # noqa: E731
    steps = {name: ours for name in contenders}
    widest = f"packed-{max(map(int, args.packed_batches.split(',')))}"
    steps[f"gpt2-{widest}"], contenders[f"gpt2-{widest}"] = gpt2_step(model.config, len(tok)), contenders[widest]
    results = {name: [] for name in contenders}
    peaks = []
    for _ in range(args.repeats):
        peaks.append(matmul_rate("cpu", torch.float32, m=4096, k=model.config.n_embd, n=4 * model.config.n_embd))
        for name, batches in contenders.items():
            results[name].append(rate(steps[name], batches, args.seconds))
    base, peak = statistics.median(results["qa"]), max(peaks)  # the best matmul: a busy moment would inflate MFU
    n_params = sum(q.numel() for q in model.parameters())
    print(f"\nMFU = 6 x {n_params:,} parameters x useful tokens/s / the best fp32 matmul rate "
          f"((4096 x {model.config.n_embd}) @ ({model.config.n_embd} x {4 * model.config.n_embd}): {peak:.0f} GFLOP/s)")
    print("\n| contender | useful tokens/s (median, min-max) | vs qa | MFU | 10 min | 20 min | 30 min |\n|---|---|---|---|---|---|---|")
    for name, rates in results.items():
        med = statistics.median(rates)
        budget = " | ".join(f"{med * 60 * m / 1e6:.1f} M" for m in (10, 20, 30))
        print(f"| {name} | {med:,.0f} ({min(rates):,.0f}-{max(rates):,.0f}) | {med / base:.2f}x "
              f"| {6 * n_params * med / (peak * 1e9):.1%} | {budget} |")
    best = max(statistics.median(r) for name, r in results.items() if name != "qa")
    print("\n| corpus | documents | characters | tokens | passes in 10 / 20 / 30 min (fastest packed) |\n|---|---|---|---|---|")
    for form in FORMS:
        chars = sum(map(len, docs[form]))
        tokens = chars + len(docs[form]) + 1
        passes = " / ".join(f"{best * 60 * m / tokens:.2f}" for m in (10, 20, 30))
        print(f"| {form} | {len(docs[form]):,} | {chars:,} | {tokens:,} | {passes} |")


if __name__ == "__main__":
    main()
