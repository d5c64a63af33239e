"""Tokens from the SDK against a real onair dev: the same layout as ``onair
token``, accepted by the server, refused when signed with a wrong secret or
used outside their calls."""

import base64
import hashlib
import hmac
import json
import urllib.error
import urllib.request

import pytest

from onair import OnAir, OnAirError
from onair_dev import unique_id


def part(token: str, i: int):
    seg = token.split(".")[i]
    return json.loads(base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4)))


def raw_get(base_url: str, cid: str, token: str):
    """GET a call with a raw bearer token (no SDK transport)."""
    call_type, call_id = cid.split(":")
    req = urllib.request.Request(f"{base_url}/v1/calls/{call_type}/{call_id}",
                                 headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, json.loads(res.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_user_token_layout_matches_the_cli(sdk, onair_dev):
    cli = onair_dev.token("user", "--user", "alice", "--name", "Alice", "--role", "admin",
                          "--call", "default:a", "--call", "default:b")
    mine = sdk.create_token("alice", name="Alice", role="admin", call_cids=["default:a", "default:b"])
    assert mine.split(".")[0] == cli.split(".")[0], "identical header bytes"
    a, b = part(mine, 1), part(cli, 1)
    assert list(a) == list(b) == ["iss", "sub", "exp", "iat", "name", "role", "call_cids"]
    for k in ["iss", "sub", "name", "role", "call_cids"]:
        assert a[k] == b[k], k
    assert a["exp"] - a["iat"] == 3600 == b["exp"] - b["iat"]
    assert list(part(sdk.create_token("bob"), 1)) == list(part(onair_dev.token("user", "--user", "bob"), 1))


def test_server_token_layout_matches_the_cli(sdk, onair_dev):
    cli = onair_dev.token("server")
    mine = sdk.create_server_token(expires_in=60)
    assert mine.split(".")[0] == cli.split(".")[0]
    assert list(part(mine, 1)) == list(part(cli, 1))
    assert part(mine, 1)["server"] is True
    assert part(mine, 1)["exp"] - part(mine, 1)["iat"] == 60


def test_signature_is_hs256_with_the_api_secret(sdk, onair_dev):
    token = sdk.create_token("carol", expires_in=120)
    h, p, s = token.split(".")
    digest = hmac.new(onair_dev.api_secret.encode(), f"{h}.{p}".encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == s
    assert part(token, 1)["exp"] - part(token, 1)["iat"] == 120


def test_user_token_reads_a_call_and_a_wrong_secret_is_refused(sdk, onair_dev):
    call = sdk.call("default", unique_id("tok"))
    call.get_or_create({"members": [{"user_id": "alice"}]})
    status, body = raw_get(onair_dev.base_url, call.cid, sdk.create_token("alice"))
    assert status == 200
    assert body["call"]["cid"] == call.cid
    assert "join-call" in body["own_capabilities"]
    assert sdk.as_user("alice").call("default", call.id).get()["call"]["cid"] == call.cid

    forged = OnAir(onair_dev.base_url, onair_dev.api_key, onair_dev.api_secret + "-wrong")
    status, body = raw_get(onair_dev.base_url, call.cid, forged.create_token("alice"))
    assert (status, body["code"]) == (401, "bad_signature")
    with pytest.raises(OnAirError) as e:
        forged.call("default", call.id).get()
    assert (e.value.status, e.value.code) == (401, "bad_signature")
    assert "signature" in e.value.message
    stranger = OnAir(onair_dev.base_url, "APInobody", onair_dev.api_secret)
    with pytest.raises(OnAirError) as e:
        stranger.list_call_types()
    assert (e.value.status, e.value.code) == (401, "unknown_key")


def test_call_cids_limit_a_token_to_its_calls(sdk, onair_dev):
    a = sdk.call("default", unique_id("scope-a"))
    b = sdk.call("default", unique_id("scope-b"))
    a.get_or_create({"members": [{"user_id": "alice"}]})
    b.get_or_create({"members": [{"user_id": "alice"}]})
    token = sdk.create_token("alice", call_cids=[a.cid])
    assert raw_get(onair_dev.base_url, a.cid, token)[0] == 200
    status, body = raw_get(onair_dev.base_url, b.cid, token)
    assert (status, body["code"]) == (401, "wrong_call")


def test_role_admin_may_delete_a_call(sdk):
    call = sdk.call("default", unique_id("role"))
    call.get_or_create()
    with pytest.raises(OnAirError) as e:
        sdk.as_user("dave").call("default", call.id).delete()
    assert (e.value.status, e.value.code) == (403, "admin_required")
    assert sdk.as_user("dave", role="admin").call("default", call.id).delete()["call"]["cid"] == call.cid
    with pytest.raises(OnAirError) as e:
        call.get()
    assert (e.value.status, e.value.code) == (404, "not_found")


def test_bad_token_options_are_refused_before_sending(sdk):
    with pytest.raises(TypeError):
        sdk.create_token("")
    with pytest.raises(ValueError):
        sdk.create_token("alice", expires_in=0)
    with pytest.raises(ValueError):
        sdk.create_token("alice", expires_in=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        sdk.create_token("alice", call_cids=["nocolon"])
    with pytest.raises(TypeError):
        sdk.create_token("alice", call_cids="default:a")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        sdk.as_user("alice", expires_in=-1)
