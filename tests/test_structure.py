"""The package stays readable in one sitting: no import cycle among minigpt's modules, no function over 100 lines,
one preset table for both architectures, and no reference to a file the repository does not contain."""
import ast
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "minigpt"
MAX_FUNCTION_LINES = 100


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def module_level_imports(path: Path, known: set[str]) -> set[str]:
    """minigpt modules imported at module level (not inside functions: those are lazy on purpose)."""
    found = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    body = list(tree.body)
    while body:
        node = body.pop(0)
        if isinstance(node, (ast.If, ast.Try)):  # `if __package__ ...:` and `try: import ...` still run at import
            body += node.body + node.orelse + [n for h in getattr(node, "handlers", []) for n in h.body]
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from minigpt import generate` imports the submodule minigpt.generate
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        found |= {n for n in names if n in known}
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle_among_minigpt_modules():
    mods = modules()
    graph = {name: module_level_imports(path, set(mods)) - {name} for name, path in mods.items()}
    # a package's __init__ is imported before any of its submodules: that edge is not a cycle
    for name in graph:
        graph[name] = {m for m in graph[name] if not name.startswith(m + ".")}
    assert find_cycle(graph) is None, " → ".join(find_cycle(graph))
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]  # the checker finds one


def test_library_modules_never_import_the_training_script():
    mods = modules()
    for name in ("minigpt.generate", "minigpt.playground", "minigpt.checkpoint", "minigpt.evaluate", "minigpt.export"):
        assert "minigpt.train" not in module_level_imports(mods[name], set(mods)), name
        source = mods[name].read_text(encoding="utf-8")
        assert "from minigpt.train import" not in source and "minigpt import train" not in source, name


def test_no_function_longer_than_100_lines():
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.name} has {n} lines")
    assert not long, "\n".join(long)


def test_one_preset_table_without_clashing_names():
    from minigpt import models
    from minigpt.model import PRESETS as GPT_PRESETS
    from minigpt.qwen3 import PRESETS as QWEN3_PRESETS

    assert not set(GPT_PRESETS) & set(QWEN3_PRESETS)
    assert models.PRESETS == {**GPT_PRESETS, **QWEN3_PRESETS}
    # the command line's names keep meaning what they meant: `--preset cpu` is the course GPT, `--arch qwen3` prefixes
    assert models.preset_config("gpt", "cpu", 57) == GPT_PRESETS["cpu"].__class__(**{**vars(GPT_PRESETS["cpu"]), "vocab_size": 57})
    assert models.preset_name("qwen3", "cpu") == "qwen3-cpu" and models.preset_name("qwen3", "qwen3-0.6b") == "qwen3-0.6b"


def test_the_repository_mentions_no_file_it_does_not_contain():
    """Rules that live outside the repository (a design note, a team contract) must not be cited from it."""
    out = subprocess.run(["git", "grep", "-n", "-I", "-E", r"CONTRACTS?\.md|DESIGN(\.md)? ?§|DESIGN\.md", "--",
                          ".", ":!tests/test_structure.py"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode in (0, 1), out.stderr  # 1: nothing found
    assert out.stdout == "", out.stdout


def test_every_data_file_in_the_package_is_installed():
    """A regular install (Colab's `pip install`) copies only .py files unless pyproject.toml lists the others."""
    import fnmatch
    import tomllib

    globs = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["package-data"]["minigpt"]
    tracked = subprocess.run(["git", "ls-files", "minigpt"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    data = [p.removeprefix("minigpt/") for p in tracked if not p.endswith(".py")]
    assert data, "the quizzes (minigpt/exercises/quizzes.json) should be found here"
    assert [p for p in data if not any(fnmatch.fnmatch(p, g) for g in globs)] == []


def string_literals(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every string literal in a file; an f-string counts by its leading text."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):  # also an f-string's leading text
            found.add((node.lineno, node.value))
    return sorted(found)


def test_only_cli_puts_the_error_prefix_on_a_message():
    """Messages say what is wrong; `cli.report` (and argparse's error) add "错误：" in one place."""
    from minigpt import cli

    found = [f"{path.relative_to(ROOT)}:{line}" for path in sorted(PACKAGE.rglob("*.py"))
             for line, text in string_literals(path) if text.startswith(cli.ERROR)]
    # exactly one hit, and it is the constant itself (so the checker does find such literals)
    assert found == [f"minigpt/cli.py:{next(n for n, t in string_literals(PACKAGE / 'cli.py') if t == cli.ERROR)}"], found


def test_one_family_for_the_errors_a_learner_can_cause():
    from minigpt import checkpoint, cli, jsonl

    for cls in (cli.DataError, cli.ConfigError, cli.CheckpointError):
        assert issubclass(cls, cli.UserError) and cls is not cli.UserError
    assert not issubclass(cli.CheckpointError, cli.DataError) and not issubclass(cli.ConfigError, cli.DataError)
    assert jsonl.DataError is cli.DataError and checkpoint.CheckpointError is cli.CheckpointError  # old homes still work


CORE_WITH_ALL = ["cli", "jsonl", "build_vocab", "split_data", "checkpoint", "models", "train", "export", "__main__",
                 "qa_dataset", "evaluate", "tokenizer", "runlog", "plots", "diagnose", "qwen3.config"]


@pytest.mark.parametrize("name", CORE_WITH_ALL)
def test_core_modules_say_what_is_public(name):
    """`__all__` lists what a reader may use from outside; every name in it exists."""
    import importlib

    module = importlib.import_module(f"minigpt.{name}")
    assert isinstance(getattr(module, "__all__", None), list), f"minigpt/{name}.py has no __all__"
    assert [n for n in module.__all__ if not hasattr(module, n)] == []
    assert [n for n in module.__all__ if n.startswith("_")] == []


DECODE_MODULES = ["model", "fast_decode", "generate", "playground", "kv_cache"]


def test_private_torch_apis_live_only_in_the_fast_path():
    """minigpt/fast_decode.py is the one file that may call torch.ops.* or read Tensor._version: a torch upgrade
    that breaks them breaks one fenced module, not the model a learner reads, a notebook or a benchmark."""
    import re

    private = re.compile(r"\btorch\.ops\.|\._version\b")  # private torch ops, a tensor's private version counter
    files = sorted(PACKAGE.rglob("*.py")) + sorted((ROOT / "notebooks").glob("*.py")) + \
        sorted((ROOT / "benchmarks").glob("*.py"))
    users = {str(p.relative_to(ROOT)) for p in files if private.search(p.read_text(encoding="utf-8"))}
    assert users == {"minigpt/fast_decode.py"}  # and the checker does find them there


def test_decode_modules_declare_their_public_names_and_others_import_only_those():
    import importlib

    for name in DECODE_MODULES:
        test_core_modules_say_what_is_public(name)  # __all__ exists, its names exist, none private
    imported = []
    for path in sorted((ROOT / "tests").glob("*.py")) + sorted((ROOT / "notebooks").glob("*.py")) + \
            sorted((ROOT / "benchmarks").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module in {f"minigpt.{n}" for n in DECODE_MODULES}:
                imported += [(path.name, node.module, a.name) for a in node.names]
    assert ("test_fast_decode.py", "minigpt.fast_decode", "FastDecoder") in imported  # the scan sees imports
    assert [i for i in imported if i[2] not in importlib.import_module(i[1]).__all__] == []
