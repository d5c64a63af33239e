import 'dart:convert';

/// A request OnAir refused: the HTTP status and OnAir's error body
/// `{code, message, details?}`.
///
/// [code] is what apps switch on: `backstage` (join before `goLive`),
/// `blocked`, `call_ended`, `call_full`, `expired` (the token), or
/// `missing_capability`.
class OnAirApiException implements Exception {
  /// The refusal of a request with [status] and OnAir's [code] and [message].
  const OnAirApiException(this.status, this.code, this.message, {this.details});

  /// Reads OnAir's error body; a body that is not one becomes the code
  /// `http_<status>` with the body as its message.
  factory OnAirApiException.fromResponse(int status, String body) {
    try {
      final json = jsonDecode(body);
      if (json is Map<String, dynamic> && json['code'] is String) {
        return OnAirApiException(
          status,
          json['code'] as String,
          json['message'] is String ? json['message'] as String : '',
          details: json['details'],
        );
      }
    } on FormatException {
      // Not JSON: a proxy's page, say. Fall through.
    }
    return OnAirApiException(status, 'http_$status', body);
  }

  /// The HTTP status: 401, 403, 404, 409, 422, 429, 503…
  final int status;

  /// OnAir's machine-readable reason, e.g. `backstage`.
  final String code;

  /// A sentence for people.
  final String message;

  /// What some refusals add, e.g. `{"join_from": …}` for `backstage`.
  final Object? details;

  @override
  String toString() => 'OnAirApiException($status $code: $message)';
}
