import 'dart:convert';

/// The URL of OnAir's events socket below [baseUrl] (`http` becomes `ws`,
/// `https` becomes `wss`), resuming after event [after] when given.
Uri eventSocketUrl(Uri baseUrl, {String? after}) {
  final prefix = baseUrl.path.endsWith('/')
      ? baseUrl.path.substring(0, baseUrl.path.length - 1)
      : baseUrl.path;
  return Uri(
    scheme: baseUrl.scheme == 'https' ? 'wss' : 'ws',
    host: baseUrl.host,
    port: baseUrl.hasPort ? baseUrl.port : null,
    path: '$prefix/v1/connect',
    queryParameters: after == null ? null : {'after': after},
  );
}

/// The first message: the user token. It travels in the socket rather
/// than in a header so that one code path serves phones and browsers
/// (which cannot set headers on a WebSocket), and never in the URL.
String authFrame(String token) => jsonEncode({'token': token});

/// The answer to each `health.check`: OnAir closes a socket it has not
/// heard from in 60 s, and sends a check every 25 s.
String healthReplyFrame() => jsonEncode({'type': 'health.check'});
