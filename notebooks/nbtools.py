"""Helpers to write course notebooks with nbformat used by the builders of notebooks 01–04."""
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SETUP = (ROOT / "tests" / "setup_cell.py").read_text(encoding="utf-8").strip()


def md(text):
    return nbformat.v4.new_markdown_cell(text.strip("\n"))


def code(text):
    return nbformat.v4.new_code_cell(text.strip("\n"))


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
