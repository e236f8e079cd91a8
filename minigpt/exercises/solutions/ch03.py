"""第 3 章练习的参考答案。先自己做，卡住了再看。"""
import json
import random


# 3.1 打乱再切分
def split_lines(lines, train_ratio, seed):
    data = list(lines)  # 复制一份：不改动调用者的列表
    random.Random(seed).shuffle(data)  # 与 random.seed(seed); random.shuffle(data) 相同，但不动全局随机数
    n_train = int(len(data) * train_ratio)  # 向下取整
    return data[:n_train], data[n_train:]


# 3.2 预测：按行划分后，验证集里有多少题在训练集有同一道题的另一种问法（每件事问好几遍：几乎全部）
my_guess = 0.95


# 3.3 验证集里有多少题的成语在训练集见过
def seen_share(train_groups, val_groups):
    seen = set(train_groups)  # 集合：查找是 O(1)
    return sum(group in seen for group in val_groups) / len(val_groups)


# 3.4 按成语分组划分
def split_by_idiom(lines, train_ratio, seed):
    groups = {}  # 成语 → 它的行；dict 记得插入顺序：成语按第一次出现的顺序
    for line in lines:
        groups.setdefault(json.loads(line)["idiom"], []).append(line)
    idioms = list(groups)
    rng = random.Random(seed)
    rng.shuffle(idioms)
    n_train = int(len(idioms) * train_ratio)  # 按成语的个数切，不是按行数
    train = [line for idiom in idioms[:n_train] for line in groups[idiom]]
    val = [line for idiom in idioms[n_train:] for line in groups[idiom]]
    rng.shuffle(train)  # 同一个 rng 接着打乱两边，同一个成语的题就不会挨在一起
    rng.shuffle(val)
    return train, val
