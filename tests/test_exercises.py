"""Exercises and their checker (minigpt/exercises): every checker accepts its solution, reports a stub as
not done (with how to ask for a hint, never the hint itself), rejects each listed wrong solution with its intended
hint, never raises, and the cells that `--cells` prints for the notebooks pass when the solution is pasted in.
hint() gives the steps one at a time and records them; predict exercises compare a number with a computed truth.
Progress goes to a tmp file."""
import json
import linecache
import random
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest
import torch

from minigpt.exercises import check, hint, progress, show_progress
from minigpt.exercises.__main__ import (checked, main, run_cell, self_test_one, solution_module, solution_source, stub_answer,
                                        verdict)
from minigpt.exercises.core import Exercise, Result, Wrong, all_exercises, code_cell, get

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
    """Solution passes, stub is 还没做 + how to ask, each wrong variant fails with its hint, no hint step is ever printed
    by check, a constant answer fails, cell + solution passes."""
    assert len(ex.wrong) >= 2 and 2 <= len(ex.hints) <= 3
    assert self_test_one(ex) == []


def test_self_test_catches_a_broken_checker():
    """A wrong 'wrong variant' (it is in fact correct) and a hint that never shows make the self-test fail."""
    ex = get("5.5")
    broken = Exercise(**{**ex.__dict__, "wrong": [Wrong(ex.reference, "这条提示不会出现"), *ex.wrong]})
    problems = self_test_one(broken)
    assert len(problems) == 1 and "这条提示不会出现" in problems[0]
    leaky = Exercise(**{**ex.__dict__, "hints": [ex.hints[0], ex.wrong[0].hint]})  # a hint step that check prints
    assert any("提示出现在了判题输出里" in p for p in self_test_one(leaky))
    constant = get("1.3")
    literal = Exercise(**{**constant.__dict__, "reference": lambda: 20.8})  # a predict truth must be computed
    assert any("写死的数" in p for p in self_test_one(literal))


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
    ex = get("5.3")
    monkeypatch.setattr(ex, "reference", _raises_value_error)
    assert not check("5.3", solution_module(ex).my_layer_norm)
    assert "判题器出错了" in capsys.readouterr().out


def test_exception_shows_the_learners_line(capsys):
    """The traceback is a few lines that end at the learner's own line, not inside the checker or torch."""
    namespace = {}
    source = "import torch\n\ndef my_attention(q, k, v, window):\n    scores = q @ k\n    return scores @ v\n"
    linecache.cache["<我的单元格>"] = (len(source), None, source.splitlines(True), "<我的单元格>")  # as IPython does
    exec(compile(source, "<我的单元格>", "exec"), namespace)
    assert not check("5.1", namespace["my_attention"])
    out = capsys.readouterr().out
    assert "<我的单元格>，第 4 行，my_attention" in out and "scores = q @ k" in out
    assert "RuntimeError" in out and "提示：形状对不上" in out
    assert "core.py" not in out and "torch/" not in out and "Traceback" not in out


def test_returning_none_is_not_done_with_a_return_reminder(capsys):
    assert not check("5.1", lambda q, k, v, window: None)
    out = capsys.readouterr().out
    assert out.startswith("⏳") and "别忘了 return" in out and 'hint("5.1")' in out


def test_generic_hints_for_unlisted_mistakes(capsys):
    """Mistakes that are not in any exercise's list still get a hint from the shape of the difference."""
    sol = solution_module(get("5.1")).my_attention
    cases = {
        "transposed result": (lambda q, k, v, w: sol(q, k, v, w).transpose(-1, -2), "维度顺序"),
        "scaled result": (lambda q, k, v, w: sol(q, k, v, w) * 2, "2 倍"),
        "lost a dim": (lambda q, k, v, w: sol(q, k, v, w)[0], "少了一维"),
        "integer result": (lambda q, k, v, w: sol(q, k, v, w).long(), "dtype"),
        "list result": (lambda q, k, v, w: sol(q, k, v, w).tolist(), "torch.Tensor"),
        "NaN": (lambda q, k, v, w: sol(q, k, v, w) * float("nan"), "NaN"),
    }
    for label, (answer, words) in cases.items():
        assert not check("5.1", answer), label
        out = capsys.readouterr().out
        assert words in out, (label, out)


def test_in_place_change_of_an_input_is_reported(capsys):
    def sneaky(q, k, v, window):
        out = solution_module(get("5.1")).my_attention(q, k, v, window)
        q.mul_(0)
        return out

    assert not check("5.1", sneaky)
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
    ex = get("5.3")
    assert check("5.3", solution_module(ex).my_layer_norm)
    assert not check("5.1", stub_answer(get("5.1")))
    assert set(json.loads(progress_file.read_text(encoding="utf-8"))["passed"]) == {"5.3"}
    assert [p.name for p in progress_file.parent.iterdir()] == ["progress.json"]  # no temp file left behind
    capsys.readouterr()
    show_progress(5)
    out = capsys.readouterr().out
    n = len([e for e in EXERCISES if e.chapter == 5])
    assert f"第 5 章练习：1/{n} 通过" in out
    assert f"5.1 {get('5.1').title}（★★）" in out and "5.3 LayerNorm" not in out


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
    sol = solution_module(get("5.3")).my_layer_norm
    assert check("5.3", sol)
    out = capsys.readouterr().out
    assert out.count("已损坏") == 1
    assert json.loads(progress_file.read_text(encoding="utf-8"))["passed"].keys() == {"5.3"}
    assert (progress_file.parent / "progress.json.bak").read_text(encoding="utf-8") == "{not json"
    progress_file.write_text('{"passed": [1, 2]}', encoding="utf-8")  # valid JSON, wrong structure
    assert check("5.3", sol)
    assert "已损坏" not in capsys.readouterr().out  # reported once per file


def test_unwritable_progress_never_crashes(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("MINIGPT_PROGRESS", str(blocker / "progress.json"))  # parent is a file
    assert check("5.3", solution_module(get("5.3")).my_layer_norm)
    assert "进度没能保存" in capsys.readouterr().out


def test_self_test_does_not_record_progress(progress_file):
    checked(get("5.3"), solution_module(get("5.3")).my_layer_norm)
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
        assert 3 <= len(ids) <= (9 if chapter == 11 else 6), (chapter, ids)  # 第 11 章：LoRA、DPO、GRPO 各三道
        assert ids == sorted(ids, key=lambda i: int(i.split(".")[1])), ids  # numbered in notebook order
        stars = [get(i).stars for i in ids]
        assert min(stars) <= 2 and max(stars) >= 2, (chapter, stars)
        if chapter <= 8:
            assert any(get(i).kind == "predict" for i in ids), chapter  # every chapter asks for a prediction


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
        stub_out = run_cell(cell, f"<{ex.id} 桩>")  # 6.5's cell prints its training run and diagnosis first
        assert verdict(stub_out).startswith(f"⏳ 练习 {ex.id}"), stub_out
        assert f'hint("{ex.id}")' in stub_out and not any(h in stub_out for h in ex.hints), stub_out
        source = solution_source(ex)
        assert source not in cell
        solved = _substitute(cell, ex.name, source)
        out = run_cell(solved, f"<{ex.id} 单元格>")
        assert verdict(out).startswith(f"✅ 练习 {ex.id}"), out


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
    assert main(["--cells", "12"]) == 2
    assert "第 12 章没有练习" in capsys.readouterr().err


def test_solutions_are_linked_files_and_define_every_exercise():
    for ex in EXERCISES:
        path = ROOT / "minigpt" / "exercises" / "solutions" / f"ch{ex.chapter:02d}.py"
        assert path.is_file()
        assert callable(getattr(solution_module(ex), ex.name)) or ex.kind in ("value", "predict")


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
    "3.3 distinct idioms over all questions": ("3.3", lambda t, v: len(set(v) & set(t)) / len(v), "1/2"),
    "4.1 float tensors": ("4.1", lambda t: (torch.tensor(t[:-1], dtype=torch.float), torch.tensor(t[1:])), "torch.long"),
    "4.5 count instead of share": ("4.5", lambda l, b, w=None: sum((w or max(l[i] for i in bb)) * len(bb) - sum(l[i] for i in bb) for bb in b), "倍"),
    "5.3 std instead of sqrt(var + eps)": ("5.3", lambda x, w, b, eps=1e-5: (x - x.mean(-1, keepdim=True)) / (x.std(-1, keepdim=True) + eps) * w + b, "提示："),
    "5.1 transposed output": ("5.1", lambda q, k, v, w: solution_module(get("5.1")).my_attention(q, k, v, w).transpose(-1, -2), "transpose"),
    "6.1 mean over all positions after masking": ("6.1", lambda l, t, p: (torch.nn.functional.cross_entropy(l.transpose(1, 2), t, reduction="none") * (t != p)).mean(), "分母"),
    "7.2 -1e9 instead of -inf": ("7.2", lambda l, T, m: torch.where((l / T).softmax(-1) >= m * (l / T).softmax(-1).max(-1, keepdim=True).values, l / T, torch.full_like(l, -1e9)), "-inf"),
    "7.3 cumsum without sorting": ("7.3", lambda l, p: l.masked_fill(l.softmax(-1).cumsum(-1) > p, float("-inf")), "屏蔽"),
    "8.1 no eps": ("8.1", lambda x, w, eps=1e-6: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True)) * w, "提示："),
    "8.2 identity": ("8.2", lambda x, p, t, r: x, "提示："),
}


@pytest.mark.parametrize("label", list(UNLISTED))
def test_unlisted_mistakes_are_rejected_with_a_hint(label, capsys):
    exercise_id, answer, words = UNLISTED[label]
    assert not check(exercise_id, answer)
    out = capsys.readouterr().out
    assert out.startswith("❌") and "提示：" in out and words in out, out


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")), ids=lambda p: p.name)
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
    """6.5: the stub's own code is 还没做; edited code with the same flat curve is a failure with the planted-bug hint."""
    ex = get("6.5")
    assert not check("6.5", stub_answer(ex))
    assert capsys.readouterr().out.startswith("⏳")
    namespace = {}
    edited = "    optimizer.zero_grad()\n    optimizer.step()\n    loss.backward()\n"  # still wrong: step before backward
    exec(ex.stub.replace("    loss.backward()\n    optimizer.zero_grad()\n    optimizer.step()\n", edited), namespace)
    assert not check("6.5", namespace["my_train_step"])
    out = capsys.readouterr().out
    assert out.startswith("❌") and "zero_grad → backward → step" in out


def test_an_untouched_stub_in_jupyter_is_not_done_yet_and_an_edited_one_fails(capsys, tmp_path, monkeypatch):
    """Jupyter (IPython) compiles a cell to other bytecode than compile() does: 6.5's verdict must not depend on it."""
    from IPython.core.interactiveshell import InteractiveShell
    monkeypatch.setenv("MINIGPT_PROGRESS", str(tmp_path / "progress.json"))
    assert main(["--cells", "6"]) == 0
    notebook = jupytext.reads(capsys.readouterr().out, fmt="py:percent")
    cell = next(c.source for c in notebook.cells if c.cell_type == "code" and 'check("6.5"' in c.source)
    shell = InteractiveShell.instance()
    try:
        assert shell.run_cell(cell).success
        assert _verdict(capsys).startswith("⏳ 练习 6.5")
        commented = cell.replace("optimizer.zero_grad()", "optimizer.zero_grad()  # 只加了注释", 1)
        assert commented != cell and shell.run_cell(commented).success  # a comment is not an attempt
        assert _verdict(capsys).startswith("⏳ 练习 6.5")
        edited = cell.replace("这里埋了一个 bug。", "这里埋了一个 bug。我改过了。", 1)  # same bug, function edited
        assert edited != cell and shell.run_cell(edited).success
        assert _verdict(capsys).startswith("❌ 练习 6.5")
    finally:
        InteractiveShell.clear_instance()


def _verdict(capsys) -> str:
    """The checker's last verdict line in what the IPython shell printed (it also prints an Out[..] prompt)."""
    return [line for line in capsys.readouterr().out.splitlines() if line[:1] in "⏳❌✅"][-1]


# ------------------------------------------------------------------------------ hints on request, in steps
def test_hint_gives_the_next_step_each_call_and_records_it(progress_file, capsys):
    ex = get("5.1")
    for step in range(1, len(ex.hints) + 1):
        hint("5.1")
        out = capsys.readouterr().out
        assert f"提示 {step}/{len(ex.hints)}" in out and ex.hints[step - 1] in out, out
        assert not any(h in out for h in ex.hints[step:]), out  # never a later step
        assert json.loads(progress_file.read_text(encoding="utf-8"))["hints"] == {"5.1": step}
    hint("5.1")  # past the last step: the last step again, and where the solution is
    out = capsys.readouterr().out
    assert ex.hints[-1] in out and "solutions/ch05.py" in out
    hint("5.1", 1)  # re-reading an earlier step does not lower the count
    assert ex.hints[0] in capsys.readouterr().out
    assert progress.hints_used("5.1") == len(ex.hints)
    check("5.1", solution_module(ex).my_attention)
    capsys.readouterr()
    show_progress(5)
    assert f"5.1（{len(ex.hints)} 步提示）" in capsys.readouterr().out


def test_hint_cannot_skip_ahead_and_never_raises(capsys, monkeypatch):
    hint("4.1", 3)  # asking for step 3 before steps 1 and 2 gives step 1
    out = capsys.readouterr().out
    assert "提示 1/" in out and get("4.1").hints[0] in out
    hint("99.1")
    assert "没有编号为 '99.1' 的练习" in capsys.readouterr().out
    monkeypatch.setattr(progress, "hints_used", lambda exercise_id: 1 / 0)
    hint("4.1")
    assert "显示提示时出错了" in capsys.readouterr().out


@pytest.mark.parametrize("ex", EXERCISES, ids=IDS)
def test_check_never_prints_a_hint_step(ex, capsys):
    """Stub, solution and every known mistake: the output names the mistake, never a step of hint()."""
    answers = [stub_answer(ex), getattr(solution_module(ex), ex.name)]
    answers += [w.fn() if ex.kind == "predict" else w.fn for w in ex.wrong]
    for answer in answers:
        check(ex.id, answer)
        out = capsys.readouterr().out
        assert not any(h in out for h in ex.hints), out


def test_stored_cells_show_not_done_and_how_to_ask(capsys):
    """What a stored notebook output of an untouched stub shows: 还没做 and hint("N.M"), nothing more."""
    for ex in EXERCISES:
        out = run_cell(code_cell(ex), f"<{ex.id}>")
        note = "：这还是桩代码里原来的写法" if any(w.stub for w in ex.wrong) else ""  # 6.5's stub is code with a planted bug
        assert verdict(out) == f'⏳ 练习 {ex.id}“{ex.title}”还没做{note}。卡住了可以运行 hint("{ex.id}")，一次给一步提示。', out


# ------------------------------------------------------------------------------ predict-the-number exercises
def test_prediction_is_checked_with_its_tolerance_and_explained(capsys):
    ex = get("5.6")
    truth = ex.reference()
    assert check("5.6", truth * (1 + 0.8 * ex.rtol))
    out = capsys.readouterr().out
    assert out.startswith("✅") and "真实值" in out and ex.proved in out
    assert not check("5.6", truth * (1 + 2 * ex.rtol))
    out = capsys.readouterr().out
    assert out.startswith("❌") and "偏大" in out and ex.proved in out
    assert not check("5.6", float(get("5.6").wrong[0].fn()))  # V instead of ln V: the hint names it
    assert "ln V" in capsys.readouterr().out
    assert not check("5.6", "八点五")
    assert "要是一个数" in capsys.readouterr().out
    assert not check("5.6", ...)
    assert capsys.readouterr().out.startswith("⏳")


# ------------------------------------------------------------------------------ hints that guess from the shape of a difference
def test_pattern_hints_fire_only_where_allowed(capsys):
    """6.2: a learning rate 100× too large is not a percentage; 7.3: a softmax over the wrong dim is not an off-by-one."""
    lr = solution_module(get("6.2")).my_lr_at
    assert not check("6.2", lambda *a: 100 * lr(*a))
    out = capsys.readouterr().out
    assert "百分数" not in out and "第一处不一样" in out, out
    assert not check("4.5", lambda lengths, batches, width=None: 100 * solution_module(get("4.5")).padding_waste(lengths, batches, width))
    assert "100 倍" in capsys.readouterr().out  # 4.5 returns a share: there the guess is right
    assert not check("7.3", lambda l, p: l.softmax(0).log())
    assert "< 还是 ≤" not in capsys.readouterr().out

