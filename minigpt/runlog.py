"""一次训练的记录：output/metrics.jsonl（每行一个 JSON），可选再写一份给 TensorBoard；以及读回它的函数。

    from minigpt.runlog import read_metrics
    rows = read_metrics("output/metrics.jsonl")    # 训练行有 train_loss，评估行有 val_loss

    tensorboard --logdir runs                       # 看 TensorBoard 里的曲线

训练行：step、epoch、train_loss、lr、tokens_per_s、elapsed_s；评估行：step、val_loss、exact_match、by_type……
画图见 minigpt.plots。
"""
import json
from pathlib import Path

__all__ = ["METRICS", "read_metrics", "RunLog"]

METRICS = "metrics.jsonl"


def read_metrics(path) -> list[dict]:
    """metrics.jsonl 的所有行。"""
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


class RunLog:
    """metrics.jsonl + TensorBoard。只有 0 号进程建它。

    keep_until_step：续训时保留到这一步为止的行（检查点之后写的行作废）；None：清空重写。
    """

    def __init__(self, path, tensorboard_dir=None, keep_until_step=None):
        self.path = Path(path)
        if keep_until_step is None:
            self.path.write_text("", encoding="utf-8")
        elif self.path.exists():
            kept = [r for r in read_metrics(self.path) if r.get("step", 0) <= keep_until_step]
            self.path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept), encoding="utf-8")
        self.writer = None
        if tensorboard_dir:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(tensorboard_dir))

    def write(self, row: dict) -> None:
        """一行写进 metrics.jsonl，数值同时写进 TensorBoard。"""
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
        if self.writer is None:
            return
        step = row["step"]
        if "train_loss" in row:
            self.writer.add_scalar("Loss/train", row["train_loss"], step)
            self.writer.add_scalar("LR", row["lr"], step)
            self.writer.add_scalar("Throughput/tokens_per_s", row["tokens_per_s"], step)
        if "val_loss" in row:
            self.writer.add_scalar("Loss/val", row["val_loss"], step)
            for split in ("train", "val"):
                if row["exact_match"].get(split) is not None:
                    self.writer.add_scalar(f"ExactMatch/{split}", row["exact_match"][split], step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
