"""各章共用的小工具：仓库在哪、用哪个设备、快速模式、中文字体、计算精度、多进程。

    python -m minigpt.common        # 看这台机器会选什么设备、bf16 是否更快

- 设备：pick_device 依次找 cuda → mps → cpu。
- 精度：bf16_is_faster 实测一次矩阵乘；resolve_dtype 把 "auto"/"fp32"/"bf16" 变成 torch.dtype；
  autocast 是训练和评估共用的混合精度上下文（权重保持 fp32，矩阵乘用 bf16）。
- 多进程（数据并行，torchrun 启动）：init_processes / end_processes，print0 只让 0 号进程打印，
  unwrap 取出 DDP、torch.compile 包装里面的原始模型。
"""
import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

REPO_ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- 设备与快速模式
def pick_device(name: str = "auto") -> torch.device:
    """`auto` 依次选 cuda、Apple 的 mps、cpu；其它名字原样使用。"""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def is_fast() -> bool:
    """MINIGPT_FAST=1（测试会设置）：模型和数据不变，只减少训练步数。"""
    return os.environ.get("MINIGPT_FAST", "0") not in ("", "0", "false", "False")


# ---------------------------------------------------------------- 计算精度
_PROBE_CACHE = {}


def bf16_is_faster(device: torch.device, n_embd: int = 256) -> bool:
    """在这台设备上，模型宽度的 bf16 矩阵乘比 fp32 快吗？（实测，0.05–0.5 秒）

    有的 CPU（AMX、AVX512-BF16）跑 bf16 快好几倍；另一些只能模拟，反而慢 5 倍（普通 AVX-512）到 100 多倍
    （只有 AVX2 的 AMD EPYC：每秒约 1 GFLOP）。猜错哪边代价都大，所以量一下：先用 16 行的小矩阵乘粗看一眼，
    慢得多就不再细量（不然在最慢的机器上光是量就要一分半钟），差不多才用 1024 行细量。
    """
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    key = (device.type, n_embd)
    if key not in _PROBE_CACHE:
        gen = torch.Generator().manual_seed(0)  # 自己的随机数生成器：测速不能挪动训练用的随机状态
        t = {dtype: _matmul_seconds(16, n_embd, dtype, gen, repeats=1) for dtype in (torch.float32, torch.bfloat16)}
        if t[torch.bfloat16] < 4 * t[torch.float32]:  # 没有慢得离谱：用训练那么大的矩阵细量
            t = {dtype: _matmul_seconds(1024, n_embd, dtype, gen, repeats=5) for dtype in t}
        _PROBE_CACHE[key] = t[torch.float32] / t[torch.bfloat16] > 1.2
    return _PROBE_CACHE[key]


def _matmul_seconds(rows: int, n_embd: int, dtype: torch.dtype, gen: torch.Generator, repeats: int) -> float:
    """(rows × C) @ (C × 4C) 在 dtype 下最快的一次要几秒（先预热一次；3 轮，每轮 repeats 次取平均）。"""
    a = torch.randn(rows, n_embd, generator=gen).to(dtype)
    b = torch.randn(n_embd, 4 * n_embd, generator=gen).to(dtype)
    a @ b  # 预热
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = min(best, (time.perf_counter() - t) / repeats)
    return best


DTYPES = {"fp32": torch.float32, "float32": torch.float32, "bf16": torch.bfloat16, "bfloat16": torch.bfloat16}


def resolve_dtype(name: str, device: torch.device, n_embd: int) -> torch.dtype:
    """"auto"：实测 bf16 更快才用它；其它名字见 DTYPES。"""
    if name == "auto":
        return torch.bfloat16 if bf16_is_faster(device, n_embd) else torch.float32
    return DTYPES[name]


def autocast(device: torch.device, dtype: torch.dtype):
    """权重保持 fp32（AdamW 需要这个精度）；这个上下文里的矩阵乘用 bf16 算。"""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


# ---------------------------------------------------------------- 多进程（数据并行）
@dataclass
class Processes:
    """这个进程在数据并行里的位置。torchrun 设置 WORLD_SIZE/RANK/LOCAL_RANK；单进程时 world=1, rank=0。"""

    device: torch.device  # 多 GPU 时是这个进程自己的那块卡
    world: int = 1  # 一共几个进程
    rank: int = 0  # 本进程的编号；只有 0 号打印、写日志和保存
    own_group: bool = False  # 进程组是不是我们建的（是的话结束时由我们拆掉）


def init_processes(device: torch.device) -> Processes:
    """由 torchrun 启动时建进程组（GPU 用 NCCL，CPU 用 gloo），否则什么也不做。"""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Processes(device)
    own = False
    if not dist.is_initialized():
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        own = True
    return Processes(device, world, dist.get_rank(), own)


def end_processes(procs: Processes, finished: bool = False) -> None:
    """拆掉 init_processes 建的进程组。正常跑完时传 finished=True：先 barrier，所有进程到齐了再拆。

    不等的话，先跑完的进程（1 号不做最后的评估）会在最后一次通信刚结束时就退出。gloo 的后台线程这时可能
    还拿着那次通信的张量；等它放手时 Python 已经在关闭，放手要拿的 GIL 拿不到，线程被强行结束，进程以
    SIGABRT 中止（"terminate called without an active exception"）。barrier 不带 Python 的张量，晚放手也无妨。
    出错或 Ctrl-C 时（默认 finished=False）不等：别的进程可能永远走不到这里。
    """
    if not procs.own_group:
        return
    if finished:
        dist.barrier()
    dist.destroy_process_group()


def print0(rank: int, *args, **kw) -> None:
    """只有 0 号进程打印（否则每行会出现 world 次）。"""
    if rank == 0:
        print(*args, **kw, flush=True)


def unwrap(model):
    """DDP（`.module`）和 torch.compile（`._orig_mod`）包装里面的原始模型。"""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif isinstance(model, torch.nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


# ---------------------------------------------------------------- 图里的中文
CJK_FONTS = ["Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Zen Hei", "SimHei",
             "Microsoft YaHei", "PingFang SC", "Heiti SC", "Arial Unicode MS"]


def use_chinese_font() -> str | None:
    """让 matplotlib 能画中文；返回用上的字体名，一个都没装时返回 None。

    Linux：`apt-get install fonts-noto-cjk`；Windows 和 macOS 自带 SimHei / PingFang。
    没有这样的字体时中文画成方框（缺字警告会被静音）。
    """
    import warnings

    import matplotlib
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    if not installed.intersection(CJK_FONTS):
        # matplotlib 缓存了字体列表：缓存建好之后才装的字体还不在里面
        for path in font_manager.findSystemFonts():
            if "CJK" in path or "wqy" in path.lower():
                font_manager.fontManager.addfont(path)
        installed = {f.name for f in font_manager.fontManager.ttflist}
    for name in CJK_FONTS:
        if name in installed:
            matplotlib.rcParams["font.sans-serif"] = [name, *matplotlib.rcParams["font.sans-serif"]]
            matplotlib.rcParams["font.family"] = "sans-serif"
            matplotlib.rcParams["axes.unicode_minus"] = False  # CJK 字体常常没有减号
            return name
    warnings.filterwarnings("ignore", message="Glyph .* missing from (current )?font")
    return None


if __name__ == "__main__":
    device = pick_device()
    print("仓库：", REPO_ROOT)
    print("设备：", device)
    print("快速模式：", is_fast())
    print("bf16 更快：", bf16_is_faster(device))
