"""Chapters 3-4: split_jsonl_data, QADataset, collate_batch, BucketBatchSampler, padding_fraction."""
import json
import random
import shutil
from pathlib import Path

import pytest
import torch

from minigpt.build_vocab import build_vocab
from minigpt.cli import ConfigError
from minigpt.jsonl import DataError
from minigpt.qa_dataset import BucketBatchSampler, QADataset, collate_batch, padding_fraction
from minigpt.split_data import shuffle_and_cut, split_jsonl_data
from minigpt.tokenizer import Tokenizer

FIXTURE = Path(__file__).parent / "fixtures" / "qa_small.jsonl"
QUIET = dict(warn=lambda m: None)


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "data.jsonl"
    shutil.copy(FIXTURE, path)
    return path


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    path = tmp_path_factory.mktemp("v") / "vocab.json"
    build_vocab(FIXTURE, path, warn=lambda m: None)
    return Tokenizer(path)


# ---- split ---------------------------------------------------------------------------------------


def test_split_writes_beside_input_and_partitions_lines(data, capsys):
    train, val = split_jsonl_data(data, 0.8)
    assert (train, val) == (data.parent / "train.jsonl", data.parent / "val.jsonl")
    t, v = train.read_text("utf-8").splitlines(), val.read_text("utf-8").splitlines()
    assert (len(t), len(v)) == (24, 6)
    assert sorted(t + v) == sorted(FIXTURE.read_text("utf-8").splitlines())
    out = capsys.readouterr().out
    assert f"   训练：24 → {train}" in out and f"   验证：6 → {val}" in out and "训练比例：80.0%" in out
    assert "覆盖" not in out


def test_split_is_deterministic_depends_on_seed_and_says_it_overwrites(data, capsys):
    train, _ = split_jsonl_data(data, 0.8, seed=1)
    first = train.read_bytes()
    split_jsonl_data(data, 0.8, seed=1)
    assert train.read_bytes() == first
    assert f"注意：覆盖已有的 {train}" in capsys.readouterr().out
    split_jsonl_data(data, 0.8, seed=2)
    assert train.read_bytes() != first


def test_split_does_not_touch_the_global_random_state(data):
    random.seed(123)
    expected = random.random()
    random.seed(123)
    split_jsonl_data(data, 0.5, **QUIET)
    assert random.random() == expected


def test_shuffle_and_cut_is_the_seeds_global_shuffle():
    lines = [str(i) for i in range(100)]
    random.seed(42)
    seed_order = list(lines)
    random.shuffle(seed_order)
    train, val = shuffle_and_cut(lines, 0.9, 42)
    assert train + val == seed_order and len(train) == 90


@pytest.mark.parametrize("ratio", [0, 1, 1.5, -0.1, float("nan")])
def test_split_rejects_ratios_outside_0_1(data, ratio):
    with pytest.raises(ConfigError, match="train_ratio 必须在 0 和 1 之间"):  # a setting, not the data, is wrong
        split_jsonl_data(data, ratio, **QUIET)
    assert not (data.parent / "train.jsonl").exists()


@pytest.mark.parametrize("ratio, n_lines", [(0.03, 30), (0.01, 30), (0.5, 1)])
def test_split_needs_both_sides_non_empty(tmp_path, ratio, n_lines):
    path = tmp_path / "data.jsonl"
    path.write_text("".join(FIXTURE.read_text("utf-8").splitlines(keepends=True)[:n_lines]), encoding="utf-8")
    with pytest.raises(DataError, match="两边都至少需要一条"):
        split_jsonl_data(path, ratio, **QUIET)
    assert not (tmp_path / "train.jsonl").exists()


def test_split_refuses_to_overwrite_its_input(tmp_path):
    path = tmp_path / "train.jsonl"
    shutil.copy(FIXTURE, path)
    with pytest.raises(DataError, match="会覆盖输入文件本身"):
        split_jsonl_data(path, 0.8, **QUIET)
    assert path.read_bytes() == FIXTURE.read_bytes()


def test_split_keeps_original_text_of_valid_lines_only(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_bytes(b'\xef\xbb\xbf  {"question":"\\u4f60","answer":"a"}  \r\nbad\r\n{"question":"q","answer":"b"}\r\n')
    train, val = split_jsonl_data(path, 0.5, **QUIET)
    lines = sorted(train.read_text("utf-8").splitlines() + val.read_text("utf-8").splitlines())
    assert lines == ['{"question":"\\u4f60","answer":"a"}', '{"question":"q","answer":"b"}']
    assert b"\r" not in train.read_bytes() + val.read_bytes()


# ---- dataset -------------------------------------------------------------------------------------


def test_padded_item_is_the_seed_layout(tok, capsys):
    ds = QADataset(FIXTURE, tok, 40)
    out = capsys.readouterr().out
    assert out.startswith(f"从 {FIXTURE} 读取数据\n")
    assert "✅ 读入 30 个有效问答对（跳过 0 行，0 个在 max_length=40 处截断）。" in out
    assert len(ds) == 30 and ds.data[0] == ("画蛇添足是什么意思？", "比喻做了多余的事，反而弄巧成拙。")
    item = ds[0]
    assert set(item) == {"input_ids", "attention_mask", "targets"}
    assert all(v.shape == (39,) and v.dtype == torch.long for v in item.values())
    full, mask = tok.encode(*ds.data[0], max_length=40)
    assert item["input_ids"].tolist() == full[:-1] and item["targets"].tolist() == full[1:]
    assert item["attention_mask"].tolist() == mask[:-1]
    assert tok.decode(item["input_ids"]) == "画蛇添足是什么意思？<sep>比喻做了多余的事，反而弄巧成拙。<sep>"


def test_unpadded_items_and_lengths(tok):
    ds = QADataset(FIXTURE, tok, 128, pad_to_max_length=False, **QUIET)
    for i in (0, 21):
        item = ds[i]
        q, a = ds.data[i]
        n = len(q) + len(a) + 2
        assert ds.lengths[i] == n - 1 == len(item["input_ids"]) == int(item["attention_mask"].sum())
        assert item["targets"][-1] == tok.sep_token_id and item["input_ids"][len(q)] == tok.sep_token_id
        assert (item["input_ids"][1:] == item["targets"][:-1]).all()


def test_answer_only_loss_masks_exactly_the_question_targets(tok):
    ds = QADataset(FIXTURE, tok, 128, pad_to_max_length=False, answer_only_loss=True, **QUIET)
    plain = QADataset(FIXTURE, tok, 128, pad_to_max_length=False, **QUIET)
    q, a = ds.data[0]
    t, t0 = ds[0]["targets"].tolist(), plain[0]["targets"].tolist()
    assert t[: len(q)] == [tok.pad_token_id] * len(q)
    assert t[len(q):] == t0[len(q):] == tok.encode_text(a) + [tok.sep_token_id]
    assert ds[0]["input_ids"].tolist() == plain[0]["input_ids"].tolist()
    padded = QADataset(FIXTURE, tok, 64, answer_only_loss=True, **QUIET)
    counted = padded[0]["targets"] != tok.pad_token_id
    assert counted.sum() == len(a) + 1


def test_truncation_is_counted_and_reported(tok, tmp_path):
    messages = []
    ds = QADataset(FIXTURE, tok, 12, pad_to_max_length=False, warn=messages.append)
    long = [i for i, (q, a) in enumerate(ds.data) if len(q) + len(a) + 2 > 12]
    assert ds.num_truncated == len(long) > 0
    assert all(ds.lengths[i] == 11 for i in long)
    assert any(f"{len(long)} 个问答对超过 max_length=12" in m and "最后的 <sep>" in m for m in messages)
    assert ds[long[0]]["targets"][-1] != tok.sep_token_id  # the seed's cut: the final <sep> is gone


def test_answer_only_loss_skips_pairs_whose_question_fills_max_length(tok, tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"question": "画蛇添足是什么意思？", "answer": "比喻"}\n{"question": "你好", "answer": "好"}\n', "utf-8")
    messages = []
    ds = QADataset(path, tok, 8, answer_only_loss=True, warn=messages.append)
    assert ds.data == [("你好", "好")]
    assert any(f"{path}:1: 光问题就占满了 max_length=8" in m for m in messages)
    with pytest.raises(DataError, match="没有剩下可以训练的问答对"):
        QADataset(path.with_name("d.jsonl"), tok, 3, answer_only_loss=True, **QUIET)


def test_unknown_characters_are_counted(tok, tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"question": "龘龘", "answer": "好"}\n', "utf-8")
    ds = QADataset(path, tok, 16, **QUIET)
    assert ds.num_unknown == 2 and ds[0]["input_ids"][0] == tok.unk_token_id


def test_max_length_must_allow_one_target(tok):
    with pytest.raises(ValueError, match="max_length 至少是 2"):
        QADataset(FIXTURE, tok, 1, **QUIET)


# ---- collate and bucketing -----------------------------------------------------------------------


def test_collate_pads_to_the_longest_row(tok):
    ds = QADataset(FIXTURE, tok, 128, pad_to_max_length=False, answer_only_loss=True, **QUIET)
    items = [ds[0], ds[20], ds[21]]
    batch = collate_batch(items, pad_token_id=tok.pad_token_id)
    width = max(ds.lengths[i] for i in (0, 20, 21))
    assert {k: tuple(v.shape) for k, v in batch.items()} == {k: (3, width) for k in items[0]}
    for row, item in enumerate(items):
        n = len(item["input_ids"])
        for key in item:
            assert batch[key][row, :n].tolist() == item[key].tolist()
        assert batch["attention_mask"][row, n:].sum() == 0 and (batch["targets"][row, n:] == 0).all()
    assert (collate_batch(items, pad_token_id=7)["input_ids"][1, ds.lengths[20]:] == 7).all()
    with pytest.raises(ValueError):
        collate_batch([])


def test_collate_of_padded_items_is_default_collate(tok):
    ds = QADataset(FIXTURE, tok, 64, **QUIET)
    items = [ds[i] for i in range(4)]
    batch = collate_batch(items)
    default = torch.utils.data.default_collate(items)
    assert all(torch.equal(batch[k], default[k]) for k in batch)


_rng = random.Random(0)
LENGTHS = [_rng.randint(5, 120) for _ in range(1003)]


@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("shuffle", [True, False])
def test_bucket_sampler_covers_every_index_once_and_len_is_right(drop_last, shuffle):
    s = BucketBatchSampler(LENGTHS, 32, shuffle=shuffle, drop_last=drop_last, bucket_batches=5)
    batches = list(s)
    assert len(batches) == len(s) == (1003 // 32 if drop_last else 1003 // 32 + 1)
    flat = [i for b in batches for i in b]
    assert len(flat) == len(set(flat)) and len(flat) == (992 if drop_last else 1003)
    assert sum(len(b) < 32 for b in batches) == (0 if drop_last else 1)


def test_bucket_sampler_groups_similar_lengths():
    s = BucketBatchSampler(LENGTHS, 32, seed=0, bucket_batches=50)
    bucket = padding_fraction(LENGTHS, list(s))
    plain = [list(range(i, min(i + 32, 1003))) for i in range(0, 1003, 32)]
    assert bucket < 0.05 < 0.3 < padding_fraction(LENGTHS, plain)
    assert padding_fraction(LENGTHS, plain, width=127) > padding_fraction(LENGTHS, plain)


def test_bucket_sampler_is_deterministic_per_seed_and_epoch():
    a, b = BucketBatchSampler(LENGTHS, 16, seed=3), BucketBatchSampler(LENGTHS, 16, seed=3)
    assert list(a) == list(b) == list(a)
    a.set_epoch(1)
    epoch1 = list(a)
    assert epoch1 != list(b)
    b.set_epoch(1)
    assert list(b) == epoch1
    assert list(BucketBatchSampler(LENGTHS, 16, seed=4)) != list(BucketBatchSampler(LENGTHS, 16, seed=3))


def test_bucket_sampler_without_shuffle_is_sorted_within_groups():
    s = BucketBatchSampler([5, 1, 4, 2, 3], 2, shuffle=False, bucket_batches=1)
    assert list(s) == [[1, 0], [3, 2], [4]]
    s = BucketBatchSampler([5, 1, 4, 2, 3], 2, shuffle=False, bucket_batches=10)
    assert list(s) == [[1, 3], [4, 2], [0]]


def test_bucket_sampler_validates_arguments():
    with pytest.raises(ValueError, match="batch_size"):
        BucketBatchSampler([1], 0)
    with pytest.raises(ValueError, match="bucket_batches"):
        BucketBatchSampler([1], 1, bucket_batches=0)
    assert list(BucketBatchSampler([], 4)) == [] and len(BucketBatchSampler([], 4)) == 0


def test_dataloader_with_bucket_sampler_and_collate(tok):
    ds = QADataset(FIXTURE, tok, 128, pad_to_max_length=False, **QUIET)
    sampler = BucketBatchSampler(ds.lengths, 8, seed=0, bucket_batches=2)
    loader = torch.utils.data.DataLoader(ds, batch_sampler=sampler, collate_fn=collate_batch)
    batches = list(loader)
    assert len(batches) == len(loader) == 4
    assert sum(int(b["attention_mask"].sum()) for b in batches) == sum(ds.lengths)


def test_padding_fraction():
    assert padding_fraction([2, 4], [[0, 1]]) == pytest.approx(0.25)
    assert padding_fraction([2, 4], [[0], [1]]) == 0
    assert padding_fraction([2, 4], [[0, 1]], width=8) == pytest.approx(0.625)
    assert padding_fraction([], []) == 0.0


def test_prepare_data_builds_only_what_is_missing_or_stale(data, capsys):
    from minigpt.split_data import prepare_data

    paths = prepare_data(data)
    out = capsys.readouterr().out.strip()
    assert paths == {"vocab": data.parent / "vocab.json", "train": data.parent / "train.jsonl", "val": data.parent / "val.jsonl"}
    assert out.startswith(f"数据就绪（生成了 {paths['vocab']}；划分为 ") and "（283 个 token）" in out and "（24 条）" in out
    assert len(out.splitlines()) == 1
    files = {k: p.read_bytes() for k, p in paths.items()}
    prepare_data(data)
    assert capsys.readouterr().out.startswith("数据就绪（都是最新的）")
    paths["train"].write_text("stale\n")
    prepare_data(data)
    assert capsys.readouterr().out.startswith("数据就绪（重新划分为 ")
    assert {k: p.read_bytes() for k, p in paths.items()} == files
    with data.open("a", encoding="utf-8") as f:
        f.write('{"question": "新字龘", "answer": "好"}\n')
    prepare_data(data)
    assert capsys.readouterr().out.startswith(f"数据就绪（重建了 {paths['vocab']}；重新划分")
    assert "龘" in Tokenizer(paths["vocab"]).word2id


def test_prepare_data_reads_the_data_once_and_writes_what_the_two_commands_write(data, tmp_path, monkeypatch):
    import builtins
    import io
    import os

    from minigpt.split_data import prepare_data

    opened, real_open = [], io.open

    def counting_open(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)):
            opened.append(Path(file).resolve())
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(io, "open", counting_open)  # pathlib's read_bytes/read_text go through io.open
    monkeypatch.setattr(builtins, "open", counting_open)
    paths = prepare_data(data)
    monkeypatch.undo()
    assert opened.count(data.resolve()) == 1, opened
    # one read, one count, one cut: the same bytes as build_vocab.py and split_data.py --group-by idiom write
    seed = tmp_path / "seed"
    seed.mkdir()
    shutil.copy(data, seed / "data.jsonl")
    build_vocab(seed / "data.jsonl", seed / "vocab.json", warn=lambda m: None)
    split_jsonl_data(seed / "data.jsonl", 0.8, 42, group_by="idiom", **QUIET)
    for name in ("vocab", "train", "val"):
        assert paths[name].read_bytes() == (seed / paths[name].name).read_bytes(), name


def test_prepare_data_rejects_a_bad_ratio_before_writing(data):
    from minigpt.split_data import prepare_data

    with pytest.raises(ConfigError, match="train_ratio"):
        prepare_data(data, train_ratio=1.0)
    assert not (data.parent / "vocab.json").exists() and not (data.parent / "train.jsonl").exists()


# ---- split grouped by idiom ----------------------------------------------------------------------


def _grouped_fixture(path, n_idioms=40, per_idiom=(1, 2, 3, 5)):
    """Lines with an "idiom" field: idiom i has per_idiom[i % 4] questions, plus two lines without the field."""
    lines = []
    for i in range(n_idioms):
        for j in range(per_idiom[i % len(per_idiom)]):
            lines.append(json.dumps({"question": f"问{i}-{j}", "answer": f"答{i}", "type": "meaning", "idiom": f"成语{i}"},
                                    ensure_ascii=False))
    lines[5:5] = ['{"question": "没有成语A", "answer": "a"}', '{"question": "没有成语B", "answer": "b", "idiom": ""}']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return lines


def _idioms_of(path):
    return [json.loads(line).get("idiom") or json.loads(line)["question"] for line in path.read_text("utf-8").splitlines()]


def test_grouped_split_keeps_every_idiom_on_one_side(tmp_path, capsys):
    lines = _grouped_fixture(tmp_path / "data.jsonl")
    train, val = split_jsonl_data(tmp_path / "data.jsonl", 0.75, group_by="idiom", **QUIET)
    t, v = train.read_text("utf-8").splitlines(), val.read_text("utf-8").splitlines()
    assert sorted(t + v) == sorted(lines)                      # every line once, unchanged
    assert not set(_idioms_of(train)) & set(_idioms_of(val))   # no idiom on both sides
    # 42 groups (40 idioms + 2 lines without an idiom, each its own group): int(42 * 0.75) = 31 in training
    assert len(set(_idioms_of(train))) == 31 and len(set(_idioms_of(val))) == 11
    assert "按 idiom 分组：训练 31 组，验证 11 组" in capsys.readouterr().out
    # the lines of one idiom are not left next to each other
    names = _idioms_of(train)
    assert sum(a == b for a, b in zip(names, names[1:])) < len(names) // 3


def test_grouped_split_is_deterministic_and_depends_on_the_seed(tmp_path):
    _grouped_fixture(tmp_path / "data.jsonl")
    train, val = split_jsonl_data(tmp_path / "data.jsonl", 0.8, seed=3, group_by="idiom", **QUIET)
    first = train.read_bytes(), val.read_bytes()
    split_jsonl_data(tmp_path / "data.jsonl", 0.8, seed=3, group_by="idiom", **QUIET)
    assert (train.read_bytes(), val.read_bytes()) == first
    split_jsonl_data(tmp_path / "data.jsonl", 0.8, seed=4, group_by="idiom", **QUIET)
    assert (train.read_bytes(), val.read_bytes()) != first


def test_grouped_split_needs_a_group_on_each_side(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps({"question": f"q{i}", "answer": "a", "idiom": "同一个"}) + "\n" for i in range(10)),
                    encoding="utf-8")
    with pytest.raises(DataError, match="两边都至少需要一条"):
        split_jsonl_data(path, 0.8, group_by="idiom", **QUIET)
    assert split_jsonl_data(path, 0.8, **QUIET)  # by line it splits


def test_group_by_option_on_the_command_line(tmp_path, capsys):
    from minigpt.split_data import main

    _grouped_fixture(tmp_path / "data.jsonl")
    assert main(["--input", str(tmp_path / "data.jsonl"), "--train_ratio", "0.5", "--group-by", "idiom"]) == 0
    assert not set(_idioms_of(tmp_path / "train.jsonl")) & set(_idioms_of(tmp_path / "val.jsonl"))
    assert main(["--input", str(tmp_path / "data.jsonl"), "--train_ratio", "0.5"]) == 0   # the seed's default: by line
    assert set(_idioms_of(tmp_path / "train.jsonl")) & set(_idioms_of(tmp_path / "val.jsonl"))


def test_prepare_data_splits_by_idiom_by_default(tmp_path):
    from minigpt.split_data import prepare_data

    _grouped_fixture(tmp_path / "data.jsonl")
    paths = prepare_data(tmp_path / "data.jsonl")
    assert not set(_idioms_of(paths["train"])) & set(_idioms_of(paths["val"]))
    paths = prepare_data(tmp_path / "data.jsonl", group_by=None)   # the seed's split on request
    assert set(_idioms_of(paths["train"])) & set(_idioms_of(paths["val"]))


def test_the_course_data_split_by_idiom(tmp_path):
    data = Path(__file__).resolve().parent.parent / "data" / "data.jsonl"
    shutil.copy(data, tmp_path / "data.jsonl")
    train, val = split_jsonl_data(tmp_path / "data.jsonl", 0.8, group_by="idiom", **QUIET)
    tr, va = set(_idioms_of(train)), set(_idioms_of(val))
    assert not tr & va and abs(len(tr) / (len(tr) + len(va)) - 0.8) < 0.001
