"""The SDK's route table against the server's /openapi.json: every route of
the spec is in the SDK or excluded below with the reason, and the SDK calls
no route the spec lacks. Then every route of the table is called on the
real server and must reach a handler (not the router's fallback)."""

import json
import urllib.error
import urllib.request

import pytest

from onair import ROUTES, OnAirError

#: Routes a backend cannot use, and why.
EXCLUDED = {
    "GET /v1/connect": "the apps' events WebSocket; a backend reads GET /v1/events and receives webhooks",
    "GET /v1/egress/{id}": "for egress workers: whether a job is still wanted",
    "GET /v1/egress/{id}/target": "for egress workers: where an RTMP push goes, stream key included",
    "GET /healthz": "liveness probe for load balancers, no token",
    "GET /readyz": "readiness probe for load balancers, no token",
}

METHODS = ["get", "put", "post", "delete", "patch", "head", "options", "trace"]


@pytest.fixture(scope="module")
def spec_routes(onair_dev):
    with urllib.request.urlopen(f"{onair_dev.base_url}/openapi.json", timeout=10) as res:
        spec = json.load(res)
    return {f"{m.upper()} {path}" for path, item in spec["paths"].items() for m in METHODS if m in item}


def sdk_routes():
    return {f"{r.method} {r.path}" for r in ROUTES}


def test_the_spec_is_read(spec_routes):
    assert len(spec_routes) >= 40
    assert "POST /v1/calls/{type}/{id}/go_live" in spec_routes


def test_every_spec_route_is_in_the_sdk_or_excluded(spec_routes):
    missing = sorted(spec_routes - sdk_routes() - set(EXCLUDED))
    assert missing == [], "routes the SDK lacks"


def test_the_sdk_calls_no_route_the_spec_lacks(spec_routes):
    assert sorted(sdk_routes() - spec_routes) == [], "SDK routes not in the spec"
    assert sorted(set(EXCLUDED) - spec_routes) == [], "exclusions of routes the spec no longer has"
    assert sorted(sdk_routes() & set(EXCLUDED)) == []


def test_route_names_are_unique_and_each_is_a_method(sdk):
    names = [r.name for r in ROUTES]
    assert len(set(names)) == len(names)
    call = sdk.call("default", "x")
    aliases = {"get_or_create_call": "get_or_create", "get_call": "get", "update_call": "update",
               "delete_call": "delete", "end_call": "end", "join_call": "join"}
    for name in names:
        method = aliases.get(name, name)
        assert callable(getattr(call, method, None)) or callable(getattr(sdk, method, None)), name


def test_the_router_fallback_is_told_apart(onair_dev):
    req = urllib.request.Request(f"{onair_dev.base_url}/v1/calls/default/x/no_such_route", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 404
    assert json.loads(e.value.read())["message"] == "route not found"


def test_every_route_reaches_a_handler(sdk):
    params = {"type": "default", "id": "sdk-route-probe", "name": "probe", "identity": "nobody"}
    for r in ROUTES:
        body = None if r.method == "GET" else {}
        query = {"id": "none"} if r.name == "delete_device" else None
        try:
            sdk.request(r.name, params=params, query=query, body=body)
        except OnAirError as e:
            assert not (e.status == 404 and e.message == "route not found"), f"{r.name}: {r.method} {r.path} is not routed"
            assert e.code != "method_not_allowed", f"{r.name}: {r.method} not allowed on {r.path}"
