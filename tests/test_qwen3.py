"""Our Qwen3 against transformers' (the reference): logits, greedy generation, KV cache, padding, loading.

Tiny random models saved with transformers' save_pretrained are loaded with our from_pretrained, so the
tests check the architecture *and* the checkpoint layout (key names, tied heads, MoE experts, config).
Run: pytest tests/test_qwen3.py -p no:randomly -q
"""
import json
import warnings
from dataclasses import replace

import pytest
import torch

from minigpt.kv_cache import KVCache
from minigpt.qwen3 import QWEN3_0_6B, PRESETS, Qwen3Config, Qwen3ForCausalLM, count_parameters, course_config

transformers = pytest.importorskip("transformers")
warnings.filterwarnings("ignore", module="transformers")
transformers.logging.set_verbosity_error()
from transformers.utils import logging as hf_logging  # noqa: E402

hf_logging.disable_progress_bar()

V, L = 97, 3


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """These models are tiny: one thread is faster than two, and far faster on a shared, busy CI machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def hf_config(moe: bool, tie: bool, bias: bool):
    """GQA with 3 query heads per kv head, 3 layers; the MoE has a dense layer in the middle."""
    kw = dict(vocab_size=V, hidden_size=48, intermediate_size=96, num_hidden_layers=L, num_attention_heads=6,
              num_key_value_heads=2, head_dim=16, max_position_embeddings=128, rope_theta=10000.0,
              tie_word_embeddings=tie, attention_bias=bias, pad_token_id=0)
    if moe:
        return transformers.Qwen3MoeConfig(**kw, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=24,
                                           norm_topk_prob=True, mlp_only_layers=[1])
    return transformers.Qwen3Config(**kw)


def make_hf_model(moe: bool, tie: bool, bias: bool, seed: int = 0):
    torch.manual_seed(seed)
    cls = transformers.Qwen3MoeForCausalLM if moe else transformers.Qwen3ForCausalLM
    model = cls._from_config(hf_config(moe, tie, bias), attn_implementation="eager").eval()
    # transformers initialises norms to 1 and biases to 0, which would hide a missing weight or bias:
    # randomise them, and scale the weights so that greedy choices are far from ties.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.normal_(1.0, 0.3)
            elif name.endswith("bias"):
                p.normal_(0.0, 0.3)
            else:
                p.normal_(0.0, 0.15)
    return model


CASES = [(moe, tie, bias) for moe in (False, True) for tie in (False, True) for bias in (False, True)]
IDS = [f"{'moe' if m else 'dense'}-{'tied' if t else 'untied'}-{'bias' if b else 'nobias'}" for m, t, b in CASES]


@pytest.fixture(scope="module", params=CASES, ids=IDS)
def pair(request, tmp_path_factory):
    """(transformers model, our model loaded from its save_pretrained folder)."""
    hf = make_hf_model(*request.param)
    folder = tmp_path_factory.mktemp("hf")
    hf.save_pretrained(folder)
    return hf, Qwen3ForCausalLM.from_pretrained(folder)


def greedy(model, ids, n, attention_mask=None):
    """Minimal greedy loop with our KV cache (what chapter 7's generate does, without sampling/stopping)."""
    cache = KVCache(model.config.num_hidden_layers)
    out = ids
    logits = model(ids, attention_mask, kv_cache=cache)
    for _ in range(n):
        nxt = logits[:, -1].argmax(-1, keepdim=True)  # (B, 1)
        out = torch.cat([out, nxt], 1)
        if attention_mask is not None:
            attention_mask = torch.cat([attention_mask, torch.ones_like(nxt)], 1)
        logits = model(nxt, attention_mask, kv_cache=cache)
    return out


@torch.no_grad()
def test_logits_match_transformers(pair):
    hf, ours = pair
    ids = torch.randint(0, V, (3, 24), generator=torch.Generator().manual_seed(1))
    ref = hf(ids).logits
    got = ours(ids)
    assert got.shape == (3, 24, V)
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=0)


@torch.no_grad()
def test_greedy_generation_matches_transformers(pair):
    hf, ours = pair
    ids = torch.randint(1, V, (2, 7), generator=torch.Generator().manual_seed(2))
    ref = hf.generate(ids, max_new_tokens=20, do_sample=False, eos_token_id=None, pad_token_id=0)
    assert torch.equal(greedy(ours, ids, 20), ref)


@torch.no_grad()
def test_cached_logits_equal_full_recompute(pair):
    _, ours = pair
    ids = torch.randint(0, V, (2, 30), generator=torch.Generator().manual_seed(3))
    full = ours(ids)
    cache = KVCache(L)
    parts = [ours(ids[:, :10], kv_cache=cache)]  # a prompt, then a chunk, then token by token
    parts.append(ours(ids[:, 10:17], kv_cache=cache))
    parts += [ours(ids[:, t:t + 1], kv_cache=cache) for t in range(17, 30)]
    assert cache.seq_len == 30
    torch.testing.assert_close(torch.cat(parts, 1), full, atol=1e-5, rtol=0)


@torch.no_grad()
def test_left_padded_batch_equals_each_row(pair):
    hf, ours = pair
    g = torch.Generator().manual_seed(4)
    rows = [torch.randint(1, V, (n,), generator=g) for n in (9, 4, 6)]
    T = max(len(r) for r in rows)
    ids = torch.zeros(len(rows), T, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, T - len(r):], mask[i, T - len(r):] = r, 1
    batch = ours(ids, mask)
    assert torch.isfinite(batch).all(), "pad query rows must not produce NaN"
    gen = greedy(ours, ids, 12, mask)
    for i, r in enumerate(rows):
        alone = ours(r[None])
        torch.testing.assert_close(batch[i, T - len(r):], alone[0], atol=1e-5, rtol=0)
        assert torch.equal(gen[i, T:], greedy(ours, r[None], 12)[0, len(r):])
    # transformers gets the same logits when told the positions (its forward counts from 0 regardless of pads)
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    ref = hf(ids, attention_mask=mask, position_ids=pos).logits
    torch.testing.assert_close(batch[mask.bool()], ref[mask.bool()], atol=1e-5, rtol=0)


@torch.no_grad()
def test_bf16_matches_transformers_loaded_in_bf16(tmp_path):
    """Both load with dtype=bf16 (RoPE angles stay fp32 in both); compare against the fp32 reference too."""
    hf = make_hf_model(moe=False, tie=True, bias=False)
    hf.save_pretrained(tmp_path)
    hf16 = transformers.AutoModelForCausalLM.from_pretrained(tmp_path, dtype=torch.bfloat16,
                                                             attn_implementation="eager")
    ours16 = Qwen3ForCausalLM.from_pretrained(tmp_path, dtype=torch.bfloat16)
    assert ours16.lm_head.weight.dtype == torch.bfloat16
    ids = torch.randint(0, V, (2, 100), generator=torch.Generator().manual_seed(5))
    ref32, ref16, got16 = hf(ids).logits, hf16(ids).logits.float(), ours16(ids).float()
    # our bf16 is as close to fp32 as transformers' bf16 is (SDPA and eager round differently in bf16)
    err_ours, err_hf = (got16 - ref32).abs().max().item(), (ref16 - ref32).abs().max().item()
    assert err_ours <= 1.5 * err_hf + 1e-3, (err_ours, err_hf)


# ---- loading: config formats, layouts, errors ----

def official_style_config(hf_dict: dict) -> dict:
    """Rewrite a transformers-5 config.json the way the official Qwen3 repos (transformers 4.x) store it."""
    d = {k: v for k, v in hf_dict.items() if k not in ("rope_parameters", "layer_types", "num_local_experts")}
    d["rope_theta"] = hf_dict["rope_parameters"]["rope_theta"]
    d["rope_scaling"] = None
    if "num_local_experts" in hf_dict:
        d["num_experts"] = hf_dict["num_local_experts"]
    d["transformers_version"] = "4.51.0"
    return d


@pytest.mark.parametrize("moe", [False, True], ids=["dense", "moe"])
def test_both_config_formats(tmp_path, moe):
    hf = make_hf_model(moe=moe, tie=False, bias=False)
    hf.save_pretrained(tmp_path)
    v5 = json.loads((tmp_path / "config.json").read_text())
    assert "rope_parameters" in v5 and ("num_local_experts" in v5) == moe  # what transformers 5 writes
    from_v5 = Qwen3ForCausalLM.from_pretrained(tmp_path).config
    (tmp_path / "config.json").write_text(json.dumps(official_style_config(v5)))
    from_v4 = Qwen3ForCausalLM.from_pretrained(tmp_path).config
    assert from_v4 == from_v5
    assert from_v4.num_experts == (4 if moe else 0) and from_v4.rope_theta == 10000.0
    # an official-looking config.json with a different theta is read from the top level
    d = official_style_config(v5)
    d["rope_theta"] = 1000000
    (tmp_path / "config.json").write_text(json.dumps(d))
    assert Qwen3ForCausalLM.from_pretrained(tmp_path).config.rope_theta == 1e6


def test_official_0_6b_config_json(tmp_path):
    """The config.json of Qwen/Qwen3-0.6B (copied from its hub repo) gives our QWEN3_0_6B preset."""
    official = {
        "architectures": ["Qwen3ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
        "bos_token_id": 151643, "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu",
        "hidden_size": 1024, "initializer_range": 0.02, "intermediate_size": 3072,
        "max_position_embeddings": 40960, "max_window_layers": 28, "model_type": "qwen3",
        "num_attention_heads": 16, "num_hidden_layers": 28, "num_key_value_heads": 8, "rms_norm_eps": 1e-06,
        "rope_scaling": None, "rope_theta": 1000000, "sliding_window": None, "tie_word_embeddings": True,
        "torch_dtype": "bfloat16", "transformers_version": "4.51.0", "use_cache": True,
        "use_sliding_window": False, "vocab_size": 151936}
    assert Qwen3Config.from_hf_dict(official) == QWEN3_0_6B
    # and transformers reads our to_hf_dict() into the same shapes
    hc = transformers.Qwen3Config(**QWEN3_0_6B.to_hf_dict())
    assert (hc.head_dim, hc.rope_parameters["rope_theta"], hc.tie_word_embeddings) == (128, 1e6, True)


def test_sharded_checkpoint(tmp_path):
    hf = make_hf_model(moe=True, tie=False, bias=True)
    hf.save_pretrained(tmp_path, max_shard_size="20KB")
    assert (tmp_path / "model.safetensors.index.json").exists() and not (tmp_path / "model.safetensors").exists()
    ours = Qwen3ForCausalLM.from_pretrained(tmp_path)
    ids = torch.arange(20)[None] % V
    with torch.no_grad():
        torch.testing.assert_close(ours(ids), hf(ids).logits, atol=1e-5, rtol=0)


def test_fused_expert_layout(tmp_path):
    """transformers 5 keeps experts fused in memory (mlp.experts.gate_up_proj (E, 2I, H), down_proj (E, H, I));
    a state_dict saved as is (not via save_pretrained) loads too."""
    from safetensors.torch import save_file
    hf = make_hf_model(moe=True, tie=False, bias=False)
    sd = hf.state_dict()
    assert sd["model.layers.0.mlp.experts.gate_up_proj"].shape == (4, 48, 48)
    hf.save_pretrained(tmp_path)
    save_file({k: v.contiguous() for k, v in sd.items()}, str(tmp_path / "model.safetensors"))
    ours = Qwen3ForCausalLM.from_pretrained(tmp_path)
    ids = torch.arange(20)[None] % V
    with torch.no_grad():
        torch.testing.assert_close(ours(ids), hf(ids).logits, atol=1e-5, rtol=0)


def test_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="不存在"):
        Qwen3ForCausalLM.from_pretrained(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="config.json"):
        Qwen3ForCausalLM.from_pretrained(tmp_path)
    hf = make_hf_model(moe=False, tie=False, bias=False)
    hf.save_pretrained(tmp_path)
    good = json.loads((tmp_path / "config.json").read_text())

    (tmp_path / "config.json").write_text(json.dumps({**good, "architectures": ["LlamaForCausalLM"]}))
    with pytest.raises(ValueError, match="LlamaForCausalLM"):
        Qwen3ForCausalLM.from_pretrained(tmp_path)

    (tmp_path / "config.json").write_text(json.dumps({**good, "intermediate_size": 100}))
    with pytest.raises(ValueError, match=r"model\.layers\.0\.mlp\.down_proj\.weight 的形状是 \(48, 96\).*应为 \(48, 100\)"):
        Qwen3ForCausalLM.from_pretrained(tmp_path)

    (tmp_path / "config.json").write_text(json.dumps({**good, "num_hidden_layers": 4}))
    with pytest.raises(ValueError, match=r"缺少权重 model\.layers\.3\."):
        Qwen3ForCausalLM.from_pretrained(tmp_path)

    (tmp_path / "config.json").write_text(json.dumps(good))
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        Qwen3ForCausalLM.from_pretrained(tmp_path)


def test_save_pretrained_round_trip_through_transformers(tmp_path):
    """Our save_pretrained folder (tied head, official-style config) loads in transformers with equal logits."""
    torch.manual_seed(0)
    ours = Qwen3ForCausalLM(course_config(vocab_size=50, preset="tiny")).eval()
    ours.save_pretrained(tmp_path)
    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path, attn_implementation="eager")
    ids = torch.randint(0, 50, (2, 30))
    with torch.no_grad():
        torch.testing.assert_close(ours(ids), hf(ids).logits, atol=1e-5, rtol=0)
    again = Qwen3ForCausalLM.from_pretrained(tmp_path)
    assert again.config == ours.config and again.lm_head.weight is again.model.embed_tokens.weight


# ---- shapes, presets, the course model ----

def test_presets_parameter_counts_on_meta():
    """Every preset builds (on the meta device: shapes only, no memory) and has the published size."""
    published = {"qwen3-0.6b": 0.6e9, "qwen3-1.7b": 1.7e9, "qwen3-4b": 4.0e9, "qwen3-8b": 8.2e9,
                 "qwen3-30b-a3b": 30.5e9}
    for name, cfg in PRESETS.items():
        # building 48 layers x 128 experts takes ~20 s even on meta: check the formula on 2 layers
        small = replace(cfg, num_hidden_layers=min(cfg.num_hidden_layers, 2))
        with torch.device("meta"):
            assert Qwen3ForCausalLM(small).num_parameters() == count_parameters(small), name
        if name in published:
            n = count_parameters(cfg)
            assert abs(n - published[name]) / published[name] < 0.02, (name, n)
    assert count_parameters(QWEN3_0_6B) == 596_049_920  # 0.44 B outside the embedding, as Qwen's card says


def test_course_config_matches_gpt_budget():
    """The course Qwen3 has the same per-layer parameter count as a GPT block of the same width (12·d²)."""
    cfg = course_config(vocab_size=3000)
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.num_key_value_heads) == (256, 4, 4, 2)
    model = Qwen3ForCausalLM(cfg)
    per_layer = sum(p.numel() for p in model.model.layers[0].parameters())
    d = cfg.hidden_size
    assert abs(per_layer - 12 * d * d) / (12 * d * d) < 0.01
    assert model.lm_head.weight is model.model.embed_tokens.weight
    with pytest.raises(ValueError, match="max_position_embeddings"):
        model(torch.zeros(1, cfg.max_position_embeddings + 1, dtype=torch.long))
    with pytest.raises(ValueError, match="没有名为“huge”的 Qwen3 课程预设"):
        course_config(100, preset="huge")


def test_course_model_learns():
    """A few optimizer steps on a fixed batch reduce the loss (the model trains, gradients flow through everything)."""
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(course_config(vocab_size=40, preset="tiny"))
    ids = torch.randint(3, 40, (4, 20))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        logits = model(ids[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 40), ids[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.slow
def test_0_6b_shaped_model_loads_and_generates(tmp_path):
    """Full Qwen3-0.6B width (1024 hidden, 16/8 heads, head_dim 128, 151,936 vocab, tied), but 2 of the 28 layers:
    the full depth would be a 1.2 GB bf16 file that takes ~30 s to write and read on a CI runner, while 2 layers
    exercise exactly the same shapes and code. Weights are random bf16, written straight with safetensors."""
    from safetensors.torch import save_file
    cfg = replace(QWEN3_0_6B, num_hidden_layers=2)
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in Qwen3ForCausalLM(cfg).state_dict().items() if k != "lm_head.weight"}
    g = torch.Generator().manual_seed(0)
    state = {k: (torch.randn(s, generator=g) * 0.02 if len(s) > 1 else torch.ones(s)).to(torch.bfloat16)
             for k, s in shapes.items()}
    save_file(state, str(tmp_path / "model.safetensors"))
    del state
    (tmp_path / "config.json").write_text(json.dumps(cfg.to_hf_dict("bfloat16")))
    model = Qwen3ForCausalLM.from_pretrained(tmp_path)  # dtype=None keeps the file's bf16
    assert model.lm_head.weight.dtype == torch.bfloat16 and model.lm_head.weight.device.type == "cpu"
    assert model.num_parameters() == count_parameters(cfg)
    ids = torch.tensor([[151644, 872, 198, 108386, 151645]])
    with torch.no_grad():
        out = greedy(model, ids, 8)
    assert out.shape == (1, 13) and int(out.max()) < cfg.vocab_size


def test_works_with_chapter7_generate(pair):
    """minigpt.generate.generate (chapter 7) drives our Qwen3 unchanged: greedy equals transformers', cached equals
    uncached, and a left-padded batch equals each row alone."""
    from minigpt.generate import generate
    hf, ours = pair
    ids = torch.randint(1, V, (2, 7), generator=torch.Generator().manual_seed(6))
    ref = hf.generate(ids, max_new_tokens=15, do_sample=False, eos_token_id=None, pad_token_id=0)
    assert torch.equal(generate(ours, ids, 15, stop_token_ids=None), ref)
    assert torch.equal(generate(ours, ids, 15, stop_token_ids=None, use_cache=False), ref)
    mask = torch.ones_like(ids)
    mask[1, :3] = 0
    batch = generate(ours, ids, 10, attention_mask=mask, stop_token_ids=None)
    assert torch.equal(batch[1, 7:], generate(ours, ids[1:, 3:], 10, stop_token_ids=None)[0, 4:])
    with pytest.raises(ValueError, match="attention_mask"):
        ours(ids, mask[:, 1:])
