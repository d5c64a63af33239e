//! Where each video goes on the recording's canvas: a grid that fills the
//! canvas as evenly as it can, every tile the same size.

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
    fn three_put_the_third_centred_below() {
        let t = grid(3, 1280, 720);
        assert_eq!((t[0].x, t[0].y, t[0].width, t[0].height), (0, 0, 640, 360));
        assert_eq!((t[1].x, t[1].y), (640, 0));
        assert_eq!((t[2].x, t[2].y), (320, 360));
    }
}
