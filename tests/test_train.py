"""Chapter 6 training loop: learning, resuming, checkpoints, CLI. Tiny model, synthetic data, a few seconds each."""
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from minigpt import checkpoint as ckpt_mod
from minigpt.checkpoint import CheckpointError, check_vocab, load_checkpoint, load_tokenizer
from minigpt.tokenizer import Tokenizer
from minigpt.train import LAST, BEST, METRICS, char_accuracy, lr_at, main, train, TrainSettings

ROOT = Path(__file__).resolve().parent.parent
# One thread: on a shared 2-core machine a second torch thread mostly waits for a busy core
# (measured: 25 tiny steps took 1 s with one thread, 16 s with two, under load).
torch.set_num_threads(1)
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def data(qa_data):
    return qa_data


@pytest.fixture(scope="module")
def tok(data):
    return Tokenizer(str(data / "vocab.json"))


@pytest.fixture(scope="module")
def run(tiny_gpt):
    """run(data, out, **kw): train a tiny GPT (dropout 0.1, seed 0 unless model= is given) on the synthetic data."""

    def run(data, out, **kw):
        tok = kw.pop("tok", None) or Tokenizer(str(data / "vocab.json"))
        model = kw.pop("model", None) or tiny_gpt(tok.get_vocab_size(), dropout=0.1)
        opts = dict(batch_size=16, lr=3e-3, warmup_steps=2, dtype="fp32", device="cpu", tensorboard_dir=None,
                    progress=False, verbose=False, eval_samples=8, final_eval_samples=16, val_loss_samples=16,
                    eval_every=1000)
        opts.update(kw)
        return train(model, tok, data / "train.jsonl", data / "val.jsonl", output_dir=out, **opts)

    return run


def test_loss_decreases_and_history_is_a_list(data, tmp_path, run, tok):
    history = run(data, tmp_path, max_steps=25)
    assert isinstance(history, list) and len(history) == 25
    assert history[-1] < history[0]
    # an untrained model scores about ln(vocab size) = ln 57 = 4.04 on the validation set; 25 steps get to about 3.5
    assert history.final["metrics"]["val_loss"] < math.log(tok.get_vocab_size()) - 0.3


def test_resume_after_ctrl_c_gives_the_same_losses(data, tmp_path, run, tiny_gpt):
    straight = run(data, tmp_path / "a", max_steps=12)

    def ctrl_c_at_6(step, loss, history):
        if step == 6:
            raise KeyboardInterrupt

    first = run(data, tmp_path / "b", max_steps=12, callback=ctrl_c_at_6)
    assert first.interrupted and len(first) == 6
    tok = Tokenizer(str(data / "vocab.json"))
    resumed = run(data, tmp_path / "b", max_steps=12, model=tiny_gpt(tok.get_vocab_size(), seed=123, dropout=0.1))  # other init: weights come from the file
    torch.testing.assert_close(torch.tensor(list(resumed)), torch.tensor(list(straight)), rtol=0, atol=0)


def test_resume_with_evaluations_in_between_gives_the_same_losses(data, tmp_path, run):
    """Evaluations (greedy answers, validation loss) and best-model saves must not draw from the training RNG."""
    straight = run(data, tmp_path / "a", max_steps=12, eval_every=4)

    def ctrl_c_at_6(step, loss, history):
        if step == 6:
            raise KeyboardInterrupt

    run(data, tmp_path / "b", max_steps=12, eval_every=4, callback=ctrl_c_at_6)
    resumed = run(data, tmp_path / "b", max_steps=12, eval_every=4)
    assert [r["step"] for r in resumed.evals] == [8, 12]
    torch.testing.assert_close(torch.tensor(list(resumed)), torch.tensor(list(straight)), rtol=0, atol=0)
    assert straight.evals[-1]["val_loss"] == resumed.evals[-1]["val_loss"]


def test_resume_of_a_time_budget_keeps_the_schedule_it_measured(data, tmp_path, run):
    """A time budget fixes the number of steps (the learning-rate schedule) once, after timing steps 11-20;
    a resumed run continues on that schedule instead of timing again."""

    def stop_at(n):
        def callback(step, loss, history):
            if step == n:
                raise KeyboardInterrupt
        return callback

    first = run(data, tmp_path, max_minutes=5, callback=stop_at(25))
    planned = torch.load(tmp_path / LAST, weights_only=True)["train_state"]["scheduler"]["total_steps"]
    assert planned not in (None, 15 * 12)  # estimated from the timed steps, not the seed's 15 epochs (180 steps)
    resumed = run(data, tmp_path, max_minutes=5, callback=stop_at(30))
    assert torch.load(tmp_path / LAST, weights_only=True)["train_state"]["scheduler"]["total_steps"] == planned
    assert len(resumed) == 30 and list(resumed)[:25] == list(first)


def test_resume_after_a_killed_run_uses_the_periodic_checkpoint(data, tmp_path, run):
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


def test_resume_says_so_and_no_resume_starts_fresh(data, tmp_path, capsys, run):
    run(data, tmp_path, max_steps=3)
    assert len(run(data, tmp_path, max_steps=5, verbose=True)) == 5
    assert "续训" in capsys.readouterr().out
    history = run(data, tmp_path, max_steps=3, resume=False, verbose=True)
    assert len(history) == 3
    assert "会被覆盖" in capsys.readouterr().out


def test_checkpoints_load_with_weights_only_and_rebuild_the_model(data, tmp_path, run):
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


def test_vocab_mismatch_is_a_clear_error(data, tmp_path, run, tiny_gpt, qa_data_factory):
    run(data, tmp_path, max_steps=2)
    other = qa_data_factory(tmp_path / "other", extra_chars="凤")
    tok = Tokenizer(str(other / "vocab.json"))
    with pytest.raises(CheckpointError, match="词表.*不同.*--no-resume"):
        run(data, tmp_path, max_steps=4, model=tiny_gpt(tok.get_vocab_size(), dropout=0.1), tok=tok)
    with pytest.raises(CheckpointError, match="load_tokenizer"):
        check_vocab(torch.load(tmp_path / LAST, weights_only=True), tok, tmp_path / LAST)


def test_max_minutes_stops_on_the_clock(data, tmp_path, run, capsys):
    """Without its budget this run would do the seed's 15 epochs (15 × 12 = 180 steps); with 50 ms per step a
    1.2-second budget leaves room for at most 24."""

    def slow_step(step, loss, history):
        time.sleep(0.05)

    t = time.perf_counter()
    history = run(data, tmp_path, max_minutes=0.02, final_eval_samples=4, callback=slow_step, verbose=True)
    assert 1 <= len(history) <= 24
    assert f"时间预算在第 {len(history)} 步用完" in capsys.readouterr().out
    assert time.perf_counter() - t < 30


def test_metrics_log(data, tmp_path, run):
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
    assert [ax.get_xlabel() for ax in fig.axes] == ["步数", "步数"] and "损失" in fig.axes[0].get_title()


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


def test_cli_on_a_broken_file_names_file_line_and_problem(data, tmp_path, capsys):
    """A bad training file: one "错误：文件:行号: 哪里不对" line, exit 1, no traceback (in-process: fast)."""
    broken = tmp_path / "train.jsonl"
    broken.write_bytes((data / "train.jsonl").read_bytes().split(b"\n", 1)[0] + b'\n{"question": "caf\xe9", "answer": "x"}\n')
    args = ["--train", str(broken), "--val", str(data / "val.jsonl"), "--vocab", str(data / "vocab.json"), "--preset",
            "tiny", "--max-steps", "1", "--device", "cpu", "--output-dir", str(tmp_path / "out"), "--no-progress"]
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"错误：{broken}:2: 不是有效的 UTF-8（这一行第 18 个字节是 0xe9）；请把文件另存为 UTF-8"
    assert main([*args[:-3], "--preset", "huge", "--no-progress"]) == 1  # a setting, not a file: same one-line report
    assert capsys.readouterr().err.strip().startswith("错误：没有名为“huge”的 gpt 预设")


def test_settings_keep_their_defaults_through_train_and_the_command_line():
    from minigpt.cli import settings_from
    from minigpt.train import build_parser

    parsed = settings_from(build_parser().parse_args([]), TrainSettings)
    assert parsed == TrainSettings()
    parsed = settings_from(build_parser().parse_args(["--lr", "0.5", "--answer-only-loss", "--heldout", "", "--epochs", "2"]),
                           TrainSettings)
    assert parsed == TrainSettings(lr=0.5, answer_only_loss=True, heldout_path="", epochs=2.0)


@pytest.mark.slow
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
    assert bad.stderr.strip().startswith("错误：") and "build_vocab.py" in bad.stderr


def test_qwen3_arch_trains_and_reloads(data, tmp_path):
    assert main(["--arch", "qwen3", "--preset", "tiny", "--max-steps", "3", "--train", str(data / "train.jsonl"),
                 "--val", str(data / "val.jsonl"), "--vocab", str(data / "vocab.json"), "--output-dir", str(tmp_path),
                 "--device", "cpu", "--tensorboard-dir", "", "--no-progress", "--eval-samples", "2", "--final-eval-samples", "2"]) == 0
    model, meta = load_checkpoint(tmp_path / BEST)
    assert meta["arch"] == "qwen3" and type(model).__name__ == "Qwen3ForCausalLM" and not model.training


def test_greedy_answers_with_and_without_cache_agree(data, tmp_path, run):
    from minigpt.train import greedy_answers

    run(data, tmp_path, max_steps=60, lr=1e-2, final_eval_samples=2, val_loss_samples=4)  # enough to say more than <sep>
    model, meta = load_checkpoint(tmp_path / LAST)
    tok = load_tokenizer(meta)
    questions = ["天地是什么意思？", "接龙：山水火风", "一二三四怎么读？", "日月"]
    fast = greedy_answers(model, tok, questions, max_new_tokens=12, device=torch.device("cpu"))
    slow = greedy_answers(model, tok, questions, max_new_tokens=12, device=torch.device("cpu"), use_cache=False, batch_size=1)
    assert fast == slow and any(fast)


def test_make_optimizer_is_fused_adamw_and_matches_the_default_one():
    """train() builds its AdamW with make_optimizer: fused on CPU, and given the same gradients it makes the same
    updates as torch's default AdamW (to float rounding), weight decay included."""
    import minigpt.train as train_mod
    from minigpt.model import GPTLMHeadModel, config_for

    torch.manual_seed(0)
    a = GPTLMHeadModel(config_for("tiny", 50))
    b = GPTLMHeadModel(config_for("tiny", 50))
    b.load_state_dict(a.state_dict())
    start = [p.detach().clone() for p in a.parameters()]
    fused = train_mod.make_optimizer(a, 1e-2, 0.01, "cpu")
    plain = torch.optim.AdamW(b.parameters(), lr=1e-2, weight_decay=0.01)
    assert fused.defaults["fused"] is True and not plain.defaults["fused"]
    for _ in range(5):
        for p, q in zip(a.parameters(), b.parameters()):
            p.grad = torch.randn_like(p)
            q.grad = p.grad.clone()
        fused.step()
        plain.step()
    for (name, p), q, p0 in zip(a.named_parameters(), b.parameters(), start):
        assert not torch.equal(p, p0), name
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-7, msg=name)
    assert train_mod.make_optimizer(a, 1e-3, 0.0, "meta").defaults["fused"] is False  # other devices: torch's default


def test_train_uses_make_optimizer(data, tmp_path, run, monkeypatch):
    import minigpt.train as train_mod

    made = []
    real = train_mod.make_optimizer
    monkeypatch.setattr(train_mod, "make_optimizer", lambda *a, **k: made.append(real(*a, **k)) or made[-1])
    run(data, tmp_path, max_steps=2)
    assert len(made) == 1 and made[0].defaults["fused"] is True and made[0].state  # it took the steps


@pytest.mark.parametrize("seconds, expected, fine_probe", [
    # (fp32, bf16) seconds of one product, first at 16 rows, then (if asked for) at 1024 rows
    ({16: (1.0, 56.0), 1024: None}, False, False),        # emulated bf16 (AVX2-only AMD EPYC): stop after the glance
    ({16: (1.0, 0.6), 1024: (1.0, 0.4)}, True, True),      # bf16 instructions: 2.5x faster at training size
    ({16: (1.0, 0.9), 1024: (1.0, 1.5)}, False, True),     # close at 16 rows, slower at training size
    ({16: (1.0, 3.0), 1024: (1.0, 0.5)}, True, True),      # slower on small products, faster on large ones
])
def test_bf16_probe_glances_before_it_measures(monkeypatch, seconds, expected, fine_probe):
    """bf16_is_faster decides at the training size, but where bf16 is far slower (~1 GFLOP/s on an AVX2-only
    CPU: 94 s to probe a 768-wide model the old way) a 16-row glance settles it without the 1024-row products."""
    from minigpt import common

    asked = []

    def fake(rows, n_embd, dtype, gen, repeats):
        asked.append(rows)
        assert seconds[rows] is not None, "the 1024-row products should have been skipped"
        return seconds[rows][dtype == torch.bfloat16]

    monkeypatch.setattr(common, "_matmul_seconds", fake)
    monkeypatch.setattr(common, "_PROBE_CACHE", {})
    assert common.bf16_is_faster(torch.device("cpu"), 256) is expected
    assert (1024 in asked) is fine_probe
    assert common.bf16_is_faster(torch.device("cpu"), 256) is expected and len(asked) == (4 if fine_probe else 2)  # cached


def test_bf16_probe_measures_real_products():
    from minigpt import common

    gen = torch.Generator().manual_seed(0)
    assert 0 < common._matmul_seconds(16, 32, torch.float32, gen, repeats=1) < 1
