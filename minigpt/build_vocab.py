"""Chapter 1: build the character vocabulary (vocab.json) from a question/answer JSONL file.

    python ./minigpt/build_vocab.py --data ./data/data.jsonl --output ./data/vocab.json

Every character that occurs in a question or an answer becomes one token. Ids: <pad>=0, <unk>=1,
<sep>=2, then the characters in Unicode order, so the same data always gives the same ids. The file
has the seed's format ({"word2id": ..., "id2word": ...}, indent=4, ensure_ascii=False) and is
byte-for-byte what the seed's build_vocab.py writes for valid input.

A model is tied to the vocabulary it was trained with: rebuild the vocabulary after changing the data,
then retrain. The script says when it replaces an existing vocab.json and whether the ids changed.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

if __package__ in (None, ""):  # run as `python ./minigpt/build_vocab.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minigpt.jsonl import DataError, atomic_write_text, read_qa_jsonl
from minigpt import tokenizer

SPECIAL_TOKENS = list(tokenizer.SPECIAL_TOKENS)  # a list, printed like the seed's


def count_chars(data_path, *, warn=print) -> Counter:
    """How often each character occurs in the questions and answers of a JSONL file."""
    counter = Counter()
    for pair in read_qa_jsonl(data_path, warn=warn):
        counter.update(pair.question)
        counter.update(pair.answer)
    return counter


def vocab_from_counter(counter: Counter) -> dict:
    """The seed's vocab dict: special tokens first, then characters in Unicode order."""
    chars = sorted(counter.keys())
    word2id = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    for char in chars:
        if char not in word2id:  # a single character can never equal a special token; defensive
            word2id[char] = len(word2id)
    id2word = {i: token for token, i in word2id.items()}
    return {"word2id": word2id, "id2word": id2word}


def vocab_json(vocab: dict) -> str:
    """The exact text the seed writes (json.dump with ensure_ascii=False, indent=4, no final newline)."""
    return json.dumps(vocab, ensure_ascii=False, indent=4)


def build_vocab(data_path: str, output_path: str, *, warn=print) -> dict:
    """Count characters in data_path, write vocab.json to output_path, return the vocab dict."""
    output = Path(output_path)
    if output.is_dir():
        raise DataError(f"{output_path}: is a directory; give a file name such as {Path(output_path) / 'vocab.json'}")
    counter = count_chars(data_path, warn=warn)
    vocab = vocab_from_counter(counter)
    text = vocab_json(vocab)

    if output.exists():
        try:
            old = json.loads(output.read_text(encoding="utf-8"))["word2id"]
        except (OSError, ValueError, KeyError, TypeError):
            old = None
        if old == vocab["word2id"]:
            print(f"note: {output_path} already existed with the same ids; rewritten unchanged")
        else:
            size = f" ({len(old)} tokens before)" if isinstance(old, dict) else ""
            print(
                f"note: overwriting existing {output_path}{size}: the ids changed, so a model trained "
                "with the old vocabulary will not match it (retrain, or keep the old file with its model)"
            )
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"{output.parent}: cannot create the folder ({e.strerror or e})") from None
    atomic_write_text(output, text)  # a crash never leaves a half-written vocab.json

    chars = sorted(counter.keys())
    print(f"✅ Vocabulary built and saved to {output_path}")
    print(f"   Total tokens: {len(vocab['word2id'])}")
    print(f"   Special tokens: {SPECIAL_TOKENS}")
    print(f"   Sample chars: {chars[:10]}...")
    return vocab


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Build vocabulary from QA dataset.")
    parser.add_argument("--data", type=str, required=True, help="Path to training data (JSONL format)")
    parser.add_argument("--output", type=str, default="vocab.json", help="Output vocab file path")
    args = parser.parse_args(argv)
    try:
        build_vocab(args.data, args.output)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
