"""第 3 章练习的参考答案。先自己做，卡住了再看。"""
import random


# 3.1 打乱再切分
def split_lines(lines, train_ratio, seed):
    data = list(lines)  # 复制一份：不改动调用者的列表
    random.Random(seed).shuffle(data)  # 与 random.seed(seed); random.shuffle(data) 相同，但不动全局随机数
    n_train = int(len(data) * train_ratio)  # 向下取整
    return data[:n_train], data[n_train:]


# 3.2 验证集里有多少题的成语在训练集见过
def seen_share(train_groups, val_groups):
    seen = set(train_groups)  # 集合：查找是 O(1)
    return sum(group in seen for group in val_groups) / len(val_groups)


# 3.3 按成语分组划分
def split_by_group(lines, groups, train_ratio, seed):
    idioms = list(dict.fromkeys(groups))  # 不同的成语，按第一次出现的顺序
    random.Random(seed).shuffle(idioms)
    train_idioms = set(idioms[: int(len(idioms) * train_ratio)])
    train = [line for line, g in zip(lines, groups) if g in train_idioms]  # 行保持原来的顺序
    val = [line for line, g in zip(lines, groups) if g not in train_idioms]
    return train, val
