"""第 2 章练习：编码（含 <unk>）、解码（跳过 <pad>）、编码一对问答、选 max_length、保住 <sep> 的截断。

期望值由 minigpt/tokenizer.py 的 Tokenizer 算出；词表是 samples.py 里几对问答建的小词表。
"""
import math
import random

from minigpt.exercises.core import Case, Exercise, Wrong, register
from minigpt.exercises.samples import tokenizer, word2id
from minigpt.tokenizer import Tokenizer

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
from minigpt.exercises import check


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
    ],
    first_hint="unk = word2id['<unk>']；[word2id.get(ch, unk) for ch in text]。",
    proved="你的编码与 Tokenizer.encode_text 一致：每个字一个编号，没见过的字是 <unk>，文字永远变不成 <sep>。",
    wrong=[
        Wrong(_skip_unknown, "不认识的字不能跳过（长度就对不上了）：用 word2id.get(ch, word2id['<unk>'])。"),
        Wrong(_unknown_as_pad, "不认识的字用 <unk>（编号 1），不是 <pad>（编号 0）：<pad> 会被损失函数忽略。"),
        Wrong(_strict, "词表里没有这个字（KeyError）：用 word2id.get(ch, word2id['<unk>'])，查不到时给 <unk>。"),
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
from minigpt.exercises import check


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
    first_hint="pad = 编号 0 的 <pad>；\"\".join(id2word[i] for i in ids if id2word[i] != '<pad>')。",
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
from minigpt.exercises import check


def encode_pair(question, answer, word2id, max_length):
    """返回 (ids, attention_mask)，两个 list[int]，长度都是 max_length。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=lambda q, a, vocab, max_length: tuple(_tok(vocab).encode(q, a, max_length)),
    cases=[
        Case("短的一对，max_length=24", lambda: ("“画蛇添足”是什么？", "足智多谋", word2id(), 24)),
        Case("有 <unk>，max_length=12", lambda: ("画龙点睛？", "龙", word2id(), 12)),
        Case("太长，被截断：max_length=24", lambda: ("成语“画蛇添足”的意思是什么？", "比喻做了多余的事，非但无益，反而不合适。", word2id(), 24)),
    ],
    first_hint="ids = 问题的编号 + [sep] + 答案的编号 + [sep]；mask = [1] * len(ids)；太长就都切到 [:max_length]，太短就补 [pad] 和 [0]。",
    proved="你的编码与 Tokenizer.encode 逐个编号一致：两个 <sep>、右填充、attention_mask，还有种子那个会切掉结尾 <sep> 的截断。",
    wrong=[
        Wrong(_no_final_sep, "答案后面也要一个 <sep>：模型要学会在那里停下。"),
        Wrong(_mask_all_ones, "attention_mask 在填充的位置是 0：它告诉模型哪些是真实 token。"),
        Wrong(_left_padded, "训练数据在右边填充：真实 token 在前，<pad> 在后。"),
        Wrong(_not_cut, "比 max_length 长时要截断：只留前 max_length 个（和种子一样）。"),
    ],
))


# ------------------------------------------------------------------------------ 2.4 选 max_length
def _lengths(n, seed, outliers):
    rng = random.Random(seed)
    return [max(6, int(rng.gauss(28, 6))) for _ in range(n)] + list(outliers)


def _pick(lengths, coverage):
    ordered = sorted(lengths)
    return ordered[math.ceil(coverage * len(ordered)) - 1]  # 至少 coverage 的序列长度 ≤ 它


register(Exercise(
    id="2.4", stars=2, title="选 max_length：覆盖 99.9% 的问答对", name="pick_max_length",
    task=r"""
`max_length` 太小，长的问答对被截断（丢掉结尾的 `<sep>`）；太大，填充浪费计算。
找出**最小**的长度 $L$，使至少 `coverage` 比例的序列长度 $\le L$（不被截断）。

- 输入：`lengths`（每对问答编码后的长度，`list[int]`，顺序任意），`coverage`（如 0.999）
- 输出：整数 $L$（它一定是 `lengths` 里的某个值）
""",
    where="本章“截断”一节的长度统计；`minigpt/tokenizer.py` 的 `Tokenizer.encode(..., pad_to_max_length=False)`",
    stub='''
import math
from minigpt.exercises import check


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
    ],
    first_hint="先排序；要让 k = ⌈coverage × n⌉ 个序列不被截断，L 就是排序后第 k 个（下标 k − 1）。",
    proved="你会按数据选 max_length：只为极少数特别长的问答对付出填充的代价是不值得的。",
    wrong=[
        Wrong(lambda lengths, coverage: max(lengths), "不用照顾最长的那几对：找最小的 L，使比例 coverage 的序列 ≤ L。"),
        Wrong(lambda lengths, coverage: sorted(lengths)[int(coverage * len(lengths))],
              "下标差了一位：要 k = ⌈coverage × n⌉ 个序列 ≤ L，L 是排序后的第 k 个，下标 k − 1（math.ceil）。"),
        Wrong(lambda lengths, coverage: lengths[math.ceil(coverage * len(lengths)) - 1], "先排序（sorted），再按位置取。"),
    ],
))


# ------------------------------------------------------------------------------ 2.5 保住结尾 <sep> 的截断
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
    id="2.5", stars=3, title="截断时保住结尾的 <sep>", name="encode_keep_sep",
    task=r"""
种子截断时直接切掉后面，答案结尾的 `<sep>` 也没了：模型在这样的样本上学不会停下。
写一个更好的编码：和练习 2.3 一样，但序列太长时**切掉答案的尾巴，保留最后的 `<sep>`**——
取前 `max_length - 1` 个 token，再接一个 `<sep>`。不超长时与 2.3 完全相同。

输入、输出与练习 2.3 相同：`(ids, attention_mask)`，长度都是 `max_length`。
""",
    where="`minigpt/tokenizer.py` 的 `Tokenizer.encode`（种子的截断），`QADataset.num_truncated`（数了有多少对被截断）",
    stub='''
from minigpt.exercises import check


def encode_keep_sep(question, answer, word2id, max_length):
    """像 Tokenizer.encode 一样编码，但截断时保留结尾的 <sep>。返回 (ids, attention_mask)。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=_keep_sep,
    cases=[
        Case("太长：max_length=24", lambda: ("成语“画蛇添足”的意思是什么？", "比喻做了多余的事，非但无益，反而不合适。", word2id(), 24)),
        Case("不长：max_length=24（与 2.3 相同）", lambda: ("“画蛇添足”是什么？", "足智多谋", word2id(), 24)),
        Case("正好 max_length 长", lambda: ("画蛇添足？", "足智", word2id(), 9)),
    ],
    first_hint="先不截断地编码（问题 <sep> 答案 <sep>）；如果 len(ids) > max_length：ids = ids[:max_length - 1] + [sep]；然后和 2.3 一样填充。",
    proved="你的截断让每个样本都以 <sep> 结尾：模型在长答案上也能学会在哪里停下。",
    wrong=[
        Wrong(lambda q, a, vocab, n: tuple(_tok(vocab).encode(q, a, n)),
              "这是种子的截断：结尾的 <sep> 被切掉了。太长时取前 max_length − 1 个，再接一个 <sep>。"),
        Wrong(_sep_appended, "序列必须正好 max_length 长：先切到 max_length − 1，再接 <sep>，而不是切完再追加。"),
        Wrong(_cut_two, "切多了一个：前 max_length − 1 个 token + 1 个 <sep>，正好 max_length 个。"),
    ],
))
