"""Accounts and roles for serving a group: a JSON users file of salted scrypt hashes, never a password.

`inquire user add NAME --role reader|editor --auth FILE` (password from standard input) and
`inquire user remove NAME --auth FILE` edit it; `inquire serve --auth FILE` checks logins against it.
Readers ask, search, score and read notes; editors also add, replace, restore and rebuild."""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from .errors import InquireError
from .files import write_atomic

ROLES = ("reader", "editor")  # in increasing power: an editor may do everything a reader may
ACTIONS = {  # what each action needs; the refusal names it
    "ask": "reader", "score": "reader", "search": "reader", "read": "reader",
    "add": "editor", "replace": "editor", "restore": "editor", "rebuild": "editor", "history": "editor",
}
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD = 8
# scrypt cost: Django's ScryptPasswordHasher defaults (n=2**14, r=8, p=1: 16 MB, ~0.1 s a check here; 0.5 s when the
# 2 cores are busy). OWASP's stronger n=2**15, p=3 took 0.8 s idle and more than gradio_client's 5 s login timeout
# under load. Kept per account, so it can rise later without invalidating old hashes.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
FILE_VERSION = 1


class AccountError(InquireError, ValueError):
    """A users file or account problem; the message names the file, the field and what to do."""


@dataclass(frozen=True)
class Account:
    name: str
    role: str
    salt: str  # hex
    hash: str  # hex scrypt of the password with `salt`
    n: int = SCRYPT_N
    r: int = SCRYPT_R
    p: int = SCRYPT_P
    created: str = ""


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=32)


def new_account(name: str, role: str, password: str) -> Account:
    if not NAME_PATTERN.match(name or ""):
        raise AccountError(f"user name {name!r} must be 1-64 letters, digits or . _ @ - (starting with a letter or digit)")
    if role not in ROLES:
        raise AccountError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password for '{name}' has {len(password)} characters; use at least {MIN_PASSWORD}")
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return Account(name, role, salt.hex(), digest.hex(), created=datetime.now(timezone.utc).isoformat(timespec="seconds"))


def load_accounts(path: Path) -> dict[str, Account]:
    """The users file's accounts by name; a missing file is no accounts (so `user add` can create it)."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise AccountError(f"{path}: not a users file (unreadable JSON: {exc}); restore it, or create accounts "
                           f"anew with inquire user add NAME --role reader --auth {path}") from None
    if not isinstance(data, dict) or data.get("version") != FILE_VERSION or not isinstance(data.get("users"), dict):
        raise AccountError(f"{path}: field 'version' must be {FILE_VERSION} and 'users' a mapping; this is not an Inquire users file")
    accounts = {}
    for name, record in data["users"].items():
        try:
            account = Account(name=name, **record)
        except TypeError:
            raise AccountError(f"{path}: user '{name}' has fields {sorted(record) if isinstance(record, dict) else record!r}; "
                               f"expected {sorted(f for f in Account.__dataclass_fields__ if f != 'name')}") from None
        if account.role not in ROLES:
            raise AccountError(f"{path}: user '{name}' has role {account.role!r}; roles are {', '.join(ROLES)}")
        accounts[name] = account
    return accounts


def save_accounts(path: Path, accounts: dict[str, Account]) -> None:
    """Atomically, readable by its owner only: the hashes are slow to guess, not impossible."""
    users = {a.name: {k: v for k, v in asdict(a).items() if k != "name"} for a in sorted(accounts.values(), key=lambda a: a.name)}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, (json.dumps({"version": FILE_VERSION, "users": users}, indent=2) + "\n").encode(), mode=0o600)


def add_user(path: Path, name: str, role: str, password: str) -> Account:
    """Add an account, or set a new role and password for an existing one."""
    accounts = load_accounts(path)
    accounts[name] = new_account(name, role, password)
    save_accounts(path, accounts)
    return accounts[name]


def remove_user(path: Path, name: str) -> None:
    accounts = load_accounts(path)
    if name not in accounts:
        raise AccountError(f"{path} has no user '{name}' (users: {', '.join(sorted(accounts)) or 'none'})")
    del accounts[name]
    save_accounts(path, accounts)


class Accounts:
    """The users file as the server reads it: checked when the server starts, re-read when it changes on disk,
    so `inquire user add/remove` takes effect without a restart."""

    def __init__(self, path: Path):
        self.path = path
        if not path.is_file():
            raise AccountError(f"the users file {path} does not exist; create an account first: "
                               f"inquire user add NAME --role editor --auth {path} (the password is read from standard input)")
        self._stamp: tuple | None = None
        self._accounts: dict[str, Account] = {}
        self._current()
        if not self._accounts:
            raise AccountError(f"{path} holds no accounts; add one with inquire user add NAME --role editor --auth {path}")

    def _current(self) -> dict[str, Account]:
        st = self.path.stat()
        stamp = (st.st_size, st.st_mtime_ns, st.st_ino)
        if stamp != self._stamp:
            self._accounts, self._stamp = load_accounts(self.path), stamp
        return self._accounts

    def verify(self, name: str, password: str) -> bool:
        """Constant-time comparison; an unknown name costs the same hash, so timing does not tell names apart."""
        account = self._current().get(name)
        salt, n, r, p, expected = ((bytes.fromhex(account.salt), account.n, account.r, account.p, bytes.fromhex(account.hash))
                                   if account else (b"\0" * 16, SCRYPT_N, SCRYPT_R, SCRYPT_P, b""))
        ok = hmac.compare_digest(_scrypt(password or "", salt, n, r, p), expected)
        return ok and account is not None

    def role(self, name: str | None) -> str | None:
        account = self._current().get(name or "")
        return account.role if account else None


def allowed(role: str | None, action: str) -> bool:
    """Whether `role` may do `action` (see ACTIONS); no role (not signed in) may do nothing."""
    return role is not None and ROLES.index(role) >= ROLES.index(ACTIONS[action])
