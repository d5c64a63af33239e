import 'dart:async';

import 'package:flutter/foundation.dart';
import 'package:livekit_client/livekit_client.dart';

import '../core/api/call_api.dart';
import '../core/api/call_data.dart';
import '../core/api/rest_client.dart';
import '../core/events/on_air_event.dart';
import '../core/ringing/ring_machine.dart';
import '../core/ringing/ringing_state.dart';
import '../core/state/call_state.dart';
import 'client.dart';
import 'join_credentials.dart';

/// One call: OnAir's REST API for it, its state, and its media as a
/// LiveKit [Room] once joined.
class Call {
  /// Call [type]:[id] of [client]; use [OnAirClient.call].
  Call(this.client, this.type, this.id)
      : api = CallApi(client.rest, type, id),
        state = ValueNotifier(CallState(cid: '$type:$id'));

  /// The client it belongs to.
  final OnAirClient client;

  /// The call type.
  final String type;

  /// The call id.
  final String id;

  /// Its REST API, route by route.
  final CallApi api;

  /// The call, its members, this device's ringing state (`idle`,
  /// `ringing`, `joined`, `left`), backstage or live, broadcasts; kept up
  /// to date by OnAir's answers and events.
  final ValueNotifier<CallState> state;

  final _states = StreamController<CallState>.broadcast();
  Room? _room;

  /// `type:id`.
  String get cid => '$type:$id';

  /// The LiveKit room once [join]ed (`null` before and after): publish,
  /// subscribe, data messages, everything `livekit_client` does.
  Room? get room => _room;

  /// [state]'s values as a stream.
  Stream<CallState> get states => _states.stream;

  /// This call's events.
  Stream<OnAirEvent> get events => client.events.where((e) => e.callCid == cid);

  /// This call's events of [type] (`call.*` for a prefix).
  Stream<OnAirEvent> on(String type) => events.where((e) => e.matches(type));

  RingMachine? get _ringing => client.ringing.machine(cid);

  /// Gets the call, creating it when absent (see [CallApi.getOrCreate]);
  /// the events socket, if open, watches it from now on.
  Future<CallState> getOrCreate({
    List<MemberRequest>? members,
    bool ring = false,
    bool notify = false,
    bool? video,
    Json? custom,
    Json? settingsOverride,
    DateTime? startsAt,
  }) async {
    final data = CallData(
      members: members,
      custom: custom,
      settingsOverride: settingsOverride,
      startsAt: startsAt,
    );
    final answer = await api.getOrCreate(
      data: data,
      ring: ring,
      notify: notify,
      video: video,
      connectionId: client.socket.connectionId,
    );
    if (ring) {
      _ringing?.ringingOut();
    }
    return _answered(answer);
  }

  /// Reads the call; the events socket, if open, watches it from now on.
  Future<CallState> get() async =>
      _answered(await api.get(connectionId: client.socket.connectionId));

  /// Changes the call's app data, start or settings.
  Future<CallState> update({Json? custom, Json? settingsOverride, DateTime? startsAt}) async =>
      _answered(await api.update(custom: custom, settingsOverride: settingsOverride, startsAt: startsAt));

  /// Joins: `POST {call}/join`, then `Room.connect` with the credentials
  /// OnAir returned, publishing the [camera] and [microphone] as soon as
  /// connected. [create] creates a missing call from [data].
  Future<Room> join({
    bool create = false,
    CallData data = const CallData(),
    bool camera = false,
    bool microphone = false,
    RoomOptions roomOptions = const RoomOptions(),
    ConnectOptions connectOptions = const ConnectOptions(),
  }) async {
    final answer = await api.join(create: create, data: data);
    _answered(answer);
    final credentials = JoinCredentials.fromJoin(answer);
    final room = Room(roomOptions: roomOptions);
    await room.connect(
      credentials.url,
      credentials.token,
      connectOptions: credentials.applyTo(connectOptions),
      fastConnectOptions: FastConnectOptions(
        camera: TrackOption(enabled: camera),
        microphone: TrackOption(enabled: microphone),
      ),
    );
    await _room?.disconnect();
    _room = room;
    _ringing?.joined();
    syncRinging();
    return room;
  }

  /// Leaves the media. With [reject] (or while ringing others unanswered)
  /// the ring is rejected first: a callee declines, a caller cancels
  /// ([reason] overrides).
  Future<void> leave({bool reject = false, RejectReason? reason}) async {
    final ringing = _ringing;
    final unanswered = ringing != null &&
        ringing.state == RingingState.ringing &&
        (reject || (ringing.direction == RingDirection.outgoing && ringing.acceptedBy.isEmpty));
    if (unanswered) {
      await api.reject(reason: reason ?? ringing.rejectReason);
    }
    final room = _room;
    _room = null;
    await room?.disconnect();
    ringing?.left();
    syncRinging();
  }

  /// Ends the call for everyone.
  Future<CallState> end() async => _answered(await api.end());

  /// Leaves backstage; optionally starts HLS and recording with it.
  Future<CallState> goLive({bool startHls = false, bool startRecording = false}) async =>
      _answered(await api.goLive(startHls: startHls, startRecording: startRecording));

  /// Goes back to backstage.
  Future<CallState> stopLive() async => _answered(await api.stopLive());

  /// Rings [membersIds] (all other members when empty).
  Future<Json> ring({List<String> membersIds = const [], bool? video}) async {
    final answer = await api.ring(membersIds: membersIds, video: video);
    _ringing?.ringingOut();
    syncRinging();
    return answer;
  }

  /// Accepts the ring; [join] next.
  Future<Json> accept() async {
    final answer = await api.accept();
    _ringing?.accepted();
    return answer;
  }

  /// Rejects the ring ([RejectReason.decline] by default), or cancels it
  /// when this user rings ([RejectReason.cancel]).
  Future<Json> reject([RejectReason? reason]) async {
    final answer = await api.reject(reason: reason);
    _ringing?.rejected();
    syncRinging();
    return answer;
  }

  /// Starts recording (see [CallApi.startRecording]).
  Future<Json> startRecording({String? preset, String? trackSid}) =>
      api.startRecording(preset: preset, trackSid: trackSid);

  /// Stops recording.
  Future<Json> stopRecording({String? trackSid}) => api.stopRecording(trackSid: trackSid);

  /// The recordings with download links.
  Future<List<Json>> listRecordings() async {
    final answer = await api.listRecordings();
    final list = answer['recordings'];
    return list is List ? list.whereType<Json>().toList() : const [];
  }

  /// Starts the HLS broadcast; [CallState.hlsPlaylistUrl] follows.
  Future<Json> startHLS({String? preset}) => api.startHls(preset: preset);

  /// Stops the HLS broadcast.
  Future<Json> stopHLS() => api.stopHls();

  /// Pushes the call to an RTMP target.
  Future<Json> startRTMPBroadcast({
    required String name,
    required String streamUrl,
    required String streamKey,
    String? preset,
  }) =>
      api.startRtmpBroadcast(name: name, streamUrl: streamUrl, streamKey: streamKey, preset: preset);

  /// Stops the RTMP push [name].
  Future<Json> stopRTMPBroadcast(String name) => api.stopRtmpBroadcast(name);

  /// Disconnects [userId] (and blocks them with [block]).
  Future<Json> kickUser(String userId, {bool block = false}) => api.kickUser(userId, block: block);

  /// Mutes users' microphones, cameras or screen shares.
  Future<Json> muteUsers({
    List<String> userIds = const [],
    bool all = false,
    bool audio = false,
    bool video = false,
    bool screenshare = false,
  }) =>
      api.muteUsers(userIds: userIds, all: all, audio: audio, video: video, screenshare: screenshare);

  /// Blocks [userId] from the call.
  Future<Json> blockUser(String userId) => api.blockUsers([userId]);

  /// Lifts [userId]'s block.
  Future<Json> unblockUser(String userId) => api.unblockUsers([userId]);

  /// Sends a reaction to everyone in the call.
  Future<Json> sendReaction({required String type, String? emojiCode, Json? custom}) =>
      api.sendReaction(type: type, emojiCode: emojiCode, custom: custom);

  /// Sends the app's own event to the call (and, as a data message, to
  /// everyone in its media).
  Future<Json> sendCustomEvent(Json custom) => api.sendCustomEvent(custom);

  /// Re-reads this device's ringing state into [state] (the client calls
  /// it after every ringing step).
  void syncRinging() => _set(state.value.withRinging(client.ringingStateOf(cid)));

  /// Applies one of this call's events to [state] (the client feeds them).
  void handleEvent(OnAirEvent event) {
    _set(state.value.withEvent(event).withRinging(client.ringingStateOf(cid)));
    if (event.type == 'call.ended') {
      final room = _room;
      _room = null;
      unawaited(room?.disconnect());
    }
  }

  /// Leaves the media and frees the state.
  Future<void> dispose() async {
    await _room?.disconnect();
    _room = null;
    state.dispose();
    await _states.close();
  }

  CallState _answered(Json answer) {
    _set(state.value.withResponse(answer));
    return state.value;
  }

  void _set(CallState next) {
    state.value = next;
    if (!_states.isClosed) {
      _states.add(next);
    }
  }
}
