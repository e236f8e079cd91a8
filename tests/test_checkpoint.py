"""Checkpoints: clear errors for bad files (never torch's advice to unpickle them), which model is used by default
and why, and the shipped checkpoint still answering what it memorised."""
import json
import os
import pickle
import time

import pytest
import torch

from minigpt import checkpoint
from minigpt.checkpoint import (SHIPPED_CHECKPOINT, CheckpointError, default_checkpoint, find_checkpoints,
                                load_checkpoint, load_for_inference, save_checkpoint, trained_checkpoints)
from minigpt.generate import answers

QUESTIONS = "一二三四五是什么意思？"


class Foreign:  # a class that a minigpt checkpoint never contains
    pass


@pytest.fixture
def saved(tmp_path, tiny_gpt, char_tokenizer):
    tok = char_tokenizer(QUESTIONS)
    path = tmp_path / "m.pth"
    save_checkpoint(path, tiny_gpt(tok.get_vocab_size()), "gpt", tok, step=3)
    return path


def test_load_for_inference_gives_the_model_and_its_tokenizer(saved):
    model, tok = load_for_inference(saved)
    assert not model.training and tok.get_vocab_size() == model.config.vocab_size
    assert answers(model, tok, ["一二"], max_new_tokens=3) == answers(*load_for_inference(saved), ["一二"], max_new_tokens=3)


@pytest.mark.parametrize("case", ["missing", "folder", "junk", "truncated", "foreign_object", "foreign_pickle",
                                  "seed_format", "bare_state_dict", "wrong_shapes"])
def test_bad_files_are_one_clear_error_without_torchs_unpickling_advice(case, saved, tmp_path):
    bad = tmp_path / f"{case}.pth"
    if case == "folder":
        bad.mkdir()
    elif case == "junk":
        bad.write_bytes(b"not a checkpoint")
    elif case == "truncated":
        data = saved.read_bytes()
        bad.write_bytes(data[: len(data) // 2])
    elif case == "foreign_object":
        torch.save({"model": Foreign()}, bad)
    elif case == "foreign_pickle":
        bad.write_bytes(pickle.dumps([1, {"x": Foreign()}]))
    elif case == "seed_format":
        torch.save({"epoch": 3, "model_state_dict": {"w": torch.ones(1)}, "optimizer_state_dict": {}}, bad)
    elif case == "bare_state_dict":
        torch.save({"w": torch.ones(2)}, bad)
    elif case == "wrong_shapes":
        ckpt = torch.load(saved, weights_only=True)
        ckpt["config"]["n_embd"] *= 2
        torch.save(ckpt, bad)
    expected = {"missing": "找不到检查点", "folder": "是一个文件夹", "junk": "不是可读的 minigpt 检查点",
                "truncated": "不是可读的 minigpt 检查点", "foreign_object": "为了安全不加载",
                "foreign_pickle": "不是可读的 minigpt 检查点", "seed_format": "种子代码保存的检查点",
                "bare_state_dict": "load_state_dict", "wrong_shapes": "权重和存下的配置对不上"}[case]
    with pytest.raises(CheckpointError) as info:
        load_for_inference(bad)
    message = str(info.value)
    assert message.startswith(f"{bad}: ") and expected in message  # no "错误：": cli.report adds it when printing
    assert "weights_only" not in message and "Weights only" not in message and "\n" not in message


def touch(path, age_s):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    t = time.time() - age_s
    os.utime(path, (t, t))
    return path


def test_default_checkpoint_prefers_the_newest_model_you_trained(tmp_path, capsys):
    cli = touch(tmp_path / "output" / "best_model.pth", age_s=100)
    notebook = touch(tmp_path / "output" / "ch06" / "best_model.pth", age_s=10)
    assert default_checkpoint(roots=[tmp_path]) == notebook
    out = capsys.readouterr().out
    assert "output/ch06/best_model.pth" in out.replace(os.sep, "/") and "第 6 章 notebook" in out and "新" in out
    os.utime(cli, None)  # the command-line run is now the newer one
    assert default_checkpoint(roots=[tmp_path]) == cli
    assert "命令行" in capsys.readouterr().out


def test_default_checkpoint_falls_back_to_the_shipped_one_and_takes_best_only_without_last(tmp_path, capsys):
    assert trained_checkpoints(roots=[tmp_path]) == []
    assert default_checkpoint(roots=[tmp_path]) == SHIPPED_CHECKPOINT
    assert "仓库自带的模型" in capsys.readouterr().out
    best = touch(tmp_path / "output" / "ch06" / "best_model.pth", age_s=0)
    assert default_checkpoint(roots=[tmp_path]) == best


def test_chat_prefers_the_final_weights_over_the_lowest_validation_loss(tmp_path):
    """The validation set holds never-seen idioms: its loss turns up while taught idioms keep improving."""
    last = touch(tmp_path / "output" / "last_model.pth", age_s=100)
    touch(tmp_path / "output" / "best_model.pth", age_s=0)  # newer, but the same run's mid-way weights
    assert [p for p, _ in trained_checkpoints(roots=[tmp_path])] == [last]
    assert default_checkpoint(roots=[tmp_path]) == last

def test_the_playground_lists_the_notebook_runs_too(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    touch(tmp_path / "output" / "best_model.pth", 0)
    touch(tmp_path / "output" / "ch06" / "best_model.pth", 0)
    found = [p.as_posix() for p in find_checkpoints() if p != SHIPPED_CHECKPOINT]
    assert found == ["output/best_model.pth", "output/ch06/best_model.pth"]


# A few training questions of data/data.jsonl (train split of `split_data.py --train_ratio 0.8 --group-by idiom`,
# seed 42) that the shipped model answers exactly: one of each kind. Retraining on other data means new examples.
MEMORISED = {
    "“无动于衷”这个成语，什么意思？": "指对应该关心、注意的事情毫不关心，置之不理。",
    "成语“前车之鉴”的拼音是，知道的说一下？": "qián chē zhī jiàn",
    "问一下，成语《阴差阳错》接龙，下一个是？": "错综复杂",
    "你好，\"九五之尊\"啥意思": "旧指帝王的尊位。",
    "补全：「琼()玉宇」": "琼楼玉宇",
}


@pytest.mark.skipif(not SHIPPED_CHECKPOINT.exists(), reason="shipped checkpoint not committed")
def test_the_shipped_checkpoint_answers_memorised_training_questions():
    data = [json.loads(line) for line in (checkpoint.REPO_ROOT / "data" / "data.jsonl").read_text(encoding="utf-8").splitlines()]
    facts = {(d["idiom"], d["answer"]) for d in data}   # the facts, however data.jsonl phrases them
    for q, a in MEMORISED.items():
        assert any((w, a) in facts for w in {d["idiom"] for d in data if d["idiom"] in q or d["answer"] == a}), \
            f"{q} -> {a} is no longer a fact of data/data.jsonl"
    model, tok = load_for_inference(SHIPPED_CHECKPOINT)
    assert answers(model, tok, list(MEMORISED)) == list(MEMORISED.values())
    _, meta = load_checkpoint(SHIPPED_CHECKPOINT)
    assert meta["arch"] == "gpt" and meta["vocab_hash"] == tok.vocab_hash
