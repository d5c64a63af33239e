//! HLS settings and the full (VOD) playlist.
//!
//! `hlssink2` writes a live playlist that lists only the last few segments.
//! When a broadcast keeps its segments ([`HlsConfig::vod`]), [`Segments`]
//! remembers every segment the live playlist ever listed, and at the end the
//! playlist is rewritten to list them all: the same URL then plays the whole
//! broadcast from the start (as a replay, or DVR while it was being finished).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How HLS broadcasts are cut and kept.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HlsConfig {
    /// Target segment length, e.g. `2s` (whole seconds).
    #[serde(with = "humantime_serde")]
    pub segment: Duration,
    /// Segments listed in the live playlist.
    pub window: u32,
    /// Keep every segment and list them all in the playlist once the
    /// broadcast ends (a replay); else only the live window's are kept.
    pub vod: bool,
}

impl Default for HlsConfig {
    fn default() -> Self {
        Self {
            segment: Duration::from_secs(2),
            window: 6,
            vod: true,
        }
    }
}

impl HlsConfig {
    /// The segment length in whole seconds (at least 1).
    pub fn segment_seconds(&self) -> u32 {
        self.segment.as_secs().clamp(1, 60) as u32
    }
}

/// Every segment a live playlist has listed, by media sequence number.
#[derive(Debug, Default)]
pub struct Segments {
    listed: BTreeMap<u64, (f64, String)>,
}

impl Segments {
    /// Takes note of the segments `playlist` (a live media playlist) lists.
    pub fn update(&mut self, playlist: &str) {
        let mut sequence = 0u64;
        let mut duration = None;
        for line in playlist.lines().map(str::trim) {
            if let Some(n) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
                sequence = n.trim().parse().unwrap_or(0);
            } else if let Some(info) = line.strip_prefix("#EXTINF:") {
                duration = info.split(',').next().and_then(|d| d.trim().parse().ok());
            } else if !line.is_empty() && !line.starts_with('#') {
                if let Some(d) = duration.take() {
                    self.listed.insert(sequence, (d, line.to_owned()));
                }
                sequence += 1;
            }
        }
    }

    /// Segments noted so far.
    pub fn len(&self) -> usize {
        self.listed.len()
    }

    /// Whether none was noted.
    pub fn is_empty(&self) -> bool {
        self.listed.is_empty()
    }

    /// Sequence numbers missing between the first and the last noted one
    /// (the live window moved on before they were seen).
    pub fn missing(&self) -> u64 {
        match (self.listed.keys().next(), self.listed.keys().last()) {
            (Some(first), Some(last)) => last - first + 1 - self.listed.len() as u64,
            _ => 0,
        }
    }

    /// A finished playlist listing every noted segment.
    pub fn vod_playlist(&self) -> String {
        let longest = self.listed.values().map(|(d, _)| *d).fold(0.0, f64::max);
        let first = self.listed.keys().next().copied().unwrap_or(0);
        let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n");
        let _ = writeln!(out, "#EXT-X-TARGETDURATION:{}", longest.ceil() as u64);
        let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{first}");
        let mut expected = first;
        for (seq, (duration, uri)) in &self.listed {
            if *seq != expected {
                out.push_str("#EXT-X-DISCONTINUITY\n");
            }
            let _ = writeln!(out, "#EXTINF:{duration:.3},\n{uri}");
            expected = seq + 1;
        }
        out.push_str("#EXT-X-ENDLIST\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(first: u64, durations: &[f64]) -> String {
        let mut p = format!(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-MEDIA-SEQUENCE:{first}\n#EXT-X-TARGETDURATION:2\n\n"
        );
        for (i, d) in durations.iter().enumerate() {
            p += &format!("#EXTINF:{d},\nsegment{:05}.ts\n", first + i as u64);
        }
        p
    }

    #[test]
    fn a_sliding_window_adds_up_to_the_whole_broadcast() {
        let mut s = Segments::default();
        s.update(&live(0, &[2.0, 2.0]));
        s.update(&live(1, &[2.0, 2.0, 1.5]));
        s.update(&live(3, &[1.5, 2.5, 2.0])); // segment 3 listed again
        assert_eq!(s.len(), 6);
        assert_eq!(s.missing(), 0);
        let vod = s.vod_playlist();
        assert!(vod.starts_with("#EXTM3U\n"));
        assert!(vod.contains("#EXT-X-PLAYLIST-TYPE:VOD\n"));
        assert!(vod.contains("#EXT-X-TARGETDURATION:3\n"));
        assert!(vod.contains("#EXT-X-MEDIA-SEQUENCE:0\n"));
        assert!(vod.ends_with("#EXT-X-ENDLIST\n"));
        let uris: Vec<&str> = vod.lines().filter(|l| l.ends_with(".ts")).collect();
        assert_eq!(uris.len(), 6);
        assert_eq!(uris[0], "segment00000.ts");
        assert_eq!(uris[5], "segment00005.ts");
        assert!(!vod.contains("DISCONTINUITY"));
    }

    #[test]
    fn segments_the_window_skipped_are_marked() {
        let mut s = Segments::default();
        s.update(&live(0, &[2.0]));
        s.update(&live(4, &[2.0, 2.0]));
        assert_eq!(s.missing(), 3);
        assert_eq!(s.vod_playlist().matches("#EXT-X-DISCONTINUITY").count(), 1);
    }

    #[test]
    fn odd_lines_are_ignored() {
        let mut s = Segments::default();
        s.update("#EXTM3U\n#EXTINF:oops,\nsegment00000.ts\n#EXTINF:2.0,\n\nsegment00001.ts\n");
        assert_eq!(s.len(), 1);
        assert!(s.vod_playlist().contains("segment00001.ts"));
    }

    #[test]
    fn segment_length_is_whole_seconds() {
        let c = HlsConfig {
            segment: Duration::from_millis(500),
            ..HlsConfig::default()
        };
        assert_eq!(c.segment_seconds(), 1);
        assert_eq!(HlsConfig::default().segment_seconds(), 2);
    }
}
