import 'dart:convert';
import 'dart:io';

/// The values the Dart tests put in the fixtures' `{placeholders}`.
const placeholders = {
  '{type}': 'TYPE',
  '{id}': 'ID',
  '{connection_id}': 'CONN',
  '{rtmp_url}': 'rtmp://rtmp.example.test/live',
  '{token}': 'TOKEN',
};

/// Reads `test/fixtures/<name>` (tests run from the package root).
Map<String, dynamic> loadFixture(String name) =>
    jsonDecode(File('test/fixtures/$name').readAsStringSync()) as Map<String, dynamic>;

/// [value] with every placeholder in its strings replaced.
Object? fill(Object? value) {
  if (value is String) {
    var out = value;
    placeholders.forEach((key, v) => out = out.replaceAll(key, v));
    return out;
  }
  if (value is List) {
    return [for (final v in value) fill(v)];
  }
  if (value is Map) {
    return {for (final e in value.entries) e.key as String: fill(e.value)};
  }
  return value;
}
