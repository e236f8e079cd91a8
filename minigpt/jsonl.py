"""The one reader of question/answer JSONL files, shared by build_vocab, split_data and QADataset.

    from minigpt.jsonl import read_qa_jsonl, DataError
    pairs = read_qa_jsonl("./data/data.jsonl")      # list[QAPair(question, answer, line, raw)]

    python -m minigpt.jsonl ./data/data.jsonl        # check a file: warnings + one summary line

A valid line is one JSON object with non-empty string fields "question" and "answer"; other fields
(e.g. "type") are ignored. Text is kept exactly as written: emoji and other characters outside the
Basic Multilingual Plane are characters like any other, and "<sep>" inside the text is just five
characters (the tokenizer never turns text into a special token).

What happens to bad input:
- a UTF-8 byte-order mark at the start of the file and Windows line ends (CRLF) are accepted;
- blank or whitespace-only lines are ignored silently and counted in the summary (a trailing empty
  line is normal in JSONL files, a warning for each would be noise);
- every other bad line (invalid JSON, a JSON value that is not an object, a missing / null /
  non-string / empty question or answer, text with an unpaired surrogate such as "\\ud800" that
  cannot be written back as UTF-8) is skipped with one warning "FILE:LINE: reason";
- a missing file, a directory, bytes that are not UTF-8, or a file without a single valid line raise
  DataError (a ValueError) with one clear message; command-line tools print it as "error: ..." and
  exit with status 1.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

REQUIRED_FIELDS = ("question", "answer")


class DataError(ValueError):
    """Bad input data; the message names the file (and line) and says what is wrong."""


@dataclass(frozen=True)
class QAPair:
    question: str
    answer: str
    line: int  # 1-based line number in the file, for messages
    raw: str  # the line as written (stripped, without BOM): split_data writes it back unchanged

    @property
    def type(self) -> str:
        """The optional "type" field of the line (question kind, for per-type reports); "qa" if absent."""
        return str(json.loads(self.raw).get("type") or "qa")


@dataclass
class ReadStats:
    """Counts of one read, for the summary line."""

    kept: int = 0
    skipped: int = 0
    blank: int = 0

    def summary(self, path) -> str:
        parts = [f"{self.kept} QA pairs kept", f"{self.skipped} lines skipped"]
        if self.blank:
            parts.append(f"{self.blank} blank lines ignored")
        return f"{path}: " + ", ".join(parts)


def read_text(path) -> str:
    """Read a whole UTF-8 text file (BOM allowed) or raise DataError with a clear message."""
    p = Path(path)
    if p.is_dir():
        raise DataError(f"{path}: is a directory, expected a file")
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataError(f"{path}: file is UTF-16 encoded; save it as UTF-8")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise DataError(
            f"{path}:{line}: not valid UTF-8 (byte 0x{data[e.start]:02x} at byte column {col}); save the file as UTF-8"
        ) from None
    return text[1:] if text.startswith("\ufeff") else text


def atomic_write(path, write: Callable[[object], object]) -> None:
    """The one atomic writer: write(f) fills a unique temporary file (binary) beside path, which is then
    renamed over path, so a crash, Ctrl-C or another process writing the same file never leaves a
    half-written file. Used for vocab.json, the split files and checkpoints. An OSError becomes DataError."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with open(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the mode a plain open() would
            os.replace(tmp, path)  # atomic on POSIX and Windows (same file system)
        except BaseException:  # also KeyboardInterrupt: remove the partial temporary file
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as e:
        raise DataError(f"{path}: cannot write ({e.strerror or e})") from None


def atomic_write_text(path, text: str) -> None:
    """Write text as UTF-8 with atomic_write. Raises DataError."""
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def split_lines(text: str) -> list[str]:
    """Split like Python's text-mode file iteration (universal newlines: \\n, \\r\\n and \\r)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # text ending with a newline has no extra empty line after it
    return lines


def _unpaired_surrogate(s: str) -> str | None:
    for ch in s:
        if "\ud800" <= ch <= "\udfff":
            return f"\\u{ord(ch):04x}"
    return None


def parse_qa_line(line: str) -> tuple[str, str] | str:
    """(question, answer) for a valid stripped line, else the reason it is invalid (a str)."""
    try:
        item = json.loads(line)
    except json.JSONDecodeError as e:
        return f"invalid JSON ({e.msg} at column {e.colno})"
    except RecursionError:
        return "invalid JSON (nested too deeply)"
    except ValueError as e:  # e.g. an integer with more digits than Python converts
        return f"invalid JSON ({e})"
    if not isinstance(item, dict):
        return f"expected a JSON object, got {_json_type(item)}"
    values = []
    for field in REQUIRED_FIELDS:
        if field not in item:
            return f'missing field "{field}"'
        value = item[field]
        if value is None:
            return f'"{field}" is null'
        if not isinstance(value, str):
            return f'"{field}" must be a string, got {_json_type(value)}'
        if not value.strip():
            return f'"{field}" is empty'
        bad = _unpaired_surrogate(value)
        if bad:
            return f'"{field}" contains an unpaired surrogate {bad} (not a real character)'
        values.append(value)
    return values[0], values[1]


def _json_type(value) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def read_qa_jsonl(
    path, *, warn: Callable[[str], object] = print, summary: bool = True, stats: ReadStats | None = None
) -> list[QAPair]:
    """Read every valid QA pair of a JSONL file, in file order.

    warn: called with each warning ("warning: FILE:LINE: reason, line skipped") and the summary line;
          pass `lambda msg: None` to read silently.
    summary: print the one-line summary "FILE: N QA pairs kept, M lines skipped" at the end
             (callers that add their own counts, like QADataset, turn it off).
    stats: filled with the counts, for callers that print their own summary.
    Raises DataError for a missing file, a directory, non-UTF-8 bytes, or no valid line at all.
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
            warn(f"warning: {path}:{line_no}: {parsed}, line skipped")
            continue
        pairs.append(QAPair(parsed[0], parsed[1], line_no, line))
    stats.kept = len(pairs)
    if not pairs:
        if stats.skipped:
            raise DataError(
                f"{path}: no valid line ({stats.skipped} skipped); each line must be a JSON object "
                'with non-empty string fields "question" and "answer"'
            )
        raise DataError(f'{path}: file is empty; expected one JSON object per line with "question" and "answer"')
    if summary:
        warn(stats.summary(path))
    return pairs


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Check a question/answer JSONL file.")
    parser.add_argument("path", help="JSONL file, one {\"question\": ..., \"answer\": ...} per line")
    args = parser.parse_args(argv)
    try:
        read_qa_jsonl(args.path)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
