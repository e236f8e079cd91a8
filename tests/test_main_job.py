"""The README's main-job command: `python -m minigpt` runs vocab → split → train → answers."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_main_job_runs_the_whole_pipeline_on_a_users_file(tmp_path):
    data = tmp_path / "mine.jsonl"
    shutil.copy(ROOT / "tests" / "fixtures" / "qa_small.jsonl", data)
    (tmp_path / "playground_examples.json").write_text(
        '{"examples": [{"group": "训练过的成语", "question": "平常的问法？"}, {"group": "编的成语", "question": "不问这个"}]}',
        encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "minigpt", "--data", str(data), "--output-dir", str(tmp_path / "out"),
         "--max-steps", "3", "--questions", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    for made in ("vocab.json", "train.jsonl", "val.jsonl"):
        assert (tmp_path / made).is_file()
    assert (tmp_path / "out" / "best_model.pth").is_file()
    # two training and two validation questions answered, each line with its reference
    assert proc.stdout.count("（参考答案：") == 4
    # then the taught idioms asked the way people type (only the "训练过的成语" group), with no reference to compare
    assert "换个问法" in proc.stdout and "Q: 平常的问法？" in proc.stdout and "不问这个" not in proc.stdout
    assert proc.stdout.count("Q: ") == 5


@pytest.mark.slow
def test_main_job_says_what_is_wrong_with_a_missing_file(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "minigpt", "--data", str(tmp_path / "nope.jsonl")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "nope.jsonl" in proc.stderr and "Traceback" not in proc.stderr
