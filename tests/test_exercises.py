"""Exercises and their checker (minigpt/exercises): every checker accepts its solution, reports a stub as
not done, rejects each listed wrong solution with its intended hint, never raises, and the cells that
`--cells` prints for the notebooks pass when the solution is pasted in. Progress goes to a tmp file."""
import json
import linecache
import random
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest
import torch

from minigpt.exercises import check, progress, show_progress
from minigpt.exercises.__main__ import checked, main, run_cell, self_test_one, solution_module, solution_source, stub_answer
from minigpt.exercises.core import Exercise, Result, Wrong, all_exercises, get

ROOT = Path(__file__).resolve().parent.parent
EXERCISES = all_exercises()
IDS = [ex.id for ex in EXERCISES]


@pytest.fixture(autouse=True)
def progress_file(tmp_path, monkeypatch):
    """Every test writes its progress to a tmp file, never to the home folder."""
    path = tmp_path / "progress.json"
    monkeypatch.setenv("MINIGPT_PROGRESS", str(path))
    progress._reported.clear()
    return path


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "minigpt.exercises", *args], capture_output=True, text=True, cwd=ROOT)


# ------------------------------------------------------------------------------ the proof that checks can fail
@pytest.mark.parametrize("ex", EXERCISES, ids=IDS)
def test_self_test(ex):
    """Solution passes, stub is 还没做 + first hint, each wrong variant fails with its hint, cell + solution passes."""
    assert len(ex.wrong) >= 2
    assert self_test_one(ex) == []


def test_self_test_catches_a_broken_checker():
    """A wrong 'wrong variant' (it is in fact correct) and a hint that never shows make the self-test fail."""
    ex = get("5.3")
    broken = Exercise(**{**ex.__dict__, "wrong": [Wrong(ex.reference, "这条提示不会出现"), *ex.wrong]})
    problems = self_test_one(broken)
    assert len(problems) == 1 and "这条提示不会出现" in problems[0]


@pytest.mark.slow
def test_self_test_cli():
    r = run_cli("--self-test")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{len(EXERCISES)}/{len(EXERCISES)} 道练习的判题器全部成立" in r.stdout


# ------------------------------------------------------------------------------ the checker never raises
def _raises_value_error(*args):
    raise ValueError("我自己的错误")


BAD_ANSWERS = {
    "None": None,
    "Ellipsis": ...,
    "a number": 42,
    "a string": "答案",
    "the call's result instead of the function": [1, 2, 3],
    "returns text": lambda *a: "文字",
    "returns a list": lambda *a: [1, 2],
    "returns a 1-element tensor": lambda *a: torch.zeros(1),
    "returns a dict": lambda *a: {"a": 1},
    "raises": _raises_value_error,
    "divides by zero": lambda *a: 1 / 0,
    "takes no arguments": lambda: 0,
}


@pytest.mark.parametrize("ex", EXERCISES, ids=IDS)
def test_checker_never_raises(ex, capsys):
    for label, answer in BAD_ANSWERS.items():
        assert not check(ex.id, answer), label
        out = capsys.readouterr().out
        assert out.startswith(("❌", "⏳")), (label, out)
        assert "Traceback" not in out, (label, out)


def test_unknown_id_and_checker_bug_do_not_raise(capsys, monkeypatch):
    assert not check("9.9", lambda: 0)
    assert "没有编号为 '9.9' 的练习" in capsys.readouterr().out
    ex = get("5.1")
    monkeypatch.setattr(ex, "reference", _raises_value_error)
    assert not check("5.1", solution_module(ex).my_layer_norm)
    assert "判题器出错了" in capsys.readouterr().out


def test_exception_shows_the_learners_line(capsys):
    """The traceback is a few lines that end at the learner's own line, not inside the checker or torch."""
    namespace = {}
    source = "import torch\n\ndef my_attention(q, k, v):\n    scores = q @ k\n    return scores @ v\n"
    linecache.cache["<我的单元格>"] = (len(source), None, source.splitlines(True), "<我的单元格>")  # as IPython does
    exec(compile(source, "<我的单元格>", "exec"), namespace)
    assert not check("5.2", namespace["my_attention"])
    out = capsys.readouterr().out
    assert "<我的单元格>，第 4 行，my_attention" in out and "scores = q @ k" in out
    assert "RuntimeError" in out and "提示：形状对不上" in out
    assert "core.py" not in out and "torch/" not in out and "Traceback" not in out


def test_returning_none_is_not_done_with_a_return_reminder(capsys):
    assert not check("5.2", lambda q, k, v: None)
    out = capsys.readouterr().out
    assert out.startswith("⏳") and "别忘了 return" in out


def test_generic_hints_for_unlisted_mistakes(capsys):
    """Mistakes that are not in any exercise's list still get a hint from the shape of the difference."""
    sol = solution_module(get("5.2")).my_attention
    cases = {
        "transposed result": (lambda q, k, v: sol(q, k, v).transpose(-1, -2), "维度顺序"),
        "scaled result": (lambda q, k, v: sol(q, k, v) * 2, "2 倍"),
        "lost a dim": (lambda q, k, v: sol(q, k, v)[0], "少了一维"),
        "integer result": (lambda q, k, v: sol(q, k, v).long(), "dtype"),
        "list result": (lambda q, k, v: sol(q, k, v).tolist(), "torch.Tensor"),
        "NaN": (lambda q, k, v: sol(q, k, v) * float("nan"), "NaN"),
    }
    for label, (answer, words) in cases.items():
        assert not check("5.2", answer), label
        out = capsys.readouterr().out
        assert words in out, (label, out)


def test_in_place_change_of_an_input_is_reported(capsys):
    def sneaky(q, k, v):
        out = solution_module(get("5.2")).my_attention(q, k, v)
        q.mul_(0)
        return out

    assert not check("5.2", sneaky)
    assert "改动了传进来的输入" in capsys.readouterr().out


def test_check_keeps_the_callers_random_state():
    threads = torch.get_num_threads()
    torch.manual_seed(0)
    random.seed(0)
    before = (torch.rand(3), random.random())
    torch.manual_seed(0)
    random.seed(0)
    for ex in EXERCISES:
        check(ex.id, getattr(solution_module(ex), ex.name))
    assert torch.equal(torch.rand(3), before[0]) and random.random() == before[1]
    assert torch.get_num_threads() == threads


def test_result_is_a_boolean_that_jupyter_does_not_echo():
    assert Result(True) and not Result(False)
    assert Result(True) == True and repr(Result(False)) == "False"  # noqa: E712
    assert Result(True)._ipython_display_() is None


# ------------------------------------------------------------------------------ progress
def test_progress_is_recorded_and_shown(progress_file, capsys):
    ex = get("5.1")
    assert check("5.1", solution_module(ex).my_layer_norm)
    assert not check("5.2", stub_answer(get("5.2")))
    assert set(json.loads(progress_file.read_text(encoding="utf-8"))["passed"]) == {"5.1"}
    assert [p.name for p in progress_file.parent.iterdir()] == ["progress.json"]  # no temp file left behind
    capsys.readouterr()
    show_progress(5)
    out = capsys.readouterr().out
    n = len([e for e in EXERCISES if e.chapter == 5])
    assert f"第 5 章练习：1/{n} 通过" in out
    assert "5.2 带因果掩码的缩放点积注意力（★★）" in out and "5.1 LayerNorm" not in out


def test_show_progress_all_passed_and_unknown_chapter(capsys):
    for ex in EXERCISES:
        if ex.chapter == 5:
            assert check(ex.id, getattr(solution_module(ex), ex.name))
    capsys.readouterr()
    show_progress(5)
    assert "全部通过" in capsys.readouterr().out
    show_progress(42)
    assert "第 42 章没有练习" in capsys.readouterr().out


def test_corrupt_progress_file_is_reported_once_and_replaced(progress_file, capsys):
    progress_file.write_text("{not json", encoding="utf-8")
    sol = solution_module(get("5.1")).my_layer_norm
    assert check("5.1", sol)
    out = capsys.readouterr().out
    assert out.count("已损坏") == 1
    assert json.loads(progress_file.read_text(encoding="utf-8"))["passed"].keys() == {"5.1"}
    assert (progress_file.parent / "progress.json.bak").read_text(encoding="utf-8") == "{not json"
    progress_file.write_text('{"passed": [1, 2]}', encoding="utf-8")  # valid JSON, wrong structure
    assert check("5.1", sol)
    assert "已损坏" not in capsys.readouterr().out  # reported once per file


def test_unwritable_progress_never_crashes(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("MINIGPT_PROGRESS", str(blocker / "progress.json"))  # parent is a file
    assert check("5.1", solution_module(get("5.1")).my_layer_norm)
    assert "进度没能保存" in capsys.readouterr().out


def test_self_test_does_not_record_progress(progress_file):
    checked(get("5.1"), solution_module(get("5.1")).my_layer_norm)
    assert not progress_file.exists()


# ------------------------------------------------------------------------------ --list and --cells
def test_list_shows_every_exercise():
    r = run_cli("--list")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == len(EXERCISES)
    seen = {}
    for line, ex in zip(lines, EXERCISES):
        ex_id, _, chapter, _, stars, title = line.split(maxsplit=5)
        assert (ex_id, int(chapter), stars.count("★"), title) == (ex.id, ex.chapter, ex.stars, ex.title)
        seen.setdefault(ex.chapter, []).append(ex_id)
    assert len(IDS) == len(set(IDS))
    for chapter, ids in seen.items():
        assert 3 <= len(ids) <= 5, (chapter, ids)
        stars = [get(i).stars for i in ids]
        assert stars == sorted(stars) and stars[0] <= 2 and stars[-1] >= 2, (chapter, stars)  # easy → hard


@pytest.mark.parametrize("chapter", sorted({ex.chapter for ex in EXERCISES}))
def test_cells_from_the_cli_pass_with_the_solution_pasted_in(chapter, capsys):
    assert main(["--cells", str(chapter)]) == 0  # what `python -m minigpt.exercises --cells N` prints
    notebook = jupytext.reads(capsys.readouterr().out, fmt="py:percent")
    exercises = [ex for ex in EXERCISES if ex.chapter == chapter]
    code = [c.source for c in notebook.cells if c.cell_type == "code"]
    markdown = [c.source for c in notebook.cells if c.cell_type == "markdown"]
    assert len(code) == len(exercises) + 1 and code[-1].endswith(f"show_progress({chapter})")
    for ex, md, cell in zip(exercises, markdown, code):
        assert md.startswith(f"### 练习 {ex.id}　{ex.title}（{'★' * ex.stars}）")
        assert f"(../minigpt/exercises/solutions/ch{chapter:02d}.py)" in md
        assert cell.rstrip().endswith(f'check("{ex.id}", {ex.name})')
        stub_out = run_cell(cell, f"<{ex.id} 桩>")  # 6.4's cell prints its training run and diagnosis first
        assert stub_out.strip().splitlines()[-1].startswith(f"⏳ 练习 {ex.id}"), stub_out
        source = solution_source(ex)
        assert source not in cell
        solved = _substitute(cell, ex.name, source)
        out = run_cell(solved, f"<{ex.id} 单元格>")
        assert out.strip().splitlines()[-1].startswith(f"✅ 练习 {ex.id}"), out


def _substitute(cell: str, name: str, source: str) -> str:
    """Replace the stub definition of `name` in a notebook cell by the solution's source."""
    import ast
    for node in ast.parse(cell).body:
        if getattr(node, "name", None) == name or name in [getattr(t, "id", None) for t in getattr(node, "targets", [])]:
            start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1
            lines = cell.splitlines()
            return "\n".join(lines[:start] + source.splitlines() + lines[node.end_lineno:])
    raise AssertionError(f"{name} not in cell")


def test_cells_for_an_unknown_chapter_is_an_error(capsys):
    assert main(["--cells", "9"]) == 2
    assert "没有第 9 章" in capsys.readouterr().err


def test_solutions_are_linked_files_and_define_every_exercise():
    for ex in EXERCISES:
        path = ROOT / "minigpt" / "exercises" / "solutions" / f"ch{ex.chapter:02d}.py"
        assert path.is_file()
        assert callable(getattr(solution_module(ex), ex.name)) or ex.kind == "value"


def test_show_progress_never_raises(monkeypatch, capsys):
    def broken():
        raise OSError("磁盘坏了")

    monkeypatch.setattr(progress, "passed_ids", broken)
    show_progress(5)
    assert "显示进度时出错了" in capsys.readouterr().out


# Mistakes that no exercise lists: each must still be rejected, with a hint (generic or first).
def _in_place_shuffle(lines, ratio, seed):
    random.Random(seed).shuffle(lines)
    n = int(len(lines) * ratio)
    return lines[:n], lines[n:]


UNLISTED = {
    "1.2 specials in the wrong order": ("1.2", lambda c: {t: i for i, t in enumerate(["<pad>", "<sep>", "<unk>", *sorted(c)])}, "对应关系"),
    "2.1 unknown → <sep>": ("2.1", lambda text, w: [w.get(ch, 2) for ch in text], "提示："),
    "2.3 flat list instead of (ids, mask)": ("2.3", lambda q, a, w, n: ([w.get(c, 1) for c in q] + [0] * n)[:n], "元组"),
    "3.1 shuffles the caller's list": ("3.1", _in_place_shuffle, "改动了传进来的输入"),
    "3.2 distinct idioms over all questions": ("3.2", lambda t, v: len(set(v) & set(t)) / len(v), "1/2"),
    "4.1 float tensors": ("4.1", lambda t: (torch.tensor(t[:-1], dtype=torch.float), torch.tensor(t[1:])), "torch.long"),
    "4.4 count instead of share": ("4.4", lambda l, b, w=None: sum((w or max(l[i] for i in bb)) * len(bb) - sum(l[i] for i in bb) for bb in b), "倍"),
    "5.1 std instead of sqrt(var + eps)": ("5.1", lambda x, w, b, eps=1e-5: (x - x.mean(-1, keepdim=True)) / (x.std(-1, keepdim=True) + eps) * w + b, "提示："),
    "5.2 transposed output": ("5.2", lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(-1, -2), "transpose"),
    "6.3 mean over all positions after masking": ("6.3", lambda l, t, p: (torch.nn.functional.cross_entropy(l.transpose(1, 2), t, reduction="none") * (t != p)).mean(), "分母"),
    "7.1 -1e9 instead of -inf": ("7.1", lambda l, T, k: torch.where(l / T >= torch.topk(l / T, k).values[..., -1:], l / T, torch.full_like(l, -1e9)), "-inf"),
    "7.2 cumsum without sorting": ("7.2", lambda l, p: l.masked_fill(l.softmax(-1).cumsum(-1) > p, float("-inf")), "屏蔽"),
    "8.1 no eps": ("8.1", lambda x, w, eps=1e-6: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True)) * w, "提示："),
    "8.4 identity": ("8.4", lambda x, p, t: x, "提示："),
}


@pytest.mark.parametrize("label", list(UNLISTED))
def test_unlisted_mistakes_are_rejected_with_a_hint(label, capsys):
    exercise_id, answer, words = UNLISTED[label]
    assert not check(exercise_id, answer)
    out = capsys.readouterr().out
    assert out.startswith("❌") and "提示：" in out and words in out, out


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("0*.py")), ids=lambda p: p.name)
def test_notebook_exercise_cells_match_the_registry(path):
    """A stub cell pasted into a notebook stays what `--cells` prints: change an exercise, re-paste its cell."""
    import re

    from minigpt.exercises.core import code_cell

    by_id = {ex.id: ex for ex in EXERCISES}
    for cell in jupytext.read(path).cells:
        found = re.search(r'^check\("(\d+\.\d+)", (\w+)\)$', cell.source, re.M)
        if cell.cell_type == "code" and found:
            ex = by_id[found.group(1)]
            assert ex.chapter == int(path.name[:2]), (path.name, ex.id)
            assert cell.source.strip() == code_cell(ex).strip(), f"{path.name}: cell of exercise {ex.id} differs from --cells"


def test_planted_bug_is_not_done_only_while_the_code_is_unchanged(capsys):
    """6.4: the stub's own code is 还没做; edited code with the same flat curve is a failure with the planted-bug hint."""
    ex = get("6.4")
    assert not check("6.4", stub_answer(ex))
    assert capsys.readouterr().out.startswith("⏳")
    namespace = {}
    edited = "    optimizer.zero_grad()\n    optimizer.step()\n    loss.backward()\n"  # still wrong: step before backward
    exec(ex.stub.replace("    loss.backward()\n    optimizer.zero_grad()\n    optimizer.step()\n", edited), namespace)
    assert not check("6.4", namespace["train_step"])
    out = capsys.readouterr().out
    assert out.startswith("❌") and "zero_grad → backward → step" in out


def test_an_untouched_stub_in_jupyter_is_not_done_yet_and_an_edited_one_fails(capsys, tmp_path, monkeypatch):
    """Jupyter (IPython) compiles a cell to other bytecode than compile() does: 6.4's verdict must not depend on it."""
    from IPython.core.interactiveshell import InteractiveShell
    monkeypatch.setenv("MINIGPT_PROGRESS", str(tmp_path / "progress.json"))
    assert main(["--cells", "6"]) == 0
    notebook = jupytext.reads(capsys.readouterr().out, fmt="py:percent")
    cell = next(c.source for c in notebook.cells if c.cell_type == "code" and 'check("6.4"' in c.source)
    shell = InteractiveShell.instance()
    try:
        assert shell.run_cell(cell).success
        assert _verdict(capsys).startswith("⏳ 练习 6.4")
        commented = cell.replace("optimizer.zero_grad()", "optimizer.zero_grad()  # 只加了注释", 1)
        assert commented != cell and shell.run_cell(commented).success  # a comment is not an attempt
        assert _verdict(capsys).startswith("⏳ 练习 6.4")
        edited = cell.replace("这里埋了一个 bug。", "这里埋了一个 bug。我改过了。", 1)  # same bug, function edited
        assert edited != cell and shell.run_cell(edited).success
        assert _verdict(capsys).startswith("❌ 练习 6.4")
    finally:
        InteractiveShell.clear_instance()


def _verdict(capsys) -> str:
    """The checker's last verdict line in what the IPython shell printed (it also prints an Out[..] prompt)."""
    return [line for line in capsys.readouterr().out.splitlines() if line[:1] in "⏳❌✅"][-1]
