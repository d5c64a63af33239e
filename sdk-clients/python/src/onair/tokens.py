"""OnAir's server and user tokens: the exact claims ``onair token server`` /
``onair token user`` put in them. The server refuses claims it does not
know, so nothing else is added."""

from __future__ import annotations

import time
from typing import Any, Dict, Optional, Sequence

from ._jwt import sign_hs256

#: Default validity of a user token, in seconds (as ``onair token user``).
USER_TOKEN_TTL = 3600
#: Default validity of a server token, in seconds.
SERVER_TOKEN_TTL = 300


def _validity(expires_in: Optional[int], default: int) -> int:
    seconds = default if expires_in is None else expires_in
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds <= 0:
        raise ValueError("expires_in is a whole number of seconds above 0")
    return seconds


def user_token(
    api_key: str,
    api_secret: str,
    user_id: str,
    *,
    expires_in: Optional[int] = None,
    role: Optional[str] = None,
    call_cids: Optional[Sequence[str]] = None,
    name: Optional[str] = None,
    image: Optional[str] = None,
) -> str:
    """A user token ``{iss, sub, exp, iat, name?, image?, role?, call_cids?}``
    signed with ``api_secret``; valid ``expires_in`` seconds (default 3600)."""
    if not isinstance(user_id, str) or not user_id:
        raise TypeError("user_id is a non-empty string")
    iat = int(time.time())
    claims: Dict[str, Any] = {
        "iss": api_key,
        "sub": user_id,
        "exp": iat + _validity(expires_in, USER_TOKEN_TTL),
        "iat": iat,
    }
    if name is not None:
        claims["name"] = name
    if image is not None:
        claims["image"] = image
    if role is not None:
        claims["role"] = role
    if call_cids is not None:
        if isinstance(call_cids, str):
            raise TypeError("call_cids is a list of call cids `type:id`")
        for cid in call_cids:
            if not isinstance(cid, str) or ":" not in cid:
                raise TypeError(f"call_cids holds call cids `type:id`, got {cid!r}")
        claims["call_cids"] = list(call_cids)
    return sign_hs256(claims, api_secret)


def server_token(api_key: str, api_secret: str, *, expires_in: Optional[int] = None) -> str:
    """A server token ``{iss, exp, iat, server: true}`` signed with
    ``api_secret``: full access to ``/v1``; valid ``expires_in`` seconds (default 300)."""
    iat = int(time.time())
    exp = iat + _validity(expires_in, SERVER_TOKEN_TTL)
    return sign_hs256({"iss": api_key, "exp": exp, "iat": iat, "server": True}, api_secret)
