"""第 11 章的实验：从仓库自带的模型（checkpoints/minigpt-idiom.pth）出发做后训练，每种方法一个命令。

    python -m minigpt.posttrain base --threads 1           # 起点：原模型的报告（所有方法共用的对照）
    python -m minigpt.posttrain lora --rank 8 --threads 1  # 新本事“X的拼音首字母”：LoRA rank 8（--rank 0：全量微调）
    python -m minigpt.posttrain dpo --threads 1            # 对编出来的成语说“没有这个成语”（DPO + 好回答的 NLL）
    python -m minigpt.posttrain dpo --nll-weight 0 --tag pure --threads 1   # 对照：纯 DPO
    python -m minigpt.posttrain grpo --threads 1           # 接龙：词典打分的强化学习
    python -m minigpt.posttrain rft --threads 1            # 对照：拒绝采样微调，抽样数和 GRPO 相同
    python -m minigpt.posttrain report                     # 只重新评估存下的模型（评估改了以后）
    python -m minigpt.posttrain table                      # 各方法的报告排成一张表
    python -m minigpt.posttrain collect                    # → notebooks/results/11_post_training.json（第 11 章画图用）

每个运行写 output/ch11/<名字>/report.json：设置、用时、训练曲线，以及同一份评估（evaluate）——
  old      四种老题型（意思、读音、补全、接龙）在训练过的成语上的精确匹配，每种 per_type 道：后训练忘了多少
  skill    新本事：“X的拼音首字母是什么？”（画蛇添足 → hstz，由词典的拼音算出）。trained：练过的成语；
           new_idioms：训练过的成语里另外 20%，这个本事没在它们身上练过（学会的是本事，还是背下的答案）；
           heldout：这 20% 换一种没训练过的说法（“X的拼音缩写是什么？”）
  refusal  编出来的成语（没用来训练的）上拒答的比例，和训练过的成语上拒答的比例（越低越好）
  chain    “X接龙”贪心回答的有效率：课程数据之外的成语（unseen，固定 200 个，不用来训练）和训练过的、有接龙题的成语
           （taught；问法“X接龙”是人们平常的问法，数据里的接龙题有好几种问法）；
           unseen_pass8：每题抽 8 个回答，至少一个有效的比例（只在 base、grpo、rft 上算）
训练过的成语：data/data.jsonl 按成语 8:2 划分（种子 42，和仓库自带的模型训练时相同）的训练集。
"""
from __future__ import annotations

import copy
import functools
import json
import random
import sys
import time
import unicodedata
from pathlib import Path

if __package__ in (None, ""):  # 以 `python ./minigpt/posttrain.py` 运行时
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from minigpt import dpo, grpo, lora
from minigpt.checkpoint import load_for_inference, save_checkpoint
from minigpt.cli import ArgumentParser
from minigpt.corpus import idiom_entries
from minigpt.evaluate import exact_match_report, sample
from minigpt.generate import greedy_answers
from minigpt.jsonl import QAPair, atomic_write_text, read_qa_jsonl
from minigpt.reward import chain_reward
from minigpt.split_data import grouped_shuffle_and_cut
from minigpt.train import train_step

REPO = Path(__file__).resolve().parent.parent
BASE = REPO / "checkpoints" / "minigpt-idiom.pth"
COURSE_DATA = REPO / "data" / "data.jsonl"
RESULTS = REPO / "notebooks" / "results" / "11_post_training.json"
ROOT = Path("output/ch11")
# 各方法的默认设置（命令行可改）：步数固定，结果不取决于机器快慢
LORA = dict(steps=400, lr=2e-3, batch_size=32)  # alpha = 2·rank
FULL = dict(steps=400, lr=3e-4, batch_size=32)
# DPO 加上好回答的负对数似然（nll_weight，RPO）：纯 DPO（--nll-weight 0）把损失降到 0.005，贪心回答却成了乱码（第 11 章）
DPO = dict(steps=400, lr=1e-4, beta=0.1, batch_size=16, made_up=400, taught=800, nll_weight=1.0)
GRPO = dict(steps=200, lr=5e-5, beta=0.04, prompts_per_step=16, group_size=8)


# ---------------------------------------------------------------- 数据
def _qa(question: str, answer: str, kind: str, idiom: str) -> QAPair:
    return QAPair(question, answer, 0, json.dumps({"question": question, "answer": answer, "type": kind, "idiom": idiom},
                                                  ensure_ascii=False))


@functools.cache
def _course_pairs() -> tuple[QAPair, ...]:
    """data/data.jsonl 的全部问答对：读一次，留在内存里。"""
    return tuple(read_qa_jsonl(COURSE_DATA, warn=lambda m: None, summary=False))


@functools.cache
def taught_pairs() -> tuple[QAPair, ...]:
    """仓库自带的模型训练时见过的问答对（data/data.jsonl 按成语 8:2 划分，种子 42 的训练集）。"""
    pairs = _course_pairs()
    train, *_ = grouped_shuffle_and_cut(pairs, 0.8, 42, "idiom")
    taught = set(train)
    return tuple(p for p in pairs if p.raw in taught)


INITIALS_QUESTIONS = ("{}的拼音首字母是什么？", "{}的首字母缩写", "{}拼音首字母")  # 训练用的问法
INITIALS_HELDOUT = "{}的拼音缩写是什么？"  # 只用来评估：换一种说法


def initials(pinyin: str) -> str:
    """拼音每个音节的第一个字母，去掉声调："huà shé tiān zú" → "hstz"（zh、ch、sh 也只取一个字母，和常见的缩写一样）。"""
    return "".join(unicodedata.normalize("NFD", syllable)[0] for syllable in pinyin.split())


def initials_records(held_share: float = 0.2) -> tuple[list[QAPair], list[QAPair], list[QAPair]]:
    """新本事“X的拼音首字母”：训练过的成语按种子分成两份 → (80% 的成语、三种问法的训练题，
    另外 20% 的成语（这个本事没在它们身上练过）的同样问法，同样 20% 的成语换一种没训练过的问法)。"""
    words = sorted({p.idiom for p in taught_pairs()})
    random.Random(0).shuffle(words)
    held = set(words[:int(len(words) * held_share)])
    train, new_idioms, heldout = [], [], []
    for e in idiom_entries():
        if e.word in held:
            new_idioms.append(_qa(INITIALS_QUESTIONS[0].format(e.word), initials(e.pinyin), "initials", e.word))
            heldout.append(_qa(INITIALS_HELDOUT.format(e.word), initials(e.pinyin), "initials", e.word))
        elif e.word in words:
            train += [_qa(q.format(e.word), initials(e.pinyin), "initials", e.word) for q in INITIALS_QUESTIONS]
    return train, new_idioms, heldout


def unseen_idioms(tokenizer) -> list[str]:
    """词典里课程数据（data/data.jsonl 的题目和答案）之外的四字成语，每个字都在词表里，按码位排序。"""
    seen = set()
    for p in _course_pairs():
        seen |= {p.idiom, p.answer}
    return sorted(e.word for e in idiom_entries()
                  if len(e.word) == 4 and e.word not in seen and all(ch in tokenizer.word2id for ch in e.word))


def unseen_eval_idioms(tokenizer) -> list[str]:
    """评估接龙用的 200 个课程数据之外的成语（固定种子）；GRPO、RFT 出题时避开它们。"""
    return sample(unseen_idioms(tokenizer), 200, 0)


def eval_sets(tokenizer, per_type: int = 50) -> dict:
    """evaluate 用的固定题目（种子固定；训练用的成语和这里的不重叠：见各方法的 *_train_* 函数）。"""
    taught = taught_pairs()
    old = [q for kind in ("chain", "fill", "meaning", "pinyin") for q in sample([p for p in taught if p.type == kind], per_type, 0)]
    train, new_idioms, heldout = initials_records()
    words = sorted({p.idiom for p in taught})
    return {"old": old, "skill": {"trained": sample(train, per_type * 2, 0), "new_idioms": sample(new_idioms, per_type * 2, 0),
                                  "heldout": sample(heldout, per_type * 2, 0)},
            "made_up": dpo.made_up_idioms(per_type * 2, seed=1, alphabet=tokenizer.word2id),
            "taught_words": sample(words, per_type * 2, 0), "unseen": unseen_eval_idioms(tokenizer),
            # 接龙题教过的成语（有的成语的末字在课程数据里没有成语可接，数据里就没有它的接龙题）
            "taught_chain": sample(sorted({p.idiom for p in taught if p.type == "chain"}), 200, 0)}


# ---------------------------------------------------------------- 评估
def _em(model, tokenizer, records) -> tuple[float, list]:
    rep = exact_match_report(model, tokenizer, records, device="cpu")
    return rep["exact_match"], [{"question": e["question"], "predicted": e["predicted"]} for e in rep["examples"][:6]]


def chain_valid(model, tokenizer, words) -> tuple[float, list]:
    """“X接龙”的贪心回答里，词典判对（reward.chain_reward）的比例。"""
    got = greedy_answers(model, tokenizer, [grpo.CHAIN_PROMPT.format(w) for w in words], max_new_tokens=12)
    return sum(map(chain_reward, words, got)) / len(words), [{"question": w + "接龙", "predicted": a} for w, a in zip(words[:6], got)]


def pass_at_k(model, tokenizer, words, k: int = 8, seed: int = 0) -> float:
    """每个成语抽 k 个接龙回答（温度 1），至少一个有效的比例。"""
    _, replies = grpo.sample_groups(model, tokenizer, [grpo.CHAIN_PROMPT.format(w) for w in words], k, seed=seed)
    texts = grpo._texts(tokenizer, replies)
    return sum(any(chain_reward(w, t) for t in texts[i * k:(i + 1) * k]) for i, w in enumerate(words)) / len(words)


@torch.no_grad()
def evaluate(model, tokenizer, *, per_type: int = 50, pass8: bool = False) -> dict:
    """一份报告（模块说明里的 old / skill / refusal / chain）。LoRA 没合并的模型先合并再答（快速解码读 .weight）。"""
    sets = eval_sets(tokenizer, per_type)
    with lora.merged(model):
        model.eval()
        rep = exact_match_report(model, tokenizer, sets["old"], device="cpu")
        old = {k: v["exact_match"] for k, v in rep["by_type"].items()}
        old["mean"] = sum(old.values()) / len(old)
        skill = {k: _em(model, tokenizer, v) for k, v in sets["skill"].items()}
        unseen, ex_chain = chain_valid(model, tokenizer, sets["unseen"])
        taught, _ = chain_valid(model, tokenizer, sets["taught_chain"])
        fakes = sets["made_up"]
        refusal = {"made_up": dpo.refusal_rate(model, tokenizer, fakes), "taught": dpo.refusal_rate(model, tokenizer, sets["taught_words"])}
        asked = [q for _, q in dpo._meaning_questions(fakes[:6], 1, 0)]
        ex_refusal = [{"question": q, "predicted": a} for q, a in zip(asked, greedy_answers(model, tokenizer, asked, max_new_tokens=48))]
        return {"old": old, "skill": {k: em for k, (em, _) in skill.items()}, "refusal": refusal,
                "chain": {"unseen": unseen, "taught": taught,
                          "unseen_pass8": pass_at_k(model, tokenizer, sets["unseen"]) if pass8 else None},
                "examples": {"skill": skill["new_idioms"][1], "chain": ex_chain,
                             "refusal": ex_refusal}}


# ---------------------------------------------------------------- 训练循环（都是几行：模型、解码、损失都是包里现成的）
def _optimizer(model, lr: float) -> torch.optim.AdamW:
    return torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)


def sft_steps(model, tokenizer, records, *, steps: int, lr: float, batch_size: int = 32, seed: int = 0) -> list[float]:
    """在 records（问答对）上做 steps 步监督微调（只算答案的损失，train.train_step），返回每步的损失。
    LoRA 模型只训练 A、B（其余参数 requires_grad=False，优化器拿不到）。dropout 关着（model.eval()）。"""
    rng, opt, losses, order = random.Random(seed), _optimizer(model, lr), [], []
    model.eval()
    for _ in range(steps):
        if len(order) < batch_size:
            order += rng.sample(range(len(records)), len(records))
        picked, order = [records[i] for i in order[:batch_size]], order[batch_size:]
        batch = dpo.answer_batch(tokenizer, [r.question for r in picked], [r.answer for r in picked])
        losses.append(train_step(model, opt, batch, pad_token_id=tokenizer.pad_token_id, device="cpu").item())
    return losses


def dpo_steps(policy, reference, tokenizer, pairs, *, steps: int, lr: float, beta: float = 0.1, batch_size: int = 16,
              nll_weight: float = 0.0, seed: int = 0) -> dict:
    """DPO：每步随机取 batch_size 对，dpo.dpo_batch_loss，一步 AdamW。返回每步的损失、平均隐式奖励差（margin）、
    排对的比例（accuracy），和好、差回答各自的平均隐式奖励（chosen、rejected：两个都往下走说明好回答也在变得更不可能）。"""
    rng, opt = random.Random(seed), _optimizer(policy, lr)
    curve = {"step": [], "loss": [], "margin": [], "accuracy": [], "chosen": [], "rejected": []}
    policy.eval()
    for step in range(1, steps + 1):
        details = {}
        loss, margins = dpo.dpo_batch_loss(policy, reference, tokenizer, rng.sample(pairs, min(batch_size, len(pairs))), beta,
                                           nll_weight, details)
        opt.zero_grad()
        loss.backward()
        opt.step()
        for k, v in (("step", step), ("loss", loss.item()), ("margin", margins.mean().item()),
                     ("accuracy", (margins > 0).float().mean().item()), ("chosen", details["chosen"]),
                     ("rejected", details["rejected"])):
            curve[k].append(v)
    return curve


def grpo_steps(policy, reference, tokenizer, idioms, *, steps: int, lr: float, beta: float = 0.04,
               prompts_per_step: int = 16, group_size: int = 8, seed: int = 0) -> dict:
    """GRPO：每步从 idioms 随机取 prompts_per_step 个成语，grpo.grpo_step。返回每步的统计。"""
    rng, opt = random.Random(seed), _optimizer(policy, lr)
    curve = {k: [] for k in ("step", "reward", "kl", "length", "flat_groups", "loss")}
    policy.eval()
    for step in range(1, steps + 1):
        stats = grpo.grpo_step(policy, reference, opt, tokenizer, rng.sample(idioms, prompts_per_step),
                               group_size=group_size, beta=beta, seed=seed * 100_003 + step)
        curve["step"].append(step)
        for k in ("reward", "kl", "length", "flat_groups", "loss"):
            curve[k].append(round(stats[k], 5))
    return curve


# ---------------------------------------------------------------- 各方法
def with_replay(records: list) -> list:
    """新数据加上同样多条老数据（训练过的问答对，按种子抽）：只在新数据上微调，模型很快把老题型全答成新格式
    （实测：LoRA rank 2 只练出处题 600 步后，老题型 0%），这是业界通常的做法（replay）。LoRA 和全量微调用同样的数据。"""
    return list(records) + sample(list(taught_pairs()), len(records), 1)


def chain_train_idioms(tokenizer) -> list[str]:
    """GRPO、RFT 出题用的成语：课程数据之外、不在评估的 200 个里的成语（3/4），加上训练过的成语（1/4，复习）。"""
    unseen, held = unseen_idioms(tokenizer), set(unseen_eval_idioms(tokenizer))
    pool = [w for w in unseen if w not in held]
    taught = sorted({p.idiom for p in taught_pairs()})
    rng = random.Random(0)
    return rng.sample(pool, 3 * len(taught)) + taught


def run(method: str, *, rank: int = 8, root=ROOT, tag: str = "", say=print, **overrides) -> dict:
    """跑一种方法，写 root/<名字>/report.json 并返回它。名字是方法（lora 是 full 或 lora_r<rank>），tag 不空时再加 _tag。"""
    torch.manual_seed(0)
    model, tokenizer = load_for_inference(BASE)
    params = sum(p.numel() for p in model.parameters())
    name = {"lora": f"lora_r{rank}" if rank else "full"}.get(method, method) + (f"_{tag}" if tag else "")
    out = Path(root) / name
    out.mkdir(parents=True, exist_ok=True)
    start, result = time.perf_counter(), {"method": method, "params": params}
    if method == "base":
        result.update(eval=evaluate(model, tokenizer, pass8=True), minutes=0, steps=0, trainable=0)
    elif method == "lora":
        s = {**(LORA if rank else FULL), **overrides}
        if rank:
            lora.add_lora(model, rank=rank, alpha=2 * rank)
        train = initials_records()[0]
        losses = sft_steps(model, tokenizer, with_replay(train), steps=s["steps"], lr=s["lr"], batch_size=s["batch_size"])
        result.update(rank=rank, records=len(train), curve={"step": list(range(1, len(losses) + 1)), "loss": losses}, **s)
        if rank:
            lora.save_adapter(model, tokenizer, out / "adapter.pth", base=BASE.relative_to(REPO))
            result["adapter_kb"] = (out / "adapter.pth").stat().st_size / 1024
    elif method == "dpo":
        s = {**DPO, **overrides}
        reference = copy.deepcopy(model).eval().requires_grad_(False)
        sets = eval_sets(tokenizer)  # 训练用的假成语、反方向的成语都避开评估用的
        fakes = dpo.made_up_idioms(s["made_up"], seed=0, exclude=sets["made_up"], alphabet=tokenizer.word2id)
        pairs = dpo.refusal_pairs(model, tokenizer, fakes, questions_per_idiom=2)
        held = set(sets["taught_words"])  # 训练过的成语：真实的意思好过拒答（从不奖励对它们拒答）
        meaning = [p for p in taught_pairs() if p.type == "meaning" and p.idiom not in held]
        pairs += [dpo.PreferencePair(p.question, p.answer, dpo.REFUSAL, 0) for p in sample(meaning, s["taught"], 0)]
        dpo.write_pairs(out / "pairs.jsonl", pairs)
        result.update(pairs=len(pairs), curve=dpo_steps(model, reference, tokenizer, pairs, steps=s["steps"], lr=s["lr"],
                                                         beta=s["beta"], batch_size=s["batch_size"], nll_weight=s["nll_weight"]), **s)
    elif method == "grpo":
        s = {**GRPO, **overrides}
        reference = copy.deepcopy(model).eval().requires_grad_(False)
        curve = grpo_steps(model, reference, tokenizer, chain_train_idioms(tokenizer), steps=s["steps"], lr=s["lr"],
                           beta=s["beta"], prompts_per_step=s["prompts_per_step"], group_size=s["group_size"])
        result.update(samples=s["steps"] * s["prompts_per_step"] * s["group_size"], curve=curve, **s)
    elif method == "rft":  # 同样多的抽样：GRPO 的步数 × 每步的题 × 每题的回答
        s = {**GRPO, "sft_steps": 300, "sft_lr": 3e-4, **overrides}
        words = random.Random(0).sample(chain_train_idioms(tokenizer), s["steps"] * s["prompts_per_step"])
        records, counts = grpo.rejection_samples(model, tokenizer, words, s["group_size"], seed=0)
        grpo.write_qa(records, out / "train.jsonl")
        kept = read_qa_jsonl(out / "train.jsonl", warn=say, summary=False)
        losses = sft_steps(model, tokenizer, with_replay(kept), steps=s["sft_steps"], lr=s["sft_lr"])
        result.update(samples=counts["samples"], kept=counts["kept"], counts=counts,
                      curve={"step": list(range(1, len(losses) + 1)), "loss": losses}, **s)
    else:
        raise ValueError(f"没有这种方法：{method}")
    if method != "base":
        if method != "lora" or not rank:  # LoRA 只存适配器（上面）；别的存整个模型（fp32，约 16 MB），report 命令重新评估时用
            save_checkpoint(out / "model.pth", model, "gpt", tokenizer, step=0)
        result["trainable"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
        result["train_minutes"] = (time.perf_counter() - start) / 60
        result["eval"] = evaluate(model, tokenizer, pass8=method in ("grpo", "rft"))
    result["minutes"] = (time.perf_counter() - start) / 60
    atomic_write_text(out / "report.json", json.dumps(result, ensure_ascii=False, indent=1))
    say(f"{name}：{result['minutes']:.1f} 分钟 → {out / 'report.json'}")
    return result


def reevaluate(root=ROOT, say=print) -> None:
    """重新评估 root 下每个运行存下的模型（model.pth，或原模型 + adapter.pth），改写 report.json 的 eval：
    评估改了以后不必重新训练。"""
    for name, r in reports(root).items():
        out = Path(root) / name
        if (out / "adapter.pth").is_file():
            model, tokenizer = lora.load_adapter(out / "adapter.pth", BASE)
        else:
            model, tokenizer = load_for_inference(out / "model.pth" if name != "base" else BASE)
        r["eval"] = evaluate(model, tokenizer, pass8=r["method"] in ("base", "grpo", "rft"))
        atomic_write_text(out / "report.json", json.dumps(r, ensure_ascii=False, indent=1))
        say(f"{name}：重新评估完")


NAMES = ("base", "full", "lora_r2", "lora_r8", "lora_r32", "dpo", "grpo", "rft")


def reports(root=ROOT) -> dict:
    """root 下跑完了的运行（有 report.json）：先按 NAMES 的顺序，再是带 tag 的（按名字排）。"""
    done = sorted(p.parent.name for p in Path(root).glob("*/report.json"))
    names = [n for n in NAMES if n in done] + [n for n in done if n not in NAMES]
    return {n: json.loads((Path(root) / n / "report.json").read_text(encoding="utf-8")) for n in names}


def table(root=ROOT) -> str:
    lines = ["| 运行 | 可训练参数 | 分钟 | 首字母（练过的 / 没练过的成语 / 换说法） | 拒答：编的 / 学过的 | 接龙有效：没见过 / 学过的 | 老题型平均 |",
             "|---|---|---|---|---|---|---|"]
    for name, r in reports(root).items():
        e = r["eval"]
        lines.append(f"| {name} | {r['trainable']:,} | {r['minutes']:.1f} | {e['skill']['trained']:.1%} / {e['skill']['new_idioms']:.1%} / {e['skill']['heldout']:.1%} "
                     f"| {e['refusal']['made_up']:.1%} / {e['refusal']['taught']:.1%} "
                     f"| {e['chain']['unseen']:.1%} / {e['chain']['taught']:.1%} | {e['old']['mean']:.1%} |")
    return "\n".join(lines)


def collect(root=ROOT, output=RESULTS) -> dict:
    """各运行的 report.json 收进一个文件（第 11 章的 notebook 读它画表和图），带上机器的说明。"""
    import platform

    results = {"machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} 个线程可用，torch {torch.__version__}",
               "base": None, "runs": {}}
    for name, r in reports(root).items():
        if name == "base":
            results["base"] = r["eval"]
        else:
            results["runs"][name] = r
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(output, json.dumps(results, ensure_ascii=False, indent=1))
    return results


def main(argv=None) -> int:
    p = ArgumentParser(description="第 11 章的实验：LoRA、DPO、GRPO、拒绝采样微调，都从仓库自带的模型出发")
    p.add_argument("command", choices=("base", "lora", "dpo", "grpo", "rft", "report", "table", "collect"))
    p.add_argument("--rank", type=int, default=8, help="lora 的秩；0：全量微调")
    p.add_argument("--steps", type=int, default=None, help="训练步数（默认见模块里的 LORA、FULL、DPO、GRPO）")
    p.add_argument("--lr", type=float, default=None, help="学习率")
    p.add_argument("--nll-weight", type=float, default=None, help="dpo：好回答的负对数似然的权重（RPO；0：纯 DPO；默认见 DPO）")
    p.add_argument("--root", default=str(ROOT), help="结果文件夹")
    p.add_argument("--tag", default=None, help="加在运行名字后面（同一种方法换了设置时）：lora_r2_<tag>")
    p.add_argument("--threads", type=int, default=None, help="torch 用几个 CPU 线程")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.command == "report":
        reevaluate(args.root)
    elif args.command == "table":
        print(table(args.root))
    elif args.command == "collect":
        collect(args.root)
        print(f"已写入 {RESULTS}")
    else:
        overrides = {k: v for k, v in (("steps", args.steps), ("lr", args.lr), ("nll_weight", args.nll_weight)) if v is not None}
        run(args.command, rank=args.rank, root=args.root, tag=args.tag or "", **overrides)
    return 0


if __name__ == "__main__":
    sys.exit(main())
