"""What the tests hold every web server's image and /whoami to, written once.

``/whoami`` is a documented interface (README, the exercises): these are the keys every server
answers with, whatever else a server adds (multiprocess-web its worker, the WSGI site its
request). The image check is what every service image promises compose and Docker: the
unprivileged user, a stdlib healthcheck, the server as PID 1 in exec form, SIGTERM to stop it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # unit tests use WHOAMI_KEYS without loading the Docker libraries
    from tests.support.containers import Lab

WHOAMI_KEYS = frozenset(
    {
        "client_ip",
        "client_port",
        "server_ip",
        "server_port",
        "hostname",
        "pid",
        "thread",
        "request_index",
        "headers",
    }
)
"""The keys of every server's ``GET /whoami`` answer."""


def assert_service_image(lab: Lab, service: str, port: int, module: str) -> None:
    """The image of ``service`` runs ``python3 -m <module>`` as PID 1 (exec form, no shell), as
    the user ``lab``, stops on SIGTERM, exposes ``port`` and probes ``/healthz`` there."""
    config: dict[str, Any] = lab.client.images.get(lab.images.tag(service)).attrs["Config"]
    assert config["User"] == "lab"
    assert config["Healthcheck"]["Test"] == [
        "CMD",
        "python3",
        "-m",
        "socketlab.healthcheck",
        f"http://127.0.0.1:{port}/healthz",
    ]
    assert config["Cmd"][:3] == ["python3", "-m", module]
    assert config.get("Entrypoint") in (None, []), "the server must be PID 1, not under a shell"
    assert config["StopSignal"] == "SIGTERM"
    assert f"{port}/tcp" in config["ExposedPorts"]
