"""Post-training diagnosis (minigpt.diagnose.diagnose_post_training): synthetic DPO-loss, reward and KL curves of each
failure shape at several noise levels are found, healthy curves of each kind are not flagged, and the CLI reads a
metrics.jsonl with the post-training columns. Every expected kind below is written by hand from the curve's shape.

    pytest tests/test_diagnose_post_training.py -q
"""
import json
import math
import random

import pytest

from minigpt.diagnose import POST_TRAINING_KINDS, diagnose_post_training, main

LN2 = math.log(2)


def noisy(values, sigma, seed=0, floor=None):
    rng = random.Random(seed)
    out = [v + rng.gauss(0, sigma) for v in values]
    return [max(floor, v) for v in out] if floor is not None else out


def kinds(findings):
    assert findings and all(f.kind in POST_TRAINING_KINDS and f.message for f in findings)
    return [f.kind for f in findings]


# ====================================================================== DPO stuck at ln 2
@pytest.mark.parametrize("sigma", [0.0, 0.005, 0.03, 0.1])
def test_dpo_loss_that_stays_at_ln2_is_stuck(sigma):
    found = diagnose_post_training(dpo_losses=noisy([LN2] * 300, sigma, seed=3))
    assert kinds(found) == ["dpo_stuck_ln2"]
    assert "deepcopy" in found[0].message and "requires_grad" in found[0].message and "chosen" in found[0].message


def test_exactly_ln2_every_step_names_the_same_object():
    exact = diagnose_post_training(dpo_losses=[LN2] * 50)[0].message
    assert "同一个模型对象" in exact and "一点噪声也没有" in exact
    assert "一点噪声也没有" not in diagnose_post_training(dpo_losses=noisy([LN2] * 50, 0.01))[0].message


def test_a_tiny_drift_below_ln2_is_still_stuck():
    # 0.693 -> 0.683 in 200 steps: 0.01 nat, less than the 0.02 floor
    assert kinds(diagnose_post_training(dpo_losses=noisy([LN2 - 0.01 * t / 200 for t in range(200)], 0.003))) == \
        ["dpo_stuck_ln2"]


@pytest.mark.parametrize("sigma", [0.0, 0.02, 0.05, 0.15])
def test_falling_dpo_losses_are_healthy(sigma):
    fast = [0.2 + (LN2 - 0.2) * math.exp(-t / 60) for t in range(300)]  # ln 2 -> 0.2
    slow = [LN2 - 0.1 * t / 300 for t in range(300)]  # ln 2 -> 0.59, slowly
    # a 0.1-nat drop under per-batch noise of 0.15 is within the noise of a 100-point median: not asserted
    for curve in (fast, slow) if sigma < 0.1 else (fast,):
        assert kinds(diagnose_post_training(dpo_losses=noisy(curve, sigma, seed=1))) == ["healthy"]


def test_a_dpo_loss_that_fell_and_came_back_is_not_called_stuck():
    back = [LN2 - 0.3 * math.sin(math.pi * t / 200) for t in range(200)]  # down to 0.39, back up to ln 2
    assert "dpo_stuck_ln2" not in kinds(diagnose_post_training(dpo_losses=noisy(back, 0.01)))


# ====================================================================== reward collapse / no signal
@pytest.mark.parametrize("sigma", [0.01, 0.03, 0.06])
def test_reward_that_falls_to_zero_and_stays_is_a_collapse(sigma):
    curve = [0.25 + t / 600 if t < 150 else 0.0 for t in range(300)]  # rises to 0.5, then 0
    found = diagnose_post_training(rewards=noisy(curve, sigma, floor=0.0))
    assert kinds(found) == ["reward_collapse"] and "塌了" in found[0].message and "学习率" in found[0].message


def test_every_group_equal_means_no_signal():
    found = diagnose_post_training(rewards=noisy([0.03] * 100, 0.01, floor=0.0), flat_groups=[0.95] * 100)
    assert kinds(found) == ["reward_collapse"]
    assert "95%" in found[0].message and "优势" in found[0].message and "课程学习" in found[0].message
    # without the group statistic: a reward of exactly 0 at every step means every group is all wrong
    found = diagnose_post_training(rewards=[0.0] * 80)
    assert kinds(found) == ["reward_collapse"] and "每组都全错" in found[0].message


@pytest.mark.parametrize("sigma", [0.0, 0.02, 0.06])
def test_rising_or_steady_rewards_are_healthy(sigma):
    rising = [0.25 + 0.55 * (1 - math.exp(-t / 80)) for t in range(300)]  # 0.25 -> 0.8
    assert kinds(diagnose_post_training(rewards=noisy(rising, sigma, floor=0.0))) == ["healthy"]
    low_but_learning = [0.02 + 0.2 * t / 300 for t in range(300)]  # starts almost at 0, climbs
    assert kinds(diagnose_post_training(rewards=noisy(low_but_learning, sigma / 3, floor=0.0))) == ["healthy"]
    assert kinds(diagnose_post_training(rewards=noisy([0.3] * 100, sigma, floor=0.0), flat_groups=[0.5] * 100)) == \
        ["healthy"]


# ====================================================================== KL blow-up
@pytest.mark.parametrize("sigma", [0.0, 0.002, 0.01])
def test_kl_growing_fast_is_a_blowup(sigma):
    exploding = [0.001 * math.exp(t / 40) for t in range(300)]  # passes 1 nat/token
    accelerating = [0.01 * math.exp(t / 100) for t in range(300)]  # 0.01 -> 0.2, faster and faster
    for curve in (exploding, accelerating):
        found = diagnose_post_training(kls=noisy(curve, sigma, floor=0.0))
        assert kinds(found) == ["kl_blowup"] and "β" in found[0].message
    assert "上限" in diagnose_post_training(kls=noisy([0.5 + t / 100 for t in range(100)], sigma, floor=0.0))[0].message


@pytest.mark.parametrize("sigma", [0.0, 0.002, 0.01])
def test_kl_that_levels_off_or_grows_steadily_is_healthy(sigma):
    levelling = [0.05 * (1 - math.exp(-t / 50)) for t in range(300)]
    steady = [0.3 * t / 300 for t in range(300)]
    tiny_but_accelerating = [0.0001 * math.exp(t / 100) for t in range(300)]  # ends at 0.002: nobody cares
    for curve in (levelling, steady, tiny_but_accelerating):
        assert kinds(diagnose_post_training(kls=noisy(curve, sigma, floor=0.0))) == ["healthy"]
    assert kinds(diagnose_post_training(kls=[0.5] * 50, kl_bound=0.4)) == ["kl_blowup"]


def test_infinite_kl_is_a_blowup_and_nan_elsewhere_is_nan():
    found = diagnose_post_training(kls=[0.01] * 20 + [math.inf])
    assert kinds(found) == ["kl_blowup"] and "第 21 个点" in found[0].message
    assert kinds(diagnose_post_training(dpo_losses=[0.6] * 5 + [math.nan] * 5)) == ["nan"]


# ====================================================================== several curves, short curves, the CLI
def test_each_curve_is_diagnosed_on_its_own():
    grpo = dict(rewards=noisy([0.25 + t / 600 if t < 150 else 0.0 for t in range(300)], 0.02, floor=0.0),
                kls=[0.001 * math.exp(t / 40) for t in range(300)])
    assert kinds(diagnose_post_training(**grpo)) == ["reward_collapse", "kl_blowup"]
    found = diagnose_post_training(dpo_losses=[0.2 + 0.5 * math.exp(-t / 30) for t in range(100)],
                                   rewards=[0.3 + t / 400 for t in range(100)], kls=[0.01] * 100)
    assert kinds(found) == ["healthy"] and "DPO 损失" in found[0].message and "平均奖励" in found[0].message


def test_short_curves_are_not_diagnosed():
    found = diagnose_post_training(dpo_losses=[LN2] * 9)
    assert kinds(found) == ["healthy"] and "太短" in found[0].message


def test_cli_reads_post_training_columns(tmp_path, capsys):
    path = tmp_path / "metrics.jsonl"
    rows = [{"step": t + 1, "reward": 0.0, "kl": 0.001 * math.exp(t / 40), "loss": 0.1} for t in range(300)]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    assert main([str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("后训练正常吗？") and "（reward_collapse）" in out and "（kl_blowup）" in out
    path.write_text("\n".join(json.dumps({"dpo_loss": LN2}) for _ in range(40)) + "\n{broken\n", encoding="utf-8")
    assert main([str(path)]) == 1
    assert f"{path}:41" in capsys.readouterr().err
