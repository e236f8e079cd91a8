"""记住你通过了哪些练习、每道题看了几步提示：一个放在你自己文件夹里的小 JSON 文件（不在仓库里）。

位置：环境变量 MINIGPT_PROGRESS 指定的文件，否则 ~/.minigpt/progress.json。内容形如
    {"passed": {"5.2": "2026-12-01T10:00:00"}, "hints": {"5.2": 2}}（hints：每道题看过几步提示）
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


def _read() -> dict:
    """整个进度文件：{"passed": {编号: 时间}, "hints": {编号: 用了几步提示}}。文件不存在时两项都是空的。"""
    path = progress_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {"passed": {}, "hints": {}}
    except OSError as e:
        _say_once(f"read:{path}", f"（进度文件 {path} 读不了：{e.strerror or e}；这次的进度不会被记住）")
        return {"passed": {}, "hints": {}}
    try:
        data = json.loads(text)
        passed, hints = data["passed"], data.get("hints", {})
        if not isinstance(passed, dict) or not isinstance(hints, dict):
            raise TypeError
        return {"passed": {str(k): str(v) for k, v in passed.items()},
                "hints": {str(k): int(v) for k, v in hints.items()}}
    except (ValueError, KeyError, TypeError, AttributeError):
        backup = path.with_name(path.name + ".bak")
        try:
            os.replace(path, backup)
            moved = f"已改名为 {backup.name}"
        except OSError:
            moved = "没能改名"
        _say_once(f"corrupt:{path}", f"（进度文件 {path} 已损坏，{moved}，换成一个新的进度文件）")
        return {"passed": {}, "hints": {}}


def load() -> dict[str, str]:
    """通过的练习 → 第一次通过的时间。"""
    return _read()["passed"]


def _save(data: dict) -> None:
    path = progress_path()
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=1, sort_keys=True)
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
    data = _read()
    if exercise_id not in data["passed"]:
        data["passed"][exercise_id] = time.strftime("%Y-%m-%dT%H:%M:%S")
        _save(data)


def passed_ids() -> set[str]:
    return set(load())


def hints_used(exercise_id: str) -> int:
    """这道练习已经看过几步提示。"""
    return _read()["hints"].get(exercise_id, 0)


def record_hint(exercise_id: str, step: int) -> None:
    """记下看到了第 step 步提示（只增不减）。"""
    if not _recording:
        return
    data = _read()
    if step > data["hints"].get(exercise_id, 0):
        data["hints"][exercise_id] = step
        _save(data)


@contextmanager
def not_recorded():
    """自检（--self-test）时用：判题照常进行，但不写进你的进度。"""
    global _recording
    old, _recording = _recording, False
    try:
        yield
    finally:
        _recording = old
