import 'dart:async';

import 'package:onair_flutter/onair_core.dart';
import 'package:test/test.dart';

import 'support/fake_channel.dart';

void main() {
  late FakeConnector connector;
  late List<Duration> delays;
  late List<String> got;

  EventSocket open({
    TokenSource? tokens,
    Duration silenceLimit = const Duration(seconds: 60),
  }) {
    final socket = EventSocket(
      baseUrl: Uri.parse('https://onair.test'),
      tokens: tokens ?? TokenSource(token: 'TOKEN'),
      connector: connector.call,
      backoff: Backoff(random: () => 0),
      silenceLimit: silenceLimit,
      sleep: (d) async => delays.add(d),
    );
    socket.events.listen((e) => got.add(e.id));
    return socket;
  }

  setUp(() {
    connector = FakeConnector();
    delays = [];
    got = [];
  });

  test('sends the token first, then resumes after the last event: replay before live, none twice', () async {
    final socket = open();
    final connected = socket.connect();
    final first = await connector.channel(0);
    await settle();
    expect(first.url.toString(), 'wss://onair.test/v1/connect');
    expect(first.sent, [
      {'token': 'TOKEN'},
    ]);
    first.ok(lastEventId: '10');
    await connected;
    expect(socket.status, SocketStatus.connected);
    expect(socket.connectionId, 'conn-1');
    expect(socket.userId, 'bob');
    expect(socket.lastEventId, '10');

    first
      ..event(11)
      ..event(12);
    await settle();
    await first.drop();

    final second = await connector.channel(1);
    await settle();
    expect(first.closed, isTrue);
    expect(second.url.queryParameters, {'after': '12'});
    expect(second.sent, [
      {'token': 'TOKEN'},
    ]);
    expect(delays, [const Duration(milliseconds: 250)]);
    expect(socket.status, SocketStatus.reconnecting);
    expect(socket.connectionId, isNull);

    second
      ..ok(connectionId: 'conn-2', lastEventId: '12')
      ..event(12)
      ..event(13)
      ..event(9);
    await settle();
    second.event(14);
    await settle();
    expect(got, ['11', '12', '13', '14']);
    expect(socket.connectionId, 'conn-2');
    await socket.dispose();
  });

  test('connect(after:) resumes from an id the app kept', () async {
    final socket = open();
    unawaited(socket.connect(after: '41'));
    final first = await connector.channel(0);
    expect(first.url.queryParameters, {'after': '41'});
    first
      ..ok(lastEventId: '41')
      ..event(41)
      ..event(42);
    await settle();
    expect(got, ['42']);
    await socket.dispose();
  });

  test('answers health checks', () async {
    final socket = open();
    unawaited(socket.connect());
    final first = await connector.channel(0);
    first
      ..ok()
      ..serve({'type': 'health.check', 'connection_id': 'conn-1'});
    await settle();
    expect(first.sent.last, {'type': 'health.check'});
    expect(got, isEmpty);
    await socket.dispose();
  });

  test('failures back off exponentially; a connection that works resets the backoff', () async {
    connector = FakeConnector(failing: {0, 1, 2});
    final socket = open();
    final connected = socket.connect();
    final fourth = await connector.channel(3);
    await settle();
    expect(delays, [
      const Duration(milliseconds: 250),
      const Duration(milliseconds: 500),
      const Duration(milliseconds: 1000),
    ]);
    fourth.ok();
    await connected;
    await fourth.drop();
    await connector.channel(4);
    expect(delays.last, const Duration(milliseconds: 250));
    await socket.dispose();
  });

  test('a silent connection is dropped and resumed', () async {
    final socket = open(silenceLimit: const Duration(milliseconds: 50));
    unawaited(socket.connect());
    final first = await connector.channel(0);
    first
      ..ok(lastEventId: '5')
      ..event(6);
    final second = await connector.channel(1).timeout(const Duration(seconds: 2));
    expect(first.closed, isTrue);
    expect(second.url.queryParameters, {'after': '6'});
    await socket.dispose();
  });

  test('an expired token is refreshed at once; a refused fresh one ends the socket', () async {
    var issued = 0;
    final socket = open(tokens: TokenSource(token: 'old', provider: () async => 'fresh${++issued}'));
    final connected = socket.connect();
    final first = await connector.channel(0);
    await settle();
    first.serve({
      'type': 'connection.error',
      'error': {'code': 'expired', 'message': 'token expired'},
    });
    final second = await connector.channel(1);
    await settle();
    expect(second.sent, [
      {'token': 'fresh1'},
    ]);
    expect(delays, isEmpty);
    second.serve({
      'type': 'connection.error',
      'error': {'code': 'bad_signature', 'message': 'no'},
    });
    await expectLater(
      connected,
      throwsA(isA<OnAirSocketException>().having((e) => e.code, 'code', 'bad_signature')),
    );
    await settle();
    expect(socket.status, SocketStatus.disconnected);
    expect(socket.lastError?.code, 'bad_signature');
    expect(connector.channels, hasLength(2));
  });

  test('too many connections is retried later', () async {
    final socket = open();
    unawaited(socket.connect());
    final first = await connector.channel(0);
    first.serve({
      'type': 'connection.error',
      'error': {'code': 'too_many_connections', 'message': 'later'},
    });
    await connector.channel(1);
    expect(delays, [const Duration(milliseconds: 250)]);
    await socket.dispose();
  });

  test('disconnect closes the socket and stops reconnecting', () async {
    final socket = open();
    final statuses = <SocketStatus>[];
    socket.statuses.listen(statuses.add);
    final connected = socket.connect();
    final first = await connector.channel(0);
    first.ok();
    await connected;
    await socket.disconnect();
    expect(first.closed, isTrue);
    expect(socket.status, SocketStatus.disconnected);
    await settle();
    expect(connector.channels, hasLength(1));
    expect(statuses, [SocketStatus.connecting, SocketStatus.connected, SocketStatus.disconnected]);
  });
}
