"""Our Qwen3 on a CUDA GPU against transformers on the same GPU (skipped where there is no GPU).

Loading straight onto the GPU (`from_pretrained(device="cuda")`), SDPA's CUDA kernels with our boolean masks
(left padding, KV-cache offsets), bf16, and chapter 7's generate on the GPU.
Run: pytest tests/test_qwen3_cuda.py -p no:randomly -q
"""
import pytest
import torch

from minigpt.generate import generate
from minigpt.kv_cache import KVCache
from minigpt.qwen3 import Qwen3ForCausalLM

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()

V = 97


@pytest.fixture(scope="module", autouse=True)
def exact_fp32():
    """TF32 would round fp32 matrix products to 10 mantissa bits: keep them exact for the comparison."""
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def make_folder(tmp_path, moe):
    kw = dict(vocab_size=V, hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=8,
              num_key_value_heads=2, head_dim=16, max_position_embeddings=512, tie_word_embeddings=not moe,
              attention_bias=moe)
    torch.manual_seed(0)
    if moe:
        cfg = transformers.Qwen3MoeConfig(**kw, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32,
                                          norm_topk_prob=True)
        hf = transformers.Qwen3MoeForCausalLM(cfg)
    else:
        hf = transformers.Qwen3ForCausalLM(transformers.Qwen3Config(**kw))
    with torch.no_grad():
        for name, p in hf.named_parameters():
            p.normal_(1.0 if "norm" in name else 0.0, 0.15)
    hf.save_pretrained(tmp_path)
    return tmp_path


@pytest.mark.parametrize("moe", [False, True], ids=["dense", "moe"])
@torch.no_grad()
def test_cuda_parity_cache_padding_generate(tmp_path, moe):
    folder = make_folder(tmp_path, moe)
    hf = transformers.AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager").cuda().eval()
    ours = Qwen3ForCausalLM.from_pretrained(folder, device="cuda")
    assert ours.lm_head.weight.device.type == "cuda"
    ids = torch.randint(1, V, (3, 40), device="cuda", generator=torch.Generator("cuda").manual_seed(0))
    torch.testing.assert_close(ours(ids), hf(ids).logits, atol=1e-5, rtol=0)

    cache = KVCache(3)
    parts = [ours(ids[:, :25], kv_cache=cache)] + [ours(ids[:, t:t + 1], kv_cache=cache) for t in range(25, 40)]
    torch.testing.assert_close(torch.cat(parts, 1), ours(ids), atol=1e-5, rtol=0)

    mask = torch.ones_like(ids)
    mask[1, :15] = 0
    mask[2, :30] = 0
    batch = ours(ids, mask)
    assert torch.isfinite(batch).all()
    torch.testing.assert_close(batch[1, 15:], ours(ids[1:2, 15:])[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(batch[2, 30:], ours(ids[2:3, 30:])[0], atol=1e-5, rtol=0)

    prompt = ids[:, :8]
    ref = hf.generate(prompt, max_new_tokens=20, do_sample=False, eos_token_id=None, pad_token_id=0)
    assert torch.equal(generate(ours, prompt, 20, stop_token_ids=None), ref)


@torch.no_grad()
def test_cuda_bf16_as_close_as_transformers(tmp_path):
    folder = make_folder(tmp_path, moe=False)
    ref32 = transformers.AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager").cuda().eval()
    hf16 = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16).cuda().eval()
    ours16 = Qwen3ForCausalLM.from_pretrained(folder, dtype=torch.bfloat16, device="cuda")
    ids = torch.randint(0, V, (2, 400), device="cuda", generator=torch.Generator("cuda").manual_seed(1))
    ref = ref32(ids).logits
    err_ours = (ours16(ids).float() - ref).abs().max().item()
    err_hf = (hf16(ids).logits.float() - ref).abs().max().item()
    assert err_ours <= 1.5 * err_hf + 1e-3, (err_ours, err_hf)
