"""Chapter 11's experiment runner (minigpt/posttrain.py): its data (出处 questions, idioms outside the course data),
that nothing it trains on is in what it evaluates on, and its three training loops on a tiny model."""
import copy
import math

import pytest
import torch

from minigpt import dpo, lora, posttrain
from minigpt.checkpoint import load_for_inference
from minigpt.corpus import idiom_entries
from minigpt.jsonl import read_qa_jsonl
from minigpt.reward import idioms

CHARS = "一二三四五六七八九十天地人山水火风云日月金木花草鸟鱼马牛羊心手口目"


@pytest.fixture(scope="module")
def shipped_tokenizer():
    return load_for_inference(posttrain.BASE)[1]


@pytest.fixture(scope="module")
def sets(shipped_tokenizer):
    return posttrain.eval_sets(shipped_tokenizer)


@pytest.mark.parametrize("pinyin, expected", [
    ("huà shé tiān zú", "hstz"), ("yī sī yī háo", "ysyh"), ("zhāng guān lǐ dài", "zgld"),  # zh → z, as abbreviations do
    ("ān rán wú yàng", "arwy"), ("lǜ shuǐ qīng shān", "lsqs"), ("ǒu duàn sī lián", "odsl"),  # toned first letters
])
def test_initials_drop_tones_and_keep_one_letter_per_syllable(pinyin, expected):
    assert posttrain.initials(pinyin) == expected


def test_the_new_skill_is_asked_about_idioms_it_was_not_practised_on():
    train, new_idioms, heldout = posttrain.initials_records()
    taught = {p.idiom for p in posttrain.taught_pairs()}
    practised, fresh = {r.idiom for r in train}, {r.idiom for r in new_idioms}
    assert len(taught) == 3025  # checkpoints/README.md: the shipped model's training split has 3,025 idioms
    assert practised | fresh == taught and not practised & fresh and len(fresh) == 605  # 20 %
    assert {r.idiom for r in heldout} == fresh and len(train) == 3 * len(practised)
    by_word = {r.idiom: r.answer for r in train + new_idioms}
    assert by_word["一丝一毫"] == "ysyh" and by_word.get("画蛇添足", "hstz") == "hstz"
    assert not {r.question for r in heldout} & {r.question for r in train + new_idioms}


def test_replay_adds_as_many_old_pairs_as_new_ones():
    new = posttrain.initials_records()[0][:50]
    mixed = posttrain.with_replay(new)
    assert mixed[:50] == new and len(mixed) == 100
    assert {p.type for p in mixed[50:]} <= {"chain", "fill", "meaning", "pinyin"}


def test_unseen_idioms_are_real_and_outside_the_course_data(shipped_tokenizer):
    words = posttrain.unseen_idioms(shipped_tokenizer)
    course = set()
    for p in read_qa_jsonl(posttrain.COURSE_DATA, warn=lambda m: None, summary=False):
        course |= {p.idiom, p.answer}
    assert len(words) > 15000
    assert set(words) <= idioms() and not set(words) & course
    assert all(len(w) == 4 and all(ch in shipped_tokenizer.word2id for ch in w) for w in words)


def test_what_is_trained_on_is_never_evaluated_on(shipped_tokenizer, sets):
    chain_train = posttrain.chain_train_idioms(shipped_tokenizer)
    assert not set(chain_train) & set(sets["unseen"])  # GRPO / RFT prompts vs the 200 unseen idioms asked
    fakes = dpo.made_up_idioms(200, seed=0, exclude=sets["made_up"], alphabet=shipped_tokenizer.word2id)
    assert not set(fakes) & set(sets["made_up"])  # DPO's made-up idioms vs those whose refusal is measured
    taught = {p.idiom for p in posttrain.taught_pairs()}
    assert set(sets["taught_words"]) <= taught and set(sets["unseen"]).isdisjoint(taught)
    with_chain = {p.idiom for p in posttrain.taught_pairs() if p.type == "chain"}
    assert set(sets["taught_chain"]) <= with_chain < taught  # 接龙 is asked only where it was taught


def test_eval_sets_are_fixed(shipped_tokenizer, sets):
    again = posttrain.eval_sets(shipped_tokenizer)
    assert [p.raw for p in again["old"]] == [p.raw for p in sets["old"]]
    assert again["unseen"] == sets["unseen"] and again["made_up"] == sets["made_up"]
    assert sorted({p.type for p in sets["old"]}) == ["chain", "fill", "meaning", "pinyin"] and len(sets["old"]) == 200


@pytest.fixture
def tiny(tiny_gpt, char_tokenizer):
    tok = char_tokenizer(CHARS)
    return tiny_gpt(tok.get_vocab_size(), seed=3), tok


def _records(n=8):
    return [posttrain._qa(CHARS[i:i + 4] + "出自哪里？", CHARS[i + 4:i + 6], "source", CHARS[i:i + 4])
            for i in range(n)]


def test_sft_steps_with_lora_change_only_the_adapters_and_learn(char_tokenizer):
    tok = char_tokenizer(CHARS + "出自哪里？")
    from minigpt.model import GPTLMHeadModel, config_for
    torch.manual_seed(0)
    model = GPTLMHeadModel(config_for("tiny", tok.get_vocab_size())).eval()
    frozen = {k: v.clone() for k, v in model.state_dict().items()}
    lora.add_lora(model, rank=4, alpha=8)
    losses = posttrain.sft_steps(model, tok, _records(), steps=60, lr=3e-2, batch_size=8)
    assert losses[-1] < losses[0] - 0.3  # 3.81 → 3.39 (without the adapters' updates it would stay put)
    for name, layer in lora.lora_layers(model).items():
        torch.testing.assert_close(layer.base.weight, frozen[f"{name}.weight"], rtol=0, atol=0)
        assert layer.lora_B.abs().sum() > 0
    assert torch.equal(model.transformer.wte.weight, frozen["transformer.wte.weight"])


def test_dpo_steps_start_at_ln2_and_rank_chosen_above_rejected(tiny):
    model, tok = tiny
    pairs = [dpo.PreferencePair(CHARS[i:i + 3], CHARS[i + 3:i + 5], CHARS[i + 6:i + 8], 0) for i in range(6)]
    reference = copy.deepcopy(model).requires_grad_(False)
    curve = posttrain.dpo_steps(model, reference, tok, pairs, steps=30, lr=5e-3, batch_size=6)
    assert curve["loss"][0] == pytest.approx(math.log(2), abs=1e-5)
    assert curve["margin"][0] == pytest.approx(0.0, abs=1e-5)
    assert curve["loss"][-1] < 0.6 and curve["accuracy"][-1] == 1.0


def test_dpo_steps_with_the_policy_as_its_own_reference_stay_at_ln2(tiny):
    model, tok = tiny
    pairs = [dpo.PreferencePair(CHARS[i:i + 3], CHARS[i + 3:i + 5], CHARS[i + 6:i + 8], 0) for i in range(4)]
    curve = posttrain.dpo_steps(model, model, tok, pairs, steps=5, lr=5e-3, batch_size=4)  # the classic mistake
    assert curve["loss"] == pytest.approx([math.log(2)] * 5, abs=1e-5)


def test_grpo_steps_report_every_step(tiny, monkeypatch):
    model, tok = tiny
    monkeypatch.setattr("minigpt.grpo.chain_reward", lambda idiom, answer: float(answer[:1] == idiom[-1]))
    reference = copy.deepcopy(model).requires_grad_(False)
    before = copy.deepcopy(model.state_dict())
    curve = posttrain.grpo_steps(model, reference, tok, [CHARS[i:i + 4] for i in range(10)], steps=3, lr=1e-3,
                                 prompts_per_step=4, group_size=4)
    assert curve["step"] == [1, 2, 3] and all(len(v) == 3 for v in curve.values())
    assert all(0 <= r <= 1 for r in curve["reward"]) and all(k >= 0 for k in curve["kl"])
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_reports_list_the_planned_runs_first_then_tagged_ones(tmp_path):
    for name in ("lora_r4_3x", "dpo", "base", "full", "notes"):
        (tmp_path / name).mkdir()
        if name != "notes":  # a folder without report.json is not a run
            (tmp_path / name / "report.json").write_text('{"name": "%s"}' % name, encoding="utf-8")
    assert list(posttrain.reports(tmp_path)) == ["base", "full", "dpo", "lora_r4_3x"]


def test_evaluate_answers_through_an_unmerged_adapter_and_leaves_it_unmerged():
    """The fast decoder reads .weight: evaluate merges LoRA for the answers and unmerges afterwards."""
    model, tok = load_for_inference(posttrain.BASE)
    lora.add_lora(model, rank=2, alpha=4)  # B = 0: the same answers as the shipped model
    report = posttrain.evaluate(model, tok, per_type=2)
    assert set(report) == {"old", "skill", "refusal", "chain", "examples"}
    assert set(report["old"]) == {"chain", "fill", "meaning", "pinyin", "mean"}
    assert report["old"]["mean"] >= 0.75  # taught idioms in their training phrasings (99.5% on 200 questions)
    assert report["skill"]["new_idioms"] == 0.0  # never taught: it answers with the whole pinyin
    assert 0.1 < report["chain"]["unseen"] < 0.4 and report["chain"]["unseen_pass8"] is None
    assert not any(layer.merged for layer in lora.lora_layers(model).values())
