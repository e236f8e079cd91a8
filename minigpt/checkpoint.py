"""第 6 章的检查点：一个文件装下使用或继续训练一个模型所需的一切；以及“用哪个模型”和“加载来回答问题”。

    python -m minigpt.checkpoint output/best_model.pth           # 看一个检查点里有什么
    python -m minigpt.checkpoint output/best_model.pth --release checkpoints/minigpt-idiom.pth

检查点是一个普通 dict（只有张量和基本容器），所以 `torch.load(path, weights_only=True)` 能读它，
不会执行文件里的任何代码：

    format       "minigpt-checkpoint"      区分我们的文件和别人的
    version      1
    arch         "gpt" | "qwen3"           重建哪种模型
    config       dict                      dataclasses.asdict(model.config)
    model        state_dict                权重
    word2id      dict[str, int]            训练时的词表
    vocab_hash   str                       按编号顺序的词表的 sha256（Tokenizer.vocab_hash）
    step         int                       已经做了多少步优化
    metrics      dict                      最近一次评估（验证损失、精确匹配……）
    train_state  dict | None               优化器、学习率计划、随机数状态和数据顺序（只有续训用）

写文件是原子的（minigpt.jsonl.atomic_write）：先写同一文件夹里的临时文件，再改名，
所以保存时崩溃或按了 Ctrl-C，旧的检查点完好无损，也不会留下写了一半的文件。

用哪个模型（default_checkpoint）：你自己训练的模型优先——命令行 train.py 写的 output/，
第 6 章 notebook 写的 output/ch06/（各取 last_model.pth，没有才取 best_model.pth，原因见 trained_checkpoints），有几个就用最新的；
都没有时用仓库自带的 checkpoints/minigpt-idiom.pth。它会打印用的是哪个、为什么。
加载来回答问题（load_for_inference）：模型 + 它训练时的分词器；任何问题都是一个 CheckpointError，
消息是一行“文件: 哪里不对；怎么办”（命令行用 minigpt.cli.report 打印成“错误：……”）。
"""
import random
import sys
import warnings
from dataclasses import asdict
from pathlib import Path

if __package__ in (None, ""):  # 以脚本方式运行时，让 `import minigpt.*` 能找到仓库根目录
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from minigpt.cli import ArgumentParser, CheckpointError, UserError, report
from minigpt.common import REPO_ROOT, unwrap
from minigpt.jsonl import atomic_write
from minigpt.models import build_model, config_dict, preset_config
from minigpt.tokenizer import Tokenizer

__all__ = ["CheckpointError", "FORMAT", "VERSION", "LAST", "BEST", "SHIPPED_CHECKPOINT", "TRAINED_DIRS", "rng_state",
           "set_rng_state", "atomic_save", "make_checkpoint", "save_checkpoint", "release", "read_checkpoint",
           "load_checkpoint", "load_tokenizer", "load_for_inference", "check_vocab", "load_base", "trained_checkpoints",
           "default_checkpoint", "find_checkpoints", "main"]

FORMAT = "minigpt-checkpoint"
VERSION = 1
REQUIRED_KEYS = ("format", "version", "arch", "config", "model", "word2id", "vocab_hash", "step")
LAST = "last_model.pth"  # 续训用：每次评估和每隔几分钟保存
BEST = "best_model.pth"  # 种子代码的名字：验证损失最低的那一步
SHIPPED_CHECKPOINT = REPO_ROOT / "checkpoints" / "minigpt-idiom.pth"
# 学习者训练出的模型可能在的文件夹（相对当前目录或仓库根目录）→ 它从哪里来
TRAINED_DIRS = {Path("output"): "命令行 python ./minigpt/train.py", Path("output") / "ch06": "第 6 章 notebook"}
RETRAIN = "重新训练一个：python ./minigpt/train.py"


# ---------------------------------------------------------------- 随机数状态，存成普通数据
def rng_state() -> dict:
    """各个随机数生成器的状态，存成张量和列表，weights_only 加载也接受。"""
    state = {
        "torch": torch.get_rng_state(),
        "python": _to_lists(random.getstate()),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    try:
        import numpy as np

        name, keys, pos, has_gauss, gauss = np.random.get_state()
        state["numpy"] = [name, torch.from_numpy(keys.astype("int64")), int(pos), int(has_gauss), float(gauss)]
    except ImportError:  # 训练循环本身不需要 numpy
        pass
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(_to_tuples(state["python"]))
    if state.get("cuda") and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    if "numpy" in state:
        import numpy as np

        name, keys, pos, has_gauss, gauss = state["numpy"]
        np.random.set_state((name, keys.numpy().astype("uint32"), pos, has_gauss, gauss))


def _to_lists(x):
    return [_to_lists(v) for v in x] if isinstance(x, (tuple, list)) else x


def _to_tuples(x):
    return tuple(_to_tuples(v) for v in x) if isinstance(x, (tuple, list)) else x


# ---------------------------------------------------------------- 保存
def atomic_save(obj, path) -> None:
    """torch.save 到同一文件夹里的临时文件，再改名：读的人永远看不到写了一半的文件。"""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: torch.save(obj, f))


def make_checkpoint(model, arch, tokenizer, step, metrics=None, train_state=None, weights_dtype=None) -> dict:
    state = {k: v.detach().to("cpu") for k, v in unwrap(model).state_dict().items()}
    if weights_dtype is not None:  # 比如随仓库发布的文件用 bf16：体积减半，推理足够
        state = _cast(state, weights_dtype)
    return {
        "format": FORMAT,
        "version": VERSION,
        "arch": arch,
        "config": config_dict(model),
        "model": state,
        "word2id": dict(tokenizer.word2id),
        "vocab_hash": tokenizer.vocab_hash,
        "step": int(step),
        "metrics": metrics or {},
        "train_state": train_state,
    }


def save_checkpoint(path, model, arch, tokenizer, step, metrics=None, train_state=None, weights_dtype=None) -> None:
    atomic_save(make_checkpoint(model, arch, tokenizer, step, metrics, train_state, weights_dtype), path)


def _cast(state: dict, dtype) -> dict:
    """转换浮点张量的类型，共用的权重（wte = lm_head）在文件里仍是同一个张量。"""
    done = {}
    out = {}
    for k, v in state.items():
        key = (v.untyped_storage().data_ptr(), v.storage_offset(), tuple(v.shape))
        if key not in done:
            done[key] = v.to(dtype) if v.is_floating_point() else v
        out[k] = done[key]
    return out


def release(src, dst, dtype=torch.bfloat16) -> Path:
    """把训练用的检查点缩小成随仓库发布的版本：权重用 bf16，不带优化器和随机数状态。"""
    ckpt = read_checkpoint(src)
    ckpt["model"] = _cast(ckpt["model"], dtype)
    ckpt["train_state"] = None
    atomic_save(ckpt, dst)
    return Path(dst)


# ---------------------------------------------------------------- 读取
def _torch_load(path, map_location):
    """weights_only=True 的 torch.load；失败时说清楚是什么文件，但不转述 torch 的建议
    （它会建议改用 weights_only=False——对一个不是自己做的文件，那等于允许它执行任意代码）。"""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # 比如“pickle 协议不是默认的”，对学习者只是噪音
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # 截断的 zip、随机字节、带着别的类的 pickle……
        if "Unsupported global" in str(e):  # 一个能读的 pickle，但里面有张量和基本容器以外的对象
            what = "里面有 minigpt 检查点不会有的 Python 对象，为了安全不加载（不是 minigpt/train.py 保存的）"
        else:
            what = "不是可读的 minigpt 检查点（文件不完整、已损坏，或者不是 minigpt/train.py 保存的）"
        raise CheckpointError(f"{path}: {what}；{RETRAIN}") from None


def read_checkpoint(path, map_location="cpu") -> dict:
    """读出并检查一个检查点 dict；任何问题都是一个说清楚原因的 CheckpointError。"""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: 找不到检查点；{RETRAIN}，或者用仓库自带的 {_show(SHIPPED_CHECKPOINT)}")
    if path.is_dir():
        raise CheckpointError(f"{path}: 是一个文件夹，需要的是一个 .pth 检查点文件")
    ckpt = _torch_load(path, map_location)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        hint = ""
        if isinstance(ckpt, dict) and "model_state_dict" in ckpt:
            hint = f"：看起来是种子代码保存的检查点（只有权重，没有配置和词表）；{RETRAIN}"
        elif isinstance(ckpt, dict) and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
            hint = "：看起来是一个单独的 state_dict，请用 model.load_state_dict(...) 加载"
        raise CheckpointError(f"{path}: 不是 minigpt 检查点{hint}")
    missing = [k for k in REQUIRED_KEYS if k not in ckpt]
    if missing:
        raise CheckpointError(f"{path}: 检查点缺少 {', '.join(missing)}")
    if ckpt["version"] > VERSION:
        raise CheckpointError(f"{path}: 检查点版本 {ckpt['version']} 比这份代码（{VERSION}）新，请更新 minigpt")
    return ckpt


def load_checkpoint(path, map_location="cpu"):
    """`(model, metadata)`：按存下的配置重建的模型，eval 模式，fp32 权重。

    metadata 含 "arch"、"config"、"word2id"、"vocab_hash"、"step"、"metrics"（和 "path"）。
    """
    ckpt = read_checkpoint(path, map_location)
    try:
        model = build_model(ckpt["arch"], ckpt["config"])
        model.load_state_dict(ckpt["model"])  # 发布文件的 bf16 权重在这里转成 fp32
    except UserError as e:  # 未知的架构
        raise CheckpointError(f"{path}: {e}") from None
    except (TypeError, ValueError, RuntimeError) as e:
        lines = [line.strip() for line in str(e).splitlines() if line.strip()] or [type(e).__name__]
        detail = next((line for line in lines if "mismatch" in line or "key" in line), lines[0])  # 第一处具体的不一致
        raise CheckpointError(f"{path}: 权重和存下的配置对不上（{detail[:200]}）；{RETRAIN}") from None
    model.to(map_location if isinstance(map_location, (str, torch.device)) else "cpu").eval()
    metadata = {k: ckpt[k] for k in ("arch", "config", "word2id", "vocab_hash", "step")}
    metadata["metrics"] = ckpt.get("metrics") or {}
    metadata["path"] = str(path)
    return model, metadata


def load_tokenizer(metadata):
    """模型训练时用的分词器，由检查点里存的词表重建。"""
    return Tokenizer.from_word2id(metadata["word2id"])


def load_for_inference(path, device="cpu"):
    """`(model, tokenizer)`：拿来回答问题的模型（在 device 上，eval 模式）和它训练时的分词器。

    命令行、游乐场、导出都用它；出了任何问题都是一个 CheckpointError，消息是“文件: 哪里不对；怎么办”。
    """
    model, metadata = load_checkpoint(path, map_location=device)
    try:
        tokenizer = load_tokenizer(metadata)
    except UserError as e:
        raise CheckpointError(f"{path}: 存下的词表有问题（{e}）；{RETRAIN}") from None
    return model.to(device).eval(), tokenizer


def check_vocab(ckpt_or_metadata, tokenizer, path) -> None:
    """拒绝把模型和它没训练过的词表放在一起用（同一个编号会代表别的字）。"""
    if ckpt_or_metadata["vocab_hash"] != tokenizer.vocab_hash:
        n_old, n_new = len(ckpt_or_metadata["word2id"]), tokenizer.get_vocab_size()
        raise CheckpointError(
            f"{path}: 训练时用的词表（{n_old} 个 token，哈希 {ckpt_or_metadata['vocab_hash'][:12]}）"
            f"和现在用的（{n_new} 个 token，哈希 {tokenizer.vocab_hash[:12]}）不同。请用检查点里存的词表"
            "（minigpt.checkpoint.load_tokenizer(metadata)），或者从头开始：--no-resume 或换一个 --output-dir。"
        )


def load_base(base_path, tokenizer: Tokenizer, vocab_path, *, arch: str | None = None, preset: str | None = None):
    """问答微调的起点（第 10 章，train.py --init-from）：预训练存下的基座模型（train 模式）。

    词表必须和预训练时完全相同（同一个编号代表同一个字），arch/preset 给出时形状也必须相同；
    不同就抛出一个 CheckpointError，同时点出两边：基座检查点和词表文件（或要求的预设）。
    """
    model, meta = load_checkpoint(base_path)
    if meta["vocab_hash"] != tokenizer.vocab_hash:
        raise CheckpointError(
            f"{base_path} 和 {vocab_path}: 基座模型预训练时的词表（{len(meta['word2id'])} 个 token）和微调用的词表"
            f"（{tokenizer.get_vocab_size()} 个 token）不同，同一个编号会代表别的字；微调请用预训练时的词表文件")
    if preset is not None:
        wanted = asdict(preset_config(arch or meta["arch"], preset, tokenizer.get_vocab_size()))
        if (arch or meta["arch"]) != meta["arch"] or wanted != meta["config"]:
            shape = ", ".join(f"{k}={v}" for k, v in meta["config"].items() if wanted.get(k) != v)
            raise CheckpointError(
                f"{base_path}: 基座模型是 {meta['arch']}（{shape}），和要求的 --arch {arch or meta['arch']} "
                f"--preset {preset} 形状不同；请用 --preset 选基座模型的那个预设")
    return model.train()


# ---------------------------------------------------------------- 用哪个模型
def trained_checkpoints(roots=None) -> list[tuple[Path, str]]:
    """你训练出的检查点 [(路径, 从哪里来)]，最新的在前。

    在 roots（默认：当前目录和仓库根目录）下的 TRAINED_DIRS 里找，每个文件夹取 last_model.pth，没有就取 best_model.pth。

    为什么聊天用最后的权重（last），而不是验证损失最低的（best，种子代码的选法）：课程的验证集是从没见过的成语
    （按成语分组切分），成语的释义猜不出来，所以验证损失在训练中途就开始上升；而模型对学过的成语、换个问法的
    回答一直在变好，到训练结束才最好。best_model.pth 照样保存，想比较时用 --checkpoint 指定。
    """
    found = {}
    for root in roots if roots is not None else (Path.cwd(), REPO_ROOT):
        for folder, source in TRAINED_DIRS.items():
            for name in (LAST, BEST):
                path = Path(root) / folder / name
                if path.is_file():
                    found.setdefault(path.resolve(), (path, source))
                    break
    return sorted(found.values(), key=lambda item: item[0].stat().st_mtime, reverse=True)


def default_checkpoint(roots=None) -> Path:
    """你训练的模型里最新的一个，没有就用仓库自带的；打印用的是哪个、为什么。"""
    trained = trained_checkpoints(roots)
    if trained:
        (path, source), others = trained[0], trained[1:]
        why = f"，比 {'、'.join(_show(p) for p, _ in others)} 新" if others else ""
        print(f"使用你训练的模型：{_show(path)}（来自{source}{why}）")
        return path
    where = "、".join(f"{folder.as_posix()}/" for folder in TRAINED_DIRS)
    if SHIPPED_CHECKPOINT.is_file():
        print(f"使用仓库自带的模型：{_show(SHIPPED_CHECKPOINT)}（{where} 里还没有你训练的模型）")
    else:
        print(f"使用仓库自带的模型：{_show(SHIPPED_CHECKPOINT)}（文件不存在，请先运行 python ./minigpt/train.py）")
    return SHIPPED_CHECKPOINT


def find_checkpoints(output_dir="output") -> list[Path]:
    """游乐场的模型列表：仓库自带的（若存在），加上 output_dir 下（含子文件夹，比如 ch06/）所有的 .pth。"""
    found = [SHIPPED_CHECKPOINT] if SHIPPED_CHECKPOINT.exists() else []
    return found + sorted(Path(output_dir).rglob("*.pth"))


def _show(path: Path) -> str:
    """尽量写成相对仓库根目录的路径。"""
    try:
        return Path(path).resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


# ---------------------------------------------------------------- 命令行
def main(argv=None):
    p = ArgumentParser(description="查看一个 minigpt 检查点，或把它缩小成发布版本。")
    p.add_argument("path", help="检查点文件（.pth）")
    p.add_argument("--release", metavar="DST", help="写一份 bf16、不带训练状态的副本到 DST")
    args = p.parse_args(argv)
    try:
        if args.release:
            dst = release(args.path, args.release)
            print(f"已写出 {dst}（{dst.stat().st_size / 1e6:.1f} MB）")
            return 0
        ckpt = read_checkpoint(args.path)
    except UserError as e:
        return report(e)
    n = sum(v.numel() for v in ckpt["model"].values())
    print(f"架构：{ckpt['arch']}  步数：{ckpt['step']}  参数量（共用的权重算两次）：{n:,}")
    print(f"配置：{ckpt['config']}")
    print(f"词表：{len(ckpt['word2id'])} 个 token，哈希 {ckpt['vocab_hash'][:12]}")
    print(f"评估：{ckpt.get('metrics')}")
    print(f"能否续训：{'能' if ckpt.get('train_state') is not None else '不能'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
