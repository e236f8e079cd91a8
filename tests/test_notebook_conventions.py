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
