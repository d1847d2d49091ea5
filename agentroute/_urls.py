"""What counts as a provider's ``base_url``: an ``http://`` or ``https://`` URL with a host.

Checked when the config is validated and when a built-in provider is built in Python, so a
``base_url`` that is something else — most often the API key, pasted into the wrong field —
is a ConfigurationError naming the field, not an httpx error at the first call that quotes it.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

__all__ = ["HTTP_URL_RULE", "is_http_url"]

HTTP_URL_RULE = "must be an http:// or https:// URL with a host (e.g. https://api.openai.com/v1)"
"""The rule, as error messages state it (never with the value)."""

_UNSENDABLE = re.compile(r"[\s\x00-\x1f\x7f]")


def is_http_url(url: str) -> bool:
    """Whether ``url`` is an absolute http(s) URL with a host, a valid port if any, and no
    whitespace or control character anywhere."""
    if _UNSENDABLE.search(url):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
