"""The container image and the compose deployment, checked as files (the image itself is
built and run by `make image-test`, which CI runs)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from nubo.settings import Settings

ROOT = Path(__file__).parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
INTERPOLATION = re.compile(r"\$\{([A-Z_]+)(?::?[-?][^}]*)?\}")
SECRET_WORDS = ("PASSWORD", "SECRET", "ACCESS_KEY")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def _environment(service: dict[str, Any]) -> dict[str, str]:
    return {key: str(value) for key, value in (service.get("environment") or {}).items()}


def test_compose_runs_every_part_of_production(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"postgres", "minio", "bucket", "migrate", "api", "worker"} <= set(services)
    assert services["api"]["deploy"]["replicas"] == 2
    assert services["worker"]["deploy"]["replicas"] == 2
    assert [services[name]["command"] for name in ("migrate", "api", "worker")] == [
        ["migrate"], ["serve"], ["worker"]
    ]
    assert {"postgres-data", "minio-data"} <= set(compose["volumes"])


def test_compose_starts_in_order_behind_health_and_one_shots(compose: dict[str, Any]) -> None:
    services = compose["services"]

    def waits_for(name: str) -> dict[str, str]:
        return {dep: cond["condition"] for dep, cond in services[name]["depends_on"].items()}

    assert waits_for("migrate") == {"postgres": "service_healthy"}
    assert waits_for("bucket") == {"minio": "service_healthy"}
    for name in ("api", "worker"):
        assert waits_for(name) == {
            "migrate": "service_completed_successfully",
            "bucket": "service_completed_successfully",
        }
    for name in ("postgres", "minio"):
        assert services[name]["healthcheck"]["test"]
    assert services["proxy"]["depends_on"]["api"]["condition"] == "service_healthy"


def test_compose_runs_nubo_in_production_with_known_settings(compose: dict[str, Any]) -> None:
    for name in ("migrate", "api", "worker"):
        env = _environment(compose["services"][name])
        assert env["NUBO_ENV"] == "production"
        assert env["NUBO_JOBS"] == "procrastinate"
        assert env["NUBO_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert env["NUBO_STORAGE_URL"].startswith("s3://")
        for key in env:
            if key.startswith("NUBO_"):  # a misspelt setting would be silently ignored
                assert key.removeprefix("NUBO_").lower() in Settings.model_fields, key


def test_compose_takes_every_secret_from_the_env_file(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for key, value in _environment(service).items():
            if any(word in key for word in SECRET_WORDS):
                assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]*\}", value), (name, key, value)
        url = _environment(service).get("NUBO_DATABASE_URL", "")
        assert not url or "${POSTGRES_PASSWORD:?" in url, url


def test_every_variable_compose_reads_is_in_env_example_and_env_is_ignored() -> None:
    example = (ROOT / ".env.example").read_text()
    for variable in set(INTERPOLATION.findall((ROOT / "compose.yaml").read_text())):
        assert f"\n{variable}=" in example, f"{variable} is not documented in .env.example"
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()


def test_the_image_is_one_locked_non_root_image_for_every_command() -> None:
    assert DOCKERFILE.count("\nFROM ") == 2  # build stage, then a clean final stage
    assert re.search(r"^ARG BASE_IMAGE=python:3\.\d+-slim", DOCKERFILE, re.MULTILINE)
    assert "uv sync --locked --no-dev" in DOCKERFILE
    user = re.findall(r"^USER (\S+)$", DOCKERFILE, re.MULTILINE)
    assert user and user[-1].split(":")[0] not in ("0", "root")
    assert re.search(r"^HEALTHCHECK .*\n.*/api/health", DOCKERFILE, re.MULTILINE)
    assert 'ENTRYPOINT ["nubo"]' in DOCKERFILE


def test_the_build_context_is_an_allowlist() -> None:
    # Nothing local (.env, .venv, var/) can slip into an image.
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert next(line for line in lines if line and not line.startswith("#")) == "*"
