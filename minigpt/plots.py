"""第 6 章的图：从一次训练的指标日志（output/metrics.jsonl）画损失曲线和精确匹配。

    python -m minigpt.plots output/metrics.jsonl            # 弹出一个窗口（或者用 --out 存成图片）
    python -m minigpt.plots output/metrics.jsonl --out curves.png

在 notebook 里：

    from minigpt.plots import plot_metrics
    plot_metrics("output/metrics.jsonl"); plt.show()

标签是中文：画图前调用 minigpt.common.use_chinese_font()，找一个装好的中文字体
（Linux 上 `apt-get install fonts-noto-cjk`）；一个都没有时中文会画成方框，但数字照样能读。
"""
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import matplotlib.pyplot as plt

from minigpt.cli import ArgumentParser, report
from minigpt.common import use_chinese_font
from minigpt.runlog import read_metrics  # noqa: F401  （也是本模块的公开名字）

__all__ = ["plot_metrics", "LivePlot", "read_metrics", "main"]


def plot_metrics(path_or_rows, title="训练"):
    """两张图：训练/验证损失随步数的变化，精确匹配（训练题/验证题）随步数的变化。"""
    use_chinese_font()
    rows = read_metrics(path_or_rows) if isinstance(path_or_rows, (str, Path)) else list(path_or_rows)
    train_rows = [r for r in rows if "train_loss" in r]
    eval_rows = [r for r in rows if "val_loss" in r]
    fig, (ax_loss, ax_em) = plt.subplots(1, 2, figsize=(11, 4))
    ax_loss.plot([r["step"] for r in train_rows], [r["train_loss"] for r in train_rows], label="训练损失", alpha=0.8)
    ax_loss.plot([r["step"] for r in eval_rows], [r["val_loss"] for r in eval_rows], "o-", label="验证损失")
    ax_loss.set_yscale("log")
    ax_loss.set_title(f"{title}：损失")
    ax_loss.set_xlabel("步数")
    ax_loss.set_ylabel("交叉熵（对数坐标）")
    ax_loss.legend()
    for split, style in (("train", "o-"), ("val", "s--")):
        xs = [r["step"] for r in eval_rows if r["exact_match"].get(split) is not None]
        ys = [100 * r["exact_match"][split] for r in eval_rows if r["exact_match"].get(split) is not None]
        ax_em.plot(xs, ys, style, label="训练题" if split == "train" else "验证题")
    ax_em.set_ylim(0, 100)
    ax_em.set_title(f"{title}：贪心回答的精确匹配")
    ax_em.set_xlabel("步数")
    ax_em.set_ylabel("精确匹配（%）")
    ax_em.legend()
    fig.tight_layout()
    return fig


class LivePlot:
    """在 notebook 里边训练边重画的损失曲线：`train(..., callback=LivePlot())`。"""

    def __init__(self, every=25, title="训练损失（实时）"):
        self.every, self.title = every, title
        self.handle = None

    def __call__(self, step, loss, history):
        if step % self.every:
            return
        from IPython.display import display

        use_chinese_font()
        fig, ax = plt.subplots(figsize=(7, 3.5))
        ax.plot(range(1, len(history) + 1), list(history), alpha=0.8)
        ax.set_yscale("log")
        ax.set_title(f"{self.title}：第 {step} 步，损失 {loss:.3f}")
        ax.set_xlabel("步数")
        ax.set_ylabel("交叉熵（对数坐标）")
        fig.tight_layout()
        if self.handle is None:
            self.handle = display(fig, display_id=True)
        else:
            self.handle.update(fig)
        plt.close(fig)


def main(argv=None):
    p = ArgumentParser(description="从 metrics.jsonl 画损失和精确匹配的曲线。")
    p.add_argument("metrics", help="比如 output/metrics.jsonl")
    p.add_argument("--out", help="存成这个图片文件，而不是弹出窗口")
    args = p.parse_args(argv)
    if not Path(args.metrics).is_file():
        return report(f"{args.metrics}: 找不到；先训练：python ./minigpt/train.py")
    fig = plot_metrics(args.metrics)
    if args.out:
        fig.savefig(args.out, dpi=120)
        print(f"已写出 {args.out}")
    else:
        plt.show()
    return 0


if __name__ == "__main__":
    sys.exit(main())
