"""A researcher's session in Debian's Chromium, driven by Playwright against the real server."""
import pytest

from conftest import ARTIFACTS, SEED_QUESTION, chromium, note_text
from evaluation.server import running_app

pytestmark = pytest.mark.browser
SCRIPT_NOTE = note_text(
    "script-injection-note",
    title="Can a note that carries a script tag about wombat burrows run code in the page?",
    body=" ".join(["Wombat burrow surveys <script>window.__pwned = 1</script> count burrows near rivers every spring season."] * 10)
    + ' <img src=x onerror="window.__pwned = 2"> The wombat burrow count is the marker of this note.',
)


@pytest.fixture(scope="module")
def page(served_workspace):
    """One tab on the app served from `served_workspace` (the folders the tests below look into)."""
    with running_app(served_workspace) as url, chromium() as browser:
        tab = browser.new_page(viewport={"width": 1280, "height": 1800})
        tab.goto(url)
        yield tab


def ask(page, question: str):
    page.get_by_role("tab", name="Ask").click()
    box = page.get_by_label("Question", exact=True)
    box.fill(question)
    page.get_by_role("button", name="Ask", exact=True).click()
    page.wait_for_function("q => document.querySelector('.inquire-answer') && "
                           "document.querySelector('.inquire-answer').dataset.question === q",
                           arg=question, timeout=60_000)


def test_ask_the_seed_question_and_see_citations_and_sources(page):
    ask(page, SEED_QUESTION)
    answer = page.locator(".inquire-answer")
    assert answer.locator("a.cite").count() >= 4
    assert "Sources" in answer.locator("h3").inner_text()
    assert answer.locator("details.source").count() >= 4
    assert answer.locator(".sent.supported").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "answer.png"), full_page=True)


def test_the_brief_comes_first_and_the_evidence_is_collapsed_until_opened(page):
    ask(page, SEED_QUESTION)
    answer = page.locator(".inquire-answer")
    assert answer.locator(".brief .sent").first.is_visible()
    evidence = answer.locator("details.evidence")
    assert evidence.count() == 1 and not evidence.evaluate("d => d.open")  # collapsed by default
    hidden = evidence.locator(".sent").first
    assert not hidden.is_visible()
    evidence.locator("summary").click()
    assert evidence.evaluate("d => d.open") and hidden.is_visible()
    titles = evidence.locator("h4.evidence-note")  # each note's evidence under the note's title
    assert titles.count() >= 2 and titles.first.inner_text().split(" [")[0].endswith("?")
    legend = answer.locator(".legend").inner_text()
    assert "green" in legend and "supported" in legend and "support" in legend
    assert answer.locator("h3").inner_text().startswith("Sources: ")
    page.screenshot(path=str(ARTIFACTS / "brief-and-evidence.png"), full_page=True)


def test_clicking_a_next_line_asks_it(page):
    first_line = page.locator("label").filter(has=page.locator("input[type=radio]")).first
    text = first_line.inner_text().strip()
    first_line.click()
    page.wait_for_function("q => document.querySelector('.inquire-answer').dataset.question === q",
                           arg=text, timeout=60_000)
    assert page.get_by_label("Question", exact=True).input_value() == text


def test_add_a_note_through_the_form_then_ask_about_it(page):
    page.get_by_role("tab", name="Editor's desk").click()
    page.get_by_label("id (lowercase-slug)").fill("browser-quokka-note")
    page.get_by_label("title (a question ending in ?)").fill("Do quokkas on Rottnest Island groom each other daily?")
    page.get_by_label("summary (1-3 sentences)").fill("A test note: quokkas groom each other daily on Rottnest Island.")
    page.get_by_label("body (120-400 words)").fill(" ".join(["Quokkas on Rottnest Island groom each other daily, a field survey of grooming found."] * 12))
    page.get_by_label("sources, one per line: title | authors | year | url").fill("A Made-up Quokka Survey | A. Tester | 2024 | https://arxiv.org/abs/0000.00001")
    page.get_by_label("tags (comma-separated)").fill("quokka, grooming")
    page.get_by_label("related note ids (comma-separated)").fill("sycophancy-by-design")
    page.get_by_role("button", name="Validate and add").click()
    page.wait_for_function("() => [...document.querySelectorAll('textarea')].some(t => t.value.includes('Saved note'))", timeout=90_000)
    from playwright.sync_api import expect

    expect(page.get_by_label("id (lowercase-slug)")).to_have_value("")  # the form clears after a save
    expect(page.get_by_label("body (120-400 words)")).to_have_value("")
    page.get_by_role("tab", name="Notes").click()  # the list shows the new note without a reload
    assert page.locator("details.source", has_text="Do quokkas on Rottnest Island groom each other daily?").count() == 1
    ask(page, "How often do quokkas groom each other on Rottnest Island?")
    assert page.locator(".inquire-answer a.cite", has_text="browser-quokka-note").count() >= 1


def test_the_desk_is_reachable_without_scrolling_past_the_list(page):
    page.get_by_role("tab", name="Editor's desk").click()
    box = page.get_by_role("button", name="Validate and add").bounding_box()
    assert box is not None and box["y"] < 1800  # within the first screen (the list of 64 notes made it ~5,000 px down)


def test_searching_notes_filters_as_you_type_and_says_how_many_match(page):
    page.get_by_role("tab", name="Notes").click()
    page.get_by_label("Search notes").fill("")
    page.get_by_label("Search notes").press_sequentially("sycophancy", delay=20)  # typed, no Enter, no button
    page.wait_for_function("() => /notes? match \"sycophancy\"/.test(document.querySelector('.note-count')?.innerText || '')",
                           timeout=60_000)
    count = int(page.locator(".note-count").inner_text().split()[0])
    assert 1 <= count <= 10 and page.locator("details.source").count() >= count
    page.get_by_label("Search notes").fill("")
    page.get_by_role("button", name="Search", exact=True).click()
    page.wait_for_function("() => /All \\d+ notes/.test(document.querySelector('.note-count')?.innerText || '')", timeout=60_000)


def test_one_submit_lists_every_fault_of_a_note(page):
    page.goto(page.url)
    page.get_by_role("tab", name="Editor's desk").click()
    page.get_by_label("id (lowercase-slug)").fill("browser-faulty-note")
    page.get_by_label("title (a question ending in ?)").fill("Not a question")
    page.get_by_label("related note ids (comma-separated)").fill("no-such-note")
    page.get_by_label("sources, one per line: title | authors | year | url").fill("only a title")
    page.get_by_role("button", name="Validate and add").click()
    page.wait_for_function("() => [...document.querySelectorAll('textarea')].some(t => t.value.includes('was not saved'))", timeout=60_000)
    result = [t for t in page.locator("textarea").all() if "was not saved" in t.input_value()][0].input_value()
    for field in ("title", "body", "sources", "related", "no-such-note"):
        assert field in result
    assert page.get_by_label("title (a question ending in ?)").input_value() == "Not a question"  # kept, to fix


def test_invalid_note_shows_the_validator_message_and_writes_nothing(page):
    page.get_by_role("tab", name="Editor's desk").click()
    page.get_by_label("id (lowercase-slug)").fill("browser-bad-note")
    page.get_by_label("title (a question ending in ?)").fill("Not a question")
    page.get_by_role("button", name="Validate and add").click()
    page.wait_for_function("() => [...document.querySelectorAll('textarea')].some(t => t.value.includes('was not saved'))", timeout=60_000)
    result = [t for t in page.locator("textarea").all() if "was not saved" in t.input_value()][0].input_value()
    assert "title" in result and "?" in result


def test_paste_an_answer_and_see_the_unsupported_sentence_flagged(page):
    page.get_by_role("tab", name="Score").click()
    page.get_by_label("Answer with citations ([note-id] or [1] with a Sources list)").fill(
        "Before RLHF, the model made positive claims in 20.9% of these unknown-truth scenarios [1]. "
        "After RLHF, the rate of such positive claims fell to 12.5% [1].\n\nSources\n[1] rlhf-truth-indifference\n")
    page.get_by_role("button", name="Score").click()
    page.wait_for_selector(".inquire-score .sent.unsupported", timeout=60_000)
    assert page.locator(".inquire-score .sent.supported").count() == 1
    assert "12.5" in page.locator(".inquire-score").inner_text()
    page.screenshot(path=str(ARTIFACTS / "score.png"), full_page=True)


def test_markup_in_a_note_is_shown_as_text_and_never_runs(page):
    page.get_by_role("tab", name="Editor's desk").click()
    upload_dir = ARTIFACTS / "upload"
    upload_dir.mkdir(exist_ok=True)
    note = upload_dir / "script-injection-note.md"
    note.write_text(SCRIPT_NOTE)
    page.locator("input[type=file]").set_input_files(str(note))
    page.get_by_role("button", name="Validate and add").click()
    page.wait_for_function("() => [...document.querySelectorAll('textarea')].some(t => t.value.includes(\"Saved note 'script-injection-note'\"))", timeout=90_000)
    ask(page, "What do wombat burrow surveys count near rivers?")
    answer = page.locator(".inquire-answer")
    assert "<script>" in answer.inner_text() or "window.__pwned" in answer.inner_text()
    page.locator("details#src-script-injection-note summary").click()
    assert page.evaluate("() => window.__pwned") is None
    assert page.locator(".inquire-answer script").count() == 0 and page.locator(".inquire-answer img").count() == 0


def test_uploads_are_saved_under_their_validated_id_never_their_file_name(page, served_workspace, tmp_path):
    settings = served_workspace
    before_parent = sorted(p.name for p in settings.corpus_dir.parent.iterdir())
    hostile = tmp_path / "..%2F..%2Fescape $(touch pwned); évil name.md"
    hostile.write_text(note_text("upload-name-note", title="Does an upload's file name ever decide where a note about okapi stripes is saved?"))
    page.goto(page.url)  # fresh widgets: the file box of an earlier test still holds its upload
    page.get_by_role("tab", name="Editor's desk").click()
    page.locator("input[type=file]").set_input_files(str(hostile))
    page.get_by_role("button", name="Validate and add").click()
    page.wait_for_function("() => [...document.querySelectorAll('textarea')].some(t => t.value.includes(\"Saved note 'upload-name-note'\"))", timeout=90_000)
    assert (settings.corpus_dir / "upload-name-note.md").read_text() == hostile.read_text()
    assert not [p for p in settings.corpus_dir.iterdir() if "escape" in p.name or "pwned" in p.name or "évil" in p.name]
    assert sorted(p.name for p in settings.corpus_dir.parent.iterdir()) == before_parent

    outside = tmp_path / "outside.md"
    outside.write_text(note_text("../outside-note", title="Can a note id with dots and slashes place a file about tapirs outside the corpus?"))
    page.goto(page.url)
    page.get_by_role("tab", name="Editor's desk").click()
    page.locator("input[type=file]").set_input_files(str(outside))
    page.get_by_role("button", name="Validate and add").click()
    page.wait_for_function("() => [...document.querySelectorAll('textarea')].some(t => t.value.includes('The note was not saved'))", timeout=60_000)
    assert sorted(p.name for p in settings.corpus_dir.parent.iterdir()) == before_parent
    assert not (settings.corpus_dir.parent / "outside-note.md").exists() and not (settings.corpus_dir / "outside-note.md").exists()


def test_an_upload_over_the_size_cap_is_refused_and_nothing_is_written(page, served_workspace, tmp_path):
    settings = served_workspace
    before = sorted(p.name for p in settings.corpus_dir.iterdir())
    big = tmp_path / "big-note.md"
    big.write_text(note_text("big-note", title="Can a note of more than a megabyte about capybara naps be uploaded?",
                             body="Capybaras nap in the afternoon sun near the water. " * 25_000))
    assert big.stat().st_size > 1_000_000
    page.goto(page.url)  # fresh widgets: no earlier upload or form text left in them
    page.get_by_role("tab", name="Editor's desk").click()
    page.locator("input[type=file]").set_input_files(str(big))
    page.get_by_role("button", name="Validate and add").click()
    page.wait_for_function("() => /over 1 MB|exceed|too large|not saved|is empty/i.test(document.body.innerText)", timeout=60_000)
    page.screenshot(path=str(ARTIFACTS / "upload-too-big.png"), full_page=True)
    assert sorted(p.name for p in settings.corpus_dir.iterdir()) == before


def test_an_editor_loads_replaces_and_restores_a_note_from_the_desk(page, served_workspace):
    settings = served_workspace
    original = (settings.corpus_dir / "dr-grpo-bias.md").read_bytes()
    page.goto(page.url)
    page.get_by_role("tab", name="Editor's desk").click()
    page.get_by_label("Edit an existing note: its id").fill("dr-grpo-bias")
    page.get_by_role("button", name="Load into the form").click()
    from playwright.sync_api import expect

    expect(page.get_by_label("id (lowercase-slug)")).to_have_value("dr-grpo-bias", timeout=30_000)
    page.get_by_label("summary (1-3 sentences)").fill("An edited summary that the restore will undo.")
    page.get_by_role("button", name="Validate and add").click()
    page.wait_for_function("() => [...document.querySelectorAll('textarea')].some(t => t.value.includes('kept as version 1'))", timeout=90_000)
    assert b"An edited summary" in (settings.corpus_dir / "dr-grpo-bias.md").read_bytes()
    page.get_by_label("Note id for history").fill("dr-grpo-bias")
    page.get_by_role("button", name="Show history").click()
    page.wait_for_selector(".history details.version", timeout=30_000)
    page.get_by_role("button", name="Restore this version").click()
    page.wait_for_function("() => [...document.querySelectorAll('textarea')].some(t => t.value.includes('Restored version 1'))", timeout=90_000)
    assert (settings.corpus_dir / "dr-grpo-bias.md").read_bytes() == original
    page.screenshot(path=str(ARTIFACTS / "desk-restored.png"), full_page=True)
