"""Webhook signatures: ``X-Signature`` is the lowercase hex HMAC-SHA256 of
the raw request body with the API secret (Stream's scheme)."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Optional, Union

_HEX64 = re.compile(r"[0-9a-f]{64}")


def verify_webhook_signature(
    api_secret: str, body: Union[bytes, bytearray, memoryview, str], signature: Optional[str]
) -> bool:
    """Whether ``signature`` signs ``body`` under ``api_secret``, compared in
    constant time. ``body`` must be the raw bytes received (a ``str`` is
    taken as UTF-8), not re-serialized JSON. Anything malformed is ``False``."""
    if not isinstance(signature, str) or not _HEX64.fullmatch(signature):
        return False
    if isinstance(body, str):
        raw = body.encode("utf-8")
    elif isinstance(body, (bytes, bytearray, memoryview)):
        raw = bytes(body)
    else:
        return False
    expected = hmac.new(api_secret.encode("utf-8"), raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)
