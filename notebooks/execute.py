"""Re-execute notebooks in place (a real, full run) and strip volatile metadata, keeping outputs.

    python notebooks/execute.py notebooks/01_build_vocab.ipynb [more.ipynb ...]

Runs with MINIGPT_FAST=0 (full mode) unless you set it, from the repo root, with the current Python.
"""
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


def execute(path: Path, timeout: int = 3600) -> None:
    nb = nbformat.read(path, as_version=4)
    os.environ.setdefault("MINIGPT_FAST", "0")
    start = time.time()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    nbformat.write(nb, path)
    subprocess.run([sys.executable, "-m", "nbstripout", "--keep-output", "--keep-count", str(path)], check=True)
    print(f"{path}: executed in {time.time() - start:.0f} s")


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        execute(Path(arg))
