"""``/metrics`` bodies through prometheus_client's own exposition functions.

The same steps as ``prometheus_client.make_wsgi_app``, built from its public pieces so the
endpoint keeps its own hardened server (connection slots, read timeouts): the ``Accept`` header
picks the format (OpenMetrics 1.0 when asked, the classic text format 0.0.4 otherwise, which is
what every Prometheus scrapes without one), ``name[]`` query parameters restrict the output to
those metric families, and ``Accept-Encoding: gzip`` compresses the body.
"""

from __future__ import annotations

import gzip
from urllib.parse import parse_qs

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder, gzip_accepted


def render_metrics(
    registry: CollectorRegistry, *, accept: str, accept_encoding: str, query: str
) -> tuple[bytes, dict[str, str]]:
    """The body and headers answering one scrape of ``registry``.

    Runs on the request's thread; the registry's collectors take their own locks.
    """
    encoder, content_type = choose_encoder(accept)
    names = parse_qs(query).get("name[]")
    source = registry.restricted_registry(names) if names else registry
    body = encoder(source)
    headers = {"Content-Type": content_type}
    if gzip_accepted(accept_encoding):
        body = gzip.compress(body)  # as prometheus_client's own handler does
        headers["Content-Encoding"] = "gzip"
    return body, headers
