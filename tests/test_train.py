"""Chapter 6 training loop: learning, resuming, checkpoints, CLI. Tiny model, synthetic data, a few seconds each."""
import json
import os
import random
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from minigpt import checkpoint as ckpt_mod
from minigpt.checkpoint import CheckpointError, check_vocab, load_checkpoint, load_tokenizer
from minigpt.model import PRESETS, GPTLMHeadModel
from minigpt.tokenizer import Tokenizer
from minigpt.train import LAST, BEST, METRICS, char_accuracy, lr_at, main, train, TrainSettings

ROOT = Path(__file__).resolve().parent.parent
# One thread: on a shared 2-core machine a second torch thread mostly waits for a busy core
# (measured: 25 tiny steps took 1 s with one thread, 16 s with two, under load).
torch.set_num_threads(1)
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
CHARS = "一二三四五六七八九十天地人山水火风云日月金木花草鸟鱼马牛羊心手口目"


def make_data(folder: Path, n=240, seed=0, extra_chars=""):
    """Idiom-like synthetic QA with a "type" field, split 80/20, and a seed-format vocab.json."""
    rng = random.Random(seed)
    records = []
    for _ in range(n):
        w = "".join(rng.choice(CHARS) for _ in range(4))
        kind = rng.choice(["meaning", "pinyin", "chain"])
        if kind == "meaning":
            q, a = f"{w}是什么意思？", "".join(rng.choice(CHARS) for _ in range(rng.randint(4, 12)))
        elif kind == "pinyin":
            q, a = f"{w}怎么读？", " ".join("".join(rng.choice("aeioumnhg") for _ in range(3)) for _ in range(4))
        else:
            q, a = f"接龙：{w}", w[-1] + "".join(rng.choice(CHARS) for _ in range(3))
        records.append({"question": q, "answer": a, "type": kind})
    folder.mkdir(parents=True, exist_ok=True)
    k = int(n * 0.8)
    for name, rows in (("train.jsonl", records[:k]), ("val.jsonl", records[k:])):
        (folder / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    chars = sorted(set("".join(r["question"] + r["answer"] for r in records)) | set(extra_chars))
    word2id = {"<pad>": 0, "<unk>": 1, "<sep>": 2, **{c: i + 3 for i, c in enumerate(chars)}}
    vocab = {"word2id": word2id, "id2word": {str(i): w for w, i in word2id.items()}}
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_data(tmp_path_factory.mktemp("data"))


def tiny_model(tok, dropout=0.1, seed=0):
    torch.manual_seed(seed)
    return GPTLMHeadModel(replace(PRESETS["tiny"], vocab_size=tok.get_vocab_size(), dropout=dropout))


def run(data, out, **kw):
    tok = kw.pop("tok", None) or Tokenizer(str(data / "vocab.json"))
    model = kw.pop("model", None) or tiny_model(tok)
    opts = dict(batch_size=16, lr=3e-3, warmup_steps=2, dtype="fp32", device="cpu", tensorboard_dir=None,
                progress=False, verbose=False, eval_samples=8, final_eval_samples=16, val_loss_samples=16, eval_every=1000)
    opts.update(kw)
    return train(model, tok, data / "train.jsonl", data / "val.jsonl", output_dir=out, **opts)


def test_loss_decreases_and_history_is_a_list(data, tmp_path):
    history = run(data, tmp_path, max_steps=25)
    assert isinstance(history, list) and len(history) == 25
    assert history[-1] < history[0]
    assert history.final["metrics"]["val_loss"] < 5


def test_resume_after_ctrl_c_gives_the_same_losses(data, tmp_path):
    straight = run(data, tmp_path / "a", max_steps=12)

    def ctrl_c_at_6(step, loss, history):
        if step == 6:
            raise KeyboardInterrupt

    first = run(data, tmp_path / "b", max_steps=12, callback=ctrl_c_at_6)
    assert first.interrupted and len(first) == 6
    tok = Tokenizer(str(data / "vocab.json"))
    resumed = run(data, tmp_path / "b", max_steps=12, model=tiny_model(tok, seed=123))  # other init: weights come from the file
    torch.testing.assert_close(torch.tensor(list(resumed)), torch.tensor(list(straight)), rtol=0, atol=0)


def test_resume_after_a_killed_run_uses_the_periodic_checkpoint(data, tmp_path):
    straight = run(data, tmp_path / "a", max_steps=12)

    def crash_at_8(step, loss, history):
        if step == 8:
            raise RuntimeError("simulated kill")

    with pytest.raises(RuntimeError):
        run(data, tmp_path / "b", max_steps=12, save_every=3, callback=crash_at_8)
    assert torch.load(tmp_path / "b" / LAST, weights_only=True)["step"] == 6
    resumed = run(data, tmp_path / "b", max_steps=12, save_every=3)
    torch.testing.assert_close(torch.tensor(list(resumed)), torch.tensor(list(straight)), rtol=0, atol=0)
    steps = [json.loads(line)["step"] for line in (tmp_path / "b" / METRICS).read_text().splitlines()]
    assert steps == sorted(steps), "lines written after the checkpoint are dropped on resume"


def test_resume_says_so_and_no_resume_starts_fresh(data, tmp_path, capsys):
    run(data, tmp_path, max_steps=3)
    assert len(run(data, tmp_path, max_steps=5, verbose=True)) == 5
    assert "续训" in capsys.readouterr().out
    history = run(data, tmp_path, max_steps=3, resume=False, verbose=True)
    assert len(history) == 3
    assert "会被覆盖" in capsys.readouterr().out


def test_checkpoints_load_with_weights_only_and_rebuild_the_model(data, tmp_path):
    run(data, tmp_path, max_steps=4)
    for name in (LAST, BEST):
        raw = torch.load(tmp_path / name, weights_only=True)
        assert raw["step"] == 4 and raw["arch"] == "gpt"
    model, meta = load_checkpoint(tmp_path / BEST)
    assert not model.training
    assert set(meta) >= {"arch", "config", "word2id", "vocab_hash", "step", "metrics"}
    tok = load_tokenizer(meta)
    assert tok.vocab_hash == meta["vocab_hash"] == Tokenizer(str(data / "vocab.json")).vocab_hash
    ids = torch.tensor([tok.encode("天地是什么意思？", None, pad_to_max_length=False)[0]])
    assert model(ids).shape == (1, ids.shape[1], tok.get_vocab_size())
    # the release copy: bf16 weights, no optimizer state, loads into the same fp32 model
    small = ckpt_mod.release(tmp_path / LAST, tmp_path / "release.pth")
    assert small.stat().st_size < (tmp_path / LAST).stat().st_size
    model2, _ = load_checkpoint(small)
    torch.testing.assert_close(model2(ids), model(ids), atol=0.05, rtol=0.05)


def test_atomic_save_leaves_no_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pth"
    ckpt_mod.atomic_save({"a": torch.ones(3)}, path)

    def crash(obj, f, *a, **k):
        f.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt  # Ctrl-C in the middle of writing

    monkeypatch.setattr(ckpt_mod.torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        ckpt_mod.atomic_save({"a": torch.zeros(3)}, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pth"]
    torch.testing.assert_close(torch.load(path, weights_only=True)["a"], torch.ones(3))


def test_bad_checkpoint_files_give_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="找不到检查点"):
        load_checkpoint(tmp_path / "missing.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="不是可读的 minigpt 检查点"):
        load_checkpoint(tmp_path / "junk.pth")
    torch.save({"epoch": 3, "model_state_dict": {"w": torch.ones(1)}, "optimizer_state_dict": {}}, tmp_path / "seed.pth")
    with pytest.raises(CheckpointError, match="种子代码保存的检查点"):
        load_checkpoint(tmp_path / "seed.pth")


def test_vocab_mismatch_is_a_clear_error(data, tmp_path):
    run(data, tmp_path, max_steps=2)
    other = make_data(tmp_path / "other", extra_chars="凤")
    tok = Tokenizer(str(other / "vocab.json"))
    with pytest.raises(CheckpointError, match="词表.*不同.*--no-resume"):
        run(data, tmp_path, max_steps=4, model=tiny_model(tok), tok=tok)
    with pytest.raises(CheckpointError, match="load_tokenizer"):
        check_vocab(torch.load(tmp_path / LAST, weights_only=True), tok, tmp_path / LAST)


def test_max_minutes_is_honoured(data, tmp_path):
    import time

    t = time.perf_counter()
    history = run(data, tmp_path, max_minutes=0.04, final_eval_samples=4)
    assert 1 <= len(history) and time.perf_counter() - t < 30


def test_metrics_log(data, tmp_path):
    run(data, tmp_path, max_steps=12, eval_every=6, log_every=5)
    rows = [json.loads(line) for line in (tmp_path / METRICS).read_text(encoding="utf-8").splitlines()]
    train_rows = [r for r in rows if "train_loss" in r]
    assert [r["step"] for r in train_rows] == [1, 5, 10]
    assert all(r["tokens_per_s"] > 0 and r["lr"] > 0 for r in train_rows)
    evals = [r for r in rows if "val_loss" in r]
    assert [r["step"] for r in evals] == [6, 12] and evals[-1]["final"]
    assert set(evals[-1]["by_type"]["val"]) <= {"meaning", "pinyin", "chain"}

    import matplotlib

    matplotlib.use("Agg")
    from minigpt.plots import plot_metrics

    fig = plot_metrics(tmp_path / METRICS)
    assert all(ax.get_title() and ax.get_xlabel() for ax in fig.axes)


def test_schedule_and_char_accuracy():
    s = TrainSettings(lr=1e-3, warmup_steps=10, min_lr_ratio=0.1)
    assert lr_at(0, s, 100) == pytest.approx(1e-4)
    assert lr_at(9, s, 100) == pytest.approx(1e-3)
    assert lr_at(100, s, 100) == pytest.approx(1e-4)
    assert char_accuracy("一马当先", "一马当先") == 1 and char_accuracy("一马", "一马当先") == 0.5
    assert char_accuracy("yī mǎ dāng xiān", "yī mǎ dàng xiān") == 0.75  # pinyin: per syllable


def test_cli_says_which_command_makes_a_missing_file(data, tmp_path, capsys):
    assert main(["--vocab", str(tmp_path / "none.json"), "--train", str(data / "train.jsonl"), "--val", str(data / "val.jsonl")]) == 1
    assert "build_vocab.py" in capsys.readouterr().err
    assert main(["--vocab", str(data / "vocab.json"), "--train", str(tmp_path / "none.jsonl")]) == 1
    assert "split_data.py" in capsys.readouterr().err


def test_cli_as_a_script(data, tmp_path):
    """`python ./minigpt/train.py` trains a few steps; a missing file is one line on stderr, no traceback."""
    cmd = [sys.executable, "./minigpt/train.py", "--train", str(data / "train.jsonl"), "--val", str(data / "val.jsonl"),
           "--vocab", str(data / "vocab.json"), "--output-dir", str(tmp_path / "out"), "--preset", "tiny",
           "--max-steps", "3", "--device", "cpu", "--tensorboard-dir", str(tmp_path / "runs"), "--no-progress",
           "--eval-samples", "4", "--final-eval-samples", "4"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, env=ENV)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / BEST).exists() and (tmp_path / "runs").is_dir()
    bad = subprocess.run([sys.executable, "./minigpt/train.py", "--vocab", str(tmp_path / "no.json")], cwd=ROOT,
                         capture_output=True, text=True, timeout=120, env=ENV)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().startswith("error:") and "build_vocab.py" in bad.stderr


def test_qwen3_arch_trains_and_reloads(data, tmp_path):
    assert main(["--arch", "qwen3", "--preset", "tiny", "--max-steps", "3", "--train", str(data / "train.jsonl"),
                 "--val", str(data / "val.jsonl"), "--vocab", str(data / "vocab.json"), "--output-dir", str(tmp_path),
                 "--device", "cpu", "--tensorboard-dir", "", "--no-progress", "--eval-samples", "2", "--final-eval-samples", "2"]) == 0
    model, meta = load_checkpoint(tmp_path / BEST)
    assert meta["arch"] == "qwen3" and type(model).__name__ == "Qwen3ForCausalLM" and not model.training


def test_greedy_answers_with_and_without_cache_agree(data, tmp_path):
    from minigpt.train import greedy_answers

    run(data, tmp_path, max_steps=60, lr=1e-2, final_eval_samples=2, val_loss_samples=4)  # enough to say more than <sep>
    model, meta = load_checkpoint(tmp_path / LAST)
    tok = load_tokenizer(meta)
    questions = ["天地是什么意思？", "接龙：山水火风", "一二三四怎么读？", "日月"]
    fast = greedy_answers(model, tok, questions, max_new_tokens=12, device=torch.device("cpu"))
    slow = greedy_answers(model, tok, questions, max_new_tokens=12, device=torch.device("cpu"), use_cache=False, batch_size=1)
    assert fast == slow and any(fast)
