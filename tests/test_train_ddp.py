"""Data-parallel training: `torchrun --nproc_per_node=2 ./minigpt/train.py` with two CPU processes (gloo)."""
import json
import subprocess
import sys

import pytest
import torch

from test_train import ENV, METRICS, ROOT


@pytest.mark.slow
def test_two_processes_train_and_only_rank0_writes(tmp_path, qa_data_factory):
    data = qa_data_factory(tmp_path / "data")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "./minigpt/train.py",
           "--train", str(data / "train.jsonl"), "--val", str(data / "val.jsonl"), "--vocab", str(data / "vocab.json"),
           "--output-dir", str(out), "--preset", "tiny", "--max-steps", "4", "--device", "cpu", "--dtype", "fp32",
           "--eval-every", "2", "--eval-samples", "4", "--final-eval-samples", "4", "--batch-size", "8",
           "--tensorboard-dir", "", "--no-progress"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=180, env=ENV)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "共 2 个进程" in done.stdout and done.stdout.count("完成：4 步") == 1  # rank 0 reports once
    ckpt = torch.load(out / "last_model.pth", weights_only=True)
    assert ckpt["step"] == 4 and len(ckpt["train_state"]["rng"]) == 2  # each process's RNG, for resuming
    rows = [json.loads(line) for line in (out / METRICS).read_text(encoding="utf-8").splitlines()]
    assert [r["step"] for r in rows if "val_loss" in r] == [2, 4]


@pytest.mark.slow
def test_two_processes_agree_on_when_a_time_budget_ends(tmp_path, qa_data_factory):
    """With --max-minutes each process would time itself; rank 0 decides for all, or one would wait forever."""
    data = qa_data_factory(tmp_path / "data")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "./minigpt/train.py",
           "--train", str(data / "train.jsonl"), "--val", str(data / "val.jsonl"), "--vocab", str(data / "vocab.json"),
           "--output-dir", str(tmp_path / "out"), "--preset", "tiny", "--max-minutes", "0.15", "--device", "cpu",
           "--dtype", "fp32", "--eval-samples", "2", "--final-eval-samples", "2", "--batch-size", "8",
           "--warmup-steps", "2", "--tensorboard-dir", "", "--no-progress"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=180, env=ENV)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "完成：" in done.stdout


@pytest.mark.parametrize("finished, calls", [(True, ["barrier", "destroy"]), (False, ["destroy"])])
def test_end_processes_waits_for_every_process_only_after_a_normal_finish(monkeypatch, finished, calls):
    """A process that leaves first may still have a gloo thread holding its last collective's tensors (SIGABRT when
    it lets go during Python's shutdown): after a normal run all wait at a barrier; after an error nobody waits."""
    from minigpt import common

    seen = []
    monkeypatch.setattr(common.dist, "barrier", lambda: seen.append("barrier"))
    monkeypatch.setattr(common.dist, "destroy_process_group", lambda: seen.append("destroy"))
    common.end_processes(common.Processes(torch.device("cpu"), world=2, rank=1, own_group=True), finished=finished)
    assert seen == calls
    seen.clear()
    common.end_processes(common.Processes(torch.device("cpu"), world=2, rank=1, own_group=False), finished=finished)
    assert seen == []  # someone else's group: theirs to take down
