"""Fixtures shared by the unit tests: a tiny random GPT, a character tokenizer, idiom-like synthetic QA data."""
import json
import random
from pathlib import Path

import pytest
import torch

from minigpt.model import GPTLMHeadModel, config_for
from minigpt.tokenizer import Tokenizer

SPECIALS = ["<pad>", "<unk>", "<sep>"]
CHARS = "一二三四五六七八九十天地人山水火风云日月金木花草鸟鱼马牛羊心手口目"


@pytest.fixture(scope="session")
def tiny_gpt():
    """tiny_gpt(vocab_size, seed=0, **config) → the "tiny" GPT preset with random weights, in eval mode."""

    def make(vocab_size, seed=0, **overrides):
        torch.manual_seed(seed)
        return GPTLMHeadModel(config_for("tiny", vocab_size, **overrides)).eval()

    return make


@pytest.fixture(scope="session")
def char_tokenizer():
    """char_tokenizer(chars) → a Tokenizer with <pad>=0, <unk>=1, <sep>=2, then each distinct character in order."""

    def make(chars):
        return Tokenizer.from_word2id({w: i for i, w in enumerate(SPECIALS + list(dict.fromkeys(chars)))})

    return make


def make_qa_data(folder: Path, n=240, seed=0, extra_chars=""):
    """Idiom-like synthetic QA with a "type" field, split 80/20 into train/val.jsonl, and a seed-format vocab.json."""
    rng = random.Random(seed)
    records = []
    for _ in range(n):
        w = "".join(rng.choice(CHARS) for _ in range(4))
        kind = rng.choice(["meaning", "pinyin", "chain"])
        if kind == "meaning":
            q, a = f"{w}是什么意思？", "".join(rng.choice(CHARS) for _ in range(rng.randint(4, 12)))
        elif kind == "pinyin":
            q, a = f"{w}怎么读？", " ".join("".join(rng.choice("aeioumnhg") for _ in range(3)) for _ in range(4))
        else:
            q, a = f"接龙：{w}", w[-1] + "".join(rng.choice(CHARS) for _ in range(3))
        records.append({"question": q, "answer": a, "type": kind})
    folder.mkdir(parents=True, exist_ok=True)
    k = int(n * 0.8)
    for name, rows in (("train.jsonl", records[:k]), ("val.jsonl", records[k:])):
        (folder / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    chars = sorted(set("".join(r["question"] + r["answer"] for r in records)) | set(extra_chars))
    word2id = {"<pad>": 0, "<unk>": 1, "<sep>": 2, **{c: i + 3 for i, c in enumerate(chars)}}
    vocab = {"word2id": word2id, "id2word": {str(i): w for w, i in word2id.items()}}
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def qa_data_factory():
    """qa_data_factory(folder, n=240, seed=0, extra_chars="") → folder with train.jsonl, val.jsonl, vocab.json."""
    return make_qa_data


@pytest.fixture(scope="module")
def qa_data(tmp_path_factory):
    """One synthetic data folder per test module (240 pairs: 192 train, 48 val)."""
    return make_qa_data(tmp_path_factory.mktemp("data"))
