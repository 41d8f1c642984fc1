"""Optional LLM composer, kept honest by the grounding scorer.

Any LangChain chat model can be plugged in (`chat_model` builds the OpenAI-compatible and Ollama
ones from flags). The model writes a synthesis citing `[note-id]`; then citations to notes that were
not retrieved are dropped, every sentence is scored, and in strict mode an unsupported sentence is
sent back once with its evidence for repair and removed if it still fails. The answer says what
was removed. Any failure of the model (unreachable, timeout, garbage) raises `LLMFailure`, and the
chain falls back to the default composer.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

from langchain_core.prompts import ChatPromptTemplate

from .cited import parse_cited_answer
from .compose import AnswerSentence, Draft, next_lines, reading_line
from .ground import GroundingScorer
from .index import NoteIndex
from .retrieve import Hit

LLM_KINDS = ("openai", "ollama")

SYSTEM = """You answer research questions using ONLY the notes given. Write the answer in this shape:
first one line beginning "This reads the question as", then two or three short paragraphs of synthesis.
Every sentence of the synthesis must end with the id(s) of the note(s) it rests on in square brackets,
for example [note-id] or [note-id, other-id]. Use only ids from the notes given. Do not add facts,
numbers or names that the notes do not state. Do not write a Sources list."""

REPAIR = """This sentence is not supported by the note(s) it cites: "{sentence}"
Evidence from the cited notes:
{evidence}
Rewrite it as ONE sentence that says only what the evidence states, ending with its [note-id] citation."""

PROMPT = ChatPromptTemplate.from_messages([("system", SYSTEM), ("human", "Question: {question}\n\nNotes:\n{notes}")])


class LLMFailure(RuntimeError):
    pass


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

    def to_json(self) -> dict:
        return {"removed": self.removed, "dropped_citations": self.dropped_citations, "repaired": self.repaired}


def chat_model(cfg: LLMSettings):
    """A LangChain chat model for an OpenAI-compatible server (llama.cpp, vLLM, hosted) or Ollama."""
    if cfg.kind not in LLM_KINDS:
        raise LLMFailure(f"unknown LLM kind '{cfg.kind}' (--llm); choose one of {', '.join(LLM_KINDS)}")
    if not cfg.model:
        raise LLMFailure("an LLM model name is required (--model, or 'Model name' in the page): the name the server knows")
    if cfg.kind == "openai":
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(model=cfg.model, base_url=cfg.base_url, api_key=os.environ.get(cfg.api_key_env) or "not-needed",
                          timeout=cfg.timeout_s, max_retries=0, temperature=0, max_tokens=cfg.max_tokens)
    from langchain_ollama import ChatOllama

    return ChatOllama(model=cfg.model, base_url=cfg.base_url, temperature=0, num_predict=cfg.max_tokens,
                      client_kwargs={"timeout": cfg.timeout_s})


def notes_block(index: NoteIndex, hits: list[Hit]) -> str:
    blocks = []
    for h in hits:
        note = index.note(h.id)
        blocks.append(f"[{note.id}] {note.title}\n{note.summary}\n" + " ".join(note.sentences))
    return "\n\n".join(blocks)


def _invoke(model, messages, on_text: Callable[[str], None] | None = None) -> str:
    """The model's reply; with `on_text`, streamed, calling it with the text so far after each chunk."""
    try:
        if on_text is None:
            text = getattr(model.invoke(messages), "content", None)
        else:
            text = ""
            for chunk in model.stream(messages):
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
    parsed = parse_cited_answer(text)
    report = LLMReport()
    retrieved = {h.id for h in hits}
    kept: list[AnswerSentence] = []
    for s in parsed.sentences:
        good = [c for c in s.citations if c in retrieved]
        report.dropped_citations += [c for c in s.citations if c not in retrieved]
        kept.append(AnswerSentence(s.text, good))
    if not any(s.citations for s in kept):
        raise LLMFailure("the LLM answer had no usable [note-id] citations")
    final: list[AnswerSentence] = []
    for sentence, score in zip(kept, scorer.score([(s.text, s.citations) for s in kept])):
        if score.supported or not strict:
            final.append(sentence)
            continue
        if not sentence.citations:
            report.removed.append({"text": sentence.text, "reason": "no citation to a retrieved note"})
            continue
        evidence = "\n".join(f"[{e['id']}] {e['text']}" for e in score.evidence)
        repaired = parse_cited_answer(_invoke(model, [("human", REPAIR.format(sentence=sentence.text, evidence=evidence))])).sentences
        candidate = AnswerSentence(repaired[0].text, [c for c in repaired[0].citations if c in retrieved]) if repaired else None
        if candidate and candidate.citations and scorer.score([(candidate.text, candidate.citations)])[0].supported:
            report.repaired.append({"before": sentence.text, "after": candidate.text})
            final.append(candidate)
        else:
            report.removed.append({"text": sentence.text, "reason": "unsupported by its cited notes, and the repair failed: "
                                   + "; ".join(score.unsupported[:3])})
    if not final:
        raise LLMFailure("every sentence of the LLM answer was unsupported by the notes and was removed")
    cited = list(dict.fromkeys(c for s in final for c in s.citations))
    sources = [{"id": i, "title": index.note(i).title, "summary": index.note(i).summary} for i in cited]
    reading = next((l.strip() for l in text.splitlines() if l.strip().lower().startswith("this reads the question as")), None)
    reading = reading or reading_line(question, [{"tags": index.note(i).tags} for i in cited])
    return Draft(question, False, reading, [final], sources, next_lines(index, qv, cited, hits, n_next)), report
