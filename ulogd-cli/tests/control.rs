//! The control socket and configuration reload, end to end against the real
//! kernel: `ulogd --stats` during an NFLOG burst (numbers move and add up), the
//! socket's mode and who may connect, `ulogd --reopen` after a rename, the
//! client's errors, and the reload proof: a ping burst logged to two NFLOG groups
//! while the configuration is reloaded with one stack changed — the unchanged
//! stack's JSON holds every NFLOG sequence number, contiguous; the changed one
//! writes where its new section says; a bad file is refused naming file, line and
//! key, and the old stacks keep writing; SIGHUP with reload_on_hup=1 reloads too.
//!
//! The daemon runs in the test's mount and network namespace; its NFLOG sources
//! join the test's namespace (`network_namespace_path`), where `nft` logs the
//! echo requests of `ping` on loopback.

use std::collections::HashMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ulogd_core::testing::netns::{self, Netns};

/// One live test at a time: each runs a burst and the machine has two cores.
static SERIAL: Mutex<()> = Mutex::new(());

const BIN: &str = env!("CARGO_BIN_EXE_ulogd");

fn live() -> bool {
    netns::require(
        "the control socket tests",
        &[
            &["ip", "-V"],
            &["nft", "--version"],
            &["python3", "--version"],
        ],
    )
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ctl-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn ulogd(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The daemon, stopped with SIGTERM (and reaped) when dropped.
struct Daemon(Child);

impl Daemon {
    /// Starts `ulogd -c conf` and waits until its control socket answers.
    fn start(conf: &Path, sock: &Path) -> Daemon {
        let d = Daemon(
            Command::new(BIN)
                .arg("-c")
                .arg(conf)
                .stdout(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let end = Instant::now() + Duration::from_secs(15);
        while std::os::unix::net::UnixStream::connect(sock).is_err() {
            assert!(
                Instant::now() < end,
                "no control socket at {}",
                sock.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        d
    }

    fn signal(&self, sig: libc::c_int) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.0.id() as libc::pid_t, sig) };
    }

    fn term(&mut self) -> std::process::ExitStatus {
        self.signal(libc::SIGTERM);
        self.0.wait().unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.term();
        }
    }
}

/// Logs every echo request on the namespace's loopback to each of `groups`.
fn log_pings(ns: &str, groups: &[u16]) {
    let mut rules =
        String::from("table inet ctl {\n chain out {\n  type filter hook output priority 0;\n");
    for g in groups {
        rules.push_str(&format!("  icmp type echo-request log group {g}\n"));
    }
    rules.push_str(" }\n}\n");
    netns::nft(ns, &rules);
}

/// `count` pings at `interval` seconds inside `ns`, in the background.
fn ping(ns: &str, count: u32, interval: &str, mark: Option<&str>) -> Child {
    let c = count.to_string();
    let mut a = vec!["netns", "exec", ns, "ping", "-q", "-c", &c, "-i", interval];
    if let Some(m) = mark {
        a.extend_from_slice(&["-m", m]);
    }
    a.push("127.0.0.1");
    Command::new("ip")
        .args(&a)
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

fn nflog(id: &str, group: u16, nspath: &str) -> String {
    format!(
        "[{id}]\ngroup={group}\nseq_local=1\nnetwork_namespace_path=\"{nspath}\"\n\
         netlink_socket_buffer_size=1048576\n"
    )
}

/// (lines, distinct oob.seq.local, min, max) of a JSON-lines file, read by python.
fn seqs(p: &Path) -> (u64, u64, i64, i64) {
    if !p.exists() {
        return (0, 0, -1, -1);
    }
    let py = "import json,sys\n\
              s=[json.loads(l)['oob.seq.local'] for l in open(sys.argv[1]) if l.strip()]\n\
              print(len(s), len(set(s)), min(s) if s else -1, max(s) if s else -1)\n";
    let out = netns::run(&["python3", "-c", py, p.to_str().unwrap()]);
    let v: Vec<i64> = out.split_whitespace().map(|x| x.parse().unwrap()).collect();
    (v[0] as u64, v[1] as u64, v[2], v[3])
}

/// Waits until `p` has `n` lines (or `within` passed); returns the count.
fn wait_lines(p: &Path, n: u64, within: Duration) -> u64 {
    let end = Instant::now() + within;
    loop {
        let have = std::fs::read_to_string(p)
            .map(|t| t.lines().count() as u64)
            .unwrap_or(0);
        if have >= n || Instant::now() > end {
            return have;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `ulogd --stats` rows by instance id (whitespace-split cells).
fn stats(conf: &Path) -> (String, HashMap<String, Vec<String>>) {
    let o = ulogd(&["--stats", "-c", conf.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "--stats: {err}");
    let rows = out
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("  stack=") && !l.starts_with("      "))
        .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .filter(|r| r.len() == 9 && r[0] != "INSTANCE")
        .map(|r| (r[0].clone(), r))
        .collect();
    (out, rows)
}

fn cell(rows: &HashMap<String, Vec<String>>, id: &str, col: usize) -> u64 {
    let r = rows
        .get(id)
        .unwrap_or_else(|| panic!("no row {id}: {rows:?}"));
    r[col]
        .parse()
        .unwrap_or_else(|_| panic!("{id} column {col}: {r:?}"))
}

#[test]
fn stats_move_during_a_burst_add_up_and_the_socket_is_0600() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !live() {
        return;
    }
    let ns = Netns::create("ctls", 1);
    log_pings(ns.name(0), &[41]);
    let dir = tmpdir("stats");
    let sock = dir.join("run/ulogd.ctl");
    let out = dir.join("out.json");
    // MARK passes only packets marked 1 (ping -m 1): in/out/stopped all move.
    let conf = dir.join("u.conf");
    std::fs::write(
        &conf,
        format!(
            "[global]\nlogfile=\"{d}/daemon.log\"\ncontrol_socket=\"{s}\"\n\
             stack=n:NFLOG,b:BASE,m:MARK,s:IP2STR,j:JSON\n{nf}[m]\nmark=1\n\
             [j]\nfile=\"{o}\"\nsync=0\n",
            d = dir.display(),
            s = sock.display(),
            o = out.display(),
            nf = nflog("n", 41, &ns.path(0)),
        ),
    )
    .unwrap();
    let mut d = Daemon::start(&conf, &sock);

    // The socket: a socket, 0600, root's; its directory was created 0750.
    let meta = std::fs::symlink_metadata(&sock).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "socket mode");
    assert_eq!(meta.uid(), 0);
    let dmode = std::fs::metadata(sock.parent().unwrap())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(dmode & 0o777, 0o750, "directory the daemon created");
    // Another user cannot connect (the client says so plainly). The binary is
    // linked (or copied) beside the socket, so `nobody` can run it wherever the
    // build tree lives.
    // Open the directory up, so only the socket's own 0600 stands in the way.
    std::fs::set_permissions(
        sock.parent().unwrap(),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let bin = dir.join("ulogd");
    if std::fs::hard_link(BIN, &bin).is_err() {
        std::fs::copy(BIN, &bin).unwrap();
    }
    let o = Command::new(&bin)
        .args(["--stats", "--control-socket", sock.to_str().unwrap()])
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(err.contains("permission denied"), "{err}");

    let (_, idle) = stats(&conf);
    assert_eq!(cell(&idle, "n", 3), 0, "nothing logged yet");
    let mut marked = ping(ns.name(0), 1500, "0.002", Some("1"));
    let mut plain = ping(ns.name(0), 1500, "0.002", None);
    std::thread::sleep(Duration::from_millis(500));
    let (t1, s1) = stats(&conf);
    let (t2, s2) = stats(&conf);
    println!("{t1}\n{t2}");
    let (e1, e2) = (cell(&s1, "n", 3), cell(&s2, "n", 3));
    assert!(
        0 < e1 && e1 < e2,
        "events move during the burst: {e1} then {e2}"
    );
    let rate: f64 = s2["n"][6].parse().unwrap();
    assert!(rate > 0.0, "a rate during the burst: {rate}");
    assert!(marked.wait().unwrap().success());
    assert!(plain.wait().unwrap().success());

    // Burst over: once the kernel's last batch is in and nothing is in flight,
    // every stage's numbers add up and chain.
    let end = Instant::now() + Duration::from_secs(10);
    let (table, rows) = loop {
        let (t, r) = stats(&conf);
        if (cell(&r, "n", 3) == 3000 && r["n"][8].starts_with("0/")) || Instant::now() > end {
            break (t, r);
        }
    };
    println!("{table}");
    assert_eq!(cell(&rows, "n", 3), 3000, "every echo request arrived");
    assert_eq!(rows["n"][7], "0", "NFLOG counted no loss");
    let mut upstream = cell(&rows, "n", 3);
    for id in ["b", "m", "s", "j"] {
        let (i, o, st, er) = (
            cell(&rows, id, 2),
            cell(&rows, id, 3),
            cell(&rows, id, 4),
            cell(&rows, id, 5),
        );
        assert_eq!(i, upstream, "{id} gets what the stage before passed on");
        assert_eq!(i, o + st + er, "{id}: in = out + stopped + errors");
        if id == "m" {
            assert_eq!((o, st), (1500, 1500), "MARK passes the marked half");
        }
        upstream = o;
    }
    assert!(d.term().success());
    assert!(!sock.exists(), "socket removed at exit");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn after_u_the_socket_belongs_to_the_daemons_user_who_may_use_it() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !live() {
        return;
    }
    let ns = Netns::create("ctlu", 1);
    let dir = tmpdir("uid");
    let sock = dir.join("run/ulogd.ctl");
    let conf = dir.join("u.conf");
    std::fs::write(
        &conf,
        format!(
            "[global]\nlogfile=\"{d}/daemon.log\"\ncontrol_socket=\"{s}\"\n\
             stack=n:NFLOG,b:BASE,e:JSON\n{nf}[e]\nfile=\"{d}/out.json\"\n",
            d = dir.display(),
            s = sock.display(),
            nf = nflog("n", 45, &ns.path(0)),
        ),
    )
    .unwrap();
    let mut d = Daemon(
        Command::new(BIN)
            .args(["-c", conf.to_str().unwrap(), "-u", "nobody"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let end = Instant::now() + Duration::from_secs(15);
    while std::os::unix::net::UnixStream::connect(&sock).is_err() {
        assert!(Instant::now() < end, "no control socket");
        std::thread::sleep(Duration::from_millis(50));
    }
    let meta = std::fs::symlink_metadata(&sock).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid()),
        (65534, 65534),
        "handed to -u nobody"
    );
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let bin = dir.join("ulogd");
    if std::fs::hard_link(BIN, &bin).is_err() {
        std::fs::copy(BIN, &bin).unwrap();
    }
    // The directory the daemon created is nobody's too (so it can remove the socket).
    let o = Command::new(&bin)
        .args(["--stats", "--control-socket", sock.to_str().unwrap()])
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert!(o.status.success(), "the daemon's user may ask: {err}");
    assert!(out.contains("stack=n:NFLOG,b:BASE,e:JSON"), "{out}");
    // And root may, too.
    let o = ulogd(&["--stats", "--control-socket", sock.to_str().unwrap()]);
    assert!(o.status.success());
    assert!(d.term().success());
    assert!(!sock.exists(), "removed at exit, after -u");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn reopen_after_a_rename_writes_a_new_file() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !live() {
        return;
    }
    let ns = Netns::create("ctlr", 1);
    log_pings(ns.name(0), &[42]);
    let dir = tmpdir("reopen");
    let sock = dir.join("ulogd.ctl");
    let out = dir.join("out.json");
    let conf = dir.join("u.conf");
    std::fs::write(
        &conf,
        format!(
            "[global]\nlogfile=\"{d}/daemon.log\"\ncontrol_socket=\"{s}\"\n\
             stack=n:NFLOG,b:BASE,j:JSON\n{nf}[j]\nfile=\"{o}\"\nsync=1\n",
            d = dir.display(),
            s = sock.display(),
            o = out.display(),
            nf = nflog("n", 42, &ns.path(0)),
        ),
    )
    .unwrap();
    let mut d = Daemon::start(&conf, &sock);
    assert!(ping(ns.name(0), 20, "0.01", None).wait().unwrap().success());
    assert_eq!(wait_lines(&out, 20, Duration::from_secs(5)), 20);
    let rotated = dir.join("out.json.1");
    std::fs::rename(&out, &rotated).unwrap();
    let o = ulogd(&["--reopen", "-c", conf.to_str().unwrap()]);
    let (stdout, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(stdout.contains("reopened"), "{stdout}");
    assert!(ping(ns.name(0), 30, "0.01", None).wait().unwrap().success());
    assert_eq!(wait_lines(&out, 30, Duration::from_secs(5)), 30, "new file");
    assert_eq!(
        wait_lines(&rotated, 20, Duration::ZERO),
        20,
        "rotated file kept"
    );
    let (a, b) = (seqs(&rotated), seqs(&out));
    assert_eq!(
        a.3 + 1,
        b.2,
        "the new file goes on where the rotated one stopped"
    );
    assert!(d.term().success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn client_errors_say_what_is_wrong() {
    let dir = tmpdir("errors");
    let conf = dir.join("u.conf");
    std::fs::write(&conf, "[global]\nstack=n:NFLOG,e:LOGEMU\n[n]\n[e]\n").unwrap();
    let (_, err) = text(&ulogd(&["--stats", "-c", conf.to_str().unwrap()]));
    assert!(
        err.contains("sets no control socket")
            && err.contains("control_socket=/run/ulogd/ulogd.ctl"),
        "{err}"
    );
    let missing = dir.join("nobody-here.ctl");
    let o = ulogd(&["--reload", "--control-socket", missing.to_str().unwrap()]);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("no such socket") && err.contains("is ulogd running"),
        "{err}"
    );
    // A socket left by a daemon that was killed.
    let stale = dir.join("stale.ctl");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let (_, err) = text(&ulogd(&[
        "--reopen",
        "--control-socket",
        stale.to_str().unwrap(),
    ]));
    assert!(
        err.contains("nobody listens") && err.contains("not running"),
        "{err}"
    );
    // The flags exclude each other.
    let o = ulogd(&["--stats", "--reload"]);
    assert!(!o.status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The proof of #16's reload: see the module comment.
#[test]
fn reload_keeps_an_unchanged_stack_lossless_and_refuses_a_bad_file() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !live() {
        return;
    }
    let ns = Netns::create("ctlx", 1);
    log_pings(ns.name(0), &[43, 44]);
    let dir = tmpdir("reload");
    let sock = dir.join("ulogd.ctl");
    let conf = dir.join("u.conf");
    let (a, b1, b2, b3) = (
        dir.join("a.json"),
        dir.join("b1.json"),
        dir.join("b2.json"),
        dir.join("b3.json"),
    );
    // Stack A is never changed; stack B's output file changes (b1 → b2 → b3).
    let config = |b_file: &Path, extra: &str| {
        format!(
            "[global]\nlogfile=\"{d}/daemon.log\"\nloglevel=3\ncontrol_socket=\"{s}\"\nreload_on_hup=1\n\
             stack=na:NFLOG,ba:BASE,ja:JSON\n\
             stack=nb:NFLOG,bb:BASE,jb:JSON\n\
             {nfa}[ja]\nfile=\"{a}\"\nsync=1\n\
             {nfb}[jb]\nfile=\"{b}\"\nsync=1\n{extra}",
            d = dir.display(),
            s = sock.display(),
            a = a.display(),
            b = b_file.display(),
            nfa = nflog("na", 43, &ns.path(0)),
            nfb = nflog("nb", 44, &ns.path(0)),
        )
    };
    std::fs::write(&conf, config(&b1, "")).unwrap();
    let mut d = Daemon::start(&conf, &sock);
    let c = conf.to_str().unwrap();

    // 2000 echo requests over ~4 s; the reload happens in the middle.
    let mut burst = ping(ns.name(0), 2000, "0.002", None);
    std::thread::sleep(Duration::from_millis(1500));
    std::fs::write(&conf, config(&b2, "")).unwrap();
    let o = ulogd(&["--reload", "-c", c]);
    let (stdout, err) = text(&o);
    println!("--reload:\n{stdout}{err}");
    assert!(o.status.success(), "{err}");
    assert!(
        stdout.contains("1 group(s) unchanged, 1 stopped, 1 started"),
        "{stdout}"
    );
    assert!(
        stdout.contains("unchanged: stack=na:NFLOG,ba:BASE,ja:JSON"),
        "{stdout}"
    );
    assert!(
        stdout.contains("started: stack=nb:NFLOG,bb:BASE,jb:JSON"),
        "{stdout}"
    );
    assert!(burst.wait().unwrap().success());

    // The unchanged stack: every echo request, sequence numbers contiguous.
    assert_eq!(wait_lines(&a, 2000, Duration::from_secs(10)), 2000);
    let (n, distinct, lo, hi) = seqs(&a);
    println!("unchanged stack: {n} lines, {distinct} distinct seq, {lo}..={hi}");
    assert_eq!((n, distinct), (2000, 2000));
    assert_eq!(hi - lo + 1, 2000, "no sequence number missing");
    // The changed stack: wrote b1 before the reload and b2 after it.
    let (nb1, nb2) = (seqs(&b1).0, seqs(&b2).0);
    println!("changed stack: {nb1} lines before the reload, {nb2} after");
    assert!(nb1 > 0 && nb2 > 0, "b1 {nb1}, b2 {nb2}");

    // A bad file: refused with every problem (file, line, key); nothing changes.
    std::fs::write(
        &conf,
        config(&b3, "[jb]\nsynk=1\n").replace("[ja]\nfile", "[ja]\nfiel"),
    )
    .unwrap();
    let o = ulogd(&["--reload", "-c", c]);
    let (stdout, err) = text(&o);
    println!("bad --reload:\n{stdout}{err}");
    assert!(!o.status.success());
    let cfg_text = std::fs::read_to_string(&conf).unwrap();
    let line_of = |needle: &str| {
        cfg_text
            .lines()
            .position(|l| l.starts_with(needle))
            .unwrap()
            + 1
    };
    assert!(
        err.contains(&format!("{c}:{}", line_of("fiel="))),
        "names file:line of fiel: {err}"
    );
    assert!(err.contains("fiel"), "{err}");
    assert!(
        err.contains("refused") && err.contains("running configuration stays"),
        "{err}"
    );
    // Both old stacks keep writing.
    assert!(ping(ns.name(0), 100, "0.005", None)
        .wait()
        .unwrap()
        .success());
    assert_eq!(wait_lines(&a, 2100, Duration::from_secs(5)), 2100);
    assert_eq!(
        wait_lines(&b2, nb2 + 100, Duration::from_secs(5)),
        nb2 + 100
    );
    assert!(!b3.exists(), "the refused file opened nothing");

    // SIGHUP with reload_on_hup=1 reloads as well.
    std::fs::write(&conf, config(&b3, "")).unwrap();
    d.signal(libc::SIGHUP);
    let log = dir.join("daemon.log");
    let end = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&log)
        .unwrap_or_default()
        .matches("configuration reloaded")
        .count()
        < 2
    {
        assert!(Instant::now() < end, "SIGHUP reloaded nothing");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(ping(ns.name(0), 50, "0.005", None)
        .wait()
        .unwrap()
        .success());
    assert_eq!(wait_lines(&b3, 50, Duration::from_secs(5)), 50);
    assert_eq!(wait_lines(&a, 2150, Duration::from_secs(5)), 2150);
    let (n, distinct, lo, hi) = seqs(&a);
    assert_eq!(
        (n, distinct, hi - lo + 1),
        (2150, 2150, 2150),
        "still contiguous"
    );

    // A file that is valid but whose changed stack cannot start (its output's
    // directory does not exist): the reload fails, the previous version of that
    // stack is started again and goes on writing b3; stack A never noticed.
    std::fs::write(&conf, config(&dir.join("no/such/dir/b4.json"), "")).unwrap();
    let o = ulogd(&["--reload", "-c", c]);
    let (stdout, err) = text(&o);
    println!("failing --reload:\n{stdout}{err}");
    assert!(!o.status.success());
    assert!(err.contains("cannot start 'jb' (JSON)"), "{err}");
    assert!(
        err.contains("previous configuration of the changed stacks was restored"),
        "{err}"
    );
    assert!(ping(ns.name(0), 50, "0.005", None)
        .wait()
        .unwrap()
        .success());
    assert_eq!(
        wait_lines(&b3, 100, Duration::from_secs(5)),
        100,
        "restored stack writes"
    );
    assert_eq!(wait_lines(&a, 2200, Duration::from_secs(5)), 2200);
    let (n, distinct, lo, hi) = seqs(&a);
    assert_eq!(
        (n, distinct, hi - lo + 1),
        (2200, 2200, 2200),
        "still contiguous"
    );
    assert!(d.term().success());
    let _ = std::fs::remove_dir_all(&dir);
}
