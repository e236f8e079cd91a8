"""练习的命令行：列出练习、自检判题器、打印 notebook 用的练习单元格。

    python -m minigpt.exercises --list        # 编号、章、星级、标题
    python -m minigpt.exercises --self-test   # 每个判题器都能判对也能判错、骗不过（全部成立时退出码为 0）
    python -m minigpt.exercises --cells 5     # 第 5 章的练习单元格（jupytext py:percent 格式）
"""
from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import io
import sys

from minigpt.cli import ArgumentParser, ConfigError, report
from minigpt.exercises import progress
from minigpt.exercises.core import (CHAPTERS, Exercise, all_exercises, cell_with_solution, chapter_exercises, check, code_cell,
                                   percent_cells)

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


def verdict(text: str) -> str:
    """一段输出里最后一行判题结论（以 ✅、⏳ 或 ❌ 开头）；没有就是空串。"""
    return next((line for line in reversed(text.splitlines()) if line.startswith((PASS, NOT_DONE, FAIL))), "")


def run_cell(code: str, label: str) -> str:
    """执行一个代码单元格，返回它打印的文字；不记进度。"""
    buf = io.StringIO()
    with progress.not_recorded(), contextlib.redirect_stdout(buf):
        exec(compile(code, label, "exec"), {"__name__": "__cell__"})
    return buf.getvalue()


def self_test_one(ex: Exercise) -> list[str]:
    """这道练习的判题器有哪些地方不成立（空列表 = 全部成立）。"""
    problems = []
    outputs = []

    def run(answer) -> tuple[bool, str]:
        ok, text = checked(ex, answer)
        outputs.append(text)
        return ok, text

    solution = getattr(solution_module(ex), ex.name)
    ok, text = run(solution)
    if not (ok and text.startswith(PASS)):
        problems.append(f"参考答案没通过：{text.strip()}")
    ok, text = run(stub_answer(ex))
    if ok or not text.startswith(NOT_DONE) or f'hint("{ex.id}")' not in text:
        problems.append(f"桩代码没有报“还没做”和怎样要提示：{text.strip()}")
    for i, wrong in enumerate(ex.wrong, 1):
        ok, text = run(wrong.fn() if ex.kind == "predict" else wrong.fn)
        if ok or not text.startswith(FAIL) or wrong.hint not in text:  # 只有原样的桩代码才算“还没做”
            problems.append(f"错误写法 {i}（应提示“{wrong.hint}”）：{text.strip()}")
    problems += _cannot_be_gamed(ex, solution, run)
    text = run_cell(cell_with_solution(ex, solution_source(ex)), f"<练习 {ex.id} 单元格>")
    if not verdict(text).startswith(PASS):
        problems.append(f"notebook 单元格换上参考答案后没有通过：{text.strip()}")
    stub_cell = run_cell(code_cell(ex), f"<练习 {ex.id} 桩代码单元格>")
    for step, text in enumerate(ex.hints, 1):  # 提示只由 hint() 给出：判题输出、桩代码单元格里都不能有
        if any(text in out for out in outputs + [stub_cell]):
            problems.append(f"第 {step} 步提示出现在了判题输出里（应只由 hint 给出）：{text}")
    return problems


def _cannot_be_gamed(ex: Exercise, solution, run) -> list[str]:
    """写死的常数骗不过判题：predict 的真实值是算出来的，远离它的数不通过；函数题各用例的期望值不全相同。"""
    problems = []
    if ex.kind == "predict":
        if not ex.reference.__code__.co_names:
            problems.append("predict 的参考实现不能是写死的数：要调用课程包里的函数算出来")
        ok, text = run(3 * float(solution) + 1)
        if ok or ex.proved not in text:
            problems.append(f"离真实值很远的预测没有被拒绝、或没有解释：{text.strip()}")
        return problems
    if ex.kind == "function" and len(ex.cases) > 1:
        first = ex.harness(solution, *ex.cases[0].args()) if ex.harness else solution(*ex.cases[0].args())
        ok, text = run(lambda *args: first)
        if ok:
            problems.append("每次都返回第一个用例的答案也通过了：各用例要有不同的期望值")
    return problems


def self_test(chapter: int = 0) -> int:
    failed = 0
    exercises = chapter_exercises(chapter) if chapter else all_exercises()
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
            print(f"✓ {ex.id} {ex.title}：参考答案通过，桩代码“还没做”，{len(ex.wrong)} 种错误写法各被认出，"
                  f"写死的常数骗不过，提示只由 hint 给出，notebook 单元格换上参考答案后通过")
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
    group.add_argument("--self-test", nargs="?", const=0, type=int, metavar="N",
                       help="自检每个判题器（给了 N 就只自检第 N 章）：参考答案通过、桩代码报“还没做”、每种错误写法被认出")
    group.add_argument("--cells", type=int, metavar="N", help="打印第 N 章的练习单元格（jupytext py:percent 格式）")
    args = parser.parse_args(argv)
    if args.list:
        list_exercises()
        return 0
    if args.self_test is not None:
        return self_test(args.self_test)
    if args.cells not in CHAPTERS or not chapter_exercises(args.cells):
        report(ConfigError(f"第 {args.cells} 章没有练习（练习在第 {CHAPTERS[0]}–{CHAPTERS[-1]} 章）"))
        return 2
    print(percent_cells(args.cells), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
