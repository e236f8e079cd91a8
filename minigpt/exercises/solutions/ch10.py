"""第 10 章练习的参考答案。先自己做，卡住了再看。"""
import torch

# 10.3 预测：只学答案时的目标数 ÷ 每个位置都学时的目标数。问题平均约 13 个字，答案约 12 个字
# （“意思”题的答案是一整句解释）：(12 + 1) ÷ (13 + 1 + 12) ≈ 一半。
my_guess = 0.5


# 10.2 打包：[eos] 文档1 [eos] 文档2 [eos] …，相邻两行共用一个 token，凑不满的尾巴丢掉
def pack(docs, block_size, eos_id):
    stream = [eos_id]
    for doc in docs:
        stream += doc + [eos_id]
    n = (len(stream) - 1) // block_size  # N 行要 N * block_size + 1 个 token
    data = torch.tensor(stream[: n * block_size + 1], dtype=torch.long)
    return data.unfold(0, block_size + 1, block_size)  # (N, block_size + 1)


# 10.1 知识增强：每句都点名成语；第 i 篇从第 i 个事实开始，顺序一定有变化；句式随机，重复的重抽
def augment(word, facts, k, rng):
    frames = ("{w}的{key}是{value}。", "说到{w}，{key}是{value}。", "{w}这个成语，{key}：{value}。",
              "关于“{w}”的{key}：{value}。", "{w}，{key}为{value}。")
    keys, docs = list(facts), []
    while len(docs) < k:
        start = len(docs) % len(keys)
        order = keys[start:] + keys[:start]
        doc = "".join(rng.choice(frames).format(w=word, key=key, value=facts[key]) for key in order)
        if doc not in docs:
            docs.append(doc)
    return docs


# 10.4 MFU：每个 token 前向 2N、反向 4N，共 6N 次浮点运算
def mfu(tokens_per_s, n_params, peak_flops):
    return 6 * n_params * tokens_per_s / peak_flops
