//! The machine's CPU in use, as the SFU registry announces it for
//! placement: busy time over all time of all cores between two readings
//! of `/proc/stat` (Linux), the system load LiveKit's `cpuload` node
//! selector reads too. The machine's, not this process's: whatever else
//! runs there (an egress job, another service) leaves less for media.

/// Ticks of all cores since boot.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Ticks {
    busy: u64,
    total: u64,
}

/// Reads the machine's CPU use between calls.
pub struct MachineCpu {
    last: Option<Ticks>,
}

impl MachineCpu {
    /// A meter whose first [`MachineCpu::sample`] covers the time from now.
    pub fn new() -> Self {
        MachineCpu { last: read() }
    }

    /// The share of all cores' time spent busy since the last call, from
    /// 0 to 1; none where `/proc/stat` cannot be read or no tick passed.
    pub fn sample(&mut self) -> Option<f32> {
        let now = read();
        let last = std::mem::replace(&mut self.last, now)?;
        share(last, now?)
    }
}

impl Default for MachineCpu {
    fn default() -> Self {
        Self::new()
    }
}

/// Busy over all ticks from `then` to `now`.
fn share(then: Ticks, now: Ticks) -> Option<f32> {
    let total = now.total.checked_sub(then.total).filter(|t| *t > 0)?;
    let busy = now.busy.saturating_sub(then.busy).min(total);
    Some(busy as f32 / total as f32)
}

fn read() -> Option<Ticks> {
    parse(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// The first line of `/proc/stat`: `cpu  user nice system idle iowait irq
/// softirq steal guest guest_nice`, in ticks; guest time is already in
/// user time, so the first eight count.
fn parse(stat: &str) -> Option<Ticks> {
    let fields = stat.lines().next()?.strip_prefix("cpu ")?;
    let ticks: Vec<u64> = (fields.split_whitespace().take(8))
        .map(|t| t.parse().ok())
        .collect::<Option<_>>()?;
    let idle = ticks.get(3)? + ticks.get(4).copied().unwrap_or(0);
    let total: u64 = ticks.iter().sum();
    Some(Ticks {
        busy: total.checked_sub(idle)?,
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_is_all_but_idle_and_iowait() {
        let stat = "cpu  100 5 45 800 50 0 0 0 7 0\ncpu0 50 2 20 400 25 0 0 0 3 0\n";
        let ticks = parse(stat).unwrap();
        assert_eq!(
            ticks,
            Ticks {
                busy: 150,
                total: 1000
            }
        );
        let later = Ticks {
            busy: 450,
            total: 1400,
        };
        assert_eq!(share(ticks, later), Some(0.75));
        assert_eq!(share(ticks, ticks), None, "no tick passed");
        assert_eq!(parse("intr 1 2 3\n"), None);
        assert_eq!(parse("cpu  1 2 x 4\n"), None);
    }

    #[test]
    fn a_busy_core_shows_on_this_machine() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut meter = MachineCpu::new();
        let until = std::time::Instant::now() + std::time::Duration::from_millis(300);
        let mut spins = 0u64;
        while std::time::Instant::now() < until {
            spins = std::hint::black_box(spins + 1);
        }
        let used = meter.sample().expect("/proc/stat is read");
        // One core of `cores` spun the whole time; others may have been idle.
        assert!(
            used >= 0.8 / cores as f32 && used <= 1.0,
            "{used} of {cores} cores"
        );
    }
}
