"""Every command the README shows works as written after `make install`."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer

from nubo.cli import app

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()
NUBO = ".venv/bin/nubo"


def _shown_commands() -> list[str]:
    """Commands in the README's sh blocks and in backticks that start a table row."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", README, flags=re.DOTALL):
        commands += [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    for row in re.findall(r"^\| (.+?) \|", README, flags=re.MULTILINE):
        commands += re.findall(r"`((?:\.venv/bin/nubo|make) [^`]*)`", row)
    return commands


COMMANDS = _shown_commands()


def test_the_readme_shows_commands_and_none_need_anything_not_installed():
    assert any(c.startswith(NUBO) for c in COMMANDS)
    assert any(c.startswith("make ") for c in COMMANDS)
    for command in COMMANDS:
        assert command.split()[0] in (NUBO, "make"), f"{command!r}: use {NUBO} or make"


def test_make_installs_the_nubo_command_the_readme_uses():
    plan = subprocess.run(["make", "-n", "-B", "install"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout
    assert "sync" in plan  # `uv sync` installs the project's script into .venv/bin
    assert (ROOT / NUBO).exists()
    help_text = subprocess.run([str(ROOT / NUBO), "--help"], capture_output=True, text=True,
                               check=True, timeout=60).stdout
    assert "serve" in help_text


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.startswith("make ")])
def test_make_target_exists(command):
    target = command.split()[1]
    subprocess.run(["make", "-n", target], cwd=ROOT, check=True, capture_output=True)


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.startswith(NUBO)])
def test_nubo_command_parses(command):
    """The subcommand exists and each option shown is one it takes."""
    words = shlex.split(command.replace("…", "x"))[1:]
    group: Any = typer.main.get_command(app)
    ctx = group.make_context("nubo", [], resilient_parsing=True)
    while hasattr(group, "get_command") and words:
        found = group.get_command(ctx, words[0])
        if found is None:
            break
        group, ctx = found, found.make_context(words[0], [], parent=ctx, resilient_parsing=True)
        words.pop(0)
    assert not hasattr(group, "get_command"), f"{command!r} names no command"
    options = {o for p in group.params for o in (*p.opts, *p.secondary_opts)}
    for word in words:
        if word.startswith("--"):
            assert word.split("=")[0] in options, f"{command!r}: {word} is not an option"


def test_the_readme_names_the_first_settings_and_each_exists():
    from nubo.settings import Settings

    named = set(re.findall(r"`(NUBO_[A-Z_]+)", README))
    assert {"NUBO_PORT", "NUBO_HOST", "NUBO_DATA_DIR", "NUBO_DATABASE_URL"} <= named
    example = (ROOT / ".env.example").read_text()
    for name in named:
        assert name.removeprefix("NUBO_").lower() in Settings.model_fields, name
        assert f"{name}=" in example, f"{name} is not documented in .env.example"


def test_make_run_starts_the_server_itself_so_ctrl_c_reaches_it():
    # Through `uv run`, Ctrl-C ended the wrapper too and make reported an error.
    plan = subprocess.run(["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout
    assert f"{NUBO} serve" in plan and "uv run nubo serve" not in plan
