"""课程的主任务：在默认数据上走一遍种子代码的整条流水线，最后回答几个问题。

    python -m minigpt                   # data/data.jsonl → 词表 → 切分 → 训练 → 回答问题
    python -m minigpt --max-minutes 3   # 训练时间短一些（CPU 上默认 15 分钟）
    python -m minigpt --help

它运行的代码和种子代码的三条命令（build_vocab.py、split_data.py --train_ratio 0.8、train.py）相同，
然后加载 output/last_model.pth（训练结束时的权重），回答几道训练题和验证题：哪些是背下来的，哪些是编的，一看便知；
最后用人们平常的说法（data/playground_examples.json，不是训练数据的原句）问几个训练过的成语。
"""
import sys
from pathlib import Path

from minigpt.cli import ArgumentParser
from minigpt import train as train_module
from minigpt.checkpoint import load_for_inference
from minigpt.common import pick_device
from minigpt.generate import answers
from minigpt.jsonl import DataError, natural_examples, read_qa_jsonl
from minigpt.split_data import prepare_data


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
    try:
        paths = prepare_data(args.data, train_ratio=0.8, seed=42)
    except DataError as e:
        print(f"错误：{e}", file=sys.stderr)
        return 1

    print("\n== 3. 训练（种子代码的 train.py）")
    train_args = ["--train", str(paths["train"]), "--val", str(paths["val"]), "--vocab", str(paths["vocab"]),
                  "--output-dir", args.output_dir, "--device", args.device]
    if args.max_minutes is not None:
        train_args += ["--max-minutes", str(args.max_minutes)]
    if args.max_steps is not None:
        train_args += ["--max-steps", str(args.max_steps)]
    code = train_module.main(train_args)
    if code != 0:
        return code

    print("\n== 4. 回答问题（第 7 章）")
    try:
        model, tokenizer = load_for_inference(f"{args.output_dir}/last_model.pth", pick_device(args.device))
    except DataError as e:  # 消息已经是“错误：文件: 哪里不对”
        print(e, file=sys.stderr)
        return 1
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
