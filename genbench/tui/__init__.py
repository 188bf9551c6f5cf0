"""The Textual workbench. Import ``genbench.tui.app`` only when the app is wanted."""
