import 'package:onair_flutter/onair_core.dart';
import 'package:test/test.dart';

import 'support/fixture.dart';

void main() {
  final cases = (loadFixture('pushes.json')['cases'] as List).cast<Map<String, dynamic>>();

  test('the fixture covers every kind of push on both services', () {
    final kinds = {for (final c in cases) '${c['provider']} ${(c['message'] as Map)['type']}'};
    expect(kinds, containsAll(['apns ring', 'apns ended', 'fcm ring', 'fcm ended', 'fcm missed']));
  });

  for (final c in cases) {
    test('reads "${c['name']}"', () {
      final message = c['message'] as Map<String, dynamic>;
      final push = PushMessage.parse(c['payload'] as Map<String, dynamic>);
      expect(push?.callCid, message['call_cid']);
      switch (message['type']) {
        case 'ring' || 'missed':
          final call = switch (push) {
            RingPush(:final call) when message['type'] == 'ring' => call,
            MissedCallPush(:final call) when message['type'] == 'missed' => call,
            _ => fail('read as $push'),
          };
          expect(call.callerId, message['caller_id']);
          expect(call.callerName, message['caller_name']);
          expect(call.video, message['video']);
        case 'ended':
          expect(push, isA<RingEndedPush>().having((p) => p.reason, 'reason', message['reason']));
        default:
          fail('unknown message type ${message['type']}');
      }
    });
  }

  test('anything else is not an OnAir push', () {
    expect(PushMessage.parse({'type': 'call.ring'}), isNull);
    expect(PushMessage.parse({'type': 'call.ring', 'call_cid': 'nocolon', 'caller_id': 'a'}), isNull);
    expect(PushMessage.parse({'type': 'chat.message', 'call_cid': 'default:x'}), isNull);
    expect(PushMessage.parse({'type': 'call.ring', 'call_cid': 'default:x'}), isNull);
  });
}
