"""The one client for OpenAI-compatible servers (llama.cpp, vLLM, hosted): LangChain's `ChatOpenAI`, itself built on
the openai SDK. The LLM composer (`llm_compose.chat_model`) talks through the chat model; the server judge
(`judge.ServerJudge`) posts through the same model's chat-completions client (`.client`), since it reads the raw
reply's top logprobs. LangChain and openai are imported only when a server is used."""
from __future__ import annotations

import os


def openai_chat_model(model: str, base_url: str | None, timeout_s: float, api_key_env: str = "OPENAI_API_KEY",
                      max_tokens: int = 700):
    """`ChatOpenAI` for `model` at `base_url` (None: OpenAI itself): the key read from the environment variable
    `api_key_env` (a local server needs none), no retries, temperature 0, replies of at most `max_tokens`."""
    from langchain_openai import ChatOpenAI

    # LangChain sends max_tokens as OpenAI's newer max_completion_tokens, which llama.cpp's server ignores;
    # local servers get the classic field instead (hosted OpenAI rejects requests carrying both).
    limit = {"extra_body": {"max_tokens": max_tokens}} if base_url else {"max_tokens": max_tokens}
    return ChatOpenAI(model=model, base_url=base_url, api_key=os.environ.get(api_key_env) or "not-needed",
                      timeout=timeout_s, max_retries=0, temperature=0, **limit)
