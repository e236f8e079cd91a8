"""minigpt.jsonl: the one QA reader. Every bad-input case, through read_qa_jsonl and through every reader."""
import json
from collections import Counter
from pathlib import Path

import pytest

from minigpt.build_vocab import build_vocab, count_chars, vocab_from_counter
from minigpt.jsonl import DataError, QAPair, read_qa_jsonl
from minigpt.qa_dataset import QADataset
from minigpt.split_data import split_jsonl_data
from minigpt.tokenizer import Tokenizer

FIXTURES = Path(__file__).parent / "fixtures"
GOOD = '{"question": "你好", "answer": "好的"}'


def write(tmp_path, content, name="data.jsonl"):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


@pytest.fixture
def fixture_tokenizer():
    return Tokenizer.from_word2id(vocab_from_counter(Counter("你好的问题答案"))["word2id"])


def read(path):
    messages = []
    pairs = read_qa_jsonl(path, warn=messages.append)
    return pairs, messages


# line content -> words the warning must contain
BAD_LINES = {
    "invalid_json": ('{"question": "你好", "answer": ', "不是合法的 JSON"),
    "trailing_garbage": (GOOD + " x", "不是合法的 JSON"),
    "array": ('["你好", "好的"]', "应该是一个 JSON 对象，实际是数组"),
    "string": ('"你好"', "应该是一个 JSON 对象，实际是字符串"),
    "number": ("42", "应该是一个 JSON 对象，实际是数字"),
    "null_value": ("null", "应该是一个 JSON 对象，实际是 null"),
    "missing_question": ('{"answer": "好的"}', "缺少字段“question”"),
    "missing_answer": ('{"question": "你好"}', "缺少字段“answer”"),
    "null_answer": ('{"question": "你好", "answer": null}', "字段“answer”是 null"),
    "number_answer": ('{"question": "你好", "answer": 3}', "字段“answer”必须是字符串，实际是数字"),
    "list_question": ('{"question": ["你", "好"], "answer": "好"}', "字段“question”必须是字符串，实际是数组"),
    "bool_answer": ('{"question": "你好", "answer": true}', "字段“answer”必须是字符串，实际是布尔值"),
    "empty_question": ('{"question": "", "answer": "好的"}', "字段“question”是空的"),
    "blank_answer": ('{"question": "你好", "answer": "  "}', "字段“answer”是空的"),
    "lone_surrogate": ('{"question": "\\ud800", "answer": "好"}', "不成对的代理字符 \\ud800"),
}


@pytest.mark.parametrize("case", BAD_LINES, ids=list(BAD_LINES))
def test_bad_line_is_skipped_with_file_line_and_reason(tmp_path, case):
    line, reason = BAD_LINES[case]
    path = write(tmp_path, f"{GOOD}\n{line}\n{GOOD}\n")
    pairs, messages = read(path)
    assert [p.line for p in pairs] == [1, 3]
    assert messages[0] == f"警告：{path}:2: {reason}，已跳过这一行" or (
        messages[0].startswith(f"警告：{path}:2: ") and reason in messages[0]
    )
    assert messages[-1] == f"{path}: 保留 2 个问答对，跳过 1 行"
    assert len(messages) == 2


def test_good_file_fields_and_order(tmp_path):
    path = write(tmp_path, '{"question": "问1", "answer": "答1", "type": "x", "extra": [1]}\n{"answer": "答2", "question": "问2"}\n')
    pairs, messages = read(path)
    assert pairs == [
        QAPair("问1", "答1", 1, '{"question": "问1", "answer": "答1", "type": "x", "extra": [1]}'),
        QAPair("问2", "答2", 2, '{"answer": "答2", "question": "问2"}'),
    ]
    assert messages == [f"{path}: 保留 2 个问答对，跳过 0 行"]


def test_each_line_is_parsed_once_when_read(tmp_path, monkeypatch):
    import minigpt.jsonl as jsonl_module

    path = write(tmp_path, '{"question": "问1", "answer": "答1", "type": "meaning", "idiom": "一马当先"}\n'
                           '{"question": "问2", "answer": "答2"}\n')
    calls = []
    real_loads = json.loads
    monkeypatch.setattr(jsonl_module.json, "loads", lambda text: calls.append(text) or real_loads(text))
    first, second = read(path)[0]
    assert len(calls) == 2  # one parse per line, at read time
    assert (first.type, first.idiom, first.get("type"), second.type, second.idiom) == ("meaning", "一马当先", "meaning", "qa", None)
    assert len(calls) == 2  # type, idiom and get() read the parsed record: no parse per access


def test_bom_crlf_blank_lines_and_whitespace(tmp_path):
    content = b"\xef\xbb\xbf" + GOOD.encode() + b"\r\n\r\n   \r\n\t" + GOOD.encode() + b"  \r\n\n"
    pairs, messages = read(write(tmp_path, content))
    assert [(p.question, p.line, p.raw) for p in pairs] == [("你好", 1, GOOD), ("你好", 4, GOOD)]
    assert messages[-1].endswith("保留 2 个问答对，跳过 0 行，忽略 3 个空行")


def test_lone_carriage_return_splits_lines_like_text_mode_files(tmp_path):
    pairs, _ = read(write(tmp_path, GOOD + "\r" + GOOD))
    assert [p.line for p in pairs] == [1, 2]


def test_no_final_newline(tmp_path):
    pairs, _ = read(write(tmp_path, GOOD + "\n" + GOOD))
    assert len(pairs) == 2


def test_text_is_kept_exactly_emoji_sep_and_escapes(tmp_path):
    q = "😀𠀀 <sep> é\u3000"  # non-BMP emoji, a CJK Extension B character, a fake <sep>, a combining-free é
    line = json.dumps({"question": q, "answer": "<pad>\\n"}, ensure_ascii=True)
    pairs, _ = read(write(tmp_path, line + "\n"))
    assert pairs[0].question == q and pairs[0].answer == "<pad>\\n"
    assert len("😀") == 1  # one character, one token


def test_summary_can_be_turned_off_and_stats_filled(tmp_path):
    from minigpt.jsonl import ReadStats

    messages, stats = [], ReadStats()
    read_qa_jsonl(write(tmp_path, f"{GOOD}\nnope\n\n"), warn=messages.append, summary=False, stats=stats)
    assert len(messages) == 1 and "nope" not in messages[0] and ":2: 不是合法的 JSON" in messages[0]
    assert (stats.kept, stats.skipped, stats.blank) == (1, 1, 1)


FATAL = {
    "missing": (None, "找不到这个文件"),
    "directory": ("DIR", "是一个文件夹"),
    "empty": ("", "文件是空的"),
    "only_blank": ("\n  \n\r\n", "文件是空的"),
    "no_valid_line": ("[]\n{}\nnope\n", "一行有效的都没有（跳过了 3 行）"),
    "latin1": (GOOD.encode() + b"\n" + '{"question": "café"}'.encode("latin-1") + b"\n", ":2: 不是有效的 UTF-8（这一行第 18 个字节是 0xe9"),
    "utf16": (b"\xff\xfe" + GOOD.encode("utf-16-le"), "UTF-16"),
}


def make_fatal(tmp_path, case):
    content, _ = FATAL[case]
    if content is None:
        return tmp_path / "missing.jsonl"
    if content == "DIR":
        return tmp_path
    return write(tmp_path, content)


@pytest.mark.parametrize("case", FATAL, ids=list(FATAL))
def test_unreadable_input_is_one_data_error(tmp_path, case):
    path = make_fatal(tmp_path, case)
    with pytest.raises(DataError) as info:
        read_qa_jsonl(path, warn=lambda m: None)
    message = str(info.value)
    assert message.startswith(str(path)) and FATAL[case][1] in message
    assert "\n" not in message
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("case", ["missing", "latin1", "no_valid_line"])
def test_every_reader_raises_the_same_data_error(tmp_path, case, fixture_tokenizer):
    path = make_fatal(tmp_path, case)
    quiet = dict(warn=lambda m: None)
    for call in (
        lambda: build_vocab(path, tmp_path / "vocab.json", **quiet),
        lambda: split_jsonl_data(path, 0.8, **quiet),
        lambda: QADataset(path, fixture_tokenizer, 16, **quiet),
    ):
        with pytest.raises(DataError, match=FATAL[case][1].replace("(", r"\(").replace(")", r"\)")):
            call()
    assert not (tmp_path / "vocab.json").exists()


def test_every_reader_skips_the_same_lines(tmp_path, fixture_tokenizer):
    lines = [GOOD, "nope", '{"question": "问", "answer": null}', '{"question": "问题", "answer": "答案", "type": "t"}', ""]
    path = write(tmp_path, "\n".join(lines) + "\n")
    msgs = {"vocab": [], "split": [], "dataset": []}
    counter = count_chars(path, warn=msgs["vocab"].append)
    assert set(counter) == set("你好好的问题答案")
    train, val = split_jsonl_data(path, 0.5, warn=msgs["split"].append)
    assert sorted(train.read_text("utf-8").splitlines() + val.read_text("utf-8").splitlines()) == sorted([GOOD, lines[3]])
    ds = QADataset(path, fixture_tokenizer, 16, warn=msgs["dataset"].append)
    assert ds.data == [("你好", "好的"), ("问题", "答案")] and ds.line_numbers == [1, 4]
    for key in msgs:
        warnings = [m for m in msgs[key] if m.startswith("警告：")]
        assert [w.removeprefix("警告：").split(": ")[0] for w in warnings] == [f"{path}:2", f"{path}:3"], key


def test_the_bad_fixture_used_by_notebook_01():
    messages = []
    pairs = read_qa_jsonl(FIXTURES / "qa_bad.jsonl", warn=messages.append)
    assert [p.line for p in pairs] == [1, 9, 10]
    assert pairs[1].answer == "😀" and pairs[2].question.startswith("<sep>")
    reasons = [m.split(": ", 1)[1] for m in messages[:-1]]
    assert reasons == [
        "不是合法的 JSON（第 54 列：Expecting ',' delimiter），已跳过这一行",
        "应该是一个 JSON 对象，实际是数组，已跳过这一行",
        "缺少字段“answer”，已跳过这一行",
        "字段“answer”是 null，已跳过这一行",
        "字段“answer”必须是字符串，实际是数字，已跳过这一行",
        "字段“question”是空的，已跳过这一行",
    ]
    assert messages[-1].endswith("qa_bad.jsonl: 保留 3 个问答对，跳过 6 行，忽略 2 个空行")
