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


# `python ./minigpt/train.py --help` before its flags were generated from TrainSettings: every one must stay
TRAIN_FLAGS_BEFORE = {
    "-h", "--help", "--train", "--val", "--vocab", "--output-dir", "--arch", "--preset", "--max-steps", "--max-minutes",
    "--epochs", "--batch-size", "--lr", "--warmup-steps", "--device", "--dtype", "--threads", "--compile", "--seed",
    "--resume", "--no-resume", "--answer-only-loss", "--eval-every", "--save-every", "--eval-samples",
    "--final-eval-samples", "--heldout", "--tensorboard-dir", "--no-progress",
}


def test_train_keeps_every_flag_and_has_one_per_setting():
    import re
    from dataclasses import fields

    from minigpt.train import TrainSettings

    text = run("./minigpt/train.py", "--help").stdout
    flags = set(re.findall(r"(?<![\w-])(-h|--[a-z][a-z-]*)", text))
    assert TRAIN_FLAGS_BEFORE <= flags, TRAIN_FLAGS_BEFORE - flags
    for f in fields(TrainSettings):  # each setting reaches the command line, with its Chinese help
        flag = f.metadata.get("flag", "--" + f.name.replace("_", "-"))
        assert flag in flags and f.metadata["help"].split("（")[0][:8] in " ".join(text.split()), f.name


def test_add_settings_handles_switches_optionals_and_choices():
    from dataclasses import dataclass

    from minigpt.cli import ArgumentParser, add_settings, setting, settings_from

    @dataclass
    class Demo:
        steps: int | None = setting(None, "步数")
        rate: float = setting(0.5, "比例")
        fast: bool = setting(False, "快一点")
        shuffle: bool = setting(True, "打乱")
        mode: str = setting("a", "模式", choices=["a", "b"])
        path: str | None = setting(None, "文件", flag="--file", metavar="PATH")

    parser = ArgumentParser()
    add_settings(parser, Demo)
    assert settings_from(parser.parse_args([]), Demo) == Demo()
    got = settings_from(parser.parse_args(["--steps", "3", "--rate", "1e-3", "--fast", "--no-shuffle", "--mode", "b",
                                           "--file", "x.jsonl"]), Demo)
    assert got == Demo(steps=3, rate=1e-3, fast=True, shuffle=False, mode="b", path="x.jsonl")
    text = " ".join(parser.format_help().split())
    assert "比例（默认：0.5）" in text and "--file PATH" in text and "步数（默认" not in text and "快一点（默认" not in text
    assert "打乱（默认" not in text and not [w for w in ENGLISH if w in text]  # a switch states no True/False
    with pytest.raises(SystemExit):
        parser.parse_args(["--mode", "c"])


def test_add_settings_can_leave_out_fields_a_command_does_not_use():
    from dataclasses import dataclass

    from minigpt.cli import ArgumentParser, add_settings, setting, settings_from

    @dataclass
    class Demo:
        steps: int = setting(10, "步数")
        max_length: int = setting(128, "最长多少个 token")

    parser = ArgumentParser()
    add_settings(parser, Demo, skip=("max_length",))
    assert "--max-length" not in parser.format_help()
    with pytest.raises(SystemExit):
        parser.parse_args(["--max-length", "64"])
    assert settings_from(parser.parse_args(["--steps", "3"]), Demo) == Demo(steps=3, max_length=128)


def test_pretrain_help_lists_no_question_answer_only_settings():
    from minigpt.pretrain import build_parser

    text = build_parser().format_help()
    assert "--max-minutes" in text and "--batch-size" in text
    assert "--answer-only-loss" not in text and "--max-length" not in text and "--heldout" not in text
