import 'dart:convert';

import 'package:http/http.dart' as http;

import '../auth/token_source.dart';
import 'api_exception.dart';

/// A JSON object as OnAir sends and answers it.
typedef Json = Map<String, dynamic>;

/// Sends requests to OnAir's REST API with the user's token and decodes
/// its JSON answers.
///
/// Every request carries `Authorization: Bearer <token>` (OnAir never
/// takes a token in the URL); a body is sent as `application/json`. A
/// `401 expired` is retried once with a fresh token when the
/// [TokenSource] can refresh; any other refusal is thrown as an
/// [OnAirApiException].
class RestClient {
  /// A client of the OnAir server at [baseUrl] (e.g.
  /// `https://video.example.com`), sending through [httpClient].
  RestClient({required this.baseUrl, required this.tokens, http.Client? httpClient})
      : _http = httpClient ?? http.Client(),
        _ownsHttp = httpClient == null;

  /// Where OnAir answers; paths such as `/v1/calls/…` go below it.
  final Uri baseUrl;

  /// The user token.
  final TokenSource tokens;

  final http.Client _http;
  final bool _ownsHttp;

  /// `GET path`.
  Future<Json> get(String path, {Map<String, String>? query}) =>
      send('GET', path, query: query);

  /// `POST path` with [body] (`{}` when none is given).
  Future<Json> post(String path, {Json body = const {}, Map<String, String>? query}) =>
      send('POST', path, body: body, query: query);

  /// `PATCH path` with [body].
  Future<Json> patch(String path, Json body) => send('PATCH', path, body: body);

  /// `DELETE path`.
  Future<Json> delete(String path, {Map<String, String>? query}) =>
      send('DELETE', path, query: query);

  /// Sends [method] to [path] with [query] and [body]; the decoded answer.
  Future<Json> send(String method, String path, {Json? body, Map<String, String>? query}) async {
    var response = await _send(method, url(path, query), body, await tokens.token());
    if (response.statusCode == 401 && tokens.canRefresh && _code(response) == 'expired') {
      response = await _send(method, url(path, query), body, await tokens.refresh());
    }
    if (response.statusCode < 200 || response.statusCode > 299) {
      throw OnAirApiException.fromResponse(response.statusCode, response.body);
    }
    if (response.bodyBytes.isEmpty) {
      return <String, dynamic>{};
    }
    final decoded = jsonDecode(utf8.decode(response.bodyBytes));
    return decoded is Json ? decoded : <String, dynamic>{'value': decoded};
  }

  /// The full URL of [path] (which starts with `/`) with [query].
  Uri url(String path, [Map<String, String>? query]) {
    final prefix = baseUrl.path.endsWith('/')
        ? baseUrl.path.substring(0, baseUrl.path.length - 1)
        : baseUrl.path;
    return Uri(
      scheme: baseUrl.scheme,
      userInfo: baseUrl.userInfo,
      host: baseUrl.host,
      port: baseUrl.hasPort ? baseUrl.port : null,
      path: '$prefix$path',
      queryParameters: query == null || query.isEmpty ? null : query,
    );
  }

  /// Closes the HTTP client if this client made it.
  void close() {
    if (_ownsHttp) {
      _http.close();
    }
  }

  Future<http.Response> _send(String method, Uri url, Json? body, String token) async {
    final request = http.Request(method, url)
      ..headers['authorization'] = 'Bearer $token'
      ..headers['accept'] = 'application/json';
    if (body != null) {
      request.headers['content-type'] = 'application/json';
      request.bodyBytes = utf8.encode(jsonEncode(body));
    }
    return http.Response.fromStream(await _http.send(request));
  }

  static String? _code(http.Response response) {
    try {
      final json = jsonDecode(response.body);
      return json is Json && json['code'] is String ? json['code'] as String : null;
    } on FormatException {
      return null;
    }
  }
}
