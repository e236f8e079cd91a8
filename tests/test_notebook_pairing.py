"""Every notebook has a jupytext twin (notebooks/NN_name.py, py:percent) that agrees with it cell for cell.

The .py is what we edit and review; the .ipynb carries the stored outputs learners read. If the two drift,
one of them silently loses an edit: run `jupytext --to ipynb --update notebooks/NN_name.py` (see notebooks/README.md).
"""
from pathlib import Path

import jupytext
from jupytext.cli import jupytext as jupytext_cli
import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NB_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("[0-9][0-9]_*.ipynb"))
SOURCES = sorted(NB_DIR.glob("[0-9][0-9]_*.py"))


def cells(nb):
    return [(c.cell_type, c.source) for c in nb.cells]


def first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"cell {i}: {x[0]} {x[1][:80]!r} ≠ {y[0]} {y[1][:80]!r}"
    return f"cell counts differ: {len(a)} vs {len(b)}"


def test_every_notebook_has_a_source_and_every_source_a_notebook():
    assert NOTEBOOKS, "no notebooks found"
    assert {p.stem for p in NOTEBOOKS} == {p.stem for p in SOURCES}


def test_no_notebook_builders_remain():
    assert not list(NB_DIR.glob("*_build.py")) and not (NB_DIR / "nbtools.py").exists()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_source_and_notebook_agree_cell_for_cell(path):
    from_py = cells(jupytext.read(path.with_suffix(".py")))
    from_ipynb = cells(nbformat.read(path, as_version=4))
    assert from_py == from_ipynb, (
        f"{path.name} ≠ {path.stem}.py at {first_difference(from_py, from_ipynb)}; "
        f"run `jupytext --to ipynb --update notebooks/{path.stem}.py` (or --to py:percent after editing the notebook)"
    )


def test_the_check_sees_an_edit_in_either_direction(tmp_path):
    """The comparison above must fail when one side changes: edit a copy of each side and compare again."""
    path = NOTEBOOKS[0]
    nb = nbformat.read(path, as_version=4)
    md = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown")
    edited = nbformat.from_dict(nb)
    edited.cells[md].source += "\n多了一句。"
    assert cells(jupytext.read(path.with_suffix(".py"))) != cells(edited)
    py_text = path.with_suffix(".py").read_text(encoding="utf-8").replace("# %% [markdown]", "# %%", 1)
    (tmp_path / "x.py").write_text(py_text, encoding="utf-8")
    assert cells(jupytext.read(tmp_path / "x.py")) != cells(nb)


def test_update_keeps_the_outputs_of_unchanged_cells(tmp_path):
    """The workflow notebooks/README.md documents: a prose edit in the .py keeps every stored output."""
    path = NOTEBOOKS[0]
    ipynb, py = tmp_path / path.name, tmp_path / f"{path.stem}.py"
    ipynb.write_bytes(path.read_bytes())
    text = path.with_suffix(".py").read_text(encoding="utf-8")
    first_md = text.index("# %% [markdown]\n") + len("# %% [markdown]\n")
    py.write_text(text[:first_md] + "# 新加的一句话。\n#\n" + text[first_md:], encoding="utf-8")
    before = nbformat.read(path, as_version=4)
    jupytext_cli([str(py), "--to", "ipynb", "--update", "--quiet"])
    after = nbformat.read(ipynb, as_version=4)
    assert after.cells[0].source.startswith("新加的一句话。")
    old = [c.outputs for c in before.cells if c.cell_type == "code"]
    new = [c.outputs for c in after.cells if c.cell_type == "code"]
    assert new == old and any(old)
