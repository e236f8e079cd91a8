"""第 7 章练习：温度 + top-k、top-p、重复惩罚、贪心生成循环、KV cache 的一步。

期望值由 minigpt/generate.py 的 filter_logits、apply_repetition_penalty、generate 和 minigpt/kv_cache.py 算出；
模型是几毫秒就能跑完的随机小 GPT（不是仓库自带的检查点）。
"""
import math

import torch
import torch.nn.functional as F

from minigpt.exercises.core import Case, Exercise, Wrong, randn, register, seeded
from minigpt.generate import apply_repetition_penalty, filter_logits, generate
from minigpt.kv_cache import KVCache
from minigpt.model import CausalSelfAttention, GPTConfig, GPTLMHeadModel, config_for

INF = float("inf")


# ------------------------------------------------------------------------------ 7.1 温度 + top-k
def _top_k(logits, temperature, k, *, times=False, keep=0, fill=-INF):
    logits = logits * temperature if times else logits / temperature
    kth = torch.topk(logits, k + keep, dim=-1).values[:, -1:]
    return logits.masked_fill(logits < kth, fill)


register(Exercise(
    id="7.1", stars=1, title="温度和 top-k", name="temperature_top_k",
    task=r"""
先除以温度：$z_i / T$（$T<1$ 分布更尖，$T>1$ 更平）；再只留最大的 $k$ 个 logit，其余设为 `-inf`（softmax 之后概率为 0）。

- 输入：`logits` `(B, V)`，`temperature`（> 0），`k`（1 ≤ k ≤ V）
- 输出：`(B, V)`：除以温度后的 logits，不在前 $k$ 个的位置是 `float("-inf")`
""",
    where="`minigpt/generate.py` 的 `filter_logits`（`temperature`、`top_k`）",
    stub='''
import torch
from minigpt.exercises import check


def temperature_top_k(logits, temperature, k):
    """logits: (B, V)。返回 (B, V)：先除以 temperature，只留最大的 k 个，其余为 -inf。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=lambda logits, temperature, k: filter_logits(logits, temperature=temperature, top_k=k),
    cases=[
        Case("logits (2, 10)，T=1，k=3", lambda: (randn(2, 10, seed=0) * 2, 1.0, 3)),
        Case("logits (2, 10)，T=0.5，k=1（等于贪心）", lambda: (randn(2, 10, seed=1) * 2, 0.5, 1)),
        Case("logits (1, 6)，T=2，k=4", lambda: (randn(1, 6, seed=2), 2.0, 4)),
    ],
    first_hint="logits = logits / temperature；kth = torch.topk(logits, k, dim=-1).values[:, -1:]（第 k 大的值）；把 < kth 的位置 masked_fill 成 float('-inf')。",
    proved="你的温度和 top-k 与 filter_logits 一致：只在最可能的 k 个字里抽样，温度调节分布的尖平。",
    wrong=[
        Wrong(lambda l, t, k: _top_k(l, t, k, times=True), "温度是除：z / T。乘以 T 的话，T < 1 反而让分布更平。"),
        Wrong(lambda l, t, k: _top_k(l, 1.0, k), "忘了温度：先把 logits 除以 temperature，再做 top-k。"),
        Wrong(lambda l, t, k: _top_k(l, t, k, keep=1), "留下了 k + 1 个：第 k 大的值是 topk(logits, k).values[:, -1:]，只屏蔽比它小的。"),
        Wrong(lambda l, t, k: _top_k(l, t, k, fill=0.0), "被去掉的位置设为 float('-inf')，不是 0：logit 为 0 的字仍然有不小的概率。"),
        Wrong(lambda l, t, k: (l / t).masked_fill(l / t <= torch.topk(l / t, k, dim=-1).values[:, -1:], -INF),
              "用 < 比较：等于第 k 大的那个值要留下（用 <= 会把第 k 个也去掉，只剩 k − 1 个）。"),
        Wrong(lambda l, t, k: _top_k(l, t, k).softmax(-1), "要返回过滤后的 logits，不是概率：softmax 在抽样时才做。"),
    ],
))


# ------------------------------------------------------------------------------ 7.2 top-p
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
    id="7.2", stars=2, title="top-p（nucleus）过滤", name="top_p_filter",
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
from minigpt.exercises import check


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
    ],
    first_hint="sorted_logits, order = torch.sort(logits, dim=-1, descending=True)；probs = sorted_logits.softmax(-1)；remove = probs.cumsum(-1) - probs >= p；再用 scatter 按 order 放回原位置。",
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


# ------------------------------------------------------------------------------ 7.3 重复惩罚
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
    ]


register(Exercise(
    id="7.3", stars=2, title="重复惩罚", name="repetition_penalty",
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
from minigpt.exercises import check


def repetition_penalty(logits, seen_ids, penalty):
    """logits: (B, V)；seen_ids: (B, L)。返回 (B, V)：出现过的字被惩罚。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=apply_repetition_penalty,
    cases=_penalty_cases(),
    first_hint="score = torch.gather(logits, 1, seen_ids)；score = torch.where(score < 0, score * penalty, score / penalty)；logits.scatter(1, seen_ids, score)。",
    proved="你的重复惩罚与 apply_repetition_penalty（也就是 transformers 的做法）一致：正的除、负的乘，每个字只罚一次。",
    wrong=[
        Wrong(lambda l, s, p: l.scatter(1, s, torch.gather(l, 1, s) / p),
              "负的 logit 除以 θ 会变大（更接近 0，更可能被选中）：z ≤ 0 时要乘以 θ。"),
        Wrong(lambda l, s, p: l.scatter(1, s, torch.gather(l, 1, s) - p), "CTRL 的惩罚是除以（或乘以）θ，不是减去 θ。"),
        Wrong(_penalty_loop, "出现两次的字被罚了两次：每个出现过的字只罚一次（gather → 算新值 → scatter，重复的下标写的是同一个值）。"),
    ],
))


# ------------------------------------------------------------------------------ 7.4 贪心生成
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


def _greedy_case(stop_at):
    """stop_at：让第几个生成的字（第一次出现的字）当停止符；None：停止符永远不出现。"""
    def args():
        model, prompt = _tiny_model(), [12, 6, 1, 9]
        free = _greedy_reference(model, prompt, 12, stop_id=-1)  # 不停，看看贪心会写出什么
        if stop_at is None:
            return model, prompt, 8, next(t for t in range(20) if t not in free)
        first_new = next(i for i in range(stop_at, len(free)) if free[i] not in free[:i])
        return model, prompt, 12, free[first_new]
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
    id="7.4", stars=2, title="贪心生成循环", name="greedy_generate",
    task=r"""
一个 token 一个 token 地生成：每一步把当前序列 `(1, T)` 喂给模型，取**最后一个位置**的 logits，选概率最大的
（argmax）接到序列后面；生成了停止符就停（停止符本身也放进结果），最多 `max_new_tokens` 个。不用 KV cache。

- 输入：`model`（`GPTLMHeadModel`，`model(ids)` 返回 `(1, T, V)`），`prompt`（`list[int]`），`max_new_tokens`，`stop_id`
- 输出：新生成的 token（`list[int]`，不含提示词）
""",
    where="`minigpt/generate.py` 的 `generate(..., use_cache=False)`",
    stub='''
import torch
from minigpt.exercises import check


@torch.no_grad()
def greedy_generate(model, prompt, max_new_tokens, stop_id):
    """返回新生成的 token 列表（含停止符，不含提示词）。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=_greedy_reference,
    cases=[
        Case("随机小 GPT，提示词 4 个 token，几步之后生成停止符", _greedy_case(2)),
        Case("停止符一直没出现：生成满 8 个", _greedy_case(None)),
    ],
    first_hint="ids = list(prompt)；循环 max_new_tokens 次：logits = model(torch.tensor([ids]))[0, -1]，token = int(logits.argmax())，接到 ids 和结果里，等于 stop_id 就 break。",
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


# ------------------------------------------------------------------------------ 7.5 KV cache 的一步
def _kv_case(seed, B, past_len):
    def args():
        with seeded(seed):
            attn = CausalSelfAttention(GPTConfig(n_embd=8, n_head=2, n_layer=1, dropout=0.0, block_size=16, vocab_size=10)).eval()
        x_past, x_new = randn(B, past_len, 8, seed=seed + 1), randn(B, 1, 8, seed=seed + 2)
        _, k, v = (t.view(B, past_len, 2, 4).transpose(1, 2) for t in attn.qkv_proj(x_past).detach().chunk(3, dim=-1))
        return attn, x_new, k, v
    return args


def _kv_reference(attn, x_new, past_k, past_v):
    cache = KVCache(1)
    if past_k.shape[2]:
        cache.update(0, past_k, past_v)
    y = attn(x_new, kv_cache=cache)  # attn.layer_idx 是 0
    return y, cache.keys[0], cache.values[0]


def _kv_step(attn, x_new, past_k, past_v, *, concat=True, causal=False, dim=2, out=True):
    B, T, C = x_new.shape
    nh, hs = attn.config.n_head, C // attn.config.n_head
    q, k, v = (t.view(B, T, nh, hs).transpose(1, 2) for t in attn.qkv_proj(x_new).chunk(3, dim=-1))
    if concat:
        k, v = torch.cat([past_k, k], dim=dim), torch.cat([past_v, v], dim=dim)
    y = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    y = y.transpose(1, 2).reshape(B, T, C)
    return (attn.out_proj(y) if out else y), k, v


register(Exercise(
    id="7.5", stars=3, title="KV cache：只算新来的那个 token", name="attend_with_cache",
    task=r"""
生成时每一步只多一个 token。把之前所有位置的键 $K$、值 $V$ 存起来，新的一步只为新 token 算 $q, k, v$：

1. `attn.qkv_proj(x_new)` 得到新 token 的 $q, k, v$，拆成 `(B, nh, 1, hs)`（练习 5.5）；
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
from minigpt.exercises import check


def attend_with_cache(attn, x_new, past_k, past_v):
    """x_new: (B, 1, C)；past_k, past_v: (B, nh, S, hs)。返回 (y (B, 1, C), k, v (B, nh, S+1, hs))。"""
    raise NotImplementedError  # 在这里写你的代码
''',
    reference=_kv_reference,
    cases=[
        Case("缓存里已有 4 个位置，B=2，C=8，2 个头", _kv_case(0, 2, 4)),
        Case("缓存里已有 7 个位置，B=1", _kv_case(3, 1, 7)),
        Case("第一步：缓存是空的（S=0）", _kv_case(6, 1, 0)),
    ],
    first_hint="q, k, v = attn.qkv_proj(x_new).chunk(3, dim=-1)，各 view(B, 1, nh, hs).transpose(1, 2)；k = torch.cat([past_k, k], dim=2)（v 同理）；F.scaled_dot_product_attention(q, k, v)（不加 is_causal）；合并头后 attn.out_proj。",
    proved="你的一步与模型的 KV cache 路径一致：新 token 只算一次 q、k、v，却看见了所有过去的位置——这就是生成快好几倍的原因。",
    wrong=[
        Wrong(lambda *a: _kv_step(*a, causal=True),
              "只有一个查询、却有 S + 1 个键时不能用 is_causal=True：它按左上角对齐，新 token 只看得见第一个位置。这里不需要掩码。"),
        Wrong(lambda *a: _kv_step(*a, concat=False), "新 token 要对缓存里所有过去的键、值做注意力：先 torch.cat([past_k, k], dim=2)。"),
        Wrong(lambda *a: _kv_step(*a, out=False), "合并头之后还要经过 attn.out_proj。"),
        Wrong(lambda *a: (_kv_reference(*a)[0], a[2], a[3]),
              "返回的缓存要接上新 token 的 k、v：torch.cat([past_k, k], dim=2)，下一步才能看见这个 token。"),
    ],
))
