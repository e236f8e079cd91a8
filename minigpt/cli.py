"""命令行的共同约定：中文的帮助和报错。

argparse 自己的固定文字（"usage:"、"options:"、"the following arguments are required" ……）只有英文；
课程里每个命令都用这里的 ArgumentParser，学习者在终端里看到的就全是中文：

    python ./minigpt/train.py --help

报错的样子也统一：`错误：文件:行号: 哪里不对`（数据和检查点的错误），或 `程序名: 错误：参数哪里不对`（命令行参数）。
"""
import argparse
import re
import sys

ERROR = "错误："  # 每条报错的开头
WARNING = "警告："  # 跳过了什么、可能出问题，但程序继续
NOTE = "注意："  # 提醒，不是问题

# argparse 最常见的几句报错 → 中文（其余的原样保留英文细节）
_MESSAGES = [
    (r"the following arguments are required: (.*)", r"缺少必需的参数：\1"),
    (r"unrecognized arguments: (.*)", r"不认识的参数：\1"),
    (r"argument (\S+): invalid (\w+) value: (.*)", r"参数 \1 的值 \3 不是有效的 \2"),
    (r"argument (\S+): invalid choice: (.*) \(choose from (.*)\)", r"参数 \1 的值 \2 不在可选范围内（可选：\3）"),
    (r"argument (\S+): expected one argument", r"参数 \1 后面需要跟一个值"),
]


class HelpFormatter(argparse.HelpFormatter):
    """在每个选项的说明后面写上默认值：“（默认：…）”。"""

    def _get_help_string(self, action):
        text = action.help or ""
        if "%(default)" in text or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        if action.nargs == 0:  # 开关（store_true/store_false）：“默认：True”说不清是开还是关，写在说明里
            return text
        return text + "（默认：%(default)s）"


class ArgumentParser(argparse.ArgumentParser):
    """和 argparse.ArgumentParser 用法一样，只是帮助和报错是中文。"""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        kwargs["add_help"] = False
        super().__init__(*args, **kwargs)
        self._positionals.title = "位置参数"
        self._optionals.title = "选项"
        self.add_argument("-h", "--help", action="help", default=argparse.SUPPRESS, help="显示这条帮助，然后退出")

    def format_usage(self):
        return super().format_usage().replace("usage: ", "用法：", 1)

    def format_help(self):
        text = super().format_help().replace("usage: ", "用法：", 1)
        return text.replace("\n位置参数:\n", "\n位置参数：\n").replace("\n选项:\n", "\n选项：\n")

    def error(self, message):
        for pattern, chinese in _MESSAGES:
            message = re.sub(pattern, chinese, message)
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: {ERROR}{message}\n")
