"""练习与自动判题：每章几道练习，先自己写（或先预测一个数），再运行判题，卡住了一步一步要提示。

    from minigpt.exercises import check, hint, show_progress, quiz
    check("5.2", my_attention)   # 运行固定的用例，打印“通过”，或哪个用例错了、期望什么、得到什么、像哪种错误
    hint("5.2")                  # 下一步提示：思路 → 用哪个函数、哪一维 → 接近代码（用了几步记在进度里）
    show_progress(5)             # 第 5 章练习：2/5 通过
    quiz(5)                      # 第 5 章的小测验（ipywidgets）

    python -m minigpt.exercises --list        # 所有练习：编号、章、星级、类型、标题
    python -m minigpt.exercises --self-test   # 证明每个判题器都能判错：参考答案通过、桩代码“还没做”、错误写法被识别
    python -m minigpt.exercises --cells 5     # 第 5 章的练习单元格（jupytext py:percent），贴进 notebook

每道练习在 chNN.py 里定义（任务、桩代码、用例、常见错误、分步提示），参考答案在 solutions/chNN.py。
通过的练习和用过的提示记在 ~/.minigpt/progress.json（或环境变量 MINIGPT_PROGRESS 指定的文件），不在仓库里。
"""
from minigpt.exercises.core import all_exercises, chapter_exercises, check, hint, show_progress
from minigpt.exercises.quiz import quiz

__all__ = ["check", "hint", "show_progress", "quiz", "all_exercises", "chapter_exercises"]
