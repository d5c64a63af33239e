import '../api/rest_client.dart';
import '../events/on_air_event.dart';
import '../ringing/ringing_state.dart';

/// What the app knows of one call: the call as OnAir last showed it, its
/// members, this device's ringing state, backstage or live, and the
/// broadcasts running. Immutable; [withResponse] and [withEvent] make the
/// next state.
class CallState {
  /// A state of call [cid].
  const CallState({
    required this.cid,
    this.call = const {},
    this.members = const [],
    this.ringing = RingingState.idle,
    this.backstage = false,
    this.endedAt,
    this.ownCapabilities = const [],
    this.role,
    this.participantCount = 0,
    this.recording = false,
    this.hlsPlaylistUrl,
    this.rtmpBroadcasts = const [],
    this.custom = const {},
  });

  /// The call, `type:id`.
  final String cid;

  /// The call as OnAir last answered it (`{cid, type, id, backstage,
  /// custom, settings, session, egress, ingress, …}`).
  final Json call;

  /// Its members, `{user_id, role, custom, user?}` each.
  final List<Json> members;

  /// This device's ringing state.
  final RingingState ringing;

  /// In backstage: only hosts publish and see each other.
  final bool backstage;

  /// When the call ended, if it did.
  final DateTime? endedAt;

  /// What this user may do in the call (`send-audio`, `end-call`, …).
  final List<String> ownCapabilities;

  /// This user's role in the call, once joined.
  final String? role;

  /// How many are connected to the call's media.
  final int participantCount;

  /// A recording is running.
  final bool recording;

  /// The HLS playlist while the call is broadcast over HLS.
  final String? hlsPlaylistUrl;

  /// The names of the RTMP pushes running.
  final List<String> rtmpBroadcasts;

  /// The app's data about the call.
  final Json custom;

  /// Live: out of backstage and not ended.
  bool get live => !backstage && endedAt == null;

  /// Whether the call has ended.
  bool get ended => endedAt != null;

  /// The state after one of OnAir's answers that show the call
  /// (`getOrCreate`, `get`, `update`, `join`, `goLive`, `stopLive`, `end`).
  CallState withResponse(Json response) {
    final call = response['call'];
    if (call is! Json) {
      return this;
    }
    final egress = call['egress'] is Json ? call['egress'] as Json : const <String, dynamic>{};
    final hls = egress['hls'] is Json ? egress['hls'] as Json : null;
    final rtmps = egress['rtmps'] is List ? egress['rtmps'] as List : const [];
    final session = call['session'] is Json ? call['session'] as Json : null;
    final members = response['members'];
    final caps = response['own_capabilities'];
    final ended = call['ended_at'];
    return _copy(
      call: call,
      members: members is List ? members.whereType<Json>().toList() : null,
      backstage: call['backstage'] == true,
      endedAt: ended is String ? DateTime.tryParse(ended) : null,
      clearEnded: ended == null,
      ownCapabilities: caps is List ? caps.whereType<String>().toList() : null,
      role: response['role'] is String ? response['role'] as String : null,
      participantCount: session != null && session['participants_count'] is int
          ? session['participants_count'] as int
          : null,
      recording: egress['recording'] != null,
      hlsPlaylistUrl: hls?['playlist_url'] as String?,
      clearHls: hls?['playlist_url'] == null,
      rtmpBroadcasts: [
        for (final r in rtmps)
          if (r is Json && r['name'] is String) r['name'] as String,
      ],
      custom: call['custom'] is Json ? call['custom'] as Json : null,
    );
  }

  /// The state after [event] (an event of this call).
  CallState withEvent(OnAirEvent event) {
    if (event.callCid != cid) {
      return this;
    }
    switch (event.type) {
      case 'call.updated':
        return _copy(custom: event['custom'] is Json ? event['custom'] as Json : null);
      case 'call.live_started':
        return _copy(backstage: false);
      case 'call.live_stopped':
        return _copy(backstage: true);
      case 'call.ended':
        return _copy(endedAt: event.createdAt ?? DateTime.now().toUtc());
      case 'call.member_added' || 'call.member_updated':
        return _copy(members: _upsert(event));
      case 'call.member_removed':
        return _copy(members: [
          for (final m in members)
            if (m['user_id'] != event['user_id']) m,
        ]);
      case 'call.session_participant_count_updated':
        final count = event['participants_count'];
        return _copy(participantCount: count is int ? count : null);
      case 'call.recording_started':
        return _copy(recording: true);
      case 'call.recording_stopped' || 'call.recording_failed':
        return _copy(recording: false);
      case 'call.hls_broadcasting_started':
        return _copy(hlsPlaylistUrl: event.string('playlist_url'));
      case 'call.hls_broadcasting_stopped' || 'call.hls_broadcasting_failed':
        return _copy(clearHls: true);
      case 'call.rtmp_broadcast_started':
        final name = event.string('name');
        return name == null ? this : _copy(rtmpBroadcasts: {...rtmpBroadcasts, name}.toList());
      case 'call.rtmp_broadcast_stopped' || 'call.rtmp_broadcast_failed':
        return _copy(rtmpBroadcasts: [
          for (final n in rtmpBroadcasts)
            if (n != event.string('name')) n,
        ]);
    }
    return this;
  }

  /// The state with this device's ringing state [ringing].
  CallState withRinging(RingingState ringing) => _copy(ringing: ringing);

  List<Json> _upsert(OnAirEvent event) {
    final id = event['user_id'];
    final changed = <String, dynamic>{
      'user_id': id,
      if (event['role'] != null) 'role': event['role'],
      if (event['custom'] != null) 'custom': event['custom'],
    };
    final index = members.indexWhere((m) => m['user_id'] == id);
    if (index < 0) {
      return [...members, changed];
    }
    return [
      for (var i = 0; i < members.length; i++) i == index ? {...members[i], ...changed} : members[i],
    ];
  }

  CallState _copy({
    Json? call,
    List<Json>? members,
    RingingState? ringing,
    bool? backstage,
    DateTime? endedAt,
    bool clearEnded = false,
    List<String>? ownCapabilities,
    String? role,
    int? participantCount,
    bool? recording,
    String? hlsPlaylistUrl,
    bool clearHls = false,
    List<String>? rtmpBroadcasts,
    Json? custom,
  }) =>
      CallState(
        cid: cid,
        call: call ?? this.call,
        members: members ?? this.members,
        ringing: ringing ?? this.ringing,
        backstage: backstage ?? this.backstage,
        endedAt: clearEnded ? null : endedAt ?? this.endedAt,
        ownCapabilities: ownCapabilities ?? this.ownCapabilities,
        role: role ?? this.role,
        participantCount: participantCount ?? this.participantCount,
        recording: recording ?? this.recording,
        hlsPlaylistUrl: clearHls ? null : hlsPlaylistUrl ?? this.hlsPlaylistUrl,
        rtmpBroadcasts: rtmpBroadcasts ?? this.rtmpBroadcasts,
        custom: custom ?? this.custom,
      );
}
