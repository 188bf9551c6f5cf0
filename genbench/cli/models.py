"""genbench models: the installed model plugins, and the broken ones."""

from __future__ import annotations

from typing import Any

from genbench.cli.common import print_json

NAME = "models"


def add_parser(sub) -> None:
    m = sub.add_parser(NAME, help="list installed model plugins")
    m.add_argument("--json", action="store_true", help="print JSON instead of a table")
    m.add_argument(
        "--timings",
        action="store_true",
        help="also list how long each plugin took to import (slowest first; imports every "
        "plugin, where the listing otherwise comes from its cache while no plugin changed)",
    )


def run(args) -> int:
    from genbench import listing_cache

    # The last listing while no plugin changed (listing_cache): no plugin imported, so
    # no torch; --timings is about importing them, so it always does.
    key = None if args.timings else listing_cache.fingerprint()
    listing = listing_cache.read(key)
    imports: list = []
    if listing is None:
        from genbench.registry import load_registry

        registry = load_registry()
        listing = _listing(registry)
        imports = registry.import_seconds
        listing_cache.write(key, listing)
    if args.json:
        print_json({**listing, "imports": [_imported(info, s) for info, s in imports]})
        return 0
    _print(listing)
    if args.timings:
        from genbench.presentation import console as terminal_console

        terminal_console().print(_timings(imports))
    return 0


def _listing(registry: Any) -> dict[str, Any]:
    """What `genbench models` shows, as plain data (what --json prints and the cache
    keeps): each model under the name to type, both sides of a clash, broken plugins."""
    return {
        "models": [
            {**e.describe(), "use": key, "partly_broken": registry.partly_broken(e.plugin)}
            for key, e in registry.model_keys()
        ],
        # A name two distributions provide: both listed, each under the name to type.
        "conflicts": [e.describe() for group in registry.conflicts.values() for e in group],
        "clashes": registry.clash_lines(),
        "broken": [b.describe() for b in registry.broken],
        "warnings": list(registry.warnings),
    }


def _imported(info: Any, seconds: float) -> dict[str, Any]:
    return {
        "plugin": info.name,
        "distribution": info.distribution,
        "version": info.version,
        "seconds": round(seconds, 3),
    }


def _print(listing: dict[str, Any]) -> None:
    from rich.table import Table
    from rich.text import Text

    from genbench.presentation import console as terminal_console
    from genbench.runfolder.untrusted import clean_text

    console = terminal_console()
    table = Table(title="Models", title_justify="left")
    for col in ("name", "title", "data", "conditional", "plugin"):
        table.add_column(col)
    for d in listing["models"]:
        origin = "built-in" if d["builtin"] else f"{d['distribution']} {d['version']}"
        if d.get("partly_broken"):  # its other models or datasets were refused
            origin += " (partly broken, below)"
        table.add_row(
            Text(d["use"]),  # a plugin's names are text, never markup
            Text(d["title"]),
            ", ".join(d["kinds"]),
            "yes" if d["conditional"] else "no",
            Text(origin),
        )
    console.print(table)
    for line in listing["clashes"]:
        console.print(Text.assemble(("name clash ", "yellow"), clean_text(line, 1000)))
    for b in listing["broken"]:  # a plugin's error text is shown as text, never as markup
        console.print(
            Text.assemble(
                ("broken plugin", "red"),
                clean_text(
                    f" {b['plugin']} ({b['distribution']} {b['version']}): {b['error']}", 1000
                ),
            ),
            highlight=False,
        )


def _timings(imports: list) -> Any:
    """The plugins' import times as a table, slowest first. The built-in plugins load
    first: the first of them pays for importing torch."""
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title="Plugin imports",
        title_justify="left",
        caption="the first built-in plugin also imports torch, for all of them",
        caption_justify="left",
    )
    for col in ("plugin", "distribution", "seconds"):
        table.add_column(col, justify="right" if col == "seconds" else "left")
    for info, seconds in sorted(imports, key=lambda pair: -pair[1]):
        origin = "built-in" if info.builtin else f"{info.distribution} {info.version}"
        table.add_row(Text(info.name), Text(origin), f"{seconds:.2f}")
    return table
