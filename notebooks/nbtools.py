"""Helpers the notebook builders (notebooks/NN_*_build.py) share to write notebooks with nbformat."""
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SETUP = (ROOT / "tests" / "setup_cell.py").read_text(encoding="utf-8").strip()


def md(text):
    return nbformat.v4.new_markdown_cell(text.strip("\n"))


def code(text):
    return nbformat.v4.new_code_cell(text.strip("\n"))


def collector():
    """For builders that add cells one by one: `CELLS, md, code = collector()`; md(...)/code(...) append."""
    cells = []

    def add_md(text):
        cells.append(nbformat.v4.new_markdown_cell(text.strip()))

    def add_code(text):
        cells.append(nbformat.v4.new_code_cell(text.strip()))

    return cells, add_md, add_code


def write(name, cells):
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    nb.cells = cells
    path = ROOT / "notebooks" / name
    nbformat.write(nb, path)
    print("wrote", path)
