import 'dart:async';

import 'package:web_socket_channel/web_socket_channel.dart';

/// One open WebSocket as the events socket needs it: text frames in and out.
abstract interface class SocketChannel {
  /// Completes once the socket is open; fails if it cannot be opened.
  Future<void> get ready;

  /// The text frames the server sends; done when the socket closes.
  Stream<String> get messages;

  /// Sends one text frame.
  void send(String text);

  /// Closes the socket.
  Future<void> close();
}

/// Opens a socket to [url].
typedef SocketConnector = SocketChannel Function(Uri url);

/// Opens a socket with `package:web_socket_channel` (dart:io on phones
/// and desktops, the browser's WebSocket on the web).
SocketChannel connectWebSocket(Uri url) => _WebSocketChannelAdapter(WebSocketChannel.connect(url));

class _WebSocketChannelAdapter implements SocketChannel {
  _WebSocketChannelAdapter(this._channel);

  final WebSocketChannel _channel;

  @override
  Future<void> get ready => _channel.ready;

  @override
  Stream<String> get messages => _channel.stream.where((m) => m is String).cast<String>();

  @override
  void send(String text) => _channel.sink.add(text);

  @override
  Future<void> close() async {
    await _channel.sink.close();
  }
}
