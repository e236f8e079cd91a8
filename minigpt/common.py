"""Small helpers every chapter shares: where the repo is, which device to use, fast mode.

Run `python -m minigpt.common` to see what this machine picks.
"""
import os
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parent.parent


def pick_device(name: str = "auto") -> torch.device:
    """`auto` picks cuda, then Apple's mps, then cpu; any other name is used as given."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def is_fast() -> bool:
    """MINIGPT_FAST=1 (set by the test suite) keeps models and data but cuts steps."""
    return os.environ.get("MINIGPT_FAST", "0") not in ("", "0", "false", "False")


CJK_FONTS = ["Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Zen Hei", "SimHei",
             "Microsoft YaHei", "PingFang SC", "Heiti SC", "Arial Unicode MS"]


def use_chinese_font() -> str | None:
    """Make matplotlib draw Chinese characters; return the font used, or None if none is installed.

    Linux: `apt-get install fonts-noto-cjk`; Windows and macOS ship SimHei / PingFang.
    Without such a font, Chinese glyphs are drawn as boxes (and the missing-glyph warnings are muted).
    """
    import warnings

    import matplotlib
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    if not installed.intersection(CJK_FONTS):
        # matplotlib caches its font list: a font installed after that cache was built is not in it yet
        for path in font_manager.findSystemFonts():
            if "CJK" in path or "wqy" in path.lower():
                font_manager.fontManager.addfont(path)
        installed = {f.name for f in font_manager.fontManager.ttflist}
    for name in CJK_FONTS:
        if name in installed:
            matplotlib.rcParams["font.sans-serif"] = [name, *matplotlib.rcParams["font.sans-serif"]]
            matplotlib.rcParams["font.family"] = "sans-serif"
            matplotlib.rcParams["axes.unicode_minus"] = False  # CJK fonts often lack the minus glyph
            return name
    warnings.filterwarnings("ignore", message="Glyph .* missing from (current )?font")
    return None


if __name__ == "__main__":
    print("repo:", REPO_ROOT)
    print("device:", pick_device())
    print("fast mode:", is_fast())
