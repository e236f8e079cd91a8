"""第 4 章练习的参考答案。先自己做，卡住了再看。"""
import torch


# 4.1 输入和目标错开一位
def shift(tokens):
    input_ids = torch.tensor(tokens[:-1])  # 位置 i 读到 tokens[i]……
    targets = torch.tensor(tokens[1:])  # ……要预测 tokens[i+1]
    return input_ids, targets


# 4.2 只在答案上算损失
def make_item(question, answer, tokenizer):
    tokens, _ = tokenizer.encode(question, answer, pad_to_max_length=False)  # 问题 <sep> 答案 <sep>
    input_ids, targets = tokens[:-1], tokens[1:]
    n = len(question)  # targets[:n] 预测的是问题的第 2 个字……问题后的 <sep>
    targets = [tokenizer.pad_token_id] * n + targets[n:]  # 从输入是 <sep> 的位置起才计损失
    return {
        "input_ids": torch.tensor(input_ids),
        "attention_mask": torch.ones(len(input_ids), dtype=torch.long),
        "targets": torch.tensor(targets),
    }


# 4.3 collate：每批只填充到最长的那条
def collate(items, pad_token_id=0):
    width = max(len(item["input_ids"]) for item in items)
    batch = {}
    for key in items[0]:
        fill = 0 if key == "attention_mask" else pad_token_id
        out = torch.full((len(items), width), fill, dtype=torch.long)  # (B, T_max)
        for row, item in enumerate(items):
            out[row, : len(item[key])] = item[key]  # 真实内容在左，填充在右
        batch[key] = out
    return batch


# 4.4 预测：随机成批、按批补齐时填充占多少（32 条里总有偏长的：1 − 26/42 ≈ 0.38）
my_guess = 0.4


# 4.5 填充浪费了多少
def padding_waste(lengths, batches, width=None):
    total = real = 0
    for batch in batches:
        rows = [lengths[i] for i in batch]
        w = width if width is not None else max(rows)  # 这一批的宽度
        total += w * len(rows)
        real += sum(rows)
    return 1 - real / total
