"""判题的比较部分：你的结果和期望一样吗？不一样时，差在哪里，像是哪种常见错误。

`compare(expected, got)` 返回 None（一样）或 Mismatch（哪里不一样 + 从差异的样子猜出的提示）。
规则按期望值的类型来：
    张量   形状、dtype（整数/浮点/布尔）必须一致；数值逐个比，允许误差 |差| ≤ atol + rtol·|期望|
    数     浮点数同上；整数必须相等（3.0 与 3 算相等）
    文字   逐字相同
    列表、元组、字典   逐项比较（列表和元组不区分）
猜错误的办法都很朴素：差一个常数倍？错开了一位？转置了？归一化的维度不对？形状是不是少了一维？
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class Mismatch:
    text: str  # 哪里不一样：期望……，得到……
    hint: str | None = None  # 从差异的样子猜出的常见错误；猜不出时为 None
    numeric: bool = False  # 是浮点数的数值不同（这时报告里写上允许的误差）
    pattern: str | None = None  # 提示是按哪种“样子”猜的（PATTERNS 的键）；None：不是猜的，是事实（类型、dtype……）


# 按差异的样子猜出的提示，只在为它写的练习里用（Exercise.patterns 列出允许的键），别的练习里它多半指错方向
PATTERNS = {
    "nan": "结果里有 NaN", "inf-small": "用很小的有限数代替 -inf", "inf-place": "-inf 的位置不对",
    "scale": "差一个整齐的倍数（n、1/n、√n、−1）", "offset": "处处差同一个常数", "shift": "错开了一位",
    "transpose": "转置了", "normalize": "归一化的维度不对", "edge": "只有第一个/最后一个不对",
    "off1": "整数差 1", "complement": "1 − 期望", "percent": "100 倍（百分数）",
    "shape-dim": "多/少一维", "shape-order": "维度顺序不对", "shape-reshape": "reshape 的目标形状", "shape-off1": "某一维差 1",
    "special-token": "多/少了特殊 token", "len-off1": "长度差 1", "order": "元素对、顺序不对", "mapping": "对应关系不对",
}


# ------------------------------------------------------------------------------ 简短地描述一个值
def _num(x) -> str:
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, float):
        return "nan" if math.isnan(x) else f"{x:.4g}"
    return str(x)


def describe(value, limit: int = 60, items: int = 8) -> str:
    """一行以内描述一个值：张量只显示形状、dtype 和前几个数，长列表只显示开头。"""
    if isinstance(value, torch.Tensor):
        flat = value.detach().flatten()
        nums = ", ".join(_num(x) for x in flat[:4].tolist()) + (", …" if flat.numel() > 4 else "")
        return f"Tensor{tuple(value.shape)} {str(value.dtype).removeprefix('torch.')} [{nums}]"
    if isinstance(value, (list, tuple)):
        head = ", ".join(describe(v, 20, items) for v in value[:items])
        more = f", …（共 {len(value)} 个）" if len(value) > items else ""
        left, right = ("[", "]") if isinstance(value, list) else ("(", ")")
        return f"{left}{head}{more}{right}"
    if isinstance(value, dict):
        pairs = list(value.items())
        head = ", ".join(f"{k!r}: {describe(v, 20, items)}" for k, v in pairs[:items])
        return "{" + head + (f", …（共 {len(pairs)} 项）" if len(pairs) > items else "") + "}"
    if isinstance(value, torch.nn.Module):
        return f"{type(value).__name__}(…)"
    text = _num(value) if isinstance(value, (int, float)) else repr(value).splitlines()[0]
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _kind(value) -> str:
    return type(value).__name__


# ------------------------------------------------------------------------------ 总入口
def compare(expected, got, atol: float = 1e-5, rtol: float = 1e-4, where: str = "返回值") -> Mismatch | None:
    """None：got 与 expected 一致；否则 Mismatch。where 是报告里对这个值的称呼（如“返回值[1]”）。"""
    if isinstance(expected, torch.Tensor):
        return _compare_tensor(expected, got, atol, rtol, where)
    if isinstance(expected, bool):
        if got is expected or (isinstance(got, (bool, int)) and bool(got) == expected and got in (0, 1)):
            return None
        return Mismatch(f"{where}：期望 {expected}，得到 {describe(got)}")
    if isinstance(expected, (int, float)):
        return _compare_number(expected, got, atol, rtol, where)
    if isinstance(expected, str):
        return _compare_text(expected, got, where)
    if isinstance(expected, dict):
        return _compare_dict(expected, got, atol, rtol, where)
    if isinstance(expected, (list, tuple)):
        return _compare_seq(expected, got, atol, rtol, where)
    if expected == got:
        return None
    return Mismatch(f"{where}：期望 {describe(expected)}，得到 {describe(got)}")


# ------------------------------------------------------------------------------ 张量
def _compare_tensor(exp: torch.Tensor, got, atol, rtol, where) -> Mismatch | None:
    if not isinstance(got, torch.Tensor):
        hint = None
        if isinstance(got, (list, tuple, int, float)) or type(got).__module__ == "numpy":
            hint = "要返回 torch.Tensor：用 torch.tensor(…) 转换，或全程用张量运算。"
        return Mismatch(f"{where}应是 torch.Tensor {tuple(exp.shape)}，得到的是 {_kind(got)}：{describe(got)}", hint)
    if got.device != exp.device:
        return Mismatch(f"{where}的设备：期望 {exp.device}，得到 {got.device}",
                        "结果要留在输入所在的设备上：新建张量时写 device=x.device，不要 .cpu()/.cuda()。")
    if exp.grad_fn is not None and got.grad_fn is None:
        return Mismatch(f"{where}不能反向传播：期望的结果带着计算图（grad_fn），你的没有（{describe(got)}）",
                        "返回算出来的那个张量本身：.item()、.detach()、torch.tensor(x.item()) 都会切断计算图，backward() 就没有梯度了。")
    exp, got = exp.detach(), got.detach()
    if got.shape != exp.shape:
        hint, pattern = _shape_hint(exp, got)
        return Mismatch(f"{where}的形状：期望 {tuple(exp.shape)}，得到 {tuple(got.shape)}", hint, pattern=pattern)
    kinds = {"bool": exp.dtype == torch.bool, "float": exp.is_floating_point()}
    if (got.dtype == torch.bool) != kinds["bool"] or got.is_floating_point() != kinds["float"] or (
            not kinds["float"] and not kinds["bool"] and got.dtype != exp.dtype):
        hint = "token id、下标要用整数张量 torch.long。" if exp.dtype == torch.long else None
        if kinds["float"]:
            hint = "结果应是浮点数张量：整数张量做除法/softmax 之前先 .float()。"
        return Mismatch(f"{where}的 dtype：期望 {exp.dtype}，得到 {got.dtype}", hint)
    if got.dtype != exp.dtype:  # 浮点数的精度也要对：bf16 进、bf16 出，float32 进、float32 出
        return Mismatch(f"{where}的 dtype：期望 {exp.dtype}，得到 {got.dtype}",
                        "结果的 dtype 要和输入一致：中间可以升到 float32 算，最后 .to(x.dtype) 转回来；"
                        "别让 float64 的常量（如 torch.tensor(0.5, dtype=torch.float64)）把结果带成 float64。")
    if not kinds["float"]:
        if torch.equal(exp, got):
            return None
        return _value_mismatch(exp, got, where, exact=True)
    e, g = exp.double(), got.double()
    if torch.isclose(g, e, rtol=rtol, atol=atol, equal_nan=True).all():
        return None
    return _value_mismatch(e, g, where, atol=atol, rtol=rtol)


def _value_mismatch(e, g, where, atol=0.0, rtol=0.0, exact=False) -> Mismatch:
    if exact:
        bad = e != g
    else:
        bad = ~torch.isclose(g, e, rtol=rtol, atol=atol, equal_nan=True)
    n_bad = int(bad.sum())
    idx = tuple(int(i) for i in bad.nonzero()[0]) if e.dim() else ()
    at = f"[{', '.join(map(str, idx))}]" if idx else ""
    text = (f"{where}{at}：期望 {_num(e[idx].item())}，得到 {_num(g[idx].item())}"
            f"（{n_bad}/{e.numel()} 个数不一样）\n  期望 {describe(e.to(g.dtype) if exact else e.float())}\n"
            f"  得到 {describe(g if exact else g.float())}")
    hint, pattern = _value_hint(e.double(), g.double(), atol, rtol)
    return Mismatch(text, hint, numeric=not exact, pattern=pattern)


def _close(a, b, atol, rtol) -> bool:
    return a.shape == b.shape and bool(torch.isclose(a, b, rtol=max(rtol, 1e-6), atol=max(atol, 1e-9), equal_nan=True).all())


def _value_hint(e, g, atol, rtol) -> tuple[str | None, str | None]:
    """同形状、数值不同时，猜一个常见原因：(提示, PATTERNS 的键)；-inf 的个数不同是事实，不是猜的（键为 None）。"""
    e_fin, g_fin = torch.isfinite(e), torch.isfinite(g)
    if torch.isnan(g).any() and not torch.isnan(e).any():
        return ("结果里有 NaN：常见原因是整行都被屏蔽（softmax 的输入全是 -inf，0/0），"
                "或者除以 0、对 0 取 log。"), "nan"
    if (e == -math.inf).any() or (g == -math.inf).any():
        e_inf, g_inf = e == -math.inf, g == -math.inf
        if bool((e_inf & g_fin).any()) and bool((g[e_inf & g_fin] < -1e3).all()):
            return "被排除的位置要设为 float('-inf')，不是一个很小的有限数。", "inf-small"
        if int(g_inf.sum()) != int(e_inf.sum()):
            more = int(g_inf.sum()) - int(e_inf.sum())
            return f"你{'多' if more > 0 else '少'}屏蔽了 {abs(more)} 个位置（-inf 的个数和期望不同）。", None
        if not torch.equal(e_inf, g_inf):
            return "-inf 的个数对，位置不对：屏蔽的是不是另一批元素（排序方向、先后顺序）？", "inf-place"
    both = e_fin & g_fin
    ef, gf = e[both], g[both]
    if ef.numel() == 0:
        return None, None
    if not bool(gf.any()) and bool(ef.any()):
        return "你的结果全是 0：是不是只建了一个全零的张量，还没把算出来的值放进去？", None
    dot = float((ef * ef).sum())
    if dot > 0:
        c = float((gf * ef).sum()) / dot
        resid = float((gf - c * ef).norm()) / max(float(gf.norm()), 1e-12)
        if resid < 1e-4 and abs(c - 1) > 1e-3:
            return _scale_hint(c), "scale"
    delta = gf - ef
    if delta.numel() > 1 and float(delta.std()) < 1e-6 * max(1.0, float(ef.abs().max())) and abs(float(delta.mean())) > atol:
        return f"处处都差同一个常数 {float(delta.mean()):.4g}：是不是少加（或多减）了什么，比如偏置或均值？", "offset"
    for dim in range(-1, -min(e.dim(), 2) - 1, -1):  # 最后一维、倒数第二维
        n = e.shape[dim]
        if n < 2:
            continue
        head, tail = g.narrow(dim, 0, n - 1), g.narrow(dim, 1, n - 1)
        if _close(tail, e.narrow(dim, 0, n - 1), atol, rtol):
            return f"你的结果沿第 {e.dim() + dim} 维整体往后错了一位（off-by-one）：下标或切片是不是多移了一格？", "shift"
        if _close(head, e.narrow(dim, 1, n - 1), atol, rtol):
            return f"你的结果沿第 {e.dim() + dim} 维整体往前错了一位（off-by-one）：下标或切片是不是少移了一格？", "shift"
    if e.dim() >= 2 and e.shape[-1] == e.shape[-2] and _close(g, e.transpose(-1, -2), atol, rtol):
        return "你的结果像是期望的转置：最后两维的顺序反了（transpose 用错了位置？）。", "transpose"
    if e.dim() >= 1 and bool(((e >= -1e-9) & (e <= 1 + 1e-9)).all()):
        ones = torch.ones_like(e.sum(-1))
        if _close(e.sum(-1), ones, 1e-5, 1e-5) and not _close(g.sum(-1), ones, 1e-4, 1e-4):
            other = [d for d in range(e.dim() - 1) if e.shape[d] > 1 and _close(g.sum(d), torch.ones_like(g.sum(d)), 1e-4, 1e-4)]
            if other:
                return f"最后一维加起来应是 1，你的结果却是沿第 {other[0]} 维加起来是 1：softmax/归一化的 dim 应为 -1。", "normalize"
            return "每一行（最后一维）加起来应是 1：归一化（softmax、除以总和）做对了吗？", "normalize"
    if bool(both.all()) and e.numel() > 1:
        bad = ~torch.isclose(g, e, rtol=rtol, atol=atol)
        if e.dim() >= 1 and e.shape[-1] > 1 and bool(bad[..., 0].all()) and not bool(bad[..., 1:].any()):
            return "只有最后一维的第 0 个不对：起点/第一个元素的边界？", "edge"
        if e.dim() >= 1 and e.shape[-1] > 1 and bool(bad[..., -1].all()) and not bool(bad[..., :-1].any()):
            return "只有最后一维的最后一个不对：终点/最后一个元素的边界？", "edge"
    return None, None


def _scale_hint(c: float, clean_only: bool = False) -> str | None:
    if abs(c + 1) < 1e-3:
        return "你的结果正好是期望的相反数：符号反了。"
    for n in range(2, 100_001):
        if abs(c - n) < 1e-4 * n:
            return f"你的结果正好是期望的 {n} 倍：是不是少除了 {n}（求平均、求比例时的分母）？"
        if abs(1 / c - n) < 1e-4 * n:
            return f"你的结果正好是期望的 1/{n}：是不是多除了 {n}（分母用错了）？"
        if n > 4096:
            continue
        if abs(c * c - n) < 1e-3 * n:
            return f"你的结果 ≈ 期望 × √{n}：是不是少除了 √{n}（比如注意力分数的 /√d）？"
        if abs(1 / (c * c) - n) < 1e-3 * n:
            return f"你的结果 ≈ 期望 ÷ √{n}：是不是多除了 √{n}？"
    if clean_only:
        return None
    return f"你的结果 ≈ 期望 × {c:.4g}：差一个常数倍，看看缩放（除以什么、乘以什么）。"


def _shape_hint(exp, got) -> tuple[str, str | None]:
    es, gs = tuple(exp.shape), tuple(got.shape)
    if len(gs) == len(es) - 1 and any(es[:i] + es[i + 1:] == gs for i in range(len(es))):
        return "少了一维：求和/求均值时要不要 keepdim=True？是不是少了一个 unsqueeze，或多取了一次下标 [0]？", "shape-dim"
    if len(gs) == len(es) + 1 and any(gs[:i] + gs[i + 1:] == es for i in range(len(gs))):
        return "多了一维：是不是忘了 squeeze，或多加了一个 [None]？", "shape-dim"
    if exp.numel() == got.numel():
        if sorted(es) == sorted(gs):
            return "元素个数对、维度顺序不对：是不是少了（或多了）一次 transpose/permute？", "shape-order"
        return "元素个数对、形状不对：view/reshape 的目标形状写对了吗？", "shape-reshape"
    if len(gs) == len(es):
        diff = [i for i in range(len(es)) if es[i] != gs[i]]
        if len(diff) == 1 and abs(es[diff[0]] - gs[diff[0]]) == 1:
            return f"第 {diff[0]} 维差 1：切片边界 off-by-one（[:-1]、[1:]、range 的终点）？", "shape-off1"
    return "在出问题的那一步前打印各个张量的 .shape，对照任务说明里写的形状。", None


# ------------------------------------------------------------------------------ 数、文字
def _as_number(got):
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        return got.item()
    if type(got).__module__ == "numpy" and hasattr(got, "item"):
        return got.item()
    return got


def _compare_number(exp, got, atol, rtol, where) -> Mismatch | None:
    got = _as_number(got)
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        return Mismatch(f"{where}应是一个数，得到的是 {_kind(got)}：{describe(got)}",
                        "返回一个 Python 数（张量可以用 .item() 取出）。" if isinstance(got, torch.Tensor) else None)
    if isinstance(exp, int) and not isinstance(exp, bool):
        if got == exp:
            return None
        text = f"{where}：期望 {exp:,}，得到 {_num(got) if isinstance(got, float) else f'{got:,}'}（差 {got - exp:+,}）"
        if got in (exp - 1, exp + 1):
            return Mismatch(text, "差 1：边界条件（≥ 还是 >，从 0 还是从 1 数，range 的终点）？", pattern="off1")
        if exp and got and abs(got / exp - 1) > 1e-3:
            return Mismatch(text, _scale_hint(got / exp, clean_only=True), pattern="scale")
        return Mismatch(text)
    if math.isclose(got, exp, rel_tol=rtol, abs_tol=atol) or (math.isnan(exp) and math.isnan(got)):
        return None
    text = f"{where}：期望 {exp:.6g}，得到 {got:.6g}（允许误差 atol={atol:g}，rtol={rtol:g}）"
    if 0 <= exp <= 1 and math.isclose(got, 1 - exp, rel_tol=rtol, abs_tol=atol):
        return Mismatch(text, "你的结果正好是 1 − 期望：算成了另一半（比如“有用的”和“浪费的”反了）。", pattern="complement")
    if exp and math.isclose(got, 100 * exp, rel_tol=1e-6):
        return Mismatch(text, "你的结果是期望的 100 倍：要返回 0 到 1 之间的比例，不是百分数。", pattern="percent")
    if exp and got and not math.isnan(got) and abs(got / exp - 1) > 1e-3:
        # 一个数和另一个数总差“一个倍数”：只有倍数很整齐（n、1/n、√n）时才像是缩放错了，否则交给这道题自己的提示
        return Mismatch(text, _scale_hint(got / exp, clean_only=True), pattern="scale")
    return Mismatch(text)


def _compare_text(exp: str, got, where) -> Mismatch | None:
    if not isinstance(got, str):
        return Mismatch(f"{where}应是文字（str），得到的是 {_kind(got)}：{describe(got)}",
                        "用 \"\".join(…) 把字拼成一个字符串。" if isinstance(got, (list, tuple)) else None)
    if got == exp:
        return None
    i = next((i for i, (a, b) in enumerate(zip(exp, got)) if a != b), min(len(exp), len(got)))
    text = f"{where}：期望 {exp!r}，得到 {got!r}（从第 {i} 个字开始不同）"
    for token in ("<pad>", "<sep>", "<unk>"):
        if got.count(token) > exp.count(token):
            return Mismatch(text, f"多了 {token}：哪些特殊 token 要跳过？", pattern="special-token")
        if got.count(token) < exp.count(token):
            return Mismatch(text, f"少了 {token}：哪些特殊 token 要保留？", pattern="special-token")
    if len(got) == len(exp) - 1 or len(got) == len(exp) + 1:
        return Mismatch(text, "长度差 1：开头或结尾多了/少了一个字（切片边界）？", pattern="len-off1")
    return Mismatch(text)


# ------------------------------------------------------------------------------ 列表、元组、字典
def _scalar(v) -> bool:
    return isinstance(v, (int, float, str, bool)) or v is None


def _compare_seq(exp, got, atol, rtol, where) -> Mismatch | None:
    if isinstance(got, torch.Tensor) and all(_scalar(v) for v in exp):
        return Mismatch(f"{where}应是 list，得到的是 Tensor{tuple(got.shape)}", "用 .tolist() 转成 Python 列表。")
    if not isinstance(got, (list, tuple)):
        return Mismatch(f"{where}应是长度 {len(exp)} 的 {_kind(exp)}，得到的是 {_kind(got)}：{describe(got)}")
    expected_tuple = isinstance(exp, tuple)
    exp, got = list(exp), list(got)
    scalars = all(_scalar(v) for v in exp) and all(_scalar(v) for v in got)
    if len(got) != len(exp):
        text = f"{where}的长度：期望 {len(exp)}，得到 {len(got)}\n  期望 {describe(exp)}\n  得到 {describe(got)}"
        if expected_tuple and len(exp) <= 4 and not any(_scalar(v) for v in exp):
            return Mismatch(text, f"要返回 {len(exp)} 个值组成的元组：return {', '.join('abcd'[:len(exp)])}。")
        if scalars:
            if got == exp[:-1] or got == exp[1:]:
                return Mismatch(text, f"少了{'最后' if got == exp[:-1] else '第'}一个元素：切片边界（off-by-one）？", pattern="len-off1")
            if got[:-1] == exp or got[1:] == exp:
                return Mismatch(text, f"多了{'最后' if got[:-1] == exp else '最前面的'}一个元素：切片边界（off-by-one）？", pattern="len-off1")
        if abs(len(got) - len(exp)) == 1:
            return Mismatch(text, "长度差 1：边界条件（< 还是 ≤，切片 [:-1] / [1:]）？", pattern="len-off1")
        return Mismatch(text)
    if scalars:
        if got == exp:
            return None
        i = next((i for i, (a, b) in enumerate(zip(exp, got)) if not _scalar_equal(a, b, atol, rtol)), None)
        if i is None:
            return None
        text = (f"{where}[{i}]：期望 {describe(exp[i])}，得到 {describe(got[i])}\n  期望 {describe(exp)}\n"
                f"  得到 {describe(got)}")
        if len(exp) > 1 and (got[1:] == exp[:-1] or got[:-1] == exp[1:]):
            return Mismatch(text, "整体错开了一位（off-by-one）：是不是没有（或多做了）移位？", pattern="shift")
        if sorted(map(str, got)) == sorted(map(str, exp)):
            return Mismatch(text, "元素都对，顺序不对：排序方式（按什么排、升序还是降序）？", pattern="order")
        return Mismatch(text)
    for i, (a, b) in enumerate(zip(exp, got)):
        m = compare(a, b, atol, rtol, f"{where}[{i}]")
        if m is not None:
            return m
    return None


def _scalar_equal(a, b, atol, rtol) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(b, (int, float)) and math.isclose(a, b, rel_tol=rtol, abs_tol=atol)
    return a == b and type(a) is type(b) or (isinstance(a, int) and isinstance(b, int) and a == b)


def _compare_dict(exp: dict, got, atol, rtol, where) -> Mismatch | None:
    if not isinstance(got, dict):
        return Mismatch(f"{where}应是 dict，得到的是 {_kind(got)}：{describe(got)}")
    missing = [k for k in exp if k not in got]
    extra = [k for k in got if k not in exp]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"少了 {len(missing)} 个键，如 {describe(missing[:5])}")
        if extra:
            parts.append(f"多了 {len(extra)} 个键，如 {describe(extra[:5])}")
        return Mismatch(f"{where}的键不对：{'；'.join(parts)}")
    if all(_scalar(v) for v in exp.values()) and all(_scalar(v) for v in got.values()):
        bad = [k for k in exp if not _scalar_equal(exp[k], got[k], atol, rtol)]
        if not bad:
            return None
        shown = "，".join(f"{k!r}: 期望 {describe(exp[k])} 得到 {describe(got[k])}" for k in bad[:4])
        text = f"{where}有 {len(bad)}/{len(exp)} 项不对：{shown}{'…' if len(bad) > 4 else ''}"
        if sorted(map(str, got.values())) == sorted(map(str, exp.values())):
            return Mismatch(text, "值都出现了，但对应关系不对：编号/排序的顺序？", pattern="mapping")
        return Mismatch(text)
    for k in exp:
        m = compare(exp[k], got[k], atol, rtol, f"{where}[{k!r}]")
        if m is not None:
            return m
    return None
