"""The API as one caller (the server, or a user) sees it: users, call types,
events, devices, and calls."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence

from .call import Call
from .transport import Transport

JSON = Dict[str, Any]


class OnAirApi:
    """The routes outside a call, and :meth:`call`. Methods marked "user
    token" are refused with a server token: use :meth:`OnAir.as_user`."""

    def __init__(self, transport: Transport) -> None:
        """An API reached through ``transport``."""
        self._transport = transport

    def request(
        self,
        name: str,
        params: Optional[Mapping[str, str]] = None,
        query: Optional[Mapping[str, Any]] = None,
        body: Any = None,
    ) -> Any:
        """Low level: calls route ``name`` of :data:`onair.ROUTES`."""
        return self._transport.request(name, params=params, query=query, body=body)

    def call(self, call_type: str, call_id: str) -> Call:
        """The call ``call_type:call_id`` (nothing is sent until a method is called)."""
        return Call(self._transport, call_type, call_id)

    def upsert_users(self, users: Sequence[JSON]) -> JSON:
        """Creates or replaces up to 100 users (``{id, name?, image?, role?,
        custom?}`` each; server token); answers ``{"users": {id: user}}``."""
        return self._transport.request("upsert_users", body={"users": list(users)})

    def list_call_types(self) -> JSON:
        """Lists the call types: ``{"call_types": [...]}``."""
        return self._transport.request("list_call_types")

    def get_call_type(self, name: str) -> JSON:
        """Reads one call type."""
        return self._transport.request("get_call_type", params={"name": name})

    def update_call_type(
        self, name: str, *, grants: Optional[Mapping[str, Sequence[str]]] = None, settings: Optional[JSON] = None
    ) -> JSON:
        """Creates or changes a call type (server token): ``grants`` replace
        those roles' grants, ``settings`` are merged on top."""
        body: JSON = {}
        if grants is not None:
            body["grants"] = {role: list(caps) for role, caps in grants.items()}
        if settings is not None:
            body["settings"] = settings
        return self._transport.request("update_call_type", params={"name": name}, body=body)

    def list_events(
        self, *, after: Optional[str] = None, call_cid: Optional[str] = None, limit: Optional[int] = None
    ) -> JSON:
        """One page of the event log, oldest first: ``{"events": [...],
        "next": id}``. Every event for a server token (or one call's with
        ``call_cid``); pass ``next`` as ``after`` to read on."""
        query = {"after": after, "call_cid": call_cid, "limit": limit}
        return self._transport.request("list_events", query=query)

    def add_device(
        self,
        id: str,
        push_provider: str,
        *,
        push_provider_name: Optional[str] = None,
        voip_token: Optional[bool] = None,
    ) -> JSON:
        """Registers one of the user's phones for pushes (user token);
        ``push_provider`` is ``apn`` or ``firebase``."""
        body: JSON = {"id": id, "push_provider": push_provider}
        if push_provider_name is not None:
            body["push_provider_name"] = push_provider_name
        if voip_token is not None:
            body["voip_token"] = voip_token
        return self._transport.request("add_device", body=body)

    def list_devices(self) -> JSON:
        """Lists the user's phones (user token)."""
        return self._transport.request("list_devices")

    def delete_device(self, id: str) -> JSON:
        """Forgets one of the user's phones by its token (user token)."""
        return self._transport.request("delete_device", query={"id": id})

    def list_webhooks(self) -> JSON:
        """The webhook endpoints: from OnAir's config and those set here (server token)."""
        return self._transport.request("list_webhooks")

    def set_webhooks(self, webhooks: List[JSON]) -> JSON:
        """Replaces the endpoints set over the API (server token): each
        ``{"url": …, "events": ["call.*"]}``, ``events`` optional."""
        return self._transport.request("set_webhooks", body={"webhooks": webhooks})

    def list_failed_webhooks(self, *, after: Optional[str] = None, limit: Optional[int] = None) -> JSON:
        """Deliveries given up on (parked), a page at a time (server token)."""
        return self._transport.request("list_failed_webhooks", query={"after": after, "limit": limit})

    def redeliver_webhooks(self, event_ids: Optional[List[str]] = None) -> JSON:
        """Puts parked deliveries back in their queues: these events, or all (server token)."""
        body: JSON = {} if event_ids is None else {"event_ids": event_ids}
        return self._transport.request("redeliver_webhooks", body=body)
