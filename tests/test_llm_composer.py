"""Plumbing of the optional LLM composer with LangChain's fake chat models (fixed responses)."""
import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from pipeline.chain import AnswerEngine

Q = "Does RLHF make language models indifferent to truth?"
T = "rlhf-truth-indifference"
GOOD = f"Before RLHF, the model made positive claims in 20.9% of these unknown-truth scenarios. [{T}]"
UNSUPPORTED = f"RLHF made the model forget the truth entirely in 97% of cases. [{T}]"


def engine_with(engine, responses, strict=True):
    return AnswerEngine(engine.index, engine.embedder, engine.settings, llm=FakeListChatModel(responses=responses), strict=strict)


def test_good_llm_answer_is_kept_with_its_citations(engine):
    answer = engine_with(engine, [f"This reads the question as asking about RLHF and honesty.\n\n{GOOD}"]).ask(Q).to_json()
    assert answer["composer"] == "llm"
    assert answer["reading"].startswith("This reads the question as")
    assert [s["citations"] for s in answer["sentences"]] == [[T]]
    assert answer["sentences"][0]["supported"] and answer["llm"]["removed"] == []


def test_citations_to_notes_not_retrieved_are_dropped_and_reported(engine):
    answer = engine_with(engine, [f"{GOOD[:-len(T) - 3]} [{T}, made-up-note]"]).ask(Q).to_json()
    assert answer["llm"]["dropped_citations"] == ["made-up-note"]
    assert answer["sentences"][0]["citations"] == [T]


def test_strict_mode_repairs_once_then_keeps_the_repaired_sentence(engine):
    answer = engine_with(engine, [f"{GOOD} {UNSUPPORTED}", GOOD.replace("Before RLHF, the", "Before RLHF the")]).ask(Q).to_json()
    assert len(answer["llm"]["repaired"]) == 1 and answer["llm"]["removed"] == []
    assert all(s["supported"] for s in answer["sentences"])


def test_strict_mode_removes_what_repair_cannot_fix_and_says_so(engine):
    answer = engine_with(engine, [f"{GOOD} {UNSUPPORTED} An uncited flourish.", UNSUPPORTED]).ask(Q).to_json()
    removed = [r["text"] for r in answer["llm"]["removed"]]
    assert any("97%" in t for t in removed) and "An uncited flourish." in removed
    assert [s["text"] for s in answer["sentences"]] == [GOOD.split(" [")[0]]
    assert "Strict grounding removed 2 unsupported sentence(s)" in answer["answer"]


def test_non_strict_mode_keeps_and_flags_unsupported_sentences(engine):
    answer = engine_with(engine, [f"{GOOD} {UNSUPPORTED}"], strict=False).ask(Q).to_json()
    assert [s["supported"] for s in answer["sentences"]] == [True, False]
    assert answer["grounding"]["supported_fraction"] == 0.5


@pytest.mark.parametrize("reply", ["", "I cannot help with that.", "No citations here, just prose about RLHF."])
def test_garbage_falls_back_to_the_default_composer(engine, reply):
    answer = engine_with(engine, [reply or " "]).ask(Q).to_json()
    assert answer["composer"] == "default" and "default composer" in answer["llm"]["fallback"]
    assert answer["sentences"] and all(s["citations"] for s in answer["sentences"])


def test_unreachable_server_falls_back_quickly(engine):
    import time

    from pipeline.llm_compose import LLMSettings, chat_model

    model = chat_model(LLMSettings("openai", "some-model", "http://127.0.0.1:9/v1", timeout_s=5))
    t = time.perf_counter()
    answer = AnswerEngine(engine.index, engine.embedder, engine.settings, llm=model).ask(Q).to_json()
    assert time.perf_counter() - t < 30
    assert answer["composer"] == "default" and "did not answer" in answer["llm"]["fallback"]


def test_unknown_llm_kind_is_a_clear_cli_error(capsys, shipped):
    from conftest import run_cli

    code, _, err = run_cli(capsys, "ask", Q, "--llm", "openai", "--corpus", str(shipped.corpus_dir), "--index", str(shipped.index_dir))
    assert code == 1 and "model name is required (--model" in err


def test_the_page_streams_the_reply_then_shows_the_grounded_answer(shipped):
    from pipeline.render import answer_html, streaming_html
    from pipeline.service import PageService

    reply = f"This reads the question as asking about RLHF and honesty.\n\n{GOOD} {UNSUPPORTED}"
    service = PageService(shipped)
    streaming = FakeListChatModel(responses=[reply, UNSUPPORTED], sleep=0.005)  # a pause per character, as a server streams
    events = list(service.ask_stream(Q, streaming, strict=True))
    texts = [v for kind, v in events if kind == "text"]
    assert len(texts) >= 2 and all(reply.startswith(t) for t in texts) and texts[-1] == reply
    assert [kind for kind, _ in events][-1] == "answer" and [kind for kind, _ in events].count("answer") == 1
    answer = events[-1][1]
    assert answer["composer"] == "llm" and any("97%" in r["text"] for r in answer["llm"]["removed"])
    assert "checked and tinted when it finishes" in streaming_html(texts[0])
    page = answer_html(answer, service.notes())
    assert "strict grounding removed 1 sentence(s)" in page and "97%" in page and 'class="sent supported"' in page


def test_the_page_says_why_the_llm_was_not_used(shipped):
    from pipeline.render import answer_html
    from pipeline.service import PageService

    service = PageService(shipped)
    answer = [v for kind, v in service.ask_stream(Q, FakeListChatModel(responses=["no citations at all"])) if kind == "answer"][0]
    assert answer["composer"] == "default"
    assert "LLM composer not used:" in answer_html(answer, service.notes())


def test_uncited_supported_sentences_are_cited_for_the_model_and_repeats_dropped(engine):
    uncited = GOOD.split(" [")[0]
    reply = f"{uncited} {uncited} Penguins are excellent at chess."
    answer = engine_with(engine, [reply]).ask(Q).to_json()
    report = answer["llm"]
    assert answer["composer"] == "llm"
    assert report["attributed"] == [{"text": uncited, "note": T}]
    assert [s["citations"] for s in answer["sentences"]] == [[T]] and answer["sentences"][0]["supported"]
    reasons = {r["text"]: r["reason"] for r in report["removed"]}
    assert reasons == {uncited: "repeats an earlier sentence", "Penguins are excellent at chess.": "no citation, and no retrieved note supports it"}
    assert "cited by Inquire to the note that supports them" in answer["answer"]
