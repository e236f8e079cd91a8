"""Plots for chapter 6: loss curves and exact match from a run's metrics log (output/metrics.jsonl).

    python -m minigpt.plots output/metrics.jsonl            # opens a window (or saves with --out)
    python -m minigpt.plots output/metrics.jsonl --out curves.png

In a notebook:

    from minigpt.plots import plot_metrics
    plot_metrics("output/metrics.jsonl"); plt.show()

Labels are in English on purpose: many machines (and Colab) have no CJK font, and Chinese labels would
be drawn as empty boxes.
"""
import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import matplotlib.pyplot as plt

from minigpt.runlog import read_metrics  # noqa: F401  (also this module's public name)


def plot_metrics(path_or_rows, title="Training"):
    """Two panels: training/validation loss over steps, exact match (train/val) over steps."""
    rows = read_metrics(path_or_rows) if isinstance(path_or_rows, (str, Path)) else list(path_or_rows)
    train_rows = [r for r in rows if "train_loss" in r]
    eval_rows = [r for r in rows if "val_loss" in r]
    fig, (ax_loss, ax_em) = plt.subplots(1, 2, figsize=(11, 4))
    ax_loss.plot([r["step"] for r in train_rows], [r["train_loss"] for r in train_rows], label="train loss", alpha=0.8)
    ax_loss.plot([r["step"] for r in eval_rows], [r["val_loss"] for r in eval_rows], "o-", label="validation loss")
    ax_loss.set_yscale("log")
    ax_loss.set_title(f"{title}: loss")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("cross-entropy (log scale)")
    ax_loss.legend()
    for split, style in (("train", "o-"), ("val", "s--")):
        xs = [r["step"] for r in eval_rows if r["exact_match"].get(split) is not None]
        ys = [100 * r["exact_match"][split] for r in eval_rows if r["exact_match"].get(split) is not None]
        ax_em.plot(xs, ys, style, label=f"{'training' if split == 'train' else 'validation'} questions")
    ax_em.set_ylim(0, 100)
    ax_em.set_title(f"{title}: exact match of greedy answers")
    ax_em.set_xlabel("step")
    ax_em.set_ylabel("exact match (%)")
    ax_em.legend()
    fig.tight_layout()
    return fig


class LivePlot:
    """A loss curve that redraws itself during training in a notebook: `train(..., callback=LivePlot())`."""

    def __init__(self, every=25, title="Training loss (live)"):
        self.every, self.title = every, title
        self.handle = None

    def __call__(self, step, loss, history):
        if step % self.every:
            return
        from IPython.display import display

        fig, ax = plt.subplots(figsize=(7, 3.5))
        ax.plot(range(1, len(history) + 1), list(history), alpha=0.8)
        ax.set_yscale("log")
        ax.set_title(f"{self.title}: step {step}, loss {loss:.3f}")
        ax.set_xlabel("step")
        ax.set_ylabel("cross-entropy (log scale)")
        fig.tight_layout()
        if self.handle is None:
            self.handle = display(fig, display_id=True)
        else:
            self.handle.update(fig)
        plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description="Plot loss and exact match from a metrics.jsonl")
    p.add_argument("metrics", help="e.g. output/metrics.jsonl")
    p.add_argument("--out", help="save to this image instead of showing a window")
    args = p.parse_args(argv)
    if not Path(args.metrics).is_file():
        print(f"error: {args.metrics}: not found; train first: python ./minigpt/train.py", file=sys.stderr)
        return 1
    fig = plot_metrics(args.metrics)
    if args.out:
        fig.savefig(args.out, dpi=120)
        print(f"wrote {args.out}")
    else:
        plt.show()
    return 0


if __name__ == "__main__":
    sys.exit(main())
