"""第 10 章的实验：只在预训练里当文字读过的知识，微调以后问得出来吗？（Allen-Zhu & Li 2023 在成语上重做）

    python -m minigpt.knowledge prepare                          # output/ch10/：两半成语的问答、语料、共用的词表
    python -m minigpt.knowledge run augmented --threads 1        # 预训练 20 分钟 → 在 A 半的问答上微调 8 分钟 → 问 B 半
    python -m minigpt.knowledge run fixed --threads 1            # 同样的时间，语料是固定格式
    python -m minigpt.knowledge run mixed --threads 1            # 28 分钟的预训练里混进 A 半的问答（不再微调）
    python -m minigpt.knowledge run sft_only --threads 1         # 不预训练，28 分钟只在 A 半的问答上训练
    python -m minigpt.knowledge run mixed --arch qwen3 --threads 1   # 同样大小的 Qwen3（RoPE）：位置编码的影响
    python -m minigpt.knowledge run mixed_unpacked --threads 1   # 不打包：一篇文档一行、从位置 0 开始（和提问时一样）
    python -m minigpt.knowledge run augmented_unpacked --threads 1
    python -m minigpt.knowledge run mixed_unpacked --arch qwen3 --threads 2 --root output/ch10_2t   # 独占 2 核：第 10 章的目标
    python -m minigpt.knowledge report                           # 只重新评估训练好的检查点
    python -m minigpt.knowledge table                            # 各变体在 B 半上的精确匹配（按题型）
    python -m minigpt.knowledge collect                          # → notebooks/results/10_knowledge.json（第 10 章画图用）
    python -m minigpt.knowledge sft-after mixed --arch qwen3 --sft-minutes 6 --threads 1   # 混合训练之后再微调 6 分钟
    python -m minigpt.knowledge run mixed --arch qwen3 --threads 1 --minutes 56 --root output/ch10_long   # 加倍的时间
    python -m minigpt.knowledge collect --root output/ch10_long --output notebooks/results/10_knowledge_long.json

课程的 3,782 个成语按种子分成两半。预训练的语料写**全部**成语的拼音和释义（minigpt.corpus，只写这两个
事实：语料短三倍，30 分钟能多读几遍）；微调只用 A 半成语的问答（data/data.jsonl 的四种题型）；最后问 B 半
成语的问题——它们的拼音和释义，模型只在预训练里当文字读过。每个变体都用同样的总时间（默认 28 分钟）。

变体（VARIANTS）：fixed / augmented 先预训练再微调，mixed 把 A 半的问答当文档混进预训练（论文的
“混合训练”），sft_only 不预训练（对照：B 半的事实模型从没见过，只能编）。*_unpacked 同样的训练，
只是预训练不打包（pretrain --no-pack）：每篇文档单独一行，从位置 0 开始，看不见别的文档。

    python -m minigpt.knowledge compare checkpoints/minigpt-idiom.pth output/ship/run/last_model.pth
    # 两个模型答 checkpoints/README.md 那张表的题（course_report），外加课程数据之外的 200 个词典成语
"""
from __future__ import annotations

import json
import random
import sys
from pathlib import Path

if __package__ in (None, ""):  # 以 `python ./minigpt/knowledge.py` 运行时
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minigpt.checkpoint import LAST, load_checkpoint, load_tokenizer
from minigpt.cli import ArgumentParser, UserError, report
from minigpt.corpus import corpus_jsonl, idiom_entries, read_corpus
from minigpt.evaluate import exact_match_report
from minigpt.jsonl import QAPair, atomic_write, atomic_write_text, read_qa_jsonl
from minigpt.runlog import read_metrics

__all__ = ["FACTS", "VARIANTS", "SFT_LR", "IN_SENTENCE", "split_idioms", "prepare", "run_name", "run_variant", "sft_after",
           "knowledge_report", "course_report", "compare", "runs", "table", "collect", "main"]

COURSE_DATA = Path(__file__).resolve().parent.parent / "data" / "data.jsonl"
HELDOUT = COURSE_DATA.with_name("heldout_phrasings.jsonl")
FACTS = ("pinyin", "meaning")  # 语料写哪几个事实
# 名字 → (预训练语料的写法，None：不预训练；问答是否混进预训练；是否打包)
VARIANTS = {"fixed": ("fixed", False, True), "augmented": ("augmented", False, True), "mixed": ("augmented", True, True),
            "sft_only": (None, False, True), "augmented_unpacked": ("augmented", False, False),
            "mixed_unpacked": ("augmented", True, False)}
UNPACKED_BATCH = 32  # 不打包时一行平均 ~45 个 token：每步 32 行，和打包的 16 行 × 128 读的 token 数相近
SFT_LR = 5e-4  # 第二阶段：比从头训练（1e-3）小，基座学到的东西不被冲掉
EVAL_PER_TYPE = 200  # 最终报告每种题型问多少道


def split_idioms(records, seed: int = 0) -> tuple[set, set]:
    """(A 半, B 半)：records（带 idiom 字段的问答对）里的成语，按种子打乱后对半分。"""
    idioms = sorted({r.record["idiom"] for r in records})
    random.Random(seed).shuffle(idioms)
    half = len(idioms) // 2
    return set(idioms[:half]), set(idioms[half:])


def _jsonl(pairs) -> str:
    return "".join(p.raw + "\n" for p in pairs)


def prepare(root="output/ch10", data=COURSE_DATA, seed: int = 0, say=print) -> dict:
    """写出实验的输入：qa_a.jsonl（微调用）、qa_b.jsonl（只提问）、corpus_fixed/augmented.jsonl、vocab.json。"""
    from minigpt.pretrain import COURSE_QA, corpus_tokenizer

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    pairs = read_qa_jsonl(data, warn=say, summary=False)
    a, b = split_idioms(pairs, seed)
    atomic_write_text(root / "qa_a.jsonl", _jsonl(p for p in pairs if p.record["idiom"] in a))
    atomic_write_text(root / "qa_b.jsonl", _jsonl(p for p in pairs if p.record["idiom"] in b))
    docs = []
    for form in ("fixed", "augmented"):
        text = corpus_jsonl(form, idioms=a | b, facts=FACTS)
        atomic_write(root / f"corpus_{form}.jsonl", lambda f: f.write(text))
        docs += [json.loads(line)["text"] for line in text.decode("utf-8").splitlines()]
    tok = corpus_tokenizer(docs, [data, *COURSE_QA[1:]], root / "vocab.json")
    say(f"{root}：A 半 {len(a):,} 个成语、B 半 {len(b):,} 个；词表 {len(tok):,} 个 token")
    return {"a": a, "b": b}


def run_name(variant: str, arch: str = "gpt") -> str:
    """结果文件夹的名字：GPT 就是变体名，Qwen3（RoPE 位置编码）加后缀 _qwen3。"""
    return variant if arch == "gpt" else f"{variant}_{arch}"


def run_variant(variant: str, root="output/ch10", *, minutes: float = 28, sft_minutes: float = 8,
                threads: int | None = None, arch: str = "gpt") -> dict:
    """跑一个变体（预训练 minutes - sft_minutes 分钟，再微调 sft_minutes 分钟；mixed、sft_only 只有一段），
    然后在两半成语上评估，写 root/run_name(variant, arch)/report.json 并返回它。"""
    from minigpt import pretrain

    form, mixed, packed = VARIANTS[variant]
    root, out = Path(root), Path(root) / run_name(variant, arch)
    common = _common_args(root, arch, threads)
    one_stage = mixed or form is None
    if form is not None:
        corpus = str(root / f"corpus_{form}.jsonl")  # 验证损失就在读过的文字上算：背下来了多少（不留出成语）
        args = ["--corpus", corpus, "--val-corpus", corpus, "--qa-val", str(root / "qa_b.jsonl"),
                "--output-dir", str(out / "pretrain"), "--max-minutes", str(minutes if one_stage else minutes - sft_minutes)]
        if mixed:
            args += ["--qa-train", str(root / "qa_a.jsonl")]
        if not packed:
            args += ["--no-pack", "--batch-size", str(UNPACKED_BATCH)]
        if pretrain.main(args + common):
            raise SystemExit(f"{variant}：预训练失败")
    if not mixed:
        _sft(root, out, minutes if one_stage else sft_minutes, common, init=None if form is None else out / "pretrain" / LAST)
    final = out / ("pretrain" if mixed else "sft") / LAST
    result = knowledge_report(final, root)
    result.update(variant=variant, arch=arch, minutes=minutes, sft_minutes=0 if one_stage else sft_minutes)
    atomic_write_text(out / "report.json", json.dumps(result, ensure_ascii=False, indent=1))
    return result


def _common_args(root: Path, arch: str, threads: int | None) -> list[str]:
    """两段训练共用的命令行选项：实验的词表、从头开始、不写 TensorBoard、不显示进度条。"""
    return ["--vocab", str(root / "vocab.json"), "--no-resume", "--tensorboard-dir", "", "--no-progress",
            "--arch", arch, *(["--threads", str(threads)] if threads else [])]


def _sft(root: Path, out: Path, minutes: float, common: list, init=None) -> None:
    """在 A 半的问答上微调 minutes 分钟（只算答案的损失），写 out/sft/；init：从这个检查点出发（小学习率、短预热）。"""
    from minigpt import train

    args = ["--train", str(root / "qa_a.jsonl"), "--val", str(root / "qa_b.jsonl"), "--output-dir", str(out / "sft"),
            "--max-minutes", str(minutes), "--answer-only-loss", "--heldout", "", "--final-eval-samples", "100"]
    if init is not None:
        args += ["--init-from", str(init), "--lr", str(SFT_LR), "--warmup-steps", "50"]
    if train.main(args + common):
        raise SystemExit(f"{out.name}：微调失败")


def sft_after(variant: str, root="output/ch10", *, sft_minutes: float = 6, threads: int | None = None,
              arch: str = "gpt") -> dict:
    """跑完的 mixed 变体再在 A 半的问答上微调 sft_minutes 分钟（混合训练 → 微调），写 root/<名字>_sft/report.json。"""
    root, base = Path(root), Path(root) / run_name(variant, arch)
    out = root / f"{run_name(variant, arch)}_sft"
    done = json.loads((base / "report.json").read_text(encoding="utf-8"))
    _sft(root, out, sft_minutes, _common_args(root, arch, threads), init=base / "pretrain" / LAST)
    result = knowledge_report(out / "sft" / LAST, root)
    result.update(variant=f"{variant}_sft", arch=arch, minutes=done["minutes"] + sft_minutes, sft_minutes=sft_minutes)
    atomic_write_text(out / "report.json", json.dumps(result, ensure_ascii=False, indent=1))
    return result


# 问在一句话里的问题：学习者平常这样打字（不是数据的问法模板）。{w} 是成语。
IN_SENTENCE = {
    "meaning": ("我同事说我做事总是{w}，{w}到底是什么意思？", "老师批评我的作文{w}，这是啥意思啊", "看新闻看到“{w}”这个词，它是什么意思？"),
    "pinyin": ("孩子问我{w}怎么读，我也不确定，拼音是什么？", "读课文遇到{w}，这几个字怎么念？", "{w}的拼音怎么写？我要给孩子注音"),
}


def _sample(pairs, per_type: int, seed: int) -> list:
    picked = []
    for kind in sorted({p.type for p in pairs}):
        of_kind = [p for p in pairs if p.type == kind]
        picked += random.Random(seed).sample(of_kind, min(per_type, len(of_kind)))
    return picked


def _in_sentence(pairs, seed: int) -> list:
    """B 半的意思、读音题换成问在一句话里的问法（答案不变），每个 (成语, 题型) 一道。"""
    rng, seen, out = random.Random(seed), set(), []
    for p in pairs:
        key = (p.record["idiom"], p.type)
        if p.type in IN_SENTENCE and key not in seen:
            seen.add(key)
            question = rng.choice(IN_SENTENCE[p.type]).format(w=p.record["idiom"])
            out.append(QAPair(question, p.answer, 0, json.dumps({"question": question, "answer": p.answer,
                                                                  "type": p.type, "idiom": p.record["idiom"]}, ensure_ascii=False)))
    return out


def _summary(rep: dict, n_examples: int = 40) -> dict:
    return {"exact_match": rep["exact_match"], "by_type": rep["by_type"],
            "examples": rep["examples"][:: max(1, len(rep["examples"]) // n_examples)]}


def knowledge_report(checkpoint, root="output/ch10", per_type: int = EVAL_PER_TYPE, seed: int = 0) -> dict:
    """checkpoint 答得怎么样，每组每种题型最多 per_type 道（固定种子抽样）：
    a（微调过的 A 半，训练时的问法）、a_heldout（A 半，data/heldout_phrasings.jsonl 里没训练过的问法）、
    b（B 半：只当文字读过）、b_sentence（B 半的意思、读音，问在一句话里），以及 B 半接龙的有效率
    （回答是词典里以末字开头的成语，minigpt.reward）。"""
    from minigpt.reward import chain_reward

    model, meta = load_checkpoint(checkpoint)
    tokenizer = load_tokenizer(meta)
    quiet = dict(warn=lambda m: None, summary=False)
    pairs = {half: read_qa_jsonl(Path(root) / f"qa_{half}.jsonl", **quiet) for half in ("a", "b")}
    a_idioms = {p.record["idiom"] for p in pairs["a"]}
    heldout = [p for p in read_qa_jsonl(HELDOUT, **quiet) if p.record["idiom"] in a_idioms]
    groups = {"a": _sample(pairs["a"], per_type, seed), "a_heldout": _sample(heldout, per_type, seed),
              "b": _sample(pairs["b"], per_type, seed), "b_sentence": _sample(_in_sentence(pairs["b"], seed), per_type, seed)}
    result = {"checkpoint": str(checkpoint), "step": meta["step"], "params": sum(p.numel() for p in model.parameters())}
    for name, records in groups.items():
        rep = exact_match_report(model, tokenizer, records, device="cpu")
        result[name] = _summary(rep)
        if name == "b":
            chains = [(r.record["idiom"], e["predicted"]) for r, e in zip(records, rep["examples"]) if r.type == "chain"]
            result["b_chain_valid"] = sum(chain_reward(i, a) for i, a in chains) / max(1, len(chains))
    return result


def course_report(checkpoint, words=None, n: int = 500, seed: int = 42) -> dict:
    """和 checkpoints/README.md 的表同样的题，用来决定要不要换掉仓库自带的模型：data/data.jsonl 按成语 8:2
    划分（种子 42，split_data.py 的划分）后，train.py 最终报告抽的那些题——训练过的成语（train）、它们的留出问法
    （heldout）、没见过的成语（val），每组 n 题；再加课程数据之外的词典成语 words（默认：posttrain.unseen_eval_idioms，
    200 个）：“X怎么读？”（逐音节）和“X接龙”（有效率）。词表不同的两个模型比较时，给同一份 words。"""
    from minigpt.evaluate import sample, taught_heldout
    from minigpt.posttrain import _course_pairs, _qa, chain_valid, unseen_eval_idioms
    from minigpt.split_data import grouped_shuffle_and_cut

    model, meta = load_checkpoint(checkpoint)
    tokenizer = load_tokenizer(meta)
    by_raw = {p.raw: p for p in _course_pairs()}
    train_raw, val_raw, *_ = grouped_shuffle_and_cut(list(by_raw.values()), 0.8, seed, "idiom")
    train, val = [by_raw[r] for r in train_raw], [by_raw[r] for r in val_raw]
    heldout = taught_heldout(read_qa_jsonl(HELDOUT, warn=lambda m: None, summary=False), train)
    groups = {"train": sample(train, n, seed + 2), "val": sample(val, n, seed + 3), "heldout": sample(heldout, n, seed + 4)}
    result = {"checkpoint": str(checkpoint), "step": meta["step"], "params": sum(p.numel() for p in model.parameters())}
    for name, records in groups.items():
        result[name] = _summary(exact_match_report(model, tokenizer, records, device="cpu"))
    words = unseen_eval_idioms(tokenizer) if words is None else words
    entries = {e.word: e for e in idiom_entries()}
    reading = [_qa(f"{w}怎么读？", entries[w].pinyin, "pinyin", w) for w in words]
    result["dictionary"] = {"n": len(words), "pinyin": _summary(exact_match_report(model, tokenizer, reading, device="cpu")),
                            "chain_valid": chain_valid(model, tokenizer, words)[0]}
    return result


def compare(checkpoints, n: int = 500) -> tuple[list[dict], str]:
    """几个模型的 course_report（同一份课程外成语：第一个模型词表里的 200 个）和一张对照表。"""
    from minigpt.posttrain import unseen_eval_idioms

    words = unseen_eval_idioms(load_tokenizer(load_checkpoint(checkpoints[0])[1]))
    reports = [course_report(c, words, n) for c in checkpoints]
    lines = ["| 模型 | 训练过的成语 | 换问法 | 没见过的成语 | 没见过·读音逐音节 | 没见过·接龙 | 词典成语·读音逐音节 | 词典成语·接龙有效 |",
             "|---|---|---|---|---|---|---|---|"]
    for r in reports:
        val, d = r["val"]["by_type"], r["dictionary"]
        lines.append(f"| {r['checkpoint']} | {r['train']['exact_match']:.1%} | {r['heldout']['exact_match']:.1%} "
                     f"| {r['val']['exact_match']:.1%} | {val['pinyin']['char_acc']:.1%} | {val['chain']['exact_match']:.1%} "
                     f"| {d['pinyin']['by_type']['pinyin']['char_acc']:.1%} | {d['chain_valid']:.1%} |")
    return reports, "\n".join(lines)


def runs(root="output/ch10") -> list[str]:
    """root 下跑完了的变体（有 report.json），按 VARIANTS 的顺序，GPT 在前、Qwen3 在后；sft-after 的（_sft）跟在后面。"""
    names = [run_name(v, arch) for arch in ("gpt", "qwen3") for v in VARIANTS]
    names += [f"{n}_sft" for n in names]
    return [n for n in names if (Path(root) / n / "report.json").is_file()]


def table(root="output/ch10") -> str:
    """各变体的报告排成一张表（B 半：意思、读音、逐音节；A 半：全部）。"""
    lines = ["| 变体 | 分钟 | B·意思 | B·读音 | B·读音逐音节 | B·接龙有效 | B·问在句子里 | A·训练问法 | A·换问法 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name in runs(root):
        r = json.loads((Path(root) / name / "report.json").read_text(encoding="utf-8"))
        b = r["b"]["by_type"]
        lines.append(f"| {name} | {r['minutes']:g} | {b['meaning']['exact_match']:.1%} | {b['pinyin']['exact_match']:.1%} "
                     f"| {b['pinyin']['char_acc']:.1%} | {r['b_chain_valid']:.1%} | {r['b_sentence']['exact_match']:.1%} "
                     f"| {r['a']['exact_match']:.1%} | {r['a_heldout']['exact_match']:.1%} |")
    return "\n".join(lines)


RESULTS = Path(__file__).resolve().parent.parent / "notebooks" / "results" / "10_knowledge.json"


def _curve(path: Path) -> dict:
    """一段训练的曲线：每 10 步的训练损失，每次评估的验证损失和 B 半各题型的精确匹配。"""
    rows = read_metrics(path) if path.is_file() else []
    train_rows = [r for r in rows if "train_loss" in r]
    evals = [r for r in rows if "val_loss" in r]
    return {"step": [r["step"] for r in train_rows], "epoch": [round(r["epoch"], 4) for r in train_rows],
            "train_loss": [round(r["train_loss"], 4) for r in train_rows],
            "tokens_per_s": [round(r["tokens_per_s"]) for r in train_rows],
            "eval_step": [r["step"] for r in evals], "val_loss": [round(r["val_loss"], 4) for r in evals],
            "val_em": {k: [r["by_type"]["val"].get(k, {}).get("exact_match") for r in evals]
                       for k in ("meaning", "pinyin", "fill", "chain")}}


def _qa_tokens_per_epoch(root) -> int:
    """微调一轮的有用 token 数：A 半每个问答对 问题 <sep> 答案 <sep> 的输入位置（长度 - 1）之和。"""
    pairs = read_qa_jsonl(Path(root) / "qa_a.jsonl", warn=lambda m: None, summary=False)
    return sum(len(p.question) + len(p.answer) + 1 for p in pairs)  # 字符级：一个字一个 token


def _pretrain_tokens(root, variant: str, curve: dict) -> int:
    """预训练读过的 token：打包时是步数 × 16 行 × 128（默认设置）；不打包时是轮数 × 每轮的目标数
    （每篇文档的字数，混合训练再加上 A 半每个问答对的 问题 <sep> 答案）。"""
    from minigpt.pretrain import PretrainSettings

    if not curve["step"]:
        return 0
    form, mixed, packed = VARIANTS[variant]
    if packed:
        return curve["step"][-1] * PretrainSettings().batch_size * 128
    per_epoch = sum(len(doc) for doc in read_corpus(Path(root) / f"corpus_{form}.jsonl"))
    return round(curve["epoch"][-1] * (per_epoch + (_qa_tokens_per_epoch(root) if mixed else 0)))


def collect(root="output/ch10", output=RESULTS) -> dict:
    """把各变体的 report.json、两段训练的曲线和读过的 token 数（预训练：_pretrain_tokens；
    微调：轮数 × 每轮的 token）收进一个文件（第 10 章的 notebook 读它画表和图）。"""
    results, per_epoch = {}, _qa_tokens_per_epoch(root)
    for name in runs(root):
        r = json.loads((Path(root) / name / "report.json").read_text(encoding="utf-8"))
        r["curves"] = c = {stage: _curve(Path(root) / name / stage / "metrics.jsonl") for stage in ("pretrain", "sft")}
        r["tokens"] = {"pretrain": _pretrain_tokens(root, r["variant"], c["pretrain"]) if r["variant"] in VARIANTS else 0,
                       "sft": round(c["sft"]["epoch"][-1] * per_epoch) if c["sft"]["step"] else 0}
        if name.endswith("_sft") and name.removesuffix("_sft") in results:  # sft-after：前一段是那次跑完的混合训练
            r["curves"]["pretrain"] = results[name.removesuffix("_sft")]["curves"]["pretrain"]
            r["tokens"]["pretrain"] = results[name.removesuffix("_sft")]["tokens"]["pretrain"]
        r["flops"] = 6 * r["params"] * sum(r["tokens"].values())
        results[name] = r
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(output, json.dumps(results, ensure_ascii=False, indent=1))
    return results


def main(argv=None) -> int:
    p = ArgumentParser(description="第 10 章的实验：只当文字读过的知识，微调以后问得出来吗？")
    p.add_argument("command", choices=("prepare", "run", "sft-after", "report", "table", "collect", "compare"))
    p.add_argument("variant", nargs="*", help="run、sft-after 的变体（" + " / ".join(VARIANTS) + "）；compare 的检查点")
    p.add_argument("--root", default="output/ch10", help="实验文件夹")
    p.add_argument("--minutes", type=float, default=28, help="每个变体的总分钟数（预训练 + 微调）")
    p.add_argument("--sft-minutes", type=float, default=8, help="其中微调的分钟数")
    p.add_argument("--threads", type=int, default=None, help="torch 用几个 CPU 线程（两个变体并排跑时用 1）")
    p.add_argument("--output", default=None, help=f"collect 写到哪个文件（默认 {RESULTS.relative_to(RESULTS.parents[2])}）；"
                   "compare 给了才把报告写到这里")
    p.add_argument("--arch", default="gpt", choices=("gpt", "qwen3"),
                   help="模型架构：gpt（第 5 章，学出来的绝对位置）或 qwen3（第 8 章，RoPE 相对位置），同样的 cpu 大小")
    args = p.parse_args(argv)
    if args.command in ("run", "sft-after"):
        if len(args.variant) != 1 or args.variant[0] not in VARIANTS:
            p.error(f"{args.command} 要给一个变体：" + " / ".join(VARIANTS))
        args.variant = args.variant[0]
    try:
        if args.command == "prepare":
            prepare(args.root)
        elif args.command == "run":
            r = run_variant(args.variant, args.root, minutes=args.minutes, sft_minutes=args.sft_minutes, threads=args.threads,
                            arch=args.arch)
            print(json.dumps({k: r[k] for k in ("variant", "step")}, ensure_ascii=False))
            print(table(args.root))
        elif args.command == "sft-after":
            sft_after(args.variant, args.root, sft_minutes=args.sft_minutes, threads=args.threads, arch=args.arch)
            print(table(args.root))
        elif args.command == "report":  # 只重新评估（检查点已经训练好）：报告里缺了哪一组，就补上
            for name in runs(args.root):
                old = json.loads((Path(args.root) / name / "report.json").read_text(encoding="utf-8"))
                if "b_chain_valid" in old:
                    continue
                r = {**old, **knowledge_report(old["checkpoint"], args.root)}
                atomic_write_text(Path(args.root) / name / "report.json", json.dumps(r, ensure_ascii=False, indent=1))
            print(table(args.root))
        elif args.command == "compare":
            if not args.variant:
                p.error("compare 要给至少一个检查点")
            reports, text = compare(args.variant)
            if args.output:
                atomic_write_text(args.output, json.dumps(reports, ensure_ascii=False, indent=1))
            print(text)
        elif args.command == "collect":
            collect(args.root, args.output or RESULTS)
            print(f"写入 {args.output or RESULTS}")
        else:
            print(table(args.root))
    except UserError as e:
        return report(e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
