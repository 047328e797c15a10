"""The `nubo` command as a newcomer meets it: clear errors, readable help, a clean stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nubo.cli import app
from nubo.cli_help import plural

runner = CliRunner()


def test_create_operator_without_password_and_terminal_says_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("NUBO_DATA_DIR", str(tmp_path))
    result = runner.invoke(app, ["users", "create-operator", "--email", "op@example.com"])
    assert result.exit_code == 2
    assert "missing --password" in result.output
    assert "Aborted" not in result.output


def test_create_operator_with_password_creates_it(tmp_path, monkeypatch):
    monkeypatch.setenv("NUBO_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("NUBO_DATABASE_URL", raising=False)
    result = runner.invoke(
        app, ["users", "create-operator", "--email", "op@example.com", "--password", "Tr0ub4dor&3x"]
    )
    assert result.exit_code == 0, result.output
    assert "operator created" in result.output


def test_help_shows_no_type_beside_flags():
    result = runner.invoke(app, ["billing", "close-month", "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    assert "--prorate" in result.output
    assert "<bool>" not in result.output


def test_counts_are_pluralised():
    assert [plural(n, "invoice") for n in (0, 1, 2)] == ["0 invoices", "1 invoice", "2 invoices"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(port: int, proc: subprocess.Popen[bytes], tries: int = 300) -> None:
    for _ in range(tries):  # bounded: at most ~30 s
        if proc.poll() is not None:
            raise AssertionError("the server exited before answering")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the server never answered")


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_serve_stopped_with_ctrl_c_or_sigterm_exits_cleanly(tmp_path, stop):
    port = _free_port()
    env = {**os.environ, "NUBO_DATA_DIR": str(tmp_path), "NUBO_PORT": str(port)}
    env.pop("NUBO_DATABASE_URL", None)
    nubo = Path(sys.executable).with_name("nubo")
    proc = subprocess.Popen([str(nubo), "serve"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        _wait_healthy(port, proc)
        proc.send_signal(stop)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output.decode()
    assert b"Traceback" not in output, output.decode()
