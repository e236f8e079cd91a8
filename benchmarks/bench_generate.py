"""Generation speed: our KV cache vs. our no-cache path vs. the seed-style loop vs. transformers' generate.

    python benchmarks/bench_generate.py                 # batch 1 and 16, 60 new tokens, 5 interleaved repeats
    python benchmarks/bench_generate.py --repeats 3 --batch-sizes 1 --threads 2
    python benchmarks/bench_generate.py --threads 1 --clock cpu   # CPU time of this thread: steadier on a busy machine

Every method answers the same questions (from data/data.jsonl) with the same weights and produces exactly
--new-tokens tokens per row (stop tokens disabled), greedy, fp32. Methods run interleaved (A B C D, A B C D, ...)
so that load changes on a shared machine hit all of them alike; we print the median and min-max of useful
tokens/s (batch x new tokens / seconds, prompt processing included) and ratios of medians.

  ours+cache     minigpt.generate.generate(..., use_cache=True), left-padded batch
  ours-nocache   the same loop with use_cache=False: the whole sequence is recomputed for every token
  seed-style     benchmarks/seed_reference.seed_generate: one question at a time, full recompute, no cache,
                 no padding (the headline baseline: the fairest version of the seed's loop)
  seed-padded    the same loop the way the seed's code runs by default: the tokenizer pads to 128
                 (pad_to_max_length=True) and every step runs all 128 positions with the padding mask
  transformers   GPT2LMHeadModel of equal size (n_embd/n_head/n_layer/n_positions/vocab), model.generate

Weights: the shipped checkpoint if present (or --checkpoint), else the "cpu" preset with random weights.
The GPT-2 model has random weights either way (it is only a speed reference; its MLP and projections carry
biases, a few thousand extra parameters).
"""
import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from minigpt.build_vocab import count_chars, vocab_from_counter  # noqa: E402
from minigpt.generate import generate  # noqa: E402
from minigpt.jsonl import read_qa_jsonl  # noqa: E402
from minigpt.model import GPTConfig, GPTLMHeadModel, config_for  # noqa: E402
from minigpt.tokenizer import Tokenizer  # noqa: E402


def load_seed_reference():
    spec = importlib.util.spec_from_file_location("seed_reference", ROOT / "benchmarks" / "seed_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def quiet(*_args, **_kw):
    pass


def build_models(checkpoint):
    """(ours, tokenizer, source) from the checkpoint if there is one, else the cpu preset, random weights."""
    if checkpoint is not None and Path(checkpoint).is_file():
        from minigpt.train import load_checkpoint, load_tokenizer

        model, metadata = load_checkpoint(checkpoint)
        if metadata["arch"] == "gpt":
            return model.eval(), load_tokenizer(metadata), f"checkpoint {checkpoint}"
    tok = Tokenizer.from_word2id(vocab_from_counter(count_chars(ROOT / "data" / "data.jsonl", warn=quiet))["word2id"])
    torch.manual_seed(0)
    return GPTLMHeadModel(config_for("cpu", tok.get_vocab_size())).eval(), tok, "cpu preset, random weights"


def gpt2_like(config: GPTConfig):
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(vocab_size=config.vocab_size, n_positions=config.block_size, n_embd=config.n_embd,
                     n_layer=config.n_layer, n_head=config.n_head, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                     bos_token_id=None, eos_token_id=None, pad_token_id=0)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(cfg).eval()
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    return model


def left_pad(prompts, pad=0):
    T = max(len(p) for p in prompts)
    ids = torch.tensor([[pad] * (T - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (T - len(p)) + [1] * len(p) for p in prompts])
    return ids, mask


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16])
    p.add_argument("--new-tokens", type=int, default=60)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    p.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "minigpt-idiom.pth"))
    p.add_argument("--skip", nargs="*", default=[], help="methods to leave out, e.g. transformers")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                   help="wall: elapsed time (default); cpu: this thread's CPU time, which leaves out the time other "
                        "processes hold the core (only meaningful with --threads 1 on CPU)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    seed = load_seed_reference()
    device = torch.device(args.device)
    ours, tok, source = build_models(args.checkpoint)
    ref = seed.GPTLMHeadModel(seed.GPTConfig(**{**vars(ours.config), "dropout": 0.0})).eval()
    ref.load_state_dict(ours.state_dict())
    hf = None if "transformers" in args.skip else gpt2_like(ours.config).to(device)
    ours, ref = ours.to(device), ref.to(device)
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    questions = [pair.question for pair in read_qa_jsonl(ROOT / "data" / "data.jsonl", warn=quiet)]
    n_new = args.new_tokens
    print(f"model: {source}; {ours.num_parameters() / 1e6:.2f}M parameters, {vars(ours.config)}")
    if hf is not None:
        print(f"transformers GPT2LMHeadModel: {sum(p.numel() for p in hf.parameters()) / 1e6:.2f}M parameters")
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, {where}, {args.clock} clock, {n_new} new tokens per row, "
          f"{args.repeats} interleaved repeats (shared CPU: numbers move with other load)\n")

    rows = []
    for B in args.batch_sizes:
        qs = questions[:B]
        prompts = [tok.encode(q, None, pad_to_max_length=False)[0] for q in qs]
        ids, mask = left_pad(prompts, tok.pad_token_id)
        ids, mask = ids.to(device), mask.to(device)

        def ours_cache():
            return generate(ours, ids, n_new, attention_mask=mask, stop_token_ids=None)

        def ours_nocache():
            return generate(ours, ids, n_new, attention_mask=mask, stop_token_ids=None, use_cache=False)

        def seed_style():
            return [seed.seed_generate(ref, tok, q, n_new, stop=False) for q in qs]

        def seed_padded():
            return [seed.seed_generate(ref, tok, q, n_new, stop=False, padded=True) for q in qs]

        def hf_generate():
            with torch.no_grad():
                return hf.generate(input_ids=ids, attention_mask=mask, max_new_tokens=n_new, min_new_tokens=n_new,
                                   do_sample=False, pad_token_id=0)

        methods = {"ours+cache": ours_cache, "ours-nocache": ours_nocache, "seed-style": seed_style,
                   "seed-padded": seed_padded}
        if hf is not None:
            methods["transformers"] = hf_generate
        methods = {k: v for k, v in methods.items() if k not in args.skip}

        # correctness first: all our paths give the same greedy tokens
        a, b = ours_cache()[:, ids.shape[1]:], ours_nocache()[:, ids.shape[1]:]
        assert torch.equal(a, b), "cache and no-cache greedy differ"
        if "seed-style" in methods and B == 1:
            for name in ("seed-style", "seed-padded"):
                if name in methods:
                    same = methods[name]()[0][1] == a[0].tolist()
                    print(f"batch 1: {name} greedy tokens {'equal' if same else 'DIFFER from'} ours")
        if hf is not None:
            assert hf_generate().shape[1] == ids.shape[1] + n_new
        for fn in methods.values():  # warm-up
            fn()
        times = {k: [] for k in methods}
        for _ in range(args.repeats):
            for name, fn in methods.items():
                sync()
                t0 = clock()
                fn()
                sync()
                times[name].append(clock() - t0)
        for name, ts in times.items():
            tps = [B * n_new / t for t in ts]
            rows.append((B, name, statistics.median(tps), min(tps), max(tps)))

    print(f"{'batch':>5}  {'method':<13} {'tokens/s median':>15}  {'min-max':>17}  {'vs seed':>8}  "
          f"{'vs seed-padded':>14}  {'vs transformers':>15}")
    for B, name, med, lo, hi in rows:
        base = {n: m for b, n, m, *_ in rows if b == B}
        vs = [f"{med / base[ref]:.{digits}f}x" if ref in base else "-"
              for ref, digits in (("seed-style", 1), ("seed-padded", 1), ("transformers", 2))]
        print(f"{B:>5}  {name:<13} {med:>15.0f}  {lo:>8.0f}-{hi:<8.0f}  {vs[0]:>8}  {vs[1]:>14}  {vs[2]:>15}")


if __name__ == "__main__":
    main()
