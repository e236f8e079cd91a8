"""第 1 章练习的参考答案。先自己做，卡住了再看。"""
from collections import Counter

from minigpt.build_vocab import vocab_from_counter


# 1.1 数一数每个字出现了几次
def count_chars(pairs):
    counter = Counter()
    for question, answer in pairs:
        counter.update(question)  # 字符串按字迭代：每个字计数一次
        counter.update(answer)
    return counter


# 1.2 建 word2id
def build_word2id(counter):
    word2id = {"<pad>": 0, "<unk>": 1, "<sep>": 2}  # 特殊 token 先编号
    for ch in sorted(counter):  # 按 Unicode 码位排序：同样的数据永远得到同样的编号
        word2id[ch] = len(word2id)
    return word2id


# 1.3 预测：排第 1 的字是排第 100 的字的几倍（纯 Zipf 是 100 倍；这份数据的问法高度重复，实际约 21 倍）
my_guess = 21


# 1.4 最常见的多少个字覆盖比例 p
def chars_for_coverage(counter, p):
    total = sum(counter.values())
    covered = 0
    for n, (_, count) in enumerate(counter.most_common(), start=1):  # 从最常见的字开始
        covered += count
        if covered / total >= p:
            return n
    return len(counter)


# 1.5 重建词表后哪些编号变了
def ids_changed(old_word2id, new_counter):
    new_word2id = vocab_from_counter(new_counter)["word2id"]
    by_old_id = sorted(old_word2id, key=old_word2id.get)  # 按旧编号从小到大
    return [token for token in by_old_id if new_word2id.get(token) != old_word2id[token]]
