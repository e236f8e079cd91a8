"""Checkpoint I/O for chapter 6: one file holds everything needed to use or resume a model.

What a checkpoint holds (a plain dict of tensors and primitive containers, so that
`torch.load(path, weights_only=True)` can read it without running any pickled code):

    format       "minigpt-checkpoint"      tells our files from foreign ones
    version      1
    arch         "gpt" | "qwen3"           which model class to rebuild
    config       dict                      dataclasses.asdict(model.config)
    model        state_dict                the weights
    word2id      dict[str, int]            the vocabulary the model was trained with
    vocab_hash   str                       sha256 of word2id in id order (Tokenizer.vocab_hash)
    step         int                       optimizer steps done
    metrics      dict                      last evaluation (val loss, exact match, ...)
    train_state  dict | None               optimizer, scheduler, RNG and data-order state (resume only)

Files are written atomically: to a temporary file in the same folder, then `os.replace`, so a crash
(or Ctrl-C) while saving leaves the previous checkpoint untouched and never a half-written file.

    python -m minigpt.checkpoint output/best_model.pth           # print what a checkpoint holds
    python -m minigpt.checkpoint output/best_model.pth --release checkpoints/minigpt-idiom.pth
"""
import argparse
import dataclasses
import os
import random
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from minigpt.jsonl import DataError

FORMAT = "minigpt-checkpoint"
VERSION = 1
REQUIRED_KEYS = ("format", "version", "arch", "config", "model", "word2id", "vocab_hash", "step")


class CheckpointError(DataError):
    """A checkpoint that is missing, unreadable, foreign, or does not fit the vocabulary in use."""


# ---------------------------------------------------------------- RNG state as plain data
def rng_state() -> dict:
    """RNG states as tensors/lists so that weights_only loading accepts them."""
    state = {
        "torch": torch.get_rng_state(),
        "python": _to_lists(random.getstate()),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    try:
        import numpy as np

        name, keys, pos, has_gauss, gauss = np.random.get_state()
        state["numpy"] = [name, torch.from_numpy(keys.astype("int64")), int(pos), int(has_gauss), float(gauss)]
    except ImportError:  # numpy is optional for the training loop itself
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


# ---------------------------------------------------------------- saving
def atomic_save(obj, path) -> None:
    """torch.save to a temporary file in the same folder, then rename: readers never see a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; a checkpoint is an ordinary file
        os.replace(tmp, path)  # atomic on POSIX and Windows (same file system)
    except BaseException:  # also KeyboardInterrupt: remove the partial temporary file
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def model_config_dict(model) -> dict:
    return dataclasses.asdict(model.config)


def make_checkpoint(model, arch, tokenizer, step, metrics=None, train_state=None, weights_dtype=None) -> dict:
    state = {k: v.detach().to("cpu") for k, v in unwrap(model).state_dict().items()}
    if weights_dtype is not None:  # e.g. bf16 for the shipped file: half the size, plenty for inference
        state = _cast(state, weights_dtype)
    return {
        "format": FORMAT,
        "version": VERSION,
        "arch": arch,
        "config": model_config_dict(unwrap(model)),
        "model": state,
        "word2id": dict(tokenizer.word2id),
        "vocab_hash": tokenizer.vocab_hash,
        "step": int(step),
        "metrics": metrics or {},
        "train_state": train_state,
    }


def save_checkpoint(path, model, arch, tokenizer, step, metrics=None, train_state=None, weights_dtype=None) -> None:
    atomic_save(make_checkpoint(model, arch, tokenizer, step, metrics, train_state, weights_dtype), path)


def unwrap(model):
    """The plain module behind DDP (`.module`) and torch.compile (`._orig_mod`) wrappers."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif isinstance(model, torch.nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


# ---------------------------------------------------------------- loading
def read_checkpoint(path, map_location="cpu") -> dict:
    """Load and validate a checkpoint dict; every failure is a CheckpointError with a clear message."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(
            f"error: {path}: checkpoint not found (train one with `python ./minigpt/train.py`, "
            "or use the shipped checkpoints/minigpt-idiom.pth)"
        )
    if path.is_dir():
        raise CheckpointError(f"error: {path}: is a folder, expected a .pth checkpoint file")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated zip, random bytes, a pickle with foreign classes ...
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(
            f"error: {path}: not a readable minigpt checkpoint (corrupt, truncated or not saved by "
            f"minigpt/train.py): {reason[:200]}"
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        hint = ""
        if isinstance(ckpt, dict) and "model_state_dict" in ckpt:
            hint = " It looks like the seed's checkpoint (weights only, no config or vocabulary); retrain with `python ./minigpt/train.py`."
        elif isinstance(ckpt, dict) and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
            hint = " It looks like a bare state_dict; load it with model.load_state_dict(...) instead."
        raise CheckpointError(f"error: {path}: not a minigpt checkpoint.{hint}")
    missing = [k for k in REQUIRED_KEYS if k not in ckpt]
    if missing:
        raise CheckpointError(f"error: {path}: checkpoint is missing {', '.join(missing)}")
    if ckpt["version"] > VERSION:
        raise CheckpointError(f"error: {path}: checkpoint version {ckpt['version']} is newer than this code ({VERSION}); update minigpt")
    return ckpt


def build_model(arch: str, config: dict):
    """Rebuild an untrained model of the stored architecture and size."""
    if arch == "gpt":
        from minigpt.model import GPTConfig, GPTLMHeadModel

        return GPTLMHeadModel(GPTConfig(**config))
    if arch == "qwen3":
        from minigpt import qwen3

        config_cls = getattr(qwen3, "Qwen3Config", None) or type(qwen3.course_config(config["vocab_size"]))
        return qwen3.Qwen3ForCausalLM(config_cls(**config))
    raise CheckpointError(f"error: unknown architecture {arch!r} in checkpoint (expected 'gpt' or 'qwen3')")


def load_checkpoint(path, map_location="cpu"):
    """`(model, metadata)`: the model rebuilt from the stored config, in eval mode, fp32 weights.

    metadata holds "arch", "config", "word2id", "vocab_hash", "step", "metrics" (and "path").
    """
    ckpt = read_checkpoint(path, map_location)
    model = build_model(ckpt["arch"], ckpt["config"])
    try:
        model.load_state_dict(ckpt["model"])  # bf16 weights of a release file are cast to fp32 here
    except RuntimeError as e:
        raise CheckpointError(f"error: {path}: weights do not fit the stored config: {str(e)[:300]}") from None
    model.to(map_location if isinstance(map_location, (str, torch.device)) else "cpu").eval()
    metadata = {k: ckpt[k] for k in ("arch", "config", "word2id", "vocab_hash", "step")}
    metadata["metrics"] = ckpt.get("metrics") or {}
    metadata["path"] = str(path)
    return model, metadata


def load_tokenizer(metadata):
    """The Tokenizer the model was trained with, rebuilt from the vocabulary stored in the checkpoint."""
    from minigpt.tokenizer import Tokenizer

    return Tokenizer.from_word2id(metadata["word2id"])


def check_vocab(ckpt_or_metadata, tokenizer, path) -> None:
    """Refuse to combine a model with a vocabulary it was not trained with (ids would mean other chars)."""
    if ckpt_or_metadata["vocab_hash"] != tokenizer.vocab_hash:
        n_old, n_new = len(ckpt_or_metadata["word2id"]), tokenizer.get_vocab_size()
        raise CheckpointError(
            f"error: {path}: was trained with a different vocabulary ({n_old} tokens, hash "
            f"{ckpt_or_metadata['vocab_hash'][:12]}) than the one in use ({n_new} tokens, hash "
            f"{tokenizer.vocab_hash[:12]}). Use the vocabulary stored in the checkpoint "
            "(minigpt.train.load_tokenizer(metadata)), or start a fresh run: --no-resume or another --output-dir."
        )


def _cast(state: dict, dtype) -> dict:
    """Cast floating tensors, keeping tied weights (wte = lm_head) one shared tensor in the file."""
    done = {}
    out = {}
    for k, v in state.items():
        key = (v.untyped_storage().data_ptr(), v.storage_offset(), tuple(v.shape))
        if key not in done:
            done[key] = v.to(dtype) if v.is_floating_point() else v
        out[k] = done[key]
    return out


def release(src, dst, dtype=torch.bfloat16) -> Path:
    """Shrink a training checkpoint for shipping: weights in bf16, no optimizer/RNG state."""
    ckpt = read_checkpoint(src)
    ckpt["model"] = _cast(ckpt["model"], dtype)
    ckpt["train_state"] = None
    atomic_save(ckpt, dst)
    return Path(dst)


def main(argv=None):
    p = argparse.ArgumentParser(description="Inspect a minigpt checkpoint, or shrink it for release.")
    p.add_argument("path")
    p.add_argument("--release", metavar="DST", help="write a bf16, weights-only copy to DST")
    args = p.parse_args(argv)
    try:
        if args.release:
            dst = release(args.path, args.release)
            print(f"wrote {dst} ({dst.stat().st_size / 1e6:.1f} MB)")
            return 0
        ckpt = read_checkpoint(args.path)
    except CheckpointError as e:
        print(str(e), file=sys.stderr)
        return 1
    n = sum(v.numel() for v in ckpt["model"].values())
    print(f"arch: {ckpt['arch']}  step: {ckpt['step']}  parameters (incl. tied copies): {n:,}")
    print(f"config: {ckpt['config']}")
    print(f"vocab: {len(ckpt['word2id'])} tokens, hash {ckpt['vocab_hash'][:12]}")
    print(f"metrics: {ckpt.get('metrics')}")
    print(f"resumable: {ckpt.get('train_state') is not None}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
