"""第 2 章练习的参考答案。先自己做，卡住了再看。"""
import math


# 2.1 编码文字：没见过的字 → <unk>
def encode_text(text, word2id):
    unk = word2id["<unk>"]
    return [word2id.get(ch, unk) for ch in text]  # 查不到就给 <unk>，长度不变


# 2.2 解码：跳过 <pad>
def decode(ids, id2word):
    return "".join(id2word[i] for i in ids if id2word[i] != "<pad>")


# 2.3 编码一对问答（种子的格式）
def encode_pair(question, answer, word2id, max_length):
    unk, sep, pad = word2id["<unk>"], word2id["<sep>"], word2id["<pad>"]
    ids = [word2id.get(ch, unk) for ch in question] + [sep]  # 问题结束，答案开始
    ids += [word2id.get(ch, unk) for ch in answer] + [sep]  # 答案结束：模型学会在这里停
    mask = [1] * len(ids)
    if len(ids) > max_length:
        return ids[:max_length], mask[:max_length]  # 种子：只留开头（结尾的 <sep> 可能被切掉）
    n_pad = max_length - len(ids)
    return ids + [pad] * n_pad, mask + [0] * n_pad


# 2.4 预测：填充到 128 时 <pad> 占多少（平均长度约 27：1 − 27/128 ≈ 0.79）
my_guess = 0.79


# 2.5 选 max_length
def pick_max_length(lengths, coverage):
    ordered = sorted(lengths)
    k = math.ceil(round(coverage * len(ordered), 9))  # 至少要有 k 个序列不被截断；round 去掉 0.07 × 100 = 7.000000000000001 的误差
    return ordered[k - 1]


# 2.6 截断时保住结尾的 <sep>
def encode_keep_sep(question, answer, word2id, max_length):
    unk, sep, pad = word2id["<unk>"], word2id["<sep>"], word2id["<pad>"]
    ids = [word2id.get(ch, unk) for ch in question] + [sep] + [word2id.get(ch, unk) for ch in answer] + [sep]
    if len(ids) > max_length:
        ids = ids[: max_length - 1] + [sep]  # 切掉答案的尾巴，留下结尾的 <sep>
    n_pad = max_length - len(ids)
    return ids + [pad] * n_pad, [1] * len(ids) + [0] * n_pad
