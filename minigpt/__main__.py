"""课程的主任务：在默认数据上走一遍种子代码的整条流水线，最后回答几个问题。

    python -m minigpt                   # data/data.jsonl → 词表 → 切分 → 训练 → 回答问题
    python -m minigpt --max-minutes 3   # 训练时间短一些（CPU 上默认 15 分钟）
    python -m minigpt --help

它运行的代码和种子代码的三条命令（build_vocab.py、split_data.py --train_ratio 0.8、train.py）相同
（词表和切分用 split_data.prepare_data，训练直接调用 train.train），
然后加载 output/last_model.pth（训练结束时的权重），回答几道训练题和验证题：哪些是背下来的，哪些是编的，一看便知；
最后用人们平常的说法（data/playground_examples.json，不是训练数据的原句）问几个训练过的成语。
"""
import sys
from pathlib import Path

from minigpt.cli import ArgumentParser, UserError, report
from minigpt.checkpoint import LAST, load_for_inference
from minigpt.common import pick_device
from minigpt.generate import answers
from minigpt.jsonl import natural_examples, read_qa_jsonl
from minigpt.split_data import prepare_data
from minigpt.train import TrainSettings, cpu_budget, new_model, train

__all__ = ["main"]


def main(argv=None) -> int:
    p = ArgumentParser(description="在 ./data/data.jsonl 上跑一遍课程的整条流水线。")
    p.add_argument("--data", default="./data/data.jsonl", help="问答对（每行一个带 question/answer 的 JSON）")
    p.add_argument("--output-dir", default="output", help="检查点写到这里")
    p.add_argument("--max-minutes", type=float, default=None, help="训练的时间预算（CPU 上默认 15 分钟）")
    p.add_argument("--max-steps", type=int, default=None, help="训练这么多步后停止")
    p.add_argument("--device", default="auto", help="auto：依次选 cuda → mps → cpu")
    p.add_argument("--questions", type=int, default=5, help="各回答多少道训练题和验证题")
    args = p.parse_args(argv)

    print("== 1–2. 词表和训练/验证切分（种子代码的 build_vocab.py 和 split_data.py）")
    device = pick_device(args.device)
    try:
        paths = prepare_data(args.data, train_ratio=0.8, seed=42)
        print("\n== 3. 训练（种子代码的 train.py）")
        model, tokenizer = new_model(paths["vocab"], device=device)
        settings = cpu_budget(TrainSettings(max_minutes=args.max_minutes, max_steps=args.max_steps), device)
        history = train(model, tokenizer, paths["train"], paths["val"], settings=settings, output_dir=args.output_dir,
                        device=device)
        if history.interrupted:
            return 130
        print("\n== 4. 回答问题（第 7 章）")
        model, tokenizer = load_for_inference(Path(args.output_dir) / LAST, device)
    except UserError as e:
        return report(e)
    for split in ("train", "val"):
        pairs = read_qa_jsonl(paths[split], warn=lambda message: None, summary=False)[: args.questions]  # 切分时已打乱
        replies = answers(model, tokenizer, [pair.question for pair in pairs])
        print(f"\n-- {'训练题（训练时见过）' if split == 'train' else '验证题（从没见过：多半是猜的）'}")
        for pair, reply in zip(pairs, replies):
            mark = "✓" if reply == pair.answer else "✗"
            print(f"Q: {pair.question}\nA: {reply}   {mark}（参考答案：{pair.answer}）")
    natural = [q for group, q in natural_examples(Path(args.data).parent) if group == "训练过的成语"][: args.questions]
    if natural:
        print("\n-- 换个问法：训练过的成语，用平常的说法问（训练数据里没有这些句子）")
        for question, reply in zip(natural, answers(model, tokenizer, natural)):
            print(f"Q: {question}\nA: {reply}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
