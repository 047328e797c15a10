"""`nubo fleet replace` and `nubo fleet refit` against the embedded database."""

from __future__ import annotations

import uuid

from typer.testing import CliRunner

from nubo.cli import app as cli


def test_cli_refit_and_replace_on_an_empty_account(tmp_path, monkeypatch):
    monkeypatch.setenv("NUBO_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("NUBO_DATABASE_URL", raising=False)
    runner = CliRunner()
    account = str(uuid.uuid4())
    refit = runner.invoke(
        cli, ["fleet", "refit", "--account", account, "--since", "2026-01-01T00:00:00"]
    )
    assert refit.exit_code == 0, refit.output
    assert "0 aircraft" in refit.output
    replace = runner.invoke(
        cli,
        ["fleet", "replace", "--account", account, "--registration", "PR-XBA", "--engine", "1",
         "--component", "bleed-valve"],
    )
    assert replace.exit_code == 1
    assert "aircraft not found" in replace.output
