"""HS256 JSON Web Tokens with the standard library, laid out as OnAir's own
minting lays them out: header ``{"typ":"JWT","alg":"HS256"}``, compact JSON,
base64url without padding."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any, Mapping


def b64url(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


_HEADER = b64url(_json({"typ": "JWT", "alg": "HS256"}))


def sign_hs256(claims: Mapping[str, Any], secret: str) -> str:
    """Signs ``claims`` with ``secret`` (HS256) and returns the compact JWT."""
    signing_input = f"{_HEADER}.{b64url(_json(dict(claims)))}"
    digest = hmac.new(secret.encode("utf-8"), signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(digest)}"
