"""第 6 章的评估：验证损失、贪心回答的精确匹配（按题型分开）、逐字准确率，以及把它们排成一张小表。

    from minigpt.evaluate import EvalSet, evaluate, format_report
    evalset = EvalSet.fixed(train_ds, val_ds, n=100, n_val_loss=1000, seed=42)   # 题取自两个 QADataset 的 .pairs
    row, em_train, em_val = evaluate(model, tokenizer, evalset, step=100, device=device)
    print(format_report(row))

问答模型的损失低不等于会回答：精确匹配让模型对问题贪心地生成回答（minigpt.generate.greedy_answers），
和参考答案逐字比较。每次评估用同一批题（固定的随机种子抽样），前后的数字才能比较。
"""
import random
import time
import unicodedata
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from minigpt.common import autocast, unwrap
from minigpt.generate import greedy_answers
from minigpt.qa_dataset import QADataset, collate_batch

__all__ = ["char_accuracy", "exact_match_report", "validation_loss", "sample", "taught_heldout", "EvalSet", "evaluate",
           "format_report"]


def char_accuracy(pred: str, ref: str) -> float:
    """预测在多少位置上和参考答案的字相同（长度不同的部分算错）。

    拼音答案（"yī sī yī háo"）按音节比较，也就是每个成语字一个单位：
    一个音节长度不同，不该让后面的每个字母都算错。
    """
    if " " in ref:
        pred, ref = pred.split(), ref.split()
    if not pred and not ref:
        return 1.0
    return sum(a == b for a, b in zip(pred, ref)) / max(len(pred), len(ref))


def exact_match_report(model, tokenizer, records, *, device, dtype=torch.float32) -> dict:
    """records（有 question、answer、type 的问答对）上贪心回答的精确匹配：总的、每种题型的（外加逐字准确率）。"""
    if not records:
        return {"n": 0, "exact_match": None, "by_type": {}, "examples": []}
    longest = max(len(tokenizer.encode_text(r.answer)) for r in records)
    preds = greedy_answers(model, tokenizer, [r.question for r in records], max_new_tokens=longest + 1,
                           device=device, dtype=dtype)
    by_type = {}
    for r, p in zip(records, preds):
        t = by_type.setdefault(r.type, {"n": 0, "correct": 0, "char_acc_sum": 0.0})
        t["n"] += 1
        t["correct"] += p == r.answer
        t["char_acc_sum"] += char_accuracy(p, r.answer)
    report = {"n": len(records), "exact_match": sum(p == r.answer for r, p in zip(records, preds)) / len(records),
              "by_type": {}}
    for name, t in sorted(by_type.items()):
        report["by_type"][name] = {"n": t["n"], "exact_match": t["correct"] / t["n"], "char_acc": t["char_acc_sum"] / t["n"]}
    report["examples"] = [{"question": r.question, "answer": r.answer, "predicted": p, "type": r.type}
                          for r, p in zip(records, preds)]
    return report


@torch.no_grad()
def validation_loss(model, dataset, indices, *, pad_token_id, device, dtype, batch_size=64) -> float:
    """indices 这些题上每个目标 token 的平均交叉熵（按长度排序分批：快，而且每次结果一样）。"""
    model = unwrap(model)
    was_training = model.training
    model.eval()
    order = sorted(indices, key=lambda i: dataset.lengths[i])
    total, count = 0.0, 0
    for start in range(0, len(order), batch_size):
        batch = collate_batch([dataset[i] for i in order[start : start + batch_size]], pad_token_id)
        targets = batch["targets"].to(device)  # (B, T)
        with autocast(device, dtype):
            logits = model(batch["input_ids"].to(device))  # (B, T, vocab)；右填充：只用因果注意力就是准确的
        loss = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=pad_token_id, reduction="sum")
        total += loss.item()
        count += (targets != pad_token_id).sum().item()
    model.train(was_training)
    return total / max(1, count)


def sample(records, n, seed):
    """固定的抽样：同样的随机种子 → 每次评估、每次训练都是同样的题。"""
    if n is None or n >= len(records):
        return list(records)
    return random.Random(seed).sample(records, n)


def taught_heldout(heldout_pairs: list, train_pairs: list) -> list:
    """留出问法（data/heldout_phrasings.jsonl）里问的是训练过的成语的那些题。

    训练集里教过的成语，换一种训练中从没出现过的问法再问：答对说明模型认出了成语和题型，
    而不是背下了问题字符串。没有 "idiom" 字段的数据无从判断，返回空列表。
    """
    taught = {p.idiom for p in train_pairs} - {None}
    return [p for p in heldout_pairs if p.idiom in taught]


@dataclass
class EvalSet:
    """训练中每次评估用的题，一次抽好。"""

    val_ds: QADataset  # 验证损失在它上面算
    train_pairs: list  # 全部训练问答对（QAPair：question、answer、type）
    val_pairs: list  # 全部验证问答对
    val_loss_indices: list[int]  # 验证损失用的固定子集
    train_sample: list  # 训练中每次评估答的训练题
    val_sample: list  # 训练中每次评估答的验证题
    seed: int  # 最终报告用同样的随机种子抽更多的题
    heldout_pairs: list = field(default_factory=list)  # 训练过的成语、留出的问法（taught_heldout）；空：不评估
    heldout_sample: list = field(default_factory=list)  # 训练中每次评估答的留出问法题

    @classmethod
    def fixed(cls, train_ds, val_ds, *, n, n_val_loss, seed, heldout_pairs=()) -> "EvalSet":
        """题取自两个数据集已经读好的问答对（QADataset.pairs），抽样的随机种子固定。"""
        heldout_pairs = list(heldout_pairs)
        return cls(val_ds, train_ds.pairs, val_ds.pairs, sample(list(range(len(val_ds))), n_val_loss, seed + 1),
                   sample(train_ds.pairs, n, seed + 2), sample(val_ds.pairs, n, seed + 3), seed,
                   heldout_pairs, sample(heldout_pairs, n, seed + 4))


def evaluate(model, tokenizer, evalset: EvalSet, *, step, device, dtype=torch.float32, final_n=None):
    """一次评估 → (row, 训练题报告, 验证题报告)。row 写进 metrics.jsonl。

    final_n：最终报告，每边换成 final_n 道题（同样的随机种子，所以包含训练中评估的那些题）。
    """
    tr, va, ho = evalset.train_sample, evalset.val_sample, evalset.heldout_sample
    if final_n is not None:
        tr, va = sample(evalset.train_pairs, final_n, evalset.seed + 2), sample(evalset.val_pairs, final_n, evalset.seed + 3)
        ho = sample(evalset.heldout_pairs, final_n, evalset.seed + 4)
    t0 = time.perf_counter()
    row = {"step": step, "val_loss": validation_loss(model, evalset.val_ds, evalset.val_loss_indices,
                                                     pad_token_id=tokenizer.pad_token_id, device=device, dtype=dtype)}
    em_train = exact_match_report(model, tokenizer, tr, device=device, dtype=dtype)
    em_val = exact_match_report(model, tokenizer, va, device=device, dtype=dtype)
    row["exact_match"] = {"train": em_train["exact_match"], "val": em_val["exact_match"]}
    row["by_type"] = {"train": em_train["by_type"], "val": em_val["by_type"]}
    if ho:  # 训练过的成语，换一种训练中没见过的问法
        em_held = exact_match_report(model, tokenizer, ho, device=device, dtype=dtype)
        row["exact_match"]["heldout"] = em_held["exact_match"]
        row["by_type"]["heldout"] = em_held["by_type"]
    row["eval_seconds"] = time.perf_counter() - t0
    if final_n is not None:
        row["final"] = True
        row["n"] = {"train": em_train["n"], "val": em_val["n"], **({"heldout": len(ho)} if ho else {})}
    return row, em_train, em_val


def _pad(text: str, width: int, right: bool = False) -> str:
    """按显示宽度补空格（一个汉字占两格），表格才对得齐。"""
    shown = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    fill = " " * max(0, width - shown)
    return fill + text if right else text + fill


def format_report(row) -> str:
    """每种题型的精确匹配，排成一张小表。

    列：训练（训练过的成语，训练时的问法）、换问法（训练过的成语，训练中从没出现过的问法；
    有留出问法时才有这一列）、验证（验证集：按成语划分时是没见过的成语）、验证逐字。
    """
    n = row.get("n", {})
    held = "heldout" in row["by_type"]
    counts = f"训练集 {n.get('train', '?')} 题 / " + (f"换问法 {n.get('heldout', '?')} 题 / " if held else "")
    lines = [f"精确匹配（{counts}验证集 {n.get('val', '?')} 题；逐字：答对的字的比例，拼音按音节算）：",
             "  " + _pad("题型", 12) + _pad("训练", 8, True) + (_pad("换问法", 9, True) if held else "")
             + _pad("验证", 8, True) + _pad("验证逐字", 12, True)]

    def pct(d, key):
        return f"{d[key]:.1%}" if d else "-"

    for t in sorted(set(row["by_type"]["train"]) | set(row["by_type"]["val"]) | set(row["by_type"].get("heldout", {}))):
        tr, va = row["by_type"]["train"].get(t), row["by_type"]["val"].get(t)
        ho = _pad(pct(row["by_type"]["heldout"].get(t), "exact_match"), 9, True) if held else ""
        lines.append("  " + _pad(t, 12) + _pad(pct(tr, "exact_match"), 8, True) + ho
                     + _pad(pct(va, "exact_match"), 8, True) + _pad(pct(va, "char_acc"), 12, True))
    em = row["exact_match"]
    ho = _pad(f"{em['heldout']:.1%}", 9, True) if held else ""
    lines.append("  " + _pad("全部", 12) + _pad(f"{em['train']:.1%}", 8, True) + ho + _pad(f"{em['val']:.1%}", 8, True))
    if held:
        lines.append("  换问法：训练过的成语，用训练中从没出现过的问法提问；验证：按成语划分时是没见过的成语")
    return "\n".join(lines)
