"""记住你通过了哪些练习：一个放在你自己文件夹里的小 JSON 文件（不在仓库里）。

位置：环境变量 MINIGPT_PROGRESS 指定的文件，否则 ~/.minigpt/progress.json。内容形如
    {"passed": {"5.2": "2026-12-01T10:00:00"}}
写入是原子的（先写临时文件再改名），中途断电也不会留下半个文件。文件坏了（不是合法 JSON）时
说明一次，把坏文件改名为 progress.json.bak，换一个新的；读写出错只提示，从不让判题崩溃。
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

_reported: set[str] = set()  # 每种问题只说一次
_recording = True


def progress_path() -> Path:
    return Path(os.environ.get("MINIGPT_PROGRESS") or Path.home() / ".minigpt" / "progress.json")


def _say_once(key: str, message: str) -> None:
    if key not in _reported:
        _reported.add(key)
        print(message)


def load() -> dict[str, str]:
    """通过的练习 → 第一次通过的时间。文件不存在时是空的。"""
    path = progress_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as e:
        _say_once(f"read:{path}", f"（进度文件 {path} 读不了：{e.strerror or e}；这次的进度不会被记住）")
        return {}
    try:
        passed = json.loads(text)["passed"]
        if not isinstance(passed, dict):
            raise TypeError
        return {str(k): str(v) for k, v in passed.items()}
    except (ValueError, KeyError, TypeError):
        backup = path.with_name(path.name + ".bak")
        try:
            os.replace(path, backup)
            moved = f"已改名为 {backup.name}"
        except OSError:
            moved = "没能改名"
        _say_once(f"corrupt:{path}", f"（进度文件 {path} 已损坏，{moved}，换成一个新的进度文件）")
        return {}


def _save(passed: dict[str, str]) -> None:
    path = progress_path()
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"passed": passed}, f, ensure_ascii=False, indent=1, sort_keys=True)
        os.replace(tmp, path)
        tmp = None
    except OSError as e:
        _say_once(f"write:{path}", f"（进度没能保存到 {path}：{e.strerror or e}）")
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)  # 写到一半失败：不留下临时文件


def mark_passed(exercise_id: str) -> None:
    if not _recording:
        return
    passed = load()
    if exercise_id not in passed:
        passed[exercise_id] = time.strftime("%Y-%m-%dT%H:%M:%S")
        _save(passed)


def passed_ids() -> set[str]:
    return set(load())


@contextmanager
def not_recorded():
    """自检（--self-test）时用：判题照常进行，但不写进你的进度。"""
    global _recording
    old, _recording = _recording, False
    try:
        yield
    finally:
        _recording = old
