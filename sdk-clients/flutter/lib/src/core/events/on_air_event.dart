import 'dart:convert';

/// One event of OnAir's log as the events socket delivers it:
/// `{id, type, created_at, call_cid, …its own fields}`.
///
/// Types follow Stream Video's names: `call.created`, `call.updated`,
/// `call.ended`, `call.live_started`, `call.ring`, `call.accepted`,
/// `call.rejected`, `call.missed`, `call.member_added`,
/// `call.session_participant_joined`, `call.recording_ready`,
/// `call.hls_broadcasting_started`, `call.reaction_new`, `custom`, …
class OnAirEvent {
  /// An event of [type] about [callCid] with every field in [fields].
  const OnAirEvent({
    required this.id,
    required this.type,
    required this.callCid,
    required this.createdAt,
    required this.fields,
  });

  /// Reads an event the socket sent; `null` when [json] is not one.
  static OnAirEvent? fromJson(Map<String, dynamic> json) {
    final id = json['id'];
    final type = json['type'];
    final callCid = json['call_cid'];
    if (id is! String || type is! String || callCid is! String) {
      return null;
    }
    final createdAt = json['created_at'];
    return OnAirEvent(
      id: id,
      type: type,
      callCid: callCid,
      createdAt: createdAt is String ? DateTime.tryParse(createdAt) : null,
      fields: json,
    );
  }

  /// Its place in OnAir's log (a decimal number, larger for later events);
  /// a socket resumes after the last one it saw.
  final String id;

  /// What happened (`call.ring`, …).
  final String type;

  /// The call it is about, `type:id`.
  final String callCid;

  /// When it happened.
  final DateTime? createdAt;

  /// The whole event, its own fields included.
  final Map<String, dynamic> fields;

  /// The field [key] (e.g. `user_id`, `reason`), if present.
  Object? operator [](String key) => fields[key];

  /// A string field, if it is one.
  String? string(String key) {
    final value = fields[key];
    return value is String ? value : null;
  }

  /// A list of strings (`members`, `ringing`, `stop_ringing`); empty when absent.
  List<String> strings(String key) {
    final value = fields[key];
    return value is List ? value.whereType<String>().toList() : const [];
  }

  /// Whether [pattern] names this event's type: exactly, or as a prefix
  /// ending in `*` (`call.*`, `*`).
  bool matches(String pattern) => pattern.endsWith('*')
      ? type.startsWith(pattern.substring(0, pattern.length - 1))
      : type == pattern;

  @override
  String toString() => 'OnAirEvent(${jsonEncode(fields)})';
}

/// Orders two event ids (decimal numbers of any size, as strings, so
/// web builds compare them exactly too): negative when [a] comes first.
int compareEventIds(String a, String b) {
  final trimmedA = a.replaceFirst(RegExp(r'^0+(?=.)'), '');
  final trimmedB = b.replaceFirst(RegExp(r'^0+(?=.)'), '');
  if (trimmedA.length != trimmedB.length) {
    return trimmedA.length.compareTo(trimmedB.length);
  }
  return trimmedA.compareTo(trimmedB);
}
