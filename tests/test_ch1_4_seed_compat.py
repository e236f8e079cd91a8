"""Numerical compatibility with the seed's chapter 1-4 code (tests/fixtures/seed_ch1_4.py, copied verbatim).

For valid input the package must write the same vocab.json bytes, give the same ids, write the same
split files and produce the same dataset items as the seed.
"""
import contextlib
import importlib.util
import io
import json
import shutil
from pathlib import Path

import pytest
import torch

from minigpt.build_vocab import build_vocab
from minigpt.qa_dataset import QADataset
from minigpt.split_data import split_jsonl_data
from minigpt.tokenizer import Tokenizer

FIXTURES = Path(__file__).parent / "fixtures"
REAL_DATA = Path(__file__).parent.parent / "data" / "data.jsonl"
QUIET = dict(warn=lambda m: None)

_spec = importlib.util.spec_from_file_location("seed_ch1_4", FIXTURES / "seed_ch1_4.py")
seed = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(seed)


def silent(fn, *args, **kwargs):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)


# A valid file that exercises what valid input may contain: extra fields, blank lines, surrounding
# spaces, emoji, fake special tokens, escapes, ASCII, a long answer.
TRICKY = "\n".join(
    [
        '{"question": "你好，最近怎么样？", "answer": "我很好，谢谢！", "type": "chat"}',
        "",
        '   {"question": "<sep>是什么？", "answer": "五个字符：<, s, e, p, >", "id": 3}   ',
        '{"question":"\\u4f60\\u597d😀","answer":"𠀀 tab\\there"}',
        json.dumps({"question": "长" * 10, "answer": "答" * 150}, ensure_ascii=False),
        "",
    ]
)


def data_files(tmp_path):
    files = [FIXTURES / "qa_small.jsonl"]
    tricky = tmp_path / "tricky.jsonl"
    tricky.write_text(TRICKY + "\n", encoding="utf-8")
    files.append(tricky)
    return files


def test_vocab_json_bytes_are_the_seeds(tmp_path):
    for i, data in enumerate(data_files(tmp_path)):
        silent(seed.build_vocab, str(data), str(tmp_path / f"seed{i}.json"))
        silent(build_vocab, data, tmp_path / f"ours{i}.json", **QUIET)
        assert (tmp_path / f"ours{i}.json").read_bytes() == (tmp_path / f"seed{i}.json").read_bytes()


@pytest.mark.skipif(not REAL_DATA.exists(), reason="data/data.jsonl not built yet")
def test_vocab_json_bytes_are_the_seeds_on_the_course_data(tmp_path):
    silent(seed.build_vocab, str(REAL_DATA), str(tmp_path / "seed.json"))
    silent(build_vocab, REAL_DATA, tmp_path / "ours.json", **QUIET)
    assert (tmp_path / "ours.json").read_bytes() == (tmp_path / "seed.json").read_bytes()


def test_tokenizer_ids_are_the_seeds(tmp_path):
    vocab = tmp_path / "vocab.json"
    silent(seed.build_vocab, str(FIXTURES / "qa_small.jsonl"), str(vocab))
    theirs, ours = seed.Tokenizer(str(vocab)), Tokenizer(vocab)
    assert (ours.pad_token_id, ours.unk_token_id, ours.sep_token_id) == (theirs.pad_token_id, theirs.unk_token_id, theirs.sep_token_id)
    assert ours.word2id == theirs.word2id and ours.id2word == theirs.id2word
    assert ours.get_vocab_size() == theirs.get_vocab_size()
    cases = [("你好，最近怎么样？", "我很好，谢谢！"), ("龘<sep>😀", "未知字"), ("画蛇添足是什么意思？", "比喻" * 40), ("问", None), ("", "")]
    for q, a in cases:
        for max_length in (1, 5, 32, 128):
            for pad in (True, False):
                assert ours.encode(q, a, max_length, pad) == theirs.encode(q, a, max_length, pad), (q, a, max_length, pad)
        ids, _ = theirs.encode(q, a, 64)
        assert ours.decode(ids) == theirs.decode(ids)


def test_split_files_are_the_seeds(tmp_path):
    for i, data in enumerate(data_files(tmp_path)):
        for ratio, rseed in [(0.8, 42), (0.9, 42), (0.5, 7)]:
            a, b = tmp_path / f"seed{i}", tmp_path / f"ours{i}"
            a.mkdir(exist_ok=True), b.mkdir(exist_ok=True)
            shutil.copy(data, a / "data.jsonl"), shutil.copy(data, b / "data.jsonl")
            silent(seed.split_jsonl_data, str(a / "data.jsonl"), ratio, rseed)
            silent(split_jsonl_data, b / "data.jsonl", ratio, rseed, **QUIET)
            for name in ("train.jsonl", "val.jsonl"):
                assert (b / name).read_bytes() == (a / name).read_bytes(), (data.name, ratio, name)


def test_dataset_items_are_the_seeds(tmp_path):
    vocab = tmp_path / "vocab.json"
    silent(build_vocab, FIXTURES / "qa_small.jsonl", vocab, **QUIET)
    for data in data_files(tmp_path):
        for max_length in (16, 128):  # 16 cuts most pairs, 128 pads all but the long one
            theirs = silent(seed.QADataset, str(data), seed.Tokenizer(str(vocab)), max_length)
            ours = silent(QADataset, data, Tokenizer(vocab), max_length, **QUIET)
            assert len(ours) == len(theirs) and ours.data == theirs.data
            for i in range(len(ours)):
                a, b = ours[i], theirs[i]
                assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), (data.name, max_length, i)


def test_where_we_deliberately_differ_from_the_seed(tmp_path):
    """The seed keeps a line whose values are null or empty (it only checks that the keys exist) and
    crashes later; the package skips it in every reader. Its typo `self.tokeniner` is gone."""
    data = tmp_path / "data.jsonl"
    lines = ['{"question": "你好", "answer": "好"}', '{"question": null, "answer": "坏"}', '{"question": "问", "answer": ""}'] * 2
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    silent(seed.split_jsonl_data, str(data), 0.5)
    seed_lines = (tmp_path / "train.jsonl").read_text("utf-8").splitlines() + (tmp_path / "val.jsonl").read_text("utf-8").splitlines()
    assert len(seed_lines) == 6
    split_jsonl_data(data, 0.5, **QUIET)
    ours = (tmp_path / "train.jsonl").read_text("utf-8").splitlines() + (tmp_path / "val.jsonl").read_text("utf-8").splitlines()
    assert ours == [lines[0]] * 2
    vocab = tmp_path / "vocab.json"
    build_vocab(data, vocab, **QUIET)
    seed_ds = silent(seed.QADataset, str(data), seed.Tokenizer(str(vocab)), 16)
    assert hasattr(seed_ds, "tokeniner") and not hasattr(seed_ds, "tokenizer")
    with pytest.raises(TypeError):
        seed_ds[1]  # the null question reaches the tokenizer
    ds = QADataset(data, Tokenizer(vocab), 16, **QUIET)
    assert len(ds) == 2 and ds.tokenizer is not None
