/**
 * Plays an HLS playlist in a `<video>`: hls.js where Media Source
 * Extensions exist, the browser's own HLS (Safari) otherwise. hls.js is
 * loaded only when needed.
 * @packageDocumentation
 */
import type Hls from "hls.js";
import type { HlsConfig } from "hls.js";

/** A playing HLS source; {@link HlsPlayback.destroy} stops it. */
export interface HlsPlayback {
  /** The hls.js instance (`null` with the browser's own HLS). */
  hls: Hls | null;
  /** Stops playback and frees the player. */
  destroy(): void;
}

/** Plays `url` in `video`, recovering from hls.js's fatal network and media errors. */
export async function playHls(video: HTMLVideoElement, url: string, config: Partial<HlsConfig> = {}): Promise<HlsPlayback> {
  const { default: HlsClass } = await import("hls.js");
  if (HlsClass.isSupported()) {
    const hls = new HlsClass({ liveSyncDurationCount: 2, ...config });
    hls.on(HlsClass.Events.MANIFEST_PARSED, () => void video.play().catch(() => {}));
    hls.on(HlsClass.Events.ERROR, (_event, data) => {
      if (!data.fatal) return;
      if (data.type === HlsClass.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
      else if (data.type === HlsClass.ErrorTypes.NETWORK_ERROR) setTimeout(() => hls.startLoad(), 1000);
    });
    hls.loadSource(url);
    hls.attachMedia(video);
    return { hls, destroy: () => hls.destroy() };
  }
  if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = url;
    void video.play().catch(() => {});
    return { hls: null, destroy: () => { video.removeAttribute("src"); video.load(); } };
  }
  throw new Error("this browser plays no HLS");
}
