"""The screens' header: Textual's Header, made safe to retitle while it is torn down.

Textual's Header updates its HeaderTitle from watchers on the app's and the screen's
title. Such a watcher can run after the header's children are gone (a screen being
replaced or the app closing as a title changes); Textual then raises NoMatches, which
ends the app. CI met it twice (tests/tui/test_runs_list_keys.py, a run opened by keys typed
in a burst). This header registers the same watchers and skips the update when there is no
title left to update.
"""

from __future__ import annotations

from textual.css.query import NoMatches
from textual.dom import NoScreen
from textual.events import Mount
from textual.widgets import Header as TextualHeader
from textual.widgets._header import HeaderTitle


class Header(TextualHeader):
    def _on_mount(self, event: Mount) -> None:
        event.prevent_default()  # instead of Textual's handler, not beside it

        async def set_title() -> None:
            try:
                self.query_one(HeaderTitle).update(self.format_title())
            except (NoScreen, NoMatches):  # detached, or its title already removed
                pass

        self.watch(self.app, "title", set_title)
        self.watch(self.app, "sub_title", set_title)
        self.watch(self.screen, "title", set_title)
        self.watch(self.screen, "sub_title", set_title)
