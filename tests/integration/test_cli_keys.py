"""`python -m polyrelay keys ...` as real subprocesses against a temporary SQLite database."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import types
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
SECRET = re.compile(r"^sk-[A-Za-z0-9_-]{48}$", re.MULTILINE)
KEY_ID = re.compile(r"Created key (key_[0-9a-f]+)")


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "POLYRELAY_CONFIG"}
    base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), base.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "polyrelay", *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(
        f"database: sqlite:///{tmp_path}/keys.db\n"
        "providers:\n  emu: {type: openai, base_url: http://127.0.0.1:1/v1}\n"
        "models:\n  gpt-4o-mini: {provider: emu}\n  gpt-5-mini: {provider: emu}\n"
    )
    return path


def test_create_list_revoke(config: Path, tmp_path: Path) -> None:
    created = run(
        "keys",
        "create",
        "--config",
        str(config),
        "--name",
        "ci",
        "--models",
        "gpt-4o-mini,gpt-5-mini",
        cwd=tmp_path,
    )
    assert created.returncode == 0, created.stderr
    secret_match = SECRET.search(created.stdout)
    id_match = KEY_ID.search(created.stdout)
    assert secret_match and id_match, created.stdout
    secret, key_id = secret_match.group(0), id_match.group(1)

    database = (tmp_path / "keys.db").read_bytes()
    for suffix in ("-wal", "-shm"):
        extra = tmp_path / f"keys.db{suffix}"
        database += extra.read_bytes() if extra.exists() else b""
    assert secret.encode() not in database
    assert secret[:10].encode() in database

    listed = run("keys", "list", "--config", str(config), cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith(key_id))
    assert row.split()[1:4] == ["ci", secret[:10], "gpt-4o-mini,gpt-5-mini"]
    assert row.rstrip().endswith("-")
    assert secret not in listed.stdout

    revoked = run("keys", "revoke", key_id, "--config", str(config), cwd=tmp_path)
    assert revoked.returncode == 0, revoked.stderr
    row = next(
        line
        for line in run("keys", "list", "--config", str(config), cwd=tmp_path).stdout.splitlines()
        if line.startswith(key_id)
    )
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$", row.rstrip())

    again = run("keys", "revoke", key_id, "--config", str(config), cwd=tmp_path)
    assert again.returncode == 1
    assert "no active key" in again.stderr


def test_revoking_a_static_key_says_where_it_is_configured(config: Path, tmp_path: Path) -> None:
    config.write_text(config.read_text() + "keys:\n  - {key: sk-static-secret, name: ci}\n")
    done = run("keys", "revoke", "static:ci", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"static:ci is a static key, not in the database: remove it from keys: in {config}" in (
        done.stderr
    )


def test_an_empty_config_path_is_an_error_not_the_embedded_default(tmp_path: Path) -> None:
    done = run("keys", "create", "--name", "x", "--config", "", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--config names no file" in done.stderr
    assert not (tmp_path / "polyrelay.db").exists()


def test_config_from_environment(config: Path, tmp_path: Path) -> None:
    env = {"POLYRELAY_CONFIG": str(config)}
    assert run("keys", "create", "--name", "env", cwd=tmp_path, env=env).returncode == 0
    listed = run("keys", "list", cwd=tmp_path, env=env)
    assert " env " in listed.stdout
    assert (tmp_path / "keys.db").exists()


def test_unknown_model_is_rejected(config: Path, tmp_path: Path) -> None:
    result = run(
        "keys", "create", "--config", str(config), "--name", "x", "--models", "gpt-9", cwd=tmp_path
    )
    assert result.returncode == 2
    assert "unknown model 'gpt-9'" in result.stderr


def test_unknown_config_key_exits_2_naming_key_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "providers:\n  emu: {type: openai, base_url: http://x/v1}\n"
        "models:\n  gpt-5-mini:\n    providr: emu\n"
    )
    result = run("keys", "list", "--config", str(bad), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert f"{bad}:5: unknown key 'providr' in models.gpt-5-mini" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_postgresql_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "pg.yaml"
    config.write_text(
        "database: postgresql://relay:hunter2@127.0.0.1:1/polyrelay\nproviders: {}\nmodels: {}\n"
    )
    result = run("keys", "list", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert "cannot connect to PostgreSQL at 127.0.0.1:1/polyrelay" in result.stderr
    assert "hunter2" not in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["serve"],
        ["emulator"],
        ["check"],
        ["keys"],
        ["keys", "create"],
        ["keys", "list"],
        ["keys", "revoke"],
    ],
)
def test_help_everywhere(command: list[str], tmp_path: Path) -> None:
    result = run(*command, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: polyrelay")
    assert "--config" in result.stdout or not command


def test_serve_and_emulator_pass_their_options(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from polyrelay import cli
    from polyrelay.settings import Settings

    served: list[Settings] = []
    emulated: list[tuple[str, int, int, float | None]] = []
    server = types.ModuleType("polyrelay.server")
    server.serve = served.append  # type: ignore[attr-defined]
    emulator = types.ModuleType("polyrelay.emulator")
    emulator.run_emulator = lambda *args: emulated.append(args)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "polyrelay.server", server)
    monkeypatch.setitem(sys.modules, "polyrelay.emulator", emulator)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("POLYRELAY_CONFIG", raising=False)
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(var, raising=False)

    assert cli.main(["serve", "--host", "0.0.0.0", "--port", "9001", "--workers", "3"]) == 0
    (settings,) = served
    assert (settings.host, settings.port, settings.workers) == ("0.0.0.0", 9001, 3)
    assert settings.providers["emulator-openai"].base_url.startswith("http://127.0.0.1:9001/")

    assert cli.main(["emulator", "--latency-ms", "5", "--tokens-per-second", "50"]) == 0
    assert emulated == [("127.0.0.1", 8090, 5, 50.0)]


def test_serve_refuses_a_number_of_workers_past_256(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from polyrelay import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("POLYRELAY_CONFIG", raising=False)
    served: list[object] = []
    server = types.ModuleType("polyrelay.server")
    server.serve = served.append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "polyrelay.server", server)  # never a real fork bomb
    with pytest.raises(SystemExit) as exited:
        cli.main(["serve", "--workers", "100000"])
    assert exited.value.code == 2 and not served
    assert "--workers: expected a number of processes from 1 to 256" in capsys.readouterr().err


@pytest.mark.parametrize("rate", ["-5", "0", "nan", "inf", "fast"])
def test_the_emulator_refuses_a_pace_that_is_no_positive_number(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], rate: str
) -> None:
    from polyrelay import cli

    emulated: list[object] = []
    emulator = types.ModuleType("polyrelay.emulator")
    emulator.run_emulator = lambda *args: emulated.append(args)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "polyrelay.emulator", emulator)
    with pytest.raises(SystemExit) as exited:
        cli.main(["emulator", "--tokens-per-second", rate])
    assert exited.value.code == 2 and not emulated
    assert "--tokens-per-second: expected a number of tokens > 0" in capsys.readouterr().err


@pytest.mark.parametrize("host", ["127.0.0.1", "http://127.0.0.1"])
def test_serve_on_a_port_in_use_or_no_address_exits_with_one_clear_error(
    config: Path, tmp_path: Path, host: str
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(
            "serve", "--config", str(config), "--host", host, "--port", str(port), cwd=tmp_path
        )
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"polyrelay: error: cannot listen on {host}:{port}: " in result.stderr
    assert "Traceback" not in result.stderr and "listening" not in result.stdout


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize(
    ("database", "message"),
    [
        ("postgresql://relay:hunter2@127.0.0.1:1/polyrelay", "cannot connect to PostgreSQL"),
        ("sqlite:////nonexistent-dir/polyrelay.db", "directory /nonexistent-dir does not exist"),
    ],
)
def test_serve_on_a_database_it_cannot_open_exits_with_one_clear_error(
    tmp_path: Path, workers: str, database: str, message: str
) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(f"database: {database}\nproviders: {{}}\nmodels: {{}}\n")
    result = run(
        "serve", "--config", str(config), "--port", "0", "--workers", workers, cwd=tmp_path
    )
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert "hunter2" not in result.stderr + result.stdout
    assert "listening" not in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["keys", "create", "--name", "big", "--rpm", "9" * 30],
        ["keys", "create", "--name", "big", "--token-budget", str(2**53 + 1)],
        ["keys", "create", "--name", "digits", "--tpm", "\u00b2"],
        ["keys", "create", "--name", "far", "--expires-in", "100000000d"],
        ["keys", "create", "--name", "huge", "--expires-in", "9" * 30 + "m"],
        ["usage", "--since", "9" * 30],
    ],
    ids=["rpm", "token-budget", "superscript", "expires-in", "expires-in-huge", "since"],
)
def test_a_number_past_what_the_database_holds_is_a_usage_error(
    args: list[str], config: Path, tmp_path: Path
) -> None:
    done = run(*args, "--config", str(config), cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "error: argument" in done.stderr


def test_an_ingest_path_too_long_for_the_system_is_a_failed_target(
    config: Path, tmp_path: Path
) -> None:
    done = run("search", "ingest", "x" * 500, "--config", str(config), cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "failed  " + "x" * 500 + ": File name too long" in done.stdout
