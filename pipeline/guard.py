"""Who may do what, and how often, on the served page: the one gate every handler passes through.

Without accounts (loopback, as always) every visitor may do everything; with `--auth FILE` each call carries
the signed-in name, whose role must allow the action (see `accounts.ACTIONS`). Questions and scores are
rate-limited per user, or per address without accounts. Refusals are `Refused` errors naming what is needed."""
from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import deque
from dataclasses import dataclass

from .accounts import ACTIONS, Accounts, allowed
from .errors import InquireError

LIMITED = {"ask": "questions", "score": "scores"}  # the calls that cost the server real work, per minute
WINDOW_S = 60.0
GROUP_RATE_LIMIT = 30  # per minute, when serving a group: a person asks a few a minute; a script that floods is stopped


class Refused(InquireError, PermissionError):
    """A call the caller's role or rate limit does not allow; the message names the role or the limit."""


@dataclass(frozen=True)
class Caller:
    name: str | None  # the account; None without accounts
    address: str | None
    role: str


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost may resolve to anything
        return False


def exposure_problem(host: str, port: int, auth: str | None, no_auth: bool) -> str | None:
    """Why serving on `host` as asked is refused, or None. Loopback needs nothing; any other address needs
    accounts or an explicit --no-auth."""
    if auth and no_auth:
        return "--auth and --no-auth contradict each other; pass one"
    if auth or no_auth or is_loopback(host):
        return None
    return (f"refusing to serve on {host}:{port} without accounts: anyone who can reach the port could add and replace "
            f"notes, rebuild the index and fill the corpus. Create accounts (the password is read from standard input):\n"
            f"  inquire user add NAME --role editor --auth users.json\n"
            f"then serve with --auth users.json (or env INQUIRE_AUTH=users.json); or pass --no-auth to open it anyway")


def open_warning(host: str, port: int, rate_limit: int) -> str:
    """What --no-auth on a network address leaves open, said when the server starts."""
    limit = f"{rate_limit} questions and {rate_limit} scores a minute per address" if rate_limit else "no rate limit"
    return (f"WARNING: serving on {host}:{port} with --no-auth: anyone who can reach it can ask, score and read every note, "
            f"add, replace and restore notes, and start full rebuilds ({limit}; the LLM composer only uses the "
            f"operator's servers). Writes are logged with the caller's address.")


class RateLimiter:
    """At most `per_minute` calls of each limited kind per key (a user, or an address) in any 60 s: a sliding
    window of call times, so a burst is refused until the oldest call ages out."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self._calls: dict[tuple[str, str], deque] = {}
        self._lock = threading.Lock()

    def take(self, key: str, action: str, now: float | None = None) -> float:
        """0 when the call may go ahead (and counts it), else the seconds until it may."""
        if self.per_minute <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        with self._lock:
            calls = self._calls.setdefault((key, action), deque())
            while calls and now - calls[0] >= WINDOW_S:
                calls.popleft()
            if len(calls) >= self.per_minute:
                return WINDOW_S - (now - calls[0])
            calls.append(now)
            return 0.0


class Gate:
    """Checks a call against the accounts (if any) and the rate limit; returns who is calling."""

    def __init__(self, accounts: Accounts | None, limiter: RateLimiter):
        self.accounts = accounts
        self.limiter = limiter

    def role_of(self, request) -> str | None:
        if self.accounts is None:
            return "editor"  # no accounts: loopback or an explicit --no-auth, where everyone may do everything
        return self.accounts.role(getattr(request, "username", None))

    def check(self, request, action: str) -> Caller:
        name = getattr(request, "username", None) if self.accounts is not None else None
        role = self.role_of(request)
        if not allowed(role, action):
            who = f"you are signed in as '{name}' ({role})" if role else "you are not signed in to an account"
            raise Refused(f"refused: {action} needs the {ACTIONS[action]} role; {who}. Ask the operator for an "
                          f"{ACTIONS[action]} account (inquire user add NAME --role {ACTIONS[action]}).")
        client = getattr(request, "client", None)
        address = getattr(client, "host", None)
        if action in LIMITED:
            wait = self.limiter.take(name or address or "unknown", action)
            if wait:
                whom = f"user '{name}'" if name else f"address {address}"
                raise Refused(f"rate limit: at most {self.limiter.per_minute} {LIMITED[action]} a minute for {whom}; "
                              f"try again in {math.ceil(wait)} s")
        return Caller(name, address, role)
