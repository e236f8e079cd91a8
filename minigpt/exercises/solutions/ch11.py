"""第 11 章练习的参考答案。先自己做，卡住了再看。"""
import torch
import torch.nn.functional as F

# 11.1 预测：rank 8 的 LoRA 训练百分之几的参数。每个线性层多出 r·(输入 + 输出) 个：
# 8·(256+768) + 8·(256+256) + 8·(256+1024) + 8·(1024+256) = 32,768 个一层，4 层 131,072 个，÷ 约 390 万。
my_percent = 3.4


# 11.2 LoRA 的前向
def lora_forward(x, W, A, B, alpha, rank):
    return x @ W.T + (alpha / rank) * (x @ A.T @ B.T)  # 修正先降到 rank 维，再升到 out 维


# 11.3 合并
def merge_weight(W, A, B, alpha, rank):
    return W + (alpha / rank) * (B @ A)  # (out, rank) @ (rank, in) = (out, in)


# 11.4 DPO 的损失
def dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta):
    z = beta * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected))  # (B,)：隐式奖励之差
    return -F.logsigmoid(z).mean()


# 11.5 回答的对数概率
def sequence_logprob(logits, targets, answer_mask):
    logp = logits.log_softmax(-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (B, T)
    return (logp * answer_mask).sum(-1)


# 11.6 预测：DPO 第一步的损失。策略就是参考模型，z = 0，−log σ(0) = ln 2。
my_loss = 0.693


# 11.7 组内优势
def group_advantages(rewards, eps):
    centered = rewards - rewards.mean(dim=1, keepdim=True)
    if rewards.shape[1] == 1:
        return centered  # 一个回答：没有可比的，全是 0
    return centered / (rewards.std(dim=1, keepdim=True) + eps)


# 11.8 k3 KL
def k3_kl(logp, ref_logp):
    d = ref_logp - logp
    return torch.exp(d) - d - 1


# 11.9 截断的比值目标
def clipped_objective(ratio, adv, eps):
    A = adv[:, None]  # (N, 1)
    return torch.min(ratio * A, ratio.clamp(1 - eps, 1 + eps) * A)
