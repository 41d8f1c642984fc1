"""The running web app's named API endpoints, called with gradio_client like any user script."""
import pytest

from conftest import SEED_IDS, SEED_QUESTION, note_text
from evaluation.server import running_app


@pytest.fixture(scope="module")
def client(served_workspace):
    from gradio_client import Client

    with running_app(served_workspace) as url:
        yield Client(url, verbose=False), served_workspace


def test_ask_endpoint_returns_the_cli_json(client):
    c, _ = client
    answer = c.predict(SEED_QUESTION, api_name="/ask")
    assert {"question", "abstained", "answer", "sentences", "sources", "next_lines", "grounding", "timings_ms"} <= set(answer)
    assert len({x for s in answer["sentences"] for x in s["citations"]} & set(SEED_IDS)) >= 4


def test_score_endpoint_flags_an_unsupported_sentence(client):
    c, _ = client
    report = c.predict("Before RLHF, the model made positive claims in 20.9% of these unknown-truth scenarios. [rlhf-truth-indifference] "
                       "Before RLHF, the model made positive claims in 61.3% of these unknown-truth scenarios. [rlhf-truth-indifference]",
                       api_name="/score")
    assert [s["supported"] for s in report["sentences"]] == [True, False]
    assert any("61.3" in u for u in report["sentences"][1]["unsupported"])


def test_add_note_endpoint_validates_then_indexes(client):
    c, settings = client
    with pytest.raises(Exception, match="title"):
        c.predict(note_text("api-bad-note").replace("answerable?", "answerable"), api_name="/add_note")
    assert not (settings.corpus_dir / "api-bad-note.md").exists()
    report = c.predict(note_text("api-quokka-note"), api_name="/add_note")
    assert report["added"] == 1 and (settings.corpus_dir / "api-quokka-note.md").exists()
    answer = c.predict("How often do quokkas groom each other on Rottnest Island?", api_name="/ask")
    assert "api-quokka-note" in {x for s in answer["sentences"] for x in s["citations"]}


def test_rebuild_endpoint_rebuilds_everything(client):
    c, settings = client
    report = c.predict(api_name="/rebuild")
    assert report["full"] and report["added"] == report["notes"] == len(list(settings.corpus_dir.glob("*.md")))
