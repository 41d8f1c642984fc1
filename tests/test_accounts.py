"""Accounts, roles, the rate limit and the refusal to open the network without accounts: the parts that need
no running server (tests/test_team_server.py drives the real one)."""
import io
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, run_cli
from pipeline.accounts import Accounts, allowed
from pipeline.guard import Gate, RateLimiter, Refused
from pipeline.model_servers import Composers, ServerListError, load_file, parse_flag
from pipeline.settings import OFFLINE_ENV


def add_user(capsys, monkeypatch, path, name, role, password):
    monkeypatch.setattr(sys, "stdin", io.StringIO(password + "\n"))  # the password comes from standard input only
    return run_cli(capsys, "user", "add", name, "--role", role, "--auth", str(path))


def test_the_users_file_holds_salted_slow_hashes_and_never_a_password(tmp_path, capsys, monkeypatch):
    users = tmp_path / "users.json"
    assert add_user(capsys, monkeypatch, users, "alice", "editor", "correct horse battery")[0] == 0
    assert add_user(capsys, monkeypatch, users, "rob", "reader", "correct horse battery")[0] == 0
    raw = users.read_text()
    assert "correct horse battery" not in raw and "correct" not in raw
    records = json.loads(raw)["users"]
    assert records["alice"]["hash"] != records["rob"]["hash"]  # same password, different salts
    assert {records["alice"]["role"], records["rob"]["role"]} == {"editor", "reader"}
    assert records["alice"]["n"] >= 2**14  # scrypt's cost, kept per account
    assert os.stat(users).st_mode & 0o077 == 0  # readable by its owner only
    accounts = Accounts(users)
    assert accounts.verify("alice", "correct horse battery") and not accounts.verify("alice", "correct horse batterY")
    assert not accounts.verify("mallory", "correct horse battery")
    assert run_cli(capsys, "user", "remove", "rob", "--auth", str(users))[0] == 0
    assert Accounts(users).role("rob") is None and Accounts(users).role("alice") == "editor"


@pytest.mark.parametrize("name, role, password, expected", [
    ("bob", "reader", "short", "at least 8"),
    ("bob", "admin", "long enough pw", "invalid choice"),
    ("../bob", "reader", "long enough pw", "user name"),
])
def test_bad_accounts_are_refused_naming_the_value(tmp_path, capsys, monkeypatch, name, role, password, expected):
    users = tmp_path / "users.json"
    try:
        code, out, err = add_user(capsys, monkeypatch, users, name, role, password)
    except SystemExit as exit:  # argparse refuses an unknown role itself
        code, err = exit.code, capsys.readouterr().err
    assert code != 0 and expected in err
    assert not users.exists()


def test_a_corrupt_users_file_is_named_and_left_alone(tmp_path, capsys, monkeypatch):
    users = tmp_path / "users.json"
    users.write_text('{"version": 1, "users": {"alice": {"role": "root"}}}')
    code, _, err = add_user(capsys, monkeypatch, users, "bob", "reader", "long enough pw")
    assert code == 1 and str(users) in err and "alice" in err
    assert users.read_text() == '{"version": 1, "users": {"alice": {"role": "root"}}}'


class FakeRequest:  # the two attributes of gr.Request the gate reads
    def __init__(self, username=None, host="10.0.0.7"):
        self.username = username
        self.client = type("Client", (), {"host": host})()


def test_readers_may_read_ask_and_score_and_only_editors_may_write(tmp_path, capsys, monkeypatch):
    users = tmp_path / "users.json"
    add_user(capsys, monkeypatch, users, "alice", "editor", "editor password")
    add_user(capsys, monkeypatch, users, "rob", "reader", "reader password")
    gate = Gate(Accounts(users), RateLimiter(0))
    for action in ("ask", "score", "search", "read"):
        assert gate.check(FakeRequest("rob"), action).name == "rob"
    for action in ("add", "replace", "restore", "rebuild"):
        with pytest.raises(Refused, match=f"{action} needs the editor role; you are signed in as 'rob' \\(reader\\)"):
            gate.check(FakeRequest("rob"), action)
        assert gate.check(FakeRequest("alice"), action).role == "editor"
    with pytest.raises(Refused, match="not signed in"):
        gate.check(FakeRequest(None), "ask")
    assert not allowed(None, "read")
    open_gate = Gate(None, RateLimiter(0))  # loopback without accounts: as before, everyone may do everything
    assert open_gate.check(FakeRequest(None, "127.0.0.1"), "rebuild").role == "editor"


def test_the_rate_limit_counts_per_key_and_per_kind_in_a_sliding_minute():
    limiter = RateLimiter(3)
    assert [limiter.take("alice", "ask", now=t) for t in (0, 1, 2)] == [0, 0, 0]
    assert limiter.take("alice", "ask", now=3) == pytest.approx(57)
    assert limiter.take("rob", "ask", now=3) == 0 and limiter.take("alice", "score", now=3) == 0
    assert limiter.take("alice", "ask", now=60) == 0  # the first call aged out
    assert RateLimiter(0).take("anyone", "ask") == 0  # off


def test_an_operator_list_never_lets_a_visitor_name_a_url():
    servers = [parse_flag("lab=http://10.0.0.5:8080/v1 qwen,smol"), parse_flag("home=ollama+http://127.0.0.1:11434 llama3")]
    group = Composers(servers)
    assert group.choices() == ["default (no LLM)", "lab: qwen", "lab: smol", "home: llama3"]
    chosen = group.settings("home: llama3", "", "", 30)
    assert (chosen.kind, chosen.base_url, chosen.model) == ("ollama", "http://127.0.0.1:11434", "llama3")
    with pytest.raises(Exception, match="chosen by the operator"):
        group.settings("lab: qwen", "http://169.254.169.254/latest", "", 30)
    with pytest.raises(Exception, match="not one of the operator's"):
        group.settings("openai", "", "", 30)
    assert group.settings("default (no LLM)", "http://x", "m", 30) is None
    free = Composers(None)  # loopback without accounts: the free fields, as before
    assert free.settings("openai", "http://127.0.0.1:9/v1", "m", 30).base_url == "http://127.0.0.1:9/v1"


@pytest.mark.parametrize("flag, expected", [
    ("lab http://x/v1 m", "NAME=URL MODEL"),
    ("lab=ftp://x/v1 m", "base_url"),
    ("l@b=http://x/v1 m", "name"),
])
def test_a_bad_llm_server_flag_names_itself(flag, expected):
    with pytest.raises(ServerListError, match=expected):
        parse_flag(flag)


def test_a_server_file_with_a_bad_entry_names_the_file_and_entry(tmp_path):
    path = tmp_path / "servers.json"
    path.write_text(json.dumps({"servers": [{"name": "a", "base_url": "http://x/v1", "models": ["m"]},
                                            {"name": "b", "base_url": "http://y/v1", "models": []}]}))
    with pytest.raises(ServerListError, match="servers entry 2: models"):
        load_file(path)


def serve(*args, timeout=60):
    return subprocess.run([sys.executable, str(ROOT / "app.py"), *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **OFFLINE_ENV, "INQUIRE_AUTH": ""}, timeout=timeout)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::"])
def test_a_network_address_without_accounts_refuses_to_start_and_names_the_fix(host):
    result = serve("--host", host, "--port", "7999")
    assert result.returncode == 2
    assert "inquire user add" in result.stderr and "--auth" in result.stderr and "--no-auth" in result.stderr


def test_no_auth_on_a_network_address_warns_what_becomes_open(tmp_path):
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--host", "0.0.0.0", "--port", "0", "--no-auth",
                             "--corpus", str(tmp_path / "missing"), "--index", str(tmp_path / "index")],
                            cwd=ROOT, env={**os.environ, **OFFLINE_ENV}, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        warning = proc.stderr.readline()
    finally:
        proc.kill()
        proc.wait()
    assert "WARNING" in warning and "--no-auth" in warning
    assert all(word in warning for word in ("add", "replace", "rebuild", "30 questions"))


def test_serving_with_a_missing_users_file_says_how_to_create_one(tmp_path):
    result = serve("--auth", str(tmp_path / "users.json"))
    assert result.returncode == 2 and "inquire user add" in result.stderr and "users.json" in result.stderr


def test_the_users_file_can_come_from_the_environment(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "app.py"), "--host", "0.0.0.0"], capture_output=True, text=True,
                            cwd=ROOT, env={**os.environ, **OFFLINE_ENV, "INQUIRE_AUTH": str(tmp_path / "team-users.json")}, timeout=60)
    assert result.returncode == 2 and "team-users.json does not exist" in result.stderr


def test_the_judge_server_is_the_operators_and_needs_its_model_name():
    result = serve("--judge-url", "http://127.0.0.1:9/v1")
    assert result.returncode == 2 and "--judge-model" in result.stderr


def test_a_running_server_sees_accounts_added_and_removed_without_a_restart(tmp_path):
    from pipeline.accounts import add_user, remove_user

    users = tmp_path / "users.json"
    add_user(users, "alice", "editor", "alice's long password")
    accounts = Accounts(users)  # what `serve --auth` holds
    add_user(users, "newcomer", "reader", "newcomer's password")
    assert accounts.role("newcomer") == "reader" and accounts.verify("newcomer", "newcomer's password")
    remove_user(users, "newcomer")
    assert accounts.role("newcomer") is None and not accounts.verify("newcomer", "newcomer's password")
