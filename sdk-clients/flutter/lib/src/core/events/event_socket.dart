import 'dart:async';
import 'dart:convert';

import '../auth/token_source.dart';
import 'backoff.dart';
import 'on_air_event.dart';
import 'socket_channel.dart';
import 'socket_frames.dart';
import 'socket_status.dart';

/// Codes of `connection.error` that a fresh token may cure.
const _tokenCodes = {
  'expired',
  'bad_signature',
  'unknown_key',
  'malformed_token',
  'missing_token',
  'wrong_token_kind',
  'bad_algorithm',
};

/// How one connection ended.
enum _End { retry, refreshToken, fatal, stopped }

/// OnAir's events socket (`/v1/connect`), kept open: the events of the
/// user's calls (and of calls it watches) in log order, each once.
///
/// A dropped connection is reopened after a [Backoff] wait with
/// `?after=<last event id>`, so OnAir replays what was missed before
/// anything new; replayed events already delivered are skipped. The
/// socket answers OnAir's `health.check`s and reconnects when it has heard
/// nothing for [silenceLimit].
class EventSocket {
  /// A socket to the OnAir server at [baseUrl] for the holder of [tokens].
  EventSocket({
    required this.baseUrl,
    required this.tokens,
    SocketConnector? connector,
    Backoff? backoff,
    this.authTimeout = const Duration(seconds: 10),
    this.silenceLimit = const Duration(seconds: 60),
    Future<void> Function(Duration)? sleep,
  })  : _connector = connector ?? connectWebSocket,
        _backoff = backoff ?? Backoff(),
        _sleep = sleep ?? Future<void>.delayed;

  /// Where OnAir answers.
  final Uri baseUrl;

  /// The user token, sent as the first message of every connection.
  final TokenSource tokens;

  /// How long OnAir may take to answer the token with `connection.ok`.
  final Duration authTimeout;

  /// How long without a message from OnAir before the connection is
  /// deemed dead (OnAir sends a `health.check` every 25 s).
  final Duration silenceLimit;

  final SocketConnector _connector;
  final Backoff _backoff;
  final Future<void> Function(Duration) _sleep;
  final _events = StreamController<OnAirEvent>.broadcast();
  final _statuses = StreamController<SocketStatus>.broadcast();

  SocketStatus _status = SocketStatus.disconnected;
  bool _running = false;
  Completer<void>? _firstConnection;
  Completer<_End>? _session;
  SocketChannel? _channel;
  Future<void>? _loop;
  Completer<void> _stop = Completer<void>();
  bool _refreshedLast = false;
  String? _lastEventId;
  String? _connectionId;
  String? _userId;
  OnAirSocketException? _lastError;

  /// The events, in log order; after a reconnection the missed ones come
  /// first. An event is never delivered twice.
  Stream<OnAirEvent> get events => _events.stream;

  /// Every change of [status].
  Stream<SocketStatus> get statuses => _statuses.stream;

  /// Where the socket is.
  SocketStatus get status => _status;

  /// The open connection's id (for `connection_id` on REST calls that make
  /// this socket watch a call), or `null` while not connected.
  String? get connectionId => _status == SocketStatus.connected ? _connectionId : null;

  /// The last event delivered (or, before any, where the log stood when
  /// the socket first connected): the next connection resumes after it.
  String? get lastEventId => _lastEventId;

  /// The user OnAir says the token is for (`null` for a server token).
  String? get userId => _userId;

  /// Why OnAir last refused the socket for good, if it did.
  OnAirSocketException? get lastError => _lastError;

  /// Opens the socket, resuming after [after] if given. Completes when
  /// OnAir has accepted the token; fails with [OnAirSocketException] when
  /// it refuses it and no fresh token helps. Connection failures are
  /// retried with the backoff until [disconnect].
  Future<void> connect({String? after}) {
    if (_running) {
      return _firstConnection!.future;
    }
    _running = true;
    _stop = Completer<void>();
    _lastError = null;
    _lastEventId = after ?? _lastEventId;
    _firstConnection = Completer<void>();
    _setStatus(SocketStatus.connecting);
    _loop = _run();
    return _firstConnection!.future;
  }

  /// Closes the socket and stops reconnecting. [connect] opens it again,
  /// resuming after [lastEventId].
  Future<void> disconnect() async {
    _running = false;
    if (!_stop.isCompleted) {
      _stop.complete();
    }
    final session = _session;
    if (session != null && !session.isCompleted) {
      session.complete(_End.stopped);
    }
    await _loop;
  }

  /// Closes the socket for good and ends [events] and [statuses].
  Future<void> dispose() async {
    await disconnect();
    await _events.close();
    await _statuses.close();
  }

  Future<void> _run() async {
    var freshToken = false;
    while (_running) {
      final end = await _connectOnce(freshToken);
      freshToken = end == _End.refreshToken;
      if (end == _End.fatal || end == _End.stopped || !_running) {
        break;
      }
      _setStatus(SocketStatus.reconnecting);
      if (!freshToken) {
        await Future.any([_sleep(_backoff.next()), _stop.future]);
      }
    }
    _running = false;
    _setStatus(SocketStatus.disconnected);
  }

  /// One connection, from opening to its end.
  Future<_End> _connectOnce(bool freshToken) async {
    final session = _session = Completer<_End>();
    final String token;
    try {
      token = freshToken ? await tokens.refresh() : await tokens.token();
    } on Object {
      return _End.retry;
    }
    final channel = _channel = _connector(eventSocketUrl(baseUrl, after: _lastEventId));
    try {
      await channel.ready;
    } on Object {
      return session.isCompleted ? await session.future : _End.retry;
    }
    if (session.isCompleted) {
      await channel.close();
      return await session.future;
    }
    channel.send(authFrame(token));
    final watchdog = _Watchdog(silenceLimit, () => _finish(session, _End.retry));
    final authTimer = Timer(authTimeout, () => _finish(session, _End.retry));
    final subscription = channel.messages.listen(
      (text) {
        watchdog.heard();
        _onFrame(text, session, authTimer);
      },
      onError: (Object _) => _finish(session, _End.retry),
      onDone: () => _finish(session, _End.retry),
    );
    final end = await session.future;
    authTimer.cancel();
    watchdog.stop();
    await subscription.cancel();
    await channel.close();
    _channel = null;
    return end;
  }

  void _onFrame(String text, Completer<_End> session, Timer authTimer) {
    final Object? frame;
    try {
      frame = jsonDecode(text);
    } on FormatException {
      return;
    }
    if (frame is! Map<String, dynamic>) {
      return;
    }
    switch (frame['type']) {
      case 'connection.ok':
        authTimer.cancel();
        _onConnected(frame);
      case 'connection.error':
        _finish(session, _refusal(frame));
      case 'health.check':
        _channel?.send(healthReplyFrame());
      default:
        _onEvent(frame);
    }
  }

  void _onConnected(Map<String, dynamic> ok) {
    _connectionId = ok['connection_id'] as String?;
    _userId = ok['user_id'] as String?;
    _lastEventId ??= ok['last_event_id'] as String?;
    _refreshedLast = false;
    _backoff.reset();
    _setStatus(SocketStatus.connected);
    final first = _firstConnection;
    if (first != null && !first.isCompleted) {
      first.complete();
    }
  }

  void _onEvent(Map<String, dynamic> json) {
    final event = OnAirEvent.fromJson(json);
    if (event == null) {
      return;
    }
    final last = _lastEventId;
    if (last != null && compareEventIds(event.id, last) <= 0) {
      return;
    }
    _lastEventId = event.id;
    _events.add(event);
  }

  /// What to do about `connection.error`: a token problem is retried once
  /// with a fresh token, then given up; anything else is retried later.
  _End _refusal(Map<String, dynamic> frame) {
    final error = frame['error'];
    final code = error is Map && error['code'] is String ? error['code'] as String : 'unknown';
    final message = error is Map && error['message'] is String ? error['message'] as String : '';
    if (!_tokenCodes.contains(code)) {
      return _End.retry;
    }
    if (tokens.canRefresh && !_refreshedLast) {
      _refreshedLast = true;
      return _End.refreshToken;
    }
    final refusal = _lastError = OnAirSocketException(code, message);
    final first = _firstConnection;
    if (first != null && !first.isCompleted) {
      first.completeError(refusal);
    }
    return _End.fatal;
  }

  void _finish(Completer<_End> session, _End end) {
    if (!session.isCompleted) {
      session.complete(end);
    }
  }

  void _setStatus(SocketStatus status) {
    if (_status == status) {
      return;
    }
    _status = status;
    if (!_statuses.isClosed) {
      _statuses.add(status);
    }
  }
}

/// Fires when nothing was heard for a while.
class _Watchdog {
  _Watchdog(this.limit, this.onSilence) {
    heard();
  }

  final Duration limit;
  final void Function() onSilence;
  Timer? _timer;

  void heard() {
    _timer?.cancel();
    _timer = Timer(limit, onSilence);
  }

  void stop() => _timer?.cancel();
}
