"""HTTP to the OnAir API with ``urllib.request``: one request per route of
the table, JSON in and out, error answers raised as :class:`OnAirError`."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, Callable, Mapping, Optional
from urllib.parse import urlencode

from .errors import OnAirError
from .routes import fill_path, route

#: Sent as ``User-Agent``.
USER_AGENT = "onair-python/0.1.0"


class Transport:
    """Sends requests to the routes of :data:`onair.ROUTES`."""

    def __init__(self, base_url: str, token: Callable[[], str], timeout: float = 30.0) -> None:
        """A transport to ``base_url`` that authenticates each request with ``token()``."""
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError("base_url is an http(s) URL")
        self._base_url = base_url.rstrip("/")
        self._token = token
        self._timeout = timeout

    def with_token(self, token: Callable[[], str]) -> "Transport":
        """A transport to the same server that authenticates with ``token()``."""
        return Transport(self._base_url, token, self._timeout)

    def request(
        self,
        name: str,
        params: Optional[Mapping[str, str]] = None,
        query: Optional[Mapping[str, Any]] = None,
        body: Any = None,
    ) -> Any:
        """Calls route ``name`` and returns its JSON answer; raises
        :class:`OnAirError` for an error answer. ``body=None`` sends no body;
        ``None`` values in ``query`` are left out."""
        r = route(name)
        url = self._base_url + fill_path(r, params or {})
        q = {k: v for k, v in (query or {}).items() if v is not None}
        if q:
            url += "?" + urlencode(q)
        headers = {
            "Accept": "application/json",
            "Authorization": f"Bearer {self._token()}",
            "User-Agent": USER_AGENT,
        }
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode("utf-8")
        req = urllib.request.Request(url, data=data, headers=headers, method=r.method)
        try:
            with urllib.request.urlopen(req, timeout=self._timeout) as res:
                text = res.read().decode("utf-8")
        except urllib.error.HTTPError as e:
            raise OnAirError.from_response(e.code, e.read().decode("utf-8", "replace")) from None
        return json.loads(text) if text else {}
