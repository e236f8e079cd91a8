"""第 1 章练习：数字符、建 word2id、预测第 1 常见的字是第 100 常见的几倍、多少个字覆盖 90%、新数据让哪些编号变了。

期望值由 minigpt/build_vocab.py 的 count_chars、vocab_from_counter 算出；用例是 samples.py 里的几对问答，
预测题（1.3）读仓库里的 data/data.jsonl。
"""
from collections import Counter
from pathlib import Path

from minigpt.build_vocab import SPECIAL_TOKENS, count_chars, vocab_from_counter
from minigpt.exercises.core import Case, Exercise, Wrong, register
from minigpt.exercises.samples import PAIRS, char_counter, jsonl_file

DATA = Path(__file__).resolve().parents[2] / "data" / "data.jsonl"


# ------------------------------------------------------------------------------ 1.1 数字符
def _count_with_package(pairs):
    with jsonl_file(pairs) as path:  # build_vocab.count_chars 读的是 JSONL 文件
        return count_chars(path, warn=lambda msg: None)


def _count_questions_only(pairs):
    return Counter("".join(q for q, _ in pairs))


def _count_words(pairs):
    counter = Counter()
    for q, a in pairs:
        counter.update(q.split())
        counter.update(a.split())
    return counter


def _count_once_per_text(pairs):
    counter = Counter()
    for q, a in pairs:
        counter.update(set(q))
        counter.update(set(a))
    return counter


register(Exercise(
    id="1.1", stars=1, title="数一数每个字出现了几次", name="count_chars",
    task=r"""
统计问题和答案里每个字符出现的次数（汉字、标点、空格、拼音字母……每个字符都算）。

- 输入：`pairs`，一个列表，每项是 `(question, answer)` 两个字符串
- 输出：`collections.Counter`（或 dict）：字符 → 次数
""",
    where="`minigpt/build_vocab.py` 的 `count_chars`",
    stub='''
from collections import Counter
from minigpt.exercises import check, hint


def count_chars(pairs):
    """pairs: [(question, answer), ...]。返回 Counter：字符 → 出现次数。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=_count_with_package,
    cases=[
        Case("5 对成语问答（释义、拼音、接龙、填空）", lambda: (list(PAIRS),)),
        Case("含空格和 emoji 的一对", lambda: ([("“😀”是什么意思？", "笑 脸 😀")],)),
        Case("同一个字在一句里出现多次", lambda: ([("一一一", "二二")],)),
        Case("大小写、全角半角各算各的：Aa，ＡA", lambda: ([("Aa，ＡA", "a A")],)),
    ],
    hints=["模型读到的问题和要写出的答案，每一个字符都要在词表里：两边都要数，一个字符出现几次就数几次。",
           "Python 的字符串按字符迭代；collections.Counter 的 update(字符串) 会把每个字符各加 1。",
           "counter = Counter()；对每对 (question, answer)：counter.update(question)，counter.update(answer)。"],
    proved="你的统计与 build_vocab.count_chars 完全一致：问题和答案里的每个字符（包括空格和标点）都数到了。",
    wrong=[
        Wrong(_count_questions_only, "答案里的字也要数：词表要覆盖模型读到的和要写出的每一个字。"),
        Wrong(_count_words, "一个字符就是一个 token：不要按空格切词（text.split()），直接 counter.update(text)。"),
        Wrong(_count_once_per_text, "同一句里出现几次就数几次：不要先 set(text) 去重。"),
    ],
))


# ------------------------------------------------------------------------------ 1.2 word2id
def _by_frequency(counter):
    word2id = {t: i for i, t in enumerate(SPECIAL_TOKENS)}
    for ch, _ in counter.most_common():
        word2id[ch] = len(word2id)
    return word2id


def _specials_last(counter):
    word2id = {ch: i for i, ch in enumerate(sorted(counter))}
    for t in SPECIAL_TOKENS:
        word2id[t] = len(word2id)
    return word2id


def _from_one(counter):
    tokens = list(SPECIAL_TOKENS) + sorted(counter)
    return {t: i + 1 for i, t in enumerate(tokens)}


def _unsorted(counter):
    tokens = list(SPECIAL_TOKENS) + list(counter)
    return {t: i for i, t in enumerate(tokens)}


register(Exercise(
    id="1.2", stars=2, title="建 word2id：特殊 token 在前，其余按码位排序", name="build_word2id",
    task=r"""
由字符计数建出词表的 `word2id`（字符 → 编号），规则与种子相同：

1. 特殊 token 先编号：`<pad>` = 0，`<unk>` = 1，`<sep>` = 2；
2. 其余字符按 Unicode 码位排序（`sorted`），从 3 开始依次编号。

- 输入：`counter`，字符 → 次数（`Counter`）
- 输出：dict，字符 → 编号（`int`）
""",
    where="`minigpt/build_vocab.py` 的 `vocab_from_counter`（`SPECIAL_TOKENS`）",
    stub='''
from minigpt.exercises import check, hint


def build_word2id(counter):
    """counter: Counter（字符 → 次数）。返回 dict：字符 → 编号。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=lambda counter: vocab_from_counter(counter)["word2id"],
    cases=[
        Case("本章的两句话：你好吗？我很好，谢谢！", lambda: (Counter("你好吗？我很好，谢谢！"),)),
        Case("5 对成语问答的所有字", lambda: (char_counter(),)),
        Case("出现次数和码位顺序正好相反：c×3、b×2、a×1", lambda: (Counter("cccbba"),)),
    ],
    hints=["编号只由“有哪些字”决定，和每个字出现几次无关：这样同样的字永远得到同样的编号。",
           "先放三个特殊 token（0、1、2），再把 sorted(counter) 得到的字一个个接上：下一个编号就是当前 dict 的长度。",
           "word2id = {'<pad>': 0, '<unk>': 1, '<sep>': 2}；for ch in sorted(counter): word2id[ch] = len(word2id)。"],
    patterns=("mapping",),
    proved="你的 word2id 与 build_vocab.vocab_from_counter 一致：同样的数据永远得到同样的编号。",
    wrong=[
        Wrong(_by_frequency, "字符按 Unicode 码位排序（sorted(counter)），不是按出现次数：按次数排，数据一变编号就全变。"),
        Wrong(_specials_last, "特殊 token 在最前面：<pad>=0、<unk>=1、<sep>=2，字符从 3 开始。"),
        Wrong(_from_one, "编号从 0 开始：<pad> 是 0（嵌入表的第 0 行）。"),
        Wrong(_unsorted, "字符要排序：Counter 的顺序是第一次出现的顺序，换一份数据就变了；用 sorted(counter)。"),
    ],
))


# ------------------------------------------------------------------------------ 1.3 预测：第 1 常见的字是第 100 常见的几倍
def _rank_ratio(path=DATA, low=100):
    """数据里出现次数排第 1 的字，是排第 low 的字的几倍。"""
    counts = [n for _, n in count_chars(path, warn=lambda msg: None).most_common(low)]
    return counts[0] / counts[low - 1]


register(Exercise(
    id="1.3", stars=1, kind="predict", title="预测：最常见的字是第 100 常见的字的几倍", name="my_guess",
    task=r"""
**先别运行下面的统计。** Zipf 定律说：第 $r$ 常见的字出现的次数大约是 $C / r^{s}$，$s \approx 1$。
在我们的成语问答数据（`data/data.jsonl`）里，出现次数排第 1 的字，是排第 100 的字的**几倍**？

把你的预测写成一个数，赋给 `my_guess`，再运行。误差在 ±50% 以内算对（这是估计，不是背答案）。
""",
    where="`minigpt/build_vocab.py` 的 `count_chars`；本节下面的频率统计",
    stub='''
from minigpt.exercises import check, hint

my_guess = ...  # 你的预测：排第 1 的字出现的次数 ÷ 排第 100 的字出现的次数
''',
    reference=_rank_ratio,
    cases=[],
    atol=0.0, rtol=0.5,
    hints=["先想 Zipf 定律本身给出的倍数：C / 1 比 C / 100 是多少？",
           "再想想这份数据和一般文章有什么不同：每道题都有“成语”“什么”和一串固定的问法，最常见的字被很多题重复，"
           "而排第 100 的字也常出现在这些问法里。真实的倍数会比纯 Zipf 小还是大？",
           "纯 Zipf（s = 1）给 100 倍；这份数据里常用的问法让排第 100 的字也很常见，倍数小得多：在 15 到 30 之间猜一个。"],
    proved=("Zipf 定律 s = 1 时应是 100 倍，可这份数据只有二十来倍：每道题都套着几种固定的问法（“成语”“是什么意思”），"
            "排第 100 的字也跟着这些问法出现了成千上万次，头部被“压平”了。定律是近似，数据才说了算。"),
    wrong=[Wrong(lambda: 100.0, "100 倍是纯 Zipf 定律（s = 1）的推算：这份数据的问法高度重复，排第 100 的字也很常见，真实的倍数小得多。"),
           Wrong(lambda: 1000.0, "差了好几个数量级：排第 100 的字在这份数据里也出现了成千上万次。")],
))


# ------------------------------------------------------------------------------ 1.4 覆盖率
def _coverage(counter, p, *, strict=False, ascending=False):
    total = sum(counter.values())
    items = counter.most_common()[::-1] if ascending else counter.most_common()
    covered = 0
    for n, (_, count) in enumerate(items, 1):
        covered += count
        if (covered / total > p) if strict else (covered / total >= p):
            return n
    return len(items)


register(Exercise(
    id="1.4", stars=2, title="最常见的多少个字覆盖 90% 的字符", name="chars_for_coverage",
    task=r"""
字的频率极不均匀（Zipf 定律）。最常见的多少个字，加起来就占了全部字符出现次数的比例 $p$？

从最常见的字开始累加次数，返回**第一次**使累计比例 $\ge p$ 时用了几个字。

- 输入：`counter`（字符 → 次数），`p`（0 到 1 之间，如 0.9）
- 输出：整数
""",
    where="`minigpt/build_vocab.py` 的 `count_chars`（统计），`Counter.most_common()`（按次数从多到少）",
    stub='''
from minigpt.exercises import check, hint


def chars_for_coverage(counter, p):
    """counter: Counter（字符 → 次数）；p: 比例。返回最少要几个最常见的字，才能覆盖 ≥ p 的字符出现次数。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=_coverage,
    cases=[
        Case("a×5, b×3, c×2，p = 0.5（正好在边界上）", lambda: (Counter("aaaaabbbcc"), 0.5)),
        Case("5 对成语问答，p = 0.9", lambda: (char_counter(), 0.9)),
        Case("a×5, b×3, c×2，p = 1.0（要全部）", lambda: (Counter("aaaaabbbcc"), 1.0)),
        Case("最常见的字排在码位后面：z×6, a×2, b×1, c×1，p = 0.75", lambda: (Counter("zzzzzzaabc"), 0.75)),
    ],
    hints=["从最常见的字开始，一个一个加进来，直到加进来的字占到全部出现次数的比例 p：数一数加了几个。",
           "counter.most_common() 按次数从多到少排好；total = sum(counter.values())；“占到”是 ≥ p。",
           "covered = 0；for n, (_, c) in enumerate(counter.most_common(), 1): covered += c；if covered / total >= p: return n。"],
    patterns=("off1",),
    proved="你会用累计频率读 Zipf 分布：少数常见字就覆盖了大部分文字。",
    wrong=[
        Wrong(lambda c, p: _coverage(c, p, strict=True), "“覆盖 ≥ p”包含正好等于 p 的情况：用 >=，不是 >。"),
        Wrong(lambda c, p: _coverage(c, p, ascending=True), "从最常见的字开始累加：counter.most_common() 已经按次数从多到少排好了。"),
        Wrong(lambda c, p: _coverage(c, p) - 1, "返回的是用了几个字（从 1 数），不是最后一个字的下标（从 0 数）。"),
    ],
))


# ------------------------------------------------------------------------------ 1.5 编号变了吗
def _changed(old_word2id, new_counter):
    new = vocab_from_counter(new_counter)["word2id"]
    return [t for t, i in sorted(old_word2id.items(), key=lambda kv: kv[1]) if new.get(t) != i]


def _only_missing(old_word2id, new_counter):
    new = vocab_from_counter(new_counter)["word2id"]
    return [t for t, i in sorted(old_word2id.items(), key=lambda kv: kv[1]) if t not in new]


def _new_tokens(old_word2id, new_counter):
    new = vocab_from_counter(new_counter)["word2id"]
    return [t for t, i in sorted(new.items(), key=lambda kv: kv[1]) if old_word2id.get(t) != i]


register(Exercise(
    id="1.5", stars=3, title="加了新数据，旧模型还能用吗：哪些编号变了", name="ids_changed",
    task=r"""
模型只认编号：第 5 行嵌入向量学的是“编号 5 的字”。用新数据**重建**词表后，哪些旧 token 的编号变了
（或者根本不在新词表里了）？这些字在旧模型眼里都成了别的字。

- 输入：`old_word2id`（旧词表，字符 → 编号），`new_counter`（新数据的字符计数）
- 输出：列表，旧词表里编号变了或消失了的 token，按旧编号从小到大；没有就返回 `[]`
- 新词表按练习 1.2 的规则建（可以直接用 `vocab_from_counter(new_counter)["word2id"]`）

想一想：只加一个新字，为什么会有这么多字的编号一起变？
""",
    where="`minigpt/build_vocab.py` 的 `build_vocab`（覆盖 vocab.json 时会提示编号是否变了）",
    stub='''
from minigpt.build_vocab import vocab_from_counter
from minigpt.exercises import check, hint


def ids_changed(old_word2id, new_counter):
    """返回旧词表里编号变了或消失了的 token（按旧编号排序）。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=_changed,
    cases=[
        Case("新数据多了一个“们”（码位排在“你”前面）",
             lambda: (vocab_from_counter(Counter("你好吗？"))["word2id"], Counter("你们好吗？"))),
        Case("新数据少了“吗”", lambda: (vocab_from_counter(Counter("你好吗？"))["word2id"], Counter("你好？"))),
        Case("数据一样，只是次数不同", lambda: (vocab_from_counter(Counter("你好吗？"))["word2id"], Counter("你你好好吗？"))),
        Case("新字排在最后（码位最大）：旧编号都不变", lambda: (vocab_from_counter(Counter("你好吗"))["word2id"], Counter("你好吗？"))),
    ],
    hints=["旧模型只认编号。用新数据重建词表，再逐个看旧词表里的 token：它在新词表里的编号还和原来一样吗？",
           "新词表用 vocab_from_counter(new_counter)['word2id']；查不到的 token 用 dict.get 得到 None，也算“变了”。结果按旧编号排序。",
           "new = vocab_from_counter(new_counter)['word2id']；[t for t in sorted(old_word2id, key=old_word2id.get) if new.get(t) != old_word2id[t]]。"],
    patterns=("order",),
    proved="你看到了为什么换数据必须重新训练：一个新字插进排序里，它后面所有字的编号都跟着变。",
    wrong=[
        Wrong(_only_missing, "不只是消失的字：还在新词表里、但编号变了的字也算（新字插进排序后，后面的编号都会后移）。"),
        Wrong(_new_tokens, "要列的是旧词表里的 token（旧模型认识的那些），不是新词表里的。"),
    ],
))
