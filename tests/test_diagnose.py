"""Loss diagnosis ("我的 loss 正常吗？"): synthetic curves for each kind, and real curves from short tiny-model runs
with planted bugs (targets = inputs, no causal mask, lr = 0, huge lr, every target <pad>), plus healthy real runs
that must not be flagged.

    pytest tests/test_diagnose.py -q
"""
import json
import math
import random
from pathlib import Path

import pytest
import torch

from minigpt.diagnose import KINDS, Finding, diagnose_loss, load_curves, main, print_diagnosis
from minigpt.model import GPTLMHeadModel, config_for
from minigpt.qa_dataset import BucketBatchSampler, QADataset, collate_batch
from minigpt.tokenizer import Tokenizer
from minigpt.evaluate import validation_loss
from minigpt.train import History, train_step

ROOT = Path(__file__).resolve().parent.parent
V = 2766
LN_V = math.log(V)
torch.set_num_threads(1)  # tiny model: a second thread mostly waits for a busy core on a shared machine


def kinds(findings):
    assert findings and all(isinstance(f, Finding) and f.kind in KINDS and f.message for f in findings)
    return [f.kind for f in findings]


# ====================================================================== synthetic curves
def noisy(values, sigma, seed=0):
    """Per-batch noise like the course's length-bucketed batches: different question types, different losses."""
    rng = random.Random(seed)
    return [v + rng.gauss(0, sigma) * (1 + 0.5 * (rng.random() < 0.3)) for v in values]


def healthy_curve(n=600, end=1.5, sigma=0.25, seed=0):
    """ln V → `end`, fast at first then slower (exponential approach), with batch noise."""
    return noisy([end + (LN_V - end) * math.exp(-t / (n / 5)) for t in range(n)], sigma, seed)


def test_synthetic_healthy_is_not_flagged():
    for seed in range(5):
        assert kinds(diagnose_loss(healthy_curve(seed=seed), vocab_size=V)) == ["healthy"], seed
    # large batch noise (±1 nat between neighbouring steps, as in chapter 6's real run) is still healthy
    assert kinds(diagnose_loss(healthy_curve(n=2000, end=0.8, sigma=0.5), vocab_size=V)) == ["healthy"]
    # without vocab_size the first loss is the reference
    assert kinds(diagnose_loss(healthy_curve())) == ["healthy"]


def test_synthetic_stuck_at_ln_v():
    stuck = noisy([LN_V] * 200, 0.02)
    found = diagnose_loss(stuck, vocab_size=V)
    assert kinds(found) == ["stuck_at_ln_v"]
    assert "学习率" in found[0].message and "ln V" in found[0].message
    # a curve that falls only a little (2% of ln V) is still stuck
    assert kinds(diagnose_loss(noisy([LN_V - 0.15 * t / 200 for t in range(200)], 0.05), vocab_size=V)) == ["stuck_at_ln_v"]


def test_synthetic_nan():
    curve = healthy_curve(300)
    curve[150] = float("nan")
    curve[151:] = [float("nan")] * 149
    found = diagnose_loss(curve, vocab_size=V)
    assert kinds(found) == ["nan"] and "第 151 步" in found[0].message
    assert kinds(diagnose_loss([float("inf")] + healthy_curve(50), vocab_size=V))[0] == "nan"
    assert "<pad>" in diagnose_loss([float("nan")] * 20, vocab_size=V)[0].message  # NaN from the first step
    assert kinds(diagnose_loss(healthy_curve(100), [5.0, float("nan")], vocab_size=V)) == ["nan"]  # NaN in validation


def test_synthetic_instant_zero():
    leak = noisy([0.02 + LN_V * math.exp(-t / 8) for t in range(100)], 0.02)
    found = diagnose_loss(leak, vocab_size=V)
    assert kinds(found) == ["instant_zero"]
    assert "因果掩码" in found[0].message and "错开" in found[0].message
    # the same fall, slowly over many epochs (memorising), is not "instant"
    slow = noisy([0.05 + LN_V * math.exp(-t / 800) for t in range(4000)], 0.1)
    assert kinds(diagnose_loss(slow, vocab_size=V)) == ["healthy"]


def test_synthetic_overfitting():
    train = healthy_curve(2000, end=0.3, sigma=0.3)
    val = [6.0, 4.0, 3.0, 2.5, 2.3, 2.25, 2.3, 2.4, 2.5, 2.6]  # falls, then rises
    found = diagnose_loss(train, val, vocab_size=V)
    assert kinds(found) == ["overfitting"]
    assert "best_model.pth" in found[0].message and "不说明" in found[0].message
    # chapter 6 measures last_model.pth answering better than best_model.pth (grouped split): the advice must
    # not tell the learner to switch to best_model.pth, and must point at measuring exact match on both
    advice = found[0].message.split("可以做的：", 1)[1]
    assert "用 best_model.pth" not in advice and "last_model.pth" in advice and "精确匹配" in advice
    # a small wiggle in validation loss (1%) is not over-fitting
    assert kinds(diagnose_loss(train, [6.0, 4.0, 3.0, 2.5, 2.3, 2.25, 2.27], vocab_size=V)) == ["healthy"]
    # validation rising while training does not fall either: not the over-fitting picture
    flat = noisy([3.0] * 500, 0.2)
    assert "overfitting" not in kinds(diagnose_loss(flat, [3.0, 2.9, 3.2, 3.5], vocab_size=V))


def test_synthetic_lr_too_high():
    # diverges: jumps far above ln V
    diverge = [LN_V] + noisy([LN_V + 5 + 50 * math.sin(t) ** 2 for t in range(99)], 1.0)
    assert kinds(diagnose_loss(diverge, vocab_size=V)) == ["lr_too_high"]
    # learns, then blows up: the training loss climbs back
    up = noisy([2.0 + (LN_V - 2.0) * math.exp(-t / 50) if t < 300 else 2.0 + (t - 300) / 60 for t in range(600)], 0.1)
    found = diagnose_loss(up, vocab_size=V)
    assert kinds(found) == ["lr_too_high"] and "回升" in found[0].message
    # repeated large spikes on an otherwise falling curve
    spiky = healthy_curve(1000, sigma=0.1)
    for i in range(150, 1000, 70):
        spiky[i] += 4.0
    assert kinds(diagnose_loss(spiky, vocab_size=V)) == ["lr_too_high"]
    # with validation rising too: the instability explains it, so no separate over-fitting finding (its advice,
    # stop earlier or add data, would send the learner the wrong way); seen on a real run with lr=0.5
    spiky = healthy_curve(1000, sigma=0.1)
    for i in range(150, 1000, 70):
        spiky[i] += 4.0
    assert kinds(diagnose_loss(spiky, [6.0, 4.0, 3.0, 2.5, 2.3, 2.25, 2.3, 2.4, 2.5, 2.6], vocab_size=V)) == ["lr_too_high"]
    # a few spikes are not enough
    spiky = healthy_curve(1000, sigma=0.1)
    for i in (300, 500, 700):
        spiky[i] += 4.0
    assert kinds(diagnose_loss(spiky, vocab_size=V)) == ["healthy"]


def test_short_curve_says_too_short():
    found = diagnose_loss([LN_V, LN_V, LN_V], vocab_size=V)
    assert kinds(found) == ["healthy"] and "太短" in found[0].message


# ====================================================================== inputs: lists, History, metrics.jsonl
def test_inputs_history_and_metrics_file(tmp_path):
    train = healthy_curve(400, end=0.5, sigma=0.2)
    history = History(train)
    history.evals = [{"step": s, "val_loss": v, "exact_match": {}} for s, v in
                     [(50, 5.0), (100, 3.0), (150, 2.0), (300, 2.3), (400, 2.6)]]
    assert kinds(diagnose_loss(history, vocab_size=V)) == ["overfitting"]  # validation taken from .evals
    assert kinds(diagnose_loss(history, val_losses=[], vocab_size=V)) == ["healthy"]  # explicit val wins

    # the file train() writes: a train_loss row every 10 steps (and step 1), eval rows with val_loss
    path = tmp_path / "metrics.jsonl"
    rows = [{"step": 1, "train_loss": train[0], "lr": 1e-5}]
    rows += [{"step": s, "train_loss": train[s - 1], "lr": 1e-3} for s in range(10, 401, 10)]
    rows += [{"step": s, "val_loss": v} for s, v in [(100, 3.0), (150, 2.0), (300, 2.3), (400, 2.6)]]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    t, v = load_curves(path)
    assert t.steps[:3] == [1, 10, 20] and v.steps == [100, 150, 300, 400]
    assert kinds(diagnose_loss(path, vocab_size=V)) == ["overfitting"]
    assert kinds(diagnose_loss(str(path), val_losses=[], vocab_size=V)) == ["healthy"]

    # (step, loss) pairs and dict rows for validation
    assert load_curves(train, [(100, 3.0), (200, 2.0)])[1].steps == [100, 200]
    assert load_curves(train, [3.0, 2.0])[1].steps == [200, 400]  # bare values: spread evenly


def test_print_and_cli(tmp_path, capsys):
    found = print_diagnosis([LN_V] * 50, vocab_size=V)
    out = capsys.readouterr().out
    assert out.startswith("我的 loss 正常吗？") and "stuck_at_ln_v" in out and kinds(found) == ["stuck_at_ln_v"]
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps({"step": s, "train_loss": LN_V}) + "\n" for s in range(1, 40)), encoding="utf-8")
    vocab = tmp_path / "vocab.json"
    vocab.write_text(json.dumps({"word2id": {str(i): i for i in range(V)}}), encoding="utf-8")
    assert main([str(path), "--vocab", str(vocab)]) == 0
    assert "损失停在 ln V" in capsys.readouterr().out
    assert main([str(tmp_path / "missing.jsonl")]) == 1
    assert "读不了" in capsys.readouterr().err
    path.write_text('{"step": 1, "val_loss": 3}\n', encoding="utf-8")
    assert main([str(path)]) == 1 and "train_loss" in capsys.readouterr().err


# ====================================================================== a real run of the course's default model
@pytest.fixture(scope="module")
def cpu_run():
    """The first 1,600 steps of chapter 6's training (cpu preset, real data, defaults): per-step losses + evals."""
    return json.loads((ROOT / "tests" / "fixtures" / "loss_curve_cpu_preset.json").read_text(encoding="utf-8"))


def test_real_cpu_preset_run_is_healthy(cpu_run):
    """Per-batch noise up to 4 nats (length buckets group question types), warm-up, falling validation: healthy."""
    v, losses, evals = cpu_run["vocab_size"], cpu_run["losses"], cpu_run["evals"]
    assert kinds(diagnose_loss(losses, vocab_size=v)) == ["healthy"]
    assert kinds(diagnose_loss(losses, evals, vocab_size=v)) == ["healthy"]
    assert kinds(diagnose_loss(losses[::10], evals, vocab_size=v)) == ["healthy"]  # as metrics.jsonl logs it
    assert kinds(diagnose_loss(losses)) == ["healthy"]  # without vocab_size
    for n in (30, 100, 300, 800):  # any prefix, as a learner checks while training
        assert kinds(diagnose_loss(losses[:n], vocab_size=v)) == ["healthy"], n


def test_real_cpu_preset_run_with_planted_problems(cpu_run):
    v, losses, evals = cpu_run["vocab_size"], cpu_run["losses"], cpu_run["evals"]
    # validation turns up while training keeps falling (as it does after ~2,200 steps of this run)
    rising = evals + [{"step": 1800, "val_loss": 1.85}, {"step": 2000, "val_loss": 1.95}]
    longer = losses + [x - 0.3 for x in losses[-400:]]
    assert kinds(diagnose_loss(longer, rising, vocab_size=v)) == ["overfitting"]
    # a learning rate that makes the loss jump back up now and then
    spiky = list(losses)
    for i in range(300, 1600, 80):
        spiky[i] += 5.0
    assert kinds(diagnose_loss(spiky, vocab_size=v)) == ["lr_too_high"]
    # NaN at step 1,000
    broken = losses[:999] + [float("nan")] * 601
    found = diagnose_loss(broken, vocab_size=v)
    assert kinds(found) == ["nan"] and "第 1000 步" in found[0].message


# ====================================================================== real curves: train the tiny preset with planted bugs
@pytest.fixture(scope="module")
def real_data(tmp_path_factory):
    """A slice of the course data (every 40th line: many idioms, all question types), split 85/15, its own vocab."""
    lines = [ln for ln in (ROOT / "data" / "data.jsonl").read_text(encoding="utf-8").splitlines() if ln.strip()][::40]
    random.Random(0).shuffle(lines)
    folder = tmp_path_factory.mktemp("diag")
    cut = int(len(lines) * 0.85)
    (folder / "train.jsonl").write_text("\n".join(lines[:cut]) + "\n", encoding="utf-8")
    (folder / "val.jsonl").write_text("\n".join(lines[cut:]) + "\n", encoding="utf-8")
    chars = sorted({c for ln in lines for r in [json.loads(ln)] for c in r["question"] + r["answer"]})
    tokenizer = Tokenizer.from_word2id({t: i for i, t in enumerate(["<pad>", "<unk>", "<sep>", *chars])})
    quiet = dict(pad_to_max_length=False, warn=lambda msg: None)
    return (tokenizer, QADataset(str(folder / "train.jsonl"), tokenizer, 128, **quiet),
            QADataset(str(folder / "val.jsonl"), tokenizer, 128, **quiet))


def run(real_data, monkeypatch, *, bug=None, lr=3e-3, steps=60, evals=4, batch_size=32):
    """Train a fresh tiny GPT with the package's train_step; return (per-step losses, [(step, val_loss)], V)."""
    tokenizer, train_ds, val_ds = real_data
    pad = tokenizer.pad_token_id
    if bug == "no_causal_mask":  # the attention forgets is_causal: position i sees token i+1
        import minigpt.model as model_module

        monkeypatch.setattr(model_module, "causal_attention", lambda q, k, v, dropout_p=0.0:
                            torch.nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p))
    torch.manual_seed(0)
    model = GPTLMHeadModel(config_for("tiny", tokenizer.get_vocab_size()))
    # the optimizer of another model (a copy made before a refactor, say): this model's weights never move
    owner = GPTLMHeadModel(config_for("tiny", tokenizer.get_vocab_size())) if bug == "optimizer_of_another_model" else model
    optimizer = torch.optim.AdamW(owner.parameters(), lr=lr, weight_decay=0.01)
    sampler = BucketBatchSampler(train_ds.lengths, batch_size, seed=0)
    losses, vals, epoch = [], [], 0
    val_idx = list(range(min(64, len(val_ds))))
    while len(losses) < steps:
        sampler.set_epoch(epoch)
        epoch += 1
        for idx in sampler:
            batch = collate_batch([train_ds[i] for i in idx], pad)
            if bug == "targets_are_inputs":  # forgot to shift: the target is the current token
                batch["targets"] = batch["input_ids"].clone()
            elif bug == "all_targets_pad":  # a loss mask that hides everything
                batch["targets"] = torch.full_like(batch["targets"], pad)
            elif bug == "random_targets":  # labels that have nothing to do with the inputs
                t = batch["targets"]
                batch["targets"] = torch.where(t == pad, t, torch.randint(3, tokenizer.get_vocab_size(), t.shape))
            loss = train_step(model, optimizer, batch, pad_token_id=pad, device=torch.device("cpu"))
            losses.append(loss.item())
            if len(losses) % (steps // evals) == 0:
                vals.append((len(losses), validation_loss(model, val_ds, val_idx, pad_token_id=pad,
                                                          device=torch.device("cpu"), dtype=torch.float32)))
            if len(losses) == steps:
                break
    return losses, vals, tokenizer.get_vocab_size()


def diagnosed(curve, with_val=True):
    losses, vals, v = curve
    return kinds(diagnose_loss(losses, vals if with_val else None, vocab_size=v))


def test_real_healthy_run_is_not_flagged(real_data, monkeypatch):
    curve = run(real_data, monkeypatch, lr=3e-3, steps=60)
    losses, vals, v = curve
    assert losses[-1] < losses[0] - 1  # it really learned something
    assert diagnosed(curve) == ["healthy"] and diagnosed(curve, with_val=False) == ["healthy"]


def test_real_lr_zero_is_stuck(real_data, monkeypatch):
    assert diagnosed(run(real_data, monkeypatch, lr=0.0, steps=40)) == ["stuck_at_ln_v"]


def test_real_optimizer_of_another_model_is_stuck(real_data, monkeypatch):
    assert diagnosed(run(real_data, monkeypatch, bug="optimizer_of_another_model", steps=40)) == ["stuck_at_ln_v"]


def test_real_random_targets_are_stuck(real_data, monkeypatch):
    assert diagnosed(run(real_data, monkeypatch, bug="random_targets", steps=40)) == ["stuck_at_ln_v"]


def test_real_targets_are_inputs_fall_to_zero(real_data, monkeypatch):
    curve = run(real_data, monkeypatch, bug="targets_are_inputs", lr=1e-2, steps=60)
    assert diagnosed(curve, with_val=False) == ["instant_zero"]
    assert diagnosed(curve) == ["instant_zero"]  # validation (correct targets) hardly improves: a training-only leak


@pytest.mark.slow
def test_real_no_causal_mask_falls_to_zero(real_data, monkeypatch):
    """Without the causal mask position i sees token i+1 (its target); the tiny model needs a few hundred steps to
    learn to peek (its positions are learned), then training and validation loss both fall towards 0."""
    curve = run(real_data, monkeypatch, bug="no_causal_mask", lr=1e-2, steps=800, evals=8)
    assert diagnosed(curve) == ["instant_zero"]


def test_real_huge_lr(real_data, monkeypatch):
    assert diagnosed(run(real_data, monkeypatch, lr=3.0, steps=40)) == ["lr_too_high"]
    # 500x the course default; at 0.3 the curve only briefly overshoots ln V (9.3 vs 7.6 on data v2) and then
    # settles near 6: a borderline case the rules do not promise to catch, so it is not asserted here
    assert diagnosed(run(real_data, monkeypatch, lr=0.5, steps=40)) == ["lr_too_high"]


def test_real_all_targets_pad_is_nan(real_data, monkeypatch):
    found = diagnose_loss(run(real_data, monkeypatch, bug="all_targets_pad", steps=10, evals=2)[0], vocab_size=V)
    assert kinds(found) == ["nan"] and "<pad>" in found[0].message


@pytest.mark.slow
def test_real_overfitting_on_a_small_training_set(real_data, monkeypatch):
    """64 training pairs, many epochs: training loss → ~0.1, validation loss falls, then rises."""
    tokenizer, train_ds, val_ds = real_data
    small = torch.utils.data.Subset(train_ds, range(64))
    small.lengths = train_ds.lengths[:64]
    curve = run((tokenizer, small, val_ds), monkeypatch, lr=3e-3, steps=600, evals=10)
    assert diagnosed(curve) == ["overfitting"]
