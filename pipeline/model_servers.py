"""LLM servers the operator chose, for a page served to a group: visitors pick one by name, never type a URL.

A page on loopback without accounts keeps the free base-URL field (the person at the keyboard is the operator).
Served to a group (`--auth`, or any non-loopback address), the server would otherwise send requests wherever a
visitor says, inside the host's network too (server-side request forgery). The operator lists servers with
repeated `--llm-server 'NAME=URL MODEL[,MODEL...]'` flags (`ollama+http://...` for Ollama) or a JSON file:

    {"servers": [{"name": "lab-gpu", "kind": "openai", "base_url": "http://10.0.0.5:8080/v1", "models": ["qwen2.5-7b"]}]}
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import InquireError

NO_LLM = "default (no LLM)"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")


class ServerListError(InquireError, ValueError):
    """A malformed --llm-server flag or servers file; the message names the flag or file, the field and the value."""


@dataclass(frozen=True)
class ModelServer:
    name: str
    kind: str  # openai | ollama
    base_url: str
    models: tuple[str, ...]

    def choices(self) -> list[str]:
        return [f"{self.name}: {m}" for m in self.models]


def _server(name, kind, base_url, models, where: str) -> ModelServer:
    from .llm_compose import LLM_KINDS  # imported here: it brings LangChain, and `serve` checks its options first

    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ServerListError(f"{where}: name {name!r} must be 1-40 letters, digits, . _ or -")
    if kind not in LLM_KINDS:
        raise ServerListError(f"{where}: kind {kind!r} must be one of {', '.join(LLM_KINDS)}")
    if not isinstance(base_url, str) or not re.match(r"^https?://\S+$", base_url):
        raise ServerListError(f"{where}: base_url {base_url!r} must be an http(s) URL such as http://127.0.0.1:8080/v1")
    if not isinstance(models, (list, tuple)) or not models or not all(isinstance(m, str) and m.strip() for m in models):
        raise ServerListError(f"{where}: models must name at least one model the server knows (got {models!r})")
    return ModelServer(name, kind, base_url, tuple(m.strip() for m in models))


def parse_flag(flag: str) -> ModelServer:
    """`NAME=URL MODEL[,MODEL...]`; a URL starting `ollama+` is an Ollama server."""
    where = f"--llm-server {flag!r}"
    name, sep, rest = flag.partition("=")
    parts = rest.split()
    if not sep or len(parts) != 2:
        raise ServerListError(f"{where}: write NAME=URL MODEL[,MODEL...], e.g. --llm-server 'lab=http://10.0.0.5:8080/v1 qwen2.5-7b'")
    url, models = parts
    kind = "ollama" if url.startswith("ollama+") else "openai"
    return _server(name.strip(), kind, url.removeprefix("ollama+"), models.split(","), where)


def load_file(path: Path) -> list[ModelServer]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ServerListError(f"{path}: cannot read the LLM server list ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("servers"), list):
        raise ServerListError(f"{path}: field 'servers' must be a list of {{name, kind, base_url, models}}")
    servers = []
    for i, item in enumerate(data["servers"], start=1):
        if not isinstance(item, dict):
            raise ServerListError(f"{path}: servers entry {i} must be a mapping of name, kind, base_url, models")
        servers.append(_server(item.get("name"), item.get("kind", "openai"), item.get("base_url"), item.get("models"),
                               f"{path}: servers entry {i}"))
    return servers


class Composers:
    """How a page visitor's composer choice becomes LLM settings. `operator` None: the free fields (loopback
    without accounts); otherwise only the operator's servers, whatever URL a request carries."""

    def __init__(self, operator: list[ModelServer] | None):
        self.operator = operator
        names = [s.name for s in operator or []]
        if len(set(names)) != len(names):
            raise ServerListError(f"LLM server names must differ; got {', '.join(names)}")
        self._by_choice = {c: (s, c.split(": ", 1)[1]) for s in operator or [] for c in s.choices()}

    @property
    def free(self) -> bool:
        return self.operator is None

    def choices(self) -> list[str]:
        from .llm_compose import LLM_KINDS

        return [NO_LLM, *self._by_choice] if not self.free else [NO_LLM, *LLM_KINDS]

    def settings(self, choice: str, base_url: str | None, model: str | None, timeout: float):
        """None for the default composer. Served to a group, a visitor-supplied base URL is refused outright (the
        page has no such field, so only a hand-made request carries one) and the choice must be the operator's.
        Returns `llm_compose.LLMSettings`."""
        from .llm_compose import LLMSettings

        if not choice or choice == NO_LLM:
            return None
        if self.free:
            return LLMSettings(choice, (model or "").strip(), (base_url or "").strip() or None, timeout_s=float(timeout or 60))
        if (base_url or "").strip() or (model or "").strip():
            raise InquireError("refused: on this server the LLM servers are chosen by the operator; a base URL or model "
                               "typed by a visitor is not used. Pick one of: " + ", ".join(self._by_choice or ["(none listed)"]))
        if choice not in self._by_choice:
            raise InquireError(f"refused: '{choice}' is not one of the operator's LLM servers; pick one of: "
                               + ", ".join(self._by_choice or ["(none listed)"]))
        server, model_name = self._by_choice[choice]
        return LLMSettings(server.kind, model_name, server.base_url, timeout_s=float(timeout or 60))
