"""The answer playground without a browser: set widget values, click, read the widgets back.

    pytest tests/test_playground.py -p no:randomly -q
"""
import json
import threading
import time
from pathlib import Path

import pytest
import torch

from minigpt import generate, playground as pg_module
from minigpt.playground import Playground, find_checkpoints, load_examples, probability_html
from minigpt.tokenizer import Tokenizer

ROOT = Path(__file__).resolve().parent.parent
CHARS = "一二三四五六七八九十天地人和水火山风云日月之不为有无心中大小是什么意思？"


@pytest.fixture(scope="module")
def tiny(tiny_gpt, char_tokenizer):
    """A tiny random GPT: its greedy answers are arbitrary but deterministic, which is all these tests need."""
    tokenizer = char_tokenizer(CHARS)
    return tiny_gpt(tokenizer.get_vocab_size(), block_size=24), tokenizer


def make(tiny, **kwargs):
    model, tokenizer = tiny
    kwargs.setdefault("examples", [("训练", "天地是什么意思？")])
    kwargs.setdefault("checkpoints", [])
    return Playground(model, tokenizer, background=kwargs.pop("background", False), **kwargs)


def ask(pg, question):
    pg.question.value = question
    pg.generate_button.click()
    return pg.last_answer


def html_values(pg):
    return [pg.message.value, pg.answer_html.value, pg.prob_html.value]


def test_greedy_answer_equals_generate_answer(tiny):
    model, tokenizer = tiny
    pg = make(tiny)
    pg.max_new_tokens.value = 12
    got = ask(pg, "天地是什么意思？")
    expected, probs = generate.answer(model, tokenizer, "天地是什么意思？", return_probs=True, max_new_tokens=12,
                                      do_sample=False)
    assert got == expected and pg.last_probs == pytest.approx(probs)
    assert pg.sampling_kwargs() == {"do_sample": False, "repetition_penalty": 1.0}
    assert f'<span class="minigpt-answer">{expected}</span>' in pg.answer_html.value
    assert pg.prob_html.value.count('class="minigpt-prob-char"') == len(probs)
    assert pg.first_char_latency is not None and pg.first_char_latency > 0
    assert pg.status.value.startswith("首字延迟") and pg.runs == 1
    assert not pg.generate_button.disabled and pg.generate_button.description == "生成"


def test_sliders_map_to_sampling_arguments(tiny, monkeypatch):
    model, tokenizer = tiny
    pg = make(tiny)
    assert pg.temperature.disabled and pg.top_k.disabled and pg.top_p.disabled  # greedy: they do nothing
    pg.mode.value = "sample"
    assert not pg.temperature.disabled
    pg.temperature.value, pg.top_k.value, pg.top_p.value = 0.7, 5, 0.9
    pg.repetition_penalty.value, pg.max_new_tokens.value, pg.seed.value = 1.3, 7, 42
    expected = {"do_sample": True, "temperature": 0.7, "top_k": 5, "top_p": 0.9, "repetition_penalty": 1.3, "seed": 42}
    assert pg.sampling_kwargs() == pytest.approx(expected)

    calls = []
    real = generate.stream_generate

    def spy(model, input_ids, max_new_tokens, **kwargs):
        calls.append((max_new_tokens, kwargs))
        return real(model, input_ids, max_new_tokens, **kwargs)

    monkeypatch.setattr(generate, "stream_generate", spy)
    got = ask(pg, "天地")
    assert calls[0][0] == 7 and {k: calls[0][1][k] for k in expected} == pytest.approx(expected)
    # the same seed gives the same sample as answer()
    assert got == generate.answer(model, tokenizer, "天地", max_new_tokens=7, **expected)

    # "off" positions: top-k 0 and top-p 1.0 mean no filtering; seed -1 means a fresh random draw
    pg.top_k.value, pg.top_p.value, pg.seed.value = 0, 1.0, -1
    kwargs = pg.sampling_kwargs()
    assert kwargs["top_k"] is None and kwargs["top_p"] is None and kwargs["seed"] is None


def test_user_text_is_html_escaped(tiny, monkeypatch):
    model, tokenizer = tiny
    pg = make(tiny)
    pg.max_new_tokens.value = 3
    ask(pg, "<script>天</script>")
    assert not any("<script>" in v for v in html_values(pg))
    assert "&lt;script&gt;" in pg.answer_html.value
    assert "“&lt;”" in pg.message.value and "“&gt;”" in pg.message.value  # the unknown chars, escaped

    # An answer made of markup is shown as text too (in the stream and in the probability view).
    evil = Tokenizer.from_word2id({t: i for i, t in enumerate(["<pad>", "<unk>", "<sep>", *"<script>&\"'/"])})
    ids = evil.encode_text("<script>&'")

    def fake_stream(model, input_ids, max_new_tokens, **kwargs):
        yield from ((i, 0.5) for i in ids)
        yield evil.sep_token_id, 0.9

    monkeypatch.setattr(generate, "stream_generate", fake_stream)
    pg2 = Playground(model, evil, examples=[], checkpoints=[], background=False)
    assert ask(pg2, "s") == "<script>&'"
    assert not any("<script>" in v for v in html_values(pg2))
    assert "&lt;script&gt;&amp;&#x27;" in pg2.answer_html.value
    assert pg2.prob_html.value.count("minigpt-prob-char") == len(ids)


def test_empty_question_asks_for_one(tiny):
    pg = make(tiny)
    for question in ["", "   "]:
        assert ask(pg, question) == ""
        assert "请先输入一个问题" in pg.message.value
    assert pg.runs == 0 and not pg.generate_button.disabled


def test_overlong_question_is_refused_with_the_limit(tiny):
    pg = make(tiny)  # block_size 24: question + <sep> + at least one answer char must fit
    ask(pg, "天" * 23)
    assert "问题太长" in pg.message.value and "24" in pg.message.value and pg.runs == 0
    assert pg.answer_html.value == ""
    # 22 chars + <sep> leaves room for one: answered, with a note that the answer was capped
    model, tokenizer = tiny
    got = ask(pg, "天" * 22)
    assert pg.runs == 1 and "最多生成 1 个字" in pg.message.value
    assert got == generate.answer(model, tokenizer, "天" * 22, max_new_tokens=64)


def test_unknown_characters_are_named_and_still_answered(tiny):
    model, tokenizer = tiny
    pg = make(tiny)
    pg.max_new_tokens.value = 8
    got = ask(pg, "天X地Y是什么意思？")
    assert "“X”“Y”" in pg.message.value and "不在词表" in pg.message.value
    assert pg.runs == 1 and got == generate.answer(model, tokenizer, "天X地Y是什么意思？", max_new_tokens=8)


def test_click_while_generating_is_ignored(tiny, monkeypatch):
    """A re-entrant click (what a queued double click amounts to) neither runs nor waits."""
    pg = make(tiny)
    real = generate.stream_generate
    seen = []

    def clicking_stream(*args, **kwargs):
        for i, item in enumerate(real(*args, **kwargs)):
            if i == 0:
                seen.append(pg.generate_button.disabled)
                pg.generate_button.click()  # second click while the first is streaming
                seen.append(pg.status.value)
            yield item

    monkeypatch.setattr(generate, "stream_generate", clicking_stream)
    ask(pg, "天地")
    assert pg.runs == 1 and pg.ignored_clicks == 1
    assert seen[0] is True and "已忽略 1 次重复点击" in seen[1]
    assert not pg.generate_button.disabled  # usable again afterwards


def test_double_click_in_background_mode_runs_once(tiny, monkeypatch):
    pg = make(tiny, background=True)
    release, started = threading.Event(), threading.Event()
    real = generate.stream_generate
    active, overlap = [0], [False]

    def slow_stream(*args, **kwargs):
        active[0] += 1
        overlap[0] |= active[0] > 1
        started.set()
        release.wait(10)
        yield from real(*args, **kwargs)
        active[0] -= 1

    monkeypatch.setattr(generate, "stream_generate", slow_stream)
    pg.question.value = "天地"
    pg.generate_button.click()
    assert started.wait(10)
    pg.generate_button.click()  # the double click: the first is still running in its thread
    release.set()
    pg.wait(10)
    assert pg.runs == 1 and pg.ignored_clicks == 1 and not overlap[0]
    assert pg.status.value.startswith("首字延迟") and not pg.generate_button.disabled
    pg.generate_button.click()  # and once it is done, a click generates again
    pg.wait(10)
    assert pg.runs == 2


def test_examples_fill_the_question(tiny, tmp_path, monkeypatch):
    (tmp_path / "data.jsonl").write_text('{"question": "全部数据里的问题", "answer": "a"}\n', encoding="utf-8")
    assert load_examples(tmp_path) == [("数据", "全部数据里的问题")]  # no split yet: data.jsonl
    (tmp_path / "train.jsonl").write_text(
        '{"question": "训练问题一", "answer": "a"}\nnot json\n{"question": "训练问题一", "answer": "dup"}\n'
        '{"question": "训练问题二", "answer": "b"}\n', encoding="utf-8")
    (tmp_path / "val.jsonl").write_text('{"question": "验证问题", "answer": "c"}\n', encoding="utf-8")
    examples = load_examples(tmp_path)
    assert examples == [("训练", "训练问题一"), ("训练", "训练问题二"), ("验证", "验证问题")]
    pg = make(tiny, examples=examples)
    assert [label for label, _ in pg.examples.options][1:] == ["[训练] 训练问题一", "[训练] 训练问题二", "[验证] 验证问题"]
    pg.examples.value = "验证问题"
    assert pg.question.value == "验证问题"
    (tmp_path / "playground_examples.json").write_text(  # natural phrasings come first, labelled by group
        '{"examples": [{"group": "训练过的成语", "question": "训练问题二怎么说"}, {"group": "编的成语", "question": "验证问题"}]}',
        encoding="utf-8")
    assert load_examples(tmp_path) == [("训练过的成语", "训练问题二怎么说"), ("编的成语", "验证问题"),
                                       ("训练", "训练问题一"), ("训练", "训练问题二")]
    (tmp_path / "playground_examples.json").write_text("{broken", encoding="utf-8")
    assert load_examples(tmp_path) == examples  # a broken examples file is skipped, not fatal


def test_the_shipped_examples_are_natural_phrasings_not_training_strings():
    examples = load_examples(Path(__file__).resolve().parent.parent / "data")
    natural = [q for group, q in examples if group == "训练过的成语"]
    lines = (Path(__file__).resolve().parent.parent / "data" / "data.jsonl").read_text(encoding="utf-8").splitlines()
    questions = {json.loads(line)["question"] for line in lines}
    assert len(natural) >= 5 and not [q for q in natural if q in questions]


def test_probability_view_colours_each_char():
    out = probability_html(["天", "<"], [1.0, 0.0])
    assert out.count("minigpt-prob-char") == 2 and "hsl(120," in out and "hsl(0," in out and "&lt;" in out
    assert 'title="p = 1.000"' in out


def test_checkpoint_picker_lists_output_and_reports_bad_files(tiny, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "output").mkdir()
    (tmp_path / "output" / "broken.pth").write_bytes(b"not a checkpoint")
    found = find_checkpoints()
    assert Path("output/broken.pth") in found
    pg = make(tiny, checkpoints=found)
    assert "output/broken.pth" in [label for label, _ in pg.checkpoint_picker.options]
    assert not pg.generate_button.disabled
    pg.checkpoint_picker.value = str((tmp_path / "output" / "broken.pth").resolve())
    assert "加载 output/broken.pth 失败" in pg.message.value and pg.generate_button.disabled
    pg.checkpoint_picker.value = "<memory>"  # back to a working model
    assert not pg.generate_button.disabled


def test_playground_function_displays_the_widget(tiny, monkeypatch):
    model, tokenizer = tiny
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    pg = pg_module.playground(model=model, tokenizer=tokenizer, examples=[], checkpoints=[], background=False)
    assert shown == [pg.widget]
    assert "application/vnd.jupyter.widget-view+json" in pg._repr_mimebundle_()


@pytest.mark.skipif(not generate.SHIPPED_CHECKPOINT.exists(), reason="shipped checkpoint not committed yet")
def test_shipped_checkpoint_streams_without_setup_work_after_the_click(monkeypatch):
    """The first character must not wait for one-off work: loading the playground packs the fast path's weights
    (and times its matrix multiplies); a click packs nothing, and the answer streams one character at a time.
    (The latency itself is printed, not asserted: a wall-clock threshold fails on a busy machine.)"""
    from minigpt import fast_decode

    pg = Playground(checkpoint=generate.SHIPPED_CHECKPOINT, examples=[], checkpoints=[], device="cpu",
                    background=False)
    question = "画蛇添足是什么意思？"
    answer = generate.answer(pg.model, pg.tokenizer, question, max_new_tokens=64, fast=False)  # packs nothing
    packs, shown = [], []
    real_pack, real_show = fast_decode.pack, pg._show_answer
    monkeypatch.setattr(fast_decode, "pack", lambda *a, **kw: packs.append(1) or real_pack(*a, **kw))
    monkeypatch.setattr(pg, "_show_answer", lambda q, a, *, streaming: shown.append((a, streaming)) or
                        real_show(q, a, streaming=streaming))
    latencies = []
    for _ in range(3):
        shown.clear()
        ask(pg, question)
        latencies.append(pg.first_char_latency)
    print(f"\nfirst-character latency (s): {', '.join(f'{x:.3f}' for x in latencies)} → {pg.last_answer!r}")
    assert pg.last_answer == answer and answer
    assert packs == []  # no weight packing, no timing probe after the click
    assert shown == [("", True)] + [(answer[:i], True) for i in range(1, len(answer) + 1)] + [(answer, False)]


def test_generation_runs_single_threaded_on_cpu_and_restores(tiny, monkeypatch):
    """One char at a time is tiny matmuls: OpenMP sync costs more than it saves (269 ms vs 4 ms per step here)."""
    pg = make(tiny)
    real, inside = generate.stream_generate, []

    def spy(*args, **kwargs):
        inside.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(generate, "stream_generate", spy)
    before = torch.get_num_threads()
    ask(pg, "天地")
    assert inside == [1] and torch.get_num_threads() == before


@pytest.mark.slow
def test_cli_reports_a_missing_checkpoint_in_one_line(tmp_path):
    import subprocess
    import sys

    run = subprocess.run([sys.executable, str(ROOT / "minigpt" / "playground.py"), "--question", "天地",
                          "--checkpoint", str(tmp_path / "missing.pth")], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stderr.startswith("错误：") and len(run.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(not generate.SHIPPED_CHECKPOINT.exists(), reason="shipped checkpoint not committed yet")
@pytest.mark.slow
def test_cli_answers_with_the_shipped_checkpoint():
    import subprocess
    import sys

    question = "用“亲密无间”接龙，下一个成语是？"
    run = subprocess.run([sys.executable, "-m", "minigpt.playground", "--question", question, "--checkpoint",
                          str(generate.SHIPPED_CHECKPOINT)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    pg = Playground(checkpoint=generate.SHIPPED_CHECKPOINT, examples=[], checkpoints=[], device="cpu", background=False)
    assert f"答：{ask(pg, question)}\n" in run.stdout and "首字延迟" in run.stdout
