"""The REST routes this SDK calls: one table, the only place paths live.
Every method of the SDK goes through it by name, so the OpenAPI coverage
test can compare it with the server's ``/openapi.json``."""

from __future__ import annotations

import re
from typing import Dict, Mapping, NamedTuple, Tuple
from urllib.parse import quote


class Route(NamedTuple):
    """One REST route."""

    #: The SDK's name for the route (also the method that calls it).
    name: str
    #: HTTP method.
    method: str
    #: Path template, as in the OpenAPI spec (``/v1/calls/{type}/{id}/go_live``).
    path: str
    #: The token it takes: ``server``, ``user`` (use ``OnAir.as_user``) or ``any``.
    auth: str


_CALL = "/v1/calls/{type}/{id}"

#: Every route the SDK calls.
ROUTES: Tuple[Route, ...] = (
    Route("upsert_users", "PUT", "/v1/users", "server"),
    Route("list_call_types", "GET", "/v1/call-types", "any"),
    Route("get_call_type", "GET", "/v1/call-types/{name}", "any"),
    Route("update_call_type", "PUT", "/v1/call-types/{name}", "server"),
    Route("list_events", "GET", "/v1/events", "any"),
    Route("add_device", "POST", "/v1/devices", "user"),
    Route("list_devices", "GET", "/v1/devices", "user"),
    Route("delete_device", "DELETE", "/v1/devices", "user"),
    Route("list_webhooks", "GET", "/v1/webhooks", "server"),
    Route("set_webhooks", "PUT", "/v1/webhooks", "server"),
    Route("list_failed_webhooks", "GET", "/v1/webhooks/failed", "server"),
    Route("redeliver_webhooks", "POST", "/v1/webhooks/failed/redeliver", "server"),
    Route("get_or_create_call", "POST", _CALL, "any"),
    Route("get_call", "GET", _CALL, "any"),
    Route("update_call", "PATCH", _CALL, "any"),
    Route("delete_call", "DELETE", _CALL, "any"),
    Route("go_live", "POST", _CALL + "/go_live", "any"),
    Route("stop_live", "POST", _CALL + "/stop_live", "any"),
    Route("end_call", "POST", _CALL + "/end", "any"),
    Route("join_call", "POST", _CALL + "/join", "user"),
    Route("update_members", "POST", _CALL + "/members", "any"),
    Route("list_members", "GET", _CALL + "/members", "any"),
    Route("list_sessions", "GET", _CALL + "/sessions", "any"),
    Route("list_participants", "GET", _CALL + "/participants", "any"),
    Route("update_participant", "PATCH", _CALL + "/participants/{identity}", "any"),
    Route("request_permission", "POST", _CALL + "/request_permission", "user"),
    Route("update_user_permissions", "POST", _CALL + "/user_permissions", "any"),
    Route("send_event", "POST", _CALL + "/event", "any"),
    Route("send_reaction", "POST", _CALL + "/reaction", "any"),
    Route("ring", "POST", _CALL + "/ring", "user"),
    Route("accept", "POST", _CALL + "/accept", "user"),
    Route("reject", "POST", _CALL + "/reject", "user"),
    Route("kick_user", "POST", _CALL + "/kick_user", "any"),
    Route("mute_users", "POST", _CALL + "/mute_users", "any"),
    Route("block_users", "POST", _CALL + "/block_users", "any"),
    Route("unblock_users", "POST", _CALL + "/unblock_users", "any"),
    Route("start_recording", "POST", _CALL + "/recordings/start", "any"),
    Route("stop_recording", "POST", _CALL + "/recordings/stop", "any"),
    Route("list_recordings", "GET", _CALL + "/recordings", "any"),
    Route("start_hls", "POST", _CALL + "/hls/start", "any"),
    Route("stop_hls", "POST", _CALL + "/hls/stop", "any"),
    Route("start_rtmp_broadcast", "POST", _CALL + "/rtmp_broadcasts", "any"),
    Route("stop_rtmp_broadcast", "DELETE", _CALL + "/rtmp_broadcasts/{name}", "any"),
)

_BY_NAME: Dict[str, Route] = {r.name: r for r in ROUTES}
_PARAM = re.compile(r"\{([a-z_]+)\}")


def route(name: str) -> Route:
    """The route named ``name``; ``KeyError`` for a name the table lacks."""
    return _BY_NAME[name]


def fill_path(r: Route, params: Mapping[str, str]) -> str:
    """The path of ``r`` with its ``{param}``s filled from ``params``
    (percent-encoded); ``ValueError`` when one is missing or empty."""

    def one(m: "re.Match[str]") -> str:
        value = params.get(m.group(1))
        if not isinstance(value, str) or not value:
            raise ValueError(f"{r.name}: path parameter `{m.group(1)}` is required")
        return quote(value, safe="")

    return _PARAM.sub(one, r.path)
