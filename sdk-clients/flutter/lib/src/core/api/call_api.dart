import 'call_data.dart';
import 'rest_client.dart';

/// The REST API of one call, `/v1/calls/{type}/{id}`: one method per
/// route, returning OnAir's JSON answer. The request bodies are exactly
/// those in `test/fixtures/wire.json`, which OnAir's own test suite sends
/// to a real server (`tests/flutter_wire.rs`).
class CallApi {
  /// The API of call [type]:[id] through [rest].
  CallApi(this.rest, this.type, this.id);

  /// Where requests go.
  final RestClient rest;

  /// The call type (`default`, `livestream`, …).
  final String type;

  /// The call id.
  final String id;

  /// `type:id`, as events name the call.
  String get cid => '$type:$id';

  String get _path => '/v1/calls/${Uri.encodeComponent(type)}/${Uri.encodeComponent(id)}';

  /// Gets the call, creating it from [data] when absent (201 then, else
  /// 200). [ring] rings the members named in [data] (all other members when
  /// none are), [notify] tells them without ringing; [video] says what kind
  /// of call the ring is. With [connectionId] (an open events socket's),
  /// that socket hears the call from now on.
  Future<Json> getOrCreate({
    CallData data = const CallData(),
    bool ring = false,
    bool notify = false,
    bool? video,
    String? connectionId,
  }) =>
      rest.post(
        _path,
        body: {
          if (!data.isEmpty) 'data': data.toJson(),
          if (ring) 'ring': true,
          if (notify) 'notify': true,
          if (video != null) 'video': video,
        },
        query: _watch(connectionId),
      );

  /// Reads the call, its members and what the user may do in it; with
  /// [connectionId], that events socket hears the call from now on.
  Future<Json> get({String? connectionId}) => rest.get(_path, query: _watch(connectionId));

  /// Replaces the call's app data, moves its start, or merges settings.
  Future<Json> update({Json? custom, Json? settingsOverride, DateTime? startsAt}) => rest.patch(_path, {
        if (custom != null) 'custom': custom,
        if (settingsOverride != null) 'settings_override': settingsOverride,
        if (startsAt != null) 'starts_at': startsAt.toUtc().toIso8601String(),
      });

  /// Admits the user: the call, its members, `credentials {url, token,
  /// ice_servers}` for the SFU, the user's `role` and `own_capabilities`,
  /// and `waiting` (joined ahead of a call still in backstage). With
  /// [create], a missing call is created from [data] first.
  Future<Json> join({bool create = false, CallData data = const CallData()}) =>
      rest.post('$_path/join', body: {
        if (create) 'create': true,
        if (!data.isEmpty) 'data': data.toJson(),
      });

  /// Leaves backstage: viewers get the hosts' media; [startHls] and
  /// [startRecording] start those too.
  Future<Json> goLive({bool startHls = false, bool startRecording = false}) =>
      rest.post('$_path/go_live', body: {
        if (startHls) 'start_hls': true,
        if (startRecording) 'start_recording': true,
      });

  /// Goes back to backstage.
  Future<Json> stopLive() => rest.post('$_path/stop_live');

  /// Ends the call for everyone.
  Future<Json> end() => rest.post('$_path/end');

  /// Rings [membersIds] (all members not in the call when empty).
  Future<Json> ring({List<String> membersIds = const [], bool? video}) =>
      rest.post('$_path/ring', body: {
        if (membersIds.isNotEmpty) 'members_ids': membersIds,
        if (video != null) 'video': video,
      });

  /// Accepts the ring (a callee).
  Future<Json> accept() => rest.post('$_path/accept');

  /// Rejects the ring (a callee; OnAir's default reason is `decline`), or
  /// cancels it (the caller, with [RejectReason.cancel]).
  Future<Json> reject({RejectReason? reason}) =>
      rest.post('$_path/reject', body: {if (reason != null) 'reason': reason.name});

  /// Starts recording the call ([preset] `360p`, `720p`, `1080p`), or one
  /// track as published ([trackSid]).
  Future<Json> startRecording({String? preset, String? trackSid}) =>
      rest.post('$_path/recordings/start', body: {
        if (preset != null) 'preset': preset,
        if (trackSid != null) 'track_sid': trackSid,
      });

  /// Stops the call's recording (or [trackSid]'s).
  Future<Json> stopRecording({String? trackSid}) =>
      rest.post('$_path/recordings/stop', body: {if (trackSid != null) 'track_sid': trackSid});

  /// The call's recordings with download links: `{recordings: [...]}`.
  Future<Json> listRecordings() => rest.get('$_path/recordings');

  /// Starts broadcasting over HLS; the playlist is the call's
  /// `egress.hls.playlist_url`.
  Future<Json> startHls({String? preset}) =>
      rest.post('$_path/hls/start', body: {if (preset != null) 'preset': preset});

  /// Stops the HLS broadcast.
  Future<Json> stopHls() => rest.post('$_path/hls/stop');

  /// Pushes the call to an RTMP target ([streamUrl] + [streamKey]) named [name].
  Future<Json> startRtmpBroadcast({
    required String name,
    required String streamUrl,
    required String streamKey,
    String? preset,
  }) =>
      rest.post('$_path/rtmp_broadcasts', body: {
        'name': name,
        'stream_url': streamUrl,
        'stream_key': streamKey,
        if (preset != null) 'preset': preset,
      });

  /// Stops the RTMP push named [name].
  Future<Json> stopRtmpBroadcast(String name) =>
      rest.delete('$_path/rtmp_broadcasts/${Uri.encodeComponent(name)}');

  /// Disconnects [userId] from the call (and blocks them with [block]).
  Future<Json> kickUser(String userId, {bool block = false}) =>
      rest.post('$_path/kick_user', body: {'user_id': userId, if (block) 'block': true});

  /// Mutes [userIds] (or everyone, [all]): their [audio], [video] and/or
  /// [screenshare].
  Future<Json> muteUsers({
    List<String> userIds = const [],
    bool all = false,
    bool audio = false,
    bool video = false,
    bool screenshare = false,
  }) =>
      rest.post('$_path/mute_users', body: {
        if (userIds.isNotEmpty) 'user_ids': userIds,
        if (all) 'mute_all_users': true,
        if (audio) 'audio': true,
        if (video) 'video': true,
        if (screenshare) 'screenshare': true,
      });

  /// Blocks [userIds] from the call: sent away now, refused later.
  Future<Json> blockUsers(List<String> userIds) =>
      rest.post('$_path/block_users', body: {'user_ids': userIds});

  /// Lifts the blocks of [userIds].
  Future<Json> unblockUsers(List<String> userIds) =>
      rest.post('$_path/unblock_users', body: {'user_ids': userIds});

  /// Sends a reaction ([type] such as `like`, an [emojiCode] such as
  /// `:fireworks:`) to everyone in the call.
  Future<Json> sendReaction({required String type, String? emojiCode, Json? custom}) =>
      rest.post('$_path/reaction', body: {
        'type': type,
        if (emojiCode != null) 'emoji_code': emojiCode,
        if (custom != null) 'custom': custom,
      });

  /// Sends the app's own event ([custom], at most 5 KiB of JSON) to the call.
  Future<Json> sendCustomEvent(Json custom) => rest.post('$_path/event', body: {'custom': custom});

  /// Adds or changes members ([update]) and removes others ([remove]).
  Future<Json> updateMembers({
    List<MemberRequest> update = const [],
    List<String> remove = const [],
  }) =>
      rest.post('$_path/members', body: {
        if (update.isNotEmpty) 'update_members': [for (final m in update) m.toJson()],
        if (remove.isNotEmpty) 'remove_members': remove,
      });

  /// The call's members: `{members: [...]}`.
  Future<Json> members() => rest.get('$_path/members');

  /// Who is connected to the call's media now: `{participants: [...]}`.
  Future<Json> participants() => rest.get('$_path/participants');

  /// Asks the hosts for [permissions] (`send-audio`, `send-video`, `screenshare`).
  Future<Json> requestPermissions(List<String> permissions) =>
      rest.post('$_path/request_permission', body: {'permissions': permissions});

  /// Grants or revokes capabilities of [userId] in this call.
  Future<Json> updateUserPermissions(
    String userId, {
    List<String> grant = const [],
    List<String> revoke = const [],
  }) =>
      rest.post('$_path/user_permissions', body: {
        'user_id': userId,
        if (grant.isNotEmpty) 'grant_permissions': grant,
        if (revoke.isNotEmpty) 'revoke_permissions': revoke,
      });

  static Map<String, String>? _watch(String? connectionId) =>
      connectionId == null ? null : {'connection_id': connectionId};
}
