"""Writes the seed corpus of each fuzz target (committed; run again only to
change it): valid-looking inputs for libFuzzer to start mutating from.
`worker`'s seeds are not written here: its inputs are `arbitrary`-decoded
steps, so they are what a fuzz run found, merged (`worker -merge=1`)."""
import struct
import zlib
from pathlib import Path

HERE = Path(__file__).parent


def stun_binding() -> bytes:
    user = b"fuzzufrag0000000:remoteufrag"
    attrs = struct.pack("!HH", 0x0006, len(user)) + user + b"\0" * (-len(user) % 4)
    attrs += struct.pack("!HHI", 0x0024, 4, 0x6E001EFF)  # PRIORITY
    attrs += struct.pack("!HH", 0x0008, 20) + b"\x11" * 20  # MESSAGE-INTEGRITY (wrong)
    head = struct.pack("!HHI", 0x0001, len(attrs) + 8, 0x2112A442) + b"\x01" * 12
    fingerprint = zlib.crc32(head + attrs) ^ 0x5354554E
    return head + attrs + struct.pack("!HHI", 0x8028, 4, fingerprint)


def rtp() -> bytes:
    return struct.pack("!BBHII", 0x90, 96, 1000, 90000, 0x1234) + b"\xbe\xde\x00\x01\x10\xff\x00\x00" + b"\x90\x80\x12\x34" + b"\x00" * 40


def rtcp_rr() -> bytes:
    return struct.pack("!BBHI", 0x81, 201, 7, 0x1) + struct.pack("!IIIIII", 0x1234, 0x05000010, 1000, 20, 0, 0)


def dtls_client_hello() -> bytes:
    body = b"\x01\x00\x00\x20\x00\x00\x00\x00\x00\x00\x00\x20" + b"\xfe\xfd" + b"\x00" * 30
    return b"\x16\xfe\xff" + b"\x00" * 8 + struct.pack("!H", len(body)) + body


SDP = "\r\n".join([
    "v=0", "o=- 4611731400430051336 2 IN IP4 127.0.0.1", "s=-", "t=0 0",
    "a=group:BUNDLE 0 1", "a=msid-semantic: WMS stream",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111", "c=IN IP4 0.0.0.0", "a=ice-ufrag:abcd", "a=ice-pwd:abcdefghijklmnopqrstuvwx",
    "a=fingerprint:sha-256 " + ":".join(["AB"] * 32), "a=setup:actpass", "a=mid:0", "a=sendonly",
    "a=msid:stream TR_audio", "a=rtcp-mux", "a=rtpmap:111 opus/48000/2", "a=fmtp:111 minptime=10;useinbandfec=1",
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102", "c=IN IP4 0.0.0.0", "a=ice-ufrag:abcd", "a=ice-pwd:abcdefghijklmnopqrstuvwx",
    "a=fingerprint:sha-256 " + ":".join(["AB"] * 32), "a=setup:actpass", "a=mid:1", "a=sendonly",
    "a=msid:stream TR_video", "a=rtcp-mux", "a=rtpmap:96 VP8/90000", "a=rtcp-fb:96 nack", "a=rtcp-fb:96 nack pli",
    "a=rtcp-fb:96 transport-cc", "a=rtpmap:97 rtx/90000", "a=fmtp:97 apt=96",
    "a=rtpmap:102 H264/90000", "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
    "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
    "a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
    "a=rid:q send", "a=rid:h send", "a=rid:f send", "a=simulcast:send q;h;f", "",
])


def field(tag: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    key, n, out = (tag << 3) | 2, len(payload), b""
    out += bytes([key])
    while True:
        b = n & 0x7F
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out + payload


def offer() -> bytes:
    return field(1, field(1, b"offer") + field(2, SDP.encode()))


seeds = {
    "datagram/stun_binding": stun_binding(), "datagram/rtp": rtp(), "datagram/rtcp_rr": rtcp_rr(),
    "datagram/dtls_client_hello": dtls_client_hello(),
    "signal/offer": offer(), "signal/sdp": SDP.encode(),
    "downtrack/switches": bytes(range(256)) * 4,
}
for name, data in seeds.items():
    (HERE / name).write_bytes(data)
