"""The "asked differently" evaluation: taught idioms asked with held-out phrasings, in the training report."""
import json

import pytest
import torch

import minigpt.evaluate as ev
from minigpt.build_vocab import build_vocab
from minigpt.evaluate import EvalSet, evaluate, format_report, taught_heldout
from minigpt.jsonl import read_qa_jsonl
from minigpt.qa_dataset import QADataset
from minigpt.tokenizer import Tokenizer

QUIET = dict(warn=lambda m: None, summary=False)


def write(path, records):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def rec(idiom, kind, question, answer, **extra):
    return {"question": question, "answer": answer, "type": kind, "idiom": idiom, **extra}


@pytest.fixture
def folder(tmp_path):
    train = [rec("甲乙丙丁", "meaning", "甲乙丙丁是什么意思？", "一二三。"), rec("甲乙丙丁", "pinyin", "甲乙丙丁拼音", "jiǎ yǐ bǐng dīng"),
             rec("戊己庚辛", "meaning", "戊己庚辛的含义", "四五六。"), rec("戊己庚辛", "chain", "戊己庚辛接龙", "辛丑甲乙")]
    val = [rec("子丑寅卯", "meaning", "子丑寅卯啥意思", "七八九。"), rec("子丑寅卯", "pinyin", "子丑寅卯读音", "zǐ chǒu yín mǎo")]
    held = [rec("甲乙丙丁", "meaning", "甲乙丙丁怎么理解", "一二三。", family="heldout"),
            rec("甲乙丙丁", "pinyin", "甲乙丙丁如何读", "jiǎ yǐ bǐng dīng", family="heldout"),
            rec("戊己庚辛", "meaning", "戊己庚辛讲的是什么", "四五六。", family="heldout"),
            rec("戊己庚辛", "chain", "跟在戊己庚辛后面的成语", "辛丑甲乙", family="heldout"),
            rec("子丑寅卯", "meaning", "子丑寅卯怎么理解", "七八九。", family="heldout"),   # a validation idiom
            {"question": "没有成语字段", "answer": "好", "type": "meaning"}]
    write(tmp_path / "train.jsonl", train)
    write(tmp_path / "val.jsonl", val)
    write(tmp_path / "heldout_phrasings.jsonl", held)
    write(tmp_path / "all.jsonl", train + val + held)
    build_vocab(tmp_path / "all.jsonl", tmp_path / "vocab.json", warn=lambda m: None)
    return tmp_path


def test_taught_heldout_keeps_the_questions_about_training_idioms(folder):
    train = read_qa_jsonl(folder / "train.jsonl", **QUIET)
    held = read_qa_jsonl(folder / "heldout_phrasings.jsonl", **QUIET)
    kept = taught_heldout(held, train)
    assert [p.question for p in kept] == ["甲乙丙丁怎么理解", "甲乙丙丁如何读", "戊己庚辛讲的是什么", "跟在戊己庚辛后面的成语"]
    assert taught_heldout(held, read_qa_jsonl(folder / "val.jsonl", **QUIET))[0].question == "子丑寅卯怎么理解"
    assert taught_heldout(held, [p for p in read_qa_jsonl(folder / "heldout_phrasings.jsonl", **QUIET)
                                 if p.get("idiom") is None]) == []


def test_evaluate_reports_heldout_exact_match_per_type(folder, monkeypatch, tiny_gpt):
    tok = Tokenizer(folder / "vocab.json")
    train = read_qa_jsonl(folder / "train.jsonl", **QUIET)
    held = taught_heldout(read_qa_jsonl(folder / "heldout_phrasings.jsonl", **QUIET), train)
    truth = {p.question: p.answer for f in ("train", "val", "heldout_phrasings")
             for p in read_qa_jsonl(folder / f"{f}.jsonl", **QUIET)}
    # a stand-in for the model: right on every question except the held-out meaning of 戊己庚辛
    monkeypatch.setattr(ev, "greedy_answers", lambda model, tokenizer, questions, **kw:
                        ["错" if q == "戊己庚辛讲的是什么" else truth[q] for q in questions])
    train_ds, val_ds = (QADataset(folder / f"{f}.jsonl", tok, 64, pad_to_max_length=False, warn=lambda m: None)
                        for f in ("train", "val"))
    assert train_ds.pairs == train and [p.type for p in val_ds.pairs] == ["meaning", "pinyin"]  # the pairs, read once
    evalset = EvalSet.fixed(train_ds, val_ds, n=10, n_val_loss=10, seed=0, heldout_pairs=held)
    row, _, _ = evaluate(tiny_gpt(tok.get_vocab_size()), tok, evalset, step=1, device=torch.device("cpu"), final_n=10)
    assert row["exact_match"] == {"train": 1.0, "val": 1.0, "heldout": 0.75}
    assert row["by_type"]["heldout"]["meaning"]["exact_match"] == 0.5
    assert row["by_type"]["heldout"]["pinyin"]["exact_match"] == row["by_type"]["heldout"]["chain"]["exact_match"] == 1.0
    assert row["n"] == {"train": 4, "val": 2, "heldout": 4}
    report = format_report(row)
    assert "换问法 4 题" in report and "换问法" in report.splitlines()[1]
    meaning_line = next(line for line in report.splitlines() if line.strip().startswith("meaning"))
    assert meaning_line.split()[1:4] == ["100.0%", "50.0%", "100.0%"]   # train, asked differently, val

    without = EvalSet.fixed(train_ds, val_ds, n=10, n_val_loss=10, seed=0)
    row, _, _ = evaluate(tiny_gpt(tok.get_vocab_size()), tok, without, step=1, device=torch.device("cpu"), final_n=10)
    assert "heldout" not in row["exact_match"] and "换问法" not in format_report(row)


def test_training_finds_the_heldout_file_beside_the_training_data(folder, tiny_gpt, capsys):
    from minigpt.train import train

    tok = Tokenizer(folder / "vocab.json")
    kw = dict(max_steps=2, batch_size=2, output_dir=folder / "out", device="cpu", dtype="fp32", tensorboard_dir=None,
              progress=False, final_eval_samples=10, eval_samples=2, resume=False)
    history = train(tiny_gpt(tok.get_vocab_size()), tok, folder / "train.jsonl", folder / "val.jsonl", **kw)
    out = capsys.readouterr().out
    assert f"换问法评估：{folder / 'heldout_phrasings.jsonl'} 中问训练过的成语的 4 题" in out
    assert history.final["metrics"]["n"]["heldout"] == 4 and "换问法" in out
    history = train(tiny_gpt(tok.get_vocab_size()), tok, folder / "train.jsonl", folder / "val.jsonl", heldout_path="", **kw)
    assert "heldout" not in history.final["metrics"]["exact_match"] and "换问法" not in capsys.readouterr().out
