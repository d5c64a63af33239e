"""One call (``/v1/calls/{type}/{id}/…``): every route of a call, one method each.
Answers are the API's JSON as dicts (snake_case, as the API names them)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from .transport import Transport

JSON = Dict[str, Any]


def _body(**fields: Any) -> JSON:
    """The fields that are not ``None``."""
    return {k: v for k, v in fields.items() if v is not None}


class Call:
    """A call, named by its type and id. Methods marked "user token" are
    refused (403 ``user_token_required``) with a server token: call them on a
    call from :meth:`OnAir.as_user`."""

    def __init__(self, transport: Transport, call_type: str, call_id: str) -> None:
        """The call ``call_type:call_id``, reached through ``transport``."""
        self._transport = transport
        #: Call type (``default``, ``livestream``, …).
        self.type = call_type
        #: Call id.
        self.id = call_id

    @property
    def cid(self) -> str:
        """``type:id``."""
        return f"{self.type}:{self.id}"

    def _send(self, route_name: str, body: Any = None, /, **extra: str) -> Any:
        """Calls ``route_name`` on this call; ``extra`` fills further path parameters."""
        params = {"type": self.type, "id": self.id, **extra}
        return self._transport.request(route_name, params=params, body=body)

    def get_or_create(
        self,
        data: Optional[JSON] = None,
        *,
        ring: Optional[bool] = None,
        notify: Optional[bool] = None,
        video: Optional[bool] = None,
    ) -> JSON:
        """Gets the call, creating it from ``data`` (``members``, ``custom``,
        ``starts_at``, ``settings_override``) when absent; ``created`` says
        which. ``ring``/``notify`` need a user token."""
        return self._send("get_or_create_call", _body(data=data, ring=ring, notify=notify, video=video))

    def get(self) -> JSON:
        """Reads the call with its members."""
        return self._send("get_call")

    def update(
        self,
        *,
        custom: Optional[JSON] = None,
        starts_at: Optional[str] = None,
        settings_override: Optional[JSON] = None,
    ) -> JSON:
        """Changes the call's custom data, schedule (RFC 3339) or settings override."""
        return self._send("update_call", _body(custom=custom, starts_at=starts_at, settings_override=settings_override))

    def delete(self) -> JSON:
        """Deletes the call with its members and sessions."""
        return self._send("delete_call")

    def go_live(self, *, start_recording: Optional[bool] = None, start_hls: Optional[bool] = None) -> JSON:
        """Leaves backstage (optionally starting recording and HLS)."""
        return self._send("go_live", _body(start_recording=start_recording, start_hls=start_hls))

    def stop_live(self) -> JSON:
        """Goes back to backstage."""
        return self._send("stop_live")

    def end(self) -> JSON:
        """Ends the call: everyone is disconnected."""
        return self._send("end_call")

    def join(self, *, create: Optional[bool] = None, data: Optional[JSON] = None) -> JSON:
        """Joins the call (user token): ``credentials`` (SFU URL, join token,
        ICE servers) for the user's app."""
        return self._send("join_call", _body(create=create, data=data))

    def update_members(
        self,
        update_members: Optional[Sequence[JSON]] = None,
        remove_members: Optional[Sequence[str]] = None,
    ) -> JSON:
        """Adds or changes members (``{user_id, role?, custom?}`` each) and removes user ids."""
        return self._send(
            "update_members",
            _body(
                update_members=list(update_members) if update_members is not None else None,
                remove_members=list(remove_members) if remove_members is not None else None,
            ),
        )

    def list_members(self) -> JSON:
        """Lists the members, oldest first."""
        return self._send("list_members")

    def list_sessions(self) -> JSON:
        """Lists the call's sessions, oldest first."""
        return self._send("list_sessions")

    def list_participants(self) -> JSON:
        """Lists who is connected to the call's media now."""
        return self._send("list_participants")

    def update_participant(
        self,
        identity: str,
        *,
        name: Optional[str] = None,
        metadata: Optional[str] = None,
        attributes: Optional[Dict[str, str]] = None,
        permission: Optional[JSON] = None,
    ) -> JSON:
        """Changes a connected participant's name, metadata, attributes or
        media permissions (LiveKit's ``ParticipantPermission`` fields)."""
        body = _body(name=name, metadata=metadata, attributes=attributes, permission=permission)
        return self._send("update_participant", body, identity=identity)

    def request_permission(self, permissions: Sequence[str]) -> JSON:
        """Asks the hosts for capabilities (user token): ``send-audio``, ``send-video``, ``screenshare``."""
        return self._send("request_permission", {"permissions": list(permissions)})

    def update_user_permissions(
        self,
        user_id: str,
        *,
        grant_permissions: Optional[Sequence[str]] = None,
        revoke_permissions: Optional[Sequence[str]] = None,
    ) -> JSON:
        """Grants or revokes capabilities of one user in this call."""
        body = _body(
            user_id=user_id,
            grant_permissions=list(grant_permissions) if grant_permissions is not None else None,
            revoke_permissions=list(revoke_permissions) if revoke_permissions is not None else None,
        )
        return self._send("update_user_permissions", body)

    def send_event(self, custom: JSON) -> JSON:
        """Sends a custom event (``custom``, at most 5 KiB as JSON) to the call."""
        return self._send("send_event", {"custom": custom})

    def send_reaction(self, type: str, *, emoji_code: Optional[str] = None, custom: Optional[JSON] = None) -> JSON:
        """Sends a reaction (``like``, ``raised-hand``…) to the call."""
        return self._send("send_reaction", _body(type=type, emoji_code=emoji_code, custom=custom))

    def ring(self, members_ids: Optional[Sequence[str]] = None, *, video: Optional[bool] = None) -> JSON:
        """Rings members (user token: rings come from a member)."""
        ids = list(members_ids) if members_ids is not None else None
        return self._send("ring", _body(members_ids=ids, video=video))

    def accept(self) -> JSON:
        """Accepts the call's ring (user token: a callee)."""
        return self._send("accept")

    def reject(self, reason: Optional[str] = None) -> JSON:
        """Rejects the ring, or cancels it as the caller (user token);
        ``reason``: ``decline``, ``busy``, ``cancel``, ``timeout``."""
        return self._send("reject", _body(reason=reason))

    def kick_user(self, user_id: str, *, block: bool = False) -> JSON:
        """Disconnects a user (they may rejoin unless ``block``)."""
        return self._send("kick_user", {"user_id": user_id, "block": block})

    def mute_users(
        self,
        user_ids: Optional[Sequence[str]] = None,
        *,
        mute_all_users: Optional[bool] = None,
        audio: Optional[bool] = None,
        video: Optional[bool] = None,
        screenshare: Optional[bool] = None,
    ) -> JSON:
        """Mutes users' (or everyone's) microphones, cameras or screen shares."""
        ids = list(user_ids) if user_ids is not None else None
        body = _body(user_ids=ids, mute_all_users=mute_all_users, audio=audio, video=video, screenshare=screenshare)
        return self._send("mute_users", body)

    def block_users(self, user_ids: Sequence[str]) -> JSON:
        """Blocks users: they are disconnected and cannot join again."""
        return self._send("block_users", {"user_ids": list(user_ids)})

    def unblock_users(self, user_ids: Sequence[str]) -> JSON:
        """Lifts blocks."""
        return self._send("unblock_users", {"user_ids": list(user_ids)})

    def start_recording(self, *, preset: Optional[str] = None, track_sid: Optional[str] = None) -> JSON:
        """Starts recording the call (``preset`` ``360p``/``720p``/``1080p``), or one track."""
        return self._send("start_recording", _body(preset=preset, track_sid=track_sid))

    def stop_recording(self, *, track_sid: Optional[str] = None) -> JSON:
        """Stops the running recording (or one track's)."""
        return self._send("stop_recording", _body(track_sid=track_sid))

    def list_recordings(self) -> JSON:
        """Lists the call's recordings with download links."""
        return self._send("list_recordings")

    def start_hls(self, *, preset: Optional[str] = None) -> JSON:
        """Starts the HLS broadcast; its playlist is the call's ``egress.hls.playlist_url``."""
        return self._send("start_hls", _body(preset=preset))

    def stop_hls(self) -> JSON:
        """Stops the HLS broadcast."""
        return self._send("stop_hls")

    def start_rtmp_broadcast(self, name: str, stream_url: str, stream_key: str, *, preset: Optional[str] = None) -> JSON:
        """Starts pushing the call to an RTMP target (the key is never echoed)."""
        body = _body(name=name, stream_url=stream_url, stream_key=stream_key, preset=preset)
        return self._send("start_rtmp_broadcast", body)

    def stop_rtmp_broadcast(self, name: str) -> JSON:
        """Stops the RTMP push named ``name``."""
        return self._send("stop_rtmp_broadcast", None, name=name)


__all__: List[str] = ["Call"]
