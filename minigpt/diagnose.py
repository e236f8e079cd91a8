"""第 6 章：“我的 loss 正常吗？”——只看损失曲线，说出哪里可能出了问题、该检查什么。

    from minigpt.diagnose import diagnose_loss, print_diagnosis
    history = train(model, tokenizer, "data/train.jsonl", "data/val.jsonl", max_steps=300)
    print_diagnosis(history, vocab_size=tokenizer.get_vocab_size())     # train() 的 History（自带验证损失）
    findings = diagnose_loss([7.9, 7.9, 7.9, ...], vocab_size=2766)     # 每步的训练损失列表
    print_diagnosis("output/metrics.jsonl", vocab_size=2766)            # 训练写下的指标文件

    python -m minigpt.diagnose output/metrics.jsonl --vocab data/vocab.json

返回 Finding(kind, message) 的列表，kind 是下面之一（可以同时有几个）：

    nan            损失出现 NaN / inf
    stuck_at_ln_v  损失停在 ln V 附近不动：模型什么也没学到（学习率为 0、标签或掩码错了）
    instant_zero   损失一下子掉到接近 0：答案泄漏进了输入（没错开一位、没有因果掩码）
    lr_too_high    学习率太大：损失冲到随机猜测（ln V）之上、剧烈跳动或发散
    overfitting    训练损失在降，验证损失先降后升：模型开始背训练集
    healthy        以上都没有

判断规则（阈值都相对于 ln V 和曲线自身的噪声，所以换词表、换数据也适用）：

* 参照水平 L0：给了 vocab_size 就用 ln V（随机初始化的模型每个字约 1/V 的概率，交叉熵 = ln V，第 5 章）；
  否则用第一步的损失（初始化正常时它就约等于 ln V）。
* 训练损失是**每一批**的损失，噪声很大：按长度分桶后同一批多是同一种题型，难度不同，相邻两步差 1 nat 也正常。
  所以先用滑动中位数平滑（窗口约为曲线长度的 1/10，5–51 个点），噪声 σ 用残差的中位数绝对偏差（MAD × 1.4826）
  估计；单个尖峰不影响中位数。
* nan：任何一个点不是有限数。之后只诊断第一个 NaN 之前的部分。
* lr_too_high：(a) 第一步之后，有点超过 max(L0, 第一步) + 0.25·L0（模型比随机猜还差，而且差很多）；
  或 (b) 平滑后的曲线末尾比它的最低点高出 max(0.15·L0, 4σ)（训练损失回升 = 发散）；
  或 (c) 前 10% 之后，至少 5 个、且至少 1% 的点比局部中位数高出 max(8σ, 0.4·L0)（反复的大尖峰）。
  课程 cpu 预设的真实训练（tests/fixtures/loss_curve_cpu_preset.json）里，正常的批次也会比局部中位数高出 2–4 nat，
  集中在前 250 步（模型已经学会一些题型、还没学会另一些）：所以前 10% 不数，门槛也定得高。
* stuck_at_ln_v：至少 20 个点，且最后三分之一的中位数还在 L0 − 0.05·L0 之上（几乎没降）。
* instant_zero：验证损失也降到 0.1·L0 以下（没见过的问题不可能答得这么准）；或训练损失（平滑后）降到 0.1·L0
  以下、验证损失最低也还在 0.75·L0 之上（只在训练时看得到答案）；没有验证损失时：训练损失在前 200 步内就降到
  0.1·L0 以下（真实数据上正常训练要好几个 epoch 才背得下来）。有验证损失、而且验证损失也学到了东西时，
  训练损失很快接近 0 是小数据集上的过拟合，归到 overfitting。
* overfitting：至少 3 次验证；最低点不是最后一次，最后一次比最低点高出 max(3%, 0.02)；同时训练损失（平滑后）
  从验证最低的那一步到最后还降了 max(0.25σ, 0.01·L0) 以上。判为 lr_too_high 时不报（验证损失回升是不稳定造成的；
  stuck_at_ln_v、instant_zero 也一样）。
* 少于 10 个点时，除了 NaN 什么也不判断（太短，看不出趋势）。

第 11 章的后训练（DPO、GRPO）另有一个诊断，看的是它们自己的曲线：

    findings = diagnose_post_training(dpo_losses=[...], rewards=[...], kls=[...], flat_groups=[...])
    python -m minigpt.diagnose output/ch11/metrics.jsonl     # 有 dpo_loss / reward / kl / flat_groups 列的指标文件

    nan              某条曲线出现 NaN / inf（KL 出现 inf 算 kl_blowup）
    dpo_stuck_ln2    DPO 损失停在 ln 2 ≈ 0.693：策略和参考模型一模一样，策略没在动
    reward_collapse  平均奖励掉到接近 0 并停在那里；或几乎每组的奖励都相同，组内优势全是 0，没有可学的信号
    kl_blowup        到参考模型的 KL 超过上限，或越涨越快：策略跑远了
    healthy          以上都没有

曲线和上面一样先用滑动中位数平滑，噪声 σ 用残差的 MAD 估计（smooth_and_noise）；m 是最后三分之一的点数。

* dpo_stuck_ln2：至少 10 个点；最后三分之一的中位数离 ln 2 不到 max(0.02, 4·1.25σ/√m)（1.25σ/√m 是中位数的标准误），
  平滑后的曲线也从没低于 ln 2 − max(同一个阈值, 4·1.25σ/√窗口)（降下去又回来的是别的问题）。
* reward_collapse：(a) 平滑后的平均奖励最高点比最后三分之一的中位数高出 4σ 以上，而后者不到最高点的 20%（塌了）；
  或 (b) 给了 flat_groups（每步奖励全相同的组所占的比例，minigpt.grpo.grpo_step 的统计）时，最后三分之一的平均 ≥ 0.9；
  没给时，最后三分之一的平均奖励的最大值不到 0.01（奖励在 0–1 之间，课程的接龙奖励：几乎每个回答都是 0 分，组组全错）。
* kl_blowup：平滑后的 KL（每个 token 的平均，nats）超过 kl_bound（默认 1.0）；或最后三分之一涨得比前三分之二还多
  （在加速），涨幅超过 4σ，而且已经超过 0.05。
* 某条曲线少于 10 个点时不诊断它（healthy 的说明里会写）。
"""
from __future__ import annotations

import json
import math
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from minigpt.cli import ArgumentParser, report

__all__ = ["KINDS", "Finding", "Curve", "load_curves", "rolling_median", "smooth_and_noise", "diagnose_loss",
           "print_diagnosis", "POST_TRAINING_KINDS", "diagnose_post_training", "read_post_training",
           "print_post_training", "main"]

KINDS = ("healthy", "nan", "stuck_at_ln_v", "instant_zero", "overfitting", "lr_too_high")

# ---- 阈值（都写在这里，文档见模块说明）
MIN_POINTS = 10  # 少于这么多点：只查 NaN
MIN_POINTS_STUCK = 20  # 判断“停住”至少要这么多点
STUCK_DROP = 0.05  # 最后三分之一的中位数比 L0 低不到 5%：没学到东西
ZERO_LEVEL = 0.10  # “接近 0”：低于 0.1·L0（V≈2766 时约 0.8 nat）
INSTANT_STEPS = 200  # “一下子”：前 200 步以内（只有训练损失时用）
LEAK_VAL = 0.75  # 训练损失接近 0 时，验证损失最低也还在 0.75·L0 之上：只在训练时泄漏
ABOVE_START = 0.25  # 比起点还高 0.25·L0：比随机猜还差很多
RISE = 0.15  # 平滑曲线末尾比最低点高出 0.15·L0（或 4σ）：在发散
RISE_SIGMAS = 4.0
SPIKE_SIGMAS, SPIKE_LEVEL = 8.0, 0.40  # 尖峰：比局部中位数高出 max(8σ, 0.4·L0)
SPIKE_MIN_COUNT, SPIKE_MIN_SHARE = 5, 0.01
SPIKE_SKIP = 0.10  # 前 10% 的点不数尖峰：刚学会一部分题型时，另一种题型的批次会高出 3–4 nat（实测），这是正常的
OVERFIT_REL, OVERFIT_ABS = 0.03, 0.02  # 验证损失比最低点高出 3%（且至少 0.02）
MIN_EVALS = 3


@dataclass(frozen=True)
class Finding:
    kind: str  # KINDS（或后训练的 POST_TRAINING_KINDS）之一
    message: str  # 中文：看到了什么、可能的原因、该检查什么


@dataclass
class Curve:
    steps: list[int]
    values: list[float]


# ====================================================================== 读入各种形式的曲线
def _json_rows(path: Path) -> list[dict]:
    """metrics.jsonl 的每一行（跳过空行）；读不了或某行不是 JSON 时抛出说清楚文件和行号的 ValueError。"""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise ValueError(f"{path}：读不了（{e.strerror or e}）") from None
    rows = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            raise ValueError(f"{path}:{n}：不是合法的 JSON") from None
    return rows


def _read_metrics(path: Path) -> tuple[Curve, Curve]:
    """train() 写的 metrics.jsonl：训练行有 train_loss（每 log_every 步一行），评估行有 val_loss。"""
    train, val = Curve([], []), Curve([], [])
    for row in _json_rows(path):
        step = int(row.get("step", len(train.steps) + 1))
        if "train_loss" in row:
            train.steps.append(step)
            train.values.append(float(row["train_loss"]))
        if "val_loss" in row:
            val.steps.append(step)
            val.values.append(float(row["val_loss"]))
    if not train.values:
        raise ValueError(f"{path}：没有 train_loss 行，不像 train() 写的 metrics.jsonl")
    return train, val


def _as_val(val_losses, n_train_steps: int) -> Curve:
    """验证损失：[(step, loss)]、[{"step":…, "val_loss":…}]，或只有数值（假定均匀分布在训练过程中）。"""
    val = Curve([], [])
    items = list(val_losses or [])
    for i, item in enumerate(items):
        if isinstance(item, dict):
            step, value = item.get("step"), item.get("val_loss")
            if value is None:
                continue
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            step, value = item
        else:
            step, value = None, item
        if step is None:  # 只有数值：第 i 次评估大约在训练的 (i+1)/len 处
            step = round((i + 1) * max(n_train_steps, 1) / len(items))
        val.steps.append(int(step))
        val.values.append(float(value))
    return val


def load_curves(train_losses, val_losses=None) -> tuple[Curve, Curve]:
    """把列表、train() 的 History、metrics.jsonl 路径统一成 (训练曲线, 验证曲线)。"""
    if isinstance(train_losses, (str, Path)):
        train, val = _read_metrics(Path(train_losses))
        if val_losses is not None:
            val = _as_val(val_losses, train.steps[-1])
        return train, val
    values = [float(x) for x in train_losses]
    train = Curve(list(range(1, len(values) + 1)), values)
    if val_losses is None and hasattr(train_losses, "evals"):  # train() 的 History
        val_losses = [r for r in train_losses.evals if "val_loss" in r]
    return train, _as_val(val_losses, len(values))


# ====================================================================== 小工具
def _finite(x: float) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def rolling_median(values: list[float], window: int) -> list[float]:
    half = window // 2
    return [statistics.median(values[max(0, i - half) : i + half + 1]) for i in range(len(values))]


def smooth_and_noise(values: list[float]) -> tuple[list[float], float, int]:
    """滑动中位数（窗口约为长度的 1/10，5–51 点）和噪声 σ（残差 MAD × 1.4826）。"""
    window = min(51, max(5, len(values) // 10)) | 1  # 奇数
    smooth = rolling_median(values, window)
    sigma = 1.4826 * statistics.median(abs(v - s) for v, s in zip(values, smooth))
    return smooth, sigma, window


def _fmt(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:.3e}"


# ====================================================================== 诊断
def diagnose_loss(train_losses, val_losses=None, vocab_size=None) -> list[Finding]:
    """诊断一条训练损失曲线（和可选的验证损失）。返回 Finding 列表；没有问题时只有一条 healthy。

    train_losses: 每步训练损失的列表、train() 返回的 History（.evals 里的验证损失一并使用），
        或 metrics.jsonl 的路径。val_losses: 数值列表、(step, loss) 列表或评估行（dict）；None 时从 History /
        metrics.jsonl 里取。vocab_size: 词表大小 V，用来算 ln V；不给就用第一步的损失当参照。
    """
    train, val = load_curves(train_losses, val_losses)
    findings: list[Finding] = []
    if not train.values:
        return [Finding("healthy", "没有损失数据：先训练几步（train() 返回的 History 就是每步的损失）。")]

    # ---- NaN / inf：之后只看第一个坏点之前的部分
    bad = [i for i, x in enumerate(train.values) if not _finite(x)]
    bad_val = [i for i, x in enumerate(val.values) if not _finite(x)]
    if bad or bad_val:
        findings.append(Finding("nan", _nan_message(train, bad, val, bad_val, vocab_size)))
        if bad:
            train = Curve(train.steps[: bad[0]], train.values[: bad[0]])
        if bad_val:
            val = Curve(val.steps[: bad_val[0]], val.values[: bad_val[0]])
    n = len(train.values)
    if n < MIN_POINTS:
        if not findings:
            findings.append(Finding("healthy", f"曲线只有 {n} 个点，太短，还看不出趋势：多训练一会儿（几十步以上）再诊断。"))
        return findings

    ln_v = math.log(vocab_size) if vocab_size else None
    L0 = ln_v if ln_v is not None else train.values[0]
    ref = f"ln V = ln {vocab_size} = {ln_v:.2f}" if ln_v is not None else f"第一步的损失 {L0:.2f}（没给 vocab_size，用它代替 ln V）"
    smooth, sigma, _ = smooth_and_noise(train.values)
    start = max(L0, train.values[0])

    # ---- 学习率太大：冲到起点之上 / 平滑曲线回升 / 反复的大尖峰
    too_high = _lr_too_high(train, smooth, sigma, L0, start)
    if too_high:
        findings.append(Finding("lr_too_high", too_high + (_nan_after_lr() if bad else "")))

    # ---- 停在 ln V 附近
    last_third = train.values[-max(1, n // 3):]
    end_level = statistics.median(last_third)
    if not too_high and n >= MIN_POINTS_STUCK and end_level > L0 * (1 - STUCK_DROP):
        findings.append(Finding("stuck_at_ln_v", _stuck_message(train, end_level, L0, ref)))

    # ---- 一下子降到接近 0
    zero_level = ZERO_LEVEL * L0
    below = [s for s, v in zip(train.steps, smooth) if v < zero_level]
    val_min = min(val.values) if val.values else None
    instant = None
    if val_min is not None and val_min < zero_level:
        instant = f"验证损失降到了 {val_min:.3f}（{ref} 的 10% 以下），没见过的问题不可能答得这么准"
    elif below and val_min is not None and val_min > LEAK_VAL * L0:
        instant = (f"训练损失降到了 {min(smooth):.3f}（{ref} 的 10% 以下），验证损失却几乎没降（最低 {val_min:.2f}）："
                   "训练时看得到答案，验证时看不到")
    elif below and val_min is None and below[0] <= INSTANT_STEPS:
        instant = f"训练损失在第 {below[0]} 步就降到了 {zero_level:.2f}（{ref} 的 10%）以下"
    if instant and not too_high:
        findings.append(Finding("instant_zero", _instant_message(instant)))

    # ---- 过拟合：训练在降，验证先降后升（学习率太大时验证损失回升是不稳定造成的，不另报过拟合）
    if not instant and not too_high and len(val.values) >= MIN_EVALS:
        over = _overfitting(train, smooth, sigma, val, L0)
        if over:
            findings.append(Finding("overfitting", over))

    if not findings:
        findings.append(Finding("healthy", _healthy_message(train, smooth, val, L0, ref, ln_v)))
    return findings


def _lr_too_high(train: Curve, smooth, sigma, L0, start) -> str | None:
    values, steps = train.values, train.steps
    # (a) 比起点（随机猜测的水平）还高很多
    limit = start + ABOVE_START * L0
    above = [(s, v) for s, v in zip(steps[1:], values[1:]) if v > limit]
    if above:
        worst = max(above, key=lambda sv: sv[1])
        return (f"损失冲到了随机猜测的水平之上：第 {above[0][0]} 步 {_fmt(above[0][1])}，最高 {_fmt(worst[1])}"
                f"（第 {worst[0]} 步），而起点约 {start:.2f}。模型比“每个字都猜 1/V”还差，说明参数被一步推得太远。"
                + _LR_ADVICE)
    # (b) 平滑后的曲线在回升（训练损失本不该回升）
    low = min(range(len(smooth)), key=smooth.__getitem__)
    rise = smooth[-1] - smooth[low]
    if low < len(smooth) - 1 and rise > max(RISE * L0, RISE_SIGMAS * sigma):
        return (f"训练损失在回升：平滑后在第 {steps[low]} 步最低（{smooth[low]:.2f}），最后又升到 {smooth[-1]:.2f}。"
                "训练集上的损失本该一直降（验证损失回升才是过拟合），它回升多半是在发散。" + _LR_ADVICE)
    # (c) 反复的大尖峰
    spike_limit = max(SPIKE_SIGMAS * sigma, SPIKE_LEVEL * L0)
    skip = int(SPIKE_SKIP * len(values))
    spikes = [(s, v) for s, v, m in list(zip(steps, values, smooth))[skip:] if v - m > spike_limit]
    if len(spikes) >= max(SPIKE_MIN_COUNT, SPIKE_MIN_SHARE * len(values)):
        shown = "、".join(f"第 {s} 步 {v:.2f}" for s, v in spikes[:4])
        return (f"损失反复出现大尖峰：{len(spikes)} 个点比附近的中位数高出 {spike_limit:.2f} 以上（{shown}……）。"
                "正常的批次噪声（不同题型难度不同）没有这么大。" + _LR_ADVICE)
    return None


_LR_ADVICE = ("检查：学习率是否太大（课程默认峰值 1e-3；试试缩小 3–10 倍）；有没有学习率预热（warmup_steps）；"
              "梯度裁剪 clip_grad_norm_ 是否还在；bf16/fp16 下是否溢出。")


def _nan_after_lr() -> str:
    return "损失变成 NaN 之前就已经很不稳定，NaN 多半也是学习率太大造成的。"


def _nan_message(train: Curve, bad, val: Curve, bad_val, vocab_size) -> str:
    if bad:
        i = bad[0]
        where = f"训练损失在第 {train.steps[i]} 步变成了 {train.values[i]}"
        before = train.values[:i]
        if i == 0:
            hint = ("第一步就是 NaN，还没更新过参数，问题出在数据或模型本身：这一批的目标是不是全是 <pad>"
                    "（ignore_index 把每个位置都忽略了，平均值是 0/0）？输入里有没有超出词表的编号？"
                    "注意力有没有整行被屏蔽（softmax 的 0/0，第 5 章）？")
        elif before and max(before) > before[0] * (1 + ABOVE_START):
            hint = "之前损失已经在往上冲：多半是学习率太大，参数发散成了 inf/NaN。"
        else:
            hint = ("之前一切正常：检查出问题的那一批（是不是所有目标都是 <pad>？有没有空样本？）、"
                    "学习率是否太大、bf16/fp16 下是否溢出；也可以先打开 torch.autograd.set_detect_anomaly(True) 找出第一个产生 NaN 的运算。")
        text = f"{where}（共 {len(bad)} 个坏点）。{hint}"
    else:
        text = ""
    if bad_val:
        j = bad_val[0]
        text += (f"{'另外，' if text else ''}验证损失在第 {val.steps[j]} 步是 {val.values[j]}："
                 "验证集是不是空的，或者某条样本的目标全是 <pad>（验证时 0/0）？")
    return text + "NaN 一旦出现，之后的每一步都没有意义：修好原因，从头训练（或从出问题之前的检查点续训）。"


def _stuck_message(train: Curve, end_level, L0, ref) -> str:
    warm = ""
    if train.steps[-1] <= 300:
        warm = ("如果还在学习率预热阶段（课程默认前 100 步学习率从很小慢慢升上去），损失本来就降得慢："
                "多训练一两百步再看。")
    return (f"损失停在 {ref} 附近：最后三分之一的中位数是 {end_level:.2f}，和起点只差 {abs(L0 - end_level):.2f}。"
            "ln V 是“每个字都猜 1/V”时的损失，也就是说模型几乎什么都没学到。检查："
            "学习率是不是 0（或小得离谱），optimizer.step() 有没有被调用，优化器拿到的是不是这个模型的参数；"
            "目标 targets 和输入有没有对齐（目标是不是被打乱了、错开了不止一位）；"
            "损失掩码是不是把几乎所有目标都设成了 <pad>。" + warm)


def _instant_message(what: str) -> str:
    return (f"{what}。真实数据上，正常训练要好几个 epoch 才能把训练集背下来，损失不会这么快接近 0。"
            "最常见的原因是答案泄漏进了输入：目标没有错开一位（targets = input_ids，模型只要照抄当前的字），"
            "或者注意力没有因果掩码（位置 i 看得见第 i+1 个字）。检查 Dataset 里的 tokens[:-1] / tokens[1:]，"
            "以及注意力里的 is_causal / 掩码；再看看目标是不是几乎全是同一个字（比如全变成了 <unk>），模型一直猜它就行。"
            "如果训练集很小（几十条）、已经跑了很多个 epoch，那就不是 bug 而是背下来了："
            "加上验证损失再诊断一次。")


def _overfitting(train: Curve, smooth, sigma, val: Curve, L0) -> str | None:
    values = val.values
    low = min(range(len(values)), key=values.__getitem__)
    v_min, v_last = values[low], values[-1]
    if low == len(values) - 1 or v_last - v_min <= max(OVERFIT_REL * v_min, OVERFIT_ABS):
        return None

    # 训练损失在“验证最低的那一步”和“最后”的水平：各取曲线长度 1/10 的点的中位数（比单点的平滑值稳）
    half = max(2, len(train.values) // 20)
    at = max((i for i, s in enumerate(train.steps) if s <= val.steps[low]), default=0)
    t_then = statistics.median(train.values[max(0, at - half) : at + half + 1])
    t_now = statistics.median(train.values[-(2 * half + 1):])
    if t_then - t_now <= max(0.25 * sigma, 0.01 * L0):  # 训练损失也没在降：不是过拟合的样子
        return None
    start = "从一开始就没有下降" if low == 0 else f"在第 {val.steps[low]} 步最低（{v_min:.3f}）"
    return (f"训练损失还在降（{t_then:.2f} → {t_now:.2f}），验证损失却{start}，之后升到 {v_last:.3f}。"
            "这是过拟合：模型开始背训练集里的答案，对没见过的问题答错时越来越“自信”。"
            "它不说明代码有 bug，也不说明该停在验证损失最低的那一步（train() 存为 best_model.pth）："
            "验证损失量的是“给验证集参考答案的概率”，不是答对了多少。按成语划分时验证集全是没见过的成语，"
            "验证损失回升，多半是模型给没见过的成语编答案时越来越笃定；训练集上的精确匹配还在涨，"
            "验证集上的精确匹配也不一定下降（第 6 章量过：最后的权重在学过的和没见过的成语上都答对得更多）。"
            "可以做的：在同一批题上量一量 best_model.pth 和 last_model.pth 的精确匹配再选（对话默认用 last_model.pth）；"
            "想让没见过的问题答得更好：更多的数据，加 dropout 或 weight decay，换小一点的模型。" + ("验证损失从第一次评估起就没降过，也检查一下验证集是不是和训练集用同样的词表、同样的方式处理。" if low == 0 else ""))


def _healthy_message(train: Curve, smooth, val: Curve, L0, ref, ln_v) -> str:
    text = (f"没有发现问题：训练损失（平滑后）从 {smooth[0]:.2f} 降到 {smooth[-1]:.2f}，参照 {ref}。"
            "每一批的损失上下跳动是正常的（按长度分桶后，同一批多是同一种题型，难度不同），看平滑后的趋势。")
    if val.values:
        v_min, v_last = min(val.values), val.values[-1]
        if v_last - v_min > max(OVERFIT_REL * v_min, OVERFIT_ABS):
            text += (f"验证损失从最低 {v_min:.3f} 回升到 {v_last:.3f}，但训练损失同期也没有明显下降，这不是典型的过拟合："
                     "可能训练已经停滞（学习率衰减到了头），也可能只是评估的起伏；多训练一会儿再看。")
        else:
            text += f"验证损失 {val.values[0]:.3f} → {v_last:.3f}，没有回升。"
    else:
        text += "没有验证损失：只看训练损失发现不了过拟合，把验证损失也传进来（train() 的 History 自带）。"
    if ln_v is not None and train.values[0] > ln_v * (1 + ABOVE_START):
        text += f"不过第一步的损失 {train.values[0]:.2f} 比 ln V 高很多：初始化的尺度可能太大（第 5 章）。"
    return text


# ====================================================================== 打印
def print_diagnosis(train_losses, val_losses=None, vocab_size=None) -> list[Finding]:
    """打印诊断（“我的 loss 正常吗？”），并返回 Finding 列表。"""
    findings = diagnose_loss(train_losses, val_losses, vocab_size)
    titles = {"healthy": "看起来正常", "nan": "出现了 NaN / inf", "stuck_at_ln_v": "损失停在 ln V 附近",
              "instant_zero": "损失一下子降到接近 0", "overfitting": "过拟合", "lr_too_high": "学习率可能太大"}
    print("我的 loss 正常吗？")
    for f in findings:
        print(f"【{titles[f.kind]}】（{f.kind}）{f.message}")
    return findings


# ====================================================================== 第 11 章：后训练的曲线
POST_TRAINING_KINDS = ("healthy", "nan", "dpo_stuck_ln2", "reward_collapse", "kl_blowup")
LN2 = math.log(2)
DPO_STUCK_ABS, DPO_STUCK_SE = 0.02, 4.0  # 离 ln 2 不到 max(0.02, 4 个中位数标准误)：没动
COLLAPSE_SHARE, COLLAPSE_SIGMAS = 0.20, 4.0  # 最后不到最高点的 20%，且最高点高出 4σ 以上
FLAT_SHARE = 0.90  # 九成以上的组奖励全相同
ZERO_REWARD = 0.01  # 0–1 的奖励：平均不到 0.01 就是几乎全错
KL_BOUND, KL_FLOOR, KL_SIGMAS = 1.0, 0.05, 4.0
POST_COLUMNS = ("dpo_loss", "reward", "kl", "flat_groups")  # metrics.jsonl 里后训练的列


def _finite_prefix(name: str, values, findings: list) -> list[float]:
    """第一个 NaN / inf 之前的部分；有坏点时记一条 Finding（KL 变成 inf 就是 KL 爆了）。"""
    values = [float(v) for v in values]
    bad = next((i for i, v in enumerate(values) if not math.isfinite(v)), None)
    if bad is None:
        return values
    if name == "kl":
        findings.append(Finding("kl_blowup", f"KL 在第 {bad + 1} 个点变成了 {values[bad]}：策略的某些 token 概率变成了 0，"
                                "离参考模型无限远。" + _KL_ADVICE))
    else:
        findings.append(Finding("nan", f"{name} 在第 {bad + 1} 个点变成了 {values[bad]}：之后的点都没有意义。"
                                "检查学习率是否太大、bf16/fp16 下是否溢出、这一批是不是空的（0/0）。"))
    return values[:bad]


def diagnose_post_training(dpo_losses=None, rewards=None, kls=None, flat_groups=None, *,
                           kl_bound: float = KL_BOUND) -> list[Finding]:
    """诊断 DPO 的损失曲线、GRPO 的平均奖励和 KL 曲线（每步一个数，给几条就看几条）。规则见模块说明。

    flat_groups：每步里奖励全相同的组所占的比例（0–1），minigpt.grpo.grpo_step 返回的统计。
    返回 Finding 列表（kind 是 POST_TRAINING_KINDS 之一）；没有问题时只有一条 healthy。
    """
    findings: list[Finding] = []
    given = {name: _finite_prefix(name, values, findings) for name, values in
             zip(POST_COLUMNS, (dpo_losses, rewards, kls, flat_groups)) if values is not None}
    usable = {name: v for name, v in given.items() if len(v) >= MIN_POINTS}
    if "dpo_loss" in usable and (stuck := _dpo_stuck(usable["dpo_loss"])):
        findings.append(Finding("dpo_stuck_ln2", stuck))
    if "reward" in usable and (collapse := _reward_collapse(usable["reward"], usable.get("flat_groups"))):
        findings.append(Finding("reward_collapse", collapse))
    if "kl" in usable and (blowup := _kl_blowup(usable["kl"], kl_bound)):
        findings.append(Finding("kl_blowup", blowup))
    if not findings:
        findings.append(Finding("healthy", _post_healthy_message(given)))
    return findings


def _last_third(values: list[float]) -> list[float]:
    return values[-max(1, len(values) // 3):]


def _dpo_stuck(losses: list[float]) -> str | None:
    smooth, sigma, window = smooth_and_noise(losses)
    tail = _last_third(losses)
    end = statistics.median(tail)
    limit = max(DPO_STUCK_ABS, DPO_STUCK_SE * 1.25 * sigma / math.sqrt(len(tail)))  # 1.25σ/√m：中位数的标准误
    dip = max(limit, DPO_STUCK_SE * 1.25 * sigma / math.sqrt(window))  # 平滑曲线自己的起伏
    if abs(end - LN2) >= limit or min(smooth) < LN2 - dip:
        return None
    exact = ("每一步都正好是 ln 2，一点噪声也没有：策略和参考模型的对数概率完全相同，"
             "多半是同一个模型对象，或者梯度根本没有到达策略。" if max(abs(v - LN2) for v in losses) < 1e-6 else "")
    return (f"DPO 损失停在 ln 2 ≈ 0.693 附近：最后三分之一的中位数是 {end:.4f}，离 ln 2 不到 {limit:.3g}（噪声 σ = {sigma:.3g}）。"
            "策略和参考模型一样时，两个对数概率之差都是 0，σ(0) = 1/2，损失正好是 −log(1/2) = ln 2：策略没在动。" + exact +
            "检查：参考模型是不是策略本身（要 reference = copy.deepcopy(model)，不是 reference = model）；"
            "策略的参数有没有 requires_grad、优化器拿到的是不是它们（LoRA 时是 trainable_parameters(model)）、"
            "optimizer.step() 有没有调用；学习率或 β 是不是太小（β·差值几乎是 0）；偏好对的 chosen 和 rejected 是不是一样；"
            "dropout 有没有关掉（model.eval()，否则同一个模型两次前向也不相等）。")


def _reward_collapse(rewards: list[float], flat: list[float] | None) -> str | None:
    smooth, sigma, _ = smooth_and_noise(rewards)
    end = statistics.median(_last_third(rewards))
    top = max(range(len(smooth)), key=smooth.__getitem__)
    peak = smooth[top]
    if peak - end > COLLAPSE_SIGMAS * sigma and end <= COLLAPSE_SHARE * peak:
        return (f"平均奖励塌了：平滑后在第 {top + 1} 步最高（{peak:.3f}），最后三分之一的中位数只有 {end:.3f}。"
                "策略学会了一种拿不到奖励的回答（总是同一个字、空回答、越来越长的回答……）；一组全错时优势全是 0，"
                "它自己也找不回来。检查：学习率是否太大；KL 系数 β 是否太小（看 KL 曲线是不是同时在涨）；"
                "回答长度是不是同时变了；奖励是否对格式太严（多一个标点就 0 分）。"
                "从奖励最高之前的检查点，用更小的学习率重来。")
    flat_share = statistics.mean(_last_third(flat)) if flat else None
    if (flat_share is not None and flat_share >= FLAT_SHARE) or (flat is None and max(_last_third(rewards)) < ZERO_REWARD):
        seen = (f"最后三分之一里平均 {flat_share:.0%} 的组奖励全相同" if flat_share is not None
                else f"最后三分之一的平均奖励最高只有 {max(_last_third(rewards)):.3g}：几乎每个回答都是 0 分，每组都全错")
        return (f"没有可学的信号：{seen}。组内优势 A = (r − 均值)/(标准差 + ε) 在这样的组里全是 0，损失只剩 KL 项。"
                f"平均奖励 {end:.3f}：接近 0 说明题太难、抽样找不到对的回答——先用学过的成语（课程学习）、"
                "每组多抽几个（G 更大）、提高温度，或者从预训练过的模型开始；接近满分说明题太简单，换没学过的题。"
                "每组只抽 1 个（G = 1）时优势也永远是 0。")
    return None


def _kl_blowup(kls: list[float], bound: float) -> str | None:
    smooth, sigma, _ = smooth_and_noise(kls)
    n, cut = len(smooth), len(smooth) * 2 // 3
    late, early = smooth[-1] - smooth[cut], smooth[cut] - smooth[0]
    if max(smooth) > bound:
        what = f"平滑后最高 {max(smooth):.3g} nats/token，超过了上限 {bound:g}"
    elif late > max(early, KL_SIGMAS * sigma) and smooth[-1] > KL_FLOOR:
        what = (f"最后三分之一涨了 {late:.3g}，比前三分之二（{early:.3g}）还多：在加速，"
                f"平滑后从 {smooth[0]:.3g} 涨到 {smooth[-1]:.3g}")
    else:
        return None
    return (f"策略离参考模型越来越远（KL {what}，共 {n} 步）。KL 大说明它已经不是开始时的模型了："
            "可能在钻奖励的空子（回答变长、重复），别的题型也会被忘掉。" + _KL_ADVICE)


_KL_ADVICE = ("检查：学习率是否太大；KL 系数 β 是否太小或是 0；每批样本更新了几次（iterations 多时策略离抽样时的策略远，"
              "clip 也拦不住）；奖励是不是能被钻空子。")


def _post_healthy_message(given: dict) -> str:
    names = {"dpo_loss": "DPO 损失", "reward": "平均奖励", "kl": "KL", "flat_groups": "奖励全相同的组"}
    parts = [f"{names[k]} {v[0]:.3g} → {v[-1]:.3g}" for k, v in given.items() if len(v) >= MIN_POINTS]
    short = [names[k] for k, v in given.items() if len(v) < MIN_POINTS]
    text = ("没有发现问题：" + "；".join(parts) + "。") if parts else "没有可诊断的曲线。"
    if short:
        text += f"{'、'.join(short)}少于 {MIN_POINTS} 个点，太短，没有诊断：多训练几步再看。"
    return text


def read_post_training(path) -> dict[str, list[float]]:
    """metrics.jsonl 里后训练的列（POST_COLUMNS 中出现过的）：{列名: 每行的值}。"""
    columns: dict[str, list[float]] = {}
    for row in _json_rows(path):
        for name in POST_COLUMNS:
            if name in row:
                columns.setdefault(name, []).append(float(row[name]))
    return columns


def print_post_training(**curves) -> list[Finding]:
    """打印后训练的诊断，并返回 Finding 列表。参数同 diagnose_post_training。"""
    findings = diagnose_post_training(**curves)
    titles = {"healthy": "看起来正常", "nan": "出现了 NaN / inf", "dpo_stuck_ln2": "DPO 损失停在 ln 2",
              "reward_collapse": "奖励塌了 / 没有信号", "kl_blowup": "KL 爆了"}
    print("后训练正常吗？")
    for f in findings:
        print(f"【{titles[f.kind]}】（{f.kind}）{f.message}")
    return findings


def main(argv=None) -> int:
    p = ArgumentParser(prog="python -m minigpt.diagnose", description="诊断训练写下的 metrics.jsonl：我的 loss 正常吗？（第 11 章的 DPO/GRPO 指标也可以）")
    p.add_argument("metrics", help="train.py 输出目录里的 metrics.jsonl")
    p.add_argument("--vocab", help="vocab.json（用来算 ln V）")
    p.add_argument("--vocab-size", type=int, help="词表大小 V（代替 --vocab）")
    args = p.parse_args(argv)
    vocab_size = args.vocab_size
    try:
        if args.vocab:
            vocab_size = len(json.loads(Path(args.vocab).read_text(encoding="utf-8"))["word2id"])
        post = read_post_training(args.metrics)
        if post:  # 第 11 章的后训练指标
            print_post_training(dpo_losses=post.get("dpo_loss"), rewards=post.get("reward"), kls=post.get("kl"),
                                flat_groups=post.get("flat_groups"))
        else:
            print_diagnosis(args.metrics, vocab_size=vocab_size)
    except (OSError, ValueError, KeyError) as e:  # UserError 也是 ValueError
        return report(e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
