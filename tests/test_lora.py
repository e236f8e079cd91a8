"""LoRA (minigpt/lora.py): identity at init, merge round trip, parity with peft, adapter files, fast path after merge."""
import copy

import pytest
import torch

from minigpt.checkpoint import CheckpointError, save_checkpoint
from minigpt.generate import generate
from minigpt.lora import (LoRALinear, add_lora, load_adapter, lora_layers, merge, merge_and_unload, merged,
                          save_adapter, trainable_parameters, unmerge)

CHARS = "一二三四五六七八九十天地人山水火风云日月"


@pytest.fixture
def base(tiny_gpt):
    return tiny_gpt(len(CHARS) + 3, seed=1)


def ids(seed=0, shape=(3, 9), vocab=len(CHARS) + 3):
    return torch.randint(3, vocab, shape, generator=torch.Generator().manual_seed(seed))


def randomize_b(model, seed=0):
    """B starts at zero (so the adapter does nothing); give it values so the tests see the adapter at work."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in lora_layers(model).values():
            layer.lora_B.copy_(torch.randn(layer.lora_B.shape, generator=gen) * 0.2)


def test_at_init_the_adapted_model_gives_the_base_logits(base):
    adapted = add_lora(copy.deepcopy(base), rank=4, alpha=8)
    torch.testing.assert_close(adapted(ids()), base(ids()), rtol=0, atol=0)


def test_only_a_and_b_train_and_every_target_layer_is_wrapped(base):
    adapted = add_lora(copy.deepcopy(base), rank=4, alpha=8)
    n_layer = base.config.n_layer
    assert len(lora_layers(adapted)) == 4 * n_layer
    names = {n for n, p in adapted.named_parameters() if p.requires_grad}
    assert names and all(n.endswith(("lora_A", "lora_B")) for n in names)
    C, r = base.config.n_embd, 4
    per_block = r * (C + 3 * C) + r * (C + C) + r * (C + 4 * C) + r * (4 * C + C)  # qkv, out, fc, proj
    assert sum(p.numel() for p in trainable_parameters(adapted)) == n_layer * per_block


def test_merged_logits_equal_the_adapter_and_unmerge_restores_the_base(base):
    adapted = add_lora(copy.deepcopy(base), rank=4, alpha=8)
    randomize_b(adapted)
    before = {k: v.clone() for k, v in base.state_dict().items()}
    unmerged_logits = adapted(ids())
    assert not torch.allclose(unmerged_logits, base(ids()), atol=1e-3)  # the adapter does change the model
    merge(adapted)
    torch.testing.assert_close(adapted(ids()), unmerged_logits, rtol=1e-5, atol=1e-5)
    unmerge(adapted)
    for name, layer in lora_layers(adapted).items():
        torch.testing.assert_close(layer.base.weight, before[f"{name}.weight"], rtol=0, atol=1e-6)
    torch.testing.assert_close(adapted(ids()), unmerged_logits, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("rank, alpha", [(4, 8), (2, 7)])
def test_equals_peft_lora_logits_and_gradients(base, rank, alpha):
    peft = pytest.importorskip("peft")
    ours = add_lora(copy.deepcopy(base), rank=rank, alpha=alpha)
    randomize_b(ours, seed=rank)
    theirs = peft.get_peft_model(copy.deepcopy(base), peft.LoraConfig(
        r=rank, lora_alpha=alpha, lora_dropout=0.0, target_modules=["qkv_proj", "out_proj", "c_fc", "c_proj"]))
    with torch.no_grad():
        for name, layer in lora_layers(ours).items():
            peft_layer = theirs.base_model.model.get_submodule(name)
            peft_layer.lora_A["default"].weight.copy_(layer.lora_A)
            peft_layer.lora_B["default"].weight.copy_(layer.lora_B)
    x, y = ids(1), ids(2)
    logits_ours, logits_theirs = ours(x), theirs(x)
    torch.testing.assert_close(logits_ours, logits_theirs, rtol=1e-5, atol=1e-6)
    loss = lambda logits: torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten())
    loss(logits_ours).backward()
    loss(logits_theirs).backward()
    for name, layer in lora_layers(ours).items():
        peft_layer = theirs.base_model.model.get_submodule(name)
        torch.testing.assert_close(layer.lora_A.grad, peft_layer.lora_A["default"].weight.grad, rtol=1e-4, atol=1e-7)
        torch.testing.assert_close(layer.lora_B.grad, peft_layer.lora_B["default"].weight.grad, rtol=1e-4, atol=1e-7)
    assert any(layer.lora_A.grad.abs().sum() > 0 for layer in lora_layers(ours).values())


def test_a_is_initialised_like_peft(base):
    peft = pytest.importorskip("peft")
    torch.manual_seed(5)
    ours = add_lora(copy.deepcopy(base), rank=4, alpha=8)
    torch.manual_seed(5)
    theirs = peft.get_peft_model(copy.deepcopy(base), peft.LoraConfig(r=4, lora_alpha=8, target_modules=["qkv_proj"]))
    a_ours = lora_layers(ours)["transformer.blocks.0.attn.qkv_proj"].lora_A
    a_theirs = theirs.base_model.model.get_submodule("transformer.blocks.0.attn.qkv_proj").lora_A["default"].weight
    bound = 1 / base.config.n_embd ** 0.5  # kaiming_uniform(a=√5) on (rank, in): U(-1/√in, 1/√in)
    assert a_ours.abs().max() <= bound and a_theirs.abs().max() <= bound and a_ours.std() > bound / 3


def test_generation_after_merge_uses_the_new_weights_on_both_paths(base):
    prompt = ids(3, (2, 6))
    plain_before = generate(base, prompt, 8, stop_token_ids=None)
    fast_before = generate(base, prompt, 8, stop_token_ids=None, fast=True)  # packs the base weights
    assert torch.equal(plain_before, fast_before)
    adapted = add_lora(base, rank=4, alpha=8)
    randomize_b(adapted, seed=3)
    with pytest.raises(RuntimeError, match="合并"):  # unmerged: the fast path must not read the base weights alone
        generate(adapted, prompt, 8, stop_token_ids=None, fast=True)
    plain_unmerged = generate(adapted, prompt, 8, stop_token_ids=None)
    assert not torch.equal(plain_unmerged, plain_before)  # the adapter changes the greedy tokens
    with merged(adapted):
        assert torch.equal(generate(adapted, prompt, 8, stop_token_ids=None, fast=True), plain_unmerged)
    merge_and_unload(adapted)
    assert not lora_layers(adapted)
    assert torch.equal(generate(adapted, prompt, 8, stop_token_ids=None, fast=True), plain_unmerged)


def test_adapter_file_round_trip_and_mismatched_bases_are_refused(tmp_path, base, char_tokenizer, tiny_gpt):
    tok = char_tokenizer(CHARS)
    save_checkpoint(tmp_path / "base.pth", base, "gpt", tok, step=0)
    adapted = add_lora(copy.deepcopy(base), rank=4, alpha=8)
    randomize_b(adapted)
    save_adapter(adapted, tok, tmp_path / "adapter.pth", base=tmp_path / "base.pth")
    assert (tmp_path / "adapter.pth").stat().st_size < (tmp_path / "base.pth").stat().st_size
    loaded, loaded_tok = load_adapter(tmp_path / "adapter.pth", tmp_path / "base.pth")
    assert loaded_tok.vocab_hash == tok.vocab_hash
    torch.testing.assert_close(loaded(ids()), adapted(ids()), rtol=1e-5, atol=1e-6)

    other_vocab = char_tokenizer(CHARS[::-1])
    wider = tiny_gpt(len(CHARS) + 3, seed=1, n_embd=64)
    deeper = tiny_gpt(len(CHARS) + 3, seed=1, n_layer=3)
    for name, model, t, what in [("vocab.pth", base, other_vocab, "词表不同"), ("wide.pth", wider, tok, "形状不同"),
                                 ("shallow.pth", tiny_gpt(len(CHARS) + 3, n_layer=1), tok, "没有"),
                                 ("deeper.pth", deeper, tok, "多出")]:
        save_checkpoint(tmp_path / name, model, "gpt", t, step=0)
        with pytest.raises(CheckpointError, match=what) as e:
            load_adapter(tmp_path / "adapter.pth", tmp_path / name)
        assert str(tmp_path / "adapter.pth") in str(e.value) and str(tmp_path / name) in str(e.value)
    broken = torch.load(tmp_path / "adapter.pth", weights_only=True)
    broken["rank"] = 3  # A and B in the file are rank 4
    torch.save(broken, tmp_path / "broken.pth")
    with pytest.raises(CheckpointError, match="对不上它自己"):
        load_adapter(tmp_path / "broken.pth", tmp_path / "base.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a file torch wrote")
    with pytest.raises(CheckpointError, match="不是"):
        load_adapter(tmp_path / "junk.pth", tmp_path / "base.pth")


def test_lora_linear_refuses_rank_zero():
    with pytest.raises(ValueError, match="rank"):
        LoRALinear(torch.nn.Linear(4, 4), rank=0, alpha=1)


def test_the_merged_model_exports_through_the_transformers_export(tmp_path, base, char_tokenizer):
    transformers = pytest.importorskip("transformers")
    from minigpt.export import export_model

    adapted = add_lora(copy.deepcopy(base), rank=4, alpha=8)
    randomize_b(adapted, seed=5)
    expected = adapted(ids())
    plain = merge_and_unload(adapted)
    folder = export_model(plain, char_tokenizer(CHARS).word2id, tmp_path / "export")
    hf = transformers.AutoModelForCausalLM.from_pretrained(folder, local_files_only=True).eval()
    with torch.no_grad():
        torch.testing.assert_close(hf(ids()).logits, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("rows", [1, 16])
def test_every_cached_fast_decode_weight_is_rebuilt_after_merge_and_unmerge(base, rows):
    from minigpt.fast_decode import linear, pack_weights, weight_sources

    def packed_equal_the_weights(model) -> list[torch.Tensor]:
        """What each cached (packed) weight computes, checked against the model's weights; returned to compare."""
        packed, sources = pack_weights(model, rows), weight_sources(model)
        assert len(packed) == len(sources)
        # x @ W.T with x = I gives W.T: that reads a matrix back out of any packed layout (oneDNN's or W.T)
        seen = [linear(torch.eye(src.shape[1]), w) if src.dim() == 2 else w for w, src in zip(packed, sources)]
        for got, src in zip(seen, sources):
            torch.testing.assert_close(got, src.detach().t() if src.dim() == 2 else src.detach(), rtol=1e-5, atol=1e-6)
        return seen

    before = packed_equal_the_weights(base)  # the cache now holds the base weights
    adapted = add_lora(base, rank=4, alpha=8)
    randomize_b(adapted, seed=7)
    merge(adapted)
    after = packed_equal_the_weights(adapted)
    changed = [not torch.allclose(a, b) for a, b in zip(after, before)]
    assert sum(changed) == 4 * base.config.n_layer  # every adapted matrix; the qkv biases and lm_head stay
    unmerge(adapted)
    with pytest.raises(RuntimeError, match="合并"):  # unmerged, the base weights alone are not the layer's weights
        pack_weights(adapted, rows)
    merge_and_unload(adapted)
    packed_equal_the_weights(adapted)
