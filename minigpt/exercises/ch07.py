"""第 7 章练习：贪心生成循环、温度 + min-p（本章没写的另一种截断）、top-p、重复惩罚、预测 KV cache 有多大、KV cache 的一步。

期望值由 minigpt/generate.py 的 filter_logits、apply_repetition_penalty、generate，minigpt/kv_cache.py，
以及 transformers 的 MinPLogitsWarper 算出；模型是几毫秒就能跑完的随机小 GPT（不是仓库自带的检查点）。
编号按练习在 notebook 里出现的顺序。
"""
import math

import torch
import torch.nn.functional as F

from minigpt.exercises.core import Case, Exercise, Wrong, randn, register, seeded
from minigpt.generate import apply_repetition_penalty, filter_logits, generate
from minigpt.kv_cache import KVCache
from minigpt.model import CausalSelfAttention, GPTConfig, GPTLMHeadModel, config_for
from transformers.generation.logits_process import MinPLogitsWarper

INF = float("inf")


# ------------------------------------------------------------------------------ 7.1 贪心生成
def _tiny_model(seed=0):
    """随机的小 GPT（词表 20）。权重取大一些，贪心生成才不会一直重复同一个字。"""
    with seeded(seed):
        model = GPTLMHeadModel(config_for("tiny", vocab_size=20, block_size=32)).eval()
        with torch.no_grad():
            for p in model.parameters():
                p.normal_(0.0, 0.5)
    return model


def _greedy_reference(model, prompt, max_new_tokens, stop_id):
    out = generate(model, torch.tensor([prompt]), max_new_tokens, stop_token_ids=(stop_id,), use_cache=False)
    return out[0, len(prompt):].tolist()


def _greedy_case(stop_at, seed=0, prompt=(12, 6, 1, 9), n=8):
    """stop_at：让第几个生成的字（第一次出现的字）当停止符；None：停止符永远不出现，生成满 n 个。"""
    def args():
        model = _tiny_model(seed)
        free = _greedy_reference(model, list(prompt), 12, stop_id=-1)  # 不停，看看贪心会写出什么
        if stop_at is None:
            return model, list(prompt), n, next(t for t in range(20) if t not in free)
        first_new = next(i for i in range(stop_at, len(free)) if free[i] not in free[:i])
        return model, list(prompt), 12, free[first_new]
    return args


def _greedy(model, prompt, max_new_tokens, stop_id, *, stop=True, keep_stop=True, position=-1, append=True):
    ids = list(prompt)
    new = []
    with torch.no_grad():
        for _ in range(max_new_tokens):
            logits = model(torch.tensor([ids]))[0, position]  # (V,)
            token = int(logits.argmax())
            if stop and token == stop_id and not keep_stop:
                break
            new.append(token)
            if append:
                ids.append(token)
            if stop and token == stop_id:
                break
    return new


register(Exercise(
    id="7.1", stars=2, title="贪心生成循环", name="greedy_generate",
    task=r"""
一个 token 一个 token 地生成：每一步把当前序列 `(1, T)` 喂给模型，取**最后一个位置**的 logits，选概率最大的
（argmax）接到序列后面；生成了停止符就停（停止符本身也放进结果），最多 `max_new_tokens` 个。不用 KV cache。

- 输入：`model`（`GPTLMHeadModel`，`model(ids)` 返回 `(1, T, V)`），`prompt`（`list[int]`），`max_new_tokens`，`stop_id`
- 输出：新生成的 token（`list[int]`，不含提示词）
""",
    where="`minigpt/generate.py` 的 `generate(..., use_cache=False)`",
    stub='''
import torch
from minigpt.exercises import check, hint


@torch.no_grad()
def greedy_generate(model, prompt, max_new_tokens, stop_id):
    """返回新生成的 token 列表（含停止符，不含提示词）。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=_greedy_reference,
    cases=[
        Case("随机小 GPT，提示词 4 个 token，几步之后生成停止符", _greedy_case(2)),
        Case("停止符一直没出现：生成满 8 个", _greedy_case(None)),
        Case("另一个小 GPT、另一个提示词，第 6 个字是停止符", _greedy_case(3, seed=2, prompt=(3, 14, 7))),
        Case("停止符一直没出现：max_new_tokens=5", _greedy_case(None, seed=2, prompt=(3, 14, 7), n=5)),
    ],
    hints=["循环：把目前的整条序列喂给模型，只看最后一个位置的输出，挑最可能的那个 token 接上去；写出停止符或写够了就停。",
           "model(torch.tensor([ids])) 得到 (1, T, V)；[0, -1] 取最后一个位置；argmax 是最可能的 token；停止符也放进结果再 break。",
           "ids = list(prompt)；循环 max_new_tokens 次：logits = model(torch.tensor([ids]))[0, -1]，token = int(logits.argmax())，接到 ids 和结果里，等于 stop_id 就 break。"],
    proved="你的贪心循环与 generate(use_cache=False) 逐 token 相同：每一步只看最后一个位置，写出停止符就停。",
    wrong=[
        Wrong(lambda m, p, n, s: _greedy(m, p, n, s, stop=False), "生成停止符后要停下（break），不能一直写到 max_new_tokens。"),
        Wrong(lambda m, p, n, s: _greedy(m, p, n, s, keep_stop=False), "停止符本身也放进结果（和 generate 一样），再停下。"),
        Wrong(lambda m, p, n, s: _greedy(m, p, n, s, position=0),
              "下一个 token 由最后一个位置的 logits 决定：logits[0, -1]，不是第 0 个位置。"),
        Wrong(lambda m, p, n, s: _greedy(m, p, n, s, append=False),
              "每一步都要把新 token 接到序列后面再喂给模型，否则每一步看到的都是同一个提示词。"),
    ],
))


# ------------------------------------------------------------------------------ 7.2 温度 + min-p（本章写的是 top-k、top-p）
def _min_p_reference(logits, temperature, min_p):
    return MinPLogitsWarper(min_p)(None, logits / temperature)  # transformers 的 min-p


def _min_p(logits, temperature, min_p, *, times=False, absolute=False, le=False, fill=-INF, probs_out=False, after=False):
    z = logits * temperature if times else logits / temperature
    probs = (logits if after else z).softmax(-1)
    threshold = min_p if absolute else min_p * probs.max(-1, keepdim=True).values
    remove = probs <= threshold if le else probs < threshold
    out = z.masked_fill(remove, fill)
    return out.softmax(-1) if probs_out else out


def _peaked_logits(seed, sharp):
    logits = randn(2, 12, seed=seed)
    logits[:, 0] += sharp  # 第一个字明显更可能
    return logits


register(Exercise(
    id="7.2", stars=2, title="温度 + min-p：按最可能的那个字定门槛", name="temperature_min_p",
    task=r"""
top-k 总留 $k$ 个，top-p 按累计概率留。**min-p** 是另一种截断（transformers 的 `min_p`）：门槛随分布变化——
先除以温度 $z / T$，算出概率 $p_i$；概率低于 **min_p × 最大的那个概率** 的字，logit 设为 `-inf`，其余保留（除以温度后的值）。
分布尖的时候门槛高、留得少；分布平的时候门槛低、留得多。

- 输入：`logits` `(B, V)`，`temperature`（> 0），`min_p`（0 到 1 之间）
- 输出：`(B, V)`：除以温度后的 logits，被去掉的位置是 `float("-inf")`
""",
    where="本章“采样”一节的 top-k、top-p（`minigpt/generate.py` 的 `filter_logits`）；transformers 的 `MinPLogitsWarper`",
    stub='''
import torch
from minigpt.exercises import check, hint


def temperature_min_p(logits, temperature, min_p):
    """logits: (B, V)。返回 (B, V)：除以 temperature；概率 < min_p × 最大概率 的位置为 -inf。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=_min_p_reference,
    cases=[
        Case("logits (2, 10)，T=1，min_p=0.1", lambda: (randn(2, 10, seed=0) * 2, 1.0, 0.1)),
        Case("尖的分布 (2, 12)，T=1，min_p=0.05", lambda: (_peaked_logits(1, 4.0), 1.0, 0.05)),
        Case("logits (2, 10)，T=0.5，min_p=0.2（温度让分布更尖，门槛跟着变）", lambda: (randn(2, 10, seed=2) * 2, 0.5, 0.2)),
        Case("logits (1, 8)，T=2，min_p=0.3", lambda: (randn(1, 8, seed=3) * 2, 2.0, 0.3)),
    ],
    hints=["门槛不是固定的概率，而是“最可能的那个字的概率 × min_p”：先除以温度，再 softmax 得到概率，和门槛比。",
           "probs = (logits / T).softmax(-1)；每行的最大概率 probs.max(-1, keepdim=True).values（keepdim 才能和 (B, V) 比）；"
           "严格小于门槛的去掉，用 masked_fill(…, float('-inf'))。",
           "z = logits / temperature；probs = z.softmax(-1)；keep = probs >= min_p * probs.max(-1, keepdim=True).values；return z.masked_fill(~keep, float('-inf'))。"],
    proved="你的 min-p 与 transformers 的 MinPLogitsWarper 一致：门槛跟着最可能的字走，分布尖时只留几个，分布平时留很多。",
    patterns=("inf-small",),
    wrong=[
        Wrong(lambda l, t, m: _min_p(l, t, m, times=True), "温度是除：z / T。乘以 T 的话，T < 1 反而让分布更平。"),
        Wrong(lambda l, t, m: _min_p(l, 1.0, m), "忘了温度：先把 logits 除以 temperature，再算概率和门槛。"),
        Wrong(lambda l, t, m: _min_p(l, t, m, after=True), "门槛要用除以温度之后的概率算：先 z = logits / T，再 softmax(z)。"),
        Wrong(lambda l, t, m: _min_p(l, t, m, absolute=True),
              "门槛是 min_p × 最大的概率（相对门槛），不是 min_p 本身：probs < min_p * probs.max(-1, keepdim=True).values。"),
        Wrong(lambda l, t, m: _min_p(l, t, m, fill=0.0), "被去掉的位置设为 float('-inf')，不是 0：logit 为 0 的字仍然有不小的概率。"),
        Wrong(lambda l, t, m: _min_p(l, t, m, probs_out=True), "要返回过滤后的 logits，不是概率：softmax 在抽样时才做。"),
        Wrong(lambda l, t, m: _min_p(l, t, 0.1), "用参数 min_p，不要写死 0.1。"),
    ],
))


# ------------------------------------------------------------------------------ 7.3 top-p
def _top_p(logits, p, *, inclusive=True, scatter=True, descending=True, boundary="remove"):
    sorted_logits, order = torch.sort(logits, dim=-1, descending=descending)
    probs = sorted_logits.softmax(-1)
    cum = probs.cumsum(-1)
    before = cum - probs
    remove = ((before >= p) if boundary == "remove" else (before > p)) if inclusive else (cum > p)
    out = sorted_logits.masked_fill(remove, -INF)
    return out.scatter(1, order, out) if scatter else out


def _on_the_boundary():
    """概率正好是 ½、¼、⅛、1/16、1/16：前两个加起来正好 = 0.75，所以 p=0.75 时只留 2 个。"""
    return torch.tensor([[4.0, 3.0, 2.0, 1.0, 1.0]], dtype=torch.float64) * math.log(2), 0.75


def _peaked():
    logits = randn(1, 8, seed=5)
    logits[0, 3] = 6.0  # 一个字的概率就超过 p
    return logits, 0.9


register(Exercise(
    id="7.3", stars=2, title="top-p（nucleus）过滤", name="top_p_filter",
    task=r"""
按概率从大到小排，保留**最少**的几个字，使它们的概率之和 $\ge p$；其余的 logit 设为 `-inf`。
概率最大的那个字总是保留。结果要放回原来的位置（不是排序后的顺序）。

判断一个字留不留：**比它更可能的字**的概率之和 $< p$ 就留下（它是凑够 $p$ 所需要的）。

- 输入：`logits` `(B, V)`，`p`（0 < p ≤ 1）
- 输出：`(B, V)`，与输入同样的顺序
""",
    where="`minigpt/generate.py` 的 `filter_logits`（`top_p`）",
    stub='''
import torch
from minigpt.exercises import check, hint


def top_p_filter(logits, p):
    """logits: (B, V)。返回 (B, V)：核（nucleus）之外的位置为 -inf。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=lambda logits, p: filter_logits(logits, top_p=p),
    cases=[
        Case("logits (2, 8)，p=0.8", lambda: (randn(2, 8, seed=3) * 1.5, 0.8)),
        Case("logits (2, 8)，p=0.5", lambda: (randn(2, 8, seed=4) * 1.5, 0.5)),
        Case("很尖的分布：一个字的概率就超过 p=0.9", _peaked),
        Case("正好落在边界上：概率 ½、¼、⅛、1/16、1/16，p=0.75（½ + ¼ = 0.75，留 2 个）", _on_the_boundary),
        Case("logits (1, 10)，p=0.95", lambda: (randn(1, 10, seed=8) * 2, 0.95)),
    ],
    hints=["按概率从大到小排好，一个个累加：一个字要不要留，看“比它更可能的字”加起来是否已经够 p 了。最后放回原来的顺序。",
           "torch.sort(…, descending=True) 同时给出排序后的值和原来的下标 order；cumsum(-1) − probs 是“比它更可能的字”的和；"
           "scatter(1, order, …) 把排序后的东西放回原位。",
           "sorted_logits, order = torch.sort(logits, dim=-1, descending=True)；probs = sorted_logits.softmax(-1)；remove = probs.cumsum(-1) - probs >= p；再用 scatter 按 order 放回原位置。"],
    proved="你的 top-p 与 filter_logits 一致：分布尖时只留一两个字，分布平时留很多。",
    wrong=[
        Wrong(lambda l, p: _top_p(l, p, inclusive=False),
              "把凑够 p 的那个字也去掉了：判断的是“比它更可能的字”的概率和 cumsum − probs ≥ p，而不是 cumsum > p。"),
        Wrong(lambda l, p: _top_p(l, p, boundary="keep"),
              "多留了一个：比它更可能的字加起来已经正好等于 p 时，核已经凑够了，它不在核里（用 ≥ p 判断去掉）。"),
        Wrong(lambda l, p: _top_p(l, p, scatter=False),
              "结果还是排序后的顺序：要放回原来的位置（logits.scatter(1, order, …) 或按 order 把 mask 放回去）。"),
        Wrong(lambda l, p: _top_p(l, p, descending=False), "按概率从大到小排（descending=True）：核里是最可能的那些字。"),
    ],
))


# ------------------------------------------------------------------------------ 7.4 重复惩罚
def _penalty_loop(logits, seen_ids, penalty):
    out = logits.clone()
    for b in range(out.shape[0]):
        for i in seen_ids[b].tolist():  # 出现两次的字被惩罚两次
            out[b, i] = out[b, i] / penalty if out[b, i] > 0 else out[b, i] * penalty
    return out


def _penalty_cases():
    seen = torch.tensor([[3, 7, 3, 1], [0, 9, 5, 5]])  # 第 0 行的 3、第 1 行的 5 出现了两次
    return [
        Case("logits (2, 10) 有正有负，seen_ids (2, 4)，penalty=1.5", lambda: (randn(2, 10, seed=6) * 2, seen.clone(), 1.5)),
        Case("penalty=1.0：什么也不变", lambda: (randn(2, 10, seed=7), seen.clone(), 1.0)),
        Case("penalty=1.3，seen_ids (1, 3)", lambda: (randn(1, 10, seed=8) * 2, torch.tensor([[2, 2, 8]]), 1.3)),
    ]


register(Exercise(
    id="7.4", stars=2, title="重复惩罚", name="repetition_penalty",
    task=r"""
对已经出现过的字 $i$（提示词 + 已生成的）：

$$z_i' = \begin{cases} z_i / \theta & z_i > 0 \\ z_i \cdot \theta & z_i \le 0 \end{cases}\qquad (\theta > 1)$$

两种情况都让它更不可能被选中。一个字出现几次都只惩罚一次；没出现过的字不变。不要改动传进来的 `logits`。

- 输入：`logits` `(B, V)`，`seen_ids` `(B, L)`（`torch.long`，可能有重复），`penalty`（$\theta$）
- 输出：`(B, V)`
""",
    where="`minigpt/generate.py` 的 `apply_repetition_penalty`",
    stub='''
import torch
from minigpt.exercises import check, hint


def repetition_penalty(logits, seen_ids, penalty):
    """logits: (B, V)；seen_ids: (B, L)。返回 (B, V)：出现过的字被惩罚。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=apply_repetition_penalty,
    cases=_penalty_cases(),
    hints=["只动出现过的那些字：先把它们的 logit 取出来，正的除以 θ、负的乘以 θ，再放回原位；每个字只处理一次，不改输入。",
           "torch.gather(logits, 1, seen_ids) 按下标取值；torch.where(条件, a, b) 逐元素二选一；logits.scatter(1, seen_ids, 新值) 返回放回后的新张量（重复的下标写的是同一个值）。",
           "score = torch.gather(logits, 1, seen_ids)；score = torch.where(score < 0, score * penalty, score / penalty)；return logits.scatter(1, seen_ids, score)。"],
    proved="你的重复惩罚与 apply_repetition_penalty（也就是 transformers 的做法）一致：正的除、负的乘，每个字只罚一次。",
    wrong=[
        Wrong(lambda l, s, p: l.scatter(1, s, torch.gather(l, 1, s) / p),
              "负的 logit 除以 θ 会变大（更接近 0，更可能被选中）：z ≤ 0 时要乘以 θ。"),
        Wrong(lambda l, s, p: l.scatter(1, s, torch.gather(l, 1, s) - p), "CTRL 的惩罚是除以（或乘以）θ，不是减去 θ。"),
        Wrong(_penalty_loop, "出现两次的字被罚了两次：每个出现过的字只罚一次（gather → 算新值 → scatter，重复的下标写的是同一个值）。"),
    ],
))


# ------------------------------------------------------------------------------ 7.5 预测：KV cache 有多大
def _kv_cache_kib(T=128):
    """cpu 预设的 GPT 读完 T 个 token 后，KV cache 里存的 K、V 一共多少 KiB（实际跑一遍，数缓存张量的字节）。"""
    from minigpt.exercises.ch05 import _vocab_size
    with seeded(0):
        model = GPTLMHeadModel(config_for("cpu", vocab_size=_vocab_size())).eval()
    cache = KVCache(model.config.n_layer)
    with torch.no_grad():
        model(torch.zeros(1, T, dtype=torch.long), kv_cache=cache)
    return sum(t.nbytes for t in cache.keys + cache.values) / 2**10


register(Exercise(
    id="7.5", stars=1, kind="predict", title="预测：读满 128 个 token 后，KV cache 有多大", name="my_guess",
    task=r"""
**先别往下运行。** 课程的 `cpu` 模型：`n_layer=4`、`n_embd=256`、上下文 128，float32。生成时 KV cache 为**每一层、每个位置**
存下 K 和 V。一条序列读满 128 个 token 之后，缓存里一共有多少 KiB（$2^{10}$ 字节）？

把你的预测赋给 `my_guess`，误差在 ±10% 以内算对。
""",
    where="`minigpt/kv_cache.py` 的 `KVCache`；本节下面的单元格",
    stub='''
from minigpt.exercises import check, hint

my_guess = ...  # 你的预测：KV cache 一共多少 KiB
''',
    reference=_kv_cache_kib,
    cases=[],
    atol=0.0, rtol=0.1,
    hints=["每一层、每个位置存一个 K 向量和一个 V 向量；所有头拼起来，每个向量的长度是 n_embd。",
           "个数 = 2（K 和 V）× 层数 × 位置数 × n_embd；float32 每个 4 字节；1 KiB = 1024 字节。",
           "2 × 4 × 128 × 256 × 4 字节 = 1,048,576 字节 = 1024 KiB。"],
    proved=("缓存 = 2（K、V）× 4 层 × 128 个位置 × 256 维 × 4 字节 = 1 MiB = 1024 KiB。它随序列长度、层数、宽度线性增长，"
            "还要乘以批大小：大模型长上下文时，KV cache 比模型本身还占内存——这就是第 8 章 GQA 要省的东西。"),
    wrong=[Wrong(lambda: _kv_cache_kib() / 2, "K 和 V 都要存：是 2 × 层数 × 位置数 × n_embd 个数。"),
           Wrong(lambda: _kv_cache_kib() / 4, "你数的是个数（或按 1 字节算）：float32 每个数 4 字节。"),
           Wrong(lambda: _kv_cache_kib() / 8, "K 和 V 都要存，而且每个 float32 是 4 字节。")],
))


# ------------------------------------------------------------------------------ 7.6 KV cache 的一步
def _kv_case(seed, B, past_len, C=8, nh=2):
    def args():
        with seeded(seed):
            attn = CausalSelfAttention(GPTConfig(n_embd=C, n_head=nh, n_layer=1, dropout=0.0, block_size=16, vocab_size=10)).eval()
        x_past, x_new = randn(B, past_len, C, seed=seed + 1), randn(B, 1, C, seed=seed + 2)
        _, k, v = (t.view(B, past_len, nh, C // nh).transpose(1, 2) for t in attn.qkv_proj(x_past).detach().chunk(3, dim=-1))
        return attn, x_new, k, v
    return args


def _kv_reference(attn, x_new, past_k, past_v):
    cache = KVCache(1)
    if past_k.shape[2]:
        cache.update(0, past_k, past_v)
    y = attn(x_new, kv_cache=cache)  # attn.layer_idx 是 0
    return y, cache.keys[0], cache.values[0]


def _kv_step(attn, x_new, past_k, past_v, *, concat=True, causal=False, dim=2, out=True, heads=None):
    B, T, C = x_new.shape
    nh = heads or attn.config.n_head
    hs = C // nh
    q, k, v = (t.view(B, T, nh, hs).transpose(1, 2) for t in attn.qkv_proj(x_new).chunk(3, dim=-1))
    if concat:
        k, v = torch.cat([past_k, k], dim=dim), torch.cat([past_v, v], dim=dim)
    y = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    y = y.transpose(1, 2).reshape(B, T, C)
    return (attn.out_proj(y) if out else y), k, v


register(Exercise(
    id="7.6", stars=3, title="KV cache：只算新来的那个 token", name="attend_with_cache",
    task=r"""
生成时每一步只多一个 token。把之前所有位置的键 $K$、值 $V$ 存起来，新的一步只为新 token 算 $q, k, v$：

1. `attn.qkv_proj(x_new)` 得到新 token 的 $q, k, v$，拆成 `(B, nh, 1, hs)`（练习 5.2；`nh = attn.config.n_head`）；
2. 把新的 $k, v$ 接在缓存后面（沿序列那一维）：`(B, nh, S + 1, hs)`；
3. 新 token 的 $q$ 对**全部** $S + 1$ 个键做注意力（它本来就能看见所有过去的位置，不需要因果掩码）；合并头，经过 `attn.out_proj`。

结果必须和把整句重新算一遍时最后一个位置的输出相同。

- 输入：`attn`（`CausalSelfAttention`），`x_new` `(B, 1, C)`，`past_k`、`past_v` `(B, nh, S, hs)`（S 可以是 0）
- 输出：`(y, k, v)`：`y` `(B, 1, C)`；`k`、`v` 是更新后的缓存 `(B, nh, S + 1, hs)`
""",
    where="`minigpt/model.py` 的 `CausalSelfAttention.forward`（`kv_cache`）和 `minigpt/kv_cache.py` 的 `KVCache.update`",
    stub='''
import torch
import torch.nn.functional as F
from minigpt.exercises import check, hint


def attend_with_cache(attn, x_new, past_k, past_v):
    """x_new: (B, 1, C)；past_k, past_v: (B, nh, S, hs)。返回 (y (B, 1, C), k, v (B, nh, S+1, hs))。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=_kv_reference,
    cases=[
        Case("缓存里已有 4 个位置，B=2，C=8，2 个头", _kv_case(0, 2, 4)),
        Case("缓存里已有 7 个位置，B=1", _kv_case(3, 1, 7)),
        Case("第一步：缓存是空的（S=0）", _kv_case(6, 1, 0)),
        Case("C=12，3 个头，缓存里已有 5 个位置", _kv_case(9, 2, 5, 12, 3)),
        Case("C=16，4 个头，缓存里已有 3 个位置", _kv_case(12, 1, 3, 16, 4)),
    ],
    hints=["新 token 只算自己的 q、k、v；把自己的 k、v 接到缓存后面，再让自己的 q 去看缓存里的全部（连同自己）。它本来就能看见所有过去，不需要因果掩码。",
           "拆头和练习 5.2 一样（头数读 attn.config.n_head）；沿序列那一维 dim=2 torch.cat；F.scaled_dot_product_attention 不加 is_causal。",
           "q, k, v = attn.qkv_proj(x_new).chunk(3, dim=-1)，各 view(B, 1, nh, hs).transpose(1, 2)；k = torch.cat([past_k, k], dim=2)（v 同理）；F.scaled_dot_product_attention(q, k, v)（不加 is_causal）；合并头后 attn.out_proj。"],
    proved="你的一步与模型的 KV cache 路径一致：新 token 只算一次 q、k、v，却看见了所有过去的位置——这就是生成快好几倍的原因。",
    wrong=[
        Wrong(lambda *a: _kv_step(*a, causal=True),
              "只有一个查询、却有 S + 1 个键时不能用 is_causal=True：它按左上角对齐，新 token 只看得见第一个位置。这里不需要掩码。"),
        Wrong(lambda *a: _kv_step(*a, concat=False), "新 token 要对缓存里所有过去的键、值做注意力：先 torch.cat([past_k, k], dim=2)。"),
        Wrong(lambda *a: _kv_step(*a, out=False), "合并头之后还要经过 attn.out_proj。"),
        Wrong(lambda *a: (_kv_reference(*a)[0], a[2], a[3]),
              "返回的缓存要接上新 token 的 k、v：torch.cat([past_k, k], dim=2)，下一步才能看见这个 token。"),
        Wrong(lambda *a: _kv_step(*a, heads=2), "头数要从 attn.config.n_head 读，不要写死 2：别的模型头数不一样。"),
    ],
))
