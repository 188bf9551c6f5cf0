"""The screens' Header survives a title change that lands while it is torn down
(Textual's own raised NoMatches there and ended the app; seen once in a few CI runs)."""

from __future__ import annotations

import pytest
from textual.app import App
from textual.widgets import Header as TextualHeader
from textual.widgets import Static

from genbench.tui.widgets.header import TITLE_TYPE, Header
from tests.tui_support import wait_for


def app_with(header_cls):
    class One(App):
        def compose(self):
            yield header_cls()

    return One()


async def retitle_without_its_title(app) -> None:
    async with app.run_test() as pilot:
        header = app.query_one(TextualHeader)
        await header.query_one(TITLE_TYPE, Static).remove()  # as when the header is torn down
        app.title = "renamed"
        app.screen.sub_title = "moved"
        await pilot.pause()


async def test_a_title_change_after_the_title_is_gone_is_ignored():
    await retitle_without_its_title(app_with(Header))


async def test_textuals_header_fails_there_which_is_why_ours_exists():
    """If Textual fixes its Header this fails: then ours can go."""
    with pytest.raises(Exception, match=TITLE_TYPE):
        await retitle_without_its_title(app_with(TextualHeader))


async def test_the_header_still_shows_title_changes():
    """Fails if Textual renames its title widget or stops making it a Static (ours
    would then find no title and show none): re-check header.py against the new
    Header."""
    app = app_with(Header)
    async with app.run_test() as pilot:
        app.title = "genbench — a run"
        app.screen.sub_title = "moved"
        title = app.query_one(TITLE_TYPE, Static)
        await wait_for(pilot, lambda: "a run" in str(title.render()), what="the new title")
        assert "moved" in str(title.render())
