//! UNIXSOCK: ulogd2's unix-socket input (NuFW's protocol). Programs in user space —
//! NuFW's nuauth, an IDS, a test harness — hand packets with their metadata to the
//! daemon over a unix stream socket; the frame format is in [`crate::wire::unixsock`].
//!
//! Differences from ulogd2 2.0.8, on purpose:
//! - several clients at once (ulogd2 served one and refused the next); a client that
//!   sends garbage is disconnected and counted, the others go on (ulogd2 could stop
//!   the whole daemon on a read error);
//! - the socket gets its mode and owner *before* anyone can connect: it is bound in a
//!   private directory, given `perms`/`owner`/`group`, then renamed into place;
//! - a stale socket file left by a crash is replaced; a path where another process
//!   still listens, or that is not a socket, is a start-up error that says so;
//! - every frame is checked; ulogd2 read option lengths without bounds checks.
//!
//! One `epoll` set of the source's own (mio) holds the listener and the clients, and
//! only its fd is registered with the engine, so clients can come and go while the
//! engine's set of fds stays fixed.

use std::io::{ErrorKind, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use mio::net::{UnixListener, UnixStream};
use mio::{Events, Interest, Poll, Token};
use ulogd_core::{
    Built, Emit, Flow, KeyDef, KeyType, OptionDef, Options, PluginError, PluginSpec, Source,
    SourceSetup, Wake, PEN_NETFILTER,
};

use super::nflog_keys::now;
use crate::wire::unixsock::{frame_len, UnixsockRepr};

/// Largest frame: the marker plus a 16-bit size.
const MAX_FRAME: usize = 4 + u16::MAX as usize;
/// Clients served at once; more are accepted and closed at once (counted).
const MAX_CLIENTS: usize = 64;
/// Frames handled per wake-up before giving the loop a turn.
const BATCH: usize = 1024;
const LISTENER: Token = Token(usize::MAX);

/// Positions in [`UNIXSOCK_KEYS`] (ulogd2's order).
mod k {
    pub const RAW_PKT: usize = 1;
    pub const RAW_PKTLEN: usize = 2;
    pub const RAW_PKTCOUNT: usize = 3;
    pub const OOB_PREFIX: usize = 4;
    pub const OOB_TIME_SEC: usize = 5;
    pub const OOB_TIME_USEC: usize = 6;
    pub const OOB_IN: usize = 8;
    pub const OOB_OUT: usize = 9;
    pub const OOB_FAMILY: usize = 14;
    pub const RAW_LABEL: usize = 18;
    pub const NUFW_USER_NAME: usize = 22;
    pub const NUFW_USER_ID: usize = 23;
    pub const NUFW_OS_NAME: usize = 24;
    pub const NUFW_OS_REL: usize = 25;
    pub const NUFW_OS_VERS: usize = 26;
    pub const NUFW_APP_NAME: usize = 27;
}

/// UNIXSOCK's output keys, as ulogd2 2.0.8 declares them (the NFLOG-like set with
/// interface *names* `oob.in`/`oob.out`, and NuFW's user and application keys).
/// Keys ulogd2 declares but never sets (mac, mark, hook, seq, uid/gid) are kept so
/// configurations that name them still build.
pub static UNIXSOCK_KEYS: &[KeyDef] = &[
    KeyDef::new("raw.mac", KeyType::Raw),
    KeyDef::new("raw.pkt", KeyType::Raw).ipfix(PEN_NETFILTER, 1),
    KeyDef::new("raw.pktlen", KeyType::U32).ipfix(PEN_NETFILTER, 2),
    KeyDef::new("raw.pktcount", KeyType::U32).ietf(2),
    KeyDef::new("oob.prefix", KeyType::String).ipfix(PEN_NETFILTER, 3),
    KeyDef::new("oob.time.sec", KeyType::U32).ietf(150),
    KeyDef::new("oob.time.usec", KeyType::U32),
    KeyDef::new("oob.mark", KeyType::U32).ipfix(PEN_NETFILTER, 4),
    KeyDef::new("oob.in", KeyType::String),
    KeyDef::new("oob.out", KeyType::String),
    KeyDef::new("oob.hook", KeyType::U8).ipfix(PEN_NETFILTER, 5),
    KeyDef::new("raw.mac_len", KeyType::U16),
    KeyDef::new("oob.seq.local", KeyType::U32).ipfix(PEN_NETFILTER, 7),
    KeyDef::new("oob.seq.global", KeyType::U32).ipfix(PEN_NETFILTER, 8),
    KeyDef::new("oob.family", KeyType::U8),
    KeyDef::new("oob.protocol", KeyType::U16),
    KeyDef::new("oob.uid", KeyType::U32),
    KeyDef::new("oob.gid", KeyType::U32),
    KeyDef::new("raw.label", KeyType::U8),
    KeyDef::new("raw.type", KeyType::U16),
    KeyDef::new("raw.mac.saddr", KeyType::Raw).ietf(56),
    KeyDef::new("raw.mac.addrlen", KeyType::U16),
    KeyDef::new("nufw.user.name", KeyType::String),
    KeyDef::new("nufw.user.id", KeyType::U32),
    KeyDef::new("nufw.os.name", KeyType::String),
    KeyDef::new("nufw.os.rel", KeyType::String),
    KeyDef::new("nufw.os.vers", KeyType::String),
    KeyDef::new("nufw.app.name", KeyType::String),
];

#[derive(Clone, Debug, PartialEq, Eq)]
struct UnixsockConfig {
    path: PathBuf,
    bufsize: usize,
    perms: u32,
    owner: Option<u32>,
    group: Option<u32>,
}

fn options() -> Vec<OptionDef> {
    vec![
        OptionDef::string(
            "socket_path",
            "/var/run/ulogd/ulogd2.sock",
            "path of the listening unix stream socket (removed on exit)",
        ),
        OptionDef::int(
            "bufsize",
            "0",
            "bytes buffered per client (0: 64 KiB, enough for the largest frame)",
        ),
        OptionDef::int(
            "perms",
            "0600",
            "mode of the socket file, octal with a leading 0 (who may send packets)",
        ),
        OptionDef::string("owner", "", "owner of the socket file (user name or uid)"),
        OptionDef::string("group", "", "group of the socket file (group name or gid)"),
    ]
}

/// Looks `name` up in an `/etc/passwd`-style file (field 0 name, field 2 id); a
/// number is taken as it is.
fn lookup_id(name: &str, db: &Path) -> Option<u32> {
    if let Ok(n) = name.parse::<u32>() {
        return Some(n);
    }
    let text = std::fs::read_to_string(db).ok()?;
    text.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 2 && f[0] == name)
        .and_then(|f| f[2].parse().ok())
}

impl UnixsockConfig {
    fn from_options(o: &Options) -> Result<UnixsockConfig, PluginError> {
        let cfg_err = |e: ulogd_core::ConfigError| PluginError::new(e.to_string());
        let path = o.str("socket_path");
        if path.is_empty() {
            return Err(cfg_err(o.error("socket_path", "must not be empty")));
        }
        // sun_path holds 108 bytes with the NUL.
        if path.len() > 107 {
            return Err(cfg_err(o.error(
                "socket_path",
                format!(
                    "is {} bytes long; a unix socket path has at most 107",
                    path.len()
                ),
            )));
        }
        let bufsize = o.int("bufsize");
        if !(0..=64 * 1024 * 1024).contains(&bufsize) {
            return Err(cfg_err(
                o.error("bufsize", "must be between 0 and 67108864 bytes"),
            ));
        }
        let perms = o.int("perms");
        if !(0..=0o7777).contains(&perms) {
            return Err(cfg_err(o.error(
                "perms",
                "must be a file mode between 0 and 07777 (octal: write it with a leading 0)",
            )));
        }
        let id = |key: &str, db: &str| -> Result<Option<u32>, PluginError> {
            let v = o.str(key);
            if v.is_empty() {
                return Ok(None);
            }
            lookup_id(v, Path::new(db)).map(Some).ok_or_else(|| {
                cfg_err(o.error(
                    key,
                    format!("\"{v}\" is neither a number nor a name in {db}"),
                ))
            })
        };
        Ok(UnixsockConfig {
            path: PathBuf::from(path),
            bufsize: (bufsize as usize).max(MAX_FRAME),
            perms: perms as u32,
            owner: id("owner", "/etc/passwd")?,
            group: id("group", "/etc/group")?,
        })
    }
}

struct Client {
    stream: UnixStream,
    buf: Vec<u8>,
    len: usize,
    /// Frames are waiting in `buf` (the pool ran empty while handling them).
    pending: bool,
}

#[derive(Default)]
struct Counters {
    clients: u64,
    refused: u64,
    frames: u64,
    bad_frames: u64,
    unknown_options: u64,
}

struct Unixsock {
    cfg: UnixsockConfig,
    poll: Option<Poll>,
    events: Events,
    listener: Option<UnixListener>,
    /// Clients by token; `None` slots are reused.
    clients: Vec<Option<Client>>,
    /// The socket file we created (device, inode), to remove only our own.
    ours: Option<(u64, u64)>,
    n: Counters,
}

/// Why a client must go.
enum Drop {
    Closed,
    Garbage(String),
    Io(std::io::Error),
}

impl Unixsock {
    fn new(cfg: UnixsockConfig) -> Unixsock {
        Unixsock {
            cfg,
            poll: None,
            events: Events::with_capacity(64),
            listener: None,
            clients: Vec::new(),
            ours: None,
            n: Counters::default(),
        }
    }

    /// Removes a stale socket file (nobody listens); refuses a live one or a file
    /// that is not a socket.
    fn clear_path(path: &Path) -> Result<(), PluginError> {
        let meta = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(PluginError::new(format!(
                    "UNIXSOCK: cannot check {}: {e}",
                    path.display()
                )))
            }
        };
        if !meta.file_type().is_socket() {
            return Err(PluginError::new(format!(
                "UNIXSOCK: {} exists and is not a socket; remove it or choose another socket_path",
                path.display()
            )));
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(PluginError::new(format!(
                "UNIXSOCK: another process is listening on {} (a second ulogd?)",
                path.display()
            )));
        }
        log::info!(
            "UNIXSOCK: removing the stale socket {} (nobody listens on it)",
            path.display()
        );
        std::fs::remove_file(path).map_err(|e| {
            PluginError::new(format!("UNIXSOCK: cannot remove {}: {e}", path.display()))
        })
    }

    /// Binds in a private directory beside the target, sets mode and owner, then
    /// renames the socket into place: nobody can connect before its mode is right.
    fn bind(&mut self) -> Result<UnixListener, PluginError> {
        let path = &self.cfg.path;
        let err = |what: &str, e: std::io::Error| {
            PluginError::new(format!("UNIXSOCK: {what} {}: {e}", path.display()))
        };
        Self::clear_path(path)?;
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        let dir = dir.unwrap_or(Path::new("."));
        let private = dir.join(format!(".ulogd-unixsock.{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&private);
        std::fs::create_dir(&private)
            .map_err(|e| err("cannot create a private directory beside", e))?;
        let result = (|| -> Result<UnixListener, PluginError> {
            std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| err("cannot restrict the private directory for", e))?;
            let tmp = private.join("s");
            let listener = UnixListener::bind(&tmp).map_err(|e| err("cannot bind", e))?;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(self.cfg.perms))
                .map_err(|e| err("cannot set the mode of", e))?;
            if self.cfg.owner.is_some() || self.cfg.group.is_some() {
                std::os::unix::fs::chown(&tmp, self.cfg.owner, self.cfg.group)
                    .map_err(|e| err("cannot set the owner of", e))?;
            }
            std::fs::rename(&tmp, path).map_err(|e| err("cannot move the socket to", e))?;
            Ok(listener)
        })();
        let _ = std::fs::remove_dir_all(&private);
        let listener = result?;
        let meta = std::fs::symlink_metadata(path).map_err(|e| err("cannot stat", e))?;
        self.ours = Some((meta.dev(), meta.ino()));
        Ok(listener)
    }

    fn accept_all(&mut self) {
        let (Some(listener), Some(poll)) = (self.listener.as_ref(), self.poll.as_ref()) else {
            return;
        };
        loop {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    let live = self.clients.iter().filter(|c| c.is_some()).count();
                    if live >= MAX_CLIENTS {
                        self.n.refused += 1;
                        if self.n.refused.is_power_of_two() {
                            log::warn!(
                                "UNIXSOCK: {MAX_CLIENTS} clients already connected, \
                                 refusing another ({} refused so far)",
                                self.n.refused
                            );
                        }
                        continue;
                    }
                    let slot = match self.clients.iter().position(|c| c.is_none()) {
                        Some(s) => s,
                        None => {
                            self.clients.push(None);
                            self.clients.len() - 1
                        }
                    };
                    if let Err(e) =
                        poll.registry()
                            .register(&mut stream, Token(slot), Interest::READABLE)
                    {
                        log::warn!("UNIXSOCK: cannot watch a new client: {e}");
                        continue;
                    }
                    self.n.clients += 1;
                    log::debug!("UNIXSOCK: client {} connected", self.n.clients);
                    self.clients[slot] = Some(Client {
                        stream,
                        buf: vec![0; self.cfg.bufsize],
                        len: 0,
                        // Data may already be there: read it now.
                        pending: true,
                    });
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::warn!("UNIXSOCK: accept: {e}");
                    return;
                }
            }
        }
    }

    /// Emits every whole frame in the client's buffer, then reads more, until the
    /// socket is empty. `Ok(false)`: the pool ran empty, the rest waits.
    fn serve(
        c: &mut Client,
        n: &mut Counters,
        emit: &mut dyn Emit,
        handled: &mut usize,
    ) -> Result<bool, Drop> {
        loop {
            // Whole frames first.
            let mut at = 0;
            while at < c.len {
                let need = match frame_len(&c.buf[at..c.len]) {
                    Ok(Some(need)) if at + need <= c.len => need,
                    Ok(_) => break,
                    Err(e) => return Err(Drop::Garbage(e.to_string())),
                };
                let frame = &c.buf[at..at + need];
                let repr = UnixsockRepr::parse(frame).map_err(|e| Drop::Garbage(e.to_string()))?;
                n.unknown_options += u64::from(repr.unknown);
                let (sec, usec) = now();
                if emit.emit(&mut |ev| fill(ev, &repr, (sec, usec))).is_err() {
                    c.buf.copy_within(at..c.len, 0);
                    c.len -= at;
                    return Ok(false);
                }
                n.frames += 1;
                at += need;
                *handled += 1;
            }
            c.buf.copy_within(at..c.len, 0);
            c.len -= at;
            if *handled >= BATCH {
                return Ok(false);
            }
            if c.len == c.buf.len() {
                // Cannot happen with frames of at most MAX_FRAME bytes and a buffer at
                // least that large; guard anyway.
                return Err(Drop::Garbage("frame larger than the buffer".into()));
            }
            match c.stream.read(&mut c.buf[c.len..]) {
                Ok(0) => return Err(Drop::Closed),
                Ok(k) => c.len += k,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(true),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(Drop::Io(e)),
            }
        }
    }

    fn drop_client(&mut self, slot: usize, why: Drop) {
        let Some(mut c) = self.clients[slot].take() else {
            return;
        };
        if let Some(poll) = self.poll.as_ref() {
            let _ = poll.registry().deregister(&mut c.stream);
        }
        match why {
            Drop::Closed if c.len == 0 => log::debug!("UNIXSOCK: client disconnected"),
            Drop::Closed => {
                self.n.bad_frames += 1;
                log::warn!(
                    "UNIXSOCK: client disconnected in the middle of a frame ({} bytes dropped)",
                    c.len
                );
            }
            Drop::Garbage(e) => {
                self.n.bad_frames += 1;
                if self.n.bad_frames.is_power_of_two() {
                    log::warn!(
                        "UNIXSOCK: client disconnected: {e} ({} bad frames so far)",
                        self.n.bad_frames
                    );
                }
            }
            Drop::Io(e) => log::warn!("UNIXSOCK: client disconnected: read: {e}"),
        }
    }
}

fn fill(ev: &mut ulogd_core::Event<'_>, r: &UnixsockRepr<'_>, time: (u32, u32)) -> bool {
    let family = match r.payload.first().map(|b| b >> 4) {
        Some(4) => libc::AF_INET as u8,
        Some(6) => libc::AF_INET6 as u8,
        _ => 0,
    };
    ev.set_u8(k::OOB_FAMILY, family);
    ev.set_bytes(k::RAW_PKT, r.payload);
    ev.set_u32(k::RAW_PKTLEN, r.payload.len() as u32);
    ev.set_u32(k::RAW_PKTCOUNT, 1);
    let strs = [
        (k::OOB_PREFIX, r.prefix),
        (k::OOB_IN, r.indev),
        (k::OOB_OUT, r.outdev),
        (k::NUFW_USER_NAME, r.user),
        (k::NUFW_OS_NAME, r.os_name),
        (k::NUFW_OS_REL, r.os_rel),
        (k::NUFW_OS_VERS, r.os_vers),
        (k::NUFW_APP_NAME, r.app),
    ];
    for (key, v) in strs {
        if let Some(v) = v {
            ev.set_bytes(key, v);
        }
    }
    // ulogd2 sets the time only when the client sends it; then the microseconds
    // are unknown (0). Without it we stamp the arrival time, so every output has
    // one (ulogd2's outputs fell back to "now" each on its own).
    match r.time_sec {
        Some(s) => {
            ev.set_u32(k::OOB_TIME_SEC, s);
            ev.set_u32(k::OOB_TIME_USEC, 0);
        }
        None => {
            ev.set_u32(k::OOB_TIME_SEC, time.0);
            ev.set_u32(k::OOB_TIME_USEC, time.1);
        }
    }
    if let Some(u) = r.user_id {
        ev.set_u32(k::NUFW_USER_ID, u);
    }
    if let Some(s) = r.state {
        ev.set_u8(k::RAW_LABEL, s);
    }
    true
}

impl Source for Unixsock {
    fn start(&mut self, setup: &mut dyn SourceSetup) -> Result<(), PluginError> {
        let poll = Poll::new()
            .map_err(|e| PluginError::new(format!("UNIXSOCK: cannot create a poll set: {e}")))?;
        let mut listener = self.bind()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .map_err(|e| PluginError::new(format!("UNIXSOCK: cannot watch the socket: {e}")))?;
        setup.add_fd(poll.as_raw_fd());
        log::info!(
            "UNIXSOCK: listening on {} (mode {:04o})",
            self.cfg.path.display(),
            self.cfg.perms
        );
        self.listener = Some(listener);
        self.poll = Some(poll);
        Ok(())
    }

    fn run(&mut self, _wake: Wake, emit: &mut dyn Emit) -> Result<Flow, PluginError> {
        let mut handled = 0;
        // The inner set is edge-triggered: take every event it has, remember which
        // clients are readable, then serve them until each would block.
        loop {
            let Some(poll) = self.poll.as_mut() else {
                return Ok(Flow::Finished);
            };
            match poll.poll(&mut self.events, Some(Duration::ZERO)) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(PluginError::new(format!("UNIXSOCK: poll: {e}"))),
            }
            if self.events.is_empty() {
                break;
            }
            let mut accept = false;
            for e in self.events.iter() {
                match e.token() {
                    LISTENER => accept = true,
                    Token(slot) => {
                        if let Some(Some(c)) = self.clients.get_mut(slot) {
                            c.pending = true;
                        }
                    }
                }
            }
            if accept {
                self.accept_all();
            }
        }
        for slot in 0..self.clients.len() {
            let Some(c) = self.clients[slot].as_mut().filter(|c| c.pending) else {
                continue;
            };
            match Self::serve(c, &mut self.n, emit, &mut handled) {
                Ok(true) => c.pending = false,
                // Pool empty or batch done: the engine resumes us.
                Ok(false) => {
                    return Ok(if handled >= BATCH {
                        Flow::Again
                    } else {
                        Flow::Idle
                    })
                }
                Err(why) => self.drop_client(slot, why),
            }
        }
        Ok(Flow::Idle)
    }

    fn stop(&mut self) {
        self.clients.clear();
        self.listener = None;
        self.poll = None;
        // Remove the socket file only if it is still the one we made.
        if let Some((dev, ino)) = self.ours.take() {
            if let Ok(m) = std::fs::symlink_metadata(&self.cfg.path) {
                if m.dev() == dev && m.ino() == ino {
                    let _ = std::fs::remove_file(&self.cfg.path);
                }
            }
        }
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("clients", self.n.clients),
            ("clients_refused", self.n.refused),
            ("frames", self.n.frames),
            ("bad_frames", self.n.bad_frames),
            ("unknown_options", self.n.unknown_options),
        ]
    }
}

/// The UNIXSOCK plugin.
pub fn spec() -> PluginSpec {
    PluginSpec {
        name: "UNIXSOCK",
        aliases: &[],
        kind: ulogd_core::Kind::Source,
        summary: "packets with metadata from user space over a unix stream socket (NuFW protocol)",
        options: options(),
        inputs: vec![],
        outputs: UNIXSOCK_KEYS.to_vec(),
        wildcard: false,
        build: Box::new(|ctx| {
            let cfg = UnixsockConfig::from_options(ctx.options)?;
            Ok(Built::Source {
                source: Box::new(Unixsock::new(cfg)),
                outputs: UNIXSOCK_KEYS.to_vec(),
            })
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<UnixsockConfig, String> {
        let o = Options::from_pairs("UNIXSOCK", "us1", &options(), pairs)
            .map_err(|e| format!("{e:?}"))?;
        UnixsockConfig::from_options(&o).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_ulogd2s() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.path, PathBuf::from("/var/run/ulogd/ulogd2.sock"));
        assert_eq!(c.perms, 0o600);
        assert_eq!(c.bufsize, MAX_FRAME);
        assert_eq!((c.owner, c.group), (None, None));
    }

    #[test]
    fn options_are_checked_with_the_key_named() {
        assert_eq!(parse(&[("perms", "0666")]).unwrap().perms, 0o666);
        assert!(parse(&[("perms", "99999")]).unwrap_err().contains("perms"));
        assert!(parse(&[("owner", "no-such-user-xyz")])
            .unwrap_err()
            .contains("owner"));
        assert_eq!(parse(&[("owner", "0")]).unwrap().owner, Some(0));
        assert_eq!(parse(&[("group", "root")]).unwrap().group, Some(0));
        let long = "/x".repeat(60);
        assert!(parse(&[("socket_path", &long)])
            .unwrap_err()
            .contains("socket_path"));
    }

    #[test]
    fn key_positions_match_the_table() {
        let at = |i: usize| UNIXSOCK_KEYS[i].name.as_ref();
        assert_eq!(at(k::RAW_PKT), "raw.pkt");
        assert_eq!(at(k::RAW_PKTLEN), "raw.pktlen");
        assert_eq!(at(k::RAW_PKTCOUNT), "raw.pktcount");
        assert_eq!(at(k::OOB_PREFIX), "oob.prefix");
        assert_eq!(at(k::OOB_TIME_SEC), "oob.time.sec");
        assert_eq!(at(k::OOB_TIME_USEC), "oob.time.usec");
        assert_eq!(at(k::OOB_IN), "oob.in");
        assert_eq!(at(k::OOB_OUT), "oob.out");
        assert_eq!(at(k::OOB_FAMILY), "oob.family");
        assert_eq!(at(k::RAW_LABEL), "raw.label");
        assert_eq!(at(k::NUFW_USER_NAME), "nufw.user.name");
        assert_eq!(at(k::NUFW_USER_ID), "nufw.user.id");
        assert_eq!(at(k::NUFW_OS_NAME), "nufw.os.name");
        assert_eq!(at(k::NUFW_OS_REL), "nufw.os.rel");
        assert_eq!(at(k::NUFW_OS_VERS), "nufw.os.vers");
        assert_eq!(at(k::NUFW_APP_NAME), "nufw.app.name");
    }
}
