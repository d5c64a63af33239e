/// Where the events socket is.
enum SocketStatus {
  /// Not connected, and not trying ([EventSocket.connect] not called, or
  /// [EventSocket.disconnect] called, or a refusal retrying cannot fix).
  disconnected,

  /// Opening the first connection.
  connecting,

  /// Connected: events arrive as they happen.
  connected,

  /// The connection dropped; waiting, then resuming after the last event.
  reconnecting,
}

/// Why OnAir refused the events socket: `connection.error {code, message}`.
class OnAirSocketException implements Exception {
  /// A refusal with OnAir's [code] and [message].
  const OnAirSocketException(this.code, this.message);

  /// `expired`, `bad_signature`, `too_many_connections`, …
  final String code;

  /// A sentence for people.
  final String message;

  @override
  String toString() => 'OnAirSocketException($code: $message)';
}
