"""第 7 章进阶：CPU 上一次生成一个 token 的快速路径（FastDecoder）。不读它也能学完整个课程。

    from minigpt.fast_decode import decoder_for
    dec = decoder_for(model, max_len)     # 本章的 GPT 才有（Qwen3 等别的模型返回 None）
    logits = dec.prefill(ids, mask)       # 之后每步 logits = dec.step(上一步的 token)

`generate(..., fast=True)`（answer、answers、游乐场默认如此）用它；结果与 model(..., kv_cache=...) 逐 token 相同
（tests/test_fast_decode.py）。model.py 是给人读的模型；这里是围着它的“快”：打包好的权重、它们的缓存、
对 PyTorch 内部 oneDNN 算子的调用。内部算子（torch.ops.mkldnn.*）和张量的私有属性只在这个文件里出现；
它们在某个 PyTorch 版本或平台上用不了时（onednn_available 先试一遍），就退回普通的 W.T + addmm，结果一样。
"""
import functools
import time
import weakref
from typing import Optional

import torch
import torch.nn.functional as F
from torch.optim.optimizer import register_optimizer_step_post_hook

from minigpt.model import GPTLMHeadModel

__all__ = ["FastDecoder", "decoder_for", "pack_weights", "weight_sources", "pack", "linear",
           "onednn_available", "onednn_is_faster"]


def decoder_for(model, max_len: int) -> Optional["FastDecoder"]:
    """给 model 建一个快速路径，最多 max_len 个位置；不是本章的 GPT（比如第 8 章的 Qwen3）时返回 None：照常走普通路径。"""
    return FastDecoder(model, max_len) if isinstance(model, GPTLMHeadModel) else None


class FastDecoder:
    """一次生成一个 token 的快速路径：结果与 model(..., kv_cache=...) 逐 token 相同，只是少了“杂事”。

    3.9M 参数的模型，生成一个 token 的算术量不到 8 MFLOP；普通路径的时间大多花在别处：
      - 每个 nn.Module 调用、每次 view/transpose/chunk 都是一次 Python 调用加一次算子分发（几微秒一个，
        一步上百个）；每步还要重新推算位置编号、检查掩码、拼接 attention_mask。
      - 只有一个 token 时矩阵乘退化成“向量 × 矩阵”：每个权重读进来只用一次，快慢看怎么读权重。
        CPU 上有两种读法：连续存放的 W.T 交给 torch.addmm（MKL，英特尔的数学库），或者事先排成 oneDNN（PyTorch 自带的
        另一个库）内存布局的权重。哪种快看机器、看一次几行：AMD EPYC Zen 4 上 16 行时 oneDNN 快 1.7–2.8 倍，
        Zen 3 上一行时 addmm 快 1.2–1.6 倍（benchmarks/README.md）。所以不猜：第一次用时在这个模型的矩阵上各量一次
        （onednn_is_faster，约 0.1 秒，按行数、精度、线程数记住结果）。
    所以这里：权重事先打包一次（pack_weights），每个模型存一份、反复用；MLP 的 GELU 并进矩阵乘（oneDNN 时）；
    KV 缓存一次预留到 max_len；每步是一个平铺直叙的函数，位置和掩码只维护一份、原地更新。
    用法：logits = dec.prefill(ids, mask)；之后每步 logits = dec.step(上一步的 token)；dec.keep(rows) 丢掉已结束的行。
    """

    def __init__(self, model: GPTLMHeadModel, max_len: int):
        cfg = model.config
        self.model, self.max_len = model, max_len
        self.n_head, self.n_embd = cfg.n_head, cfg.n_embd
        self.cache = model.new_kv_cache(max_len)
        self.positions = self.key_mask = None

    def _pack(self, rows: int) -> None:
        """取（或打包）这一批行数下更快的那种权重；prefill 时调用，这时才知道一次几行。"""
        tr = self.model.transformer
        w = pack_weights(self.model, rows)
        norms = lambda ln: (ln.weight.detach(), ln.bias.detach())  # F.layer_norm 的参数：比调用模块少一层 Python
        self.layers = [(norms(blk.ln_1), *w[5 * i:5 * i + 5], norms(blk.ln_2)) for i, blk in enumerate(tr.blocks)]
        self.wte, self.wpe, self.ln_f, self.head = tr.wte.weight, tr.wpe.weight, norms(tr.ln_f), w[-1]

    def prefill(self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """整个提示词走普通前向（一次，填好缓存）；返回最后一个位置的 logits (B, V)。左填充时给 attention_mask。"""
        B, T = input_ids.shape
        self._pack(B)
        padded = attention_mask is not None and not bool(attention_mask.all())
        logits = self.model(input_ids, attention_mask if padded else None, kv_cache=self.cache, logits_to_keep=1)
        # 下一个 token 的位置 = 这一行真实 token 的个数（左填充的 padding 不占位置）
        self.positions = attention_mask.long().sum(-1) if padded else torch.full((B,), T, device=input_ids.device)
        if padded:  # 哪些缓存格可以看：提示词里的真实 token，以及之后生成的每一个
            self.key_mask = torch.ones(B, 1, 1, self.max_len, dtype=torch.bool, device=input_ids.device)
            self.key_mask[:, 0, 0, :T] = attention_mask.bool()
        return logits[:, -1]

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens: (B,) 上一步生成的 token。把它过一遍所有层、写进缓存，返回下一个 token 的 logits (B, V)。"""
        B, C, nh = tokens.shape[0], self.n_embd, self.n_head
        n = self.cache.seq_len + 1  # 写入这个 token 之后缓存里的位置数
        mask = None if self.key_mask is None else self.key_mask[..., :n]  # (B, 1, 1, n)
        x = self.wte[tokens] + self.wpe[self.positions]  # (B, C)
        for i, (ln_1, w_qkv, b_qkv, w_out, w_fc, w_proj, ln_2) in enumerate(self.layers):
            qkv = linear(F.layer_norm(x, (C,), *ln_1), w_qkv, b_qkv).view(B, 3, nh, 1, C // nh)  # Q、K、V 各 (B, nh, 1, hs)
            k, v = self.cache.update(i, qkv[:, 1], qkv[:, 2])  # (B, nh, n, hs)
            y = F.scaled_dot_product_attention(qkv[:, 0], k, v, attn_mask=mask)  # (B, nh, 1, hs)
            x = x + linear(y.view(B, C), w_out)
            x = x + linear(linear(F.layer_norm(x, (C,), *ln_2), w_fc, gelu=True), w_proj)
        self.positions += 1
        return linear(F.layer_norm(x, (C,), *self.ln_f), self.head)  # (B, V)

    def keep(self, rows: torch.Tensor) -> None:
        """只保留批里 rows 这些行（其它行已经生成完了）。"""
        self.cache.reorder(rows)
        self.positions = self.positions[rows]
        if self.key_mask is not None:
            self.key_mask = self.key_mask[rows]


def linear(x: torch.Tensor, w: torch.Tensor, b: Optional[torch.Tensor] = None, gelu: bool = False) -> torch.Tensor:
    """x @ W.T (+ b)，可选再过 GELU；w 是 pack() 打包好的权重。x 先转成权重的精度（训练中评估时是 bf16）。"""
    x = x.to(w.dtype)
    if w.is_mkldnn:  # oneDNN 打包的权重：一个算子做完矩阵乘、偏置和 GELU（参数：后处理的名字、它的参数、算法）
        return torch.ops.mkldnn._linear_pointwise(x, w, b, "gelu" if gelu else "none", [], "none" if gelu else "")
    y = x @ w if b is None else torch.addmm(b, x, w)  # w 是连续的 W.T (C_in, C_out)
    return F.gelu(y) if gelu else y


def pack(w: torch.Tensor, onednn: bool) -> torch.Tensor:
    """把一个 (out, in) 的权重排成 linear() 要的样子：oneDNN 的内存布局，或连续存放的 W.T（给 addmm）。

    oneDNN 的布局由 torch.ops.mkldnn._reorder_linear_weight 排好，以后每次乘都不用再排
    （torch.compile 在 CPU 上冻结权重时也这样做）。
    """
    return torch.ops.mkldnn._reorder_linear_weight(w.contiguous()) if onednn else w.t().contiguous()


def weight_sources(model: GPTLMHeadModel) -> list[torch.Tensor]:
    """快速路径要打包的参数：每层 [W_qkv, b_qkv, W_out, W_fc, W_proj]，最后是 lm_head 的 W。"""
    return [p for blk in model.transformer.blocks for p in (blk.attn.qkv_proj.weight, blk.attn.qkv_proj.bias,
            blk.attn.out_proj.weight, blk.mlp.c_fc.weight, blk.mlp.c_proj.weight)] + [model.lm_head.weight]


# 模型 → (版本, 打包好的权重)。不挂在模型上：oneDNN 的张量不能 deepcopy 或 pickle，模型被复制、保存时不该带着它；
# 弱引用：模型没人用了，它的这一份也跟着释放。
_packed: "weakref.WeakKeyDictionary[GPTLMHeadModel, tuple]" = weakref.WeakKeyDictionary()
_optimizer_steps = 0  # 第一次打包之后，这个进程里所有优化器一共走了多少步（缓存键的一部分）
_step_hook = None  # 数步数的钩子（torch 的 RemovableHandle）：第一次打包时才注册，import 时什么也不做


def _count_optimizer_step(optimizer, args, kwargs) -> None:
    global _optimizer_steps
    _optimizer_steps += 1


def pack_weights(model: GPTLMHeadModel, rows: int = 1) -> list[torch.Tensor]:
    """weight_sources(model) 打包好的新张量，顺序相同；每个模型存一份，权重没变就直接复用。

    rows：一次乘几行（生成时的批大小）。CPU 上，在这台机器、这个行数下 oneDNN 更快（onednn_is_faster 实测）时
    排成 oneDNN 的布局，否则（以及别的设备）是连续存放的 W.T。打包一遍要复制整个模型（约 15 MB，十几毫秒）；
    权重一旦变了（训练的一步、load_state_dict、.to(设备)）它们的版本号或地址就变了，下次调用自动重做；
    优化器走过一步也重做：融合的 AdamW（fused=True，train() 用的就是它）原地更新参数，却不增加版本号。
    autocast（训练中评估用 bf16）时直接存成 autocast 的精度，免得每步都把整个 W 转换一遍。
    """
    global _step_hook
    if _step_hook is None:  # torch 的公开接口：对所有优化器生效的 step 后钩子；留着句柄，需要时可以 .remove()
        _step_hook = register_optimizer_step_post_hook(_count_optimizer_step)
    device = model.lm_head.weight.device.type
    dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else model.lm_head.weight.dtype
    sources = weight_sources(model)
    onednn = device == "cpu" and onednn_is_faster([p for p in sources if p.dim() == 2], dtype, rows)
    key = (dtype, onednn, _optimizer_steps, [(p.data_ptr(), p._version) for p in sources])
    cached = _packed.get(model)
    if cached is None or cached[0] != key:
        weights = [pack(p.detach().to(dtype), onednn) if p.dim() == 2 else p.detach().to(dtype) for p in sources]
        _packed[model] = cached = (key, weights)
    return cached[1]


_faster: dict[tuple, bool] = {}  # (矩阵形状, 精度, 行数档, 线程数) → oneDNN 是否更快


def onednn_is_faster(matrices: list[torch.Tensor], dtype: torch.dtype, rows: int) -> bool:
    """这台 CPU 上，rows 行的输入乘这些矩阵，oneDNN 打包的权重比 W.T + addmm 快吗？（实测一次，记住结果）

    行数按 2 的幂分档（1、2、4、…、64 及以上），每档量一次：两种读法交错各做 5 遍，比最快的一遍。
    2 核 AMD EPYC Zen 3 上：3.9M 参数的模型约 0.1 秒，44.7M 参数（768×6）的 0.6–0.9 秒；每个进程每档只量一次。
    """
    if not onednn_available(dtype):
        return False
    bucket = min(1 << (rows - 1).bit_length(), 64)
    key = (tuple(w.shape for w in matrices), dtype, bucket, torch.get_num_threads())
    if key not in _faster:
        gen = torch.Generator().manual_seed(0)  # 自己的随机数生成器：测速不能挪动生成用的随机状态
        ws = [w.detach().to(dtype) for w in matrices]
        xs = [torch.randn(bucket, w.shape[1], generator=gen).to(dtype) for w in ws]
        ways = {way: [pack(w, way) for w in ws] for way in (True, False)}
        best = dict.fromkeys(ways, float("inf"))
        with torch.no_grad():
            for _ in range(5):
                for way, packed in ways.items():
                    t = time.perf_counter()
                    for x, w in zip(xs, packed):
                        linear(x, w)
                    best[way] = min(best[way], time.perf_counter() - t)
        _faster[key] = best[True] < best[False]
    return _faster[key]


@functools.cache
def onednn_available(dtype: torch.dtype) -> bool:
    """这个 PyTorch 在这台 CPU 上能用 oneDNN 打包的矩阵乘吗？（内部算子，有的平台或版本没有：试一次，不行就不用）

    快速路径用到的三种写法都试：只有矩阵乘、带偏置、带融合的 GELU；每种都要和普通路径（W.T + addmm）的结果一致。
    """
    if not torch.backends.mkldnn.is_available():
        return False
    gen = torch.Generator().manual_seed(0)
    w, b, x = (torch.randn(*shape, generator=gen).to(dtype) for shape in ((16, 8), (16,), (3, 8)))
    tol = dict(rtol=1e-2, atol=1e-2) if dtype in (torch.bfloat16, torch.float16) else dict(rtol=1e-5, atol=1e-5)
    try:
        packed, plain = pack(w, onednn=True), pack(w, onednn=False)
        with torch.no_grad():
            return all(torch.allclose(linear(x, packed, bias, gelu).float(), linear(x, plain, bias, gelu).float(), **tol)
                       for bias, gelu in ((None, False), (b, False), (None, True)))
    except (RuntimeError, NotImplementedError, AttributeError):
        return False
