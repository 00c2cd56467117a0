//! What the kernel says about a queue in `/proc/net/netfilter/nfnetlink_queue`:
//! packets it dropped because the queue was full (`queue_dropped`) or because our
//! socket was (`user_dropped`), and how many still wait for a verdict.

/// One line of `/proc/net/netfilter/nfnetlink_queue`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct QueueStats {
    /// Packets waiting for a verdict now (`queue_total`).
    pub(crate) waiting: u64,
    /// Dropped (or accepted with `fail_open`) because the queue was at `queue_maxlen`.
    pub(crate) queue_dropped: u64,
    /// Dropped because the netlink message could not be delivered (socket full).
    pub(crate) user_dropped: u64,
}

/// Finds queue `queue` in the file's text. Format (kernel `seq_show`): queue number,
/// peer port id, queue_total, copy mode, copy range, queue_dropped, user_dropped,
/// id sequence, 1.
pub(crate) fn parse(text: &str, queue: u16) -> Option<QueueStats> {
    text.lines().find_map(|l| {
        let f: Vec<u64> = l
            .split_whitespace()
            .map(|w| w.parse::<i64>().map(|v| v.max(0) as u64))
            .collect::<Result<_, _>>()
            .ok()?;
        if f.len() < 7 || f[0] != u64::from(queue) {
            return None;
        }
        Some(QueueStats {
            waiting: f[2],
            queue_dropped: f[5],
            user_dropped: f[6],
        })
    })
}

/// Reads the stats of `queue` in network namespace `netns` (the current one if
/// empty); `None` when the queue is not bound or the file cannot be read.
pub(crate) fn read(netns: &str, queue: u16) -> Option<QueueStats> {
    let text = crate::nl::in_netns(netns, "nfnetlink_queue stats", || {
        // thread-self: the namespace of the helper thread that entered `netns`.
        std::fs::read_to_string("/proc/thread-self/net/netfilter/nfnetlink_queue")
    })
    .ok()?;
    parse(&text, queue)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_its_queue_line() {
        let text = "    0   1234     2 2 65535     0     0       10  1\n\
                    \x20  7 -4191     5 2 65535    15     3      120  1\n";
        assert_eq!(
            parse(text, 7),
            Some(QueueStats {
                waiting: 5,
                queue_dropped: 15,
                user_dropped: 3
            })
        );
        assert_eq!(parse(text, 0).map(|s| s.waiting), Some(2));
        assert_eq!(parse(text, 8), None);
        assert_eq!(parse("garbage\n7 x\n", 7), None);
        assert_eq!(parse("", 7), None);
    }
}
