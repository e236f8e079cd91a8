"""第 10 章练习：只学答案时学多少（预测）、打包成定长的块、知识增强的短文、MFU。

期望值由课程包算出：预测题的真实值用 minigpt/qa_dataset.py 的 QADataset（answer_only_loss）在 data/data.jsonl 上现算；
打包用 minigpt/pretrain.py 的 pack。知识增强没有唯一的正确答案，判题检查每个用例上的几条性质（harness）。
"""
import contextlib
import io
import random
import tempfile
from pathlib import Path

import torch

from minigpt.build_vocab import count_chars, vocab_from_counter, vocab_json
from minigpt.exercises.core import Case, Exercise, Wrong, register
from minigpt.pretrain import pack
from minigpt.qa_dataset import QADataset
from minigpt.tokenizer import Tokenizer

DATA = Path(__file__).resolve().parents[2] / "data"


# ------------------------------------------------------------------------------ 10.1 知识增强
PROPERTIES = ("返回 k 篇文档（list[str]）", "k 篇各不相同", "每篇都写出每个事实（名称和内容）",
              "每篇点名成语至少 len(facts) 次", "事实的先后顺序在各篇之间有变化", "同一个种子给出同样的结果")
PROPERTY_HINTS = (
    "要返回一个 list，里面是 k 个字符串（每篇一个）。",
    "k 篇要各不相同：同一句话读 k 遍，和只读一遍差不多；换顺序、换句式，写出不同的短文。",
    "每篇都要写出每个事实：事实的名称（如“读音”）和内容都要出现在这一篇里。",
    "每一句都要点名成语（不要用“它”“这个成语”代替）：一个事实所在的句子里没有成语的名字，模型就没法把事实和成语联系起来。",
    "事实的先后顺序要在各篇之间变化：顺序总一样，模型就可能只记住“读音后面跟着意思”这条链，而不是每个事实本身。"
    "只用 rng.shuffle 的话，篇数少时可能碰巧每篇都一样：要保证有变化，比如第 i 篇从第 i 个事实开始。",
    "随机性只能来自参数 rng（rng.shuffle、rng.choice）：用 random 模块的全局函数，同样的种子会得到不同的语料，实验就没法重现。",
)


def _name_count(doc, word, facts):
    return doc.count(word) - sum(value.count(word) for value in facts.values())  # 事实内容里自带的成语不算点名


def _order(doc, facts):
    return tuple(sorted(facts, key=lambda key: doc.find(facts[key])))


def _properties(fn, word, facts, k, seed):
    """用 random.Random(seed) 调用 fn 两次，检查 PROPERTIES 里的每一条；返回 {性质: 是否成立}。"""
    docs = fn(word, dict(facts), k, random.Random(seed))
    again = fn(word, dict(facts), k, random.Random(seed))
    if not (isinstance(docs, list) and len(docs) == k and all(isinstance(d, str) for d in docs)):
        return dict.fromkeys(PROPERTIES, False)
    checks = (True, len(set(docs)) == k,
              all(key in d and value in d for d in docs for key, value in facts.items()),
              all(_name_count(d, word, facts) >= len(facts) for d in docs),
              k < 2 or len(facts) < 2 or len({_order(d, facts) for d in docs}) > 1,
              docs == again)
    return dict(zip(PROPERTIES, checks))


def _explain_property(args, got):
    """没对上已知的错误写法时：说第一条不成立的性质为什么要紧。"""
    if not isinstance(got, dict):
        return None
    return next((h for p, h in zip(PROPERTIES, PROPERTY_HINTS) if got.get(p) is False), None)


FRAMES = ("{w}的{key}是{value}。", "说到{w}，{key}是{value}。", "{w}这个成语，{key}：{value}。", "关于“{w}”的{key}：{value}。")


def _augment(word, facts, k, rng, *, bug=None):
    """参考写法：第 i 篇从第 i 个事实开始（顺序一定有变化），句式随机选，重复的就重抽；bug 打开一种错误写法。"""
    keys, docs = list(facts), []
    pick = random if bug == "global_random" else rng
    for _ in range(100 * k):
        start = 0 if bug == "fixed_order" else len(docs) % len(keys)
        order = keys[start:] + keys[:start]
        if bug == "drop_fact":
            order = order[:-1]
        frames = [pick.choice(FRAMES) for _ in order]
        doc = "".join(f.format(w=word if i == 0 or bug != "pronoun" else "它", key=key, value=facts[key])
                      for i, (f, key) in enumerate(zip(frames, order)))
        if bug == "same_doc":
            return [doc] * k
        if doc not in docs:
            docs.append(doc)
            if len(docs) == k:
                break
    return docs


def _augment_bug(bug):
    return lambda word, facts, k, rng: _augment(word, facts, k, rng, bug=bug)


MEANINGS = {"画蛇添足": "比喻做了多余的事，非但无益，反而不合适。", "守株待兔": "比喻死守狭隘经验，不知变通。",
            "一丝不苟": "形容办事认真，连最细微的地方也不马虎。", "亡羊补牢": "比喻出了问题以后想办法补救，可以防止继续受损失。"}

register(Exercise(
    id="10.1", stars=2, title="知识增强：同样的事实，换着写法说几遍", name="augment",
    task=r"""
Allen-Zhu 和 Li（2023，*Physics of Language Models*, Part 3.1）发现：一个事实在预训练里只用一种写法读过，模型能背出原文，
微调以后却问不出来；同样的事实换着顺序和句式读过几遍（**知识增强**），才问得出来。写一个知识增强的函数
（和 `minigpt/corpus.py` 的写法不同：这里事实的名称由调用者给出）：

- 输入：`word`（成语），`facts`（dict，事实的名称 → 内容，如 `{"读音": "huà shé tiān zú", "意思": "比喻做了多余的事……"}`），
  `k`（要几篇），`rng`（`random.Random`：**唯一**的随机来源）
- 输出：`list[str]`，k 篇**各不相同**的短文。每篇写出每个事实（名称和内容都出现），**每一句都点名成语**
  （所以每篇里成语至少出现 `len(facts)` 次），k ≥ 2 且事实不止一个时，各篇里事实的先后顺序不能全都一样
- 句式自己定，至少准备 4 种，例如 `"{w}的{key}是{value}。"`、`"说到{w}，{key}是{value}。"`

判题不比较文字，而是在很多用例上检查这些性质，并用同一个种子调用两次，结果要完全相同。
""",
    where="`minigpt/corpus.py` 的 `entry_text`（augmented 写法：换顺序、换句式、换称呼，随机数的种子是成语本身）",
    stub='''
import random

from minigpt.exercises import check, hint


def augment(word, facts, k, rng):
    """k 篇各不相同的短文：每篇写出每个事实、每句都点名成语，顺序在各篇之间变化；随机只用 rng。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=_augment,
    harness=_properties,
    cases=[
        Case("两个事实，3 篇", lambda: ("画蛇添足", {"读音": "huà shé tiān zú", "意思": MEANINGS["画蛇添足"]}, 3, 0)),
        Case("三个事实，5 篇，另一个种子", lambda: ("守株待兔", {"读音": "shǒu zhū dài tù", "意思": MEANINGS["守株待兔"],
                                                     "出处": "《韩非子·五蠹》。"}, 5, 7)),
        Case("两个事实，只要 2 篇", lambda: ("一丝不苟", {"意思": MEANINGS["一丝不苟"], "读音": "yī sī bù gǒu"}, 2, 3)),
        Case("只有一个事实，3 篇", lambda: ("亡羊补牢", {"意思": MEANINGS["亡羊补牢"]}, 3, 11)),
        Case("只要 1 篇", lambda: ("画蛇添足", {"读音": "huà shé tiān zú", "接龙": "足智多谋"}, 1, 5)),
        Case("四个事实，4 篇；释义里自己也提到了成语", lambda: (
            "守株待兔", {"读音": "shǒu zhū dài tù", "意思": "等着守株待兔的人，比喻不知变通。", "近义词": "刻舟求剑",
                       "反义词": "随机应变"}, 4, 42)),
        Case("两个事实，4 篇，又一个种子", lambda: ("亡羊补牢", {"读音": "wáng yáng bǔ láo", "接龙": "牢不可破"}, 4, 2026)),
    ],
    hints=["先写好 4 种句式（模板），每篇：决定事实的先后顺序，再给每个事实挑一个句式，把成语、事实名称和内容填进去，拼成一篇。",
           "顺序：第 i 篇从第 i % len(facts) 个事实开始转一圈（或者 rng.shuffle，但要保证不是每篇都一样）；"
           "句式：rng.choice(模板)。拼出来的短文如果已经有了，就重抽，直到凑够 k 篇。",
           "keys = list(facts)；docs = []；while len(docs) < k：s = len(docs) % len(keys)；order = keys[s:] + keys[:s]；"
           "doc = \"\".join(rng.choice(FRAMES).format(w=word, key=key, value=facts[key]) for key in order)；"
           "if doc not in docs: docs.append(doc)。"],
    explain=_explain_property,
    proved=("你的知识增强满足论文要求的几条：每个事实都和成语的名字写在同一句里，顺序和句式在变，k 篇各不相同，"
            "而且同一个种子总能重现同一份语料。Allen-Zhu & Li 发现，这样读过的事实，微调以后才能被问出来；"
            "只用一种固定写法读过的，模型记住了原文，却不会在提问时把它取出来。"),
    wrong=[
        Wrong(_augment_bug("same_doc"), "k 篇一模一样：同一句话读 k 遍，和只读一遍一样，只是固定写法。要换顺序、换句式写出不同的短文。"),
        Wrong(_augment_bug("fixed_order"), "只换了句式，事实的顺序每篇都一样：模型可能只记住“这个事实后面跟着那个事实”的文字链，"
                                           "而不是每个事实本身。让各篇从不同的事实开始（只靠 rng.shuffle，篇数少时也可能碰巧每篇都一样）。"),
        Wrong(_augment_bug("pronoun"), "只有第一句点了成语的名字，后面用“它”：那些句子里的事实，模型没法和成语联系起来"
                                       "（论文里把人名换成代词，知识就问不出来了）。每一句都写出成语。"),
        Wrong(_augment_bug("drop_fact"), "每篇都漏了一个事实：增强是把同样的全部事实换着写法说，每篇都要写出每个事实。"),
        Wrong(_augment_bug("global_random"), PROPERTY_HINTS[-1]),
    ],
))


# ------------------------------------------------------------------------------ 10.2 打包
def _stream(docs, eos_id, *, lead=True, after_last=True, sep=True):
    out = [eos_id] if lead else []
    for i, doc in enumerate(docs):
        out += doc
        if sep and (after_last or i < len(docs) - 1):
            out.append(eos_id)
    return out


def _rows(stream, block_size, *, stride=None, pad=None):
    """把流切成 (N, block_size + 1) 的行：stride 是相邻两行起点的距离；pad 不为 None 时，最后凑不满的一行用它补齐。"""
    stride, width = stride or block_size, block_size + 1
    starts = range(0, len(stream) - width + 1, stride)
    rows = [stream[s:s + width] for s in starts]
    nxt = len(rows) * stride
    if pad is not None and nxt < len(stream) - 1:
        rows.append(stream[nxt:] + [pad] * (width - len(stream) + nxt))
    return torch.tensor(rows, dtype=torch.long).reshape(-1, width)


def _pack_bug(bug):
    def packed(docs, block_size, eos_id):
        stream = _stream(docs, eos_id, lead=bug not in ("no_lead", "no_sep"), after_last=bug != "no_last", sep=bug != "no_sep")
        return _rows(stream, block_size, stride=block_size + 1 if bug == "stride" else None,
                     pad=eos_id if bug == "pad_tail" else None)
    return packed


def _explain_rows(args, got):
    """行数或行宽不对、又不像已知的错误写法时：多出的一行多半是补齐的尾巴，窄一列多半是没留出错开的那一位。"""
    docs, block_size, eos_id = args
    if not isinstance(got, torch.Tensor) or got.dim() != 2:
        return None
    if got.shape[1] == block_size:
        return "每行要 block_size + 1 个 token：输入是 row[:-1]、目标是 row[1:]，错开一位正好多要一个。"
    if got.shape[1] == block_size + 1 and got.shape[0] == len(pack(docs, block_size, eos_id)) + 1:
        return "多出了一行：最后凑不满 block_size + 1 个 token 的部分要丢掉，不要补齐。"
    return None


def _random_docs(n, seed, vocab=50):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, 12, (n,), generator=g).tolist()
    return [torch.randint(3, vocab, (k,), generator=g).tolist() for k in lengths]


register(Exercise(
    id="10.2", stars=2, title="打包：把文档接成一条流，切成定长的块", name="pack",
    task=r"""
预训练不用填充：把所有文档接成一条长长的 token 流，每篇前后用文档结束符隔开，再切成一样长的块。

- 流：`[eos] + 文档1 + [eos] + 文档2 + [eos] + … + 最后一篇 + [eos]`（开头也有一个 eos）
- 第 i 行是流的第 `i*block_size` 到 `(i+1)*block_size` 个 token（**两端都含**，共 `block_size + 1` 个）：
  输入是 `row[:-1]`，目标是 `row[1:]`，所以相邻两行共用一个 token，流里除了第一个 token，每个都正好当一次目标
- 最后凑不满 `block_size + 1` 个的部分丢掉（不填充）

- 输入：`docs`（`list[list[int]]`，每篇文档的 token 编号），`block_size`（int），`eos_id`（int）
- 输出：`torch.long` 的张量，形状 `(N, block_size + 1)`
""",
    where="`minigpt/pretrain.py` 的 `pack`（本节下面才展示）",
    stub='''
import torch

from minigpt.exercises import check, hint


def pack(docs, block_size, eos_id):
    """[eos] 文档1 [eos] 文档2 [eos] … 切成 (N, block_size + 1) 的 LongTensor，相邻两行共用一个 token。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=pack,
    cases=[
        Case("两篇短文，最后的 eos 凑不满一行、被丢掉", lambda: ([[5, 6, 7], [8, 9]], 3, 2)),
        Case("一篇长文档跨了好几行", lambda: ([[10, 11, 12, 13, 14, 15, 16]], 2, 0)),
        Case("正好切完：流长 = 3 × 4 + 1", lambda: ([[3, 4, 5], [6, 7, 8, 9], [10, 11]], 4, 1)),
        Case("block_size = 1：每行只有一个输入、一个目标", lambda: ([[21, 22], [23]], 1, 7)),
        Case("20 篇随机长度的文档，block_size = 8", lambda: (_random_docs(20, seed=1), 8, 2)),
        Case("另一种文档结束符和块长：30 篇，block_size = 13", lambda: (_random_docs(30, seed=2), 13, 99)),
    ],
    hints=["先把流接出来（一个 list），再按行切。N 行需要 N * block_size + 1 个 token：最后一行的最后一个 token 之后不再需要别的。",
           "流：stream = [eos_id]，对每篇 doc：stream += doc + [eos_id]。行数 n = (len(stream) - 1) // block_size；"
           "第 i 行是 stream[i * block_size : i * block_size + block_size + 1]。",
           "data = torch.tensor(stream[: n * block_size + 1])；return data.unfold(0, block_size + 1, block_size)"
           "（或者 torch.stack / torch.tensor 把每一行的切片叠起来）。"],
    explain=_explain_rows,
    proved=("你的打包与 minigpt/pretrain.py 的 pack 一致：没有一个填充位置，流里每个 token（除了第一个）都正好当一次目标，"
            "文档结束符告诉模型“前面那篇说完了”。"),
    wrong=[
        Wrong(_pack_bug("stride"), "相邻两行要共用一个 token：第 i 行从 i * block_size 开始，不是 i * (block_size + 1)。"
                                   "不共用的话，每行最后一个 token 只当目标、下一行又从它之后开始，它后面那个 token 就从来不当目标。"),
        Wrong(_pack_bug("no_lead"), "流的开头也要放一个 eos：第一篇文档的第一个字也要在 eos 之后被预测，和其它文档一样。"),
        Wrong(_pack_bug("pad_tail"), "最后凑不满一行的部分丢掉，不要填充：预训练的数据里没有填充位置，每个目标都是真的下一个 token。"),
        Wrong(_pack_bug("no_last"), "最后一篇文档后面也要加 eos：每篇文档都以 eos 结尾，模型才学得会在哪里说完。"),
        Wrong(_pack_bug("no_sep"), "文档之间要用 eos 隔开：直接接在一起，模型会以为下一篇是上一篇的续写，也学不会一篇在哪里结束。"),
    ],
))


# ------------------------------------------------------------------------------ 10.3 预测：只学答案时，目标占多少
def _answer_share(data=DATA / "data.jsonl"):
    """--answer-only-loss 时要学的目标数 ÷ 每个位置都学时的目标数（全部问答对加起来）。
    字表按 build_vocab.py 的规则从 data 现建（和 data/vocab.json 相同，但不依赖那个文件已经生成）。"""
    with contextlib.redirect_stdout(io.StringIO()), tempfile.TemporaryDirectory() as tmp:  # QADataset 会打印读了多少行
        vocab = Path(tmp) / "vocab.json"
        vocab.write_text(vocab_json(vocab_from_counter(count_chars(str(data), warn=lambda m: None))), encoding="utf-8")
        tokenizer = Tokenizer(str(vocab))
        ds = QADataset(str(data), tokenizer, 128, pad_to_max_length=False, answer_only_loss=True)
    learned = sum(int((ds[i]["targets"] != tokenizer.pad_token_id).sum()) for i in range(len(ds)))
    return learned / sum(ds.lengths)  # lengths：每个位置都学时的目标数（不填充，没有被忽略的目标）


register(Exercise(
    id="10.3", stars=1, kind="predict", title="预测：微调只学答案，学的是多大一部分", name="my_guess",
    task=r"""
**先别往下运行。** 预训练在**每个位置**都算损失；第 4、6 章的问答微调可以加 `--answer-only-loss`，只学答案。
一个问答对是一条序列 `问题 <sep> 答案 <sep>`，输入和目标错开一位，所以每个位置都学时，除了第一个 token，
每个 token 都当一次目标；只学答案时，目标只剩**答案的 token 和结尾的 <sep>**（问题部分的目标换成 `<pad>`，不算损失）。

对课程数据 `data/data.jsonl` 的全部问答对（字符级分词器，一个字一个 token）：只学答案时的目标数，
占每个位置都学时的目标数的多大比例？写一个 0 到 1 之间的数，误差在 ±0.05 以内算对。
""",
    where="`minigpt/qa_dataset.py` 的 `QADataset.__getitem__`（`answer_only_loss` 那两行）",
    stub='''
from minigpt.exercises import check, hint

my_guess = ...  # 你的预测：只学答案时的目标数 ÷ 每个位置都学时的目标数
''',
    reference=_answer_share,
    cases=[],
    atol=0.05, rtol=0.0,
    hints=["数据里有四种题：问意思、问拼音、接龙、填空。先想每种题的问题和答案各有几个字，哪种题最多。",
           "一条序列的目标：每个位置都学时是 问题字数 + 1 + 答案字数；只学答案时是 答案字数 + 1。"
           "问题大多是“成语“画蛇添足”的意思是什么？”这样十几个字；“意思”题（接近一半）的答案是一整句解释，其余题的答案是 4 个字或一串拼音。",
           "问题平均约 13 个字，答案平均约 12 个字：(12 + 1) ÷ (13 + 12 + 1) ≈ 一半。"],
    proved=("课程的问题平均约 13 个字，答案平均约 12 个字（“意思”题的答案是一整句解释），所以只学答案时，"
            "每一步只有大约一半的位置提供学习信号；预训练的每个位置都是目标，同样的计算学得更多。"
            "微调仍然只学答案是对的：问题是用户写的，模型要学的是怎样回答，而不是怎样提问；"
            "问题的那几个字照样当作输入被读到，只是不再要求模型去预测它们。"),
    wrong=[Wrong(lambda: 1.0, "1.0 是预训练：每个位置都学。只学答案时，问题和它后面 <sep> 的位置都不算损失。"),
           Wrong(lambda: 0.25, "不是每个答案都只有 4 个字：接龙、填空的答案是一个成语，可占数据近一半的“意思”题，答案是一整句解释。")],
))


# ------------------------------------------------------------------------------ 10.4 MFU
def _mfu(tokens_per_s, n_params, peak_flops):
    return 6 * n_params * tokens_per_s / peak_flops


register(Exercise(
    id="10.4", stars=1, title="MFU：训练用上了多少算力", name="mfu",
    task=r"""
**MFU**（model FLOPs utilization）：训练每秒真正用在模型上的浮点运算，占硬件峰值的比例。
一个有 $N$ 个参数的 GPT，每训练一个 token，前向大约要 $2N$ 次浮点运算（每个参数一次乘、一次加），
反向要前向的两倍（对激活求梯度一次、对参数求梯度一次），合计约 $6N$。所以训练 $D$ 个 token 约要 $6ND$ 次浮点运算。

- 输入：`tokens_per_s`（每秒训练多少个 token），`n_params`（参数个数），`peak_flops`（硬件每秒最多多少次浮点运算）
- 输出：float，0 到 1 之间的比例（不是百分数）
""",
    where="本章测速那一节的 MFU 一列；`benchmarks/bench_train.py` 的 MFU（那里把注意力的运算也算了进去）",
    stub='''
from minigpt.exercises import check, hint


def mfu(tokens_per_s, n_params, peak_flops):
    """每秒用在模型上的浮点运算（6 · 参数个数 · token/s）占硬件峰值的比例。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=_mfu,
    cases=[
        Case("390 万参数，6,000 token/s，峰值每秒 2,000 亿次", lambda: (6000, 3.9e6, 2e11)),
        Case("1.24 亿参数（GPT-2 small 的大小），40 万 token/s，峰值 9.89e14（H100 的 bf16 稠密峰值）",
             lambda: (4e5, 124e6, 9.89e14)),
        Case("2,500 万参数，1,200 token/s，峰值每秒 5,000 亿次", lambda: (1200, 25e6, 5e11)),
        Case("70 亿参数，3,000 token/s，峰值 3.12e14", lambda: (3000, 7e9, 3.12e14)),
    ],
    hints=["先算每秒用在模型上的浮点运算：每个 token 要多少次，乘以每秒多少个 token；再除以峰值。",
           "每个 token：前向 2N（一次乘一次加），反向 4N（前向的两倍），合计 6N。",
           "return 6 * n_params * tokens_per_s / peak_flops"],
    proved=("你的 MFU 与本章的一致：每个 token 前向 2N、反向 4N，共 6N 次浮点运算；训练 D 个 token 约 6ND 次。"
            "MFU 低说明时间花在了别处（内存搬运、Python 开销、填充的位置），而不是模型的矩阵乘法上。"),
    wrong=[
        Wrong(lambda t, n, p: 2 * n * t / p, "2N 只是前向：训练还要反向传播，大约是前向的两倍（4N），每个 token 共 6N 次浮点运算。"),
        Wrong(lambda t, n, p: 3 * n * t / p, "每个参数在前向里是一次乘加，算 2 次浮点运算（乘、加各一次）：前向 2N，反向 4N，共 6N。"),
        Wrong(lambda t, n, p: 100 * 6 * n * t / p, "要返回 0 到 1 之间的比例，不是百分数：不要乘 100（显示时再用 :.1%）。"),
        Wrong(lambda t, n, p: p / (6 * n * t), "除反了：MFU = 用在模型上的浮点运算 ÷ 硬件峰值，不会大于 1。"),
    ],
))
