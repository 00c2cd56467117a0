//! IFINDEX: interface indexes to names (`oob.in`, `oob.out`).
//!
//! Both outputs are always set, `""` for index 0, an unset input or an unknown
//! interface (what ulogd2 2.0.8 does: the golden GPRINT shows `oob.out=` on input
//! packets).
//!
//! Names come from a process-wide cache shared by every IFINDEX instance (ulogd2 also
//! shares one nlif handle): filled by an rtnetlink `RTM_GETLINK` dump when the first
//! instance starts, then kept fresh by a background thread subscribed to
//! `RTNLGRP_LINK` (`RTM_NEWLINK` adds or renames, `RTM_DELLINK` removes; a lost event,
//! `ENOBUFS`, triggers a new dump). The socket is opened in [`Stage::start`], never by
//! the constructor (`--check` builds without starting). A miss falls back to
//! `if_indextoname(3)` once and caches the answer. The hot path takes a read lock and
//! indexes a `Vec` by ifindex: no hashing, no allocation on a hit.

use std::ffi::CStr;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use ulogd_core::{Event, KeyDef, KeyType, Options, PluginError, PluginSpec, Ret, Stage};

use crate::nl::{NlSocket, Proto, Recv};
use crate::wire::nlmsg::{
    NlmsgHeader, NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN, NLM_F_DUMP, NLM_F_REQUEST,
};
use crate::wire::{NlaIter, NlmsgErrView, NlmsgIter};

static INPUTS: &[KeyDef] = &[
    KeyDef::new("oob.ifindex_in", KeyType::U32).optional(),
    KeyDef::new("oob.ifindex_out", KeyType::U32).optional(),
];
static OUTPUTS: &[KeyDef] = &[
    KeyDef::new("oob.in", KeyType::String),
    KeyDef::new("oob.out", KeyType::String),
];

/// Interfaces with an index below this live in a directly indexed vector; the rare
/// larger indexes (long-lived hosts creating many veths) in a sorted vector.
const DENSE_MAX: u32 = 1 << 16;

#[derive(Clone, Debug, PartialEq)]
enum Slot {
    /// Never looked up.
    Unknown,
    /// Known not to exist (only cached while the monitor keeps the table fresh).
    Missing,
    /// The name.
    Name(Box<str>),
}

#[derive(Debug)]
struct Table {
    dense: Vec<Slot>,
    sparse: Vec<(u32, Slot)>,
}

impl Table {
    const fn new() -> Table {
        Table {
            dense: Vec::new(),
            sparse: Vec::new(),
        }
    }

    fn get(&self, idx: u32) -> &Slot {
        if idx < DENSE_MAX {
            self.dense.get(idx as usize).unwrap_or(&Slot::Unknown)
        } else {
            match self.sparse.binary_search_by_key(&idx, |e| e.0) {
                Ok(i) => &self.sparse[i].1,
                Err(_) => &Slot::Unknown,
            }
        }
    }

    fn set(&mut self, idx: u32, slot: Slot) {
        if idx < DENSE_MAX {
            let i = idx as usize;
            if self.dense.len() <= i {
                self.dense.resize(i + 1, Slot::Unknown);
            }
            self.dense[i] = slot;
        } else {
            match self.sparse.binary_search_by_key(&idx, |e| e.0) {
                Ok(i) => self.sparse[i].1 = slot,
                Err(i) => self.sparse.insert(i, (idx, slot)),
            }
        }
    }
}

/// The shared name cache.
static TABLE: RwLock<Table> = RwLock::new(Table::new());
/// Whether a monitor thread keeps [`TABLE`] fresh (then negative answers are cached).
static MONITORED: AtomicBool = AtomicBool::new(false);
/// The running monitor, shared by every started IFINDEX instance.
static MONITOR: Mutex<Weak<Monitor>> = Mutex::new(Weak::new());

fn table_write() -> std::sync::RwLockWriteGuard<'static, Table> {
    TABLE.write().unwrap_or_else(|e| e.into_inner())
}

/// `if_indextoname(3)`.
#[allow(unsafe_code)]
fn index_to_name(idx: u32) -> Option<Box<str>> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `buf` has IF_NAMESIZE bytes as the function requires.
    let p = unsafe { libc::if_indextoname(idx, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: on success the buffer holds a NUL-terminated name.
    let name = unsafe { CStr::from_ptr(buf.as_ptr()) };
    Some(name.to_string_lossy().into())
}

/// Writes the name of `idx` to output `out`.
fn put_name(ev: &mut Event<'_>, out: usize, idx: Option<u32>) {
    let idx = match idx {
        Some(i) if i != 0 => i,
        _ => {
            ev.set_str(out, "");
            return;
        }
    };
    {
        let t = TABLE.read().unwrap_or_else(|e| e.into_inner());
        match t.get(idx) {
            Slot::Name(n) => {
                ev.set_str(out, n);
                return;
            }
            Slot::Missing => {
                ev.set_str(out, "");
                return;
            }
            Slot::Unknown => {}
        }
    }
    let name = index_to_name(idx);
    ev.set_str(out, name.as_deref().unwrap_or(""));
    match name {
        Some(n) => table_write().set(idx, Slot::Name(n)),
        None if MONITORED.load(Ordering::Relaxed) => table_write().set(idx, Slot::Missing),
        None => {}
    }
}

// ---------------------------------------------------------------------------------
// rtnetlink: framing and attributes through `wire/`, the socket through `nl/`.

const IFINFOMSG_LEN: usize = 16;
const IFLA_IFNAME: u16 = 3;
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_GETLINK: u16 = 18;
/// `RTNLGRP_LINK`, a group number.
const RTNLGRP_LINK: u32 = 1;

/// One link message: (is_new, ifindex, name).
#[derive(Debug, PartialEq)]
struct LinkMsg<'a> {
    new: bool,
    index: u32,
    name: Option<&'a [u8]>,
}

/// What one datagram said.
#[derive(Debug, Default, PartialEq)]
struct Batch<'a> {
    links: Vec<LinkMsg<'a>>,
    done: bool,
    error: Option<i32>,
}

/// Parses a datagram of netlink messages with [`NlmsgIter`] and [`NlaIter`].
/// Malformed lengths end the walk (what was parsed before is kept).
fn parse_datagram(buf: &[u8]) -> Batch<'_> {
    let mut out = Batch::default();
    for m in NlmsgIter::new(buf) {
        let Ok(m) = m else { break };
        let body = m.payload();
        match m.msg_type() {
            NLMSG_DONE => out.done = true,
            NLMSG_ERROR => match NlmsgErrView::new_checked(body) {
                Ok(e) if e.error() == 0 => {}
                Ok(e) => out.error = Some(e.error().saturating_neg()),
                Err(_) => out.error = Some(libc::EINVAL),
            },
            t @ (RTM_NEWLINK | RTM_DELLINK) => {
                let (Some(hdr), Some(attrs)) = (body.get(4..8), body.get(IFINFOMSG_LEN..)) else {
                    continue;
                };
                let index = u32::from_ne_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
                let name = NlaIter::new(attrs)
                    .map_while(Result::ok)
                    .filter(|a| a.kind() == IFLA_IFNAME)
                    .last()
                    .map(|a| a.cstr());
                out.links.push(LinkMsg {
                    new: t == RTM_NEWLINK,
                    index,
                    name,
                });
            }
            _ => {}
        }
    }
    out
}

/// The rtnetlink parser IFINDEX runs on each datagram, for the fuzz target: how many
/// link messages it found, whether the dump ended, and the kernel's error if any.
#[doc(hidden)]
pub fn parse_link_datagram(buf: &[u8]) -> (usize, bool, Option<i32>) {
    let b = parse_datagram(buf);
    (b.links.len(), b.done, b.error)
}

fn apply(batch: &Batch<'_>) {
    if batch.links.is_empty() {
        return;
    }
    let mut t = table_write();
    for l in &batch.links {
        let slot = match (l.new, l.name) {
            (true, Some(n)) if !n.is_empty() => Slot::Name(String::from_utf8_lossy(n).into()),
            (true, _) => continue,
            (false, _) => Slot::Missing,
        };
        t.set(l.index, slot);
    }
}

/// Sends an `RTM_GETLINK` dump request.
fn request_dump(sock: &NlSocket, seq: u32) -> io::Result<()> {
    let mut msg = [0u8; NLMSG_HDRLEN + IFINFOMSG_LEN];
    let hdr = NlmsgHeader {
        len: msg.len() as u32,
        msg_type: RTM_GETLINK,
        flags: NLM_F_REQUEST | NLM_F_DUMP,
        seq,
        pid: 0,
    };
    hdr.emit(&mut msg)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    msg[NLMSG_HDRLEN] = libc::AF_UNSPEC as u8;
    sock.send(&msg)
}

/// Receives one datagram, waiting at most 250 ms (`Again` then).
fn recv_wait<'b>(sock: &NlSocket, buf: &'b mut [u8]) -> io::Result<Option<&'b [u8]>> {
    let mut r = sock.recv(buf)?;
    if r == Recv::Again && sock.wait_readable(Duration::from_millis(250)) {
        r = sock.recv(buf)?;
    }
    match r {
        Recv::Data(n) => Ok(Some(&buf[..n])),
        Recv::Again => Ok(None),
        Recv::Overrun => Err(io::Error::from_raw_os_error(libc::ENOBUFS)),
    }
}

/// Dumps every link into the table, waiting at most ~2 s for the end of the dump.
fn initial_dump(sock: &NlSocket, buf: &mut [u8]) -> io::Result<()> {
    request_dump(sock, 1)?;
    let mut timeouts = 0;
    loop {
        match recv_wait(sock, buf) {
            Ok(Some(d)) => {
                let b = parse_datagram(d);
                apply(&b);
                if let Some(e) = b.error {
                    return Err(io::Error::from_raw_os_error(e));
                }
                if b.done {
                    return Ok(());
                }
            }
            Ok(None) => {
                timeouts += 1;
                if timeouts >= 8 {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no answer to the RTM_GETLINK dump",
                    ));
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => request_dump(sock, 1)?,
            Err(e) => return Err(e),
        }
    }
}

/// The background thread keeping [`TABLE`] fresh; stopped when the last started
/// IFINDEX instance stops.
struct Monitor {
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Monitor {
    fn start() -> io::Result<Arc<Monitor>> {
        let sock = NlSocket::open(Proto::Route, &[RTNLGRP_LINK], "", "rtnetlink socket")
            .map_err(|e| io::Error::other(e.to_string()))?;
        let mut buf = vec![0u8; 64 * 1024];
        initial_dump(&sock, &mut buf)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new().name("ifindex-rtnl".into()).spawn(move || {
            let mut seq = 2u32;
            while !stop2.load(Ordering::Relaxed) {
                match recv_wait(&sock, &mut buf) {
                    Ok(Some(d)) => apply(&parse_datagram(d)),
                    Ok(None) => {}
                    Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                        log::info!("IFINDEX: link events lost ({e}), dumping links again");
                        seq = seq.wrapping_add(1);
                        if let Err(e) = request_dump(&sock, seq) {
                            log::error!("IFINDEX: cannot request a link dump: {e}");
                        }
                    }
                    Err(e) => {
                        log::error!("IFINDEX: rtnetlink receive failed, interface names may go stale: {e}");
                        std::thread::sleep(Duration::from_secs(1));
                    }
                }
            }
        })?;
        MONITORED.store(true, Ordering::Relaxed);
        Ok(Arc::new(Monitor {
            stop,
            thread: Mutex::new(Some(thread)),
        }))
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        MONITORED.store(false, Ordering::Relaxed);
        self.stop.store(true, Ordering::Relaxed);
        // The thread sees `stop` within its 250 ms receive timeout and exits on its own;
        // it owns its socket, so nothing needs it joined, and shutdown does not wait.
        drop(self.thread.lock().unwrap_or_else(|e| e.into_inner()).take());
        // Without a monitor, "does not exist" may go stale: forget those answers.
        let mut guard = table_write();
        let t = &mut *guard;
        for s in t
            .dense
            .iter_mut()
            .chain(t.sparse.iter_mut().map(|e| &mut e.1))
        {
            if *s == Slot::Missing {
                *s = Slot::Unknown;
            }
        }
    }
}

struct IfIndex {
    monitor: Mutex<Option<Arc<Monitor>>>,
}

impl Stage for IfIndex {
    fn start(&self) -> Result<(), PluginError> {
        let mut shared = MONITOR.lock().unwrap_or_else(|e| e.into_inner());
        let m = match shared.upgrade() {
            Some(m) => m,
            None => {
                let m = Monitor::start().map_err(|e| {
                    PluginError::new(format!(
                        "IFINDEX: cannot read interface names over rtnetlink: {e}"
                    ))
                })?;
                *shared = Arc::downgrade(&m);
                m
            }
        };
        *self.monitor.lock().unwrap_or_else(|e| e.into_inner()) = Some(m);
        Ok(())
    }

    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        let i = ev.u32(0);
        let o = ev.u32(1);
        put_name(ev, 0, i);
        put_name(ev, 1, o);
        Ret::Ok
    }

    fn stop(&self) {
        // Dropping the last reference stops and joins the thread.
        let m = self
            .monitor
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let _guard = MONITOR.lock().unwrap_or_else(|e| e.into_inner());
        drop(m);
    }
}

fn make(_: &Options) -> Result<Arc<dyn Stage>, PluginError> {
    Ok(Arc::new(IfIndex {
        monitor: Mutex::new(None),
    }))
}

/// The IFINDEX plugin.
pub(crate) fn spec() -> PluginSpec {
    super::filter_spec(
        "IFINDEX",
        &[],
        "interface indexes to names (oob.in, oob.out) from an rtnetlink link cache",
        vec![],
        INPUTS,
        OUTPUTS,
        make,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::testutil::*;

    fn nlmsg(ty: u16, body: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&((NLMSG_HDRLEN + body.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&ty.to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(body);
        while m.len() & 3 != 0 {
            m.push(0);
        }
        m
    }

    fn link(index: u32, name: &str) -> Vec<u8> {
        let mut b = vec![0u8; 16];
        b[4..8].copy_from_slice(&index.to_ne_bytes());
        let v = format!("{name}\0");
        b.extend_from_slice(&((4 + v.len()) as u16).to_ne_bytes());
        b.extend_from_slice(&IFLA_IFNAME.to_ne_bytes());
        b.extend_from_slice(v.as_bytes());
        while b.len() & 3 != 0 {
            b.push(0);
        }
        b
    }

    #[test]
    fn parses_link_messages_and_rejects_bad_lengths() {
        let mut d = nlmsg(RTM_NEWLINK, &link(2, "vB"));
        d.extend(nlmsg(RTM_DELLINK, &link(70000, "gone")));
        d.extend(nlmsg(NLMSG_DONE, &[0, 0, 0, 0]));
        let b = parse_datagram(&d);
        assert_eq!(b.links.len(), 2);
        assert_eq!(
            b.links[0],
            LinkMsg {
                new: true,
                index: 2,
                name: Some(b"vB")
            }
        );
        assert!(!b.links[1].new);
        assert!(b.done);
        // Truncations anywhere never panic and keep what came before.
        for n in 0..d.len() {
            let _ = parse_datagram(&d[..n]);
        }
        let mut bad = nlmsg(RTM_NEWLINK, &link(3, "x"));
        bad[0] = 0xff; // length beyond the datagram
        assert!(parse_datagram(&bad).links.is_empty());
    }

    #[test]
    fn table_dense_and_sparse() {
        let mut t = Table::new();
        t.set(3, Slot::Name("eth0".into()));
        t.set(100_000, Slot::Name("veth9".into()));
        t.set(70_000, Slot::Missing);
        assert_eq!(t.get(3), &Slot::Name("eth0".into()));
        assert_eq!(t.get(100_000), &Slot::Name("veth9".into()));
        assert_eq!(t.get(70_000), &Slot::Missing);
        assert_eq!(t.get(2), &Slot::Unknown);
        assert_eq!(t.get(u32::MAX), &Slot::Unknown);
    }

    /// Through the engine: start() dumps links over rtnetlink (falls back to
    /// if_indextoname if the dump is not allowed here); index 1 is the loopback.
    #[test]
    fn names_through_engine() {
        let keys = vec![
            KeyDef::new("oob.ifindex_in", KeyType::U32),
            KeyDef::new("oob.ifindex_out", KeyType::U32),
        ];
        let events = vec![
            vec![(0, u(1))],
            vec![(0, u(0)), (1, u(1))],
            vec![(1, u(0x7fff_fff0))],
        ];
        let expected_lo = index_to_name(1).map(|n| n.to_string()).unwrap_or_default();
        let rows = run1("IFINDEX", keys, events);
        assert_eq!(get_str(&rows[0], "oob.in"), Some(expected_lo.clone()));
        assert_eq!(get_str(&rows[0], "oob.out").as_deref(), Some(""));
        assert_eq!(get_str(&rows[1], "oob.in").as_deref(), Some(""));
        assert_eq!(get_str(&rows[1], "oob.out"), Some(expected_lo));
        assert_eq!(get_str(&rows[2], "oob.in").as_deref(), Some(""));
        assert_eq!(get_str(&rows[2], "oob.out").as_deref(), Some(""));
    }
}
