"""第 11 章：GRPO——用词典核对的奖励做强化学习（DeepSeekMath 的 Group Relative Policy Optimization）。

    from minigpt.grpo import grpo_step
    reference = copy.deepcopy(model).eval()                  # KL 惩罚的参照：训练开始时的模型
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    stats = grpo_step(model, reference, optimizer, tokenizer, ["画蛇添足", "一丝一毫"], group_size=8)

一步：每个提示词（“X接龙”）用课程的批量解码器（minigpt.generate.generate）抽 G 个回答（一组），
词典给每个回答打分（minigpt/reward.py：对的接龙 1，否则 0），然后：

1. 组内相对优势：A_i = (r_i - mean(r)) / (std(r) + 1e-4)，均值和标准差只在同一组（同一个提示词）里算。
   不需要价值网络：同一道题的 G 个回答互为基线。标准差用无偏估计（除以 G-1），与 TRL 相同。
   一组全对或全错时 A 全是 0——这一组什么也学不到；只有一个回答（G=1）时也是 0（没有可比的）。
2. 每个回答的每个 token t，比值 ρ = π(y_t|…) / π_old(y_t|…)（π_old：抽样时的策略），损失
       ℓ_t = -min(ρ·A, clip(ρ, 1-ε, 1+ε)·A) + β·KL_t
   KL_t 用 k3 估计（Schulman 2020，DeepSeekMath 与 TRL 同样）：令 d = log π_ref - log π，KL_t = e^d - d - 1，
   它总是 ≥ 0，期望是 KL(π ‖ π_ref)。
3. 一个回答的损失 = 它的 token 损失的平均；总损失 = 所有回答的平均（TRL 的 loss_type="grpo"）。

每批样本只更新 iterations 次（默认 1：这时 π_old 就是 π，ρ = 1，clip 不起作用，和 TRL 的默认一样）。
grpo_step 的统计里 flat_groups 是奖励全相同（优势全是 0）的组所占的比例：它一直接近 1 时模型学不到东西
（minigpt.diagnose.diagnose_post_training 的 reward_collapse）。

对照基线：拒绝采样微调（rejection sampling fine-tuning）。同样每题抽 G 个回答，只留下词典判对的，
当普通的问答数据做监督微调（train.py --init-from）：

    pairs, counts = rejection_samples(model, tokenizer, idioms, samples_per_prompt=8, seed=0)
    write_qa(pairs, "output/ch11/rft/train.jsonl")
"""
import torch

from minigpt.dpo import ids_batch, token_logprobs
from minigpt.jsonl import write_jsonl
from minigpt.generate import generate
from minigpt.reward import bare, chain_reward

CHAIN_PROMPT = "{}接龙"  # 出题的问法：人们平常这样问（checkpoints/README.md 的“平常的问法”里有它）


def group_advantages(rewards: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """rewards (P, G)：P 个提示词，每个 G 个回答的奖励 → 组内归一化的优势 (P, G)。"""
    centered = rewards - rewards.mean(dim=1, keepdim=True)
    if rewards.shape[1] == 1:
        return centered  # 全是 0；无偏的标准差在 G=1 时没有定义
    return centered / (rewards.std(dim=1, keepdim=True) + eps)


def k3_kl(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """逐 token 的 k3 估计：d = log π_ref − log π，KL = e^d − d − 1（≥ 0，d = 0 时是 0）。形状同输入。"""
    d = ref_logp - logp
    return torch.exp(d) - d - 1


def clipped_surrogate(ratio: torch.Tensor, advantages: torch.Tensor, clip_eps: float) -> torch.Tensor:
    """min(ρ·A, clip(ρ, 1−ε, 1+ε)·A)：ratio (N, T)，advantages (N,) → (N, T)，要最大化的目标（损失是它的相反数）。"""
    A = advantages[:, None]  # (N, 1)：一个回答的每个 token 共用它的优势
    return torch.min(ratio * A, ratio.clamp(1 - clip_eps, 1 + clip_eps) * A)


def grpo_loss(logp, old_logp, ref_logp, advantages, mask, *, clip_eps: float = 0.2, beta: float = 0.04):
    """(损失, {"kl": 平均每 token 的 k3 KL, "clipped": 被截断的 token 比例})。

    logp、old_logp、ref_logp、mask: (N, T)，N 个回答每个位置的对数概率（策略、抽样时的策略、参考模型）；
    advantages: (N,)；mask 标出回答的 token。
    """
    mask = mask.float()
    ratio = torch.exp(logp - old_logp)  # (N, T)
    kl = k3_kl(logp, ref_logp)
    per_token = -clipped_surrogate(ratio, advantages, clip_eps) + beta * kl
    per_answer = (per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1)  # (N,)
    n_tokens = mask.sum().clamp(min=1)
    clipped = ((ratio - ratio.clamp(1 - clip_eps, 1 + clip_eps)).abs() > 0).float()
    stats = {"kl": ((kl * mask).sum() / n_tokens).item(), "clipped": ((clipped * mask).sum() / n_tokens).item()}
    return per_answer.mean(), stats


@torch.no_grad()
def sample_groups(model, tokenizer, questions, group_size: int, *, max_new_tokens: int = 8, temperature: float = 1.0,
                  seed=None, fast: bool = True) -> tuple[list[list[int]], list[list[int]]]:
    """每个问题抽 group_size 个回答 → (提示词编号, 回答编号)，各 len(questions)·group_size 行，一组挨着一组。

    所有行左填充成一批，一次 generate（一次 16 个提示词×8 时，比每个提示词单独生成快 3–4 倍）。
    回答编号包括停止符 <sep>（生成到 max_new_tokens 还没停就没有）。
    fast：快速路径（LoRA 没合并的模型要 fast=False，见 minigpt/lora.py）。
    """
    sep, pad = tokenizer.sep_token_id, tokenizer.pad_token_id
    prompts = [tokenizer.encode(q, None, pad_to_max_length=False)[0] for q in questions for _ in range(group_size)]
    T = max(map(len, prompts))
    ids = torch.tensor([[pad] * (T - len(p)) + p for p in prompts])  # (N, T) 左填充
    mask = torch.tensor([[0] * (T - len(p)) + [1] * len(p) for p in prompts])  # (N, T) 1 = 真实 token
    out = generate(model, ids, max_new_tokens, attention_mask=mask, do_sample=True, temperature=temperature, seed=seed,
                   stop_token_ids=(sep,), pad_token_id=pad, fast=fast)[:, T:].tolist()  # (N, 新 token)
    replies = [row[:row.index(sep) + 1] if sep in row else row for row in out]
    return prompts, replies


def grpo_step(policy, reference, optimizer, tokenizer, idioms, *, group_size: int = 8, max_new_tokens: int = 8,
              temperature: float = 1.0, clip_eps: float = 0.2, beta: float = 0.04, iterations: int = 1,
              seed=None, fast: bool = True) -> dict:
    """一步 GRPO：抽样、打分、算优势，再在这批样本上更新 iterations 次。返回这一步的统计。"""
    questions = [CHAIN_PROMPT.format(w) for w in idioms]
    prompts, replies = sample_groups(policy, tokenizer, questions, group_size, max_new_tokens=max_new_tokens,
                                     temperature=temperature, seed=seed, fast=fast)
    texts = _texts(tokenizer, replies)
    rewards = torch.tensor([chain_reward(w, t) for w, t in zip((w for w in idioms for _ in range(group_size)), texts)])
    groups = rewards.view(len(idioms), group_size)  # (P, G)
    advantages = group_advantages(groups).flatten()  # (N,)
    batch = ids_batch(prompts, replies, tokenizer.pad_token_id)
    with torch.no_grad():
        ref_logp = token_logprobs(reference, batch)
    old_logp = None
    for _ in range(iterations):
        logp = token_logprobs(policy, batch)
        if old_logp is None:  # π_old 就是这一次前向的值（不另算一遍：带不带梯度的前向在最后一位上可能不同，ρ 就不是恰好 1）
            old_logp = logp.detach()
        loss, stats = grpo_loss(logp, old_logp, ref_logp, advantages, batch["answer_mask"], clip_eps=clip_eps, beta=beta)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    flat = (groups == groups[:, :1]).all(dim=1).float().mean().item()  # 全对或全错的组：优势全是 0
    return {"loss": loss.item(), "reward": rewards.mean().item(), "length": sum(map(len, texts)) / len(texts),
            "flat_groups": flat, **stats, "answers": texts}


def _texts(tokenizer, replies: list[list[int]]) -> list[str]:
    sep = tokenizer.sep_token_id
    return [tokenizer.decode([t for t in r if t != sep]) for r in replies]


# ---------------------------------------------------------------- 基线：拒绝采样微调
def rejection_samples(model, tokenizer, idioms, samples_per_prompt: int, *, max_new_tokens: int = 8,
                      temperature: float = 1.0, seed=None, fast: bool = True) -> tuple[list[dict], dict]:
    """每个成语抽 samples_per_prompt 个接龙回答，留下词典判对的，去重 → (问答记录, 计数)。

    问答记录是 {"question", "answer", "type": "chain", "idiom"}（write_qa 写成训练数据）；
    计数：prompts（题数）、samples（抽了几个）、valid（判对的，含重复）、kept（去重后留下的）、
    prompts_with_valid（至少有一个对的题数：没有的题，这个基线什么也学不到）。
    """
    idioms = list(idioms)
    questions = [CHAIN_PROMPT.format(w) for w in idioms]
    _, replies = sample_groups(model, tokenizer, questions, samples_per_prompt, max_new_tokens=max_new_tokens,
                               temperature=temperature, seed=seed, fast=fast)
    kept, valid = {}, 0
    for i, text in enumerate(_texts(tokenizer, replies)):
        w, q = idioms[i // samples_per_prompt], questions[i // samples_per_prompt]
        if chain_reward(w, text) > 0:
            valid += 1  # 答案去掉首尾的引号和标点（和判分时一样），同一题同一个答案只留一条
            kept.setdefault((q, bare(text)), {"question": q, "answer": bare(text), "type": "chain", "idiom": w})
    records = list(kept.values())
    counts = {"prompts": len(idioms), "samples": len(replies), "valid": valid, "kept": len(records),
              "prompts_with_valid": len({r["idiom"] for r in records})}
    return records, counts


def write_qa(records, path) -> None:
    """问答记录写成课程的问答 JSONL（minigpt.jsonl.read_qa_jsonl 读得回来，train.py 能直接训练），原子写入。"""
    write_jsonl(path, records)
