"""Every relative link in the course's Markdown files points at a file or folder the repository has."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ["README.md", "notebooks/README.md", "checkpoints/README.md", "data/README.md", "benchmarks/README.md"]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def relative_links(text: str) -> list[str]:
    return [t for t in LINK.findall(text) if not re.match(r"[a-z]+:", t) and not t.startswith("#")]


@pytest.mark.parametrize("doc", DOCS)
def test_relative_links_resolve(doc):
    path = ROOT / doc
    links = relative_links(path.read_text(encoding="utf-8"))
    missing = [t for t in links if not (path.parent / t.split("#")[0]).exists()]
    assert not missing, f"{doc}: links to files that do not exist: {missing}"


def test_the_link_finder_sees_relative_links_and_skips_urls():
    text = "[a](notebooks/01.ipynb) [b](https://x.org/y) [c](#anchor) [d](../minigpt/model.py#L3)"
    assert relative_links(text) == ["notebooks/01.ipynb", "../minigpt/model.py#L3"]
