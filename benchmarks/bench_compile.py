"""Does torch.compile pay for one decode step? Eager vs compiled, at the course's width and at a tiny width.

    python benchmarks/bench_compile.py                  # n_embd 16 and 256, 2 new prompts x 75 steps, 7 repeats
    python benchmarks/bench_compile.py --threads 1 --widths 256

Chapter 7 says why the fast decode path (minigpt/fast_decode.py's FastDecoder) is not compiled; this measures it.
A compiled step needs fixed shapes, so both versions here use the same static-shape step: a KV buffer of
block_size positions written in place (index_copy_) and a boolean mask over it, the model's own weights
(fast_decode.pack_weights without oneDNN: contiguous W.T), greedy, fp32, batch 1. Per width we print the time per step
eager and compiled (torch.compile, inductor, default mode, dynamic=False) and the first call's time (the compile
a learner would wait for). At n_embd 16 the step is nearly all per-operator overhead (Python + dispatch), so
that row shows what compiling removes; at 256 the matrix-vector products count too.
Weights are random (the cpu preset's layout with the given width): speed does not depend on their values.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from machine import header  # noqa: E402
from minigpt.model import GPTLMHeadModel, config_for  # noqa: E402


def static_step(model):
    """step(token (1,), pos (1,), k_buf, v_buf (L, 1, nh, block, hs), mask (1, 1, 1, block)) -> logits (1, V)."""
    cfg, tr = model.config, model.transformer
    C, nh = cfg.n_embd, cfg.n_head
    t = lambda w: w.detach().t().contiguous()
    layers = [(b.ln_1, t(b.attn.qkv_proj.weight), b.attn.qkv_proj.bias.detach(), t(b.attn.out_proj.weight),
               t(b.mlp.c_fc.weight), t(b.mlp.c_proj.weight), b.ln_2) for b in tr.blocks]
    ln = lambda x, m: F.layer_norm(x, (C,), m.weight.detach(), m.bias.detach())
    head, wte, wpe = t(model.lm_head.weight), tr.wte.weight.detach(), tr.wpe.weight.detach()

    def step(token, pos, k_buf, v_buf, mask):
        x = wte[token] + wpe[pos]  # (1, C)
        for i, (ln_1, w_qkv, b_qkv, w_out, w_fc, w_proj, ln_2) in enumerate(layers):
            qkv = torch.addmm(b_qkv, ln(x, ln_1), w_qkv).view(1, 3, nh, 1, C // nh)
            k_buf[i].index_copy_(2, pos, qkv[:, 1])
            v_buf[i].index_copy_(2, pos, qkv[:, 2])
            y = F.scaled_dot_product_attention(qkv[:, 0], k_buf[i], v_buf[i], attn_mask=mask)
            x = x + y.reshape(1, C) @ w_out
            x = x + F.gelu(ln(x, ln_2) @ w_fc) @ w_proj
        return ln(x, tr.ln_f) @ head

    return step


def decode(step, model, n_steps):
    """Greedy decode n_steps tokens from token 5 with a fresh cache; returns the tokens."""
    cfg = model.config
    shape = (cfg.n_layer, 1, cfg.n_head, cfg.block_size, cfg.n_embd // cfg.n_head)
    k_buf, v_buf = torch.zeros(shape), torch.zeros(shape)
    mask = torch.zeros(1, 1, 1, cfg.block_size, dtype=torch.bool)
    token, pos, out = torch.tensor([5]), torch.zeros(1, dtype=torch.long), []
    with torch.inference_mode():
        for p in range(n_steps):
            pos.fill_(p)
            mask[..., p] = True
            token = step(token, pos, k_buf, v_buf, mask).argmax(-1)
            out.append(int(token))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--widths", type=int, nargs="+", default=[16, 256])
    p.add_argument("--steps", type=int, default=75)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(header("cpu", 256))
    print(f"批 1，每次贪心生成 {args.steps} 个 token，{args.repeats} 次交错重复取中位数；fp32；随机权重（cpu 预设的层数和头数）\n")
    print(f"{'n_embd':>6} {'即时执行 ms/步':>14} {'编译后 ms/步':>12} {'即时÷编译后':>11} {'第一次调用（含编译）':>18}")
    for width in args.widths:
        torch.manual_seed(0)
        model = GPTLMHeadModel(config_for("cpu", 2786, n_embd=width, n_head=4)).eval()
        eager = static_step(model)
        compiled = torch.compile(eager, dynamic=False, fullgraph=True)
        t0 = time.perf_counter()
        first = decode(compiled, model, args.steps)
        compile_s = time.perf_counter() - t0
        assert first == decode(eager, model, args.steps), "编译后的贪心结果与即时执行不同"
        times = {"eager": [], "compiled": []}
        for _ in range(args.repeats):
            for name, step in (("eager", eager), ("compiled", compiled)):
                t0 = time.perf_counter()
                decode(step, model, args.steps)
                times[name].append((time.perf_counter() - t0) / args.steps * 1000)
        e, c = statistics.median(times["eager"]), statistics.median(times["compiled"])
        print(f"{width:>6} {e:>14.3f} {c:>12.3f} {e / c:>10.2f}x {compile_s:>17.1f} 秒")


if __name__ == "__main__":
    main()
