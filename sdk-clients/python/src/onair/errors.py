"""The one error the SDK raises for an API refusal."""

from __future__ import annotations

import json
from typing import Any, Optional


class OnAirError(Exception):
    """An error answer of the OnAir API: its HTTP ``status`` and the body's
    ``code``, ``message`` and ``details`` (e.g. ``401 bad_signature``,
    ``403 missing_capability``, ``409 call_ended``). An answer without such
    a body gets the code ``http_<status>``."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        #: HTTP status.
        self.status = status
        #: Machine-readable reason from the API (``expired``, ``not_found``, …).
        self.code = code
        #: Human-readable explanation from the API.
        self.message = message
        #: Extra context the API gave (e.g. ``{"capability": …}``), if any.
        self.details = details

    @classmethod
    def from_response(cls, status: int, text: str) -> "OnAirError":
        """Reads an error answer (JSON ``{code, message}`` or anything else)."""
        try:
            body: Optional[Any] = json.loads(text)
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("code"), str):
            message = body.get("message")
            return cls(status, body["code"], message if isinstance(message, str) else body["code"], body.get("details"))
        return cls(status, f"http_{status}", text[:200] or f"HTTP {status}")
