"""练习与自动判题：每章 3–5 道练习，写完就能知道对不对。

    from minigpt.exercises import check, show_progress, quiz
    check("5.2", my_attention)   # 运行固定的用例，打印“通过”，或哪个用例错了、期望什么、得到什么、一句提示
    show_progress(5)             # 第 5 章练习：2/5 通过
    quiz(5)                      # 第 5 章的小测验（ipywidgets）

    python -m minigpt.exercises --list        # 所有练习：编号、章、星级、标题
    python -m minigpt.exercises --self-test   # 证明每个判题器都能判错：参考答案通过、桩代码“还没做”、错误写法被识别
    python -m minigpt.exercises --cells 5     # 第 5 章的练习单元格（jupytext py:percent），贴进 notebook

每道练习在 chNN.py 里定义（任务、桩代码、用例、常见错误及提示），参考答案在 solutions/chNN.py。
通过的练习记在 ~/.minigpt/progress.json（或环境变量 MINIGPT_PROGRESS 指定的文件），不在仓库里。
"""
from minigpt.exercises.core import all_exercises, chapter_exercises, check, show_progress

try:  # 小测验由 quiz.py 提供；它还不存在时，check 照样能用
    from minigpt.exercises.quiz import quiz
except ModuleNotFoundError as e:
    if e.name != "minigpt.exercises.quiz":
        raise

    def quiz(chapter: int) -> None:
        print(f"第 {chapter} 章的小测验还没有准备好。")

__all__ = ["check", "show_progress", "quiz", "all_exercises", "chapter_exercises"]
