"""命令行的共同约定：中文的帮助和报错，学习者能造成的错误，以及从设置 dataclass 生成的选项。

argparse 自己的固定文字（"usage:"、"options:"、"the following arguments are required" ……）只有英文；
课程里每个命令都用这里的 ArgumentParser，学习者在终端里看到的就全是中文：

    python ./minigpt/train.py --help

学习者能造成的每个问题（坏数据、坏配置、找不到或不是我们的检查点）都是一个 UserError：
DataError、ConfigError 或 CheckpointError。消息只说“文件:行号: 哪里不对；怎么办”，不带“错误：”开头；
每个命令的 main() 用 report(e) 打印它：

    try:
        build_vocab(args.data, args.output)
    except UserError as e:
        return report(e)              # stderr 上一行“错误：文件:行号: 哪里不对”，退出状态 1

命令行参数写错时是 `程序名: 错误：参数哪里不对`（argparse 的报错，见 ArgumentParser.error）。

一组设置写一次：add_settings(parser, TrainSettings) 按 dataclass 的字段加选项（说明来自
`field(metadata={"help": ...})`），settings_from(args, TrainSettings) 再把解析结果变回 dataclass。
"""
import argparse
import re
import sys
import types
import typing
from dataclasses import MISSING, field, fields

__all__ = ["ERROR", "WARNING", "NOTE", "HelpFormatter", "ArgumentParser", "UserError", "DataError", "ConfigError",
           "CheckpointError", "report", "setting", "add_settings", "settings_from"]

ERROR = "错误："  # 每条报错的开头（只在 report 和 ArgumentParser.error 里加，消息本身不带）
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


# ---------------------------------------------------------------- 学习者能造成的错误
class UserError(ValueError):
    """学习者能造成、也能自己改正的问题；消息是一行“哪里不对；怎么办”，不带“错误：”。
    它是一个 ValueError，所以写着 `except ValueError` 的老代码照样接得住。"""


class DataError(UserError):
    """输入数据有问题：文件不存在、读不了、不是 UTF-8、没有一行有效的……；消息写明文件（和行号）。"""


class ConfigError(UserError):
    """配置或参数不对：没有这个预设、train_ratio 不在 0 和 1 之间……"""


class CheckpointError(UserError):
    """检查点不存在、读不了、不是我们的，或者和正在用的词表对不上。"""


def report(error) -> int:
    """把一个错误（异常，或者一句话）打印成 stderr 上的一行“错误：……”，返回命令的退出状态 1。"""
    print(f"{ERROR}{error}", file=sys.stderr)
    return 1


# ---------------------------------------------------------------- 设置 dataclass ⇄ 命令行选项
def setting(default, help: str, **more):
    """设置 dataclass 的一个字段，带命令行的说明：`lr: float = setting(1e-3, "峰值学习率")`。
    more 是 add_settings 认识的别的 metadata（flag、metavar、choices）。"""
    return field(default=default, metadata={"help": help, **more})


def add_settings(parser: argparse.ArgumentParser, cls, skip=()) -> None:
    """给 cls（一个 dataclass）的每个字段加一个选项：字段 batch_size → --batch-size。skip：这些字段不加选项
    （这个命令用不到它们，settings_from 取 dataclass 的默认值）。

    字段的 metadata 可以有：help（说明，必需）、flag（换个选项名）、metavar、choices。
    类型是 int、float、str 或它们的 Optional（默认 None）；bool 字段是开关：默认 False 时 --name 打开它，
    默认 True 时 --no-name 关掉它。默认值取自 dataclass，帮助里自动写出“（默认：…）”。
    """
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        if f.name in skip:
            continue
        default = f.default if f.default is not MISSING else f.default_factory()
        kind = _plain_type(hints[f.name])
        switch_off = kind is bool and default  # 默认开着的开关
        flag = f.metadata.get("flag", ("--no-" if switch_off else "--") + f.name.replace("_", "-"))
        kwargs = dict(dest=f.name, default=default, help=f.metadata["help"])
        if kind is bool:
            kwargs["action"] = "store_false" if switch_off else "store_true"
        else:
            kwargs["type"] = kind
            kwargs.update({k: f.metadata[k] for k in ("metavar", "choices") if k in f.metadata})
        parser.add_argument(flag, **kwargs)


def settings_from(args: argparse.Namespace, cls):
    """add_settings 加的选项解析出的值 → cls 的一个实例（没有选项的字段用默认值）。"""
    return cls(**{f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)})


def _plain_type(hint):
    """int | None → int；别的类型原样返回。"""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint
