"""Generation speed: our fast path and KV cache vs. no cache vs. the seed-style loop vs. transformers' generate.

    python benchmarks/bench_generate.py                 # batch 1 and 16, 60 new tokens, 5 interleaved repeats
    python benchmarks/bench_generate.py --quick         # 3 repeats, seed-padded loop only at batch 1 (~2 min)
    python benchmarks/bench_generate.py --repeats 3 --batch-sizes 1 --threads 2
    python benchmarks/bench_generate.py --threads 1 --clock cpu   # CPU time of this thread: steadier on a busy machine
    python benchmarks/bench_generate.py --device cuda   # on a GPU

Every method answers the same questions (from data/data.jsonl) with the same weights and produces exactly
--new-tokens tokens per row (stop tokens disabled), greedy, fp32. Methods run interleaved (A B C D, A B C D, ...)
so that load changes on a shared machine hit all of them alike; at batch 1 each timing answers the question --inner
times (default 4), so that a burst of load does not fall on one short measurement. We print the median and min-max
of useful tokens/s (batch x new tokens / seconds, prompt processing included) and ratios of medians.

  ours-fast      minigpt.generate.generate(..., fast=True): the same KV cache, each step through the model's
                 FastDecoder (weights packed once: for oneDNN on CPU where it measured faster for this batch size
                 on this machine, else W.T for addmm; one flat function per step; minigpt/fast_decode.py)
  ours+cache     minigpt.generate.generate(..., use_cache=True), left-padded batch: the plain path of chapter 7
  ours-nocache   the same loop with use_cache=False: the whole sequence is recomputed for every token
  seed-style     benchmarks/seed_reference.seed_generate: one question at a time, full recompute, no cache,
                 no padding (the headline baseline: the fairest version of the seed's loop). It answers one
                 question at a time, so its rate does not depend on the batch size: at batch B it answers the
                 first min(B, 4) of the B questions (a shorter run, the same per-token cost)
  seed-padded    the same loop the way the seed's code runs by default: the tokenizer pads to 128
                 (pad_to_max_length=True) and every step runs all 128 positions with the padding mask
  transformers   GPT2LMHeadModel of equal size (n_embd/n_head/n_layer/n_positions/vocab), model.generate

The run starts with a header (benchmarks/machine.py): CPU model and flags, torch, threads, fp32/bf16 matmul rates;
then, on CPU, the rate at which one input row is multiplied by the model's weight matrices (GB/s of weights read: the
batch-1 decode bound) through nn.Linear (MKL), W.T with addmm and oneDNN, beside the rate of just reading them,
and which of the two the fast path picked (it measures that itself, per batch size: minigpt/fast_decode.py).
Weights: the shipped checkpoint if present (or --checkpoint), else the "cpu" preset with random weights.
The GPT-2 model has random weights either way (it is only a speed reference; its MLP and projections carry
biases, a few thousand extra parameters).
"""
import argparse
import importlib.util
import statistics
import sys
import time
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from machine import header  # noqa: E402
from minigpt.build_vocab import count_chars, vocab_from_counter  # noqa: E402
from minigpt.generate import generate  # noqa: E402
from minigpt.jsonl import read_qa_jsonl  # noqa: E402
from minigpt.fast_decode import linear, onednn_available, onednn_is_faster, pack, weight_sources  # noqa: E402
from minigpt.model import GPTConfig, GPTLMHeadModel, config_for  # noqa: E402
from minigpt.tokenizer import Tokenizer  # noqa: E402


def load_seed_reference():
    spec = importlib.util.spec_from_file_location("seed_reference", ROOT / "benchmarks" / "seed_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def quiet(*_args, **_kw):
    pass


def build_models(checkpoint):
    """(ours, tokenizer, source) from the checkpoint if there is one, else the cpu preset, random weights."""
    if checkpoint is not None and Path(checkpoint).is_file():
        from minigpt.checkpoint import load_checkpoint, load_tokenizer

        model, metadata = load_checkpoint(checkpoint)
        if metadata["arch"] == "gpt":
            return model.eval(), load_tokenizer(metadata), f"检查点 {Path(checkpoint).name}"
    tok = Tokenizer.from_word2id(vocab_from_counter(count_chars(ROOT / "data" / "data.jsonl", warn=quiet))["word2id"])
    torch.manual_seed(0)
    return GPTLMHeadModel(config_for("cpu", tok.get_vocab_size())).eval(), tok, "cpu 预设，随机权重"


def one_row_rates(weights, repeats=5) -> dict:
    """GB/s of weights read when one input row is multiplied by each of these fp32 CPU matrices (out, in).

    Decoding one token at batch 1 is exactly this, so it bounds batch-1 generation: "nn.Linear" is x @ W.T (MKL),
    "addmm" and "oneDNN" the fast path's two ways (minigpt/fast_decode.py's linear on W.T or on oneDNN-packed weights),
    "read" just reads the weights (w.sum()): what the memory could deliver to a perfect kernel.
    """
    xs = {w.shape[1]: torch.randn(1, w.shape[1]) for w in weights}
    ways = {"nn.Linear": lambda: [torch.nn.functional.linear(xs[w.shape[1]], w) for w in weights]}
    transposed = [(pack(w, onednn=False), w.shape[1]) for w in weights]
    ways["addmm"] = lambda: [linear(xs[n], wt) for wt, n in transposed]
    if onednn_available(torch.float32):
        packed = [(pack(w, onednn=True), w.shape[1]) for w in weights]
        ways["oneDNN"] = lambda: [linear(xs[n], p) for p, n in packed]
    ways["read"] = lambda: [w.sum() for w in weights]
    gb = sum(w.numel() for w in weights) * 4 / 1e9
    rates = {}
    for name, fn in ways.items():
        fn()
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t)
        rates[name] = gb / best
    return rates


def gpt2_like(config: GPTConfig):
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(vocab_size=config.vocab_size, n_positions=config.block_size, n_embd=config.n_embd,
                     n_layer=config.n_layer, n_head=config.n_head, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                     bos_token_id=None, eos_token_id=None, pad_token_id=0)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(cfg).eval()
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    return model


def left_pad(prompts, pad=0):
    T = max(len(p) for p in prompts)
    ids = torch.tensor([[pad] * (T - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (T - len(p)) + [1] * len(p) for p in prompts])
    return ids, mask


METHODS = {"ours-fast": "我们·快速路径", "ours+cache": "我们·KV cache", "ours-nocache": "我们·不用缓存",
           "seed-style": "种子式循环", "seed-padded": "种子式·填充到128", "transformers": "transformers"}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16])
    p.add_argument("--new-tokens", type=int, default=60)
    p.add_argument("--repeats", type=int, default=None, help="interleaved repeats (default 5, --quick 3)")
    p.add_argument("--quick", action="store_true", help="3 repeats; the seed-padded loop only at batch 1")
    p.add_argument("--inner", type=int, default=4, help="at batch 1, answers per timing (default 4: longer timings, "
                                                          "steadier on a shared machine)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    p.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "minigpt-idiom.pth"))
    p.add_argument("--skip", nargs="*", default=[], help="methods to leave out, e.g. transformers seed-padded")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                   help="wall: elapsed time (default); cpu: this thread's CPU time, which leaves out the time other "
                        "processes hold the core (only meaningful with --threads 1 on CPU)")
    args = p.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 5)
    if args.threads:
        torch.set_num_threads(args.threads)

    seed = load_seed_reference()
    device = torch.device(args.device)
    ours, tok, source = build_models(args.checkpoint)
    ref = seed.GPTLMHeadModel(seed.GPTConfig(**{**vars(ours.config), "dropout": 0.0})).eval()
    ref.load_state_dict(ours.state_dict())
    hf = None if "transformers" in args.skip else gpt2_like(ours.config).to(device)
    ours, ref = ours.to(device), ref.to(device)
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    questions = [pair.question for pair in read_qa_jsonl(ROOT / "data" / "data.jsonl", warn=quiet)]
    n_new = args.new_tokens
    print(header(device, ours.config.n_embd))
    print(f"模型：{source}，{ours.num_parameters() / 1e6:.2f}M 参数，{vars(ours.config)}")
    if device.type == "cpu":  # 批 1 生成一个 token = 一行输入乘一遍全部权重：这台机器做这件事有多快
        weights = [m.weight.detach() for m in ours.modules() if isinstance(m, torch.nn.Linear)]
        mb = sum(w.numel() for w in weights) * 4 / 1e6
        rates = "，".join(f"{name} {r:.0f} GB/s" for name, r in one_row_rates(weights).items())
        print(f"一行输入乘一遍这 {len(weights)} 个权重矩阵（{mb:.1f} MB，fp32）读权重的速度：{rates}"
              f"（read = 只把权重读一遍，内存能给的上限）")
        matrices = [w for w in weight_sources(ours) if w.dim() == 2]
        picks = "，".join(f"批 {B} 用 {'oneDNN' if onednn_is_faster(matrices, torch.float32, B) else 'addmm'}"
                          for B in args.batch_sizes)
        print(f"快速路径的矩阵乘（它自己在这台机器上量过之后选的）：{picks}")
    if hf is not None:
        print(f"transformers GPT2LMHeadModel：{sum(p.numel() for p in hf.parameters()) / 1e6:.2f}M 参数（随机权重，只比速度）")
    print(f"{'CPU 时间（本线程）' if args.clock == 'cpu' else '墙钟时间'}；每行恰好生成 {n_new} 个新 token，贪心，fp32；"
          f"{repeats} 轮交错重复；批 1 时每次计时把同一个问题回答 {args.inner} 遍"
          "（共享的机器上数字会随别的负载变，请看同一轮里的比值）\n")

    rows = []
    for B in args.batch_sizes:
        rows += run_batch(B, args, repeats, ours, ref, hf, tok, seed, questions, device, clock, sync)
    print_table(rows)


def run_batch(B, args, repeats, ours, ref, hf, tok, seed, questions, device, clock, sync):
    """Time every method at batch size B, interleaved; returns rows (B, method, median, min, max) of tokens/s."""
    n_new = args.new_tokens
    qs = questions[:B]
    seed_qs = qs[:min(B, 4)]  # the seed loops answer one question at a time: their rate does not depend on B
    prompts = [tok.encode(q, None, pad_to_max_length=False)[0] for q in qs]
    ids, mask = left_pad(prompts, tok.pad_token_id)
    ids, mask = ids.to(device), mask.to(device)

    def hf_generate():
        with torch.no_grad():
            return hf.generate(input_ids=ids, attention_mask=mask, max_new_tokens=n_new, min_new_tokens=n_new,
                               do_sample=False, pad_token_id=0)

    methods = {  # name: (function, tokens it produces)
        "ours-fast": (lambda: generate(ours, ids, n_new, attention_mask=mask, stop_token_ids=None, fast=True), B),
        "ours+cache": (lambda: generate(ours, ids, n_new, attention_mask=mask, stop_token_ids=None), B),
        "ours-nocache": (lambda: generate(ours, ids, n_new, attention_mask=mask, stop_token_ids=None,
                                          use_cache=False), B),
        "seed-style": (lambda: [seed.seed_generate(ref, tok, q, n_new, stop=False) for q in seed_qs], len(seed_qs)),
        "seed-padded": (lambda: [seed.seed_generate(ref, tok, q, n_new, stop=False, padded=True) for q in seed_qs],
                        len(seed_qs)),
    }
    if hf is not None:
        methods["transformers"] = (hf_generate, B)
    skip = set(args.skip) | ({"seed-padded"} if args.quick and B > 1 else set())
    methods = {k: v for k, v in methods.items() if k not in skip}

    # correctness first: all our paths give the same greedy tokens, and so does the seed's loop
    a = methods["ours+cache"][0]()[:, ids.shape[1]:] if "ours+cache" in methods else None
    for name in ("ours-fast", "ours-nocache"):
        if name in methods and a is not None:
            assert torch.equal(methods[name][0]()[:, ids.shape[1]:], a), f"{name} 的贪心结果与 KV cache 路径不同"
    for name in ("seed-style", "seed-padded"):
        if name in methods and a is not None:
            same = all(new == a[i].tolist() for i, (_, new) in enumerate(methods[name][0]()))
            print(f"批大小 {B}：{METHODS[name]}的贪心结果与我们的{'相同' if same else '不同！'}")
    if hf is not None:
        assert hf_generate().shape[1] == ids.shape[1] + n_new
    for fn, _ in methods.values():  # warm-up
        fn()
    # batch 1 is fast (tens of ms per answer): each timing answers the same question `inner` times, so that one
    # burst of load elsewhere on a shared machine does not land on a single short measurement
    inner = args.inner if B == 1 else 1
    times = {k: [] for k in methods}
    for _ in range(repeats):
        for name, (fn, _) in methods.items():
            sync()
            t0 = clock()
            for _ in range(inner):
                fn()
            sync()
            times[name].append(clock() - t0)
    out = []
    for name, ts in times.items():
        tps = [methods[name][1] * n_new * inner / t for t in ts]
        out.append((B, name, statistics.median(tps), min(tps), max(tps)))
    return out


def cell(text, width, right=True):
    """Pad to a display width: a Chinese character takes two columns in a terminal."""
    text = str(text)
    n = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return " " * (width - n) + text if right else text + " " * (width - n)


def print_table(rows):
    cols = [("批大小", 6), ("方法", 18), ("token/s 中位数", 15), ("最小-最大", 13), ("÷种子式", 9), ("÷种子式·填充", 14),
            ("÷transformers", 14), ("÷KV cache", 10)]
    print("\n" + " ".join(cell(name, w, right=(i != 1)) for i, (name, w) in enumerate(cols)))
    for B, name, med, lo, hi in rows:
        base = {n: m for b, n, m, *_ in rows if b == B}
        vs = [f"{med / base[ref]:.{digits}f}x" if ref in base else "-"
              for ref, digits in (("seed-style", 1), ("seed-padded", 1), ("transformers", 2), ("ours+cache", 2))]
        values = [B, METHODS[name], f"{med:,.0f}", f"{lo:,.0f}-{hi:,.0f}", *vs]
        print(" ".join(cell(v, w, right=(i != 1)) for i, (v, (_, w)) in enumerate(zip(values, cols))))


if __name__ == "__main__":
    main()
