"""Re-execute notebooks in place (a real, full run) and strip volatile metadata, keeping outputs.

    python notebooks/execute.py notebooks/06_train.py [more ...]     # the .py source or the .ipynb

Given a jupytext source (NN_name.py), it first carries the source into NN_name.ipynb
(`jupytext --to ipynb --update`), then executes the notebook top to bottom. Runs with MINIGPT_FAST=0
(full mode) unless you set it, from the repo root, with the current Python, and with an empty exercise progress
file (MINIGPT_PROGRESS), so the stored outputs never show exercises solved on the machine that ran them.
"""
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


def execute(path: Path, timeout: int = 3600) -> None:
    if path.suffix == ".py":
        subprocess.run([sys.executable, "-m", "jupytext", "--to", "ipynb", "--update", "--quiet", str(path)], check=True)
        path = path.with_suffix(".ipynb")
    nb = nbformat.read(path, as_version=4)
    os.environ.setdefault("MINIGPT_FAST", "0")
    # an empty progress file: stored outputs must not show exercises solved on the machine that ran them
    progress = tempfile.TemporaryDirectory()
    os.environ["MINIGPT_PROGRESS"] = str(Path(progress.name) / "progress.json")
    start = time.time()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    nbformat.write(nb, path)
    subprocess.run([sys.executable, "-m", "nbstripout", "--keep-output", "--keep-count", str(path)], check=True)
    print(f"{path}: 运行完毕，用时 {time.time() - start:.0f} 秒")


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        execute(Path(arg))
