"""Chapter 2: a character-level tokenizer — every character is one token.

    from minigpt.tokenizer import Tokenizer
    tok = Tokenizer("./data/vocab.json")           # written by build_vocab.py (chapter 1)
    ids, mask = tok.encode("你好，最近怎么样？", "我很好，谢谢！", max_length=32)
    tok.decode(ids)                                 # '你好，最近怎么样？<sep>我很好，谢谢！<sep>'

    python ./minigpt/tokenizer.py                   # the seed's demo on ./data/vocab.json

Same ids as the seed's Tokenizer: question characters, <sep>, answer characters, <sep>, then <pad>
up to max_length. Characters missing from the vocabulary become <unk>. Text that looks like "<sep>"
is five ordinary characters: only the tokenizer itself ever emits the special ids.

Like the seed, `encode(..., pad_to_max_length=True)` cuts a long sequence at max_length, which can
drop the final <sep> (the model then never sees where that answer ends; QADataset counts such pairs),
and `pad_to_max_length=False` neither pads nor cuts (a generation prompt must keep its final <sep>).
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as `python ./minigpt/tokenizer.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minigpt.jsonl import DataError, atomic_write_text, read_text

SPECIAL_TOKENS = ("<pad>", "<unk>", "<sep>")  # ids 0, 1, 2 in every vocabulary build_vocab writes


class Tokenizer:
    def __init__(self, vocab_path: str):
        try:
            vocab = json.loads(read_text(vocab_path))
        except json.JSONDecodeError as e:
            raise DataError(f"{vocab_path}:{e.lineno}: invalid JSON in vocabulary file ({e.msg})") from None
        if not isinstance(vocab, dict) or not isinstance(vocab.get("word2id"), dict):
            raise DataError(f'{vocab_path}: not a vocabulary file (expected an object with "word2id" and "id2word")')
        self._init(vocab["word2id"], source=str(vocab_path))
        if "id2word" in vocab:
            try:
                stored = {int(k): v for k, v in vocab["id2word"].items()}
            except (AttributeError, ValueError):
                stored = None
            if stored != self.id2word:
                raise DataError(f'{vocab_path}: "id2word" is not the inverse of "word2id"; rebuild it with build_vocab.py')

    @classmethod
    def from_word2id(cls, word2id: dict[str, int]) -> "Tokenizer":
        """A tokenizer from a mapping alone, e.g. the one stored in a checkpoint."""
        tok = cls.__new__(cls)
        tok._init(word2id, source="word2id")
        return tok

    def _init(self, word2id, source: str) -> None:
        word2id = dict(word2id)
        for token in SPECIAL_TOKENS:
            if token not in word2id:
                raise DataError(f"{source}: vocabulary lacks the special token {token}")
        ids = list(word2id.values())
        if not all(type(i) is int for i in ids) or sorted(ids) != list(range(len(ids))):
            # the embedding table has one row per id, so ids must be exactly 0..n-1
            raise DataError(f"{source}: token ids must be the integers 0..{len(ids) - 1}, each used once")
        self.word2id = word2id
        self.id2word = {i: w for w, i in word2id.items()}
        # 固定特殊 token ID (same as the seed: looked up, not assumed)
        self.pad_token_id = word2id["<pad>"]
        self.unk_token_id = word2id["<unk>"]
        self.sep_token_id = word2id["<sep>"]

    @property
    def special_token_ids(self) -> tuple[int, ...]:
        return (self.pad_token_id, self.unk_token_id, self.sep_token_id)

    @property
    def vocab_hash(self) -> str:
        """sha256 (hex) of the tokens in id order: equal hashes ⇔ the same id for every token.

        Exactly: sha256(json.dumps([token of id 0, token of id 1, ...], ensure_ascii=False).encode("utf-8")).
        """
        tokens = [self.id2word[i] for i in range(len(self.id2word))]
        return hashlib.sha256(json.dumps(tokens, ensure_ascii=False).encode("utf-8")).hexdigest()

    def encode_text(self, text: str) -> list[int]:
        """Ids of the characters of `text`, no special tokens added (unknown characters → <unk>)."""
        if not isinstance(text, str):
            raise TypeError(f"expected a str, got {type(text).__name__}")
        get, unk = self.word2id.get, self.unk_token_id
        return [get(ch, unk) for ch in text]

    def encode(self, question: str, answer: str | None = None, max_length: int = 128, pad_to_max_length: bool = True):
        """Encode a QA pair as (ids, attention_mask), exactly like the seed.

        answer=None gives "question <sep>", the prompt a model answers. With pad_to_max_length the
        result has exactly max_length ids (cut, or padded with <pad> and mask 0); without it, the
        full sequence is returned unpadded and uncut.
        """
        if max_length < 1:
            raise ValueError(f"max_length must be at least 1, got {max_length}")
        tokens = self.encode_text(question)
        tokens.append(self.sep_token_id)  # 问题结束，答案开始
        if answer is not None:
            tokens.extend(self.encode_text(answer))
            tokens.append(self.sep_token_id)  # 答案结束：模型学会在这里停
        attn_mask = [1] * len(tokens)  # 1 = real token, 0 = padding
        if pad_to_max_length:
            if len(tokens) > max_length:
                tokens, attn_mask = tokens[:max_length], attn_mask[:max_length]  # keeps the beginning
            else:
                pad_len = max_length - len(tokens)
                tokens.extend([self.pad_token_id] * pad_len)
                attn_mask.extend([0] * pad_len)
        return tokens, attn_mask

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        """Text of a list (or tensor) of ids, skipping <pad> like the seed; optionally also <unk>/<sep>."""
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        skip = set(self.special_token_ids) if skip_special_tokens else {self.pad_token_id}
        out = []
        for i in ids:
            i = int(i)
            if i in skip:
                continue
            if i not in self.id2word:
                raise ValueError(f"token id {i} is not in this vocabulary (ids 0..{len(self.id2word) - 1})")
            out.append(self.id2word[i])
        return "".join(out)

    def get_vocab_size(self) -> int:
        return len(self.id2word)

    def __len__(self) -> int:
        return len(self.id2word)

    def save(self, path) -> None:
        """Write vocab.json in the seed's format (the one build_vocab.py writes)."""
        vocab = {"word2id": self.word2id, "id2word": self.id2word}
        atomic_write_text(path, json.dumps(vocab, ensure_ascii=False, indent=4))

    def __repr__(self) -> str:
        return f"Tokenizer(vocab_size={len(self)}, vocab_hash={self.vocab_hash[:12]}…)"


if __name__ == "__main__":
    try:
        tokenizer = Tokenizer("./data/vocab.json")
    except DataError as e:
        print(f"error: {e} (build it first: python ./minigpt/build_vocab.py --data ./data/data.jsonl --output ./data/vocab.json)", file=sys.stderr)
        sys.exit(1)
    question = "你好，最近怎么样？"
    answer = "我很好，谢谢！"
    input_ids, attn_mask = tokenizer.encode(question, answer, max_length=32)
    print(input_ids)
    print(tokenizer.decode(input_ids))
