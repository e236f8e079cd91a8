"""第 2 章：字符级分词器——每个字符是一个 token。

    from minigpt.tokenizer import Tokenizer
    tok = Tokenizer("./data/vocab.json")           # build_vocab.py（第 1 章）写的词表
    ids, mask = tok.encode("你好，最近怎么样？", "我很好，谢谢啦！", max_length=32)
    tok.decode(ids)                                 # '你好，最近怎么样？<sep>我很好，谢谢<unk>！<sep>'
                                                    # （默认数据里没有“啦”，它变成了 <unk>；<pad> 不显示）

    python ./minigpt/tokenizer.py                   # 种子代码的演示，用 ./data/vocab.json

编号和种子代码的 Tokenizer 相同：问题的字符、<sep>、答案的字符、<sep>，再用 <pad> 补到 max_length。
词表里没有的字符变成 <unk>。文本里看起来像“<sep>”的是五个普通字符：特殊编号只由分词器自己产生。

和种子代码一样，`encode(..., pad_to_max_length=True)` 在 max_length 处截断过长的序列，可能丢掉最后的 <sep>
（模型就看不到那个答案在哪里结束；QADataset 会数出这样的问答对）；`pad_to_max_length=False` 既不补齐也不截断
（生成用的提示必须保留最后的 <sep>）。
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

if __package__ in (None, ""):  # 以 `python ./minigpt/tokenizer.py` 运行时
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minigpt.cli import DataError, UserError, report
from minigpt.jsonl import atomic_write_text, read_text

__all__ = ["SPECIAL_TOKENS", "Tokenizer"]

SPECIAL_TOKENS = ("<pad>", "<unk>", "<sep>")  # build_vocab 写的每个词表里编号都是 0、1、2（全课程只此一份）


class Tokenizer:
    def __init__(self, vocab_path: str):
        try:
            vocab = json.loads(read_text(vocab_path))
        except json.JSONDecodeError as e:
            raise DataError(f"{vocab_path}:{e.lineno}: 词表文件不是合法的 JSON（{e.msg}）") from None
        if not isinstance(vocab, dict) or not isinstance(vocab.get("word2id"), dict):
            raise DataError(f"{vocab_path}: 不是词表文件（应该是带“word2id”和“id2word”的 JSON 对象）")
        self._init(vocab["word2id"], source=str(vocab_path))
        if "id2word" in vocab:
            try:
                stored = {int(k): v for k, v in vocab["id2word"].items()}
            except (AttributeError, ValueError):
                stored = None
            if stored != self.id2word:
                raise DataError(f"{vocab_path}: “id2word”不是“word2id”的反向映射；请用 build_vocab.py 重建")

    @classmethod
    def from_word2id(cls, word2id: dict[str, int]) -> "Tokenizer":
        """只用一个映射建分词器，比如检查点里存的那个。"""
        tok = cls.__new__(cls)
        tok._init(word2id, source="word2id")
        return tok

    def _init(self, word2id, source: str) -> None:
        word2id = dict(word2id)
        for token in SPECIAL_TOKENS:
            if token not in word2id:
                raise DataError(f"{source}: 词表里缺少特殊 token {token}")
        ids = list(word2id.values())
        if not all(type(i) is int for i in ids) or sorted(ids) != list(range(len(ids))):
            # 嵌入表每个编号一行，所以编号必须正好是 0..n-1
            raise DataError(f"{source}: token 编号必须是整数 0..{len(ids) - 1}，每个用一次")
        self.word2id = word2id
        self.id2word = {i: w for w, i in word2id.items()}
        # 固定特殊 token ID（和种子代码一样：查出来，不假定）
        self.pad_token_id = word2id["<pad>"]
        self.unk_token_id = word2id["<unk>"]
        self.sep_token_id = word2id["<sep>"]

    @property
    def special_token_ids(self) -> tuple[int, ...]:
        return (self.pad_token_id, self.unk_token_id, self.sep_token_id)

    @property
    def vocab_hash(self) -> str:
        """按编号顺序排列的 token 的 sha256（十六进制）：哈希相同 ⇔ 每个 token 的编号都相同。

        准确地说：sha256(json.dumps([编号 0 的 token, 编号 1 的 token, ...], ensure_ascii=False).encode("utf-8"))。
        """
        tokens = [self.id2word[i] for i in range(len(self.id2word))]
        return hashlib.sha256(json.dumps(tokens, ensure_ascii=False).encode("utf-8")).hexdigest()

    def encode_text(self, text: str) -> list[int]:
        """`text` 每个字符的编号，不加特殊 token（不认识的字符 → <unk>）。"""
        if not isinstance(text, str):
            raise TypeError(f"需要一个 str，实际是 {type(text).__name__}")
        get, unk = self.word2id.get, self.unk_token_id
        return [get(ch, unk) for ch in text]

    def encode(self, question: str, answer: str | None = None, max_length: int = 128, pad_to_max_length: bool = True):
        """把一个问答对编码成 (ids, attention_mask)，和种子代码完全一样。

        answer=None 得到“问题 <sep>”，也就是让模型回答的提示。pad_to_max_length 时结果正好 max_length 个编号
        （截断，或者用 <pad> 补齐、mask 为 0）；否则返回完整的序列，不补齐也不截断。
        """
        if max_length < 1:
            raise ValueError(f"max_length 至少是 1，实际是 {max_length}")
        tokens = self.encode_text(question)
        tokens.append(self.sep_token_id)  # 问题结束，答案开始
        if answer is not None:
            tokens.extend(self.encode_text(answer))
            tokens.append(self.sep_token_id)  # 答案结束：模型学会在这里停
        attn_mask = [1] * len(tokens)  # 1 = 真实 token，0 = 填充
        if pad_to_max_length:
            if len(tokens) > max_length:
                tokens, attn_mask = tokens[:max_length], attn_mask[:max_length]  # 保留开头
            else:
                pad_len = max_length - len(tokens)
                tokens.extend([self.pad_token_id] * pad_len)
                attn_mask.extend([0] * pad_len)
        return tokens, attn_mask

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        """一串编号（列表或张量）对应的文本；和种子代码一样跳过 <pad>，可选再跳过 <unk>/<sep>。"""
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        skip = set(self.special_token_ids) if skip_special_tokens else {self.pad_token_id}
        out = []
        for i in ids:
            i = int(i)
            if i in skip:
                continue
            if i not in self.id2word:
                raise ValueError(f"编号 {i} 不在这个词表里（编号是 0..{len(self.id2word) - 1}）")
            out.append(self.id2word[i])
        return "".join(out)

    def get_vocab_size(self) -> int:
        return len(self.id2word)

    def __len__(self) -> int:
        return len(self.id2word)

    def save(self, path) -> None:
        """按种子代码的格式（build_vocab.py 写的那种）写出 vocab.json。"""
        vocab = {"word2id": self.word2id, "id2word": self.id2word}
        atomic_write_text(path, json.dumps(vocab, ensure_ascii=False, indent=4))

    def __repr__(self) -> str:
        return f"Tokenizer(vocab_size={len(self)}, vocab_hash={self.vocab_hash[:12]}…)"


if __name__ == "__main__":
    try:
        tokenizer = Tokenizer("./data/vocab.json")
    except UserError as e:
        sys.exit(report(f"{e}（先建词表：python ./minigpt/build_vocab.py --data ./data/data.jsonl --output ./data/vocab.json）"))
    question = "你好，最近怎么样？"
    answer = "我很好，谢谢！"
    input_ids, attn_mask = tokenizer.encode(question, answer, max_length=32)
    print(input_ids)
    print(tokenizer.decode(input_ids))
