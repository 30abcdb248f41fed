//! `top`'s arithmetic: the process table procmgr's `PS` returns, and the
//! rates between two looks at the CPUs' counters and the processes' CPU
//! time. Plain data, so the host tests it.

use alloc::string::String;
use alloc::vec::Vec;

/// One line of `PS` output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proc {
    pub pid: u64,
    pub ppid: u64,
    pub state: String,
    /// Timer ticks its threads ran.
    pub cpu_ticks: u64,
    /// Physical memory charged to it, in KiB.
    pub mem_kib: u64,
    /// Kernel memory its objects take, in KiB.
    pub kmem_kib: u64,
    pub name: String,
}

/// The processes in `PS` text (the header and malformed lines are skipped).
pub fn parse_ps(text: &str) -> Vec<Proc> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.splitn(7, ' ');
            Some(Proc {
                pid: f.next()?.parse().ok()?,
                ppid: f.next()?.parse().ok()?,
                state: f.next()?.into(),
                cpu_ticks: f.next()?.parse().ok()?,
                mem_kib: f.next()?.parse().ok()?,
                kmem_kib: f.next()?.parse().ok()?,
                name: f.next()?.into(),
            })
        })
        .collect()
}

/// A process's share of one CPU since the previous look, in tenths of a
/// percent: its new ticks over the ticks that passed (`elapsed`). A
/// process that was not there before counts from zero.
pub fn cpu_permille(before: &[Proc], now: &Proc, elapsed: u64) -> u64 {
    let was = before.iter().find(|p| p.pid == now.pid).map_or(0, |p| p.cpu_ticks);
    now.cpu_ticks.saturating_sub(was) * 1000 / elapsed.max(1)
}

/// The `n` busiest processes since the previous look, busiest first (ties:
/// lower pid first), with their share in tenths of a percent.
pub fn busiest<'a>(before: &[Proc], now: &'a [Proc], elapsed: u64, n: usize) -> Vec<(&'a Proc, u64)> {
    let mut v: Vec<(&Proc, u64)> = now.iter().map(|p| (p, cpu_permille(before, p, elapsed))).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.pid.cmp(&b.0.pid)));
    v.truncate(n);
    v
}

/// Per-second rate of a counter that went from `a` to `b` in `us` microseconds.
pub fn per_second(a: u64, b: u64, us: u64) -> u64 {
    (u128::from(b.saturating_sub(a)) * 1_000_000 / u128::from(us.max(1))) as u64
}

/// Idle share in tenths of a percent, from idle time and elapsed time (both
/// in microseconds), capped at 100%.
pub fn idle_permille(idle_us: u64, elapsed_us: u64) -> u64 {
    (u128::from(idle_us) * 1000 / u128::from(elapsed_us.max(1))).min(1000) as u64
}

/// "12.3" from 123 tenths.
pub fn tenths(v: u64) -> String {
    alloc::format!("{}.{}", v / 10, v % 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PS: &str = "PID PPID STATE CPU MEM KMEM NAME\n1 0 running 7 420 130 procmgr\n2 1 running 3 96 9 shell\n5 2 zombie 40 0 0 my prog\nbroken line\n";

    #[test]
    fn parses_ps_and_skips_the_header() {
        let p = parse_ps(PS);
        assert_eq!(p.len(), 3);
        assert_eq!(
            p[0],
            Proc {
                pid: 1,
                ppid: 0,
                state: "running".into(),
                cpu_ticks: 7,
                mem_kib: 420,
                kmem_kib: 130,
                name: "procmgr".into()
            }
        );
        assert_eq!(p[2].name, "my prog", "a name may hold spaces");
    }

    #[test]
    fn busiest_by_new_ticks_not_total() {
        let before = parse_ps(PS);
        let mut now = before.clone();
        now[0].cpu_ticks += 10; // procmgr: 10 of 100 ticks
        now[1].cpu_ticks += 50; // shell: 50 of 100
                                // pid 5 ran 40 ticks before, none since.
        now.push(Proc {
            pid: 9,
            ppid: 2,
            state: "running".into(),
            cpu_ticks: 20,
            mem_kib: 8,
            kmem_kib: 1,
            name: "new".into(),
        });
        let top = busiest(&before, &now, 100, 3);
        let got: Vec<(u64, u64)> = top.iter().map(|(p, m)| (p.pid, *m)).collect();
        assert_eq!(got, [(2, 500), (9, 200), (1, 100)]);
    }

    #[test]
    fn rates_and_shares() {
        assert_eq!(per_second(100, 150, 500_000), 100);
        assert_eq!(per_second(150, 100, 1_000_000), 0, "a counter never runs backwards");
        assert_eq!(idle_permille(250_000, 1_000_000), 250);
        assert_eq!(idle_permille(2_000_000, 1_000_000), 1000, "capped");
        assert_eq!(idle_permille(5, 0), 1000, "no time passed: no division by zero");
        assert_eq!(tenths(1000), "100.0");
        assert_eq!(tenths(7), "0.7");
        assert_eq!(cpu_permille(&[], &parse_ps(PS)[0], 0), 7000, "elapsed 0 counts as 1");
    }
}
