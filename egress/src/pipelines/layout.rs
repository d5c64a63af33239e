//! Where each video goes on the recording's canvas: a grid that fills the
//! canvas as evenly as it can, every tile the same size; or, while someone
//! speaks, the speaker large on top and the others in a strip below.

/// A tile on the canvas, in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tile {
    /// Left edge.
    pub x: i32,
    /// Top edge.
    pub y: i32,
    /// Width.
    pub width: i32,
    /// Height.
    pub height: i32,
}

/// Tiles for `n` videos on a `width`×`height` canvas, row by row; the last
/// row is centred when it is not full. Tile sizes are even (encoders want
/// even dimensions).
pub fn grid(n: usize, width: i32, height: i32) -> Vec<Tile> {
    if n == 0 {
        return Vec::new();
    }
    let cols = (n as f64).sqrt().ceil() as usize;
    let rows = n.div_ceil(cols);
    let tile_w = (width / cols as i32) & !1;
    let tile_h = (height / rows as i32) & !1;
    let top = (height - tile_h * rows as i32) / 2;
    (0..n)
        .map(|i| {
            let (row, col) = (i / cols, i % cols);
            let in_row = if row == rows - 1 {
                n - row * cols
            } else {
                cols
            };
            let left = (width - tile_w * in_row as i32) / 2;
            Tile {
                x: left + col as i32 * tile_w,
                y: top + row as i32 * tile_h,
                width: tile_w,
                height: tile_h,
            }
        })
        .collect()
}

/// Tiles for `n` videos with the first one (the speaker) in the top three
/// quarters of the canvas and the others side by side in the quarter below.
pub fn speaker(n: usize, width: i32, height: i32) -> Vec<Tile> {
    if n < 2 {
        return grid(n, width, height);
    }
    let main_h = (height * 3 / 4) & !1;
    let strip_h = (height - main_h) & !1;
    let others = (n - 1) as i32;
    // Strip tiles keep the canvas's shape, centred in the strip.
    let tile_w = (strip_h * width / height).min(width / others) & !1;
    let left = (width - tile_w * others) / 2;
    std::iter::once(Tile {
        x: 0,
        y: 0,
        width: width & !1,
        height: main_h,
    })
    .chain((0..others).map(|i| Tile {
        x: left + i * tile_w,
        y: main_h,
        width: tile_w,
        height: strip_h,
    }))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_fills_the_canvas() {
        assert_eq!(
            grid(1, 1280, 720),
            [Tile {
                x: 0,
                y: 0,
                width: 1280,
                height: 720
            }]
        );
        assert!(grid(0, 1280, 720).is_empty());
    }

    #[test]
    fn tiles_do_not_overlap_and_stay_inside() {
        for n in 1..=10 {
            let tiles = grid(n, 1280, 720);
            assert_eq!(tiles.len(), n);
            for (i, a) in tiles.iter().enumerate() {
                assert!(a.x >= 0 && a.y >= 0, "{n}: {a:?}");
                assert!(a.x + a.width <= 1280 && a.y + a.height <= 720, "{n}: {a:?}");
                assert!(a.width % 2 == 0 && a.height % 2 == 0);
                for b in &tiles[i + 1..] {
                    let apart = a.x + a.width <= b.x
                        || b.x + b.width <= a.x
                        || a.y + a.height <= b.y
                        || b.y + b.height <= a.y;
                    assert!(apart, "{n}: {a:?} overlaps {b:?}");
                }
            }
        }
    }

    #[test]
    fn the_speaker_is_large_and_the_others_below() {
        let t = speaker(3, 640, 360);
        assert_eq!(
            t[0],
            Tile {
                x: 0,
                y: 0,
                width: 640,
                height: 270
            }
        );
        assert_eq!((t[1].y, t[1].height, t[2].y), (270, 90, 270));
        assert!(t[1].width < 640 / 2 && t[1].x + t[1].width <= t[2].x);
        for n in 2..=8 {
            let tiles = speaker(n, 1280, 720);
            assert_eq!(tiles.len(), n);
            assert!(tiles
                .iter()
                .all(|t| t.x >= 0 && t.x + t.width <= 1280 && t.y + t.height <= 720));
        }
        assert_eq!(speaker(1, 640, 360), grid(1, 640, 360));
    }

    #[test]
    fn three_put_the_third_centred_below() {
        let t = grid(3, 1280, 720);
        assert_eq!((t[0].x, t[0].y, t[0].width, t[0].height), (0, 0, 640, 360));
        assert_eq!((t[1].x, t[1].y), (640, 0));
        assert_eq!((t[2].x, t[2].y), (320, 360));
    }
}
