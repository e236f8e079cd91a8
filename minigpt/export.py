"""把课程训练的模型导出成 Hugging Face 格式的文件夹，transformers 离线就能加载。

    python -m minigpt.export --checkpoint output/best_model.pth --out export/minigpt-idiom
    python ./minigpt/export.py --help

导出之后，任何会用 transformers 的人都能这样用（不需要 minigpt）：

    from transformers import AutoModelForCausalLM, AutoTokenizer
    tok = AutoTokenizer.from_pretrained("export/minigpt-idiom")
    model = AutoModelForCausalLM.from_pretrained("export/minigpt-idiom")
    ids = tok("画蛇添足", return_tensors="pt").input_ids   # 再在末尾接上 <sep>，见文件夹里的 README.md

- 课程的 Qwen3 → Qwen3ForCausalLM：模块名本来就与官方一致，直接写 safetensors。
- 课程的 GPT → GPT2LMHeadModel：结构相同（Pre-LN、学习的位置向量、精确 GELU、共用输出矩阵），
  但 GPT-2 用 Conv1D（权重是 Linear 的转置），并且每个投影都有偏置——我们没有的偏置写成 0。
- 字符词表 → `tokenizers` 的 WordLevel 分词器（每个字符一个 token），包装成 PreTrainedTokenizerFast。
"""
from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from minigpt.cli import ArgumentParser, CheckpointError, ConfigError, report
from minigpt.checkpoint import default_checkpoint, load_checkpoint
from minigpt.models import arch_of, context_length
from minigpt.tokenizer import SPECIAL_TOKENS as SPECIALS

__all__ = ["gpt_to_gpt2_state_dict", "gpt2_config", "char_tokenizer", "write_tokenizer", "export_model", "main"]


def gpt_to_gpt2_state_dict(model) -> dict[str, torch.Tensor]:
    """我们 GPT 的权重 → GPT2LMHeadModel 的键和形状。"""
    c = model.config
    sd = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    zeros = lambda n: torch.zeros(n, dtype=sd["transformer.wte.weight"].dtype)  # noqa: E731
    out = {"transformer.wte.weight": sd["transformer.wte.weight"],
           "transformer.wpe.weight": sd["transformer.wpe.weight"],
           "transformer.ln_f.weight": sd["transformer.ln_f.weight"],
           "transformer.ln_f.bias": sd["transformer.ln_f.bias"]}
    for i in range(c.n_layer):
        src, dst = f"transformer.blocks.{i}.", f"transformer.h.{i}."
        for ln in ("ln_1", "ln_2"):
            out[dst + ln + ".weight"] = sd[src + ln + ".weight"]
            out[dst + ln + ".bias"] = sd[src + ln + ".bias"]
        # Conv1D 计算 x @ W + b，W 形状 (in, out)；nn.Linear 是 x @ W.T，W 形状 (out, in)：转置即可。
        # q、k、v 在 qkv_proj 的输出里按 [q; k; v] 排，每段内按头排——GPT-2 的 c_attn 也是这样切的。
        out[dst + "attn.c_attn.weight"] = sd[src + "attn.qkv_proj.weight"].t()
        out[dst + "attn.c_attn.bias"] = sd[src + "attn.qkv_proj.bias"]
        out[dst + "attn.c_proj.weight"] = sd[src + "attn.out_proj.weight"].t()
        out[dst + "attn.c_proj.bias"] = zeros(c.n_embd)
        out[dst + "mlp.c_fc.weight"] = sd[src + "mlp.c_fc.weight"].t()
        out[dst + "mlp.c_fc.bias"] = zeros(4 * c.n_embd)
        out[dst + "mlp.c_proj.weight"] = sd[src + "mlp.c_proj.weight"].t()
        out[dst + "mlp.c_proj.bias"] = zeros(c.n_embd)
    return {k: v.contiguous() for k, v in out.items()}  # lm_head 与 wte 共用，不另存


def gpt2_config(model, word2id: dict[str, int], dtype: str) -> dict:
    c = model.config
    return dict(
        architectures=["GPT2LMHeadModel"], model_type="gpt2",
        vocab_size=c.vocab_size, n_positions=c.block_size, n_embd=c.n_embd, n_layer=c.n_layer, n_head=c.n_head,
        n_inner=None,  # 默认 4·n_embd，与我们的 MLP 相同
        activation_function="gelu",  # 精确 GELU（F.gelu 默认）；GPT-2 原版是 tanh 近似的 gelu_new
        layer_norm_epsilon=1e-5,  # nn.LayerNorm 的默认值
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,  # 推理用，dropout 无关紧要
        initializer_range=0.02, scale_attn_weights=True, scale_attn_by_inverse_layer_idx=False,
        reorder_and_upcast_attn=False, tie_word_embeddings=True, use_cache=True,
        bos_token_id=word2id["<sep>"], eos_token_id=word2id["<sep>"], pad_token_id=word2id["<pad>"],
        torch_dtype=dtype,
    )


def char_tokenizer(word2id: dict[str, int]):
    """字符级分词器：每个字符查表，查不到是 <unk>；解码时直接拼接（不加空格）。"""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers
    missing = [s for s in SPECIALS if s not in word2id]
    if missing:
        raise ConfigError(f"词表缺少特殊 token {missing}（build_vocab 写出的词表总有 <pad> <unk> <sep>）")
    tk = Tokenizer(models.WordLevel(vocab=dict(word2id), unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")  # 每个字符（含空白）单独成段
    tk.decoder = decoders.Fuse()  # WordLevel 默认用空格连接 token；字符级要无缝拼接
    tk.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in SPECIALS])
    return tk


def write_tokenizer(folder: Path, word2id: dict[str, int], max_length: int) -> None:
    char_tokenizer(word2id).save(str(folder / "tokenizer.json"))
    cfg = dict(
        tokenizer_class="PreTrainedTokenizerFast",  # transformers 4.x 与 5.x 都认识的通用快速分词器
        pad_token="<pad>", unk_token="<unk>", sep_token="<sep>", eos_token="<sep>", bos_token=None,
        model_max_length=max_length, padding_side="left",  # 批量生成要左填充
        clean_up_tokenization_spaces=False,
        # 与课程的 Tokenizer 一致：文本里的 "<sep>" 五个字符逐字编码，不变成特殊 token
        split_special_tokens=True,
        add_bos_token=False, add_eos_token=False,
    )
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg, ensure_ascii=False, indent=2) + "\n")
    (folder / "special_tokens_map.json").write_text(json.dumps(
        dict(pad_token="<pad>", unk_token="<unk>", sep_token="<sep>", eos_token="<sep>"), indent=2) + "\n")


README = """# {name}

minigpt 课程导出的{kind}（{arch}，{params:.2f} M 参数，字符级词表 {vocab} 个）。

```python
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
tok = AutoTokenizer.from_pretrained("{folder}")
model = AutoModelForCausalLM.from_pretrained("{folder}")
q = "画蛇添足"
ids = tok(q, return_tensors="pt").input_ids
ids = torch.cat([ids, torch.tensor([[tok.sep_token_id]])], 1)   # 问题 + <sep> 是生成提示
out = model.generate(ids, max_new_tokens=64, do_sample=False)   # 遇到 <sep> 停止
print(tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True))
```
"""


def export_model(model, word2id: dict[str, int], out_dir, *, dtype: torch.dtype | None = None) -> Path:
    """把内存里的课程模型（GPT 或 Qwen3）和它的字符词表写成 transformers 可加载的文件夹。"""
    from safetensors.torch import save_file
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if len(word2id) != model.config.vocab_size:
        raise ConfigError(f"词表有 {len(word2id)} 个 token，模型的 vocab_size 是 {model.config.vocab_size}")
    if sorted(word2id.values()) != list(range(len(word2id))):
        raise ConfigError("词表的编号必须是 0..N-1 各出现一次")
    arch = arch_of(model)
    model = copy.deepcopy(model).to("cpu", dtype)  # 副本：不改调用者的模型（课程模型只有几 MB）
    dtype_name = str(next(model.parameters()).dtype).removeprefix("torch.")
    pad, sep = word2id["<pad>"], word2id["<sep>"]
    if arch == "qwen3":
        model.config.eos_token_id = sep  # 字符级模型用 <sep> 结束回答
        model.save_pretrained(out)
        hf_arch = model.config.architecture
    else:
        save_file(gpt_to_gpt2_state_dict(model), str(out / "model.safetensors"), metadata={"format": "pt"})
        (out / "config.json").write_text(json.dumps(gpt2_config(model, word2id, dtype_name), indent=2) + "\n")
        hf_arch = "GPT2LMHeadModel"
    (out / "generation_config.json").write_text(json.dumps(dict(
        eos_token_id=sep, pad_token_id=pad, bos_token_id=sep, do_sample=False, max_new_tokens=64), indent=2) + "\n")
    write_tokenizer(out, word2id, context_length(model))
    (out / "README.md").write_text(README.format(
        name=out.name, kind="字符级 Qwen3" if arch == "qwen3" else "字符级 GPT", arch=hf_arch,
        params=model.num_parameters() / 1e6, vocab=len(word2id), folder=out.as_posix()), encoding="utf-8")
    return out


def main(argv=None) -> int:
    p = ArgumentParser(description="导出课程模型为 Hugging Face 文件夹（transformers 可离线加载）")
    p.add_argument("--checkpoint", help="train.py 保存的 .pth（默认：你训练的最新模型，没有就用随仓库发布的模型）")
    p.add_argument("--out", required=True, help="输出文件夹")
    p.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32", help="导出权重的类型")
    args = p.parse_args(argv)
    try:
        model, meta = load_checkpoint(args.checkpoint or default_checkpoint())
        out = export_model(model, meta["word2id"], args.out, dtype=getattr(torch, args.dtype))
    except CheckpointError as e:  # 消息已写明是哪个检查点
        return report(e)
    except (ValueError, OSError) as e:  # 词表和模型对不上（ConfigError），或者输出文件夹写不了
        return report(f"{args.out}: {e}")
    print(f"已导出 {meta['arch']} 模型（第 {meta['step']} 步）到 {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
