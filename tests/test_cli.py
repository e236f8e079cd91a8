"""Every course command line speaks Chinese: --help, and a bad argument, through minigpt.cli.ArgumentParser."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ["build_vocab", "split_data", "train", "generate", "playground", "export", "checkpoint", "plots", "jsonl"]
ENGLISH = ["usage:", "options:", "positional arguments", "show this help", "(default:"]


def run(*args):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_is_chinese(script):
    r = run(f"./minigpt/{script}.py", "--help")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("用法：") and "显示这条帮助" in r.stdout
    assert not [w for w in ENGLISH if w in r.stdout], r.stdout


@pytest.mark.parametrize("module", ["minigpt", "minigpt.diagnose", "minigpt.exercises"])
def test_module_help_is_chinese(module):
    r = run("-m", module, "--help")
    assert r.returncode == 0 and r.stdout.startswith("用法：") and not [w for w in ENGLISH if w in r.stdout], r.stdout


def test_help_states_each_default_once_and_not_for_switches():
    text = " ".join(run("./minigpt/generate.py", "--help").stdout.split())
    assert "（默认：64）" in text and "默认 64" not in text
    train = run("./minigpt/train.py", "--help").stdout
    assert "默认：True" not in train and "默认：False" not in train  # a switch's True/False says nothing


def test_bad_arguments_are_reported_in_chinese():
    r = run("./minigpt/train.py", "--max-steps", "abc")
    assert r.returncode == 2 and "错误：参数 --max-steps 的值 'abc' 不是有效的 int" in r.stderr
    r = run("./minigpt/train.py", "--no-such-flag")
    assert r.returncode == 2 and "错误：不认识的参数：--no-such-flag" in r.stderr
