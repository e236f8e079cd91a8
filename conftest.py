"""Pytest set-up shared by the unit tests and the notebooks that nbval executes.

MINIGPT_FAST=1 keeps the same models and data but cuts training steps; notebook kernels inherit it.
Slow tests carry `@pytest.mark.slow` (executing a notebook or driving a browser is always slow, marked here):

    pytest -m "not slow"      # the development loop, about a minute and a half on 2 cores
    pytest                    # everything (what CI runs)
"""
import os
from pathlib import Path

import pytest

os.environ.setdefault("MINIGPT_FAST", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(str(item.fspath)).suffix == ".ipynb" or item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.slow)
