"""``OnAir``: an app backend's handle on OnAir, holding the API key and
secret. It mints tokens, calls the API with server tokens, acts as one of
the app's users when a route needs a user, and checks webhooks."""

from __future__ import annotations

from typing import Optional, Sequence, Union

from .api import OnAirApi
from .tokens import server_token, user_token
from .transport import Transport
from .webhook import verify_webhook_signature


class OnAir(OnAirApi):
    """The backend SDK. Each request carries a fresh server token (valid 5
    minutes), so a long-lived instance never holds an expired one.

    >>> onair = OnAir("http://127.0.0.1:7880", api_key, api_secret)  # doctest: +SKIP
    >>> token = onair.create_token("alice", expires_in=3600)          # doctest: +SKIP
    """

    def __init__(self, base_url: str, api_key: str, api_secret: str, *, timeout: float = 30.0) -> None:
        """A backend client for the server at ``base_url``; ``timeout`` is per request, in seconds."""
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("api_key is required")
        if not isinstance(api_secret, str) or not api_secret:
            raise ValueError("api_secret is required")
        self._api_key = api_key
        self._api_secret = api_secret
        super().__init__(Transport(base_url, lambda: server_token(api_key, api_secret), timeout))

    def __repr__(self) -> str:
        return f"OnAir(api_key={self._api_key!r})"

    def create_token(
        self,
        user_id: str,
        *,
        expires_in: Optional[int] = None,
        role: Optional[str] = None,
        call_cids: Optional[Sequence[str]] = None,
        name: Optional[str] = None,
        image: Optional[str] = None,
    ) -> str:
        """A user token for ``user_id`` (HS256, ``{iss, sub, exp, iat, name?,
        image?, role?, call_cids?}``) for the user's app: valid ``expires_in``
        seconds (default 3600), optionally with a global ``role`` and limited
        to ``call_cids``."""
        return user_token(
            self._api_key, self._api_secret, user_id,
            expires_in=expires_in, role=role, call_cids=call_cids, name=name, image=image,
        )

    def create_server_token(self, *, expires_in: Optional[int] = None) -> str:
        """A server token (``{iss, exp, iat, server: true}``), valid ``expires_in`` seconds (default 300)."""
        return server_token(self._api_key, self._api_secret, expires_in=expires_in)

    def as_user(
        self,
        user_id: str,
        *,
        expires_in: Optional[int] = None,
        role: Optional[str] = None,
        call_cids: Optional[Sequence[str]] = None,
        name: Optional[str] = None,
        image: Optional[str] = None,
    ) -> OnAirApi:
        """The API as user ``user_id`` sees it: each request carries a fresh
        user token (valid 5 minutes unless ``expires_in`` says otherwise), for
        the routes that need a user (join, ring, accept, reject,
        request_permission, devices) or to act with the user's rights."""
        opts = dict(expires_in=300 if expires_in is None else expires_in, role=role,
                    call_cids=call_cids, name=name, image=image)
        key, secret = self._api_key, self._api_secret
        user_token(key, secret, user_id, **opts)  # refuse bad options now, not at the first request
        return OnAirApi(self._transport.with_token(lambda: user_token(key, secret, user_id, **opts)))

    def verify_webhook(self, body: Union[bytes, str], signature: Optional[str]) -> bool:
        """Whether ``signature`` (the ``X-Signature`` header) signs ``body``
        (the raw request body, as received) with this API secret. Constant-time."""
        return verify_webhook_signature(self._api_secret, body, signature)
