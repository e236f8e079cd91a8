"""第 6 章练习的参考答案。先自己做，卡住了再看。"""
import math

import torch
import torch.nn.functional as F


# 6.1 损失只算在目标不是 <pad> 的位置
def masked_loss(logits, targets, pad_token_id):
    B, T, V = logits.shape
    return F.cross_entropy(logits.reshape(B * T, V), targets.reshape(B * T), ignore_index=pad_token_id)


# 6.2 预热 + 余弦退火
def my_lr_at(step, max_lr, warmup_steps, total_steps, min_lr_ratio=0.1):
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps  # 线性预热：第 0 步就不是 0
    progress = min(1.0, (step - warmup_steps) / (total_steps - warmup_steps))  # 0 → 1，之后停在 1
    min_lr = max_lr * min_lr_ratio
    return min_lr + 0.5 * (max_lr - min_lr) * (1 + math.cos(math.pi * progress))


# 6.3 精确匹配
def exact_match(preds, refs):
    return sum(p == r for p, r in zip(preds, refs)) / len(refs)  # 一字不差才算 1


# 6.4 预测：AdamW 的状态（exp_avg、exp_avg_sq 各一个 float32）：约 390 万参数 × 8 字节 ≈ 30 MiB
my_guess = 30


# 6.5 修好的训练步：zero_grad → backward → step
def my_train_step(model, optimizer, input_ids, targets):
    logits = model(input_ids)  # (B, T, V)
    loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=0)
    optimizer.zero_grad()  # 先清掉上一步的梯度（PyTorch 的梯度是累加的）
    loss.backward()  # 再算这一步的梯度
    optimizer.step()  # 最后用它更新参数
    return loss.item()
