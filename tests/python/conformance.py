"""LiveKit's Python SDK against OnAir: a second real client, besides
livekit-client in Chromium. Two participants join with join tokens from
OnAir's REST API; alice sets her attributes, metadata and name (bob hears
each), calls bob over RPC (a round trip), and sends him a text stream.

Usage: python conformance.py URL ALICE_TOKEN BOB_TOKEN
Prints what it saw and "python scenario passed".
"""

import asyncio
import sys

from livekit import rtc


async def until(what, event, seconds=10):
    try:
        await asyncio.wait_for(event.wait(), seconds)
    except asyncio.TimeoutError:
        raise AssertionError(f"timed out waiting for {what}")


async def main(url, alice_token, bob_token):
    alice, bob = rtc.Room(), rtc.Room()
    heard = {"attributes": asyncio.Event(), "metadata": asyncio.Event(), "name": asyncio.Event(),
             "text": asyncio.Event()}
    seen = {}

    @bob.on("participant_attributes_changed")
    def on_attributes(changed, participant):
        seen["attributes"] = (participant.identity, dict(changed))
        heard["attributes"].set()

    @bob.on("participant_metadata_changed")
    def on_metadata(participant, old, new):
        seen["metadata"] = (participant.identity, new)
        heard["metadata"].set()

    @bob.on("participant_name_changed")
    def on_name(participant, old, new):
        seen["name"] = (participant.identity, new)
        heard["name"].set()

    async def read_text(reader, sender):
        seen["text"] = (sender, await reader.read_all())
        heard["text"].set()

    bob.register_text_stream_handler(
        "chat", lambda reader, sender: asyncio.ensure_future(read_text(reader, sender)))

    async def echo(data: rtc.RpcInvocationData):
        return f"{data.payload}! from {data.caller_identity}"

    await alice.connect(url, alice_token)
    await bob.connect(url, bob_token)
    bob.local_participant.register_rpc_method("echo", echo)
    deadline = asyncio.get_running_loop().time() + 10
    while "bob" not in alice.remote_participants or "alice" not in bob.remote_participants:
        assert asyncio.get_running_loop().time() < deadline, "the two never saw each other"
        await asyncio.sleep(0.1)

    await alice.local_participant.set_attributes({"mood": "happy"})
    await alice.local_participant.set_metadata('{"title": "Dr"}')
    await alice.local_participant.set_name("Alice A.")
    for what in ("attributes", "metadata", "name"):
        await until(f"bob hearing alice's {what}", heard[what])
    print(f"bob heard: {seen['attributes']}, {seen['metadata']}, {seen['name']}")
    assert seen["attributes"] == ("alice", {"mood": "happy"}), seen
    assert seen["metadata"] == ("alice", '{"title": "Dr"}'), seen
    assert seen["name"] == ("alice", "Alice A."), seen

    answer = await alice.local_participant.perform_rpc(
        destination_identity="bob", method="echo", payload="ping")
    print(f"rpc: {answer}")
    assert answer == "ping! from alice", answer

    await alice.local_participant.send_text("hello bob", topic="chat")
    await until("bob reading alice's text stream", heard["text"])
    print(f"text stream: {seen['text']}")
    assert seen["text"] == ("alice", "hello bob"), seen

    await alice.disconnect()
    await bob.disconnect()
    print("python scenario passed")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
