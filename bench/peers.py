"""The gateways under test: polyrelay itself, and LiteLLM's proxy as the peer (`--peer litellm`).

Both are configured on the same nginx upstream with the same model names (bench/upstream.py
`MODELS`, `-sse` twins for streams), so a path's request body is the same for both.
LiteLLM lives in a throwaway virtual environment (bench/.peer-venv-<version>-<tag>, gitignored,
kept between runs); it is never a dependency of the project. Both gateways run on the same
Python: polyrelay on the one running the benchmark, LiteLLM in a venv made from that
interpreter's base (`make bench BENCH_PYTHON=...` picks another for both).

The version is pinned: releases of LiteLLM have been pulled from the registry after a
supply-chain compromise, so move the pin only to a release you have checked. Newer releases
need a `litellm-proxy` package that the registry does not serve here.
"""

from __future__ import annotations

import hashlib
import os
import platform
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import bodies
from bench.load import post
from bench.procs import Child, free_port
from bench.upstream import MODELS, Upstream, gateway_config

__all__ = [
    "LITELLM_VERSION",
    "Target",
    "base_interpreter",
    "peer_venv",
    "start_litellm",
    "start_polyrelay",
]

LITELLM_VERSION = "1.106.12"
_BENCH_DIR = Path(__file__).resolve().parent
PEER_PINS = _BENCH_DIR / "litellm-peer.txt"
# LiteLLM's provider prefix per upstream protocol.
_LITELLM_PREFIX = {"openai": "openai", "anthropic": "anthropic", "openai-responses": "openai"}
# Its `openai/` provider answers /v1/messages and /v1/responses by calling the upstream's
# Responses API, which a Chat-Completions-only server lacks (the 404 of the chat-only
# prefix). `hosted_vllm/` is its generic OpenAI-compatible (chat only) provider, so the
# translated paths to an OpenAI chat upstream use that model instead.
_LITELLM_COMPAT = "bench-openai-compat"
_LITELLM_PATH_MODELS = {
    "messages→openai": _LITELLM_COMPAT,
    "claude-code→openai": _LITELLM_COMPAT,
    "responses→openai": _LITELLM_COMPAT,
    "responses→openai" + bodies.UNSTORED: _LITELLM_COMPAT,
}


@dataclass
class Target:
    name: str
    child: Child
    port: int
    key: str
    start_seconds: float | None = None
    start_error: str = ""
    model_names: dict[str, str] = field(default_factory=dict)
    """upstream protocol -> the model name clients send for it (streams add `-sse`)."""
    path_models: dict[str, str] = field(default_factory=dict)
    """path -> a model name that overrides `model_names` for that path."""

    def url(self, client_protocol: str) -> str:
        return f"http://127.0.0.1:{self.port}{bodies.CLIENT_PATHS[client_protocol]}"

    def model(self, upstream_protocol: str, stream: bool, path: str = "") -> str:
        name = self.path_models.get(path) or self.model_names[upstream_protocol]
        return name + ("-sse" if stream else "")


def _wait_first_200(target: Target, started: float, timeout: float) -> None:
    """Poll chat→openai until a proxied request answers 200 with a good body."""
    body = bodies.client_request("chat", target.model("openai", False), False)
    deadline = started + timeout
    last = ""
    while time.monotonic() < deadline:
        if not target.child.alive():
            target.start_error = f"exited with {target.child.proc.returncode}"
            break
        status, text = post(target.url("chat"), body, target.key, timeout=5)
        exact = target.name != "polyrelay-slow"  # the emulator's reply is not the fixed text
        if status == 200 and (not exact or bodies.check_response("chat", False, 200, text) is None):
            target.start_seconds = time.monotonic() - started
            return
        last = f"HTTP {status}: {text[:200]}"
        time.sleep(0.01)
    target.start_error = target.start_error or f"no proxied 200 in {timeout:g}s ({last})"
    target.start_error += "\n" + target.child.tail()


def start_polyrelay(
    upstream: Upstream | None,
    workdir: Path,
    workers: int = 1,
    config_text: str | None = None,
    database: str | None = None,
) -> Target:
    """polyrelay on the nginx upstream, or (`config_text` with __PORT__/__KEY__) on another;
    on `database` (a URL) when given, else on a SQLite file in `workdir`."""
    port = free_port()
    key = "sk-bench-" + secrets.token_urlsafe(36)
    config = workdir / f"polyrelay-{port}.yaml"
    if config_text is None:
        assert upstream is not None
        config_text = gateway_config(upstream, port, key, database or workdir / f"bench-{port}.db")
    text = config_text
    config.write_text(text.replace("__KEY__", key).replace("__PORT__", str(port)))
    argv = [sys.executable, "-m", "polyrelay", "serve", "--config", str(config)]
    argv += ["--port", str(port), "--workers", str(workers)]
    started = time.monotonic()
    child = Child("polyrelay", argv, workdir / f"polyrelay-{port}.log")
    if upstream is None:
        target = Target("polyrelay-slow", child, port, key, model_names={"openai": "bench-slow"})
    else:
        target = Target("polyrelay", child, port, key, model_names=dict(MODELS))
    _wait_first_200(target, started, timeout=30)
    return target


def base_interpreter() -> Path:
    """The interpreter this benchmark (and so polyrelay) runs on; for a venv's python, the
    one the venv was made from, which the peer's venv is made from too."""
    return Path(getattr(sys, "_base_executable", "") or sys.executable).resolve()


def peer_venv() -> Path:
    """The peer venv of `base_interpreter()`, one per interpreter (its version and path):
    an interpreter's build changes both gateways' speed (bench/README.md), so they must
    never run on different ones."""
    tag = hashlib.sha256(str(base_interpreter()).encode()).hexdigest()[:8]
    return _BENCH_DIR / f".peer-venv-{platform.python_version()}-{tag}"


def ensure_litellm_venv() -> Path:
    """A peer venv with litellm[proxy]==LITELLM_VERSION; the `litellm` executable."""
    base, venv = base_interpreter(), peer_venv()
    exe = venv / "bin" / "litellm"
    pins = hashlib.sha256(PEER_PINS.read_bytes()).hexdigest()[:12]
    marker = venv / f".litellm-{LITELLM_VERSION}-{pins}"
    if exe.exists() and marker.exists():
        return exe
    print(f"installing litellm[proxy]=={LITELLM_VERSION} into {venv} (minutes) ...")
    # Its dependencies are pinned too (PEER_PINS), so a new release of one of them cannot
    # change or break the peer from one run to the next.
    requirement = [f"litellm[proxy]=={LITELLM_VERSION}", "-c", str(PEER_PINS)]
    uv = shutil.which("uv") or str(Path.home() / ".local/bin/uv")
    if Path(uv).exists():
        venv_argv = [uv, "venv", "-q", "--allow-existing", "-p", str(base), str(venv)]
        subprocess.run(venv_argv, check=True)
        python = str(venv / "bin" / "python")
        subprocess.run([uv, "pip", "install", "-q", "-p", python, *requirement], check=True)
    else:
        subprocess.run([str(base), "-m", "venv", str(venv)], check=True)
        pip = str(venv / "bin" / "pip")
        subprocess.run([pip, "install", "-q", *requirement], check=True)
    marker.touch()
    return exe


def litellm_config(upstream: Upstream, master_key: str) -> str:
    lines = ["model_list:"]
    entries = [(p, name, _LITELLM_PREFIX[p]) for p, name in MODELS.items()]
    entries.append(("openai", _LITELLM_COMPAT, "hosted_vllm"))
    for protocol, name, prefix in entries:
        for stream in (False, True):
            model = f"{prefix}/{protocol}-bench"
            lines += [
                f"  - model_name: {name}{'-sse' if stream else ''}",
                "    litellm_params:",
                f"      model: {model}",
                f"      api_base: {upstream.base_url(protocol, stream)}",
                "      api_key: sk-upstream",
            ]
    lines += [
        "litellm_settings:",
        "  telemetry: false",
        "  drop_params: true",
        "general_settings:",
        f"  master_key: {master_key}",  # it refuses to start without one
    ]
    return "\n".join(lines) + "\n"


def start_litellm(upstream: Upstream, workdir: Path) -> Target:
    exe = ensure_litellm_venv()
    port = free_port()
    config = workdir / "litellm.yaml"
    key = "sk-" + secrets.token_hex(24)
    config.write_text(litellm_config(upstream, key))
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no cost-map download at import
        "LITELLM_TELEMETRY": "False",
        "LITELLM_LOG": "ERROR",
        "PATH": f"{exe.parent}:{os.environ.get('PATH', '')}",
    }
    env.pop("VIRTUAL_ENV", None)
    argv = [str(exe), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--num_workers", "1"]
    started = time.monotonic()
    child = Child("litellm", argv, workdir / "litellm.log", env=env)
    target = Target("litellm", child, port, key, model_names=dict(MODELS))
    target.path_models = dict(_LITELLM_PATH_MODELS)
    _wait_first_200(target, started, timeout=120)
    return target
