"""What machine a benchmark ran on: CPU model and the flags that decide its speed, torch, threads, matmul rates.

Every benchmark prints this header with its results, so that figures measured on different machines are
never compared as if they came from the same one (bf16 is ~2.6x faster than fp32 on one 2-core CPU and
~6x slower on another).

    python benchmarks/machine.py          # just the header
"""
import os
import platform
import time

import torch

# CPU flags that change which kernels torch can use (Linux /proc/cpuinfo names)
FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu_model_and_flags() -> tuple[str, list[str]]:
    """("AMD EPYC 9R14", ["avx2", "avx512f", ...]) from /proc/cpuinfo; elsewhere platform.processor()."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name":
                    model = value.strip()
                elif key == "flags":
                    flags = set(value.split())
                if model and flags and key == "":  # end of the first processor's block
                    break
    except OSError:
        pass
    return model, [f for f in FLAGS if f in flags]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_rate(device, dtype=torch.float32, m=1024, k=256, n=1024, repeats=5) -> float:
    """Best-of-`repeats` GFLOP/s of an (m x k) @ (k x n) product in `dtype` on `device`."""
    device = torch.device(device)
    a = torch.randn(m, k, device=device).to(dtype)
    b = torch.randn(k, n, device=device).to(dtype)
    a @ b  # warm-up: first-call costs, kernel selection
    sync(device)
    t = time.perf_counter()
    a @ b
    sync(device)
    best = time.perf_counter() - t
    # bf16 emulated on a CPU without bf16 instructions runs at ~1 GFLOP/s (half a second for this product on a
    # 2-core AMD EPYC with only AVX2): scale the loop so the header never takes more than a few seconds
    inner = max(1, min(10 if device.type == "cpu" else 50, int(0.02 / best)))
    if best > 0.05:
        repeats = 1
    for _ in range(repeats):
        sync(device)
        t = time.perf_counter()
        for _ in range(inner):
            a @ b
        sync(device)
        best = min(best, (time.perf_counter() - t) / inner)
    return 2 * m * k * n / best / 1e9


def describe(device="cpu", k=256) -> dict:
    """Everything the header prints, as a dict (also handy for saving next to results)."""
    device = torch.device(device)
    info = {"torch": torch.__version__, "threads": torch.get_num_threads(), "cores": os.cpu_count()}
    info["cpu"], info["flags"] = cpu_model_and_flags()
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    size = 1024 if device.type == "cpu" else 8192
    kk = k if device.type == "cpu" else 4096
    info["shape"] = f"({size}x{kk})@({kk}x{size})"
    info["fp32"] = matmul_rate(device, torch.float32, size, kk, size)
    info["bf16"] = matmul_rate(device, torch.bfloat16, size, kk, size)
    return info


def header(device="cpu", k=256) -> str:
    """A few Chinese lines describing the machine, printed before a benchmark's results."""
    i = describe(device, k)
    flags = ", ".join(i["flags"]) or "无"
    lines = [f"机器：{i['cpu']}（{i['cores']} 个逻辑核；关键指令集：{flags}）"]
    if "gpu" in i:
        lines.append(f"GPU：{i['gpu']}")
    lines.append(f"torch {i['torch']}，torch 线程数 {i['threads']}")
    ratio = i["bf16"] / i["fp32"]
    compare = f"bf16 是 fp32 的 {ratio:.1f} 倍" if ratio >= 0.5 else f"bf16 比 fp32 慢 {1 / ratio:.0f} 倍"
    lines.append(f"矩阵乘 {i['shape']} 实测：fp32 {i['fp32']:.0f} GFLOP/s，bf16 {i['bf16']:.1f} GFLOP/s"
                 f"（{compare}{'' if ratio > 1.2 else '：这台机器上 bf16 不划算'}）")
    return "\n".join(lines)


if __name__ == "__main__":
    print(header())
