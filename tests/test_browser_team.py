"""A group's page in Debian's Chromium (Playwright), served with accounts: the login page, an editor's desk,
and a reader who is offered no way to write."""
import pytest

from conftest import ARTIFACTS, chromium
from evaluation.server import running_app

pytestmark = pytest.mark.browser
PASSWORDS = {"edith": "edith's long password", "ralph": "ralph's long password"}


@pytest.fixture(scope="module")
def served(served_workspace):
    from pipeline.accounts import add_user

    users = served_workspace.corpus_dir.parent / "users.json"
    add_user(users, "edith", "editor", PASSWORDS["edith"])
    add_user(users, "ralph", "reader", PASSWORDS["ralph"])
    with running_app(served_workspace, extra_args=("--auth", str(users))) as url, chromium() as browser:
        yield browser, url, served_workspace


def signed_in(served, name: str):
    """A fresh browser context (its own cookies) signed in through the login page."""
    browser, url, _ = served
    tab = browser.new_context(viewport={"width": 1280, "height": 1800}).new_page()
    tab.goto(url)
    tab.get_by_label("username").fill(name)
    tab.get_by_label("password").fill(PASSWORDS[name])
    tab.get_by_role("button", name="Login").click()
    tab.get_by_text(f"Signed in as {name}").wait_for(timeout=60_000)
    return tab


def test_the_login_page_refuses_a_wrong_password(served):
    browser, url, _ = served
    tab = browser.new_context().new_page()
    tab.goto(url)
    tab.get_by_label("username").fill("ralph")
    tab.get_by_label("password").fill("not ralph's password")
    tab.get_by_role("button", name="Login").click()
    tab.get_by_text("Incorrect", exact=False).wait_for(timeout=30_000)
    assert tab.get_by_role("tab", name="Ask").count() == 0
    tab.screenshot(path=str(ARTIFACTS / "login-refused.png"))


def test_an_editor_adds_a_note_and_sees_it_in_the_list_without_a_reload(served):
    _, _, settings = served
    tab = signed_in(served, "edith")
    tab.get_by_role("tab", name="Editor's desk").click()
    tab.get_by_label("id (lowercase-slug)").fill("team-browser-note")
    tab.get_by_label("title (a question ending in ?)").fill("Do okapis in a made-up survey groom each other at dusk?")
    tab.get_by_label("summary (1-3 sentences)").fill("A test note: okapis in a made-up survey groom each other at dusk.")
    tab.get_by_label("body (120-400 words)").fill(" ".join(["Okapis in a made-up survey groom each other at dusk, the survey of okapi grooming found."] * 12))
    tab.get_by_label("sources, one per line: title | authors | year | url").fill("A Made-up Okapi Survey | A. Tester | 2024 | https://arxiv.org/abs/0000.00002")
    tab.get_by_label("tags (comma-separated)").fill("okapi, grooming")
    tab.get_by_label("related note ids (comma-separated)").fill("sycophancy-by-design")
    tab.get_by_role("button", name="Validate and add").click()
    tab.wait_for_function("() => [...document.querySelectorAll('textarea')].some(t => t.value.includes(\"Saved note 'team-browser-note'\"))", timeout=120_000)
    from playwright.sync_api import expect

    expect(tab.get_by_label("id (lowercase-slug)")).to_have_value("")  # the form clears after a save
    expect(tab.get_by_label("body (120-400 words)")).to_have_value("")
    tab.get_by_role("tab", name="Notes").click()
    assert tab.locator("details.source", has_text="Do okapis in a made-up survey groom each other at dusk?").count() == 1
    tab.screenshot(path=str(ARTIFACTS / "editor-desk-saved.png"), full_page=True)
    assert (settings.corpus_dir / "team-browser-note.md").exists()


def test_a_reader_sees_no_add_or_replace_controls(served):
    tab = signed_in(served, "ralph")
    assert tab.get_by_text("Signed in as ralph (reader)").count() == 1
    tab.get_by_role("tab", name="Notes").click()
    tab.wait_for_selector("details.source", timeout=60_000)  # reading is allowed
    assert not tab.get_by_role("tab", name="Editor's desk").is_visible()
    for control in ("Validate and add", "Load into the form", "Restore this version", "Full rebuild", "Update index"):
        assert not tab.get_by_role("button", name=control).is_visible()
    assert not tab.get_by_label("Replace the note with this id (its current text is kept in history)").is_visible()
    tab.get_by_role("tab", name="Ask").click()
    tab.get_by_text("LLM composer (optional)").click()
    assert tab.get_by_label("Base URL").count() == 0  # the operator chooses the LLM servers
    tab.screenshot(path=str(ARTIFACTS / "reader-view.png"), full_page=True)
