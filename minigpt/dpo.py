"""第 11 章：DPO（直接偏好优化）——不训练奖励模型，直接从“这个回答比那个好”的成对数据学。

    from minigpt.dpo import read_pairs, dpo_batch_loss
    pairs = read_pairs("output/ch11/pairs.jsonl")      # 每行 {"question", "chosen", "rejected"}
    reference = copy.deepcopy(model).eval()             # 参考模型：训练开始时的模型，冻住
    loss, margin = dpo_batch_loss(model, reference, tokenizer, pairs[:16], beta=0.1)

一个回答的对数概率 log π(y|x) 是回答里每个 token（答案的字和最后的 <sep>）的对数概率之和；提示词的 token 不算。
提示词的编码和训练、生成时相同（问题 <sep>，Tokenizer.encode），模型照常前向（minigpt/model.py）。

DPO 的损失（Rafailov et al., 2023），对一对 (x, 好的回答 y_w, 差的回答 y_l)：

    L = -log σ( β · [ (log π(y_w|x) - log π_ref(y_w|x)) - (log π(y_l|x) - log π_ref(y_l|x)) ] )

β·(log π - log π_ref) 叫“隐式奖励”：策略比参考模型更喜欢这个回答多少。损失让好回答的隐式奖励高过差回答的。
β 越大，越不许策略离参考模型远。

为什么一开始损失正好是 ln 2 ≈ 0.693：训练开始时策略就是参考模型，两个括号都是 0，σ(0) = 1/2，
-log(1/2) = ln 2。损失一直停在 0.693 说明策略根本没动：学习率是 0、参数被冻住、优化器拿的是别的参数，
或者策略和参考其实是同一个模型对象（它们一起变，差永远是 0）。另外 dropout 要关掉（model.eval() 或 dropout=0），
否则同一个模型两次前向也不相等。（minigpt.diagnose.diagnose_post_training 能从损失曲线认出这种情况。）

拒答数据：教模型对编出来的成语说“不知道”。

    fakes = made_up_idioms(200, seed=0, alphabet=tokenizer.word2id)   # 四个真实的成语用字，拼不成任何成语
    pairs = refusal_pairs(model, tokenizer, fakes, questions_per_idiom=2, seed=0)
    write_pairs("output/ch11/refusal_pairs.jsonl", pairs)
    refusal_rate(model, tokenizer, other_fakes)   # 没用来训练的假成语上，模型拒答的比例

编出来的成语：每个位置的字按它在词典四字成语同一位置上出现的次数抽（看起来像成语），
再丢掉词典里的成语、以及和任何成语有相同四字片段的（包括更长的成语里的四个连续字）。
好的回答（chosen）是 REFUSAL；差的回答（rejected）是模型自己贪心解码编出来的意思（minigpt.generate.greedy_answers）。
模型本来就拒答的题不成对（没有偏好可学）。拒答的判断见 is_refusal。
"""
import json
import random
from collections import Counter
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from minigpt.generate import greedy_answers
from minigpt.jsonl import DataError, read_text, split_lines, write_jsonl
from minigpt.qa_dataset import collate_batch
from minigpt.reward import bare, idioms

PAIR_FIELDS = ("question", "chosen", "rejected")


@dataclass(frozen=True)
class PreferencePair:
    question: str
    chosen: str  # 更好的回答
    rejected: str  # 更差的回答
    line: int  # 在文件里的行号（从 1 开始）


# ---------------------------------------------------------------- 回答的对数概率
def answer_batch(tokenizer, questions, answers) -> dict:
    """一批“问题 <sep> 回答 <sep>”，右填充。targets 里只有回答的 token（其余是 <pad>，不算）；
    answer_mask (B, T) 标出这些位置。和 QADataset(answer_only_loss=True) 的样本一样。"""
    prompts = [tokenizer.encode(q, None, pad_to_max_length=False)[0] for q in questions]  # q1 … qn <sep>
    replies = [tokenizer.encode_text(a) + [tokenizer.sep_token_id] for a in answers]  # a1 … am <sep>
    return ids_batch(prompts, replies, tokenizer.pad_token_id)


def ids_batch(prompts: list[list[int]], replies: list[list[int]], pad: int) -> dict:
    """answer_batch 的 token 版：提示词和回答已经是编号（比如生成出来的回答，GRPO 用）。"""
    items = []
    for p, a in zip(prompts, replies, strict=True):
        tokens = p + a
        # targets[i] = tokens[i+1]：前 len(p)-1 个位置预测的是提示词自己，不算
        items.append({"input_ids": torch.tensor(tokens[:-1]), "attention_mask": torch.ones(len(tokens) - 1, dtype=torch.long),
                      "targets": torch.tensor([pad] * (len(p) - 1) + a)})
    batch = collate_batch(items, pad)
    batch["answer_mask"] = torch.zeros(batch["targets"].shape, dtype=torch.bool)  # (B, T)
    for row, (p, a) in enumerate(zip(prompts, replies)):
        batch["answer_mask"][row, len(p) - 1:len(p) - 1 + len(a)] = True  # 按位置标，回答里就算抽到 <pad> 也算数
    return batch


def token_logprobs(model, batch: dict) -> torch.Tensor:
    """每个位置上目标 token 的对数概率 (B, T)；不是回答的位置是 0。"""
    logits = model(batch["input_ids"], batch["attention_mask"])  # (B, T, V)；右填充，因果注意力看不到 padding
    logp = logits.float().log_softmax(-1).gather(-1, batch["targets"][..., None]).squeeze(-1)  # (B, T)
    return logp * batch["answer_mask"]


def sequence_logprobs(model, batch: dict) -> torch.Tensor:
    """log π(回答 | 问题)：回答每个 token 的对数概率之和 (B,)。"""
    return token_logprobs(model, batch).sum(-1)


# ---------------------------------------------------------------- 损失
def dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta: float = 0.1):
    """(平均损失, 每对的 β·[...]（隐式奖励之差，(B,)，不带梯度）)。参数都是 (B,) 的序列对数概率。"""
    logits = beta * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected))  # (B,)
    return -F.logsigmoid(logits).mean(), logits.detach()


def dpo_batch_loss(policy, reference, tokenizer, pairs, beta: float = 0.1, nll_weight: float = 0.0, details=None):
    """一批偏好对的 DPO 损失：好、差回答拼成一批过一次策略，参考模型不算梯度。返回同 dpo_loss。

    nll_weight > 0 时再加上 nll_weight × 好回答每个 token 的平均负对数似然（Pang 等 2024 的 RPO，TRL 的 rpo_alpha）。
    只有 DPO 时，损失可以靠把差回答的概率压到极低来下降，好回答的概率反而也跟着掉（它本来就很低时尤其如此），
    贪心解码就既不说差回答、也不说好回答，而是说出乱码；这一项让好回答真的变得可能。
    details（一个 dict）不是 None 时，写进好、差回答的平均隐式奖励 β·(log π - log π_ref)："chosen"、"rejected"。"""
    questions = [p.question for p in pairs] * 2
    batch = answer_batch(tokenizer, questions, [p.chosen for p in pairs] + [p.rejected for p in pairs])
    policy_lp = sequence_logprobs(policy, batch)  # (2B,)：前一半好的，后一半差的
    with torch.no_grad():
        ref_lp = sequence_logprobs(reference, batch)
    n = len(pairs)
    loss, margins = dpo_loss(policy_lp[:n], policy_lp[n:], ref_lp[:n], ref_lp[n:], beta)
    if details is not None:
        rewards = beta * (policy_lp.detach() - ref_lp)  # (2B,)
        details.update(chosen=rewards[:n].mean().item(), rejected=rewards[n:].mean().item())
    if nll_weight:
        loss = loss - nll_weight * policy_lp[:n].sum() / batch["answer_mask"][:n].sum()
    return loss, margins


# ---------------------------------------------------------------- 偏好对文件
def _parse_pair(line: str):
    """一行 → (question, chosen, rejected)，或者它无效的原因（一个 str）。"""
    try:
        item = json.loads(line)
    except ValueError as e:
        return f"不是合法的 JSON（{e}）"
    if not isinstance(item, dict):
        return "应该是一个 JSON 对象"
    for name in PAIR_FIELDS:
        value = item.get(name)
        if not isinstance(value, str) or not value.strip():
            return f"字段“{name}”缺失、不是字符串或是空的"
    if item["chosen"] == item["rejected"]:
        return "“chosen”和“rejected”一样，没有偏好可学"
    return tuple(item[name] for name in PAIR_FIELDS)


def read_pairs(path, *, warn=print) -> list[PreferencePair]:
    """读偏好对 JSONL（每行 {"question", "chosen", "rejected"}），规矩和 minigpt.jsonl.read_qa_jsonl 一样：
    坏行警告“文件:行号: 原因”并跳过，空行静默忽略，最后一行总结；一行有效的都没有时抛出 DataError。"""
    pairs, skipped = [], 0
    for line_no, line in enumerate(split_lines(read_text(path)), 1):
        if not line.strip():
            continue
        parsed = _parse_pair(line.strip())
        if isinstance(parsed, str):
            skipped += 1
            warn(f"警告：{path}:{line_no}: {parsed}，已跳过这一行")
        else:
            pairs.append(PreferencePair(*parsed, line_no))
    if not pairs:
        raise DataError(f"{path}: 没有一行有效的偏好对（跳过了 {skipped} 行）；"
                        "每行应是一个带“question”“chosen”“rejected”三个字符串字段的 JSON 对象")
    warn(f"{path}: 保留 {len(pairs)} 个偏好对，跳过 {skipped} 行")
    return pairs


def write_pairs(path, pairs) -> None:
    """偏好对写成 read_pairs 读得回来的 JSONL（原子写入）。"""
    write_jsonl(path, ({"question": p.question, "chosen": p.chosen, "rejected": p.rejected} for p in pairs))


# ---------------------------------------------------------------- 拒答：编出来的成语
REFUSAL = "没有这个成语"  # 训练时 chosen 的回答
# 以这些开头的回答算拒答（去掉首尾的空白和标点之后）。只看开头：释义里也可能有“不知道”（“不知道天高地厚”）
REFUSAL_STARTS = (REFUSAL, "没有这个词", "这不是成语", "这不是一个成语", "不是成语", "我不知道", "不知道这个成语")
MEANING_QUESTIONS = ("{}是什么意思？", "{}什么意思？", "“{}”是什么意思？", "{}的意思", "成语“{}”是什么意思？",
                     "{} 啥意思？")  # 课程数据里常见的释义题问法（data/train.jsonl）


def is_refusal(answer: str) -> bool:
    return bare(answer).startswith(REFUSAL_STARTS)


def _four_grams(words) -> set[str]:
    return {w[i:i + 4] for w in words for i in range(len(w) - 3)}


def made_up_idioms(n: int, seed: int = 0, exclude=(), alphabet=None) -> list[str]:
    """n 个编出来的“成语”：四个词典里的成语用字，不是词典里的成语，也不含任何成语的四字片段。

    同一个 seed 得到同一串；exclude 里的不会再出现（比如训练用过的）；alphabet（字的集合，如 tokenizer.word2id）
    给了时只用其中的字。不够 n 个时抛出 ValueError。
    """
    words = sorted(idioms())  # 排好序：集合的遍历顺序每个进程都不同（PYTHONHASHSEED），结果就不可复现了
    taken = _four_grams(words) | set(exclude)
    positions = [Counter(w[i] for w in words if len(w) == 4) for i in range(4)]  # 第 i 个位置上每个字出现几次
    if alphabet is not None:
        positions = [Counter({c: k for c, k in pos.items() if c in alphabet}) for pos in positions]
    if not all(positions):
        raise ValueError("alphabet 里没有足够的成语用字")
    choices = [(list(pos), list(pos.values())) for pos in positions]
    rng, made = random.Random(seed), []
    for _ in range(200 * n):
        if len(made) == n:
            break
        word = "".join(rng.choices(chars, weights)[0] for chars, weights in choices)
        if word not in taken:
            taken.add(word)
            made.append(word)
    if len(made) < n:  # 最后一次尝试正好凑满 n 个时也不算失败
        raise ValueError(f"试了 {200 * n} 次只编出 {len(made)} 个成语，不够 {n} 个：放宽 alphabet 或减少 exclude")
    return made


def _meaning_questions(made_up, questions_per_idiom: int, seed: int) -> list[tuple[str, str]]:
    """[(成语, 问题)]：每个成语用 questions_per_idiom 种不同的释义问法（按 seed 固定）。"""
    rng = random.Random(seed)
    return [(w, q.format(w)) for w in made_up for q in rng.sample(MEANING_QUESTIONS, questions_per_idiom)]


def refusal_pairs(model, tokenizer, made_up, *, questions_per_idiom: int = 2, seed: int = 0,
                  max_new_tokens: int = 48) -> list[PreferencePair]:
    """对每个编出来的成语问释义题，模型的贪心回答当 rejected，REFUSAL 当 chosen。

    模型已经拒答（is_refusal）或回答是空的题跳过。line 是它在 write_pairs 写出的文件里的行号。
    """
    asked = _meaning_questions(made_up, questions_per_idiom, seed)
    replies = greedy_answers(model, tokenizer, [q for _, q in asked], max_new_tokens=max_new_tokens)
    kept = [(q, a) for (_, q), a in zip(asked, replies) if a.strip() and not is_refusal(a)]
    return [PreferencePair(q, REFUSAL, a, i) for i, (q, a) in enumerate(kept, 1)]


def refusal_rate(model, tokenizer, words, *, questions_per_idiom: int = 1, seed: int = 0,
                 max_new_tokens: int = 48) -> float:
    """对 words 里每个成语问释义题，贪心回答里拒答（is_refusal）的比例。编出来的成语上越高越好，学过的越低越好。"""
    asked = _meaning_questions(words, questions_per_idiom, seed)
    replies = greedy_answers(model, tokenizer, [q for _, q in asked], max_new_tokens=max_new_tokens)
    return sum(map(is_refusal, replies)) / len(replies)
