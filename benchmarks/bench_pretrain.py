"""Packed pretraining vs. the padded QA trainer: useful tokens per second, and what a time budget buys.

    python benchmarks/bench_pretrain.py                 # ~3 min on 2 CPU cores
    python benchmarks/bench_pretrain.py --repeats 5 --seconds 8 --threads 1

Both contenders run minigpt.train.train_step on the same model (the "cpu" preset, one vocabulary covering
the corpus and data/data.jsonl, built by minigpt.pretrain.corpus_tokenizer) with the same optimizer
(minigpt.train.make_optimizer):

  qa        data/data.jsonl through QADataset + BucketBatchSampler + collate_batch, --qa-batch pairs per step,
            each batch padded to its longest row (what python ./minigpt/train.py does)
  packed-N  the augmented corpus through PackedDataset (rows of block_size + 1 tokens, no padding), N rows per step

Numbers: useful tokens per second (non-<pad> input positions), the median over interleaved repeats (qa,
packed-8, packed-32, qa, ...: load on a shared machine hits all alike) with min-max, and how many tokens
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

from machine import header  # noqa: E402
from minigpt.corpus import FORMS, corpus_documents  # noqa: E402
from minigpt.models import build_model_for  # noqa: E402
from minigpt.pretrain import PackedDataset, corpus_tokenizer, encode_documents  # noqa: E402
from minigpt.qa_dataset import BucketBatchSampler, QADataset, collate_batch  # noqa: E402
from minigpt.train import make_optimizer, resolve_dtype, train_step  # noqa: E402

DATA = ROOT / "data" / "data.jsonl"


def rate(model, optimizer, batches, pad, dtype, seconds):
    """Useful tokens/s over `seconds` of steps (after two warm-up steps)."""
    for batch in batches[:2]:
        train_step(model, optimizer, batch, pad_token_id=pad, device="cpu", dtype=dtype)
    tokens, t0, i = 0, time.perf_counter(), 2
    while time.perf_counter() - t0 < seconds:
        batch = batches[i % len(batches)]
        train_step(model, optimizer, batch, pad_token_id=pad, device="cpu", dtype=dtype)
        tokens += int(batch["attention_mask"].sum())
        i += 1
    return tokens / (time.perf_counter() - t0)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="cpu")
    p.add_argument("--qa-batch", type=int, default=32)
    p.add_argument("--packed-batches", default="8,32", help="rows per packed step, comma-separated")
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
    rng = random.Random(0)
    for n in map(int, args.packed_batches.split(",")):
        contenders[f"packed-{n}"] = [collate_batch([packed[i] for i in rng.sample(range(len(packed)), n)], pad)
                                     for _ in range(50)]
    print(f"model: {args.preset}, {sum(q.numel() for q in model.parameters()):,} parameters, vocab {len(tok)}, "
          f"block {block}, dtype {str(dtype).replace('torch.', '')}, threads {torch.get_num_threads()}")

    results = {name: [] for name in contenders}
    for _ in range(args.repeats):
        for name, batches in contenders.items():
            results[name].append(rate(model, optimizer, batches, pad, dtype, args.seconds))
    base = statistics.median(results["qa"])
    print("\n| contender | useful tokens/s (median, min-max) | vs qa | 10 min | 20 min | 30 min |\n|---|---|---|---|---|---|")
    for name, rates in results.items():
        med = statistics.median(rates)
        budget = " | ".join(f"{med * 60 * m / 1e6:.1f} M" for m in (10, 20, 30))
        print(f"| {name} | {med:,.0f} ({min(rates):,.0f}-{max(rates):,.0f}) | {med / base:.2f}x | {budget} |")
    best = max(statistics.median(r) for name, r in results.items() if name != "qa")
    print("\n| corpus | documents | characters | tokens | passes in 10 / 20 / 30 min (fastest packed) |\n|---|---|---|---|---|")
    for form in FORMS:
        chars = sum(map(len, docs[form]))
        tokens = chars + len(docs[form]) + 1
        passes = " / ".join(f"{best * 60 * m / tokens:.2f}" for m in (10, 20, 30))
        print(f"| {form} | {len(docs[form]):,} | {chars:,} | {tokens:,} | {passes} |")


if __name__ == "__main__":
    main()
