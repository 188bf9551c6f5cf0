"""The screens' header: Textual's Header, made safe to retitle while it is torn down.

Textual's Header updates its HeaderTitle from watchers on the app's and the screen's
title. Such a watcher can run after the header's children are gone (a screen being
replaced or the app closing as a title changes, as when keys typed in a burst open a
run); Textual then raises NoMatches, which ends the app. This header registers the
same watchers and skips the update when there is no title left to update.

Only public API: Textual's mount handler is replaced through ``prevent_default()``, and
the title is found by its CSS type name (HeaderTitle is not exported). What it still
assumes of Textual's Header (that its mount handler only registers these watchers,
and that the title is a Static named HeaderTitle) is checked by tests/tui/test_header.py
on each Textual release that pyproject admits.
"""

from __future__ import annotations

from textual.css.query import NoMatches
from textual.dom import NoScreen
from textual.events import Mount
from textual.widgets import Header as TextualHeader
from textual.widgets import Static

TITLE_TYPE = "HeaderTitle"  # Textual's title widget, by its CSS type name


class Header(TextualHeader):
    def on_mount(self, event: Mount) -> None:
        event.prevent_default()  # instead of Textual's handler, not beside it

        # Synchronous: a watcher's coroutine still pending when the app closes is never
        # awaited (a RuntimeWarning); an update of a Static needs no await.
        def set_title() -> None:
            try:
                self.query_one(TITLE_TYPE, Static).update(self.format_title())
            except (NoScreen, NoMatches):  # detached, or its title already removed
                pass

        self.watch(self.app, "title", set_title)
        self.watch(self.app, "sub_title", set_title)
        self.watch(self.screen, "title", set_title)
        self.watch(self.screen, "sub_title", set_title)
