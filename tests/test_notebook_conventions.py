"""Every notebook starts with the same set-up cell (tests/setup_cell.py), was executed top to bottom, and stores no
errors."""
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SETUP_CELL = (ROOT / "tests" / "setup_cell.py").read_text(encoding="utf-8").strip()


def code_cells(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_first_code_cell_is_the_shared_setup_cell(path):
    assert "".join(code_cells(path)[0]["source"]).strip() == SETUP_CELL


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_stored_outputs_come_from_one_top_to_bottom_run(path):
    counts = [c["execution_count"] for c in code_cells(path)]
    assert None not in counts, "a code cell was never executed"
    assert counts == list(range(1, len(counts) + 1)), f"execution counts {counts}: Restart & Run All"
    errors = [o for c in code_cells(path) for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, "a stored output is a traceback"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_some_cells_are_checked_by_nbval(path):
    sources = ["".join(c["source"]) for c in code_cells(path)]
    assert any("# NBVAL_CHECK_OUTPUT" in s for s in sources), "no deterministic cell is compared by nbval"


def stored_text(path) -> str:
    return "\n".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
                     for c in code_cells(path) for o in c["outputs"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_stored_outputs_give_away_no_hint_and_no_solved_exercise(path):
    """Learners read the notebooks on GitHub: a stored output never shows a hint step or an exercise passed."""
    from minigpt.exercises.core import all_exercises

    text = stored_text(path)
    leaked = [(ex.id, h[:40]) for ex in all_exercises() for h in ex.hints if h.strip() and h in text]
    assert not leaked, f"hint text in stored outputs: {leaked}"
    solved = [line for line in text.splitlines() if line.startswith("✅ 练习")]
    assert not solved, f"an exercise is stored as solved: {solved}"


def test_the_hint_scan_can_fail():
    from minigpt.exercises.core import all_exercises

    ex = all_exercises()[0]
    assert any(h in f"⏳ 提示：{ex.hints[0]}" for h in ex.hints)  # the scan above would see a printed hint
