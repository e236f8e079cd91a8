"""The chapter 1-4 command lines: the seed's commands run verbatim; bad input gives `error: ...`, exit 1, no traceback."""
import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "qa_small.jsonl"


def run(args, cwd=ROOT):
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture
def work(tmp_path):
    """A folder laid out like the repo: ./data/data.jsonl, and the package scripts at their real path."""
    (tmp_path / "data").mkdir()
    shutil.copy(FIXTURE, tmp_path / "data" / "data.jsonl")
    return tmp_path


def test_seed_commands_verbatim(work):
    # the README's commands, run from a folder with ./data/data.jsonl, through the scripts' paths
    r = run([ROOT / "minigpt/build_vocab.py", "--data", "./data/data.jsonl", "--output", "./data/vocab.json"], cwd=work)
    assert r.returncode == 0, r.stderr
    assert "✅ 词表已建好，保存到 ./data/vocab.json" in r.stdout and "token 总数：283" in r.stdout
    r = run([ROOT / "minigpt/split_data.py", "--input", "./data/data.jsonl", "--train_ratio", "0.8"], cwd=work)
    assert r.returncode == 0, r.stderr
    assert "训练：24 → data/train.jsonl" in r.stdout and "验证：6 → data/val.jsonl" in r.stdout
    r = run([ROOT / "minigpt/tokenizer.py"], cwd=work)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1] == "你好，最近怎么样？<sep>我很好，谢谢！<sep>"
    r = run([ROOT / "minigpt/qa_dataset.py"], cwd=work)
    assert r.returncode == 0, r.stderr
    assert "数据集大小：24" in r.stdout and "<sep>" in r.stdout.splitlines()[-1]


def test_module_form_and_overwrite_notes(work):
    args = ["-m", "minigpt.build_vocab", "--data", work / "data/data.jsonl", "--output", work / "data/vocab.json"]
    assert run(args).returncode == 0
    r = run(args)
    assert r.returncode == 0 and "已经存在，编号相同" in r.stdout
    args = ["-m", "minigpt.split_data", "--input", work / "data/data.jsonl", "--train_ratio", "0.8", "--seed", "1"]
    assert run(args).returncode == 0
    r = run(args)
    assert r.returncode == 0 and f"注意：覆盖已有的 {work / 'data' / 'train.jsonl'}" in r.stdout


def bad_inputs(tmp_path):
    (tmp_path / "latin1.jsonl").write_bytes('{"question": "café", "answer": "x"}\n'.encode("latin-1"))
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "garbage.jsonl").write_text("nope\n[1]\n")
    return {
        "missing": (tmp_path / "missing.jsonl", "找不到这个文件"),
        "directory": (tmp_path, "是一个文件夹"),
        "latin1": (tmp_path / "latin1.jsonl", ":1: 不是有效的 UTF-8"),
        "empty": (tmp_path / "empty.jsonl", "文件是空的"),
        "garbage": (tmp_path / "garbage.jsonl", "一行有效的都没有（跳过了 2 行）"),
    }


def cli_args(script, path, tmp_path):
    if script == "build_vocab":
        return ["--data", str(path), "--output", str(tmp_path / "vocab.json")]
    if script == "split_data":
        return ["--input", str(path)]
    return [str(path)]


@pytest.mark.parametrize("script", ["build_vocab", "split_data", "jsonl"])
def test_bad_input_is_one_error_line_and_exit_1(tmp_path, script, capsys):
    # in-process main() for every case (fast); the subprocess test below checks the real entry points
    main = importlib.import_module(f"minigpt.{script}").main
    for case, (path, message) in bad_inputs(tmp_path).items():
        assert main(cli_args(script, path, tmp_path)) == 1, case
        err = capsys.readouterr().err
        errors = [line for line in err.splitlines() if line.startswith("错误：")]
        assert len(errors) == 1 and errors[0].startswith(f"错误：{path}") and message in errors[0], (case, err)
    assert not (tmp_path / "vocab.json").exists()


@pytest.mark.parametrize("script", ["build_vocab", "split_data", "jsonl"])
def test_bad_input_through_the_script_has_no_traceback(tmp_path, script):
    path, message = bad_inputs(tmp_path)["latin1"]
    r = run([ROOT / "minigpt" / f"{script}.py", *cli_args(script, path, tmp_path)])
    assert r.returncode == 1 and "Traceback" not in r.stderr + r.stdout
    assert r.stderr.strip() == f"错误：{path}:1: 不是有效的 UTF-8（这一行第 18 个字节是 0xe9）；请把文件另存为 UTF-8"


def test_skipped_lines_are_warned_with_file_and_line(tmp_path):
    data = tmp_path / "data.jsonl"
    data.write_text('{"question": "你", "answer": "好"}\n{bad\n{"question": "问", "answer": null}\n{"question": "你", "answer": "们"}\n', "utf-8")
    r = run([ROOT / "minigpt/build_vocab.py", "--data", data, "--output", tmp_path / "vocab.json"])
    assert r.returncode == 0
    assert f"警告：{data}:2: 不是合法的 JSON" in r.stdout and f"警告：{data}:3: 字段“answer”是 null" in r.stdout
    assert f"{data}: 保留 2 个问答对，跳过 2 行" in r.stdout and "token 总数：6" in r.stdout


@pytest.mark.parametrize("ratio", ["1.5", "0", "nan"])
def test_split_ratio_errors(work, ratio):
    r = run([ROOT / "minigpt/split_data.py", "--input", work / "data/data.jsonl", "--train_ratio", ratio])
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip() == f"错误：train_ratio 必须在 0 和 1 之间（不含两端），现在是 {float(ratio)}"


def test_split_too_little_data(tmp_path):
    data = tmp_path / "data.jsonl"
    data.write_text('{"question": "你", "answer": "好"}\n', "utf-8")
    r = run([ROOT / "minigpt/split_data.py", "--input", data, "--train_ratio", "0.8"])
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "1 条有效问答，train_ratio=0.8 时训练集 0 条、验证集 1 条" in r.stderr


def test_demo_says_what_to_run_when_the_vocab_is_missing(tmp_path):
    r = run([ROOT / "minigpt" / "tokenizer.py"], cwd=tmp_path)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith("错误：./data/vocab.json: 找不到这个文件") and "build_vocab.py" in r.stderr
