"""Chapter quizzes: the data file (minigpt/exercises/quizzes.json) is complete and consistent, the grading accepts
exactly the marked answers, and the ipywidgets quiz works headless (choose, submit, read the feedback back).

    pytest tests/test_quiz.py -q
"""
import copy
import html
import importlib
import itertools
import json
from collections import Counter

import pytest

from minigpt.exercises.quiz import (CHAPTERS, LETTERS, QUIZ_FILE, Quiz, QuizDataError, chapter_questions, load_quizzes,
                                    main, quiz, text_version, validate)

quiz_module = importlib.import_module("minigpt.exercises.quiz")  # the package's attribute `quiz` is the function


@pytest.fixture(scope="module")
def raw():
    return json.loads(QUIZ_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def questions():
    return load_quizzes()


# ====================================================================== the data file
def test_data_file_is_valid(raw, questions):
    assert len(questions) == len(raw["questions"])
    ids = [q.id for q in questions]
    assert len(ids) == len(set(ids)), [i for i, n in Counter(ids).items() if n > 1]
    per_chapter = Counter(q.chapter for q in questions)
    assert sorted(per_chapter) == list(CHAPTERS)
    assert all(5 <= n <= 8 for n in per_chapter.values()), per_chapter
    for q in questions:
        assert q.id == f"q{q.chapter}.{q.id.split('.')[1]}"
        assert q.question.strip() and q.kind in ("single", "multiple")
        assert q.answer and q.answer <= set(q.letters), q.id  # the answers exist among the options
        assert len(q.answer) == 1 or q.kind == "multiple", q.id
        texts = [o.text for o in q.options]
        assert len(texts) == len(set(texts)), q.id  # no duplicate options
        for letter, opt in zip(q.letters, q.options):
            assert opt.text.strip() and opt.why.strip(), (q.id, letter)  # every option is explained
            # the explanation agrees with the answer key: a marked option's starts with 正确, the others' with 错误
            assert opt.why.startswith("正确" if letter in q.answer else "错误"), (q.id, letter)


def test_language_conventions(questions):
    """Simplified Chinese with “” quotes: no ASCII double quotes or 「」 in what the learner reads."""
    for q in questions:
        for text in [q.question, *(o.text for o in q.options), *(o.why for o in q.options)]:
            assert '"' not in text and "「" not in text and "」" not in text, (q.id, text)
        assert q.question.endswith("？") and "（多选）" not in q.question, q.id  # the widget labels 单选/多选


def test_both_kinds_and_spread_answers(questions):
    assert any(q.kind == "multiple" for q in questions) and any(q.kind == "single" for q in questions)
    firsts = Counter(next(iter(q.answer)) for q in questions if q.kind == "single")
    assert len(firsts) == 4 and max(firsts.values()) < 0.4 * sum(firsts.values()), firsts  # not always "A"


def test_exactly_the_marked_answers_are_right(questions):
    """Every non-empty choice is graded: right only when it is exactly the answer set."""
    for q in questions:
        for r in range(1, len(q.letters) + 1):
            for chosen in itertools.combinations(q.letters, r):
                assert q.is_right(chosen) == (set(chosen) == q.answer), (q.id, chosen)


# ====================================================================== a broken data file fails with a clear message
def broken(raw, edit):
    data = copy.deepcopy(raw)
    edit(data["questions"])
    with pytest.raises(QuizDataError) as e:
        validate(data, source="quizzes.json")
    return str(e.value)


def test_broken_data_is_reported(raw, tmp_path):
    def dup_id(qs):
        qs[1]["id"] = qs[0]["id"]

    def answer_not_an_option(qs):
        qs[0]["answer"] = ["E"]

    def missing_why(qs):
        qs[0]["options"][1]["why"] = " "

    def duplicate_option(qs):
        qs[0]["options"][2]["text"] = qs[0]["options"][1]["text"]

    def two_answers_single(qs):
        q = next(q for q in qs if q["kind"] == "single")
        q["answer"] = ["A", "B"]

    def wrong_key(qs):  # the key marks another option than the explanations say
        q = qs[0]
        q["answer"] = [next(LETTERS[i] for i, o in enumerate(q["options"]) if o["why"].startswith("错误"))]

    def too_few(qs):
        for q in [q for q in qs if q["chapter"] == 3][:2]:
            qs.remove(q)

    def bad_chapter(qs):
        qs[0]["chapter"] = CHAPTERS[-1] + 1

    cases = {dup_id: "编号重复", answer_not_an_option: "答案 “E” 不是选项", missing_why: "没有解释 why",
             duplicate_option: "选项重复", two_answers_single: "单选题只能有一个答案", wrong_key: "答案标错了",
             too_few: "第 3 章：有 4 道题，应当是 5–8 道", bad_chapter: f"chapter 应当是 1–{CHAPTERS[-1]} 的整数"}
    for edit, expected in cases.items():
        message = broken(raw, edit)
        assert message.startswith("quizzes.json 有 ") and expected in message, (edit.__name__, message)
    assert "题 q1.1" in broken(raw, answer_not_an_option)  # says which question

    with pytest.raises(QuizDataError, match="顶层"):
        validate([], source="x.json")
    path = tmp_path / "quizzes.json"
    path.write_text('{"questions": [\n  {"id": "q1.1",}\n]}', encoding="utf-8")
    with pytest.raises(QuizDataError, match=r"第 2 行.*不是合法的 JSON"):
        load_quizzes(path)
    with pytest.raises(QuizDataError, match="读不了"):
        load_quizzes(tmp_path / "missing.json")


# ====================================================================== the widget, headless
def card_for(quiz_obj, kind):
    return next(c for c in quiz_obj.cards if c.q.kind == kind)


def test_single_answer_card():
    qz = Quiz(5)
    assert qz.widget is not None and len(qz.cards) == len(chapter_questions(5))
    card = card_for(qz, "single")
    q = card.q
    right = next(iter(q.answer))
    wrong = next(letter for letter in q.letters if letter != right)
    assert card.feedback.value == ""
    card.submit_button.click()  # nothing chosen yet
    assert "还没有选择" in card.feedback.value and card.submitted_right is None

    card.choose(wrong)
    card.submit_button.click()
    fb = card.feedback.value
    assert "不对" in fb and "正确！" not in fb and card.submitted_right is False
    assert html.escape(q.options[q.letters.index(wrong)].why) in fb  # why the chosen one is wrong
    assert all(html.escape(o.why) in fb for o in q.options)  # and every other option's explanation, kept visible
    assert "（你选了）" in fb and "已提交 1/" in qz.score.value and "答对 0 题" in qz.score.value

    card.radio.value = card.radio.options[q.letters.index(right)]  # as a click on the radio button does
    assert card.chosen() == {right}
    card.submit_button.click()
    assert "正确！" in card.feedback.value and card.submitted_right is True
    assert all(html.escape(o.why) in card.feedback.value for o in q.options)
    assert "答对 1 题" in qz.score.value


def test_multiple_answer_card_partial_is_not_right():
    q = next(q for q in load_quizzes() if q.kind == "multiple" and len(q.answer) >= 2)
    qz = Quiz(q.chapter, [q])
    card = qz.cards[0]
    assert card.radio is None and len(card.checks) == len(q.options)
    answer = sorted(q.answer)
    card.choose(answer[0])  # one of the right ones only
    assert card.submit() is False and "漏了" in card.feedback.value
    wrong = next(letter for letter in q.letters if letter not in q.answer)
    card.choose(*answer, wrong)  # all the right ones and a wrong one
    assert card.submit() is False and "多选了" in card.feedback.value
    for letter, box in zip(q.letters, card.checks):  # as clicks on the check boxes do
        box.value = letter in q.answer
    assert card.submit() is True and "正确！" in card.feedback.value


def test_quiz_prints_a_text_version_without_answers(capsys):
    quiz(4)  # outside a kernel: only the text (a widget could not be shown)
    out = capsys.readouterr().out
    qs = chapter_questions(4)
    assert out.startswith("第 4 章小测验") and "不含答案" in out
    for q in qs:
        assert q.question in out and all(f"{letter}. {o.text}" in out for letter, o in zip(q.letters, q.options))
        assert not any(o.why in out for o in q.options)  # no explanation, so no answer
    assert "✓" not in out
    assert "✓" in text_version(qs, show_answers=True)


def test_quiz_in_a_kernel_displays_the_widget(monkeypatch, capsys):
    shown = []
    monkeypatch.setattr(quiz_module, "_in_kernel", lambda: True)
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    quiz(2)
    assert len(shown) == 1 and "minigpt-quiz" in shown[0]._dom_classes
    assert capsys.readouterr().out.startswith("第 2 章小测验")


def test_quiz_never_raises(capsys, monkeypatch, tmp_path):
    quiz(CHAPTERS[-1] + 1)
    assert "小测验打不开" in capsys.readouterr().out
    bad = tmp_path / "quizzes.json"
    bad.write_text("{", encoding="utf-8")
    monkeypatch.setattr(quiz_module, "QUIZ_FILE", bad)
    monkeypatch.setattr(quiz_module.chapter_questions, "__defaults__", (bad,))
    quiz(1)
    assert "小测验打不开" in capsys.readouterr().out


def test_cli(capsys):
    assert main(["--check"]) == 0
    assert "检查通过" in capsys.readouterr().out
    assert main(["3"]) == 0
    out = capsys.readouterr().out
    assert "第 3 章小测验" in out and "正确：" not in out
    assert main(["3", "--answers"]) == 0 and "正确：" in capsys.readouterr().out
    assert main(["12"]) == 1


def test_exercises_package_exports_quiz():
    from minigpt import exercises

    if not hasattr(exercises, "check"):
        pytest.skip("minigpt.exercises (the checker) has not landed yet")
    assert exercises.quiz is quiz
