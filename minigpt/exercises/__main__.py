"""练习的命令行：列出练习、自检判题器、打印 notebook 用的练习单元格。

    python -m minigpt.exercises --list        # 编号、章、星级、标题
    python -m minigpt.exercises --self-test   # 每个判题器都能判对也能判错（全部成立时退出码为 0）
    python -m minigpt.exercises --cells 5     # 第 5 章的练习单元格（jupytext py:percent 格式）
"""
from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import io
import sys

from minigpt.cli import ArgumentParser
from minigpt.exercises import progress
from minigpt.exercises.core import CHAPTERS, Exercise, all_exercises, cell_with_solution, chapter_exercises, check, percent_cells

PASS, NOT_DONE, FAIL = "✅", "⏳", "❌"  # check 输出的第一个字符


def solution_module(ex: Exercise):
    return importlib.import_module(f"minigpt.exercises.solutions.ch{ex.chapter:02d}")


def solution_source(ex: Exercise) -> str:
    """参考答案里这道题的源代码（函数定义，或者 name = … 的赋值）。"""
    module = solution_module(ex)
    if ex.kind == "function":
        return inspect.getsource(getattr(module, ex.name))
    source = inspect.getsource(module)
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == ex.name for t in node.targets):
            return ast.get_source_segment(source, node)
    raise ValueError(f"{module.__name__} 里没有 {ex.name}")


def stub_answer(ex: Exercise):
    """桩代码里那个还没填的函数（或值）。"""
    namespace = {"__name__": "__stub__"}
    exec(compile(ex.stub, f"<练习 {ex.id} 桩代码>", "exec"), namespace)
    return namespace[ex.name]


def checked(ex: Exercise, answer) -> tuple[bool, str]:
    """运行 check，返回 (是否通过, 它打印的文字)；不记进度。"""
    buf = io.StringIO()
    with progress.not_recorded(), contextlib.redirect_stdout(buf):
        ok = check(ex.id, answer)
    return bool(ok), buf.getvalue()


def run_cell(code: str, label: str) -> str:
    """执行一个代码单元格，返回它打印的文字；不记进度。"""
    buf = io.StringIO()
    with progress.not_recorded(), contextlib.redirect_stdout(buf):
        exec(compile(code, label, "exec"), {"__name__": "__cell__"})
    return buf.getvalue()


def self_test_one(ex: Exercise) -> list[str]:
    """这道练习的判题器有哪些地方不成立（空列表 = 全部成立）。"""
    problems = []
    ok, text = checked(ex, getattr(solution_module(ex), ex.name))
    if not (ok and text.startswith(PASS)):
        problems.append(f"参考答案没通过：{text.strip()}")
    ok, text = checked(ex, stub_answer(ex))
    stub_hints = [ex.first_hint] + [w.hint for w in ex.wrong if w.stub]  # 埋了 bug 的桩代码给那个 bug 的提示
    if ok or not text.startswith(NOT_DONE) or not any(hint in text for hint in stub_hints):
        problems.append(f"桩代码没有报“还没做”和第一条提示：{text.strip()}")
    for i, wrong in enumerate(ex.wrong, 1):
        ok, text = checked(ex, wrong.fn)
        if ok or not text.startswith(FAIL) or wrong.hint not in text:  # 只有原样的桩代码才算“还没做”
            problems.append(f"错误写法 {i}（应提示“{wrong.hint}”）：{text.strip()}")
    text = run_cell(cell_with_solution(ex, solution_source(ex)), f"<练习 {ex.id} 单元格>")
    if not text.strip().splitlines()[-1:] or not text.strip().splitlines()[-1].startswith(PASS):
        problems.append(f"notebook 单元格换上参考答案后没有通过：{text.strip()}")
    return problems


def self_test() -> int:
    failed = 0
    exercises = all_exercises()
    for ex in exercises:
        try:
            problems = self_test_one(ex)
        except Exception as e:  # 自检本身出错也要报告出来，并算作失败
            problems = [f"自检出错：{type(e).__name__}: {e}"]
        if problems:
            failed += 1
            print(f"✗ {ex.id} {ex.title}")
            for p in problems:
                print("    " + p.replace("\n", "\n    "))
        else:
            print(f"✓ {ex.id} {ex.title}：参考答案通过，桩代码“还没做”，"
                  f"{len(ex.wrong)} 种错误写法各得到对应的提示，notebook 单元格换上参考答案后通过")
    print(f"\n自检：{len(exercises) - failed}/{len(exercises)} 道练习的判题器全部成立")
    return 1 if failed else 0


def list_exercises() -> None:
    for ch in CHAPTERS:
        for ex in chapter_exercises(ch):
            stars = "★" * ex.stars + "☆" * (3 - ex.stars)
            print(f"{ex.id:<5} 第 {ex.chapter} 章  {stars}  {ex.title}")


def main(argv=None) -> int:
    parser = ArgumentParser(prog="python -m minigpt.exercises", description="课程练习：列出、自检、生成 notebook 单元格。")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--list", action="store_true", help="列出所有练习：编号、章、星级、标题")
    group.add_argument("--self-test", action="store_true",
                       help="自检每个判题器：参考答案通过、桩代码报“还没做”、每种错误写法得到对应的提示")
    group.add_argument("--cells", type=int, metavar="N", help="打印第 N 章的练习单元格（jupytext py:percent 格式）")
    args = parser.parse_args(argv)
    if args.list:
        list_exercises()
        return 0
    if args.self_test:
        return self_test()
    if args.cells not in CHAPTERS:
        print(f"错误：没有第 {args.cells} 章（练习在第 {CHAPTERS[0]}–{CHAPTERS[-1]} 章）", file=sys.stderr)
        return 2
    print(percent_cells(args.cells), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
