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
    assert proc.stdout.count("Q: ") == 4 and proc.stdout.count("（参考答案：") == 4


@pytest.mark.slow
def test_main_job_says_what_is_wrong_with_a_missing_file(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "minigpt", "--data", str(tmp_path / "nope.jsonl")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "nope.jsonl" in proc.stderr and "Traceback" not in proc.stderr
