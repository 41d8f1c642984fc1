"""An LLM entailment judge: is a claim supported by the evidence sentences it cites?

A small instruction model is asked, zero-shot, through its own chat template, whether the source
supports the claim; support is sigmoid(logit("Yes") - logit("No")) at the first answer token, the
P(True)-style reading of Kadavath et al. 2022 ("Language Models (Mostly) Know What They Know").
`LocalJudge` runs a GGUF model in process with llama-cpp-python; `ServerJudge` asks any
OpenAI-compatible server. Both answer with a `JudgeVerdict`. The model file itself is installed and
verified by `pipeline.judge_install`; `python -m pipeline.judge install|status` runs its `main`.
"""
from __future__ import annotations

import json
import logging
import math
import os
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # numpy is imported only when a judge runs: importing this module stays cheap
    import numpy as np

from .judge_install import (DEFAULT_MODEL, INSTALL_FIX, MODELS, JudgeUnavailable, default_judge_dir, known_model,
                            main, verified_model)
from .text import sigmoid

# The instruction names the distortions a small model misses when merely asked "supported?" (scope, swapped
# roles, reversed comparisons, invented details, vague claims), with worked examples on made-up facts far from
# the notes. It is the same for every claim, so its KV cache is computed once per process. On the tune split of
# our hand-written claims it lifted the 1.5B model's AUROC from 0.868 to 0.897.
SYSTEM = """You check claims against a source. Answer only Yes or No.
A claim is supported only if the source states everything in it. Answer No when the claim reverses an outcome or a \
comparison, swaps who did what to whom, widens or narrows the scope (only, all, every, equally, always), names a \
different model, method, stage or dataset, adds details the source does not give (dates, places, affiliations, \
venues), or is too vague to say anything the source says. Different wording and rounded numbers are fine.

Examples.
Source: The larger bridges in the survey needed more repairs than the small ones. The survey covered 40 bridges in \
two regions.
Claim: Small bridges needed more repairs than large ones. Answer: No
Claim: The survey looked at forty bridges across two regions. Answer: Yes
Claim: Every bridge in the survey needed repairs. Answer: No
Claim: The survey was run by the national transport agency in 2015. Answer: No
Source: Adding fertiliser raised wheat yields by 23.6% but had no measurable effect on barley.
Claim: Fertiliser lifted wheat yields by roughly a quarter. Answer: Yes
Claim: Fertiliser raised yields of wheat and barley alike. Answer: No
Claim: Barley responded to fertiliser while wheat did not. Answer: No
Claim: The study reports that fertiliser changes crop outcomes, which can be used in farming. Answer: No"""
QUESTION = ("Is the claim fully supported by the source, with nothing in it contradicted or missing from the source? "
            "Answer Yes or No.")
YES, NO = ("Yes", " Yes"), ("No", " No")  # first tokens read as the answer; the best-scoring variant of each counts
# Qwen's template (ChatML), used when a GGUF carries no tokenizer.chat_template of its own.
CHATML = ("<|im_start|>system\n", "<|im_end|>\n<|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n")
TEXT_SUPPORT = {"yes": 0.9, "no": 0.1}  # a server that returns no logprobs: the answer's text only


@dataclass(frozen=True)
class JudgeSettings:
    # Which entry of MODELS. On 20 claim/evidence pairs from the corpus the 1.5B model was right on 17 at 0.5
    # (AUROC 0.87); the 0.5B leans to No on nearly every claim (11 of 20, AUROC 0.70).
    model: str = DEFAULT_MODEL
    # CPU threads for prompt evaluation (llama.cpp's n_threads and n_threads_batch); 2 = the laptops we target.
    threads: int = 2
    # Context window in tokens; a claim with three evidence sentences takes about 150.
    n_ctx: int = 2048
    # Tokens evaluated per llama_decode call; every prompt fits in one batch at 512.
    n_batch: int = 512
    # Where assembled models live: env INQUIRE_JUDGE_DIR, else ~/.cache/inquire/judge.
    cache_dir: Path = field(default_factory=default_judge_dir)


@dataclass(frozen=True)
class JudgeVerdict:
    probability: float  # P(Yes) against No, in [0, 1]
    logit: float  # logit(Yes) - logit(No); probability = sigmoid(logit)
    prompt_tokens: int
    seconds: float
    # The model's final hidden state at the answer position (local judge only; servers expose none): what a
    # probe (pipeline/probe.py) reads. The Yes/No logit is one direction of it; the probe learns others.
    hidden: np.ndarray | None = field(default=None, compare=False, repr=False)


def source_text(evidence: list[str]) -> str:
    return "Source:\n" + "\n".join(" ".join(s.split()) for s in evidence) + "\n\n"


def claim_text(claim: str) -> str:
    return f"Claim: {' '.join(claim.split())}\n\n{QUESTION}"


def user_message(claim: str, evidence: list[str]) -> str:
    """The user turn: the evidence first, so that claims checked against the same notes share a prompt prefix."""
    return source_text(evidence) + claim_text(claim)


class Judge(Protocol):
    name: str

    def support(self, claim: str, evidence: list[str]) -> JudgeVerdict: ...


def template_parts(llm) -> tuple[str, str, str]:
    """The model's chat template cut around a system and a user message: (before system, between, after user),
    the last ending where the assistant's answer starts. ChatML when the GGUF carries no template."""
    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        return CHATML
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    s, u = "\x01SYSTEM\x01", "\x01USER\x01"
    bos, eos = (llm.detokenize([t], special=True).decode("utf-8", "replace") for t in (llm.token_bos(), llm.token_eos()))
    try:
        prompt = Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos)(
            messages=[{"role": "system", "content": s}, {"role": "user", "content": u}]).prompt
        head, rest = prompt.split(s, 1)
        middle, tail = rest.split(u, 1)
    except Exception as exc:  # a template that refuses a system message, or rewrites the messages' text
        raise JudgeUnavailable(f"the chat template of {llm.model_path} cannot frame a system and a user message "
                               f"({type(exc).__name__}: {exc}); use a model whose template can, such as {DEFAULT_MODEL}") from exc
    return head.removeprefix(bos), middle, tail


class LocalJudge(Judge):
    """A GGUF model run in process. Loaded on first use; one call at a time (a lock guards the context).
    Consecutive claims against the same evidence reuse its KV cache."""

    def __init__(self, path: Path, settings: JudgeSettings | None = None):
        self.path, self.settings = path, settings or JudgeSettings()
        self.name = f"local:{self.settings.model}"
        self.model_sha256 = MODELS[self.settings.model].sha256 if self.settings.model in MODELS else None
        self._lock = threading.RLock()
        self._llm = None
        self._cached: list[int] | None = None  # the evidence part whose KV cache the context holds

    def _load(self):
        with self._lock:
            return self._llm or self._open()

    def _open(self):
        # llama.cpp's OpenMP threads spin while they wait for each other; on a 2-core machine where another process
        # keeps the cores busy that made 2 threads 3x slower than 1 (10.3 s a claim against 3.1 s); sleeping instead
        # took 3.4 s. Read once, when llama_cpp is first imported; an OMP_WAIT_POLICY already set is kept.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        try:
            import llama_cpp
        except ImportError as exc:
            raise JudgeUnavailable(f"llama-cpp-python cannot be imported in {sys.executable} ({exc}); {INSTALL_FIX}") from exc
        t = self.settings.threads
        llm = llama_cpp.Llama(model_path=str(self.path), n_ctx=self.settings.n_ctx, n_batch=self.settings.n_batch,
                              n_threads=t, n_threads_batch=t, logits_all=False, verbose=False)
        # With embeddings on, llama.cpp warns on every call that it computes outputs for all of the batch's tokens
        # (needed for the hidden state); the warning says nothing a user can act on, and failures still raise.
        logging.getLogger("llama-cpp-python").setLevel(logging.CRITICAL + 1)
        self._parts = template_parts(llm)
        head, middle, _ = self._parts
        self._instruction = llm.tokenize((head + SYSTEM + middle).encode(), add_bos=True, special=True)
        self._yes, self._no = ({llm.tokenize(w.encode(), add_bos=False)[0] for w in words} for words in (YES, NO))
        self._llm = llm
        return llm

    @property
    def llm(self):
        """The loaded `llama_cpp.Llama` (loading it on first use)."""
        return self._load()

    def reset(self) -> None:
        """Forget the cached prompt: the next call evaluates its prompt whole."""
        with self._lock:
            self._cached = None

    def _text_tokens(self, text: str) -> list[int]:
        return self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def prompt_tokens(self, claim: str, evidence: list[str]) -> list[int]:
        """The chat prompt as tokens: template markers are special tokens, the notes' and claim's text never is
        (a note containing "<|im_end|>" stays text). Evidence is cut, from the end, to fit n_ctx."""
        with self._lock:
            source, claim_part = self._prompt(claim, evidence)
            return source + claim_part

    def _prompt(self, claim: str, evidence: list[str]) -> tuple[list[int], list[int]]:
        """(template start and evidence, claim and template end): the two batches every prompt is evaluated in."""
        llm, (head, middle, tail) = self._load(), self._parts
        start = self._instruction
        end = self._text_tokens(claim_text(claim)) + llm.tokenize(tail.encode(), add_bos=False, special=True)
        room = self.settings.n_ctx - len(start) - len(end)
        source = start + self._text_tokens(source_text(evidence))
        if len(source) - len(start) <= room:
            return source, end
        if room < 16:
            raise ValueError(f"the claim takes {len(end)} tokens, too many for the judge's n_ctx of "
                             f"{self.settings.n_ctx}; judge a shorter sentence")
        kept, left = [], room - 8  # 8: "Source:" and the newlines
        for sentence in evidence:
            ids = self._text_tokens(sentence)
            kept.append(sentence if len(ids) < left else llm.detokenize(ids[:left]).decode("utf-8", "ignore"))
            left -= len(ids) + 1
            if left <= 0:
                break
        while len(source := start + self._text_tokens(source_text(kept))) - len(start) > room:
            last = kept.pop()  # tokens merged differently at a cut: one word shorter
            if " " in last:
                kept.append(last.rsplit(" ", 1)[0])
        return source, end

    def _last_logits(self, source: list[int], claim_part: list[int]):
        """Logits and final hidden state after the whole prompt. Every prompt is evaluated as the same three batches: the instruction
        (the same for every claim, so evaluated once and kept), the evidence part (kept for the next call:
        consecutive claims against the same evidence skip it), then the claim part. (Where a prompt is split
        changes llama.cpp's results by up to 0.2 in the logit, so a prompt is always split the same way: a
        verdict never depends on what was judged before.)"""
        import llama_cpp
        import numpy as np

        llm, n, p = self._llm, len(source), len(self._instruction)
        if source[:p] != self._instruction:
            raise ValueError("the prompt does not start with the judge's instruction")
        cached = self._cached == source and llm.n_tokens >= n and llm.input_ids[:n].tolist() == source
        self._cached = None
        if not cached:
            if not (llm.n_tokens >= p and llm.input_ids[:p].tolist() == self._instruction):
                llm.reset()
                llm.eval(self._instruction)
            llm.n_tokens = p  # eval() drops the KV cache from here on
            llm.eval(source[p:])
        llm.n_tokens = n
        # The hidden state (for the probe) is read from the claim batch only: llama.cpp then outputs every token of
        # that batch, which would be wasted work on the longer evidence batch.
        llama_cpp.llama_set_embeddings(llm._ctx.ctx, True)
        try:
            llm.eval(claim_part)
        finally:
            llama_cpp.llama_set_embeddings(llm._ctx.ctx, False)
        self._cached = source
        hidden = np.ctypeslib.as_array(llama_cpp.llama_get_embeddings_ith(llm._ctx.ctx, -1), shape=(llm.n_embd(),)).copy()
        return llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1), hidden

    def support(self, claim: str, evidence: list[str]) -> JudgeVerdict:
        with self._lock:
            start = time.perf_counter()
            source, claim_part = self._prompt(claim, evidence)
            logits, hidden = self._last_logits(source, claim_part)
            diff = float(max(logits[i] for i in self._yes) - max(logits[i] for i in self._no))
            return JudgeVerdict(sigmoid(diff), diff, len(source) + len(claim_part), time.perf_counter() - start, hidden)


def read_choice(choice: dict) -> tuple[float, float, str]:
    """(probability, logit, mode) from one chat completion choice. With top logprobs, P(Yes) is the summed
    probability of Yes tokens over Yes plus No tokens (case and spaces ignored); a side absent from the top
    list is taken at the smallest listed probability, its upper bound. Without them, the text: Yes 0.9, No 0.1."""
    top = (((choice.get("logprobs") or {}).get("content") or [{}])[0] or {}).get("top_logprobs") or []
    mass = {"yes": 0.0, "no": 0.0}
    for entry in top:
        word = str(entry.get("token", "")).strip().lower()
        if word in mass:
            mass[word] += math.exp(float(entry["logprob"]))
    if any(mass.values()):
        floor = min(math.exp(float(e["logprob"])) for e in top)
        yes, no = (mass[k] or floor for k in ("yes", "no"))
        return yes / (yes + no), math.log(yes) - math.log(no), "logprobs"
    text = str((choice.get("message") or {}).get("content") or "").strip().lower()
    word = (re.match(r"[a-z]*", text) or [""])[0]
    if word not in TEXT_SUPPORT:
        raise ValueError(f"the judge answered {text[:40]!r}, neither Yes nor No")
    p = TEXT_SUPPORT[word]
    return p, math.log(p / (1 - p)), "text"


class ServerJudge(Judge):
    """Any OpenAI-compatible chat server (llama.cpp, vLLM, hosted), asked through the client the LLM composer uses
    (`llm_client.openai_chat_model`). `mode` tells how the last verdict was read: "logprobs" (from the Yes/No top
    logprobs) or "text" (the server returned none; 0.9 or 0.1)."""

    def __init__(self, base_url: str, model: str, timeout_s: float = 60.0, api_key_env: str = "OPENAI_API_KEY"):
        self.name, self.model, self.timeout_s = f"server:{model}", model, timeout_s
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.mode = "none"
        if find_spec("langchain_openai") is None:
            raise JudgeUnavailable(f"the judge server at {self.url} is asked through langchain-openai, which is not "
                                   f"installed in {sys.executable}; install it with `.venv/bin/pip install -e '.[llm]'`")
        from .llm_client import openai_chat_model

        # the chat-completions client itself: the judge needs the raw reply, whose top logprobs LangChain's message drops
        self._client = openai_chat_model(model, base_url, timeout_s, api_key_env, max_tokens=1).client

    def _post(self, body: dict) -> dict:
        import openai

        try:
            return self._client.with_raw_response.create(**body).http_response.json()
        except openai.APIStatusError as exc:
            detail = exc.response.content[:300].decode("utf-8", "replace")
            raise JudgeUnavailable(f"the judge server at {self.url} answered HTTP {exc.status_code}: {detail}; check the "
                                   f"model name '{self.model}' and the server's log") from exc
        except (openai.APIConnectionError, OSError, ValueError) as exc:  # refused, timed out, cut off, or not JSON
            raise JudgeUnavailable(f"the judge server at {self.url} did not answer ({type(exc).__name__}: {exc}); "
                                   "start an OpenAI-compatible server there or fix the base URL") from exc

    def support(self, claim: str, evidence: list[str]) -> JudgeVerdict:
        start = time.perf_counter()
        reply = self._post({"model": self.model, "max_tokens": 1, "temperature": 0, "logprobs": True, "top_logprobs": 10,
                            "messages": [{"role": "system", "content": SYSTEM},
                                         {"role": "user", "content": user_message(claim, evidence)}]})
        try:
            probability, logit, self.mode = read_choice(reply["choices"][0])
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise JudgeUnavailable(f"the judge server at {self.url} sent an unusable reply ({type(exc).__name__}: {exc}): "
                                   f"{json.dumps(reply)[:300]}; use a model that answers Yes or No") from exc
        tokens = int((reply.get("usage") or {}).get("prompt_tokens") or 0)
        return JudgeVerdict(probability, logit, tokens, time.perf_counter() - start)


def load_local_judge(model: str = DEFAULT_MODEL, threads: int = 2, cache_dir: Path | None = None) -> LocalJudge:
    """A `LocalJudge` over the verified model file; the model itself loads on first use."""
    known_model(model)
    if find_spec("llama_cpp") is None:
        raise JudgeUnavailable(f"llama-cpp-python is not installed in {sys.executable}; {INSTALL_FIX}")
    settings = JudgeSettings(model=model, threads=threads, cache_dir=cache_dir or default_judge_dir())
    return LocalJudge(verified_model(model, settings.cache_dir), settings)


if __name__ == "__main__":
    sys.exit(main())
