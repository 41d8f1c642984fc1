"""Optional LLM composer, kept honest by the grounding scorer.

Any LangChain chat model can be plugged in (`chat_model` builds the OpenAI-compatible one, through
`llm_client`, and the Ollama one from flags). The model writes a synthesis citing `[note-id]`; then
citations to notes that were not retrieved are dropped, every sentence is scored, and in strict mode an
unsupported sentence is sent back once with its evidence for repair and removed if it still fails. The answer says what
was removed. Any failure of the model (unreachable, timeout, garbage) raises `LLMFailure`, and the
chain falls back to the default composer.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from langchain_core.prompts import ChatPromptTemplate

from .cited import parse_cited_answer
from .compose import AnswerSentence, Draft, next_lines, reading_line
from .errors import InquireError
from .ground import GroundingScorer
from .index import NoteIndex
from .llm_client import openai_chat_model
from .retrieve import Hit

LLM_KINDS = ("openai", "ollama")
ATTRIBUTION_SUPPORT = 0.9
ATTRIBUTION_COSINE = 0.75  # the vague sentences seen from SmolLM2-135M reached 0.70 at most

SYSTEM = """You answer research questions using ONLY the notes given. Write the answer in this shape:
first one line beginning "This reads the question as", then two or three short paragraphs of synthesis.
Every sentence of the synthesis must end with the note(s) it rests on in square brackets: the note's id,
for example [note-id] or [note-id, other-id], or its number, for example [1] or [1, 3]. Cite only the
notes given. Do not add facts, numbers or names that the notes do not state. Do not write a Sources list.
Example of a cited sentence: Filtering unsafe text out of pretraining data lowered attack success rates [2]."""

REPAIR = """This sentence is not supported by the note(s) it cites: "{sentence}"
Evidence from the cited notes:
{evidence}
Rewrite it as ONE sentence that says only what the evidence states, ending with its [note-id] citation."""

PROMPT = ChatPromptTemplate.from_messages([("system", SYSTEM), ("human", "Question: {question}\n\nNotes:\n{notes}")])


class LLMFailure(InquireError, RuntimeError):
    def __init__(self, message: str, report: "LLMReport | None" = None):
        super().__init__(message)
        self.report = report  # what strict grounding had removed before giving up, if it got that far


@dataclass(frozen=True)
class LLMSettings:
    kind: str = "openai"
    model: str = ""
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"  # the key is read from this environment variable, never from flags
    timeout_s: float = 60.0
    strict: bool = True
    max_tokens: int = 700  # an answer is a few short paragraphs; small local models otherwise ramble to the context limit


@dataclass
class LLMReport:
    removed: list[dict] = field(default_factory=list)  # {"text", "reason"}
    dropped_citations: list[str] = field(default_factory=list)
    repaired: list[dict] = field(default_factory=list)  # {"before", "after"}
    attributed: list[dict] = field(default_factory=list)  # {"text", "note"}: uncited, cited by us to the note supporting it

    def to_json(self) -> dict:
        return {"removed": self.removed, "dropped_citations": self.dropped_citations, "repaired": self.repaired,
                "attributed": self.attributed}


def chat_model(cfg: LLMSettings):
    """A LangChain chat model for an OpenAI-compatible server (llama.cpp, vLLM, hosted) or Ollama."""
    if cfg.kind not in LLM_KINDS:
        raise LLMFailure(f"unknown LLM kind '{cfg.kind}' (--llm); choose one of {', '.join(LLM_KINDS)}")
    if not cfg.model:
        raise LLMFailure("an LLM model name is required (--model, or 'Model name' in the page): the name the server knows")
    if cfg.kind == "openai":
        return openai_chat_model(cfg.model, cfg.base_url, cfg.timeout_s, cfg.api_key_env, cfg.max_tokens)
    from langchain_ollama import ChatOllama

    return ChatOllama(model=cfg.model, base_url=cfg.base_url, temperature=0, num_predict=cfg.max_tokens,
                      client_kwargs={"timeout": cfg.timeout_s})


def notes_block(index: NoteIndex, hits: list[Hit]) -> str:
    blocks = []
    for n, h in enumerate(hits, start=1):
        note = index.note(h.id)
        blocks.append(f"Note {n} [{note.id}] {note.title}\n{note.summary}\n" + " ".join(note.sentences))
    return "\n\n".join(blocks)


def _with_numbered_sources(text: str, hits: list[Hit]) -> str:
    """The reply plus a Sources list in the notes' order, so a citation by number ([2]) resolves to its id."""
    return text + "\n\nSources\n" + "\n".join(f"{n}. [{h.id}]" for n, h in enumerate(hits, start=1))


def _invoke(model, messages, on_text: Callable[[str], None] | None = None, stop: list[str] | None = None) -> str:
    """The model's reply; with `on_text`, streamed, calling it with the text so far after each chunk."""
    try:
        if on_text is None:
            text = getattr(model.invoke(messages, stop=stop), "content", None)
        else:
            text = ""
            for chunk in model.stream(messages, stop=stop):
                if isinstance(chunk.content, str) and chunk.content:
                    text += chunk.content
                    on_text(text)
    except Exception as exc:  # any transport, timeout or server error means: fall back
        raise LLMFailure(f"the LLM did not answer ({type(exc).__name__}: {str(exc)[:200]})") from exc
    if not isinstance(text, str) or not text.strip():
        raise LLMFailure("the LLM returned an empty answer")
    return text


def compose_with_llm(question: str, qv, index: NoteIndex, hits: list[Hit], scorer: GroundingScorer, model,
                     strict: bool = True, n_next: int = 4, on_text: Callable[[str], None] | None = None) -> tuple[Draft, LLMReport]:
    text = _invoke(model, PROMPT.format_messages(question=question, notes=notes_block(index, hits)), on_text)
    parsed = parse_cited_answer(_with_numbered_sources(text, hits))
    report = LLMReport()
    retrieved = {h.id for h in hits}
    kept: list[AnswerSentence] = []
    seen: set[str] = set()
    for s in parsed.sentences:
        key = " ".join(s.text.lower().split())
        if key in seen:  # small models loop; a repeat adds nothing
            report.removed.append({"text": s.text, "reason": "repeats an earlier sentence"})
            continue
        seen.add(key)
        good = [c for c in s.citations if c in retrieved]
        report.dropped_citations += [c for c in s.citations if c not in retrieved]
        kept.append(AnswerSentence(s.text, good))
    _attribute_uncited(kept, hits, scorer, report)
    if not any(s.citations for s in kept):
        report.removed += [{"text": s.text, "reason": "no citation, and no retrieved note supports it"} for s in kept]
        raise LLMFailure("the LLM answer cited no retrieved note, and no retrieved note supports any of its sentences", report)
    final: list[AnswerSentence] = []
    for sentence, score in zip(kept, scorer.score([(s.text, s.citations) for s in kept])):
        if score.supported or not strict:
            final.append(sentence)
            continue
        if not sentence.citations:
            report.removed.append({"text": sentence.text, "reason": "no citation, and no retrieved note supports it"})
            continue
        evidence = "\n".join(f"[{e['id']}] {e['text']}" for e in score.evidence)
        # One line is all a repair needs; the stop keeps a looping small model from writing to its limit.
        reply = _invoke(model, [("human", REPAIR.format(sentence=sentence.text, evidence=evidence))], stop=["\n"])
        repaired = parse_cited_answer(_with_numbered_sources(reply, hits)).sentences
        candidate = AnswerSentence(repaired[0].text, [c for c in repaired[0].citations if c in retrieved]) if repaired else None
        if candidate and candidate.citations and scorer.score([(candidate.text, candidate.citations)])[0].supported:
            report.repaired.append({"before": sentence.text, "after": candidate.text})
            final.append(candidate)
        else:
            report.removed.append({"text": sentence.text, "reason": "unsupported by its cited notes, and the repair failed: "
                                   + "; ".join(score.unsupported[:3])})
    if not final:
        raise LLMFailure("every sentence of the LLM answer was unsupported by the notes and was removed", report)
    cited = list(dict.fromkeys(c for s in final for c in s.citations))
    sources = [{"id": i, "title": index.note(i).title, "summary": index.note(i).summary} for i in cited]
    reading = next((l.strip() for l in text.splitlines() if l.strip().lower().startswith("this reads the question as")), None)
    reading = reading or reading_line(question, [{"tags": index.note(i).tags} for i in cited])
    # The brief: the LLM's first sentences, at most 3 and 80 words; the rest follows as evidence ("Also relevant:").
    n, words = 1, len(final[0].text.split())
    while n < min(3, len(final)) and words + len(final[n].text.split()) <= 80:
        words += len(final[n].text.split())
        n += 1
    paragraphs, headings = ([final[:n], final[n:]], [""]) if n < len(final) else ([final], [])
    return Draft(question, False, reading, paragraphs, sources, next_lines(index, qv, cited, hits, n_next),
                 headings=headings), report


def _attribute_uncited(sentences: list[AnswerSentence], hits: list[Hit], scorer: GroundingScorer, report: LLMReport) -> None:
    """Give each uncited sentence the retrieved note that supports it best, if that support is near-certain
    (models that do not cite, like small local ones, keep their grounded sentences; the rest stay uncited).
    The bar is above the scorer's threshold because the best of several notes is picked: vague sentences
    such as "The study highlights the importance of post-training" reach 0.78-0.95 against some note, so the
    sentence must also closely match one sentence of that note."""
    uncited = [i for i, s in enumerate(sentences) if not s.citations]
    if not uncited or not hits:
        return
    scores = scorer.score([(sentences[i].text, [h.id]) for i in uncited for h in hits])
    for j, i in enumerate(uncited):
        block = scores[j * len(hits):(j + 1) * len(hits)]
        best = max(range(len(hits)), key=lambda k: block[k].support)
        close = block[best].features.get("verbatim") or block[best].features.get("max_cos", 0.0) >= ATTRIBUTION_COSINE
        if block[best].support >= ATTRIBUTION_SUPPORT and close:
            sentences[i] = AnswerSentence(sentences[i].text, [hits[best].id])
            report.attributed.append({"text": sentences[i].text, "note": hits[best].id})
