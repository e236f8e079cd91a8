"""Tests for minigpt/pretrain.py: packing, the packed dataset, the shared vocabulary, and that packed
training is the package's training step with the loss on every position. Tiny model, a few seconds."""
import json
import math
import random

import pytest
import torch
import torch.nn.functional as F

from minigpt.pretrain import PackedDataset, corpus_tokenizer, encode_documents, pack
from minigpt.qa_dataset import collate_batch
from minigpt.train import make_optimizer, train_step

torch.set_num_threads(1)   # shared 2-core machine: one thread is faster for a tiny model (see test_train.py)
EOS = 2


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
