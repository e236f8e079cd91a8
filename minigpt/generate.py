"""第 7 章：用训练好的模型生成回答——贪心/采样、KV cache、流式输出，以及一个命令行聊天程序。

    python ./minigpt/generate.py                          # Q:/A: 对话（空行或 Ctrl-D 退出；也可以用管道喂问题）
    python ./minigpt/generate.py --question "画蛇添足是什么意思？"
    python ./minigpt/generate.py --sample --temperature 0.8 --top-p 0.9 --seed 0
    python -m minigpt.generate --help

生成只和 token id 打交道（encode/decode 只在两端：stream_answer（answer、命令行、游乐场都用它）和 answers）。
`generate` 对任何满足模型约定的模型都适用（本章的 GPT 与第 8 章的 Qwen3）：
    model(input_ids, attention_mask=None, *, kv_cache=None, position_ids=None, logits_to_keep=0) -> logits (B, T, vocab)
（logits_to_keep=1：只要最后一个位置的 logits (B, 1, vocab)，生成只用得到它），
以及 model.new_kv_cache(max_len) -> KVCache（模型自己知道有几层）。
批量生成时提示词“左填充”：这样每一行最后一个位置都是真实 token，下一个 token 的 logits 都在 [:, -1]。
"""
import sys
from pathlib import Path
from typing import Iterator, Optional, Sequence

import torch

if __package__ in (None, ""):  # 以脚本方式运行时，让 `import minigpt.*` 能找到仓库根目录
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minigpt.cli import ERROR, ArgumentParser, UserError, report
from minigpt.checkpoint import SHIPPED_CHECKPOINT, default_checkpoint, load_for_inference  # noqa: F401（公开名字）
from minigpt.common import autocast, pick_device, unwrap
from minigpt.fast_decode import decoder_for
from minigpt.models import context_length

__all__ = ["apply_repetition_penalty", "filter_logits", "sample_next", "generate", "stream_generate", "Piece",
           "answer_room", "stream_answer", "answer", "answers", "greedy_answers", "build_parser", "main",
           "SHIPPED_CHECKPOINT", "default_checkpoint", "load_for_inference", "load_for_chat"]


# ------------------------------------------------------------------------------ 处理 logits 的几个小步骤
def apply_repetition_penalty(logits: torch.Tensor, seen_ids: torch.Tensor, penalty: float) -> torch.Tensor:
    """CTRL（Keskar et al., 2019）的重复惩罚，与 transformers 的 RepetitionPenaltyLogitsProcessor 相同：
    出现过的 token，logit > 0 时除以 penalty，< 0 时乘以 penalty——两种情况都让它变得更不可能。

    logits: (B, V)；seen_ids: (B, L) 已出现的 token（提示词 + 已生成）。penalty=1 不变。
    """
    if penalty == 1.0:
        return logits
    if penalty <= 0:
        raise ValueError(f"repetition_penalty 必须 > 0，实际 {penalty}")
    score = torch.gather(logits, 1, seen_ids)  # (B, L)
    score = torch.where(score < 0, score * penalty, score / penalty)
    return logits.scatter(1, seen_ids, score)


def filter_logits(logits: torch.Tensor, *, temperature: float = 1.0, top_k: Optional[int] = None,
                  top_p: Optional[float] = None) -> torch.Tensor:
    """温度 → top-k → top-p（与 transformers 的顺序相同）。被排除的 token 的 logit 设为 -inf。logits: (B, V)。"""
    if temperature <= 0:
        raise ValueError(f"temperature 必须 > 0（想要确定的输出请用贪心：do_sample=False），实际 {temperature}")
    logits = logits / temperature  # 温度 < 1：分布更尖；> 1：更平
    if top_k is not None and top_k > 0 and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]  # (B, 1) 第 k 大的 logit
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        if top_p <= 0:
            raise ValueError(f"top_p 必须在 (0, 1] 之间，实际 {top_p}")
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)  # (B, V)
        probs = sorted_logits.softmax(-1)
        before = probs.cumsum(-1) - probs  # 比它更可能的 token 的总概率
        remove_sorted = before >= top_p  # 前面的 token 已凑够 top_p：它不在“核”里（第一个永远保留）
        remove = remove_sorted.scatter(1, order, remove_sorted)  # 排序位置 → 原位置
        logits = logits.masked_fill(remove, float("-inf"))
    return logits


def sample_next(logits: torch.Tensor, *, temperature: float = 1.0, top_k: Optional[int] = None,
                top_p: Optional[float] = None, generator: Optional[torch.Generator] = None,
                do_sample: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """从最后一个位置的 logits (B, V) 选出下一个 token。返回 (token_ids (B,), 它们的概率 (B,))。

    do_sample=False：贪心，取概率最大的（此时温度等参数不起作用，概率按原分布计算）。
    概率是在“实际用来抽样的分布”下的概率（经过温度、top-k、top-p 之后）。
    """
    if not do_sample:
        probs = logits.float().softmax(-1)
        token = probs.argmax(-1)  # (B,)
    else:
        probs = filter_logits(logits.float(), temperature=temperature, top_k=top_k, top_p=top_p).softmax(-1)
        token = torch.multinomial(probs, 1, generator=generator).squeeze(-1)  # (B,)
    return token, probs.gather(1, token[:, None]).squeeze(-1)


# ------------------------------------------------------------------------------ 生成主循环
@torch.inference_mode()  # 比 no_grad 更省：不记录梯度，也不维护张量的版本计数
def _steps(model, input_ids, max_new_tokens, *, attention_mask=None, do_sample=False, temperature=1.0,
           top_k=None, top_p=None, repetition_penalty=1.0, stop_token_ids=(2,), seed=None,
           use_cache=True, want_probs=True, fast=False) -> Iterator[tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]]:
    """每一步产出 (rows, tokens, probs)：仍在生成的行号 (b,)、它们的新 token (b,) 和概率 (b,)。

    want_probs=False 且贪心时 probs 是 None（省掉每步对整个词表的 softmax）。
    fast=True 且 fast_decode.decoder_for 给得出快速路径（本章的 GPT）时，每一步交给它（minigpt/fast_decode.py）。

    已经生成停止符的行从批里拿掉（KV cache 也用 reorder 同步删掉），后面的步骤只算还没结束的行。
    """
    if input_ids.dim() != 2:
        raise ValueError(f"input_ids 应为 (B, T)，实际形状 {tuple(input_ids.shape)}（一行请用 ids[None]）")
    device = next(model.parameters()).device
    ids = input_ids.to(device)
    B, T = ids.shape
    if T == 0:
        raise ValueError("提示词为空：至少需要一个 token")
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens 不能为负数，实际 {max_new_tokens}")
    limit = context_length(model)
    if T + max_new_tokens > limit:
        raise ValueError(f"提示词 {T} 个 token + max_new_tokens={max_new_tokens} 超出模型的上下文长度 {limit}："
                         f"请缩短提示词或把 max_new_tokens 减到 {max(limit - T, 0)} 以内")
    mask = torch.ones_like(ids) if attention_mask is None else attention_mask.to(device).long()
    if mask.shape != ids.shape:
        raise ValueError(f"attention_mask 形状 {tuple(mask.shape)} 与 input_ids {tuple(ids.shape)} 不一致")
    if not bool(mask[:, -1].all()):
        raise ValueError("批量提示词必须左填充（每行最后一个位置是真实 token）：新 token 接在最后一个位置后面")
    # 没有任何 padding 时不把 mask 交给模型：位置编号直接从缓存长度算，注意力走无掩码的快速路径
    padded = not bool(mask.all())
    stop = torch.tensor(list(stop_token_ids or ()), dtype=torch.long, device=device)[None, :]  # (1, n_stop)
    generator = None
    if seed is not None and do_sample:
        generator = torch.Generator(device=device).manual_seed(seed)
    was_training = model.training
    model.eval()
    try:
        rows = torch.arange(B, device=device)  # 还在生成的行（原批里的行号）
        # 最终长度已知（提示词 + max_new_tokens）：缓存一次预留好，每步原地写入，不必每步 torch.cat 复制一遍
        cache = model.new_kv_cache(T + max_new_tokens) if use_cache else None
        decoder = decoder_for(model, T + max_new_tokens) if fast and use_cache else None
        keep_all_ids = cache is None or repetition_penalty != 1.0  # 只有这两种情况要用到整个序列
        step_ids = ids  # 这一步要送进模型的 token：有缓存时第一步是整个提示词，之后只有新 token
        for _ in range(max_new_tokens):
            step_mask = mask if padded else None
            # logits_to_keep=1：只算最后一个位置的 logits，下一个 token 只由它决定
            if decoder is not None:  # 快速路径：第一步把提示词填进缓存，之后每步只送一个 token
                logits = decoder.step(step_ids[:, 0]) if decoder.positions is not None else decoder.prefill(ids, mask)
            elif cache is not None:
                logits = model(step_ids, step_mask, kv_cache=cache, logits_to_keep=1)[:, -1]  # (b, V)
            else:
                logits = model(ids, step_mask, logits_to_keep=1)[:, -1]  # 没有缓存：每一步把整个序列重新算一遍
            logits = apply_repetition_penalty(logits, ids, repetition_penalty)
            if do_sample or want_probs:
                token, prob = sample_next(logits, temperature=temperature, top_k=top_k, top_p=top_p,
                                          generator=generator, do_sample=do_sample)
            else:
                token, prob = logits.argmax(-1), None  # (b,)
            yield rows, token, prob
            step_ids = token[:, None]  # (b, 1)
            if keep_all_ids:
                ids = torch.cat([ids, step_ids], 1)  # (b, T+1)
            if padded and decoder is None:  # 快速路径自己维护掩码
                mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], 1)
            if not stop.numel():
                continue
            done = (step_ids == stop).any(-1)  # (b,) 这一步生成了停止符的行
            if bool(done.any()):
                keep = (~done).nonzero().squeeze(-1)
                if keep.numel() == 0:
                    return
                rows, ids, step_ids = rows[keep], ids[keep], step_ids[keep]
                mask = mask[keep] if padded else mask
                if decoder is not None:
                    decoder.keep(keep)
                elif cache is not None:
                    cache.reorder(keep)
    finally:
        model.train(was_training)


def generate(model, input_ids: torch.Tensor, max_new_tokens: int, *, attention_mask: Optional[torch.Tensor] = None,
             do_sample: bool = False, temperature: float = 1.0, top_k: Optional[int] = None,
             top_p: Optional[float] = None, repetition_penalty: float = 1.0,
             stop_token_ids: Optional[Sequence[int]] = (2,), pad_token_id: int = 0, seed: Optional[int] = None,
             use_cache: bool = True, fast: bool = False) -> torch.Tensor:
    """像 transformers 的 `model.generate` 一样：返回 提示词 + 新 token (B, T + n)，n ≤ max_new_tokens。

    input_ids: (B, T)，多行时左填充并给出 attention_mask（1=真实 token）。
    停止符（默认 <sep>=2）本身包含在输出里；先结束的行后面补 pad_token_id；所有行都结束就提前停止。
    stop_token_ids=None 或 () 表示不停，恰好生成 max_new_tokens 个（基准测试用）。
    seed：采样时用独立的 torch.Generator，同样的 seed 得到同样的结果，不影响全局随机状态。
    use_cache=False：每步重算整个序列（慢，但最直观）；贪心时两者逐 token 相同（tests/test_generate.py）。
    fast=True：同样的缓存，但每步走快速路径（minigpt/fast_decode.py，GPT 才有；没有就照常），贪心结果相同，
    在 2 核 CPU 上快约 1.5 倍（benchmarks/README.md）。
    """
    columns = []  # 每一步一列 (B,)
    for rows, token, _ in _steps(model, input_ids, max_new_tokens, attention_mask=attention_mask,
                                 do_sample=do_sample, temperature=temperature, top_k=top_k, top_p=top_p,
                                 repetition_penalty=repetition_penalty, stop_token_ids=stop_token_ids, seed=seed,
                                 use_cache=use_cache, want_probs=False, fast=fast):  # 输入的检查都在 _steps 里
        column = token.new_full((input_ids.shape[0],), pad_token_id)  # 已经结束的行补 pad_token_id
        column[rows] = token  # 还在生成的行：新 token
        columns.append(column)
    ids = input_ids.to(next(model.parameters()).device)
    return torch.cat([ids, torch.stack(columns, 1)], 1) if columns else ids  # (B, T + n)


def stream_generate(model, input_ids: torch.Tensor, max_new_tokens: int, **kwargs) -> Iterator[tuple[int, float]]:
    """一行提示词（(T,) 或 (1, T)），每生成一个 token 就产出 (token_id, 概率)。参数同 generate。

    停止符也会产出（调用方据此知道回答结束了），之后迭代结束。
    """
    if input_ids.dim() == 1:
        input_ids = input_ids[None]
    if input_ids.shape[0] != 1:
        raise ValueError(f"stream_generate 只处理一行，实际 {input_ids.shape[0]} 行；批量请用 generate")
    kwargs.pop("pad_token_id", None)  # 一行用不到填充；接受它，参数才和 generate 一样
    for _, token, prob in _steps(model, input_ids, max_new_tokens, **kwargs):
        yield int(token[0]), float(prob[0])


# ------------------------------------------------------------------------------ 文本两端：问题进，回答出
def _prompt_ids(tokenizer, question: str) -> list[int]:
    ids, _ = tokenizer.encode(question, None, pad_to_max_length=False)  # 问题 + <sep>
    return list(ids)


def _room(model, prompt_len: int, max_new_tokens: int, question: str) -> int:
    """回答最多能有多长：不超过 max_new_tokens，也不超过上下文剩下的位置。"""
    limit = context_length(model)
    if prompt_len >= limit:
        raise ValueError(f"问题太长：编码后 {prompt_len} 个 token，模型上下文只有 {limit}（问题：{question[:20]}…）")
    return min(max_new_tokens, limit - prompt_len)


def answer_room(model, tokenizer, question: str) -> int:
    """问题 + <sep> 放进上下文之后，还剩几个位置给回答（≤ 0：问题太长）。"""
    return context_length(model) - len(_prompt_ids(tokenizer, question))


def _sampling_defaults(tokenizer, sampling: dict) -> dict:
    sampling = dict(sampling)
    sampling.setdefault("stop_token_ids", (tokenizer.sep_token_id,))
    sampling.setdefault("pad_token_id", tokenizer.pad_token_id)
    sampling.setdefault("fast", True)  # 回答问题时走快速路径（结果相同，见 generate 的 fast 参数）
    return sampling


class Piece(str):
    """stream_answer 产出的一小段回答文字（一个 token 的文字），另带 .prob：模型选这个 token 时的概率。"""

    prob: float


def stream_answer(model, tokenizer, question: str, *, max_new_tokens: int = 64, **sampling) -> Iterator[Piece]:
    """问题进，回答一段一段地出来（流式）：编码提示词（问题 + <sep>）→ 逐个生成 → 遇到停止符就停 → 解码。

    sampling 是 generate 的采样参数（do_sample, temperature, top_k, top_p, repetition_penalty, seed, fast...）。
    max_new_tokens 会自动截到上下文剩下的长度；问题太长、放不进上下文时 ValueError。
    每段是一个 Piece（str），piece.prob 是它的概率；"".join(pieces) 就是整个回答。
    answer()、命令行聊天和游乐场都用它。
    """
    prompt = _prompt_ids(tokenizer, question)
    sampling = _sampling_defaults(tokenizer, sampling)
    stops = set(sampling["stop_token_ids"] or ())
    room = _room(model, len(prompt), max_new_tokens, question)
    for token, prob in stream_generate(model, torch.tensor([prompt]), room, **sampling):
        if token in stops:
            return
        piece = Piece(tokenizer.decode([token]))
        piece.prob = prob
        yield piece


def answer(model, tokenizer, question: str, *, return_probs: bool = False, max_new_tokens: int = 64, **sampling):
    """回答一个问题，返回文字（停止符之前的部分）；return_probs=True 时再返回每个字的概率。

    参数同 stream_answer（问题太长时 ValueError；max_new_tokens 会自动截到上下文剩下的长度）。
    """
    pieces = list(stream_answer(model, tokenizer, question, max_new_tokens=max_new_tokens, **sampling))
    text = "".join(pieces)
    return (text, [piece.prob for piece in pieces]) if return_probs else text


def answers(model, tokenizer, questions: Sequence[str], *, max_new_tokens: int = 64, batch_size: int = 64,
            **sampling) -> list[str]:
    """批量回答，结果按 questions 的顺序。贪心时与逐个 answer() 的结果相同。

    问题先按长度排序，每 batch_size 个左填充成一批一起生成：长度相近的放一批，填充就少。
    """
    sampling = _sampling_defaults(tokenizer, sampling)
    stops = set(sampling["stop_token_ids"] or ())
    pad = sampling["pad_token_id"]
    results = [""] * len(questions)
    order = sorted(range(len(questions)), key=lambda i: len(questions[i]))
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        prompts = [_prompt_ids(tokenizer, questions[i]) for i in idx]
        T = max(len(p) for p in prompts)
        room = _room(model, T, max_new_tokens, questions[idx[-1]])  # 左填充后整批共用一个长度 T
        ids = torch.tensor([[pad] * (T - len(p)) + p for p in prompts])  # (B, T) 左填充
        mask = torch.tensor([[0] * (T - len(p)) + [1] * len(p) for p in prompts])  # (B, T) 1 = 真实 token
        out = generate(model, ids, room, attention_mask=mask, **sampling)[:, T:].tolist()  # (B, 新 token)
        for i, row in zip(idx, out):
            cut = next((j for j, t in enumerate(row) if t in stops), len(row))
            results[i] = tokenizer.decode(row[:cut])
    return results


def greedy_answers(model, tokenizer, questions: Sequence[str], *, max_new_tokens: int, device=None,
                   dtype=torch.float32, batch_size: int = 128, use_cache: bool = True) -> list[str]:
    """评估用的贪心批量回答：就是 answers()，外加 DDP/compile 包装的拆除和 bf16 autocast。

    use_cache=False 每步重算整个序列（慢，用来验证 KV cache）。device 只用来选 autocast 的设备类型。
    """
    model = unwrap(model)
    device = device if device is not None else next(model.parameters()).device
    with autocast(torch.device(device), dtype):
        return answers(model, tokenizer, questions, max_new_tokens=max_new_tokens, batch_size=batch_size,
                       use_cache=use_cache)


# ------------------------------------------------------------------------------ 命令行聊天
def build_parser() -> ArgumentParser:
    p = ArgumentParser(description="和训练好的 minigpt 对话：默认逐行读问题（Q:），输出回答（A:）。")
    p.add_argument("--question", "-q", help="只回答这一个问题然后退出")
    p.add_argument("--checkpoint", help="检查点路径（默认：你训练的最新模型，在 output/ 或 output/ch06/；没有就用 checkpoints/minigpt-idiom.pth）")
    p.add_argument("--max-new-tokens", type=int, default=64, help="回答最多多少个字")
    p.add_argument("--sample", action="store_true", help="随机采样（默认贪心：每次取概率最大的字）")
    p.add_argument("--temperature", type=float, default=1.0, help="采样温度，<1 更保守，>1 更发散（需 --sample）")
    p.add_argument("--top-k", type=int, default=None, help="只在概率最高的 k 个字里采样（需 --sample）")
    p.add_argument("--top-p", type=float, default=None, help="只在累计概率达到 p 的最小集合里采样（需 --sample）")
    p.add_argument("--repetition-penalty", type=float, default=1.0, help="重复惩罚，>1 时少重复（1.0 = 不惩罚）")
    p.add_argument("--seed", type=int, default=None, help="采样随机种子（可复现）")
    p.add_argument("--device", default="auto", help="cpu / cuda / mps；auto 依次选 cuda → mps → cpu")
    return p


load_for_chat = load_for_inference  # 旧名字


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    device = pick_device(args.device)
    path = Path(args.checkpoint) if args.checkpoint else default_checkpoint()
    try:
        model, tokenizer = load_for_inference(path, device)
    except UserError as e:  # CheckpointError：一行“错误：文件: 哪里不对；怎么办”
        return report(e)
    sampling = dict(do_sample=args.sample, temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                    repetition_penalty=args.repetition_penalty, seed=args.seed)

    def reply(question: str) -> None:
        """边生成边打印（流式）。"""
        try:
            for piece in stream_answer(model, tokenizer, question, max_new_tokens=args.max_new_tokens, **sampling):
                print(piece, end="", flush=True)
        except ValueError as e:
            print(f"\n{ERROR}{e}", file=sys.stderr, end="")
        print(flush=True)

    if args.question is not None:
        reply(args.question)
        return 0
    interactive = sys.stdin.isatty()
    if interactive:
        print("输入问题后回车；空行或 Ctrl-D 退出。")
    while True:
        try:
            question = input("Q: ") if interactive else sys.stdin.readline()
        except (EOFError, KeyboardInterrupt):
            print()
            break
        if not interactive:
            if not question:  # EOF
                break
            question = question.rstrip("\r\n")
        if not question.strip():
            break
        if not interactive:
            print(f"Q: {question}")
        print("A: ", end="", flush=True)
        reply(question)
    return 0


if __name__ == "__main__":
    sys.exit(main())
