"""The near-zero-cost upstream: nginx serving the fixed bodies of bench/bodies.py.

nginx cannot read a request body to decide whether to stream, so every body has its own
URL prefix: `/plain/<protocol>/...` answers JSON and `/sse/<protocol>/...` the event stream.
A prefix holds only its protocol's path, so a gateway that calls the wrong upstream API
gets a 404 instead of a body that would hide the mistake. The gateway
gets one provider per (protocol, prefix) and one model per provider (see `gateway_config`),
and a client asking for a stream names the `-sse` model.

The bodies are files, not `return 200 '...'` strings, because nginx limits one config token
to 4 KB and the streams are larger. Its static handler refuses POST with 405, so
`error_page 405 =200 $uri` re-serves the same file as the 200 answer.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from bench import bodies
from bench.procs import Child, free_port, wait_port

__all__ = [
    "MODELS",
    "Upstream",
    "emulator_config",
    "gateway_config",
    "start_emulator",
    "start_nginx",
]

_FILES = {
    "openai": "v1/chat/completions",
    "anthropic": "v1/messages",
    "openai-responses": "v1/responses",
}
# The provider's base_url below /plain or /sse: the gateway appends its own path to it.
_BASE_SUFFIX = {"openai": "/v1", "anthropic": "", "openai-responses": "/v1"}
# The model name each provider type serves in the benchmark (the `-sse` twin streams).
MODELS = {"openai": "bench-openai", "anthropic": "bench-anthropic", "openai-responses": "bench-or"}

_NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
error_log {dir}/nginx-error.log warn;
pid {dir}/nginx.pid;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body-temp;
    client_max_body_size 64m;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    sendfile on;
    tcp_nodelay on;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {dir}/www;
        location /plain/ {{ default_type application/json; error_page 405 =200 $uri; }}
        location /sse/ {{ default_type text/event-stream; error_page 405 =200 $uri; }}
        location / {{
            default_type application/json;
            return 404 '{{"error":{{"type":"not_found_error","message":"no benchmark body"}}}}';
        }}
    }}
}}
"""


@dataclass
class Upstream:
    child: Child
    port: int

    def base_url(self, protocol: str, stream: bool) -> str:
        prefix = "sse" if stream else "plain"
        return f"http://127.0.0.1:{self.port}/{prefix}/{protocol}{_BASE_SUFFIX[protocol]}"

    def url(self, protocol: str, stream: bool) -> str:
        """The full URL of a body, for the direct (no gateway) baseline."""
        prefix = "sse" if stream else "plain"
        return f"http://127.0.0.1:{self.port}/{prefix}/{protocol}/{_FILES[protocol]}"


def start_nginx(workdir: Path) -> Upstream:
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/bin")
    if nginx is None:
        raise RuntimeError("nginx is not installed (apt-get install -y nginx-light)")
    for protocol, path in _FILES.items():
        for stream in (False, True):
            target = workdir / "www" / ("sse" if stream else "plain") / protocol / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(bodies.upstream_body(protocol, stream))
    (workdir / "body-temp").mkdir(exist_ok=True)
    port = free_port()
    conf = workdir / "nginx.conf"
    conf.write_text(_NGINX_CONF.format(dir=workdir, port=port))
    argv = [nginx, "-p", str(workdir), "-c", str(conf), "-e", str(workdir / "nginx-error.log")]
    child = Child("nginx", argv, workdir / "nginx.log")
    if not wait_port(port, 10):
        child.stop()
        raise RuntimeError(f"nginx did not start:\n{child.tail()}")
    return Upstream(child, port)


def start_emulator(workdir: Path, tokens_per_second: float) -> tuple[Child, int]:
    """`polyrelay emulator` pacing its streams, the upstream of the slow-stream test."""
    port = free_port()
    argv = [sys.executable, "-m", "polyrelay", "emulator", "--port", str(port)]
    argv += ["--tokens-per-second", str(tokens_per_second)]
    child = Child("emulator", argv, workdir / "emulator.log")
    if not wait_port(port, 20):
        child.stop()
        raise RuntimeError(f"the emulator did not start:\n{child.tail()}")
    return child, port


def gateway_config(upstream: Upstream, port: int, key: str, database: Path | str) -> str:
    """polyrelay YAML: providers `nginx-<type>` and `nginx-<type>-sse`, a model for each.
    `database`: a SQLite file, or a database URL."""
    url = database if isinstance(database, str) else f"sqlite:///{database}"
    lines = [
        f"listen: 127.0.0.1:{port}",
        f"database: {url}",
        "log_level: warning",
        "providers:",
    ]
    for protocol in _FILES:
        for stream in (False, True):
            name = f"nginx-{protocol}" + ("-sse" if stream else "")
            url = upstream.base_url(protocol, stream)
            lines.append(f"  {name}: {{type: {protocol}, base_url: {url}, api_key: sk-upstream}}")
    lines.append("models:")
    for protocol, model in MODELS.items():
        lines.append(f"  {model}: {{provider: nginx-{protocol}, model: {protocol}-bench}}")
        lines.append(f"  {model}-sse: {{provider: nginx-{protocol}-sse, model: {protocol}-bench}}")
    lines += ["keys:", f"  - {{key: {key}, name: bench}}"]
    return "\n".join(lines) + "\n"


def emulator_config(emulator_port: int, database: Path) -> str:
    """polyrelay YAML for the slow streams; `start_polyrelay` fills __PORT__ and __KEY__."""
    url = f"http://127.0.0.1:{emulator_port}"
    return "\n".join(
        [
            "listen: 127.0.0.1:__PORT__",
            f"database: sqlite:///{database}",
            "log_level: warning",
            "providers:",
            f"  emulator: {{type: openai, base_url: {url}/v1, api_key: sk-upstream}}",
            "models:",
            "  bench-slow: {provider: emulator, model: gpt-slow}",
            "keys:",
            "  - {key: __KEY__, name: bench}",
            "",
        ]
    )
