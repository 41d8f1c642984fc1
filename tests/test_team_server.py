"""A page served to a group: the real server process with accounts (--auth), called with gradio_client and raw
HTTP like any script, a hostile one included."""
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import pytest

from conftest import SEED_QUESTION, note_text
from evaluation.server import running_app

PASSWORDS = {"alice": "alice's long password", "rob": "rob's long password", "flo": "flo's long password",
             "eve": "eve's long password", "una": "una's long password"}
ROLES = {"alice": "editor"}  # everyone else reads
RATE_LIMIT = 4


class Listener:
    """A tiny local HTTP server that records every request it gets and answers 500 (no model behind it)."""

    def __init__(self):
        seen = self.requests = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                seen.append((self.command, self.path))
                self.send_response(500)
                self.end_headers()

            do_GET = do_POST

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def team(served_workspace):
    from pipeline.accounts import add_user

    settings, users = served_workspace, served_workspace.corpus_dir.parent / "users.json"
    for name, password in PASSWORDS.items():
        add_user(users, name, ROLES.get(name, "reader"), password)
    operator, visitor = Listener(), Listener()
    args = ("--auth", str(users), "--rate-limit", str(RATE_LIMIT), "--llm-server", f"lab={operator.url} tiny")
    with running_app(settings, extra_args=args) as url:
        yield {"url": url, "settings": settings, "operator": operator, "visitor": visitor}
    operator.server.shutdown()
    visitor.server.shutdown()


def client(team, name):
    from gradio_client import Client

    return Client(team["url"], auth=(name, PASSWORDS[name]), verbose=False)


def page_call(c, api_name: str, data: list):
    """Call one of the page's own (private) events the way the browser does, through the queue: what a hand-made
    request could send, whatever the page shows. Returns the final message."""
    dep = next(d for d in c.config["dependencies"] if d["api_name"] == api_name)
    session = uuid.uuid4().hex
    with httpx.Client(cookies=c.cookies, base_url=c.src, timeout=180) as http:
        joined = http.post("gradio_api/queue/join", json={"data": data, "fn_index": dep["id"], "session_hash": session,
                                                          "event_data": None, "trigger_id": dep["targets"][0][0]})
        joined.raise_for_status()
        with http.stream("GET", "gradio_api/queue/data", params={"session_hash": session}) as stream:
            for line in stream.iter_lines():
                if line.startswith("data:") and json.loads(line[5:]).get("msg") == "process_completed":
                    return json.loads(line[5:])
    raise AssertionError(f"{api_name} never completed")


def test_an_anonymous_client_gets_nothing(team):
    from gradio_client import Client

    with pytest.raises(Exception, match="credentials|login|Login"):
        Client(team["url"], verbose=False)
    with pytest.raises(Exception, match="Invalid credentials|Could not login"):
        Client(team["url"], auth=("rob", "not rob's password"), verbose=False)
    for path in ("gradio_api/call/ask", "gradio_api/queue/join", "gradio_api/info", "config"):
        response = httpx.post(team["url"] + path, json={"data": [SEED_QUESTION], "fn_index": 0, "session_hash": "x"}) \
            if path != "config" and path != "gradio_api/info" else httpx.get(team["url"] + path)
        assert response.status_code in (401, 403), (path, response.status_code)


def test_a_reader_can_ask_and_score_but_not_add_replace_restore_or_rebuild(team):
    rob = client(team, "rob")
    answer = rob.predict(SEED_QUESTION, api_name="/ask")
    assert answer["sentences"] and not answer["abstained"]
    report = rob.predict("Before RLHF, the model made positive claims in 20.9% of these unknown-truth scenarios. "
                         "[rlhf-truth-indifference]", api_name="/score")
    assert report["sentences"][0]["supported"]
    corpus = team["settings"].corpus_dir
    before = sorted(p.name for p in corpus.glob("*.md"))
    for args, api in (((note_text("reader-note"),), "/add_note"), ((note_text("sycophancy-by-design"),), "/replace_note"),
                      ((), "/rebuild"), (("sycophancy-by-design", 1), "/restore")):
        with pytest.raises(Exception, match="needs the editor role; you are signed in as 'rob' \\(reader\\)"):
            rob.predict(*args, api_name=api)
    # The page's own controls are no way round it: its hidden rebuild event, called by hand, is refused too.
    status = page_call(rob, "page_rebuild", [])["output"]["data"][0]
    assert "needs the editor role" in status
    assert sorted(p.name for p in corpus.glob("*.md")) == before


def test_an_editor_can_add_replace_and_restore_and_the_audit_log_and_history_say_who(team):
    alice = client(team, "alice")
    report = alice.predict(note_text("team-quokka-note"), api_name="/add_note")
    assert report["added"] == 1 and (team["settings"].corpus_dir / "team-quokka-note.md").exists()
    original = (team["settings"].corpus_dir / "team-quokka-note.md").read_text()
    edited = original.replace("daily", "weekly")
    assert alice.predict(edited, api_name="/replace_note")["version"] == 1
    history = alice.predict("team-quokka-note", api_name="/history")
    assert [(v["by"], v["reason"], v["text"]) for v in history["versions"]] == [("alice", "replace", original)]
    restored = alice.predict("team-quokka-note", 1, api_name="/restore")
    assert restored["restored"] == 1 and restored["version"] == 2
    assert (team["settings"].corpus_dir / "team-quokka-note.md").read_text() == original
    audit = [json.loads(line) for line in (team["settings"].corpus_dir / ".inquire" / "audit.jsonl").read_text().splitlines()]
    assert [(a["by"], a["action"], a["id"], a["address"]) for a in audit[-3:]] == [
        ("alice", "add", "team-quokka-note", "127.0.0.1"), ("alice", "replace", "team-quokka-note", "127.0.0.1"),
        ("alice", "restore", "team-quokka-note", "127.0.0.1")]


def test_a_client_past_the_rate_limit_is_refused_naming_it_and_others_are_still_served(team):
    flo, una = client(team, "flo"), client(team, "una")
    for _ in range(RATE_LIMIT):
        assert flo.predict("Does RLHF hurt calibration?", api_name="/ask")["sentences"]
    with pytest.raises(Exception, match=f"rate limit: at most {RATE_LIMIT} questions a minute for user 'flo'"):
        flo.predict("Does RLHF hurt calibration?", api_name="/ask")
    assert flo.predict("Calibration after RLHF. [rlhf-truth-indifference]", api_name="/score")  # scores count apart
    assert una.predict("Does RLHF hurt calibration?", api_name="/ask")["sentences"]


def test_a_visitor_supplied_base_url_never_receives_a_request_when_accounts_are_on(team):
    eve = client(team, "eve")
    operator, visitor = team["operator"], team["visitor"]
    # The operator's listed server is reached (so the listeners work and a request would be seen)...
    page_call(eve, "page_ask", ["Does RLHF hurt calibration?", "lab: tiny", "", "", 5, True])
    assert any(method == "POST" and path.endswith("/chat/completions") for method, path in operator.requests)
    # ...while a base URL the visitor supplies, with a composer kind or with the operator's choice, never is.
    for choice in ("openai", "lab: tiny"):
        message = page_call(eve, "page_ask", ["Does RLHF hurt calibration?", choice, visitor.url, "any-model", 5, True])
        assert message["msg"] == "process_completed"
    assert visitor.requests == []
