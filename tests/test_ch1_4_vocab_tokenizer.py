"""Chapters 1-2: build_vocab and Tokenizer (the seed's API plus from_word2id, vocab_hash, encode_text)."""
import json
from collections import Counter
from pathlib import Path

import pytest
import torch

from minigpt.build_vocab import SPECIAL_TOKENS, build_vocab, count_chars, vocab_from_counter, vocab_json
from minigpt.jsonl import DataError
from minigpt.tokenizer import Tokenizer

FIXTURE = Path(__file__).parent / "fixtures" / "qa_small.jsonl"


@pytest.fixture(scope="module")
def vocab_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("vocab") / "vocab.json"
    build_vocab(FIXTURE, path, warn=lambda m: None)
    return path


@pytest.fixture(scope="module")
def tok(vocab_path):
    return Tokenizer(vocab_path)


def test_vocab_layout_specials_then_sorted_chars(vocab_path):
    vocab = json.loads(vocab_path.read_text("utf-8"))
    word2id = vocab["word2id"]
    assert list(word2id)[:3] == SPECIAL_TOKENS and [word2id[t] for t in SPECIAL_TOKENS] == [0, 1, 2]
    chars = list(word2id)[3:]
    assert chars == sorted(chars) and all(len(c) == 1 for c in chars)
    assert list(word2id.values()) == list(range(len(word2id)))
    assert vocab["id2word"] == {str(i): w for w, i in word2id.items()}
    text = FIXTURE.read_text("utf-8")
    expected = {c for line in text.splitlines() for key in ("question", "answer") for c in json.loads(line)[key]}
    assert set(chars) == expected and "😀" in expected


def test_vocab_file_format_is_indent4_unescaped(vocab_path):
    text = vocab_path.read_text("utf-8")
    assert text.startswith('{\n    "word2id": {\n        "<pad>": 0,') and "画" in text and not text.endswith("\n")
    assert text == vocab_json(json.loads(text) | {"id2word": {int(k): v for k, v in json.loads(text)["id2word"].items()}})


def test_build_vocab_prints_seed_summary_and_returns_vocab(tmp_path, capsys):
    vocab = build_vocab(FIXTURE, tmp_path / "sub" / "vocab.json")
    out = capsys.readouterr().out
    assert f"✅ 词表已建好，保存到 {tmp_path / 'sub' / 'vocab.json'}" in out
    assert f"   token 总数：{len(vocab['word2id'])}" in out
    assert "   特殊 token：['<pad>', '<unk>', '<sep>']" in out and "   字符示例：[' ', '+'," in out
    assert f"{FIXTURE}: 保留 30 个问答对，跳过 0 行" in out


def test_build_vocab_says_when_it_overwrites(tmp_path, capsys):
    out_path = tmp_path / "vocab.json"
    build_vocab(FIXTURE, out_path)
    assert "overwrit" not in capsys.readouterr().out
    build_vocab(FIXTURE, out_path)
    assert "已经存在，编号相同" in capsys.readouterr().out
    small = tmp_path / "small.jsonl"
    small.write_text('{"question": "问", "answer": "答"}\n', encoding="utf-8")
    build_vocab(small, out_path)
    out = capsys.readouterr().out
    assert f"注意：覆盖已有的 {out_path}" in out and "对不上" in out
    assert Tokenizer(out_path).get_vocab_size() == 5
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))


def test_build_vocab_output_is_a_directory_or_unwritable(tmp_path):
    with pytest.raises(DataError, match="是一个文件夹"):
        build_vocab(FIXTURE, tmp_path, warn=lambda m: None)
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="建不了这个文件夹"):
        build_vocab(FIXTURE, tmp_path / "file" / "vocab.json", warn=lambda m: None)


def test_written_files_have_the_usual_mode(tmp_path):
    import os

    build_vocab(FIXTURE, tmp_path / "vocab.json", warn=lambda m: None)
    (tmp_path / "plain").write_text("x")
    assert os.stat(tmp_path / "vocab.json").st_mode == os.stat(tmp_path / "plain").st_mode


def test_count_chars_counts_questions_and_answers():
    counter = count_chars(FIXTURE, warn=lambda m: None)
    assert counter["是"] >= 10 and counter["😀"] == 1 and "<" not in counter


def test_vocab_from_counter_orders_by_unicode():
    vocab = vocab_from_counter(Counter({"b": 1, "a": 5, "中": 2, "😀": 1}))
    assert vocab["word2id"] == {"<pad>": 0, "<unk>": 1, "<sep>": 2, "a": 3, "b": 4, "中": 5, "😀": 6}
    assert vocab["id2word"][6] == "😀"


def test_encode_matches_the_seed_layout(tok):
    ids, mask = tok.encode("你好，最近怎么样？", "我很好，谢谢！", max_length=32)
    expected = tok.encode_text("你好，最近怎么样？") + [2] + tok.encode_text("我很好，谢谢！") + [2]
    assert ids == expected + [0] * (32 - len(expected))
    assert mask == [1] * len(expected) + [0] * (32 - len(expected))
    assert tok.decode(ids) == "你好，最近怎么样？<sep>我很好，谢谢！<sep>"


def test_unknown_characters_become_unk_and_decode_shows_it(tok):
    ids = tok.encode_text("你好龘")
    assert ids[-1] == tok.unk_token_id and ids[0] != tok.unk_token_id
    assert tok.decode(ids) == "你好<unk>"


def test_text_that_looks_like_a_special_token_is_characters(tok):
    ids = tok.encode_text("<sep>")
    assert len(ids) == 5 and tok.sep_token_id not in ids
    ids, _ = tok.encode("<pad>", "<sep>", pad_to_max_length=False)
    assert ids.count(tok.sep_token_id) == 2 and tok.pad_token_id not in ids


def test_encode_prompt_without_answer(tok):
    ids, mask = tok.encode("你好", pad_to_max_length=False)
    assert ids == tok.encode_text("你好") + [tok.sep_token_id] and mask == [1, 1, 1]


def test_truncation_keeps_the_beginning_and_drops_the_final_sep(tok):
    ids, mask = tok.encode("你好", "我很好，谢谢！", max_length=6)
    assert ids == tok.encode_text("你好") + [2] + tok.encode_text("我很好") and mask == [1] * 6
    long_ids, _ = tok.encode("你好", "我很好，谢谢！", max_length=6, pad_to_max_length=False)
    assert len(long_ids) == 11 and long_ids[-1] == 2  # like the seed: no padding, no cut


def test_decode_accepts_tensors_and_can_skip_specials(tok):
    ids, _ = tok.encode("你好", "好", max_length=10)
    assert tok.decode(torch.tensor(ids)) == "你好<sep>好<sep>"
    assert tok.decode(ids + [tok.unk_token_id], skip_special_tokens=True) == "你好好"
    with pytest.raises(ValueError, match="不在这个词表里"):
        tok.decode([10_000])


def test_vocab_size_and_len(tok, vocab_path):
    n = len(json.loads(vocab_path.read_text("utf-8"))["word2id"])
    assert tok.get_vocab_size() == len(tok) == n


def test_from_word2id_and_vocab_hash(tok, tmp_path):
    clone = Tokenizer.from_word2id(tok.word2id)
    assert clone.vocab_hash == tok.vocab_hash and len(tok.vocab_hash) == 64
    assert clone.encode("你好", "好") == tok.encode("你好", "好")
    swapped = dict(tok.word2id)
    a, b = list(swapped)[3:5]
    swapped[a], swapped[b] = swapped[b], swapped[a]
    assert Tokenizer.from_word2id(swapped).vocab_hash != tok.vocab_hash
    tok.save(tmp_path / "v.json")
    assert Tokenizer(tmp_path / "v.json").vocab_hash == tok.vocab_hash
    assert "vocab_size=" in repr(tok)


@pytest.mark.parametrize(
    "word2id, message",
    [
        ({"<pad>": 0, "<unk>": 1, "a": 2}, "缺少特殊 token <sep>"),
        ({"<pad>": 0, "<unk>": 1, "<sep>": 2, "a": 4}, "必须是整数 0..3"),
        ({"<pad>": 0, "<unk>": 1, "<sep>": 2, "a": 2}, "必须是整数"),
        ({"<pad>": 0, "<unk>": 1, "<sep>": 2, "a": "3"}, "必须是整数"),
    ],
)
def test_from_word2id_rejects_broken_vocabularies(word2id, message):
    with pytest.raises(DataError, match=message):
        Tokenizer.from_word2id(word2id)


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "找不到这个文件"),
        ("{", "词表文件不是合法的 JSON"),
        ("[]", "不是词表文件"),
        ('{"word2id": {"<pad>": 0, "<unk>": 1, "<sep>": 2}, "id2word": {"0": "<pad>"}}', "不是“word2id”的反向映射"),
    ],
)
def test_tokenizer_file_errors(tmp_path, content, message):
    path = tmp_path / "vocab.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        Tokenizer(path)


def test_encode_rejects_bad_arguments(tok):
    with pytest.raises(TypeError, match="需要一个 str"):
        tok.encode(None)
    with pytest.raises(ValueError, match="max_length"):
        tok.encode("你", max_length=0)


def test_module_docstring_example_holds_for_the_course_vocabulary():
    """The example at the top of minigpt/tokenizer.py, with the course's vocabulary, decodes as it says."""
    import re

    import minigpt.tokenizer as module

    call, shown = re.search(r"tok\.encode\((.+?), max_length=32\)\n\s*tok\.decode\(ids\)\s*# '(.+?)'", module.__doc__).groups()
    question, answer = re.findall(r'"(.+?)"', call)
    data = Path(__file__).parent.parent / "data" / "data.jsonl"  # vocab.json is built, not shipped: build it here
    course = Tokenizer.from_word2id(vocab_from_counter(count_chars(data, warn=lambda m: None))["word2id"])
    ids, _ = course.encode(question, answer, max_length=32)
    assert course.decode(ids) == shown
    assert "<unk>" in shown  # the example is there to show an unknown character
