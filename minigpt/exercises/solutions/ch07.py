"""第 7 章练习的参考答案。先自己做，卡住了再看。"""
import torch
import torch.nn.functional as F


# 7.1 贪心生成循环
@torch.no_grad()
def greedy_generate(model, prompt, max_new_tokens, stop_id):
    ids = list(prompt)
    new_tokens = []
    for _ in range(max_new_tokens):
        logits = model(torch.tensor([ids]))[0, -1]  # (V,)：最后一个位置 = 对下一个 token 的打分
        token = int(logits.argmax())
        ids.append(token)
        new_tokens.append(token)
        if token == stop_id:
            break
    return new_tokens


# 7.2 温度 + min-p
def temperature_min_p(logits, temperature, min_p):
    logits = logits / temperature  # 先调温度：门槛按调过温度的分布算
    probs = logits.softmax(-1)
    threshold = min_p * probs.max(dim=-1, keepdim=True).values  # (B, 1)：门槛跟着最可能的字走
    return logits.masked_fill(probs < threshold, float("-inf"))


# 7.3 top-p
def top_p_filter(logits, p):
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)  # (B, V)
    probs = sorted_logits.softmax(-1)
    before = probs.cumsum(-1) - probs  # 比它更可能的字的概率之和
    remove_sorted = before >= p  # 前面的字已经凑够 p：它不在核里（第一个字的 before = 0，总会留下）
    remove = remove_sorted.scatter(1, order, remove_sorted)  # 排序后的位置 → 原来的位置
    return logits.masked_fill(remove, float("-inf"))


# 7.4 重复惩罚
def repetition_penalty(logits, seen_ids, penalty):
    score = torch.gather(logits, 1, seen_ids)  # (B, L)：出现过的字的 logit
    score = torch.where(score < 0, score * penalty, score / penalty)  # 正的除、负的乘：都更不可能
    return logits.scatter(1, seen_ids, score)  # 返回新张量，不改动输入；重复的下标写的是同一个值


# 7.5 预测：KV cache = 2（K、V）× 4 层 × 128 个位置 × 256 维 × 4 字节 = 1 MiB = 1024 KiB
my_guess = 1024


# 7.6 KV cache 的一步
def attend_with_cache(attn, x_new, past_k, past_v):
    B, T, C = x_new.shape  # T = 1
    nh = attn.config.n_head
    hs = C // nh
    q, k, v = attn.qkv_proj(x_new).chunk(3, dim=-1)  # 各 (B, 1, C)
    q = q.view(B, T, nh, hs).transpose(1, 2)  # (B, nh, 1, hs)
    k = torch.cat([past_k, k.view(B, T, nh, hs).transpose(1, 2)], dim=2)  # (B, nh, S+1, hs)
    v = torch.cat([past_v, v.view(B, T, nh, hs).transpose(1, 2)], dim=2)
    y = F.scaled_dot_product_attention(q, k, v)  # 新 token 能看见所有过去的位置：不要因果掩码
    y = y.transpose(1, 2).reshape(B, T, C)
    return attn.out_proj(y), k, v
