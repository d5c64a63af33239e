import 'rest_client.dart';

/// A member of a call as a request names it: the user, and optionally
/// their role in the call (`host`, `call_member`, …) and the app's data.
class MemberRequest {
  /// [userId] in the call, as [role] if given.
  const MemberRequest(this.userId, {this.role, this.custom});

  /// The user.
  final String userId;

  /// Their role in the call; OnAir's default is `call_member`.
  final String? role;

  /// The app's data about this member.
  final Json? custom;

  /// The request form: `{user_id, role?, custom?}`.
  Json toJson() => {
        'user_id': userId,
        if (role != null) 'role': role,
        if (custom != null) 'custom': custom,
      };
}

/// What a call is created with (used only when the request creates it):
/// members, the app's data, settings over the call type's, a start time.
class CallData {
  /// The data of a call about to be created.
  const CallData({this.members, this.custom, this.settingsOverride, this.startsAt});

  /// The first members; the creating user joins them as `host` unless named.
  final List<MemberRequest>? members;

  /// The app's data (the LiveKit room's metadata).
  final Json? custom;

  /// Settings over the call type's (`{"ring": {...}, "backstage": {...}}`).
  final Json? settingsOverride;

  /// When the call is scheduled to start.
  final DateTime? startsAt;

  /// Whether it says nothing (then requests leave `data` out).
  bool get isEmpty =>
      members == null && custom == null && settingsOverride == null && startsAt == null;

  /// The request form: `{members?, custom?, settings_override?, starts_at?}`.
  Json toJson() => {
        if (members != null) 'members': [for (final m in members!) m.toJson()],
        if (custom != null) 'custom': custom,
        if (settingsOverride != null) 'settings_override': settingsOverride,
        if (startsAt != null) 'starts_at': startsAt!.toUtc().toIso8601String(),
      };
}

/// A reason to reject a ring, as OnAir names it.
enum RejectReason {
  /// The callee says no.
  decline,

  /// The callee is in another call.
  busy,

  /// The caller gives up ringing.
  cancel,

  /// Nobody answered in time.
  timeout,
}
