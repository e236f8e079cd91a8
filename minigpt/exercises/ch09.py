"""第 9 章练习：UTF-8 的字节数（预测）、合并一对 token、按合并顺序编码一个词、每个字多少比特。

期望值由 minigpt/bpe.py 算出（merge_word、bpe）；预测题的真实值在 data/data.jsonl 上现算。
"""
import json
import math
from pathlib import Path

from minigpt.bpe import BPETokenizer, bpe, merge_word
from minigpt.exercises.core import Case, Exercise, Wrong, register
from minigpt.exercises.samples import PAIRS

DATA = Path(__file__).resolve().parents[2] / "data" / "data.jsonl"


# ------------------------------------------------------------------------------ 9.1 预测：每个字几个字节
def _bytes_per_char(path=DATA):
    """课程数据（全部问题和答案）的 UTF-8 字节数 ÷ 字符数。"""
    n_bytes = n_chars = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        for text in (row["question"], row["answer"]):
            n_bytes += len(text.encode("utf-8"))
            n_chars += len(text)
    return n_bytes / n_chars


register(Exercise(
    id="9.1", stars=1, kind="predict", title="预测：课程数据平均每个字符占几个 UTF-8 字节", name="my_guess",
    task=r"""
**先别运行下面的代码。** 字节级 BPE 从 UTF-8 字节出发：编码之前，文字先变成字节。课程数据
（`data/data.jsonl` 的全部问题和答案）平均每个**字符**占几个字节？想想数据里有哪几种字符：汉字、
全角标点（，。？“”）、拼音（huà shé tiān zú：字母、空格和带声调的字母）。

把你的预测写成一个数，赋给 `my_guess`，再运行。误差在 ±0.15 以内算对。
""",
    where="本节下面的字节统计；`minigpt/bpe.py` 的 `word_counts`（训练前先把每个词变成字节串）",
    stub='''
from minigpt.exercises import check, hint

my_guess = ...  # 你的预测：UTF-8 字节数 ÷ 字符数
''',
    reference=_bytes_per_char,
    cases=[],
    atol=0.15, rtol=0.0,
    hints=["先分别想每种字符占几个字节：ASCII（拼音字母、空格）、带声调的拼音字母（à、ǚ）、汉字和全角标点。",
           "UTF-8：码位 < 128 占 1 个字节，< 2048 占 2 个（à 是 U+00E0），汉字和全角标点（U+3000 以上）占 3 个。"
           "再估计拼音题占数据的多大比例。",
           "大部分字符是汉字和全角标点（3 字节），拼音答案把平均值往下拉一些：在 2.5 到 2.8 之间猜一个。"],
    proved=("汉字和全角标点都是 3 个字节，拼音题的答案（huà shé tiān zú）每个字母只占 1 个字节、带声调的 2 个，"
            "所以平均比 3 小一些。字节级 BPE 学到的头几百条合并，正是把常见汉字的 3 个字节拼回一个 token。"),
    wrong=[Wrong(lambda: 3.0, "汉字和全角标点是 3 个字节，但拼音答案里的字母和空格只占 1 个字节：平均要小一些。"),
           Wrong(lambda: 2.0, "2 个字节是 GBK（或 UTF-16）里的汉字；UTF-8 里一个汉字占 3 个字节。"),
           Wrong(lambda: 1.0, "一个字符一个字节只对 ASCII 成立；汉字在 UTF-8 里占 3 个字节。")],
))


# ------------------------------------------------------------------------------ 9.2 合并一对
def _first_only(ids, pair, new_id):
    for i in range(len(ids) - 1):
        if (ids[i], ids[i + 1]) == tuple(pair):
            return ids[:i] + [new_id] + ids[i + 2:]
    return list(ids)


def _right_to_left(ids, pair, new_id):
    return merge_word(ids[::-1], (pair[1], pair[0]), new_id)[::-1]


def _no_skip(ids, pair, new_id):
    out = []
    for i, x in enumerate(ids):
        if i + 1 < len(ids) and (x, ids[i + 1]) == tuple(pair):
            out.append(new_id)
        elif not (i > 0 and (ids[i - 1], x) == tuple(pair)):
            out.append(x)
    return out


register(Exercise(
    id="9.2", stars=2, title="合并一对：把每一处相邻的 (a, b) 换成新 token", name="merge",
    task=r"""
BPE 训练的每一步都把出现最多的一对相邻 token `(a, b)` 合并成一个新 token。写出这一步：
从左到右扫描 `ids`，每遇到相邻的 `a, b` 就换成 `new_id`，换过的两个位置不再参与别的合并。
所以 `[1, 1, 1]` 合并 `(1, 1)` 得到 `[new_id, 1]`，不是 `[new_id, new_id]`。

- 输入：`ids`（`list[int]`），`pair`（两个编号的元组），`new_id`（int）
- 输出：新的 `list[int]`（不要改动传进来的 `ids`）
""",
    where="`minigpt/bpe.py` 的 `merge_word`（下面第 3 节才展示）",
    stub='''
from minigpt.exercises import check, hint


def merge(ids, pair, new_id):
    """把 ids 里每一处相邻的 pair（从左到右，不重叠）换成 new_id，返回新列表。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=lambda ids, pair, new_id: merge_word(list(ids), tuple(pair), new_id),
    cases=[
        Case("两处，中间隔着别的：[5, 6, 7, 5, 6] 合并 (5, 6)", lambda: ([5, 6, 7, 5, 6], (5, 6), 300)),
        Case("首尾相接的两处：[8, 9, 8, 9, 1] 合并 (8, 9)", lambda: ([8, 9, 8, 9, 1], (8, 9), 257)),
        Case("重叠：[4, 4, 4, 4, 4] 合并 (4, 4)", lambda: ([4, 4, 4, 4, 4], (4, 4), 1000)),
        Case("顺序反了不算：[2, 3, 3, 2] 合并 (3, 2) 和 (2, 3) 不同", lambda: ([2, 3, 3, 2], (3, 2), 512)),
        Case("一处也没有", lambda: ([1, 2, 3], (3, 1), 99)),
        Case("空列表", lambda: ([], (1, 2), 7)),
        Case("“画”的三个字节，(229, 141) 不相邻的另一处", lambda: ([231, 148, 187, 229, 141, 231, 148], (231, 148), 258)),
    ],
    hints=["用一个下标 i 从左往右走，一边走一边往新列表里放：是 (a, b) 就放 new_id，否则放 ids[i]。",
           "合并后 i 要跳过两个位置（i += 2），否则 b 会被再用一次；别忘了检查 i + 1 < len(ids)。",
           "out, i = [], 0；while i < len(ids)：若 i + 1 < len(ids) 且 (ids[i], ids[i + 1]) == pair："
           "out.append(new_id); i += 2；否则 out.append(ids[i]); i += 1。"],
    proved="你的合并与 minigpt/bpe.py 的 merge_word 一致：从左到右、不重叠，“a a a”合并 (a, a) 得到“aa a”。",
    wrong=[
        Wrong(_first_only, "只合并了第一处：一个词里每一处相邻的 (a, b) 都要换掉，换完一处继续往后找。"),
        Wrong(_right_to_left, "重叠时要从左边开始合并：[4, 4, 4] 合并 (4, 4) 是 [新, 4]，不是 [4, 新]。"),
        Wrong(_no_skip, "合并后要跳过两个位置（i += 2）：换过的 token 不能再参与下一处，[4, 4, 4] 只能得到 [新, 4]。"),
    ],
))


# ------------------------------------------------------------------------------ 9.3 按合并顺序编码一个词
def _sample_ranks(num_merges):
    tok = BPETokenizer.train([t for pair in PAIRS for t in pair], num_merges)
    return tok.ranks


def _left_to_right(piece, ranks):
    parts = [piece[i:i + 1] for i in range(len(piece))]
    changed = True
    while changed:
        changed = False
        for i in range(len(parts) - 1):
            if parts[i] + parts[i + 1] in ranks:
                parts[i:i + 2] = [parts[i] + parts[i + 1]]
                changed = True
                break
    return parts


def _one_pass(piece, ranks):
    parts = [piece[i:i + 1] for i in range(len(piece))]
    if len(parts) > 1:
        i = min(range(len(parts) - 1), key=lambda k: ranks.get(parts[k] + parts[k + 1], math.inf))
        if parts[i] + parts[i + 1] in ranks:
            parts[i:i + 2] = [parts[i] + parts[i + 1]]
    return parts


def _worst_first(piece, ranks):
    parts = [piece[i:i + 1] for i in range(len(piece))]
    while True:
        found = [i for i in range(len(parts) - 1) if parts[i] + parts[i + 1] in ranks]
        if not found:
            return parts
        i = max(found, key=lambda k: ranks[parts[k] + parts[k + 1]])
        parts[i:i + 2] = [parts[i] + parts[i + 1]]


def _rightmost_tie(piece, ranks):
    parts = [piece[i:i + 1] for i in range(len(piece))]
    while len(parts) > 1:
        scores = [ranks.get(a + b, math.inf) for a, b in zip(parts, parts[1:])]
        i = max(k for k, s in enumerate(scores) if s == min(scores))
        if scores[i] == math.inf:
            break
        parts[i:i + 2] = [parts[i] + parts[i + 1]]
    return parts


register(Exercise(
    id="9.3", stars=2, title="按合并顺序编码一个词", name="encode_piece",
    task=r"""
编码时不再数次数，而是按**学到的先后**合并：`ranks[字节串]` 是这个 token 的编号，编号越小学得越早。
从单个字节出发，每一步在所有相邻的两段里，找“拼起来在 `ranks` 里、且编号最小”的那一对合并
（编号相同的——同一个 token 出现在两处——取最左边的）；直到没有哪一对拼起来在 `ranks` 里。

- 输入：`piece`（`bytes`，一个预分词后的词），`ranks`（`dict[bytes, int]`）
- 输出：`list[bytes]`，拼起来等于 `piece`
""",
    where="`minigpt/bpe.py` 的 `bpe`（Qwen 和 tiktoken 也是这样编码的）",
    stub='''
import math

from minigpt.exercises import check, hint


def encode_piece(piece, ranks):
    """从单个字节出发，反复合并“拼起来编号最小”的相邻两段，返回 list[bytes]。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=bpe,
    cases=[
        Case("手写的小表：bc 比 ab 学得早", lambda: (b"abcd", {b"bc": 0, b"ab": 1, b"cd": 2, b"abcd": 3})),
        Case("ab 比 bc 学得早：abc", lambda: (b"abc", {b"ab": 0, b"bc": 1})),
        Case("同一个 token 出现两处：取左边的", lambda: (b"aaa", {b"aa": 0})),
        Case("取左边的，再往下合并", lambda: (b"aaaaa", {b"aa": 0, b"aaa": 1})),
        Case("越合越长：aaaaaaaa", lambda: (b"aaaaaaaa", {b"aa": 5, b"aaaa": 6, b"aaaaaaaa": 7})),
        Case("在样例问答上学 40 条合并：画蛇添足", lambda: ("画蛇添足".encode(), _sample_ranks(40))),
        Case("在样例问答上学 25 条合并：一丝不苟", lambda: ("一丝不苟".encode(), _sample_ranks(25))),
        Case("一个字节", lambda: (b"x", {b"xy": 0})),
        Case("空的词", lambda: (b"", {b"ab": 0})),
    ],
    hints=["parts = 单个字节的列表；每一轮算出每对相邻两段拼起来的编号（不在 ranks 里就当作无穷大），取最小的那对合并。",
           "用 min(range(len(parts) - 1), key=…) 找编号最小的位置：min 在并列时返回最左边的；最小值是无穷大时停。",
           "while len(parts) > 1：scores = [ranks.get(a + b, math.inf) for a, b in zip(parts, parts[1:])]；"
           "i = scores.index(min(scores))；若 scores[i] == math.inf 就 break；parts[i:i + 2] = [parts[i] + parts[i + 1]]。"],
    proved="你的编码与 minigpt/bpe.py 的 bpe 一致：按学到的先后合并，同编号取最左边。用 Qwen 的 ranks，它给出的就是 Qwen 的切法。",
    wrong=[
        Wrong(_left_to_right, "不是从左往右见到能合并的就合并：要在整个词里找拼起来编号最小（学得最早）的那一对。"),
        Wrong(_one_pass, "只合并了一次：要一轮一轮地合并，直到没有哪一对拼起来在 ranks 里。"),
        Wrong(_worst_first, "编号越小越优先（学得早的合并先用），你取了编号最大的。"),
        Wrong(_rightmost_tie, "同一个 token 出现在两处（编号相同）时取最左边的那一处。"),
    ],
))


# ------------------------------------------------------------------------------ 9.4 每个字多少比特
def _bits_per_char(mean_loss, n_tokens, n_chars):
    return mean_loss * n_tokens / n_chars / math.log(2)


register(Exercise(
    id="9.4", stars=1, title="把每个 token 的损失换算成每个字的比特数", name="bits_per_char",
    task=r"""
两个分词器切出的 token 不一样长：按字切分时一个 token 是一个字，BPE 的一个 token 平均是好几个字。
所以“每个 token 的损失”不能直接比。公平的单位是**每个字的比特数**（bits per character）：
同一段文字，总共要多少比特才能说清楚，再除以字数。

交叉熵损失 `mean_loss` 是每个 token 的平均负对数似然，单位是 nats（自然对数）。

- 输入：`mean_loss`（float，nats/token），`n_tokens`（这段文字切成了几个 token），`n_chars`（它有几个字）
- 输出：float，比特/字
""",
    where="本章第 8 节的 `heldout_bits_per_char`",
    stub='''
import math

from minigpt.exercises import check, hint


def bits_per_char(mean_loss, n_tokens, n_chars):
    """平均每个 token 的损失（nats）→ 平均每个字的比特数。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=_bits_per_char,
    cases=[
        Case("按字切分：token 数等于字数", lambda: (3.2, 1000, 1000)),
        Case("BPE：1,000 个字切成 400 个 token", lambda: (5.1, 400, 1000)),
        Case("另一段文字", lambda: (2.25, 1234, 2000)),
        Case("损失为 ln 2：每个 token 正好 1 比特", lambda: (math.log(2), 30, 90)),
    ],
    hints=["先算这段文字的总损失：平均损失 × token 数（单位 nats），再把 nats 换成比特，最后除以字数。",
           "1 比特 = ln 2 nats，所以 nats ÷ ln 2 = 比特；用 math.log(2)。",
           "return mean_loss * n_tokens / n_chars / math.log(2)"],
    proved="你的换算与第 8 节一致：总 nats = 平均损失 × token 数，÷ ln 2 变成比特，÷ 字数。不同分词器的模型只能这样比。",
    wrong=[
        Wrong(lambda m, t, c: m * t / c, "这是 nats/字：还要除以 ln 2（1 比特 = ln 2 ≈ 0.693 nats）。"),
        Wrong(lambda m, t, c: m / math.log(2), "这是比特/token：一个 BPE token 有好几个字，要乘 token 数、除以字数。"),
        Wrong(lambda m, t, c: m * c / t / math.log(2), "token 数和字数放反了：总损失 = 平均损失 × token 数，再除以字数。"),
        Wrong(lambda m, t, c: m * t / c / math.log(10), "比特用以 2 为底的对数：除以 ln 2，不是 ln 10。"),
    ],
))
