"""Table tests for the pure functions the stages rest on: fusion, sentence splitting, citation parsing,
the parts of a compound question, the names of a claim, the logistic function, the grounding features' names."""
import pytest

from pipeline.cited import parse_cited_answer
from pipeline.coverage import question_parts
from pipeline.retrieve import rrf
from pipeline.text import names, sigmoid, split_sentences


@pytest.mark.parametrize("rankings, k, expected", [
    ([([3, 1, 2], 1.0)], 10, {3: 1 / 11, 1: 1 / 12, 2: 1 / 13}),
    ([([3, 1, 2], 1.0), ([1, 3], 1.0)], 10, {3: 1 / 11 + 1 / 12, 1: 1 / 12 + 1 / 11, 2: 1 / 13}),
    ([([5], 2.0), ([6], 1.0)], 0, {5: 2.0, 6: 1.0}),  # the weight scales a ranking's votes
    ([], 60, {}),
])
def test_reciprocal_rank_fusion(rankings, k, expected):
    fused = rrf(rankings, k)
    assert fused.keys() == expected.keys()
    assert all(fused[r] == pytest.approx(v) for r, v in expected.items())


@pytest.mark.parametrize("text, expected", [
    ("Korbak et al. found it. Scores rose 2.5 points.", ["Korbak et al. found it.", "Scores rose 2.5 points."]),
    ("One.\n\nTwo? Three!", ["One.", "Two?", "Three!"]),
    ("# Heading\n\nBody text e.g. this one.", ["Body text e.g. this one."]),
    ("A line\nwrapped in the middle.", ["A line wrapped in the middle."]),
    ("", []),
])
def test_sentence_splitting(text, expected):
    assert split_sentences(text) == expected


@pytest.mark.parametrize("text, sentences, unresolved", [
    ("RLHF raised false claims [rlhf-truth-indifference]. DPO drops the reward model [dpo-implicit-reward][ppo-instructgpt].",
     [("RLHF raised false claims.", ["rlhf-truth-indifference"]), ("DPO drops the reward model.", ["dpo-implicit-reward", "ppo-instructgpt"])], []),
    ("A claim [1]. Another [2].\n\nSources\n1. [rlhf-truth-indifference] title\n2. [dpo-implicit-reward] t",
     [("A claim.", ["rlhf-truth-indifference"]), ("Another.", ["dpo-implicit-reward"])], []),
    ("No citation here. Cited one [a-b].", [("No citation here.", []), ("Cited one.", ["a-b"])], []),
    ("A claim [3].\n\nSources\n1. [x-y] t", [("A claim.", [])], ["[3]"]),
])
def test_citation_parsing(text, sentences, unresolved):
    parsed = parse_cited_answer(text)
    assert [(s.text, s.citations) for s in parsed.sentences] == sentences
    assert parsed.unresolved == unresolved


@pytest.mark.parametrize("question, parts", [
    ("Which chat models were attacked, and how was harmfulness judged?", ["Which chat models were attacked", "how was harmfulness judged"]),
    ("How large was the corpus? Which part depends on steering?", ["How large was the corpus", "Which part depends on steering"]),
    ("Does RLHF hurt calibration?", []),  # one ask
    ("What do safety and helpfulness trade off?", []),  # "and" joins two nouns, not two asks
    ("Which models were attacked, and why?", []),  # a part needs two topic words of its own
])
def test_question_parts(question, parts):
    assert question_parts(question) == parts


@pytest.mark.parametrize("text, expected", [
    ("We compared GPT-3.5 with Llama-2 on MMLU. Results held for the Anthropic team.", ["gpt-3.5", "llama-2", "mmlu", "anthropic"]),
    ("Models trained by OpenAI e.g. text-davinci-003 were tested.", ["openai", "text-davinci-003"]),
    ("The first word of a sentence is no name. Nor is this one.", []),
])
def test_the_names_of_a_claim(text, expected):
    assert names(text) == expected


def test_sigmoid_is_the_logistic_function_and_never_overflows():
    assert sigmoid(0.0) == 0.5 and sigmoid(2.0) + sigmoid(-2.0) == pytest.approx(1.0)
    assert sigmoid(1000.0) == 1.0 and sigmoid(-1000.0) == 0.0


def test_the_fitted_grounding_model_reads_the_features_by_name():
    from pipeline.features import FEATURES, NO_EVIDENCE
    from pipeline.ground import MODEL_FEATURES, load_grounding_model

    assert NO_EVIDENCE.vector().tolist() == [0.0] * len(FEATURES)
    assert load_grounding_model().weights.shape == (len(MODEL_FEATURES),)  # loading checks the names it was fitted on


@pytest.mark.parametrize("tokenizer, text, expected", [
    ("terms_as_written", "Does RL-tuned GPT-3.5's 4-bit model win?", [(0, "Does"), (5, "RL-tuned"), (14, "GPT-3.5's"), (24, "4-bit"),
                                                                     (30, "model"), (36, "win")]),
    ("topic_words", "How does RLHF change the sleeper-agents' behaviour?", ["rlhf", "sleeper-agents", "behaviour"]),
    ("alphanumeric_words", "Clip-Higher in DAPO's GRPO2 run", ["Clip", "Higher", "in", "DAPO", "s", "GRPO2", "run"]),
    ("acronyms", "RLHF or CAI, then RLHF again; not DPOs or AI", ["RLHF", "CAI", "RLHF"]),
    ("names_as_written", "How did Anthropic's CAI beat GPT-3.5? Llama-2 and the Sleeper Agents", ["Anthropic", "CAI", "GPT-3.5",
                                                                                            "Llama-2", "Sleeper", "Agents"]),
    ("names", "How did Anthropic's CAI beat GPT-3.5? Llama-2 and the Sleeper Agents", ["anthropic", "cai", "gpt-3.5", "llama-2",
                                                                                 "sleeper", "agents"]),
])
def test_each_tokenizer_cuts_what_its_name_says(tokenizer, text, expected):
    from pipeline import text as T

    assert getattr(T, tokenizer)(text) == expected


def test_topic_stems_stem_a_compound_part_by_part():
    from pipeline.text import topic_stems

    assert topic_stems("The sleeper-agents persisted through training") == {"sleeper-agent", "persist", "train"}


def test_the_perturbation_suite_reverses_with_its_own_words_not_the_scorers():
    """evaluation/perturb.py's REVERSALS share no pair with the scorer's features.OPPOSITES, in either order, so
    the suite's 'direction' cases do not measure that word list against itself."""
    from evaluation.perturb import REVERSALS
    from pipeline.features import OPPOSITES

    scorers = {frozenset(pair) for pair in OPPOSITES}
    assert [pair for pair in REVERSALS if frozenset(pair) in scorers] == []


@pytest.mark.parametrize("claim_number, bound, evidence, found", [
    ("71", None, "71.0", True),  # the same value written with a decimal
    ("16", None, "15.6", True),  # rounded
    ("35.2", None, "20.9", False),
    ("16", "about", "17.5", True),  # "about 16" holds a value within a tenth either side
    ("16", "about", "18", False),
    ("60", "at most", "58", True),  # "under 60%" holds 58%, not 62%
    ("60", "at most", "62", False),
    ("90", "at least", "94", True),  # "over 90%" holds 94%, not 86%
    ("90", "at least", "86", False),
    ("0.0002", "about", "0.00016", True),  # a tiny number keeps its rounding even when a tenth of it is smaller
])
def test_a_number_is_found_as_written_rounded_or_within_its_hedge(claim_number, bound, evidence, found):
    from pipeline.features import _number_found

    assert _number_found(claim_number, {evidence}, bound) is found


def test_hedged_numbers_read_the_words_before_each_number():
    from pipeline.features import hedged_numbers

    claim = "Pass@1 rose from roughly 16% to 71%, a bit under 60% of prompts and well over 90% of runs, up to 3 times"
    assert hedged_numbers(claim) == {"16": "about", "60": "at most", "90": "at least", "3": "at most"}


def test_numbers_fixed_to_a_name_are_told_from_quantities():
    from pipeline.features import naming_numbers

    assert naming_numbers("On AIME 2024 pass@1 GPT-4 and Llama 2 rose from 16% to 71%; the year was 2023") == {"2024", "1", "4", "2"}
