"""第 2 章练习：编码（含 <unk>）、解码（跳过 <pad>）、编码一对问答、预测固定填充浪费多少、选 max_length、
保住 <sep> 的截断。

期望值由 minigpt/tokenizer.py 的 Tokenizer 算出；词表是 samples.py 里几对问答建的小词表。
预测题（2.4）读仓库里的 data/data.jsonl。
"""
import math
import random
from pathlib import Path

from minigpt.exercises.core import Case, Exercise, Wrong, register
from minigpt.exercises.samples import tokenizer, word2id
from minigpt.jsonl import read_qa_jsonl
from minigpt.tokenizer import Tokenizer

DATA = Path(__file__).resolve().parents[2] / "data" / "data.jsonl"

_tok = Tokenizer.from_word2id  # 词表 → 课程包的 Tokenizer（参考实现）


# ------------------------------------------------------------------------------ 2.1 encode_text
def _skip_unknown(text, vocab):
    return [vocab[ch] for ch in text if ch in vocab]


def _unknown_as_pad(text, vocab):
    return [vocab.get(ch, vocab["<pad>"]) for ch in text]


def _strict(text, vocab):
    return [vocab[ch] for ch in text]


register(Exercise(
    id="2.1", stars=1, title="编码文字：词表里没有的字变成 <unk>", name="encode_text",
    task=r"""
把一段文字变成编号列表，一个字一个编号。词表里没有的字用 `<unk>` 的编号代替（不要跳过它，也不要报错）。

- 输入：`text`（字符串），`word2id`（字符 → 编号，含 `<pad>`、`<unk>`、`<sep>`）
- 输出：`list[int]`，长度等于 `len(text)`
""",
    where="`minigpt/tokenizer.py` 的 `Tokenizer.encode_text`",
    stub='''
from minigpt.exercises import check, hint


def encode_text(text, word2id):
    """返回 text 每个字的编号（list[int]）；没见过的字用 word2id["<unk>"]。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=lambda text, vocab: _tok(vocab).encode_text(text),
    cases=[
        Case("全是词表里的字：画蛇添足", lambda: ("画蛇添足", word2id())),
        Case("有词表里没有的字：画龙点睛！", lambda: ("画龙点睛！", word2id())),
        Case("看起来像特殊 token 的文字 <sep>（只是 5 个普通字符）", lambda: ("是<sep>", word2id())),
        Case("空字符串", lambda: ("", word2id())),
        Case("首尾有空格、有大写字母：“ Huà shé ”（大写的 H 不在词表里，空格在）", lambda: (" Huà shé ", word2id())),
    ],
    hints=["每个字符变成一个编号，一个也不能少；查不到的字符也占一个位置，用一个特殊 token 的编号代替。",
           "dict.get(键, 默认值) 查不到时返回默认值；默认值是 word2id['<unk>']。不要先 strip() 或 lower()：空格和大小写都是内容。",
           "unk = word2id['<unk>']；return [word2id.get(ch, unk) for ch in text]。"],
    proved="你的编码与 Tokenizer.encode_text 一致：每个字一个编号，没见过的字是 <unk>，文字永远变不成 <sep>。",
    wrong=[
        Wrong(_skip_unknown, "不认识的字不能跳过（长度就对不上了）：用 word2id.get(ch, word2id['<unk>'])。"),
        Wrong(_unknown_as_pad, "不认识的字用 <unk>（编号 1），不是 <pad>（编号 0）：<pad> 会被损失函数忽略。"),
        Wrong(_strict, "词表里没有这个字（KeyError）：用 word2id.get(ch, word2id['<unk>'])，查不到时给 <unk>。"),
        Wrong(lambda text, vocab: [vocab.get(ch, vocab["<unk>"]) for ch in text.strip()],
              "不要 strip()：首尾的空格也是字符，也要编码（长度要等于 len(text)）。"),
        Wrong(lambda text, vocab: [vocab.get(ch, vocab["<unk>"]) for ch in text.lower()],
              "不要 lower()：大写字母和小写字母是不同的字符，词表里没有的大写字母就是 <unk>。"),
    ],
))


# ------------------------------------------------------------------------------ 2.2 decode
def _padded_ids(question, answer, max_length=24):
    ids, _ = tokenizer().encode(question, answer, max_length=max_length)
    return ids


def _stop_at_pad(ids, id2word):
    out = []
    for i in ids:
        if id2word[i] == "<pad>":
            break
        out.append(id2word[i])
    return "".join(out)


def _id2word():
    return {i: t for t, i in word2id().items()}


register(Exercise(
    id="2.2", stars=1, title="解码：跳过 <pad>", name="decode",
    task=r"""
把编号列表变回文字。`<pad>` 只是凑长度用的，解码时跳过；`<sep>`、`<unk>` 照常写出来（和种子一样）。

- 输入：`ids`（`list[int]`），`id2word`（编号 → 字符）
- 输出：字符串
""",
    where="`minigpt/tokenizer.py` 的 `Tokenizer.decode`",
    stub='''
from minigpt.exercises import check, hint


def decode(ids, id2word):
    """返回 ids 对应的文字，跳过 <pad>。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=lambda ids, id2word: _tok({t: i for i, t in id2word.items()}).decode(ids),
    cases=[
        Case("填充到 40 的一对问答", lambda: (_padded_ids("请写出“画蛇添足”的拼音。", "huà shé tiān zú", 40), _id2word())),
        Case("不用填充的提示词（问题 + <sep>）", lambda: (tokenizer().encode("画蛇添足？", None, pad_to_max_length=False)[0], _id2word())),
        Case("有 <unk> 的一对", lambda: (_padded_ids("画龙点睛？", "龙", 12), _id2word())),
        Case("左填充的提示词（批量生成时 <pad> 在前面）",
             lambda: ([0, 0, 0] + tokenizer().encode("画蛇添足？", None, pad_to_max_length=False)[0], _id2word())),
    ],
    hints=["逐个编号查回字符，再拼成一个字符串；只有凑长度用的那个特殊 token 不要。<pad> 可能在末尾，也可能在开头。",
           "id2word[i] 查字符；跳过（而不是遇到就停下）等于 '<pad>' 的那些；\"\".join(…) 拼接，字之间不加空格。",
           "return \"\".join(id2word[i] for i in ids if id2word[i] != '<pad>')。"],
    patterns=("special-token",),
    proved="你的解码与 Tokenizer.decode 一致：<pad> 被跳过，其余原样写出，编码再解码回到原文。",
    wrong=[
        Wrong(lambda ids, id2word: "".join(id2word[i] for i in ids), "<pad> 要跳过：它只是把序列凑到同样长，不是内容。"),
        Wrong(lambda ids, id2word: "".join(id2word[i] for i in ids if id2word[i] not in ("<pad>", "<unk>", "<sep>")),
              "只跳过 <pad>：<sep> 和 <unk> 要照常写出来（<sep> 标出问题和答案的分界）。"),
        Wrong(_stop_at_pad, "遇到 <pad> 不要停下，跳过它接着往后读：批量生成时左填充，<pad> 在最前面。"),
        Wrong(lambda ids, id2word: " ".join(id2word[i] for i in ids if id2word[i] != "<pad>"),
              "字和字之间不加空格：\"\".join(…)。"),
    ],
))


# ------------------------------------------------------------------------------ 2.3 编码一对问答
def _no_final_sep(question, answer, vocab, max_length):
    ids = [vocab.get(c, 1) for c in question] + [vocab["<sep>"]] + [vocab.get(c, 1) for c in answer]
    ids, mask = ids[:max_length], [1] * min(len(ids), max_length)
    return ids + [0] * (max_length - len(ids)), mask + [0] * (max_length - len(mask))


def _mask_all_ones(question, answer, vocab, max_length):
    ids, _ = _tok(vocab).encode(question, answer, max_length)
    return ids, [1] * len(ids)


def _left_padded(question, answer, vocab, max_length):
    ids, _ = _tok(vocab).encode(question, answer, max_length, pad_to_max_length=False)
    ids = ids[:max_length]
    n = max_length - len(ids)
    return [0] * n + ids, [0] * n + [1] * len(ids)


def _not_cut(question, answer, vocab, max_length):
    ids, _ = _tok(vocab).encode(question, answer, max_length, pad_to_max_length=False)
    n = max(0, max_length - len(ids))
    return ids + [0] * n, [1] * len(ids) + [0] * n


register(Exercise(
    id="2.3", stars=2, title="编码一对问答：<sep>、填充和 attention_mask", name="encode_pair",
    task=r"""
按种子的格式编码一对问答：`问题的字 <sep> 答案的字 <sep>`，然后

- 比 `max_length` 短：在右边补 `<pad>` 到 `max_length`，`attention_mask` 真实 token 为 1、填充为 0；
- 比 `max_length` 长：只留前 `max_length` 个（种子的做法）。

输入：`question`、`answer`（字符串），`word2id`，`max_length`。输出：`(ids, attention_mask)`，两个长度都是 `max_length` 的 `list[int]`。
""",
    where="`minigpt/tokenizer.py` 的 `Tokenizer.encode`",
    stub='''
from minigpt.exercises import check, hint


def encode_pair(question, answer, word2id, max_length):
    """返回 (ids, attention_mask)，两个 list[int]，长度都是 max_length。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=lambda q, a, vocab, max_length: tuple(_tok(vocab).encode(q, a, max_length)),
    cases=[
        Case("短的一对，max_length=24", lambda: ("“画蛇添足”是什么？", "足智多谋", word2id(), 24)),
        Case("有 <unk>，max_length=12", lambda: ("画龙点睛？", "龙", word2id(), 12)),
        Case("太长，被截断：max_length=24", lambda: ("成语“画蛇添足”的意思是什么？", "比喻做了多余的事，非但无益，反而不合适。", word2id(), 24)),
        Case("短的一对，max_length=30", lambda: ("一丝一＿？", "一丝一毫", word2id(), 30)),
    ],
    hints=["格式是：问题的字、<sep>、答案的字、<sep>；然后长度统一成 max_length：长了切掉后面，短了在右边补 <pad>。"
           "attention_mask 标出哪些是真实 token（1）、哪些是填充（0）。",
           "编码每个字用练习 2.1 的 word2id.get(ch, unk)；mask 先是 [1] * len(ids)，和 ids 一起切、一起补（补的是 pad 和 0）。",
           "ids = 问题的编号 + [sep] + 答案的编号 + [sep]；mask = [1] * len(ids)；太长就都切到 [:max_length]，太短就补 [pad] 和 [0]。"],
    proved="你的编码与 Tokenizer.encode 逐个编号一致：两个 <sep>、右填充、attention_mask，还有种子那个会切掉结尾 <sep> 的截断。",
    wrong=[
        Wrong(_no_final_sep, "答案后面也要一个 <sep>：模型要学会在那里停下。"),
        Wrong(_mask_all_ones, "attention_mask 在填充的位置是 0：它告诉模型哪些是真实 token。"),
        Wrong(_left_padded, "训练数据在右边填充：真实 token 在前，<pad> 在后。"),
        Wrong(_not_cut, "比 max_length 长时要截断：只留前 max_length 个（和种子一样）。"),
    ],
))


# ------------------------------------------------------------------------------ 2.4 预测：固定填充浪费多少
def _fixed_padding_waste(path=DATA, max_length=128):
    """种子把每一对都填充到 max_length：全部位置里 <pad> 占多少。"""
    lengths = [len(p.question) + len(p.answer) + 2 for p in read_qa_jsonl(path, warn=lambda msg: None)]  # 一字一个 token，两个 <sep>
    return 1 - sum(lengths) / (max_length * len(lengths))


register(Exercise(
    id="2.4", stars=1, kind="predict", title="预测：填充到 128 时，多大比例的位置是 <pad>", name="my_guess",
    task=r"""
**先别运行下面的长度统计。** 种子把每一对问答都填充到 `max_length=128`。一对问答编码后有多长？
想想一道典型的题（“成语“画蛇添足”的意思是什么？”）和它的答案，问题 + 答案 + 2 个 `<sep>` 大约多少个 token。
那么在整个数据集上，全部 128 × 对数 个位置里，`<pad>` 占多大比例（0 到 1 之间）？

把你的预测赋给 `my_guess`，再运行。误差在 ±0.1 以内算对。
""",
    where="`minigpt/tokenizer.py` 的 `Tokenizer.encode`；本节下面的长度统计",
    stub='''
from minigpt.exercises import check, hint

my_guess = ...  # 你的预测：<pad> 占全部位置的比例（0 到 1）
''',
    reference=_fixed_padding_waste,
    cases=[],
    atol=0.1, rtol=0.0,
    hints=["比例 = 1 − 平均长度 ÷ 128：只要估计一对问答平均有多少个 token。",
           "问题大约十几个字，答案从 4 个字（接龙、填空）到二十来个字（释义）不等，再加 2 个 <sep>。",
           "平均长度约 27：1 − 27 / 128 ≈ 0.79。"],
    proved=("这份数据平均每对不到 30 个 token，填充到 128 时约八成的位置是 <pad>：四分之三以上的计算花在了填充上。"
            "第 4 章按批填充、按长度分桶，把这部分省下来。"),
    wrong=[Wrong(lambda: 0.22, "你算的是真实 token 占的比例（平均长度 ÷ 128）；要的是 <pad> 的比例，1 减去它。"),
           Wrong(lambda: 0.0, "种子不截断这份数据，但每一对都补到 128：短的问答对后面全是 <pad>。")],
))


# ------------------------------------------------------------------------------ 2.5 选 max_length
def _lengths(n, seed, outliers):
    rng = random.Random(seed)
    return [max(6, int(rng.gauss(28, 6))) for _ in range(n)] + list(outliers)


def _one_to_hundred(coverage):
    """长度 1..100（打乱），coverage × 100 正好是整数：浮点误差会让 math.ceil 多取一个。"""
    lengths = list(range(1, 101))
    random.Random(int(coverage * 1000)).shuffle(lengths)
    return lengths, coverage


def _pick(lengths, coverage, *, exact=True):
    ordered = sorted(lengths)
    k = coverage * len(ordered)  # 至少要有 k 个序列不被截断
    k = math.ceil(round(k, 9)) if exact else math.ceil(k)  # 0.07 × 100 = 7.000000000000001：先去掉浮点误差再取整
    return ordered[k - 1]


register(Exercise(
    id="2.5", stars=2, title="选 max_length：覆盖 99.9% 的问答对", name="pick_max_length",
    task=r"""
`max_length` 太小，长的问答对被截断（丢掉结尾的 `<sep>`）；太大，填充浪费计算。
找出**最小**的长度 $L$，使至少 `coverage` 比例的序列长度 $\le L$（不被截断）。

- 输入：`lengths`（每对问答编码后的长度，`list[int]`，顺序任意），`coverage`（如 0.999）
- 输出：整数 $L$（它一定是 `lengths` 里的某个值）

用例里有 `coverage × n` 正好是整数的情况（比如 0.07 × 100 = 7）：那时 $L$ 是排序后的第 7 个。
""",
    where="本章“截断”一节的长度统计；`minigpt/tokenizer.py` 的 `Tokenizer.encode(..., pad_to_max_length=False)`",
    stub='''
import math
from minigpt.exercises import check, hint


def pick_max_length(lengths, coverage):
    """返回最小的 L：至少 coverage 比例的长度 ≤ L。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=_pick,
    cases=[
        Case("1,000 对，有 1 对特别长，coverage=0.999（正好 999 对）", lambda: (_lengths(999, 0, [130]), 0.999)),
        Case("1,200 对，有 3 对特别长，coverage=0.999", lambda: (_lengths(1197, 2, [90, 120, 130]), 0.999)),
        Case("1,210 对，coverage=0.95", lambda: (_lengths(1210, 1, []), 0.95)),
        Case("5 对：[3, 9, 4, 7, 5]，coverage=0.5", lambda: ([3, 9, 4, 7, 5], 0.5)),
        *[Case(f"长度 1..100，coverage={c}（{c} × 100 正好是整数）", lambda c=c: _one_to_hundred(c))
          for c in (0.07, 0.14, 0.28, 0.55, 0.56)],
    ],
    hints=["要有 k 个序列不被截断，k 是 coverage × n 向上取整；把长度从小到大排好，L 就是第 k 个。",
           "sorted(lengths)；math.ceil 向上取整，下标从 0 数所以是 k − 1。小心浮点数：0.07 * 100 在 Python 里是 7.000000000000001。",
           "ordered = sorted(lengths)；k = math.ceil(round(coverage * len(ordered), 9))；return ordered[k - 1]。"],
    proved="你会按数据选 max_length：只为极少数特别长的问答对付出填充的代价是不值得的。",
    wrong=[
        Wrong(lambda lengths, coverage: max(lengths), "不用照顾最长的那几对：找最小的 L，使比例 coverage 的序列 ≤ L。"),
        Wrong(lambda lengths, coverage: sorted(lengths)[int(coverage * len(lengths))],
              "下标差了一位：要 k = ⌈coverage × n⌉ 个序列 ≤ L，L 是排序后的第 k 个，下标 k − 1（math.ceil）。"),
        Wrong(lambda lengths, coverage: lengths[math.ceil(round(coverage * len(lengths), 9)) - 1], "先排序（sorted），再按位置取。"),
        Wrong(lambda lengths, coverage: _pick(lengths, coverage, exact=False),
              "浮点误差：0.07 * 100 在 Python 里是 7.000000000000001，math.ceil 得到 8。先 round(coverage * n, 9) 去掉误差，再向上取整。"),
    ],
))


# ------------------------------------------------------------------------------ 2.6 保住结尾 <sep> 的截断
def _keep_sep(question, answer, vocab, max_length):
    tok = _tok(vocab)
    ids, _ = tok.encode(question, answer, max_length, pad_to_max_length=False)
    if len(ids) > max_length:
        ids = ids[: max_length - 1] + [tok.sep_token_id]  # 切掉答案的尾巴，但留下结尾的 <sep>
    n = max_length - len(ids)
    return ids + [tok.pad_token_id] * n, [1] * len(ids) + [0] * n


def _sep_appended(question, answer, vocab, max_length):
    ids, mask = _tok(vocab).encode(question, answer, max_length)
    if ids[-1] not in (vocab["<pad>"], vocab["<sep>"]):
        ids, mask = ids + [vocab["<sep>"]], mask + [1]
    return ids, mask


def _cut_two(question, answer, vocab, max_length):
    ids, mask = _keep_sep(question, answer, vocab, max_length)
    if ids[-1] == vocab["<sep>"] and len(ids) == max_length and mask[-1]:
        ids, mask = ids[:-2] + [vocab["<sep>"], vocab["<pad>"]], mask[:-1] + [0]
    return ids, mask


register(Exercise(
    id="2.6", stars=3, title="截断时保住结尾的 <sep>", name="encode_keep_sep",
    task=r"""
种子截断时直接切掉后面，答案结尾的 `<sep>` 也没了：模型在这样的样本上学不会停下。
写一个更好的编码：和练习 2.3 一样，但序列太长时**切掉答案的尾巴，保留最后的 `<sep>`**——
取前 `max_length - 1` 个 token，再接一个 `<sep>`。不超长时与 2.3 完全相同。

输入、输出与练习 2.3 相同：`(ids, attention_mask)`，长度都是 `max_length`。
""",
    where="`minigpt/tokenizer.py` 的 `Tokenizer.encode`（种子的截断），`QADataset.num_truncated`（数了有多少对被截断）",
    stub='''
from minigpt.exercises import check, hint


def encode_keep_sep(question, answer, word2id, max_length):
    """像 Tokenizer.encode 一样编码，但截断时保留结尾的 <sep>。返回 (ids, attention_mask)。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=_keep_sep,
    cases=[
        Case("太长：max_length=24", lambda: ("成语“画蛇添足”的意思是什么？", "比喻做了多余的事，非但无益，反而不合适。", word2id(), 24)),
        Case("不长：max_length=24（与 2.3 相同）", lambda: ("“画蛇添足”是什么？", "足智多谋", word2id(), 24)),
        Case("正好 max_length 长", lambda: ("画蛇添足？", "足智", word2id(), 9)),
        Case("太长，max_length=10", lambda: ("请写出“画蛇添足”的拼音。", "huà shé tiān zú", word2id(), 10)),
    ],
    hints=["截断只在太长时发生：切掉答案的尾巴，但最后一个位置必须还是 <sep>；不长时和练习 2.3 一模一样。",
           "先不截断地编码出完整序列；太长时取前 max_length − 1 个，再接 word2id['<sep>']；最后和 2.3 一样右填充。",
           "ids = 问题 + [sep] + 答案 + [sep]（各字用 word2id.get(ch, unk)）；if len(ids) > max_length: ids = ids[:max_length - 1] + [sep]；再补 pad 和 mask。"],
    proved="你的截断让每个样本都以 <sep> 结尾：模型在长答案上也能学会在哪里停下。",
    wrong=[
        Wrong(lambda q, a, vocab, n: tuple(_tok(vocab).encode(q, a, n)),
              "这是种子的截断：结尾的 <sep> 被切掉了。太长时取前 max_length − 1 个，再接一个 <sep>。"),
        Wrong(_sep_appended, "序列必须正好 max_length 长：先切到 max_length − 1，再接 <sep>，而不是切完再追加。"),
        Wrong(_cut_two, "切多了一个：前 max_length − 1 个 token + 1 个 <sep>，正好 max_length 个。"),
    ],
))
