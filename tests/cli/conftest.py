"""Fixtures for the command-line tests: a real status endpoint with a canned document."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from yesman_recovery.actors.http import StatusServer

STATUS_DOCUMENT: dict[str, Any] = {
    "version": "0.1.0",
    "healthy": True,
    "tree": {
        "id": "root",
        "kind": "supervisor",
        "state": "running",
        "incarnation": 1,
        "restarts": 0,
        "uptime_seconds": 3725.0,
        "last_exit": None,
        "children": [
            {
                "id": "metrics",
                "kind": "worker",
                "state": "running",
                "incarnation": 1,
                "restarts": 0,
                "uptime_seconds": 12.3,
                "last_exit": None,
            },
            {
                "id": "sessions",
                "kind": "supervisor",
                "state": "restarting",
                "incarnation": 3,
                "restarts": 2,
                "uptime_seconds": None,
                "last_exit": "crashed: ValueError('x')",
                "children": [
                    {
                        "id": "[agent] 1",
                        "kind": "worker",
                        "state": "failed",
                        "incarnation": 2,
                        "restarts": 1,
                        "uptime_seconds": 90061.0,
                        "last_exit": None,
                    }
                ],
            },
        ],
    },
}


@pytest.fixture
def status_document() -> dict[str, Any]:
    """The document :func:`status_endpoint` serves."""
    return STATUS_DOCUMENT


@pytest.fixture
def status_endpoint() -> Iterator[StatusServer]:
    """A real StatusServer on a free loopback port serving :data:`STATUS_DOCUMENT`."""
    server = StatusServer(
        "127.0.0.1", 0, CollectorRegistry(), lambda: True, lambda: STATUS_DOCUMENT
    )
    server.start()
    yield server
    server.stop()
