import 'dart:convert';

import 'package:http/http.dart' as http;
import 'package:http/testing.dart';
import 'package:onair_flutter/onair_core.dart';
import 'package:test/test.dart';

import 'support/fixture.dart';

/// How each fixture entry is made with the Dart API: the arguments come
/// from the entry's `args`.
typedef Invoke = Future<Json> Function(CallApi call, DevicesApi devices, Map<String, dynamic> a);

List<MemberRequest>? _members(Object? list) => list == null
    ? null
    : [
        for (final m in (list as List).cast<Map<String, dynamic>>())
          MemberRequest(m['userId'] as String, role: m['role'] as String?),
      ];

List<String> _strings(Object? list) => list == null ? const [] : (list as List).cast<String>();

final Map<String, Invoke> invocations = {
  'getOrCreate': (c, d, a) => c.getOrCreate(
        data: CallData(members: _members(a['members']), custom: a['custom'] as Json?),
        connectionId: a['connectionId'] as String?,
      ),
  'getOrCreate.ring': (c, d, a) => c.getOrCreate(
        data: CallData(members: _members(a['members'])),
        ring: a['ring'] as bool,
        video: a['video'] as bool?,
      ),
  'get': (c, d, a) => c.get(connectionId: a['connectionId'] as String?),
  'update': (c, d, a) => c.update(custom: a['custom'] as Json?),
  'join': (c, d, a) => c.join(create: a['create'] as bool),
  'join.existing': (c, d, a) => c.join(),
  'goLive': (c, d, a) =>
      c.goLive(startHls: a['startHls'] as bool, startRecording: a['startRecording'] as bool),
  'stopLive': (c, d, a) => c.stopLive(),
  'end': (c, d, a) => c.end(),
  'ring': (c, d, a) => c.ring(membersIds: _strings(a['membersIds']), video: a['video'] as bool?),
  'accept': (c, d, a) => c.accept(),
  'reject': (c, d, a) => c.reject(reason: RejectReason.values.byName(a['reason'] as String)),
  'reject.cancel': (c, d, a) => c.reject(reason: RejectReason.values.byName(a['reason'] as String)),
  'startRecording': (c, d, a) => c.startRecording(preset: a['preset'] as String?),
  'stopRecording': (c, d, a) => c.stopRecording(),
  'listRecordings': (c, d, a) => c.listRecordings(),
  'startHls': (c, d, a) => c.startHls(preset: a['preset'] as String?),
  'stopHls': (c, d, a) => c.stopHls(),
  'startRtmpBroadcast': (c, d, a) => c.startRtmpBroadcast(
        name: a['name'] as String,
        streamUrl: a['streamUrl'] as String,
        streamKey: a['streamKey'] as String,
        preset: a['preset'] as String?,
      ),
  'stopRtmpBroadcast': (c, d, a) => c.stopRtmpBroadcast(a['name'] as String),
  'kickUser': (c, d, a) => c.kickUser(a['userId'] as String),
  'muteUsers': (c, d, a) => c.muteUsers(userIds: _strings(a['userIds']), audio: a['audio'] as bool),
  'blockUsers': (c, d, a) => c.blockUsers(_strings(a['userIds'])),
  'unblockUsers': (c, d, a) => c.unblockUsers(_strings(a['userIds'])),
  'sendReaction': (c, d, a) => c.sendReaction(
        type: a['type'] as String,
        emojiCode: a['emojiCode'] as String?,
        custom: a['custom'] as Json?,
      ),
  'sendCustomEvent': (c, d, a) => c.sendCustomEvent(a['custom'] as Json),
  'updateMembers': (c, d, a) => c.updateMembers(update: _members(a['update']) ?? const []),
  'members': (c, d, a) => c.members(),
  'participants': (c, d, a) => c.participants(),
  'requestPermissions': (c, d, a) => c.requestPermissions(_strings(a['permissions'])),
  'updateUserPermissions': (c, d, a) =>
      c.updateUserPermissions(a['userId'] as String, grant: _strings(a['grant'])),
  'devices.add': (c, d, a) =>
      d.add(id: a['id'] as String, provider: PushProvider.values.byName(a['provider'] as String)),
  'devices.addVoip': (c, d, a) => d.add(
        id: a['id'] as String,
        provider: PushProvider.values.byName(a['provider'] as String),
        voip: a['voip'] as bool,
      ),
  'devices.list': (c, d, a) => d.list(),
  'devices.remove': (c, d, a) => d.remove(a['id'] as String),
};

void main() {
  final wire = loadFixture('wire.json');
  final requests = wire['requests'] as Map<String, dynamic>;
  final headers = fill(wire['headers']) as Map<String, dynamic>;

  test('every Dart call has a fixture entry, and every entry a Dart call', () {
    expect(invocations.keys.toSet(), requests.keys.toSet());
  });

  for (final MapEntry(key: name, value: entry) in requests.entries) {
    final expected = fill(entry) as Map<String, dynamic>;
    test('$name sends what wire.json says', () async {
      final seen = <http.Request>[];
      final client = MockClient((request) async {
        seen.add(request);
        return http.Response('{}', 200, headers: {'content-type': 'application/json'});
      });
      final rest = RestClient(
        baseUrl: Uri.parse('https://onair.example.test'),
        tokens: TokenSource(token: 'TOKEN'),
        httpClient: client,
      );
      await invocations[name]!(
        CallApi(rest, 'TYPE', 'ID'),
        DevicesApi(rest),
        expected['args'] as Map<String, dynamic>,
      );
      expect(seen, hasLength(1));
      final request = seen.single;
      expect(request.method, expected['method']);
      expect(request.url.path, expected['path']);
      expect(request.url.queryParameters, expected['query'] ?? <String, String>{});
      for (final MapEntry(:key, :value) in headers.entries) {
        expect(request.headers[key], value, reason: key);
      }
      if (expected.containsKey('body')) {
        expect(request.headers['content-type'], wire['json_content_type']);
        expect(jsonDecode(request.body), expected['body']);
      } else {
        expect(request.body, isEmpty);
        expect(request.headers.containsKey('content-type'), isFalse);
      }
    });
  }
}
