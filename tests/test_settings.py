"""Production refuses unsafe values; development makes and keeps its own secret."""

from __future__ import annotations

import pytest

from nubo.settings import Settings, UnsafeSettings

PG = "postgresql+asyncpg://nubo@db.internal/nubo"


@pytest.mark.parametrize("secret", [None, "short", "change-me-" + "x" * 40])
def test_production_refuses_a_missing_short_or_placeholder_jwt_secret(secret):
    with pytest.raises(UnsafeSettings):
        Settings(env="production", jwt_secret=secret, database_url=PG, _env_file=None)


def test_production_accepts_a_real_secret():
    settings = Settings(env="production", jwt_secret="q" * 16 + "Zr8vT1kPmW3xY6nB0aLcD2eF4gH",
                        database_url=PG, _env_file=None)
    assert settings.signing_key.startswith("q")


def test_production_refuses_the_embedded_database_default():
    with pytest.raises(UnsafeSettings):
        Settings(env="production", jwt_secret="Zr8vT1kPmW3xY6nB0aLcD2eF4gH" * 2, _env_file=None)


def test_development_generates_a_secret_once_and_keeps_it(tmp_path):
    first = Settings(data_dir=tmp_path, _env_file=None).signing_key
    second = Settings(data_dir=tmp_path, _env_file=None).signing_key
    assert first == second and len(first) >= 48
    assert (tmp_path / "jwt-secret").stat().st_mode & 0o077 == 0


def test_embedded_defaults_live_in_the_data_directory(tmp_path):
    settings = Settings(data_dir=tmp_path, _env_file=None)
    assert settings.embedded
    assert settings.resolved_database_url.endswith(f"{tmp_path}/nubo.db")
    assert settings.resolved_storage_url == (tmp_path / "objects").resolve().as_uri()


def test_env_prefix_is_nubo(monkeypatch, tmp_path):
    monkeypatch.setenv("NUBO_DATABASE_URL", PG)
    assert Settings(_env_file=None).resolved_database_url == PG


def test_the_default_data_directory_does_not_depend_on_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("NUBO_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    monkeypatch.chdir(tmp_path)
    here = Settings(_env_file=None).data_dir
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert Settings(_env_file=None).data_dir == here == tmp_path / "share" / "nubo"


def test_a_relative_data_directory_is_made_absolute_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NUBO_DATA_DIR", "data")
    assert Settings(_env_file=None).data_dir == tmp_path / "data"


def test_an_empty_data_directory_setting_means_the_default(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setenv("NUBO_DATA_DIR", "")
    assert Settings(_env_file=None).data_dir == tmp_path / "nubo"
