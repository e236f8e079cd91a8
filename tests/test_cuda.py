"""CUDA paths: the same model, generation and training code on a GPU. Skipped where there is none (CI);
run on the project's GPU check machine: `pytest tests/test_cuda.py`."""
import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from minigpt.generate import generate
from minigpt.model import PRESETS, GPTLMHeadModel

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
ROOT = Path(__file__).resolve().parent.parent


def gpt(vocab_size=50, preset="tiny", seed=0):
    torch.manual_seed(seed)
    return GPTLMHeadModel(replace(PRESETS[preset], vocab_size=vocab_size)).eval()


def test_gpt_logits_on_cuda_equal_cpu_logits():
    model = gpt(preset="cpu")
    ids = torch.randint(3, 50, (4, 40))
    mask = torch.ones_like(ids)
    mask[1, :7] = 0  # a left-padded row takes the explicit-mask path
    with torch.no_grad():
        cpu = model(ids, mask)
        gpu = model.cuda()(ids.cuda(), mask.cuda()).cpu()
    torch.testing.assert_close(gpu[mask.bool()], cpu[mask.bool()], atol=2e-3, rtol=2e-3)


def test_cached_greedy_equals_uncached_greedy_on_cuda():
    model = gpt(preset="cpu", seed=1).cuda()
    ids = torch.randint(3, 50, (3, 9), device="cuda")
    mask = torch.ones_like(ids)
    mask[0, :4] = 0
    fast = generate(model, ids, 30, attention_mask=mask, stop_token_ids=(), use_cache=True)
    slow = generate(model, ids, 30, attention_mask=mask, stop_token_ids=(), use_cache=False)
    assert torch.equal(fast, slow)


def test_training_on_cuda_learns_and_the_checkpoint_loads_on_cpu(tmp_path):
    from minigpt.split_data import prepare_data
    from minigpt.tokenizer import Tokenizer
    from minigpt.train import load_checkpoint, train

    data = tmp_path / "data.jsonl"
    shutil.copy(ROOT / "tests" / "fixtures" / "qa_small.jsonl", data)
    paths = prepare_data(data)
    tokenizer = Tokenizer(paths["vocab"])
    model = gpt(tokenizer.get_vocab_size(), preset="cpu")
    history = train(model, tokenizer, paths["train"], paths["val"], max_steps=30, device="cuda",
                    output_dir=tmp_path / "out", tensorboard_dir=None, progress=False, warmup_steps=5)
    assert history[-1] < history[0]
    restored, metadata = load_checkpoint(tmp_path / "out" / "last_model.pth", map_location="cpu")
    assert metadata["step"] == 30
    assert next(restored.parameters()).device.type == "cpu"


def test_qwen3_logits_on_cuda_equal_cpu_logits():
    from minigpt.qwen3 import Qwen3ForCausalLM, course_config

    torch.manual_seed(0)
    model = Qwen3ForCausalLM(course_config(60)).eval()
    ids = torch.randint(3, 60, (2, 33))
    with torch.no_grad():
        cpu = model(ids)
        gpu = model.cuda()(ids.cuda()).cpu()
    torch.testing.assert_close(gpu, cpu, atol=2e-3, rtol=2e-3)
