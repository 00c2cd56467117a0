//! [`RcvbufPolicy`]: the socket receive buffer's size, and what an overrun does.

use super::NlSocket;

/// What one overrun led to (pure: the caller applies and logs it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Overrun {
    /// Grow the buffer to this size (doubled, capped by the maximum).
    Grow(u32),
    /// At the maximum: warn the first time only.
    AtMax {
        /// First overrun at the maximum.
        warn: bool,
    },
    /// No growth configured: warn on the 1st, 2nd, 4th, 8th... overrun.
    Fixed {
        /// This overrun is worth a line.
        warn: bool,
    },
}

/// Receive buffer policy of one socket: the size asked (`netlink_socket_buffer_size`),
/// doubled on each overrun up to `netlink_socket_buffer_maxsize` (0 = never grow).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RcvbufPolicy {
    cur: u32,
    max: u32,
    overruns: u64,
    max_warned: bool,
}

impl RcvbufPolicy {
    /// A policy growing up to `max` bytes (0: never).
    pub(crate) fn new(max: u32) -> RcvbufPolicy {
        RcvbufPolicy {
            max,
            ..RcvbufPolicy::default()
        }
    }

    /// Sets the initial size (`size`, or the kernel default when 0) on `sock`;
    /// returns what the kernel reports.
    pub(crate) fn init(&mut self, sock: &NlSocket, size: u32) -> u32 {
        if size > 0 {
            self.cur = size;
            sock.set_rcvbuf(size)
        } else {
            let k = sock.rcvbuf();
            self.cur = k / 2;
            k
        }
    }

    /// The size asked for now (the kernel reports twice this).
    pub(crate) fn current(&self) -> u32 {
        self.cur
    }

    /// Overruns counted so far.
    pub(crate) fn overruns(&self) -> u64 {
        self.overruns
    }

    /// Counts one overrun and decides what to do.
    pub(crate) fn record(&mut self) -> Overrun {
        self.overruns += 1;
        if self.max > self.cur {
            let new = self.cur.saturating_mul(2).max(4096).min(self.max);
            self.cur = new;
            Overrun::Grow(new)
        } else if self.max > 0 {
            let warn = !self.max_warned;
            self.max_warned = true;
            Overrun::AtMax { warn }
        } else {
            Overrun::Fixed {
                warn: self.overruns.is_power_of_two(),
            }
        }
    }

    /// Counts one overrun on `sock`, grows its buffer when allowed, and logs
    /// (rate-limited) what was lost: `"{who}: kernel dropped {lost} ..."`.
    pub(crate) fn on_overrun(&mut self, sock: Option<&NlSocket>, who: &str, lost: &str) {
        let n = self.overruns + 1;
        match self.record() {
            Overrun::Grow(new) => {
                let got = sock.map_or(0, |s| s.set_rcvbuf(new));
                log::warn!(
                    target: ulogd_core::ALWAYS,
                    "{who}: kernel dropped {lost} (socket buffer full, {n} overrun(s) so far); \
                     socket buffer raised to {new} bytes (kernel reports {got}), \
                     netlink_socket_buffer_maxsize={}",
                    self.max
                );
            }
            Overrun::AtMax { warn: true } => log::warn!(
                target: ulogd_core::ALWAYS,
                "{who}: kernel dropped {lost} (socket buffer full) and the socket buffer is at \
                 netlink_socket_buffer_maxsize ({} bytes); raise it (overruns are still counted)",
                self.max
            ),
            Overrun::Fixed { warn: true } => log::warn!(
                target: ulogd_core::ALWAYS,
                "{who}: kernel dropped {lost} (socket buffer full, {n} overrun(s) so far); \
                 raise netlink_socket_buffer_size (now {}) or set netlink_socket_buffer_maxsize",
                self.cur
            ),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_maximum_then_warns_once() {
        let mut p = RcvbufPolicy::new(100_000);
        p.cur = 30_000;
        assert_eq!(p.record(), Overrun::Grow(60_000));
        assert_eq!(p.record(), Overrun::Grow(100_000));
        assert_eq!(p.record(), Overrun::AtMax { warn: true });
        assert_eq!(p.record(), Overrun::AtMax { warn: false });
        assert_eq!(p.overruns(), 4);
        assert_eq!(p.current(), 100_000);
    }

    #[test]
    fn without_a_maximum_warnings_thin_out() {
        let mut p = RcvbufPolicy::new(0);
        p.cur = 8192;
        let warned: Vec<u64> = (1..=20)
            .filter(|_| matches!(p.record(), Overrun::Fixed { warn: true }))
            .collect();
        assert_eq!(warned, [1, 2, 4, 8, 16]);
        assert_eq!(p.current(), 8192);
    }

    #[test]
    fn growth_from_nothing_starts_at_a_page() {
        let mut p = RcvbufPolicy::new(1 << 20);
        assert_eq!(p.record(), Overrun::Grow(4096));
    }
}
