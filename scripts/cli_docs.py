"""Write docs/cli.md from the commands' own --help, so the reference never drifts.

python scripts/cli_docs.py          # rewrite docs/cli.md
python scripts/cli_docs.py --check  # exit 1 if docs/cli.md is out of date
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from click.testing import CliRunner

from guajie.cli import main

TARGET = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def commands(group: click.Group, path: list[str]) -> list[list[str]]:
    found = []
    for name in sorted(group.commands):
        cmd = group.commands[name]
        found.append([*path, name])
        if isinstance(cmd, click.Group):
            found.extend(commands(cmd, [*path, name]))
    return found


def render() -> str:
    runner = CliRunner()
    parts = [
        "# guajie command reference",
        "",
        "Generated from each command's `--help` by `python scripts/cli_docs.py`.",
        "",
    ]
    for path in [[], *commands(main, [])]:
        result = runner.invoke(main, [*path, "--help"], prog_name="guajie", terminal_width=100)
        title = " ".join(["guajie", *path])
        parts += [f"## {title}", "", "```", result.output.rstrip(), "```", ""]
    return "\n".join(parts)


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        if not TARGET.exists() or TARGET.read_text(encoding="utf-8") != text:
            print("docs/cli.md is out of date: run python scripts/cli_docs.py", file=sys.stderr)
            sys.exit(1)
    else:
        TARGET.write_text(text, encoding="utf-8")
