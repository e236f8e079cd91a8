"""Generation speed and memory: our Qwen3 vs. transformers' Qwen3ForCausalLM at equal shape and equal weights.

    python benchmarks/bench_qwen3.py                         # both shapes, fp32 and bf16, cache on/off
    python benchmarks/bench_qwen3.py --shapes course --repeats 5
    python benchmarks/bench_qwen3.py --shapes 0.6b --layers 28 --new-tokens 32   # the real depth (~2.4 GB fp32)

Shapes:
  course  the chapter-8 char-level Qwen3 (course_config "cpu": 256 wide, 4 layers, 4/2 heads, vocab 3000)
  0.6b    Qwen3-0.6B width (1024 wide, 16/8 heads, head_dim 128, vocab 151,936, tied) with --layers of its 28
          layers (default 4): the 151,936 x 1024 output layer is a fixed cost per token, every layer adds
          about as much again, so fewer layers keep the run short on a 2-core machine while exercising the
          same kernels. Say which depth you ran when you quote numbers.

Both models load the same random weights from one save_pretrained folder, in the dtype under test
(transformers with `dtype=`, which keeps its RoPE frequencies in fp32; ours with `from_pretrained(dtype=)`).
transformers uses its default attention (SDPA), like ours. One prompt of --prompt-len tokens, exactly
--new-tokens new tokens (no stop token), greedy; "cache" = KV cache on, "no cache" = the full sequence is
recomputed for every new token (our `generate(use_cache=False)`, transformers `generate(use_cache=False)`).
The run starts with the machine header (benchmarks/machine.py: CPU model and flags, torch, threads, fp32/bf16
matmul rates). Methods run interleaved, repeat after repeat, so that load changes on a shared machine hit all alike.
We print the median and min-max of new tokens per second, and ratios of medians (ours / transformers).

Memory: the rise of the process's peak resident set size (VmHWM) during one generate call, over its RSS just
before it: activations, logits, KV cache and allocator slack; the weights themselves are already resident and
are not counted (the child reads every weight once first, so that memory-mapped fp32 weights are resident).
tracemalloc cannot see this (it tracks Python objects, not torch's C++ allocations), so on
Linux we reset the peak by writing "5" to /proc/self/clear_refs and read VmHWM from /proc/self/status.
Each memory number comes from a fresh child process that loads the model and generates once: in a process
that has generated before, freed memory stays in the C heap and a second call shows almost no rise.
Elsewhere the column shows "n/a". With --device cuda the column is torch.cuda's peak allocation above the
allocation before the call (the same idea, measured by the caching allocator instead of the OS).
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from minigpt.generate import generate  # noqa: E402
from minigpt.qwen3 import QWEN3_0_6B, Qwen3ForCausalLM, course_config  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from machine import header  # noqa: E402


def _status_kb(field: str):
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def peak_rss_delta(fn):
    """Run fn(); return (result, MB of peak RSS above the RSS before the call), or (result, None)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        before = _status_kb("VmRSS")
    except OSError:
        before = None
    result = fn()
    peak = _status_kb("VmHWM")
    if before is None or peak is None:
        return result, None
    return result, max(peak - before, 0) / 1024


def make_folder(cfg, seed=0) -> Path:
    """Random weights (std 0.02, norms 1) written as a transformers-style folder by our save_pretrained."""
    torch.manual_seed(seed)
    folder = Path(tempfile.mkdtemp(prefix="bench_qwen3_"))
    Qwen3ForCausalLM(cfg).save_pretrained(folder)
    return folder


def load_pair(folder, dtype, device="cpu"):
    import transformers
    ours = Qwen3ForCausalLM.from_pretrained(folder, dtype=dtype, device=device)
    hf = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).to(device).eval()
    return ours, hf


def synced(fn, device):
    """CUDA runs asynchronously: wait for the GPU before reading the clock."""
    def run():
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return out
    return run


def cuda_peak_delta(fn):
    """On a GPU: peak allocated memory above what was allocated before the call (weights excluded), in MB."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    out = fn()
    torch.cuda.synchronize()
    return out, (torch.cuda.max_memory_allocated() - before) / 2**20


def make_method(who, model, prompt, n, cache):
    if who == "ours":
        return lambda: generate(model, prompt, n, stop_token_ids=None, use_cache=cache)
    return lambda: model.generate(prompt, max_new_tokens=n, min_new_tokens=n, do_sample=False, use_cache=cache,
                                  eos_token_id=None, pad_token_id=0)


def memory_child(spec: dict) -> None:
    """Child process: load one model, generate once, print the peak-RSS rise (MB) as JSON."""
    torch.set_num_threads(spec["threads"])
    device = torch.device(spec["device"])
    ours, hf = load_pair(spec["folder"], getattr(torch, spec["dtype"]), device)
    model = ours if spec["who"] == "ours" else hf
    del ours, hf  # only `model` stays resident
    # safetensors maps the file: fp32 weights that need no conversion are paged in lazily, on first use, and
    # would count as generation memory. Read every weight once so that they are resident before we measure.
    with torch.no_grad():
        for p in model.parameters():
            p.float().sum()
    prompt = torch.tensor(spec["prompt"], device=device)
    measure = cuda_peak_delta if device.type == "cuda" else peak_rss_delta
    with torch.no_grad():
        _, mb = measure(make_method(spec["who"], model, prompt, spec["n"], spec["cache"]))
    print(json.dumps({"mb": mb}))


def measure_memory(spec: dict):
    r = subprocess.run([sys.executable, __file__, "--memory-child", json.dumps(spec)], capture_output=True,
                       text=True, timeout=900)
    try:
        return json.loads(r.stdout.strip().splitlines()[-1])["mb"]
    except (IndexError, ValueError, KeyError):
        print(f"测内存的子进程失败：{r.stderr[-500:]}", file=sys.stderr)
        return None


def quiet_transformers():
    import transformers
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    warnings.filterwarnings("ignore")


def run(args):
    import transformers
    quiet_transformers()
    torch.set_num_threads(args.threads)
    shapes = {
        "course": course_config(3000, preset="cpu"),
        "0.6b": replace(QWEN3_0_6B, num_hidden_layers=args.layers, max_position_embeddings=4096),
    }
    device = torch.device(args.device)
    print(header(device))
    print(f"transformers {transformers.__version__}；提示词 {args.prompt_len} 个 token，每次生成 {args.new_tokens} 个新 token，"
          f"{args.repeats} 轮交错重复，批 1，贪心")
    rows = []
    for shape in args.shapes:
        cfg = shapes[shape]
        folder = make_folder(cfg)
        for dtype_name in args.dtypes:
            dtype = getattr(torch, dtype_name)
            ours, hf = load_pair(folder, dtype, device)
            g = torch.Generator().manual_seed(1)
            prompt = torch.randint(3, cfg.vocab_size, (1, args.prompt_len), generator=g).to(device)
            caches = (True,) if args.no_nocache else (True, False)
            keys = [(who, c) for c in caches for who in ("ours", "transformers")]
            methods = {(who, c): synced(make_method(who, ours if who == "ours" else hf, prompt, args.new_tokens, c),
                                        device) for who, c in keys}
            with torch.no_grad():
                for fn in methods.values():  # warm-up (first-call allocations, lazy inits)
                    fn()
                outs = {}
                times = {k: [] for k in methods}
                for _ in range(args.repeats):
                    for key, fn in methods.items():
                        t0 = time.perf_counter()
                        outs[key] = fn()
                        times[key].append(time.perf_counter() - t0)
            mem = {(who, c): measure_memory(dict(folder=str(folder), dtype=dtype_name, who=who, cache=c,
                                                 n=args.new_tokens, prompt=prompt.tolist(), threads=args.threads,
                                                 device=str(device)))
                   for who, c in keys}
            # same greedy tokens from both (fp32; in bf16 SDPA rounding may differ after many steps)
            same = torch.equal(outs[("ours", True)], outs[("transformers", True)])
            for (who, cache), ts in times.items():
                tps = [args.new_tokens / t for t in ts]
                rows.append(dict(shape=shape, dtype=dtype_name, who=who, cache=cache, median=statistics.median(tps),
                                 lo=min(tps), hi=max(tps), mem=mem[(who, cache)], same=same))
            del ours, hf
    print_table(rows, args)


def print_table(rows, args):
    print(f"\n{'形状':6} {'精度':7} {'缓存':4} {'谁':12} {'token/s 中位数':>11} {'（最小-最大）':>13} "
          f"{'峰值内存 +MB':>9} {'ours÷hf':>8}  贪心结果相同")
    for r in rows:
        peer = next((p for p in rows if p["shape"] == r["shape"] and p["dtype"] == r["dtype"]
                     and p["cache"] == r["cache"] and p["who"] == "transformers"), None)
        ratio = f"{r['median'] / peer['median']:.2f}x" if r["who"] == "ours" and peer else ""
        mem = "n/a" if r["mem"] is None else f"{r['mem']:.0f}"
        print(f"{r['shape']:8} {r['dtype']:9} {'有' if r['cache'] else '无':5} {r['who']:13} "
              f"{r['median']:12.1f} {r['lo']:8.1f}-{r['hi']:<8.1f} {mem:>12} {ratio:>8}  "
              f"{r['same'] if r['who'] == 'ours' else ''}")
    if "0.6b" in args.shapes:
        print(f"\n0.6b = Qwen3-0.6B 的宽度，28 层里只取 {args.layers} 层（见本文件开头的说明）。")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shapes", nargs="+", choices=["course", "0.6b"], default=["course", "0.6b"])
    p.add_argument("--dtypes", nargs="+", choices=["float32", "bfloat16"], default=["float32", "bfloat16"])
    p.add_argument("--layers", type=int, default=4, help="depth of the 0.6b shape (the real model has 28)")
    p.add_argument("--prompt-len", type=int, default=32)
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--no-nocache", action="store_true", help="skip the (slow) runs without KV cache")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda; on cuda memory is torch's peak allocation")
    p.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.memory_child:
        quiet_transformers()
        memory_child(json.loads(args.memory_child))
    else:
        run(args)


if __name__ == "__main__":
    main()
