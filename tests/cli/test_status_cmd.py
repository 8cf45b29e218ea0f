"""``yesman-recovery status`` against a real endpoint."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client import CollectorRegistry

from yesman_recovery.actors.http import StatusServer
from yesman_recovery.cli import main
from yesman_recovery.cli.common import format_uptime
from yesman_recovery.cli.status_cmd import status_url


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_renders_every_node_with_state_restarts_uptime_and_last_exit(
    status_endpoint: StatusServer,
) -> None:
    code, out, _ = invoke("status", "--url", status_endpoint.url)
    assert code == 0
    assert "healthy" in out
    lines = out.splitlines()
    root = next(line for line in lines if "root" in line)
    assert "supervisor" in root
    assert "running" in root
    assert "up 1h 2m" in root
    sessions = next(line for line in lines if "sessions" in line)
    assert "restarting" in sessions
    assert "restarts 2" in sessions
    assert "last exit: crashed: ValueError('x')" in sessions
    agent = next(line for line in lines if "[agent] 1" in line)
    assert "failed" in agent
    assert "up 1d 1h" in agent
    # children are drawn below their supervisor
    assert lines.index(sessions) < lines.index(agent)


def test_json_prints_the_document(
    status_endpoint: StatusServer, status_document: dict[str, object]
) -> None:
    code, out, _ = invoke("status", "--json", "--url", status_endpoint.url + "/status")
    assert code == 0
    assert json.loads(out) == status_document


def test_url_without_scheme_is_accepted(status_endpoint: StatusServer) -> None:
    host, port = status_endpoint.address
    code, _, _ = invoke("status", "--url", f"{host}:{port}/")
    assert code == 0


def test_the_default_url_comes_from_the_configuration(
    status_endpoint: StatusServer, tmp_path: Path
) -> None:
    host, port = status_endpoint.address
    config = tmp_path / "c.toml"
    config.write_text(f'[metrics]\nlisten = "{host}:{port}"\n')
    code, out, _ = invoke("status", "--json", "--config", str(config))
    assert code == 0
    assert json.loads(out)["tree"]["id"] == "root"


def test_no_daemon_is_a_clear_message_and_exit_1(status_endpoint: StatusServer) -> None:
    url = status_endpoint.url
    status_endpoint.stop()
    code, out, err = invoke("status", "--url", url)
    assert code == 1
    assert out == ""
    assert f"no daemon answers at {url}/status" in err
    assert "yesman-recovery run" in err
    assert "Traceback" not in err


def test_an_endpoint_error_is_reported_with_its_detail() -> None:
    def broken() -> dict[str, object]:
        raise RuntimeError("tree is being rebuilt")

    server = StatusServer("127.0.0.1", 0, CollectorRegistry(), lambda: True, broken)
    with server:
        code, _, err = invoke("status", "--url", server.url)
    assert code == 1
    assert "answered 503" in err
    assert "tree is being rebuilt" in err


class _Canned(BaseHTTPRequestHandler):
    body = b""
    code = 200

    def do_GET(self) -> None:
        self.send_response(self.code)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def foreign() -> Iterator[tuple[str, type[_Canned]]]:
    """Some other HTTP server: answers whatever the test puts in the handler class."""
    handler = type("Handler", (_Canned,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.mark.parametrize(
    ("code", "body", "message"),
    [
        (200, b"<html>hello</html>", "did not answer with JSON"),
        (200, b'{"version": "1"}', "without a status tree"),
        (500, b"boom", "answered 500: boom"),
        (502, b'["x"]', 'answered 502: ["x"]'),
        (404, b"", "answered 404: no detail"),
    ],
)
def test_something_else_answering_is_exit_1(
    foreign: tuple[str, type[_Canned]], code: int, body: bytes, message: str
) -> None:
    url, handler = foreign
    handler.code, handler.body = code, body
    exit_code, _, err = invoke("status", "--url", url)
    assert exit_code == 1
    assert message in err


def test_status_url_and_uptime_formatting() -> None:
    assert status_url("127.0.0.1:9464") == "http://127.0.0.1:9464/status"
    assert status_url("http://h:1/status") == "http://h:1/status"
    assert [format_uptime(s) for s in (5.25, 192, 7500, 4 * 86400 + 7200)] == [
        "5.2s",
        "3m 12s",
        "2h 5m",
        "4d 2h",
    ]


def test_a_port_0_configuration_asks_for_the_printed_address(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[metrics]\nlisten = "127.0.0.1:0"\n')
    result = CliRunner().invoke(main, ["status", "--config", str(config)])
    assert result.exit_code == 1
    assert "names port 0" in result.output
    assert "pass --url" in result.output
