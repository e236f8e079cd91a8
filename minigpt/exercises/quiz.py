"""每章末尾的小测验：概念题，选完点“提交”，马上知道对不对，并看到**每个选项**为什么对、为什么错。

    from minigpt.exercises import quiz
    quiz(5)                                   # 第 5 章的小测验（ipywidgets），同时打印一份纯文字版

    python -m minigpt.exercises.quiz 5        # 终端里看第 5 章的题目（不含答案）
    python -m minigpt.exercises.quiz --check  # 检查题库文件 quizzes.json 是否完整、一致

题目都在同一个数据文件 `minigpt/exercises/quizzes.json` 里，每题：
编号（"q5.3"）、章、题干、单选/多选、选项（每个选项都有解释）、正确选项的字母。
`load_quizzes()` 读取时逐条检查（编号唯一、每章 5–8 题、答案是存在的选项、每个选项都有解释、选项不重复、
单选恰好一个答案；正确选项的解释以“正确”开头、其余以“错误”开头，这样答案标错时解释和答案对不上，马上能发现），
有问题就抛出 QuizDataError，说清是哪一题、哪里不对。

为什么同时打印文字版：小部件（widget）只有在内核运行时才显示；在 GitHub 上、或没有启动内核的
JupyterLab 里打开 notebook，能看到的只有打印出来的文字。文字版只列题目和选项，不透露答案。
小部件的内容都直接写进 HTML 小部件的 value（而不是 `with out: print()`），所以没有内核时（测试里）也能读到。
"""
from __future__ import annotations

import argparse
import html
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from minigpt.cli import ConfigError, DataError, report

QUIZ_FILE = Path(__file__).with_name("quizzes.json")
CHAPTERS = range(1, 12)  # 第 1–11 章
MIN_PER_CHAPTER, MAX_PER_CHAPTER = 5, 8
LETTERS = "ABCDEFGH"
KINDS = {"single": "单选", "multiple": "多选"}


class QuizDataError(DataError):
    """题库文件有问题：消息里写明文件、题号和原因。"""


@dataclass(frozen=True)
class Option:
    text: str
    why: str  # 为什么对 / 为什么错（对应学习者可能的误解）


@dataclass(frozen=True)
class Question:
    id: str  # "q5.3"
    chapter: int
    kind: str  # "single" | "multiple"
    question: str
    options: tuple[Option, ...]
    answer: frozenset[str]  # 正确选项的字母，如 {"B"} 或 {"A", "C"}

    @property
    def letters(self) -> str:
        return LETTERS[: len(self.options)]

    def is_right(self, chosen) -> bool:
        """选中的字母集合恰好等于答案才算对（多选题少选、多选都不算对）。"""
        return frozenset(chosen) == self.answer


# ====================================================================== 读取与检查
def validate(data, source="quizzes.json") -> list[Question]:
    """检查题库的结构和一致性，返回 Question 列表；发现问题抛出 QuizDataError（列出所有问题）。"""
    problems = []

    def bad(where, msg):
        problems.append(f"{where}：{msg}")

    if not isinstance(data, dict) or not isinstance(data.get("questions"), list):
        raise QuizDataError(f"{source}：顶层应当是 {{\"questions\": [...]}}")
    questions, seen = [], set()
    for n, raw in enumerate(data["questions"], 1):
        where = f"第 {n} 条"
        if not isinstance(raw, dict):
            bad(where, "应当是一个对象")
            continue
        qid = raw.get("id")
        if isinstance(qid, str) and qid:
            where = f"题 {qid}"
        else:
            bad(where, "缺少编号 id")
        if qid in seen:
            bad(where, "编号重复")
        seen.add(qid)
        chapter = raw.get("chapter")
        if not isinstance(chapter, int) or chapter not in CHAPTERS:
            bad(where, f"chapter 应当是 {CHAPTERS[0]}–{CHAPTERS[-1]} 的整数，现在是 {chapter!r}")
        elif isinstance(qid, str) and not qid.startswith(f"q{chapter}."):
            bad(where, f"编号应当以 “q{chapter}.” 开头（第 {chapter} 章）")
        kind = raw.get("kind")
        if kind not in KINDS:
            bad(where, f"kind 应当是 “single”（单选）或 “multiple”（多选），现在是 {kind!r}")
        text = raw.get("question")
        if not isinstance(text, str) or not text.strip():
            bad(where, "题干 question 为空")
        options = raw.get("options")
        if not isinstance(options, list) or not 2 <= len(options) <= len(LETTERS):
            bad(where, f"options 应当是 2–{len(LETTERS)} 个选项的列表")
            continue
        opts = []
        for i, opt in enumerate(options):
            label = f"选项 {LETTERS[i]}"
            if not isinstance(opt, dict) or not isinstance(opt.get("text"), str) or not opt["text"].strip():
                bad(where, f"{label} 没有文字 text")
                continue
            if not isinstance(opt.get("why"), str) or not opt["why"].strip():
                bad(where, f"{label}（“{opt['text']}”）没有解释 why：每个选项都要说明为什么对或为什么错")
            opts.append(Option(opt["text"].strip(), str(opt.get("why") or "").strip()))
        texts = [o.text for o in opts]
        for t in sorted({t for t in texts if texts.count(t) > 1}):
            bad(where, f"选项重复：“{t}”")
        answer = raw.get("answer")
        if not isinstance(answer, list) or not answer or not all(isinstance(a, str) for a in answer):
            bad(where, "answer 应当是正确选项字母的列表，如 [\"B\"]")
            continue
        letters = LETTERS[: len(options)]
        for a in answer:
            if a not in letters:
                bad(where, f"答案 “{a}” 不是选项（只有 {letters[0]}–{letters[-1]}）")
        if len(set(answer)) != len(answer):
            bad(where, f"答案里有重复的字母 {answer}")
        if kind == "single" and len(answer) != 1:
            bad(where, f"单选题只能有一个答案，现在是 {answer}")
        if kind == "multiple" and len(set(answer)) == len(options):
            bad(where, "多选题的每个选项都对：这样的题测不出理解")
        # 解释和答案互相核对：正确选项的解释以“正确”开头，其余以“错误”开头（标错答案时马上能发现）
        for letter, opt in zip(letters, opts):
            if not opt.why:
                continue
            expected = "正确" if letter in answer else "错误"
            if not opt.why.startswith(expected):
                role = "正确答案" if letter in answer else "不是答案"
                bad(where, f"选项 {letter} {role}，它的解释应当以 “{expected}” 开头（现在是 “{opt.why[:12]}…”）：答案标错了，还是解释写反了？")
        if len(opts) == len(options):
            questions.append(Question(qid, chapter, kind, text, tuple(opts), frozenset(answer)))
    for ch in CHAPTERS:
        n = sum(1 for q in data["questions"] if isinstance(q, dict) and q.get("chapter") == ch)
        if not MIN_PER_CHAPTER <= n <= MAX_PER_CHAPTER:
            bad(f"第 {ch} 章", f"有 {n} 道题，应当是 {MIN_PER_CHAPTER}–{MAX_PER_CHAPTER} 道")
    if problems:
        raise QuizDataError(f"{source} 有 {len(problems)} 处问题：\n  " + "\n  ".join(problems))
    return questions


def load_quizzes(path=QUIZ_FILE) -> list[Question]:
    """读取并检查题库；文件读不了或 JSON 写坏了也是 QuizDataError，消息里有文件名和行号。"""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise QuizDataError(f"{path}：读不了（{e.strerror or e}）") from None
    except json.JSONDecodeError as e:
        raise QuizDataError(f"{path}：第 {e.lineno} 行第 {e.colno} 列不是合法的 JSON（{e.msg}）") from None
    return validate(data, source=str(path))


def chapter_questions(chapter: int, path=QUIZ_FILE) -> list[Question]:
    if chapter not in CHAPTERS:
        raise ValueError(f"没有第 {chapter} 章：小测验在第 {CHAPTERS[0]}–{CHAPTERS[-1]} 章")
    return [q for q in load_quizzes(path) if q.chapter == chapter]


# ====================================================================== 文字版
def text_version(questions: list[Question], show_answers: bool = False) -> str:
    """纯文字版：题目和选项（默认不含答案）。"""
    if not questions:
        return ""
    lines = [f"第 {questions[0].chapter} 章小测验（{len(questions)} 题）。文字版只列题目和选项，不含答案；"
             "运行这个单元格，在交互版里作答，提交后能看到每个选项的解释。"]
    for n, q in enumerate(questions, 1):
        lines += ["", f"{n}.（{KINDS[q.kind]}）{q.question}"]
        for letter, opt in zip(q.letters, q.options):
            mark = ("✓ " if letter in q.answer else "  ") if show_answers else ""
            lines.append(f"   {mark}{letter}. {opt.text}")
            if show_answers:
                lines.append(f"        {opt.why}")
    return "\n".join(lines)


# ====================================================================== 交互版
def feedback_html(q: Question, chosen) -> str:
    """提交后的反馈：对/不对，然后逐个选项：是否正确答案、你选了没有、为什么。"""
    chosen = frozenset(chosen)
    if not chosen:
        return '<div class="minigpt-quiz-verdict">还没有选择：先选一个（多选题可以选几个）再提交。</div>'
    right = q.is_right(chosen)
    if right:
        verdict = '<b style="color:#1a7f37">正确！</b>'
    elif q.kind == "multiple" and chosen < q.answer:
        verdict = '<b style="color:#cf222e">不对</b>：选对了一部分，还漏了正确的选项。'
    elif q.kind == "multiple" and chosen > q.answer:
        verdict = '<b style="color:#cf222e">不对</b>：正确的都选了，但多选了错误的选项。'
    else:
        verdict = '<b style="color:#cf222e">不对</b>。'
    rows = []
    for letter, opt in zip(q.letters, q.options):
        is_answer = letter in q.answer
        mark = "✓" if is_answer else "✗"
        color = "#1a7f37" if is_answer else "#cf222e"
        picked = "（你选了）" if letter in chosen else ""
        rows.append(f'<li class="minigpt-quiz-why" style="margin:2px 0"><span style="color:{color}">{mark} '
                    f"{letter}. {html.escape(opt.text)}</span>{picked}<br>{html.escape(opt.why)}</li>")
    return (f'<div class="minigpt-quiz-verdict">{verdict}</div>'
            f'<ul style="list-style:none;padding-left:0.5em;margin:4px 0">{"".join(rows)}</ul>')


class QuizCard:
    """一道题的小部件：题干、选项（单选 RadioButtons / 多选 Checkbox）、提交按钮、反馈。"""

    def __init__(self, q: Question, number: int, on_submit=None):
        import ipywidgets as w

        self.q, self.on_submit, self.submitted_right = q, on_submit, None
        labels = [f"{letter}. {opt.text}" for letter, opt in zip(q.letters, q.options)]
        self.prompt = w.HTML(f"<b>{number}.（{KINDS[q.kind]}）{html.escape(q.question)}</b>")
        if q.kind == "single":
            self.radio = w.RadioButtons(options=labels, value=None, layout=w.Layout(width="auto"))
            self.radio.add_class("minigpt-quiz-options")
            self.checks = []
            choices = self.radio
        else:
            self.radio = None
            self.checks = [w.Checkbox(value=False, description=label, indent=False, layout=w.Layout(width="auto"))
                           for label in labels]
            choices = w.VBox(self.checks)
            choices.add_class("minigpt-quiz-options")
        self.submit_button = w.Button(description="提交", button_style="primary")
        self.submit_button.add_class("minigpt-quiz-submit")
        self.submit_button.on_click(lambda _: self.submit())
        self.feedback = w.HTML("")
        self.feedback.add_class("minigpt-quiz-feedback")
        self.widget = w.VBox([self.prompt, choices, self.submit_button, self.feedback],
                             layout=w.Layout(border="1px solid #ddd", padding="6px", margin="6px 0"))
        self.widget.add_class("minigpt-quiz-card")

    def chosen(self) -> frozenset[str]:
        if self.radio is not None:
            return frozenset() if self.radio.index is None else frozenset(self.q.letters[self.radio.index])
        return frozenset(letter for letter, box in zip(self.q.letters, self.checks) if box.value)

    def choose(self, *letters: str) -> None:
        """按字母选择（测试和程序用；学习者直接点选项）。"""
        if self.radio is not None:
            self.radio.index = self.q.letters.index(letters[0]) if letters else None
        else:
            for letter, box in zip(self.q.letters, self.checks):
                box.value = letter in letters

    def submit(self) -> bool | None:
        chosen = self.chosen()
        self.feedback.value = feedback_html(self.q, chosen)
        self.submitted_right = self.q.is_right(chosen) if chosen else None
        if self.on_submit is not None:
            self.on_submit()
        return self.submitted_right


class Quiz:
    """一章的小测验：若干 QuizCard + 一行总分。`Quiz(5).widget` 是要显示的小部件。"""

    def __init__(self, chapter: int, questions: list[Question] | None = None):
        import ipywidgets as w

        self.chapter = chapter
        self.questions = questions if questions is not None else chapter_questions(chapter)
        self.cards = [QuizCard(q, n, on_submit=self._update_score) for n, q in enumerate(self.questions, 1)]
        self.score = w.HTML("")
        self.score.add_class("minigpt-quiz-score")
        self._update_score()
        title = w.HTML(f"<h3>第 {chapter} 章小测验</h3>")
        self.widget = w.VBox([title, *[c.widget for c in self.cards], self.score])
        self.widget.add_class("minigpt-quiz")

    def _update_score(self):
        done = [c for c in self.cards if c.submitted_right is not None]
        right = sum(bool(c.submitted_right) for c in done)
        self.score.value = f"已提交 {len(done)}/{len(self.cards)} 题，答对 {right} 题。"

    def text(self) -> str:
        return text_version(self.questions)


def _in_kernel() -> bool:
    """在 Jupyter 内核里吗？（终端里的 python 显示不了小部件，只打印文字版。）"""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def quiz(chapter: int) -> None:
    """第 chapter 章的小测验：在 Jupyter 里显示可以作答的小部件，并打印一份文字版（不含答案）。"""
    try:
        questions = chapter_questions(chapter)
    except (QuizDataError, ValueError) as e:  # notebook 里不抛异常：说清楚就好
        print(f"小测验打不开：{e}")
        return
    if _in_kernel():  # 交互版在上；文字版在下，没有内核时（GitHub、没启动内核的 JupyterLab）只看得到它
        from IPython.display import display

        display(Quiz(chapter, questions).widget)
    print(text_version(questions))


# ====================================================================== 命令行
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m minigpt.exercises.quiz", description="查看或检查各章小测验的题目。")
    p.add_argument("chapter", nargs="?", type=int, help=f"打印这一章的题目（{CHAPTERS[0]}–{CHAPTERS[-1]}）")
    p.add_argument("--answers", action="store_true", help="连同答案和每个选项的解释一起打印（给老师/自查用）")
    p.add_argument("--check", action="store_true", help="只检查题库文件，打印每章题数")
    args = p.parse_args(argv)
    try:
        questions = load_quizzes()
    except QuizDataError as e:
        return report(e)
    if args.check or args.chapter is None:
        counts = {ch: sum(q.chapter == ch for q in questions) for ch in CHAPTERS}
        print(f"题库 {QUIZ_FILE.name} 检查通过：共 {len(questions)} 题；" + "，".join(f"第 {c} 章 {n} 题" for c, n in counts.items()))
        return 0
    if args.chapter not in CHAPTERS:
        return report(ConfigError(f"没有第 {args.chapter} 章（小测验在第 {CHAPTERS[0]}–{CHAPTERS[-1]} 章）"))
    print(text_version([q for q in questions if q.chapter == args.chapter], show_answers=args.answers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
