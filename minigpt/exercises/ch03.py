"""第 3 章练习：打乱再切分（与课程包逐行相同）、预测按行划分的“泄漏”、验证集有多少成语在训练集见过、按成语分组划分。

期望值由 minigpt/split_data.py 的 shuffle_and_cut、grouped_shuffle_and_cut 算出；预测题（3.2）读仓库里的 data/data.jsonl。
"""
import json
import random
from pathlib import Path

from minigpt.exercises.core import Case, Exercise, Wrong, register
from minigpt.jsonl import QAPair
from minigpt.split_data import grouped_shuffle_and_cut, shuffle_and_cut

DATA = Path(__file__).resolve().parents[2] / "data" / "data.jsonl"
LINES = [f"第 {i} 行" for i in range(10)]
IDIOMS = ["画蛇添足", "一丝不苟", "守株待兔", "对牛弹琴", "亡羊补牢", "井底之蛙", "掩耳盗铃"]


def _lines_and_groups(n, seed):
    """n 行题目，每行属于一个成语（同一个成语有好几种题型：释义、拼音、接龙、填空）。"""
    rng = random.Random(seed)
    groups = [rng.choice(IDIOMS) for _ in range(n)]
    return [f"{g}·第 {i} 题" for i, g in enumerate(groups)], groups


# ------------------------------------------------------------------------------ 3.1 打乱再切分
def _no_shuffle(lines, ratio, seed):
    n = int(len(lines) * ratio)
    return list(lines[:n]), list(lines[n:])


def _rounded(lines, ratio, seed):
    data = list(lines)
    random.Random(seed).shuffle(data)
    n = round(len(data) * ratio)
    return data[:n], data[n:]


def _val_first(lines, ratio, seed):
    train, val = shuffle_and_cut(lines, ratio, seed)
    return val, train


register(Exercise(
    id="3.1", stars=1, title="打乱再切分，与课程包逐行相同", name="split_lines",
    task=r"""
和种子代码一样划分：复制一份列表，用随机种子 `seed` 打乱（`random.Random(seed).shuffle`，
与 `random.seed(seed)` 再 `random.shuffle` 打乱的结果相同），前 $\lfloor n \times \text{train\_ratio} \rfloor$ 行作训练集，其余作验证集。
不要改动传进来的列表。

- 输入：`lines`（`list[str]`），`train_ratio`（如 0.8），`seed`（整数）
- 输出：`(train, val)` 两个列表
""",
    where="`minigpt/split_data.py` 的 `shuffle_and_cut`",
    stub='''
import random
from minigpt.exercises import check, hint


def split_lines(lines, train_ratio, seed):
    """返回 (train, val)：打乱后前 int(n * train_ratio) 行是训练集。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=shuffle_and_cut,
    cases=[
        Case("10 行，train_ratio=0.8，seed=42", lambda: (list(LINES), 0.8, 42)),
        Case("7 行，train_ratio=0.8，seed=0（7 × 0.8 = 5.6）", lambda: (LINES[:7], 0.8, 0)),
        Case("10 行，train_ratio=0.5，seed=7", lambda: (list(LINES), 0.5, 7)),
        Case("9 行，train_ratio=0.9，seed=3（9 × 0.9 = 8.1）", lambda: (LINES[:9], 0.9, 3)),
    ],
    hints=["两步：先用固定的随机种子打乱一份拷贝（同样的种子，同样的顺序），再从前面切出训练集；行数向下取整。",
           "random.Random(seed) 是一个独立的随机数生成器，它的 .shuffle(列表) 原地打乱；list(lines) 先复制一份，不动传进来的列表。",
           "data = list(lines)；random.Random(seed).shuffle(data)；n = int(len(data) * train_ratio)；return data[:n], data[n:]。"],
    proved="你的划分与 split_data.shuffle_and_cut（也就是种子代码的划分）逐行相同：同样的随机种子，同样的验证集。",
    wrong=[
        Wrong(_no_shuffle, "先打乱再切：数据文件是按成语排好的，不打乱的话验证集全是最后那几个成语。"),
        Wrong(_rounded, "训练集的行数向下取整：int(n * train_ratio)，不是 round。"),
        Wrong(_val_first, "返回的顺序是 (train, val)：前面那一大份是训练集。"),
    ],
))


# ------------------------------------------------------------------------------ 3.2 预测：按行划分，验证集有多少题在训练集有“同一道题”
def _same_fact_share(path=DATA, train_ratio=0.8, seed=42):
    """按行划分（shuffle_and_cut）后，验证集里有多大比例的题，训练集里有同一个成语、同一种题型的题。"""
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    train, val = shuffle_and_cut(lines, train_ratio, seed)
    facts = {(item["idiom"], item["type"]) for item in map(json.loads, train)}
    return sum((item["idiom"], item["type"]) in facts for item in map(json.loads, val)) / len(val)


register(Exercise(
    id="3.2", stars=1, kind="predict", title="预测：按行划分后，验证集有多少题在训练集里换个问法就有", name="my_guess",
    task=r"""
**先别运行下面的统计。** 数据里每个成语问好几件事（意思、读音、接龙或补全），每件事又换着问法问了好几遍（这些问法答案一字不差）。
按**行**随机划分 80% / 20% 之后，验证集里有多大比例的题，训练集里有**同一个成语、同一种题型**的另一种问法？

把你的预测（0 到 1 之间）赋给 `my_guess`，再运行。误差在 ±0.1 以内算对。
""",
    where="`minigpt/split_data.py` 的 `shuffle_and_cut`；本节下面的统计",
    stub='''
from minigpt.exercises import check, hint

my_guess = ...  # 你的预测：验证集里“训练集有同一道题的另一种问法”的题所占的比例（0 到 1）
''',
    reference=_same_fact_share,
    cases=[],
    atol=0.1, rtol=0.0,
    hints=["拿验证集里的一道题来想：它的“同一件事”还有几种别的问法？这些问法全都落在验证集里的概率是多少？",
           "每一行独立地以 0.2 的概率进验证集。同一件事有 m 种问法时，另外 m − 1 种全在验证集的概率是 0.2^(m−1)。",
           "问法有好几种时 0.2^(m−1) 很小：几乎每道题在训练集里都有“同一道题”，比例在 0.9 以上。"],
    proved=("每件事换着问法问了好几遍，按行随机划分时，这些问法几乎不可能全都落在验证集（每行只有 20% 的机会）："
            "九成以上的验证题，训练集里有答案一字不差的另一种问法。这样的验证集量的是“换个问法还认不认得”。"),
    wrong=[Wrong(lambda: 0.2, "20% 是验证集占全部数据的比例，不是“训练集里有同一道题”的比例：同一件事有好几种问法，几乎总有一种落在训练集。"),
           Wrong(lambda: 0.0, "按行划分不看成语：同一个成语、同一件事的不同问法会散落到两边。")],
))


# ------------------------------------------------------------------------------ 3.3 验证集的成语在训练集见过吗
def _seen_share(train_groups, val_groups):
    seen = set(train_groups)
    return sum(g in seen for g in val_groups) / len(val_groups)


def _split_groups(n, seed):
    lines, groups = _lines_and_groups(n, seed)
    which = dict(zip(lines, groups))
    train, val = shuffle_and_cut(lines, 0.8, seed)
    return [which[x] for x in train], [which[x] for x in val]


def _distinct_share(train_groups, val_groups):
    distinct = set(val_groups)
    return len(distinct & set(train_groups)) / len(distinct)


register(Exercise(
    id="3.3", stars=2, title="验证集里有多少题的成语在训练集见过", name="seen_share",
    task=r"""
按行划分时，同一个成语的不同题型会分到两边。验证集里，有多大比例的**题**问的成语在训练集里出现过？

- 输入：`train_groups`、`val_groups`：训练集、验证集每道题的成语（`list[str]`，一道题一项，可以重复）
- 输出：0 到 1 之间的小数 = 验证集里“成语在训练集出现过”的题数 ÷ 验证集题数
""",
    where="`minigpt/split_data.py` 的 `shuffle_and_cut`（按行划分会让同一个成语分到两边）",
    stub='''
from minigpt.exercises import check, hint


def seen_share(train_groups, val_groups):
    """返回验证集里成语在训练集出现过的题所占的比例（0 到 1）。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=_seen_share,
    cases=[
        Case("训练集 [甲, 乙, 乙]，验证集 [乙, 丙, 乙, 丁]", lambda: (["甲", "乙", "乙"], ["乙", "丙", "乙", "丁"])),
        Case("按行随机划分的 40 道题", lambda: _split_groups(40, 3)),
        Case("两边没有共同的成语", lambda: (["甲", "乙"], ["丙", "丁", "丁"])),
        Case("按行随机划分的 25 道题", lambda: _split_groups(25, 8)),
    ],
    hints=["按验证集的“题”数：每道题看它的成语在训练集里有没有出现过，数出有几道，再除以验证集的题数。",
           "训练集的成语放进 set，查“在不在”又快又简单；验证集不要去重（同一个成语的每道题都算）。",
           "seen = set(train_groups)；return sum(g in seen for g in val_groups) / len(val_groups)。"],
    patterns=("scale", "percent"),
    proved="你量出了按行划分的“泄漏”：验证集的好成绩有一部分来自训练集里见过的成语。",
    wrong=[
        Wrong(_distinct_share, "按题数算，不是按不同的成语算：验证集里同一个成语的每道题都要数（不要先 set(val_groups)）。"),
        Wrong(lambda t, v: sum(g in set(t) for g in v) / len(t), "分母是验证集的题数 len(val_groups)，不是训练集的。"),
        Wrong(lambda t, v: sum(g in set(t) for g in v), "要返回比例（除以验证集题数），不是题数。"),
    ],
))


# ------------------------------------------------------------------------------ 3.4 按成语分组划分
def _records(n, seed):
    """n 行 JSONL：每行一道题，记录着它问的成语（"idiom" 字段，和课程数据一样）。"""
    lines, groups = _lines_and_groups(n, seed)
    return [json.dumps({"question": q, "answer": "……", "idiom": g}, ensure_ascii=False) for q, g in zip(lines, groups)]


def _grouped(lines, train_ratio, seed, *, sort=False, final_shuffle="same", swap=False):
    """按成语分组切分，以及几种常见的写错方式（关键字参数打开某一种错误）。"""
    groups = {}
    for line in lines:
        groups.setdefault(json.loads(line)["idiom"], []).append(line)  # 成语按第一次出现的顺序
    keys = sorted(groups) if sort else list(groups)
    rng = random.Random(seed)
    rng.shuffle(keys)
    n_train = int(len(keys) * train_ratio)
    train = [line for k in keys[:n_train] for line in groups[k]]
    val = [line for k in keys[n_train:] for line in groups[k]]
    if final_shuffle == "same":
        for part in ((val, train) if swap else (train, val)):
            rng.shuffle(part)
    elif final_shuffle == "new":
        random.Random(seed).shuffle(train)
        random.Random(seed).shuffle(val)
    return train, val


def _grouped_reference(lines, train_ratio, seed):
    """课程包的按组切分（split_data.py --group-by idiom）；它要的是读进来的 QAPair。"""
    pairs = [QAPair(json.loads(x)["question"], json.loads(x)["answer"], i + 1, x) for i, x in enumerate(lines)]
    train, val, _, _ = grouped_shuffle_and_cut(pairs, train_ratio, seed, "idiom")
    return train, val


def _explain_leak(args, got):
    """你的两份里有没有同一个成语？"""
    try:
        train, val = got
        both = sorted({json.loads(x)["idiom"] for x in train} & {json.loads(x)["idiom"] for x in val})
    except (TypeError, ValueError, KeyError):
        return None
    if both:
        return f"成语“{both[0]}”的题在训练集和验证集里都有：要先决定每个成语去哪一边，再把它所有的题放过去。"
    return None


register(Exercise(
    id="3.4", stars=3, title="按成语分组划分：没有成语同时在两边", name="split_by_idiom",
    task=r"""
更严格的划分：同一个成语的所有题只进一边。每行 JSON 里的 `"idiom"` 字段记着这道题问的成语。规则（照做，判题才能逐行比较）：

1. 按成语把行分组，成语按**第一次出现的顺序**排列，组内保持原来的顺序；
2. `rng = random.Random(seed)`，`rng.shuffle(成语列表)`，前 $\lfloor m \times \text{train\_ratio} \rfloor$ 个成语（$m$ 是成语个数）归训练集；
3. 训练集 = 这些成语的行（按打乱后成语的顺序，一组一组接起来），验证集 = 其余成语的行；
4. 用**同一个** `rng` 接着打乱训练集，再打乱验证集。

- 输入：`lines`（`list[str]`，每行一个 JSON 对象），`train_ratio`，`seed`
- 输出：`(train, val)` 两个列表
""",
    where="`minigpt/split_data.py` 的 `grouped_shuffle_and_cut`（`--group-by idiom`）",
    stub='''
import json
import random
from minigpt.exercises import check, hint


def split_by_idiom(lines, train_ratio, seed):
    """返回 (train, val)：同一个成语的行只出现在一边。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=_grouped_reference,
    cases=[
        Case("20 道题、7 个成语，train_ratio=0.8，seed=42", lambda: (_records(20, 0), 0.8, 42)),
        Case("40 道题，train_ratio=0.6，seed=1", lambda: (_records(40, 1), 0.6, 1)),
        Case("30 道题，train_ratio=0.5，seed=9", lambda: (_records(30, 4), 0.5, 9)),
    ],
    hints=["先决定每个成语去哪一边，再把它的所有题放过去：要打乱、要切开的是“成语的列表”，不是行。",
           "dict.setdefault(成语, []).append(行) 按第一次出现的顺序分组；同一个 random.Random(seed) 先打乱成语列表，"
           "切出 int(m × train_ratio) 个成语，最后再用它依次打乱训练集、验证集。",
           "groups = {}；for line in lines: groups.setdefault(json.loads(line)['idiom'], []).append(line)；keys = list(groups)；rng = random.Random(seed)；rng.shuffle(keys)；切开、拼起来，再 rng.shuffle(train)、rng.shuffle(val)。"],
    proved="你的划分里没有一个成语同时在两边：验证集衡量的是没见过的成语，而不是换一种问法。",
    explain=_explain_leak,
    wrong=[
        Wrong(lambda lines, r, s: shuffle_and_cut(lines, r, s),
              "这是按行划分：同一个成语的题会分到两边。先给成语分边，再把每行放到它的成语那边。"),
        Wrong(lambda lines, r, s: _grouped(lines, r, s, sort=True),
              "成语按第一次出现的顺序排（dict 记得插入顺序），不是 sorted：顺序不同，打乱的结果就不同。"),
        Wrong(lambda lines, r, s: _grouped(lines, r, s, final_shuffle="none"),
              "最后还要用同一个 rng 把训练集、验证集各自打乱：否则同一个成语的题总挨在一起。"),
        Wrong(lambda lines, r, s: _grouped(lines, r, s, final_shuffle="new"),
              "最后的打乱要用同一个 rng 接着抽随机数，不要再新建 random.Random(seed)。"),
        Wrong(lambda lines, r, s: _grouped(lines, r, s, swap=True), "先打乱训练集，再打乱验证集：随机数是按顺序抽的。"),
    ],
))
