import 'dart:async';

import 'package:flutter/widgets.dart';
import 'package:livekit_client/livekit_client.dart';

import '../core/state/call_state.dart';
import 'call.dart';
import 'hls_view.dart';
import 'room_video_view.dart';

/// How a [LivestreamPlayer] plays.
enum LivestreamMode {
  /// Joining over WebRTC.
  connecting,

  /// Playing the hosts over WebRTC (`livekit_client`).
  webrtc,

  /// Playing the call's HLS playlist (`video_player`).
  hls,

  /// Neither works yet: in backstage, or no broadcast to fall back to.
  waiting,
}

/// Plays a livestream: joins [call] as a viewer over WebRTC and shows the
/// hosts' video; when WebRTC cannot connect (within [connectTimeout]) or
/// the call cannot be joined, plays its HLS broadcast instead
/// (`call.state.hlsPlaylistUrl`, the call's `egress.hls.playlist_url`)
/// when there is one and [hlsFallback] allows it.
class LivestreamPlayer extends StatefulWidget {
  /// A player of [call].
  const LivestreamPlayer({
    super.key,
    required this.call,
    this.hlsFallback = true,
    this.connectTimeout = const Duration(seconds: 10),
    this.placeholder,
    this.onModeChanged,
  });

  /// The livestream.
  final Call call;

  /// Whether HLS may stand in for WebRTC.
  final bool hlsFallback;

  /// How long joining over WebRTC may take before HLS is tried.
  final Duration connectTimeout;

  /// Shown while connecting or waiting.
  final Widget? placeholder;

  /// Hears each change of mode.
  final void Function(LivestreamMode mode)? onModeChanged;

  @override
  State<LivestreamPlayer> createState() => _LivestreamPlayerState();
}

class _LivestreamPlayerState extends State<LivestreamPlayer> {
  LivestreamMode _mode = LivestreamMode.connecting;
  Room? _room;
  bool _joining = false;

  @override
  void initState() {
    super.initState();
    widget.call.state.addListener(_onCallState);
    unawaited(_start());
  }

  @override
  void dispose() {
    widget.call.state.removeListener(_onCallState);
    if (_room != null) {
      unawaited(widget.call.leave());
    }
    super.dispose();
  }

  /// Reads the call first (which also makes the events socket watch it,
  /// so going live and HLS starting reach [CallState]), then joins.
  Future<void> _start() async {
    try {
      await widget.call.get();
    } on Object {
      // Joining says what is wrong, if anything.
    }
    await _joinOrFallBack();
  }

  Future<void> _joinOrFallBack() async {
    _joining = true;
    try {
      final room = await widget.call.join().timeout(widget.connectTimeout);
      if (!mounted) {
        return;
      }
      _room = room;
      _setMode(LivestreamMode.webrtc);
    } on Object {
      if (mounted) {
        _fallBack(widget.call.state.value);
      }
    } finally {
      _joining = false;
    }
  }

  /// A call that goes live is joined again; a broadcast that starts or
  /// stops changes what the fallback plays.
  void _onCallState() {
    final state = widget.call.state.value;
    if (_mode == LivestreamMode.waiting && state.live && _room == null && !_joining) {
      unawaited(_joinOrFallBack());
    } else if (_mode == LivestreamMode.waiting || _mode == LivestreamMode.hls) {
      _fallBack(state);
    }
  }

  void _fallBack(CallState state) {
    final url = state.hlsPlaylistUrl;
    _setMode(widget.hlsFallback && url != null ? LivestreamMode.hls : LivestreamMode.waiting);
  }

  void _setMode(LivestreamMode mode) {
    if (mode == _mode) {
      return;
    }
    setState(() => _mode = mode);
    widget.onModeChanged?.call(mode);
  }

  @override
  Widget build(BuildContext context) {
    final placeholder = widget.placeholder ?? const SizedBox.expand();
    final room = _room;
    final url = widget.call.state.value.hlsPlaylistUrl;
    return switch (_mode) {
      LivestreamMode.webrtc when room != null => RoomVideoView(room: room, placeholder: placeholder),
      LivestreamMode.hls when url != null => HlsView(
          playlistUrl: url,
          onError: (_) => _setMode(LivestreamMode.waiting),
        ),
      _ => placeholder,
    };
  }
}
