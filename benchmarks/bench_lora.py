"""LoRA vs full fine-tuning on the shipped model: what is trained, what it costs in memory, and time per step.

    python benchmarks/bench_lora.py                    # ranks 2, 8, 32 and full fine-tuning, batch 32, 5 rounds
    python benchmarks/bench_lora.py --ranks 8 --rounds 3

For each way of training (full: every parameter; LoRA rank r on qkv_proj, out_proj, c_fc, c_proj, alpha = 2r,
minigpt/lora.py) on the same batch of real questions and answers from data/data.jsonl (answer-only loss):
  trainable     parameters the optimizer updates, and their share of the model
  grads+AdamW   bytes of gradients plus AdamW's state (exp_avg, exp_avg_sq), read from the optimizer after a step
  saved         bytes of the activations autograd saves for the backward pass (saved_tensors_hooks, each storage
                once, weights excluded):
                LoRA still saves most activations, since gradients must flow through the frozen layers to the
                adapters below them
  total         weights (all of them) + grads+AdamW + saved: the training step's tensors at their peak
  s/step        forward + backward + AdamW step; rounds interleave the ways (A B C D, A B C D, ...) so that load
                on a shared machine hits all alike; median and min-max, and the ratio to full fine-tuning
"""
import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from machine import header  # noqa: E402

from minigpt.checkpoint import SHIPPED_CHECKPOINT, load_for_inference  # noqa: E402
from minigpt.common import REPO_ROOT  # noqa: E402
from minigpt.dpo import answer_batch, token_logprobs  # noqa: E402
from minigpt.jsonl import read_qa_jsonl  # noqa: E402
from minigpt.lora import add_lora, trainable_parameters  # noqa: E402


def nbytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def step(model, optimizer, batch) -> int:
    """One training step; returns the bytes autograd saved for backward (each storage once: the input of a LoRA
    layer is saved by both its frozen base and its A, and the weights themselves are not activations)."""
    saved, weights = {}, {p.untyped_storage().data_ptr() for p in model.parameters()}

    def keep(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in weights:
            saved[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(keep, lambda t: t):
        logp = token_logprobs(model, batch)
    loss = -logp.sum() / batch["answer_mask"].sum()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return sum(saved.values())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="LoRA 和全量微调：训练哪些参数、占多少内存、每步多久。")
    p.add_argument("--ranks", type=int, nargs="+", default=[2, 8, 32], help="LoRA 的秩")
    p.add_argument("--batch-size", type=int, default=32, help="每批几个问答对")
    p.add_argument("--rounds", type=int, default=5, help="计时的轮数（每轮每种方式一步，另有一轮预热）")
    p.add_argument("--threads", type=int, default=2, help="torch 线程数")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(header())
    base, tok = load_for_inference(SHIPPED_CHECKPOINT)
    pairs = read_qa_jsonl(REPO_ROOT / "data" / "data.jsonl", warn=lambda message: None)[::997][:args.batch_size]
    batch = answer_batch(tok, [p.question for p in pairs], [p.answer for p in pairs])
    ways = {"全量微调": copy.deepcopy(base).train()}
    ways.update({f"LoRA r={r}": add_lora(copy.deepcopy(base), rank=r, alpha=2 * r).train() for r in args.ranks})
    optimizers = {name: torch.optim.AdamW(trainable_parameters(m), lr=1e-4) for name, m in ways.items()}
    saved, times = {}, {name: [] for name in ways}
    for rnd in range(args.rounds + 1):  # round 0 warms up
        for name, model in ways.items():
            t = time.perf_counter()
            saved[name] = step(model, optimizers[name], batch)
            if rnd:
                times[name].append(time.perf_counter() - t)
    n_all = base.num_parameters()
    print(f"\n仓库自带的模型（{n_all / 1e6:.2f} M 参数），{len(pairs)} 个问答对一批（{int(batch['answer_mask'].sum())} 个回答 token），"
          f"{torch.get_num_threads()} 个线程，{args.rounds} 轮")
    print(f"{'方式':<12}{'训练的参数':>14}{'占比':>8}{'梯度+AdamW':>12}{'反向要存的':>12}{'合计':>10}{'秒/步':>22}{'相对全量':>10}")
    full = statistics.median(times["全量微调"])
    for name, model in ways.items():
        params = trainable_parameters(model)
        state = [t for s in optimizers[name].state.values() for t in s.values() if torch.is_tensor(t) and t.dim() > 0]
        opt_bytes = nbytes(p.grad for p in params) + nbytes(state)
        weights = nbytes({id(t): t for t in model.parameters()}.values())  # wte = lm_head counted once
        med = statistics.median(times[name])
        print(f"{name:<12}{sum(p.numel() for p in params):>14,}{sum(p.numel() for p in params) / n_all:>8.2%}"
              f"{opt_bytes / 2**20:>10.2f}MB{saved[name] / 2**20:>10.2f}MB{(weights + opt_bytes + saved[name]) / 2**20:>8.2f}MB"
              f"{med:>10.3f}（{min(times[name]):.3f}–{max(times[name]):.3f}）{med / full:>9.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
