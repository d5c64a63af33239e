import 'dart:async';
import 'dart:convert';

import 'package:onair_flutter/onair_core.dart';

/// A socket the test plays the server of.
class FakeChannel implements SocketChannel {
  /// A channel opened to [url]; [fails] makes it never open.
  FakeChannel(this.url, {this.fails = false});

  /// Where the client connected.
  final Uri url;

  /// Whether opening fails.
  final bool fails;

  /// What the client sent, decoded.
  final List<Object?> sent = [];

  final _incoming = StreamController<String>();

  /// Whether the client closed it.
  bool closed = false;

  @override
  Future<void> get ready =>
      fails ? Future.error(StateError('connection refused')) : Future.value();

  @override
  Stream<String> get messages => _incoming.stream;

  @override
  void send(String text) => sent.add(jsonDecode(text));

  @override
  Future<void> close() async {
    closed = true;
    if (!_incoming.isClosed) {
      await _incoming.close();
    }
  }

  /// The server sends [frame].
  void serve(Map<String, Object?> frame) => _incoming.add(jsonEncode(frame));

  /// The server accepts the token.
  void ok({String connectionId = 'conn-1', String? userId = 'bob', String lastEventId = '0'}) =>
      serve({
        'type': 'connection.ok',
        'connection_id': connectionId,
        'user_id': userId,
        'last_event_id': lastEventId,
      });

  /// The server sends event [id] of [type].
  void event(int id, {String type = 'custom', String cid = 'default:c1'}) => serve({
        'id': '$id',
        'type': type,
        'created_at': '2026-01-01T00:00:00.000Z',
        'call_cid': cid,
      });

  /// The connection drops.
  Future<void> drop() => _incoming.close();
}

/// Hands out [FakeChannel]s and keeps them, in order.
class FakeConnector {
  /// Channels that fail to open, by their number (0 is the first).
  FakeConnector({this.failing = const {}});

  /// Which connections fail to open.
  final Set<int> failing;

  /// Every channel opened so far.
  final List<FakeChannel> channels = [];

  final _opened = StreamController<FakeChannel>.broadcast();

  /// Opens the next channel.
  SocketChannel call(Uri url) {
    final channel = FakeChannel(url, fails: failing.contains(channels.length));
    channels.add(channel);
    _opened.add(channel);
    return channel;
  }

  /// The [n]th channel (0 is the first), once it is opened.
  Future<FakeChannel> channel(int n) async {
    while (channels.length <= n) {
      await _opened.stream.first;
    }
    return channels[n];
  }
}

/// Lets queued microtasks and timers of zero length run.
Future<void> settle() => Future<void>.delayed(Duration.zero);
