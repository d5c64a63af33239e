import 'package:flutter/widgets.dart';
import 'package:livekit_client/livekit_client.dart';

/// Shows the first remote camera (else any remote video) of [room], and
/// follows the room as tracks come and go.
class RoomVideoView extends StatelessWidget {
  /// Shows [room]'s host video, or [placeholder] while there is none.
  const RoomVideoView({super.key, required this.room, this.placeholder});

  /// The joined call's room.
  final Room room;

  /// What to show while no video is subscribed.
  final Widget? placeholder;

  /// The video to show: a subscribed camera first, else any subscribed video.
  static VideoTrack? pick(Room room) {
    VideoTrack? any;
    for (final participant in room.remoteParticipants.values) {
      for (final publication in participant.videoTrackPublications) {
        final track = publication.track;
        if (track == null || publication.muted) {
          continue;
        }
        if (publication.source == TrackSource.camera) {
          return track;
        }
        any ??= track;
      }
    }
    return any;
  }

  @override
  Widget build(BuildContext context) => ListenableBuilder(
        listenable: room,
        builder: (context, _) {
          final track = pick(room);
          return track == null
              ? placeholder ?? const SizedBox.expand()
              : VideoTrackRenderer(track, fit: VideoViewFit.contain);
        },
      );
}
