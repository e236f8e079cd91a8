"""Exported folders load in transformers (AutoModelForCausalLM + AutoTokenizer, offline) and give our logits and
greedy answers. Both course architectures: the GPT (→ GPT2LMHeadModel) and the Qwen3 (→ Qwen3ForCausalLM).
Run: pytest tests/test_export.py -p no:randomly -q
"""
import json
import subprocess
import sys

import pytest
import torch

from minigpt.export import export_model
from minigpt.generate import generate
from minigpt.model import GPTLMHeadModel, config_for
from minigpt.qwen3 import Qwen3ForCausalLM, course_config
from minigpt.tokenizer import Tokenizer

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()

CHARS = "画蛇添足比喻做了多余的事反而不恰当守株待兔死守狭隘经验不知变通，。？ 是什么意思"
WORD2ID = {"<pad>": 0, "<unk>": 1, "<sep>": 2}
for ch in dict.fromkeys(CHARS):
    WORD2ID[ch] = len(WORD2ID)
QUESTIONS = ["画蛇添足是什么意思？", "守株待兔", "狗"]  # the last one is out of vocabulary: <unk>


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def make_model(arch):
    torch.manual_seed(0)
    V = len(WORD2ID)
    if arch == "gpt":
        model = GPTLMHeadModel(config_for("tiny", vocab_size=V))
    else:
        model = Qwen3ForCausalLM(course_config(V, preset="tiny"))
    with torch.no_grad():  # larger random weights: distinct greedy choices, visible differences
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    return model.eval()


@pytest.fixture(scope="module", params=["gpt", "qwen3"])
def exported(request, tmp_path_factory):
    model = make_model(request.param)
    folder = export_model(model, WORD2ID, tmp_path_factory.mktemp(request.param) / "export")
    hf = transformers.AutoModelForCausalLM.from_pretrained(folder, local_files_only=True).eval()
    tok = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    return request.param, model, hf, tok, folder


def test_architecture_and_files(exported):
    arch, _, hf, _, folder = exported
    assert type(hf).__name__ == {"gpt": "GPT2LMHeadModel", "qwen3": "Qwen3ForCausalLM"}[arch]
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
            "generation_config.json", "README.md"} <= {p.name for p in folder.iterdir()}
    cfg = json.loads((folder / "config.json").read_text())
    if arch == "qwen3":
        assert cfg["head_dim"] == 16 and cfg["rope_theta"] == 10000.0 and cfg["tie_word_embeddings"] is True
    else:
        assert cfg["activation_function"] == "gelu" and cfg["n_positions"] == 128


def test_tokenizer_matches_course_tokenizer(exported):
    _, _, _, tok, _ = exported
    ours = Tokenizer.from_word2id(WORD2ID)
    for q in QUESTIONS + ["a<sep>b"]:
        assert tok(q)["input_ids"] == ours.encode_text(q), q
    ids = ours.encode_text("画蛇添足") + [2, 0, 0]
    assert tok.decode(ids, skip_special_tokens=True) == "画蛇添足"
    assert (tok.pad_token_id, tok.unk_token_id, tok.sep_token_id, tok.eos_token_id) == (0, 1, 2, 2)


@torch.no_grad()
def test_same_logits(exported):
    _, model, hf, _, _ = exported
    ids = torch.randint(0, len(WORD2ID), (3, 40), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(hf(ids).logits, model(ids), atol=1e-5, rtol=0)


@torch.no_grad()
def test_same_greedy_answers(exported):
    _, model, hf, tok, _ = exported
    for q in QUESTIONS:
        prompt = torch.tensor([tok(q)["input_ids"] + [tok.sep_token_id]])
        ref = hf.generate(prompt, max_new_tokens=30, do_sample=False)  # generation_config: stop at <sep>
        got = generate(model, prompt, 30, stop_token_ids=(2,), pad_token_id=0)
        assert torch.equal(got, ref), q


def test_bf16_export(tmp_path):
    model = make_model("qwen3")
    folder = export_model(model, WORD2ID, tmp_path / "bf16", dtype=torch.bfloat16)
    hf = transformers.AutoModelForCausalLM.from_pretrained(folder)
    assert hf.dtype == torch.bfloat16 and next(model.parameters()).dtype == torch.float32  # caller's model untouched


def test_vocab_size_mismatch(tmp_path):
    with pytest.raises(ValueError, match="vocab_size"):
        export_model(make_model("gpt"), {**WORD2ID, "龙": len(WORD2ID)}, tmp_path)
    with pytest.raises(ValueError, match="0..N-1"):
        export_model(make_model("gpt"), {**WORD2ID, "<pad>": len(WORD2ID)}, tmp_path)


def run_cli(*args):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["gpt", "qwen3"])
def test_cli_from_checkpoint(tmp_path, arch):
    """python -m minigpt.export --checkpoint X.pth --out DIR, on a checkpoint written by chapter 6's code."""
    from minigpt.checkpoint import save_checkpoint
    model = make_model(arch)
    save_checkpoint(tmp_path / "m.pth", model, arch, Tokenizer.from_word2id(WORD2ID), step=7)
    r = run_cli("-m", "minigpt.export", "--checkpoint", str(tmp_path / "m.pth"), "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "out")
    ids = torch.randint(0, len(WORD2ID), (1, 20))
    with torch.no_grad():
        torch.testing.assert_close(hf(ids).logits, model(ids), atol=1e-5, rtol=0)


@pytest.mark.slow
def test_cli_errors(tmp_path):
    r = run_cli("-m", "minigpt.export", "--checkpoint", str(tmp_path / "missing.pth"), "--out", str(tmp_path / "o"))
    assert r.returncode == 1 and r.stderr.startswith("错误：") and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    r = run_cli("./minigpt/export.py", "--checkpoint", str(tmp_path / "junk.pth"), "--out", str(tmp_path / "o"))
    assert r.returncode == 1 and r.stderr.startswith("错误：") and "Traceback" not in r.stderr
