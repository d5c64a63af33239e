import 'dart:convert';

/// The claims of a token that the client itself needs: who it is for and
/// when it expires. Read without verifying the signature; only OnAir can
/// verify it, and does.
class JwtClaims {
  /// Claims with the given [subject] and [expiresAt].
  const JwtClaims({this.subject, this.expiresAt});

  /// Reads the payload of [jwt]; empty claims when it is not a JWT.
  factory JwtClaims.parse(String jwt) {
    final parts = jwt.split('.');
    if (parts.length != 3) {
      return const JwtClaims();
    }
    try {
      final payload = utf8.decode(base64Url.decode(base64Url.normalize(parts[1])));
      final json = jsonDecode(payload);
      if (json is! Map<String, dynamic>) {
        return const JwtClaims();
      }
      final sub = json['sub'];
      final exp = json['exp'];
      return JwtClaims(
        subject: sub is String ? sub : null,
        expiresAt: exp is num
            ? DateTime.fromMillisecondsSinceEpoch(exp.toInt() * 1000, isUtc: true)
            : null,
      );
    } on FormatException {
      return const JwtClaims();
    }
  }

  /// The user the token acts as (`sub`).
  final String? subject;

  /// When it stops being accepted (`exp`).
  final DateTime? expiresAt;
}
