import 'package:onair_flutter/onair_core.dart';
import 'package:test/test.dart';

OnAirEvent event(String type, [Map<String, Object?> fields = const {}]) => OnAirEvent.fromJson({
      'id': '7',
      'type': type,
      'created_at': '2026-01-01T12:00:00.000Z',
      'call_cid': 'livestream:show',
      ...fields,
    })!;

void main() {
  const empty = CallState(cid: 'livestream:show');

  test('an answer of OnAir sets the call, members, capabilities and broadcasts', () {
    final state = empty.withResponse({
      'call': {
        'cid': 'livestream:show',
        'backstage': true,
        'ended_at': null,
        'custom': {'title': 'Launch'},
        'session': {'participants_count': 3},
        'egress': {
          'recording': {'id': 'EG_1', 'state': 'active'},
          'hls': {'id': 'EG_2', 'state': 'active', 'playlist_url': 'https://x/files/p.m3u8?sig'},
          'rtmps': [
            {'name': 'youtube', 'state': 'active'},
          ],
        },
      },
      'members': [
        {'user_id': 'alice', 'role': 'host'},
      ],
      'own_capabilities': ['join-call', 'end-call'],
      'role': 'host',
    });
    expect(state.backstage, isTrue);
    expect(state.live, isFalse);
    expect(state.custom, {'title': 'Launch'});
    expect(state.participantCount, 3);
    expect(state.recording, isTrue);
    expect(state.hlsPlaylistUrl, 'https://x/files/p.m3u8?sig');
    expect(state.rtmpBroadcasts, ['youtube']);
    expect(state.members.single['role'], 'host');
    expect(state.ownCapabilities, ['join-call', 'end-call']);
    expect(state.role, 'host');
  });

  test('events move it: live, members, broadcasts, end', () {
    var state = empty.withResponse({
      'call': {'cid': 'livestream:show', 'backstage': true},
      'members': [
        {'user_id': 'alice', 'role': 'host'},
      ],
    });
    state = state.withEvent(event('call.live_started'));
    expect(state.live, isTrue);
    state = state
        .withEvent(event('call.member_added', {'user_id': 'bob', 'role': 'call_member'}))
        .withEvent(event('call.member_updated', {'user_id': 'alice', 'role': 'admin'}));
    expect(state.members.map((m) => '${m['user_id']}:${m['role']}'), ['alice:admin', 'bob:call_member']);
    state = state.withEvent(event('call.member_removed', {'user_id': 'bob'}));
    expect(state.members, hasLength(1));
    state = state
        .withEvent(event('call.hls_broadcasting_started', {'playlist_url': 'https://x/p.m3u8'}))
        .withEvent(event('call.rtmp_broadcast_started', {'name': 'twitch'}))
        .withEvent(event('call.recording_started'))
        .withEvent(event('call.session_participant_count_updated', {'participants_count': 5}));
    expect((state.hlsPlaylistUrl, state.recording, state.participantCount), ('https://x/p.m3u8', true, 5));
    expect(state.rtmpBroadcasts, ['twitch']);
    state = state
        .withEvent(event('call.hls_broadcasting_stopped'))
        .withEvent(event('call.rtmp_broadcast_stopped', {'name': 'twitch'}))
        .withEvent(event('call.recording_ready'))
        .withEvent(event('call.recording_stopped'))
        .withEvent(event('call.updated', {'custom': {'title': 'Later'}}))
        .withEvent(event('call.live_stopped'));
    expect((state.hlsPlaylistUrl, state.recording, state.backstage), (null, false, true));
    expect(state.rtmpBroadcasts, isEmpty);
    expect(state.custom, {'title': 'Later'});
    state = state.withEvent(event('call.ended'));
    expect(state.ended, isTrue);
    expect(state.endedAt, DateTime.utc(2026, 1, 1, 12));
  });

  test('events of other calls change nothing; ringing is set by the machine', () {
    final other = OnAirEvent.fromJson({
      'id': '8',
      'type': 'call.live_started',
      'call_cid': 'livestream:other',
    })!;
    expect(identical(empty.withEvent(other), empty), isTrue);
    expect(empty.withRinging(RingingState.ringing).ringing, RingingState.ringing);
  });

  test('event ids compare as numbers of any length', () {
    expect(compareEventIds('9', '10'), lessThan(0));
    expect(compareEventIds('18446744073709551617', '18446744073709551616'), greaterThan(0));
    expect(compareEventIds('42', '42'), 0);
    expect(compareEventIds('007', '7'), 0);
  });
}
