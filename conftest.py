"""Pytest set-up shared by the unit tests and the notebooks that nbval executes.

MINIGPT_FAST=1 keeps the same models and data but cuts training steps; notebook kernels inherit it.
"""
import os

os.environ.setdefault("MINIGPT_FAST", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
