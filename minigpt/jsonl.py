"""问答 JSONL 文件的唯一读取器（build_vocab、split_data、QADataset、训练和游乐场都用它），以及唯一的原子写入。

    from minigpt.jsonl import read_qa_jsonl, DataError
    pairs = read_qa_jsonl("./data/data.jsonl")      # list[QAPair(question, answer, line, raw)]，另有 .type、.idiom

    python -m minigpt.jsonl ./data/data.jsonl        # 检查一个文件：逐条警告 + 一行总结

有效的一行是一个 JSON 对象，带非空的字符串字段“question”和“answer”；别的字段（比如“type”，题型）
不影响读取：每行只解析一次，QAPair.type、QAPair.idiom 和 QAPair.get(字段) 直接取解析好的值。文本原样保留：emoji 等基本多文种平面以外的字符和别的字一样，
文本里的“<sep>”就是五个普通字符（分词器从不把文本变成特殊 token）。

坏输入怎么处理：
- 文件开头的 UTF-8 BOM 和 Windows 换行（CRLF）照常接受；
- 空行或只有空白的行静默忽略，只在总结里计数（JSONL 末尾有个空行很常见，每个都警告只是噪音）；
- 其它坏行（不是合法 JSON、不是 JSON 对象、question/answer 缺失、为 null、不是字符串或为空、
  含有像“\\ud800”这样无法写回 UTF-8 的不成对代理字符）跳过，并给一条警告“文件:行号: 原因”；
- 文件不存在、是文件夹、不是 UTF-8、或者一行有效的都没有：抛出 DataError（minigpt.cli 的 UserError 之一），
  消息只有一行、说清楚原因；命令行工具用 minigpt.cli.report 把它打印成“错误：……”并以状态 1 退出。

写文件一律用 atomic_write：先写同一文件夹里的临时文件，再改名覆盖，崩溃或 Ctrl-C 都不会留下写了一半的文件。
另有 natural_examples：data/playground_examples.json 里人们平常的问法（游乐场和 python -m minigpt 用）。
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

if __package__ in (None, ""):  # 当脚本运行：`python ./minigpt/jsonl.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minigpt.cli import ArgumentParser, DataError, UserError, report  # noqa: E402

__all__ = ["DataError", "QAPair", "ReadStats", "read_text", "atomic_write", "atomic_write_text", "write_jsonl", "split_lines",
           "parse_qa_line", "read_qa_jsonl", "natural_examples", "REQUIRED_FIELDS"]

REQUIRED_FIELDS = ("question", "answer")


@dataclass(frozen=True)
class QAPair:
    question: str
    answer: str
    line: int  # 在文件里的行号（从 1 开始），给消息用
    raw: str  # 这一行的原文（去掉首尾空白和 BOM）：split_data 原样写回
    record: dict = field(default=None, compare=False, repr=False)  # 解析好的整行；读文件时传入，手写时由 raw 解析一次

    def __post_init__(self):
        if self.record is None:
            object.__setattr__(self, "record", json.loads(self.raw))

    @property
    def type(self) -> str:
        """这一行可选的“type”字段（题型，按题型报告时用）；没有就是 "qa"。"""
        return str(self.record.get("type") or "qa")

    @property
    def idiom(self):
        """这一行问的是哪个成语（课程数据的“idiom”字段）；没有就是 None。"""
        return self.record.get("idiom")

    def get(self, name: str):
        """这一行的任意字段（比如 "idiom"）；没有就是 None。"""
        return self.record.get(name)


@dataclass
class ReadStats:
    """一次读取的计数，给总结那一行用。"""

    kept: int = 0
    skipped: int = 0
    blank: int = 0

    def summary(self, path) -> str:
        parts = [f"保留 {self.kept} 个问答对", f"跳过 {self.skipped} 行"]
        if self.blank:
            parts.append(f"忽略 {self.blank} 个空行")
        return f"{path}: " + "，".join(parts)


def read_text(path) -> str:
    """读入整个 UTF-8 文本文件（允许 BOM），读不了就抛出说清楚原因的 DataError。"""
    p = Path(path)
    if p.is_dir():
        raise DataError(f"{path}: 是一个文件夹，需要的是文件")
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: 找不到这个文件") from None
    except OSError as e:
        raise DataError(f"{path}: 读不了（{e.strerror or e}）") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataError(f"{path}: 文件是 UTF-16 编码；请另存为 UTF-8")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise DataError(
            f"{path}:{line}: 不是有效的 UTF-8（这一行第 {col} 个字节是 0x{data[e.start]:02x}）；请把文件另存为 UTF-8"
        ) from None
    return text[1:] if text.startswith("\ufeff") else text


def atomic_write(path, write: Callable[[object], object]) -> None:
    """唯一的原子写入：write(f) 往 path 旁边一个独一无二的临时文件（二进制）里写，写完再改名覆盖 path，
    所以崩溃、Ctrl-C 或者另一个进程同时写同一个文件，都不会留下写了一半的文件。
    vocab.json、切分出的文件和检查点都这样写。OSError 变成 DataError。"""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with open(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp 建的是 0600；改成普通 open() 会给的权限
            os.replace(tmp, path)  # 在 POSIX 和 Windows 上都是原子的（同一个文件系统里）
        except BaseException:  # 包括 KeyboardInterrupt：删掉写了一半的临时文件
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as e:
        raise DataError(f"{path}: 写不了（{e.strerror or e}）") from None


def atomic_write_text(path, text: str) -> None:
    """用 atomic_write 把文本按 UTF-8 写出。出错抛出 DataError。"""
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def write_jsonl(path, rows) -> None:
    """rows（dict）写成 JSONL：每行一个对象，中文不转义，原子写入。"""
    atomic_write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def split_lines(text: str) -> list[str]:
    """按 Python 文本模式逐行读文件的方式分行（通用换行：\\n、\\r\\n 和 \\r）。"""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # 以换行结尾的文本，后面没有多出的空行
    return lines


def _unpaired_surrogate(s: str) -> str | None:
    for ch in s:
        if "\ud800" <= ch <= "\udfff":
            return f"\\u{ord(ch):04x}"
    return None


def parse_qa_line(line: str) -> dict | str:
    """有效的行（已去掉首尾空白）→ 解析出的 JSON 对象（question、answer 已检查过）；否则返回它无效的原因（一个 str）。"""
    try:
        item = json.loads(line)
    except json.JSONDecodeError as e:
        return f"不是合法的 JSON（第 {e.colno} 列：{e.msg}）"
    except RecursionError:
        return "不是合法的 JSON（嵌套太深）"
    except ValueError as e:  # 比如一个位数多到 Python 不肯转换的整数
        return f"不是合法的 JSON（{e}）"
    if not isinstance(item, dict):
        return f"应该是一个 JSON 对象，实际是{_json_type(item)}"
    for name in REQUIRED_FIELDS:
        if name not in item:
            return f"缺少字段“{name}”"
        value = item[name]
        if value is None:
            return f"字段“{name}”是 null"
        if not isinstance(value, str):
            return f"字段“{name}”必须是字符串，实际是{_json_type(value)}"
        if not value.strip():
            return f"字段“{name}”是空的"
        bad = _unpaired_surrogate(value)
        if bad:
            return f"字段“{name}”含有不成对的代理字符 {bad}（不是真正的字符）"
    return item


def _json_type(value) -> str:
    names = {bool: "布尔值", int: "数字", float: "数字", str: "字符串", list: "数组", type(None): " null"}
    return names.get(type(value), type(value).__name__)


def read_qa_jsonl(
    path, *, warn: Callable[[str], object] = print, summary: bool = True, stats: ReadStats | None = None
) -> list[QAPair]:
    """按文件顺序读出所有有效的问答对。

    warn：每条警告（“警告：文件:行号: 原因，已跳过这一行”）和总结那一行都交给它；
          传 `lambda msg: None` 就静默读取。
    summary：最后打印一行总结“文件: 保留 N 个问答对，跳过 M 行”（自己另有计数的调用方，比如 QADataset，关掉它）。
    stats：把计数填进去，给自己打印总结的调用方用。
    文件不存在、是文件夹、不是 UTF-8、或者一行有效的都没有时抛出 DataError。
    """
    text = read_text(path)
    stats = stats if stats is not None else ReadStats()
    pairs = []
    for line_no, line in enumerate(split_lines(text), 1):
        line = line.strip()
        if not line:
            stats.blank += 1
            continue
        parsed = parse_qa_line(line)
        if isinstance(parsed, str):
            stats.skipped += 1
            warn(f"警告：{path}:{line_no}: {parsed}，已跳过这一行")
            continue
        pairs.append(QAPair(parsed["question"], parsed["answer"], line_no, line, parsed))
    stats.kept = len(pairs)
    if not pairs:
        if stats.skipped:
            raise DataError(f"{path}: 一行有效的都没有（跳过了 {stats.skipped} 行）；"
                            "每行必须是一个 JSON 对象，带非空的字符串字段“question”和“answer”")
        raise DataError(f"{path}: 文件是空的；每行应是一个带“question”和“answer”的 JSON 对象")
    if summary:
        warn(stats.summary(path))
    return pairs


def natural_examples(data_dir: Path) -> list[tuple[str, str]]:
    """playground_examples.json 里人们平常的问法 [(分组, 问题)]，分组如“训练过的成语”；没有这个文件就是 []。"""
    path = data_dir / "playground_examples.json"
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))["examples"]
        return [(row["group"], row["question"]) for row in rows]
    except (OSError, ValueError, KeyError, TypeError):  # 示例只是方便：没有或坏了就不用
        return []


def main(argv=None) -> int:
    parser = ArgumentParser(description="检查一个问答 JSONL 文件：逐条警告坏行，最后一行总结。")
    parser.add_argument("path", help="JSONL 文件，每行一个 {\"question\": ..., \"answer\": ...}")
    args = parser.parse_args(argv)
    try:
        read_qa_jsonl(args.path)
    except UserError as e:
        return report(e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
