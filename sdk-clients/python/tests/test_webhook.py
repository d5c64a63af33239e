"""verify_webhook: a published HMAC-SHA256 vector, signatures computed here
with ``hmac`` independently of the SDK, and every kind of wrong input."""

import hashlib
import hmac
import json
import secrets

import pytest

from onair import OnAir, verify_webhook_signature


def server(secret: str) -> OnAir:
    return OnAir("http://127.0.0.1:1", "APIkey", secret)


def test_rfc4231_case_2():
    sig = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert server("Jefe").verify_webhook(b"what do ya want for nothing?", sig) is True
    assert verify_webhook_signature("Jefe", "what do ya want for nothing?", sig) is True
    assert server("jefe").verify_webhook(b"what do ya want for nothing?", sig) is False


def test_signature_computed_with_hmac_verifies_as_bytes_and_str():
    secret = secrets.token_hex(32)
    body = json.dumps({"type": "call.created", "call_cid": "default:x", "note": "héllo ✓"}, ensure_ascii=False)
    raw = body.encode("utf-8")
    sig = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    onair = server(secret)
    assert onair.verify_webhook(raw, sig) is True
    assert onair.verify_webhook(body, sig) is True
    assert onair.verify_webhook(bytearray(raw), sig) is True


def test_tampered_body_wrong_signature_or_secret_is_refused():
    secret = secrets.token_hex(32)
    body = b'{"type":"call.ended","call_cid":"livestream:show"}'
    sig = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    onair = server(secret)
    assert onair.verify_webhook(body.replace(b"ended", b"endex"), sig) is False
    assert onair.verify_webhook(body + b" ", sig) is False
    flipped = ("1" if sig[0] == "0" else "0") + sig[1:]
    assert onair.verify_webhook(body, flipped) is False
    assert server(secret + "x").verify_webhook(body, sig) is False
    assert onair.verify_webhook(json.dumps(json.loads(body), indent=1), sig) is False


@pytest.mark.parametrize("bad", [None, "", "short", "z" * 64, "sha256=" + "0" * 64, 12345])
def test_malformed_signatures_are_false(bad):
    assert server("s3cret").verify_webhook(b"{}", bad) is False


def test_length_case_and_type_variants_are_false():
    secret = "s3cret"
    sig = hmac.new(secret.encode(), b"{}", hashlib.sha256).hexdigest()
    onair = server(secret)
    assert onair.verify_webhook(b"{}", sig) is True
    assert onair.verify_webhook(b"{}", sig[:63]) is False
    assert onair.verify_webhook(b"{}", sig + "0") is False
    assert onair.verify_webhook(b"{}", sig.upper()) is False
    assert onair.verify_webhook({"not": "bytes"}, sig) is False  # type: ignore[arg-type]
