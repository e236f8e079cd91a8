"""Tests for minigpt/pretrain.py: packing, the packed dataset, the shared vocabulary, and that packed
training is the package's training step with the loss on every position. Tiny model, a few seconds."""
import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from minigpt.pretrain import PackedDataset, corpus_tokenizer, encode_documents, one_per_row, pack, qa_documents
from minigpt.qa_dataset import collate_batch
from minigpt.train import make_optimizer, train_step

torch.set_num_threads(1)   # shared 2-core machine: one thread is faster for a tiny model (see test_train.py)
EOS = 2
ROOT = Path(__file__).resolve().parent.parent


def test_pack_by_hand():
    # stream: <eos> 5 6 7 <eos> 8 9 <eos> (8 tokens) -> (8 - 1) // 3 = 2 rows of 4; the tail "9 <eos>" is dropped
    rows = pack([[5, 6, 7], [8, 9]], block_size=3, eos_id=EOS)
    assert rows.dtype == torch.long
    assert rows.tolist() == [[2, 5, 6, 7], [7, 2, 8, 9]]


def test_pack_every_token_but_the_first_is_a_target_once():
    rng = random.Random(0)
    docs = [[rng.randrange(3, 50) for _ in range(rng.randint(1, 30))] for _ in range(40)]
    stream = [EOS] + [t for d in docs for t in d + [EOS]]
    for block in (1, 7, 16, 64):
        rows = pack(docs, block, EOS)
        n = (len(stream) - 1) // block
        assert rows.shape == (n, block + 1)
        assert rows[:, 1:].flatten().tolist() == stream[1 : 1 + n * block]   # targets: the stream, once each
        assert rows[:, :-1].flatten().tolist() == stream[: n * block]        # inputs: shifted by one
        assert len(stream) - 1 - n * block < block                           # less than one row dropped


def test_pack_too_little_text():
    with pytest.raises(ValueError, match="凑不满一行"):
        pack([[5, 6]], block_size=8, eos_id=EOS)
    with pytest.raises(ValueError, match="block_size"):
        pack([[5, 6]], block_size=0, eos_id=EOS)


def test_packed_dataset_has_no_padding_and_shuffles_documents_by_seed():
    docs = [[10 + i] * 5 for i in range(30)]   # document i is five copies of token 10 + i
    a, b, c = (PackedDataset(docs, 16, EOS, seed=s) for s in (0, 0, 1))
    assert torch.equal(a.rows, b.rows) and not torch.equal(a.rows, c.rows)
    assert len(a) == (1 + 30 * 6 - 1) // 16 and a.lengths == [16] * len(a) and a.num_tokens == 16 * len(a)
    item = a[0]
    assert set(item) == {"input_ids", "attention_mask", "targets"}
    assert item["input_ids"].shape == item["targets"].shape == (16,)
    assert torch.equal(item["targets"][:-1], item["input_ids"][1:]) and bool(item["attention_mask"].all())
    assert not (a.rows == 0).any()   # no <pad> (id 0) anywhere: every target counts in the loss
    order = [int(t) - 10 for t in a.rows[:, 1:].flatten() if t != EOS]
    firsts = list(dict.fromkeys(order))
    assert firsts != sorted(firsts)                                  # shuffled, not in corpus order
    assert set(firsts) <= set(range(30)) and len(firsts) >= 29     # all there (the tail may lose the last one)


def test_one_per_row_by_hand():
    # each document alone from position 0, <eos> at its end; a long one is cut like pack (neighbours share a token)
    rows = one_per_row([[5, 6, 7], [8], [9, 10, 11, 12, 13, 14]], block_size=3, eos_id=EOS)
    assert [r.tolist() for r in rows] == [[5, 6, 7, 2], [8, 2], [9, 10, 11, 12], [12, 13, 14, 2]]
    assert one_per_row([[]], 3, EOS) == []   # an empty document has nothing to predict


def test_unpacked_dataset_every_document_from_position_zero(char_tokenizer):
    rng = random.Random(2)
    docs = [[rng.randrange(3, 40) for _ in range(rng.randint(1, 16))] for _ in range(30)]   # each fits one row
    ds = PackedDataset(docs, 16, EOS, seed=0, packed=False)
    assert sorted(r.tolist() for r in ds.rows) == sorted(d + [EOS] for d in docs)   # one row per document, all there
    assert ds.lengths == [len(r) - 1 for r in ds.rows] and ds.num_tokens == sum(len(d) for d in docs)
    assert ds.num_tokens < PackedDataset(docs, 16, EOS, seed=0).num_tokens + 16   # the same text, no more
    batch = collate_batch([ds[i] for i in range(8)], pad_token_id=0)
    lengths = [len(ds.rows[i]) - 1 for i in range(8)]
    assert batch["attention_mask"].sum(1).tolist() == lengths                     # padded on the right
    assert all((batch["targets"][i, n:] == 0).all() for i, n in enumerate(lengths))  # <pad>: ignored targets


def test_unpacked_row_is_the_document_alone(tiny_gpt):
    # what --no-pack changes: a document no longer sees the one before it, and starts at position 0 as a question does
    model = tiny_gpt(40, seed=4)
    first, second = [5, 6, 7, 8, 9], [20, 21, 22, 23]
    ds = PackedDataset([first, second], 16, EOS, seed=0, packed=False)
    row = next(r for r in ds.rows if r[0] == 20)
    with torch.no_grad():
        torch.testing.assert_close(model(row[None, :-1])[0], model(torch.tensor([second]))[0])


def _hand_loss(model, rows):
    """Mean next-token cross-entropy over every position, written out without the package's step."""
    with torch.no_grad():
        logp = torch.log_softmax(model(rows[:, :-1]).double(), dim=-1)   # (B, T, V)
    return -logp.gather(-1, rows[:, 1:, None]).mean().item()


def test_packed_step_is_the_package_step_with_loss_on_every_position(tiny_gpt):
    rng = random.Random(1)
    docs = [[rng.randrange(3, 40) for _ in range(rng.randint(3, 50))] for _ in range(200)]
    ds = PackedDataset(docs, 32, EOS, seed=0)
    model = tiny_gpt(40, seed=3).train()
    opt = make_optimizer(model, 1e-3, 0.01, "cpu")
    losses = []
    for step in range(4):
        batch = collate_batch([ds[i] for i in range(step * 8, step * 8 + 8)])
        expected = _hand_loss(model, torch.stack([ds.rows[i] for i in range(step * 8, step * 8 + 8)]))
        loss = train_step(model, opt, batch, pad_token_id=0, device="cpu").item()
        assert loss == pytest.approx(expected, rel=1e-5)
        losses.append(loss)
    assert losses[0] == pytest.approx(math.log(40), abs=0.2)   # untrained: about ln(vocab)


def test_first_document_of_a_row_is_exact_later_ones_see_the_previous(tiny_gpt):
    # why no document mask (pretrain.py docstring): causal attention leaves the row's first document exactly
    # as if it were alone; a later document also sees the one before it (behind an <eos>)
    model = tiny_gpt(40, seed=4)
    first, second = [5, 6, 7, 8, 9], [20, 21, 22, 23]
    row = pack([first, second], block_size=len(first) + len(second) + 2, eos_id=EOS)[0]
    with torch.no_grad():
        packed = model(row[None, :-1])[0]
        alone_first = model(torch.tensor([[EOS] + first]))[0]
        alone_second = model(torch.tensor([[EOS] + second]))[0]
    n = len(first) + 1
    torch.testing.assert_close(packed[:n], alone_first)
    assert packed[n:].shape == alone_second.shape
    assert not torch.allclose(packed[n:], alone_second, atol=1e-4)


def test_corpus_tokenizer_covers_corpus_and_qa(tmp_path):
    qa = tmp_path / "qa.jsonl"
    qa.write_text(json.dumps({"question": "啥意思？", "answer": "甲乙"}, ensure_ascii=False) + "\n", encoding="utf-8")
    docs = ["甲乙丙丁\n拼音：jiǎ", "丁戊。"]
    tok = corpus_tokenizer(docs, [qa], tmp_path / "vocab.json")
    chars = sorted(set("".join(docs)) | set("啥意思？甲乙"))
    assert tok.word2id == {"<pad>": 0, "<unk>": 1, "<sep>": 2, **{c: i + 3 for i, c in enumerate(chars)}}
    assert all(tok.unk_token_id not in ids for ids in encode_documents(tok, docs + ["啥意思？"]))
    assert json.loads((tmp_path / "vocab.json").read_text(encoding="utf-8"))["word2id"] == tok.word2id


def test_qa_documents_pack_like_qa_sequences(char_tokenizer):
    from types import SimpleNamespace as QA

    tok = char_tokenizer("甲乙丙丁是什么意思？")
    pairs = [QA(question="甲乙是什么意思？", answer="丙丁"), QA(question="丁是什么意思？", answer="甲")]
    docs = [tok.encode(p.question, p.answer, pad_to_max_length=False)[0] for p in pairs]
    stream = [EOS] + docs[0] + docs[1]   # each QA sequence already ends with <sep>, the end-of-document token
    rows = pack(qa_documents(tok, pairs), 4, EOS)
    assert rows[:, 1:].flatten().tolist() == stream[1 : 1 + rows.shape[0] * 4]


def test_load_base_refuses_another_vocabulary_or_shape_naming_both(tmp_path, tiny_gpt, char_tokenizer):
    from minigpt.checkpoint import CheckpointError, load_base, save_checkpoint

    tok = char_tokenizer("甲乙丙丁")
    model = tiny_gpt(len(tok), seed=5)
    base = tmp_path / "base.pth"
    save_checkpoint(base, model, "gpt", tok, step=7)
    loaded = load_base(base, tok, "vocab.json", arch="gpt", preset="tiny")
    assert loaded.training
    torch.testing.assert_close(loaded.state_dict(), model.state_dict())
    other = char_tokenizer("甲乙丙丁戊")
    with pytest.raises(CheckpointError) as e:
        load_base(base, other, tmp_path / "sft_vocab.json")
    assert str(base) in str(e.value) and str(tmp_path / "sft_vocab.json") in str(e.value) and "词表" in str(e.value)
    with pytest.raises(CheckpointError) as e:
        load_base(base, tok, "vocab.json", arch="gpt", preset="cpu")
    assert str(base) in str(e.value) and "--preset cpu" in str(e.value) and "n_embd=32" in str(e.value)


# ---------------------------------------------------------------- the training loop and the command line
def _synthetic_docs(n=120, seed=0):
    rng = random.Random(seed)
    chars = "甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉戌亥"
    return ["".join(rng.choice(chars) for _ in range(rng.randint(5, 40))) for _ in range(n)]


@pytest.fixture
def packed(char_tokenizer):
    from minigpt.pretrain import PretrainSettings, packed_datasets

    docs = _synthetic_docs()
    tok = char_tokenizer("".join(sorted(set("".join(docs)))))
    s = PretrainSettings(seed=3, val_fraction=0.1)
    train_ds, val_ds = packed_datasets(tok, docs, None, [], [], 32, s, say=lambda m: None)
    return tok, train_ds, val_ds


def _pretrain(model, tok, train_ds, val_ds, out, **kw):
    from minigpt.pretrain import pretrain

    opts = dict(batch_size=4, lr=3e-3, warmup_steps=2, seed=3, dtype="fp32", device="cpu", tensorboard_dir=None,
                progress=False, verbose=False, eval_every=1000, val_loss_samples=8)
    opts.update(kw)
    return pretrain(model, tok, train_ds, val_ds, output_dir=out, **opts)


def test_pretrain_loop_is_the_package_step_loss_for_loss(packed, tiny_gpt, tmp_path):
    from minigpt.pretrain import PretrainSettings
    from minigpt.qa_dataset import BucketBatchSampler
    from minigpt.train import lr_at

    tok, train_ds, val_ds = packed
    history = _pretrain(tiny_gpt(len(tok), seed=1), tok, train_ds, val_ds, tmp_path, max_steps=8)
    # the same 8 steps written out with train.py's pieces: its optimizer, schedule and step, batches in sampler order
    s = PretrainSettings(batch_size=4, lr=3e-3, warmup_steps=2, seed=3, max_steps=8)
    model = tiny_gpt(len(tok), seed=1).train()
    opt = make_optimizer(model, s.lr, s.weight_decay, "cpu")
    sampler = BucketBatchSampler(train_ds.lengths, s.batch_size, shuffle=True, seed=s.seed)
    sampler.set_epoch(0)
    manual = []
    for step, rows in enumerate(list(sampler)[:8]):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, s, 8)
        batch = collate_batch([train_ds[i] for i in rows])
        manual.append(train_step(model, opt, batch, pad_token_id=tok.pad_token_id, device="cpu").item())
    assert list(history) == manual
    assert history.final["metrics"]["val_loss"] < math.log(len(tok))


def test_pretrain_resumes_bit_identically(packed, tiny_gpt, tmp_path):
    tok, train_ds, val_ds = packed
    straight = _pretrain(tiny_gpt(len(tok), seed=1, dropout=0.1), tok, train_ds, val_ds, tmp_path / "a", max_steps=10)

    def stop(step, loss, history):
        if step == 4:
            raise KeyboardInterrupt

    cut = _pretrain(tiny_gpt(len(tok), seed=1, dropout=0.1), tok, train_ds, val_ds, tmp_path / "b", max_steps=10,
                    callback=stop)
    assert cut.interrupted and len(cut) == 4
    resumed = _pretrain(tiny_gpt(len(tok), seed=2, dropout=0.1), tok, train_ds, val_ds, tmp_path / "b", max_steps=10)
    assert list(resumed) == list(straight)


def _write_corpus(path, docs):
    path.write_text("".join(json.dumps({"text": d}, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")


def test_cli_pretrains_then_train_fine_tunes_from_the_base(tmp_path, capsys):
    from minigpt.pretrain import main

    corpus = tmp_path / "corpus.jsonl"
    _write_corpus(corpus, _synthetic_docs(200))
    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps({"question": f"{c}是什么？", "answer": c * 2, "type": "meaning"},
                                     ensure_ascii=False) + "\n" for c in "甲乙丙丁戊己庚辛"), encoding="utf-8")
    vocab, out = tmp_path / "vocab.json", tmp_path / "base"
    common = ["--preset", "tiny", "--device", "cpu", "--dtype", "fp32", "--tensorboard-dir", "", "--no-progress"]
    rc = main(["--corpus", str(corpus), "--qa-val", str(qa), "--vocab", str(vocab), "--output-dir", str(out),
               "--max-steps", "4", "--eval-every", "2", "--eval-samples", "4", "--final-eval-samples", "4",
               "--batch-size", "4", "--val-fraction", "0.2", *common])
    assert rc == 0 and (out / "last_model.pth").is_file() and vocab.is_file()
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["step"] for r in rows if "val_loss" in r] == [2, 4]
    assert rows[-1]["exact_match"]["val"] is not None and rows[-1]["exact_match"]["train"] is None

    from minigpt.train import main as train_main

    sft = ["--train", str(qa), "--val", str(qa), "--heldout", "", "--init-from", str(out / "last_model.pth"),
           "--output-dir", str(tmp_path / "sft"), "--max-steps", "2", "--eval-samples", "2", "--final-eval-samples", "2",
           "--batch-size", "4", *common]
    assert train_main(sft + ["--vocab", str(vocab)]) == 0
    assert (tmp_path / "sft" / "last_model.pth").is_file()
    other = tmp_path / "other_vocab.json"
    other.write_text(json.dumps({"word2id": {"<pad>": 0, "<unk>": 1, "<sep>": 2, "甲": 3}}, ensure_ascii=False),
                     encoding="utf-8")
    capsys.readouterr()
    assert train_main(sft + ["--vocab", str(other)]) == 1
    err = capsys.readouterr().err
    assert err.count("错误：") == 1 and str(out / "last_model.pth") in err and str(other) in err and "词表" in err


def test_cli_missing_corpus_is_one_clear_error(tmp_path, capsys):
    from minigpt.pretrain import main

    assert main(["--corpus", str(tmp_path / "nope.jsonl"), "--vocab", str(tmp_path / "v.json")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("错误：") and "nope.jsonl" in err and "build_corpus.py" in err


@pytest.mark.slow
def test_two_processes_pretrain(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    _write_corpus(corpus, _synthetic_docs(300))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "minigpt.pretrain",
           "--corpus", str(corpus), "--vocab", str(tmp_path / "v.json"), "--output-dir", str(out), "--preset", "tiny",
           "--max-steps", "4", "--eval-every", "2", "--batch-size", "4", "--val-fraction", "0.1", "--device", "cpu",
           "--dtype", "fp32",
           "--tensorboard-dir", "", "--no-progress"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=180,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert done.stdout.count("完成：4 步") == 1
    ckpt = torch.load(out / "last_model.pth", weights_only=True)
    assert ckpt["step"] == 4 and len(ckpt["train_state"]["rng"]) == 2
