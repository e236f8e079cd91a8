"""The course's main job: the seed's whole pipeline on the default data, ending with a few answers.

    python -m minigpt                   # data/data.jsonl → vocab → split → train → answer questions
    python -m minigpt --max-minutes 3   # a shorter training budget (CPU default: 15 minutes)
    python -m minigpt --help

It runs the same code as the seed's three commands (build_vocab.py, split_data.py --train_ratio 0.8,
train.py), then loads output/best_model.pth and answers training and validation questions, so you can
see what the model memorised and where it makes things up.
"""
import argparse
import json
import sys

from minigpt import train as train_module
from minigpt.common import pick_device
from minigpt.generate import answers, load_for_chat
from minigpt.jsonl import DataError
from minigpt.split_data import prepare_data


def sample_questions(path, n):
    """The first n records of a split (the split is already shuffled), with their reference answers."""
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip() and len(records) < n:
                records.append(json.loads(line))
    return records


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Run the whole course pipeline on ./data/data.jsonl.")
    p.add_argument("--data", default="./data/data.jsonl", help="QA pairs (JSONL with question/answer)")
    p.add_argument("--output-dir", default="output", help="where the checkpoints go")
    p.add_argument("--max-minutes", type=float, default=None, help="training time budget (CPU default: 15)")
    p.add_argument("--max-steps", type=int, default=None, help="stop training after this many steps")
    p.add_argument("--device", default="auto", help="auto: cuda → mps → cpu")
    p.add_argument("--questions", type=int, default=5, help="how many training and validation questions to answer")
    args = p.parse_args(argv)

    print("== 1–2. vocabulary and train/val split (the seed's build_vocab.py and split_data.py)")
    try:
        paths = prepare_data(args.data, train_ratio=0.8, seed=42)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1

    print("\n== 3. training (the seed's train.py)")
    train_args = ["--train", str(paths["train"]), "--val", str(paths["val"]), "--vocab", str(paths["vocab"]),
                  "--output-dir", args.output_dir, "--device", args.device]
    if args.max_minutes is not None:
        train_args += ["--max-minutes", str(args.max_minutes)]
    if args.max_steps is not None:
        train_args += ["--max-steps", str(args.max_steps)]
    code = train_module.main(train_args)
    if code != 0:
        return code

    print("\n== 4. answers (chapter 7)")
    try:
        model, tokenizer = load_for_chat(f"{args.output_dir}/best_model.pth", pick_device(args.device))
    except ValueError as e:  # its message already starts with "error: FILE:"
        print(e, file=sys.stderr)
        return 1
    for split in ("train", "val"):
        records = sample_questions(paths[split], args.questions)
        replies = answers(model, tokenizer, [r["question"] for r in records])
        print(f"\n-- {split} questions ({'seen in training' if split == 'train' else 'never seen: expect guesses'})")
        for record, reply in zip(records, replies):
            mark = "✓" if reply == record["answer"] else "✗"
            print(f"Q: {record['question']}\nA: {reply}   {mark} (reference: {record['answer']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
