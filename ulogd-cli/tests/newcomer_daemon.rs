//! What a newcomer trips over (issue 17), the daemon half: `-d` and its exit status,
//! relative paths with `-d`, SIGTERM while a FIFO blocks start-up, a capture
//! truncated during REPLAY, REPLAY's exit status, loss and SIGUSR1 counters at
//! `loglevel=7`, SIGHUP after `-u`, a full disk while idle, `/dev/stdout` as another
//! user, non-root noise, PYTHON not built, TOML errors, help texts. Each test runs
//! the real binary; the ones that need root (namespaces, `runuser`, tmpfs) say so
//! through the live-test harness (they fail under `CI=true` instead of skipping).

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ulogd_core::testing::netns::{require, run, run_in, Netns};

const BIN: &str = env!("CARGO_BIN_EXE_ulogd");

fn ulogd(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run ulogd")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nc-daemon-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    // Readable by `nobody` for the tests that drop privileges.
    run(&["chmod", "0755", d.to_str().unwrap()]);
    d
}

fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.display().to_string()
}

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ulogd-netfilter/tests/fixtures/golden-basic/nflog.pcap")
        .canonicalize()
        .unwrap()
}

/// A pcap of `n` raw-IP (LINKTYPE_RAW) ICMP echo requests `gap_ms` apart.
fn raw_pcap(n: u32, gap_ms: u32, linktype: u32) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&4u16.to_le_bytes());
    f.extend_from_slice(&0i32.to_le_bytes());
    f.extend_from_slice(&0u32.to_le_bytes());
    f.extend_from_slice(&65535u32.to_le_bytes());
    f.extend_from_slice(&linktype.to_le_bytes());
    for i in 0..n {
        let mut p = vec![
            0x45, 0, 0, 28, 0, 1, 0, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 8, 0, 0, 0, 0, 1,
        ];
        p.extend_from_slice(&(i as u16).to_be_bytes());
        let t = u64::from(i) * u64::from(gap_ms) * 1000;
        f.extend_from_slice(&(1_700_000_000 + (t / 1_000_000) as u32).to_le_bytes());
        f.extend_from_slice(&((t % 1_000_000) as u32).to_le_bytes());
        f.extend_from_slice(&(p.len() as u32).to_le_bytes());
        f.extend_from_slice(&(p.len() as u32).to_le_bytes());
        f.extend_from_slice(&p);
    }
    f
}

fn lines(p: &Path) -> usize {
    std::fs::read_to_string(p).map_or(0, |s| s.lines().count())
}

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A daemon this test started, killed (by its handle) if the test fails first.
struct Guard(Child);

impl std::ops::Deref for Guard {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Guard {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: signalling a process this test started.
    unsafe { libc::kill(pid, sig) };
}

fn wait_exit(c: &mut Child, secs: u64) -> std::process::ExitStatus {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(st) = c.try_wait().unwrap() {
            return st;
        }
        if Instant::now() > end {
            let _ = c.kill();
            let _ = c.wait();
            panic!("the daemon did not end within {secs} s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A REPLAY stack that never ends (loop=1, original pacing) writing JSON to `out`.
fn endless(dir: &Path, out: &str) -> String {
    format!(
        "[global]\nlogfile=\"{d}/daemon.log\"\nloglevel=3\n\
         stack=r:REPLAY,b:BASE,s:IP2STR,j:JSON\n\
         [r]\nfile=\"{p}\"\nloop=1\nspeed=1\n[j]\nfile=\"{out}\"\n",
        d = dir.display(),
        p = golden().display()
    )
}

/// §5: `-d` waits for the whole start-up and exits with its status and reason.
#[test]
fn daemon_flag_exits_nonzero_with_the_reason_when_start_up_fails() {
    let d = tmpdir("dflag");
    let pid = d.join("u.pid");
    let pid_s = pid.to_str().unwrap();
    let c = write(
        &d,
        "ok.conf",
        &endless(&d, &format!("{}/out.json", d.display())),
    );
    let o = ulogd(&d, &["-d", "-p", pid_s, "-c", &c]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    // The pid file is written before the parent exits 0.
    let first: i32 = std::fs::read_to_string(&pid)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(alive(first));

    let o = ulogd(&d, &["-d", "-p", pid_s, "-c", &c]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("is locked by a running ulogd (pid {first})")),
        "{err}"
    );

    let o = ulogd(&d, &["-d", "-u", "nosuchuser", "-c", &c]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("unknown user 'nosuchuser' (-u)"), "{err}");

    let bad = write(&d, "bad.conf", &endless(&d, "/nonexistent-nc-dir/out.json"));
    let o = ulogd(&d, &["-d", "-c", &bad]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("can't open /nonexistent-nc-dir/out.json: No such file or directory"),
        "{err}"
    );
    // Named by file and line, as configuration errors are (§12).
    assert!(
        err.contains(&format!("{bad}:9: cannot start 'j' (JSON)")),
        "{err}"
    );

    signal(first, libc::SIGTERM);
    wait_until("the first daemon to stop", 10, || !alive(first));
    assert!(!pid.exists(), "pid file left behind");
    let help = text(&ulogd(&d, &["--help"]).stdout);
    assert!(
        help.contains("once every source and output is open"),
        "{help}"
    );
    assert!(!help.contains("after every socket is open"), "{help}");
}

/// §23: with `-d`, relative paths resolve against the start directory, all of them.
#[test]
fn daemon_flag_keeps_relative_paths_relative_to_the_start_directory() {
    let d = tmpdir("rel");
    let body = format!(
        "[global]\nlogfile=\"nc-rel-daemon.log\"\nloglevel=3\n\
         stack=r:REPLAY,b:BASE,s:IP2STR,j:JSON\n[r]\nfile=\"{}\"\n[j]\nfile=\"nc-rel-out.json\"\n",
        golden().display()
    );
    write(&d, "rel.conf", &body);
    let o = ulogd(&d, &["-d", "-c", "rel.conf"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let log = d.join("nc-rel-daemon.log");
    wait_until("the replay to end", 20, || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("final counters: j"))
    });
    assert_eq!(lines(&d.join("nc-rel-out.json")), 20);
    assert!(!Path::new("/nc-rel-out.json").exists());
}

/// §8: a FIFO with no reader blocks the open; SIGTERM and SIGINT still end it.
#[test]
fn sigterm_ends_a_start_up_blocked_on_a_fifo() {
    for (what, sig) in [("output", libc::SIGTERM), ("replay", libc::SIGINT)] {
        let d = tmpdir(&format!("fifo-{what}"));
        let fifo = d.join("fifo");
        run(&["mkfifo", fifo.to_str().unwrap()]);
        let body = if what == "output" {
            endless(&d, fifo.to_str().unwrap())
        } else {
            format!(
                "[global]\nlogfile=\"{d}/daemon.log\"\nstack=r:REPLAY,b:BASE,s:IP2STR,j:JSON\n\
                 [r]\nfile=\"{f}\"\n[j]\nfile=\"{d}/out.json\"\n",
                d = d.display(),
                f = fifo.display()
            )
        };
        let c = write(&d, "fifo.conf", &body);
        let pid = d.join("f.pid");
        let mut child = Guard(
            Command::new(BIN)
                .args(["-c", &c, "-p", pid.to_str().unwrap()])
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        wait_until("the pid file", 10, || pid.exists());
        std::thread::sleep(Duration::from_millis(500));
        assert!(child.try_wait().unwrap().is_none(), "{what}: not blocked");
        signal(child.id() as i32, sig);
        let st = wait_exit(&mut child, 5);
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        assert_eq!(st.code(), Some(1), "{what}: {st} {err}");
        let name = if sig == libc::SIGTERM {
            "SIGTERM"
        } else {
            "SIGINT"
        };
        assert!(
            err.contains(&format!("received {name} during start-up")),
            "{what}: {err}"
        );
        assert!(!pid.exists(), "{what}: pid file left behind");
        if what == "output" {
            let log = std::fs::read_to_string(d.join("daemon.log")).unwrap();
            assert!(log.contains("is a FIFO; waiting for a reader"), "{log}");
        }
    }
    // And REPLAY from a FIFO that gets a writer replays it (read, not mapped).
    let d = tmpdir("fifo-fed");
    let fifo = d.join("fifo");
    run(&["mkfifo", fifo.to_str().unwrap()]);
    let body = format!(
        "[global]\nlogfile=\"{d}/daemon.log\"\nstack=r:REPLAY,b:BASE,s:IP2STR,j:JSON\n\
         [r]\nfile=\"{f}\"\n[j]\nfile=\"{d}/out.json\"\n",
        d = d.display(),
        f = fifo.display()
    );
    let c = write(&d, "fed.conf", &body);
    let mut child = Guard(Command::new(BIN).args(["-c", &c]).spawn().unwrap());
    std::fs::write(&fifo, std::fs::read(golden()).unwrap()).unwrap();
    assert!(wait_exit(&mut child, 10).success());
    assert_eq!(lines(&d.join("out.json")), 20);
}

/// §9: truncating the capture during a replay no longer kills the daemon (SIGBUS);
/// the replay goes on from the copy read at start.
#[test]
fn truncating_the_capture_during_replay_does_not_crash() {
    let d = tmpdir("trunc");
    let victim = d.join("victim.pcap");
    std::fs::write(&victim, raw_pcap(250, 10, 101)).unwrap();
    let body = format!(
        "[global]\nlogfile=\"{d}/daemon.log\"\nloglevel=3\nstack=r:REPLAY,b:BASE,s:IP2STR,j:JSON\n\
         [r]\nfile=\"{v}\"\nspeed=1\n[j]\nfile=\"{d}/out.json\"\n",
        d = d.display(),
        v = victim.display()
    );
    let c = write(&d, "trunc.conf", &body);
    let mut child = Guard(Command::new(BIN).args(["-c", &c]).spawn().unwrap());
    std::thread::sleep(Duration::from_millis(1000));
    std::fs::OpenOptions::new()
        .write(true)
        .open(&victim)
        .unwrap()
        .set_len(24)
        .unwrap();
    let st = wait_exit(&mut child, 20);
    assert_eq!(st.signal(), None, "killed by a signal: {st}");
    assert!(st.success(), "{st}");
    assert_eq!(lines(&d.join("out.json")), 250);
}

/// §18: REPLAY exits non-zero when records were malformed or nothing was replayed,
/// with the summary at notice level.
#[test]
fn replay_exit_status_says_when_not_everything_was_replayed() {
    let d = tmpdir("rstatus");
    let good = std::fs::read(golden()).unwrap();
    let mut torn = good.clone();
    torn.truncate(good.len() - 10);
    let cases: [(&str, Vec<u8>, Option<&str>); 3] = [
        ("golden.pcap", good, None),
        (
            "linktype.pcap",
            raw_pcap(3, 1, 147),
            Some("no event replayed (3 record(s) skipped)"),
        ),
        (
            "torn.pcap",
            torn,
            Some("1 malformed record(s); 19 event(s) replayed"),
        ),
    ];
    for (name, bytes, failure) in cases {
        let p = d.join(name);
        std::fs::write(&p, bytes).unwrap();
        let body = format!(
            "[global]\nlogfile=\"{d}/{name}.log\"\nstack=r:REPLAY,b:BASE,s:IP2STR,j:JSON\n\
             [r]\nfile=\"{p}\"\n[j]\nfile=\"{d}/{name}.json\"\n",
            d = d.display(),
            p = p.display()
        );
        let c = write(&d, &format!("{name}.conf"), &body);
        let o = ulogd(&d, &["-c", &c]);
        let err = text(&o.stderr);
        let log = std::fs::read_to_string(d.join(format!("{name}.log"))).unwrap();
        match failure {
            None => assert!(o.status.success(), "{name}: {err}"),
            Some(why) => {
                assert_eq!(o.status.code(), Some(1), "{name}: {err}");
                assert!(err.contains(&format!("REPLAY 'r': {why}")), "{name}: {err}");
                assert!(
                    log.lines()
                        .any(|l| l.contains("<5> REPLAY") && l.contains("replayed")),
                    "{name}: no notice-level summary: {log}"
                );
            }
        }
    }
}

/// §24: a binary without the `python` feature says how to get PYTHON.
#[cfg(not(feature = "python"))]
#[test]
fn python_not_built_says_which_feature_to_enable() {
    let d = tmpdir("py");
    let o = ulogd(&d, &["-i", "PYTHON"]);
    assert!(o.status.success());
    assert!(
        text(&o.stdout).contains("cargo feature `python`"),
        "{}",
        text(&o.stdout)
    );
    let c = write(
        &d,
        "py.conf",
        "[global]\nstack=r:REPLAY,p1:PYTHON,j:JSON\n[r]\nfile=\"x.pcap\"\n\
         [p1]\nmodule=\"m\"\n[j]\nfile=\"/tmp/nc-py.json\"\n",
    );
    let o = ulogd(&d, &["--check", "-c", &c]);
    let err = text(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains(
            "PYTHON is not built into this binary: build ulogd with the cargo feature `python`"
        ),
        "{err}"
    );
    assert!(text(&ulogd(&d, &["--list-plugins"]).stdout).contains("PYTHON"));
}

/// TOML: `--check` reports an error for every broken section, not only the first.
#[test]
fn toml_check_reports_every_broken_section() {
    let d = tmpdir("toml");
    let c = write(
        &d,
        "bad.toml",
        "[global]\nstack = [\"r:REPLAY,j:JSON\"]\nloglevel = \n[r]\nfile = \"x\"\n\
         [j]\nfile = \"unterminated\n[other]\nsub = { a = 1 }\n",
    );
    let o = ulogd(&d, &["--check", "-c", &c]);
    let err = text(&o.stderr);
    assert!(!o.status.success());
    for line in [3, 7, 9] {
        assert!(err.contains(&format!("{c}:{line}:")), "line {line}: {err}");
    }
    assert!(err.contains("3 syntax errors"), "{err}");
}

/// §10: the help texts are current.
#[test]
fn help_and_info_texts_are_current() {
    let d = tmpdir("help");
    let help = text(&ulogd(&d, &["--help"]).stdout);
    assert!(!help.contains("as plugins land"), "{help}");
    assert!(!help.contains("inet filter input"), "{help}");
    assert!(help.contains("nft add table inet demo"), "{help}");
    let info = text(&ulogd(&d, &["-i", "NFLOG"]).stdout);
    let q = info
        .lines()
        .find(|l| l.contains("netlink_qthreshold"))
        .unwrap();
    assert!(q.contains("kernel default, 100"), "{q}");
}

/// Runs `runuser -u nobody -- ulogd args` with stdout to `stdout`.
fn as_nobody(args: &[&str], stdout: Stdio) -> Output {
    Command::new("runuser")
        .args(["-u", "nobody", "--", BIN])
        .args(args)
        .stdout(stdout)
        .output()
        .unwrap()
}

/// §20: `file="/dev/stdout"` writes to the inherited descriptor, so it works when the
/// daemon's user could not open its standard output by path.
#[test]
fn dev_stdout_works_for_a_user_that_cannot_reopen_it() {
    if !require("runuser as nobody", &[&["runuser", "--version"]]) {
        return;
    }
    let d = tmpdir("devstdout");
    let body = format!(
        "[global]\nlogfile=\"stdout\"\nstack=r:REPLAY,b:BASE,s:IP2STR,j:JSON\n\
         [r]\nfile=\"{d}/g.pcap\"\n[j]\nfile=\"/dev/stdout\"\n",
        d = d.display()
    );
    std::fs::copy(golden(), d.join("g.pcap")).unwrap();
    let c = write(&d, "s.conf", &body);
    let out = d.join("root-owned-file");
    let f = std::fs::File::create(&out).unwrap();
    run(&["chmod", "0600", out.to_str().unwrap()]);
    let o = as_nobody(&["-c", &c], Stdio::from(f));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let got = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        got.lines().filter(|l| l.starts_with('{')).count(),
        20,
        "{got}"
    );
}

/// §21: without CAP_NET_ADMIN the one clear error is not buried under protocol-family
/// (un)bind notices.
#[test]
fn non_root_start_prints_only_the_real_error() {
    if !require("runuser as nobody", &[&["runuser", "--version"]]) {
        return;
    }
    let d = tmpdir("nonroot");
    let c = write(
        &d,
        "nr.conf",
        "[global]\nlogfile=\"stdout\"\nstack=log1:NFLOG,b:BASE,i:IFINDEX,s:IP2STR,p:PRINTPKT,e:LOGEMU\n\
         [log1]\ngroup=0\nunbind=1\n[e]\nfile=\"stdout\"\n",
    );
    let o = as_nobody(&["-c", &c], Stdio::piped());
    let all = format!("{}{}", text(&o.stdout), text(&o.stderr));
    assert!(!o.status.success());
    assert!(all.contains("needs CAP_NET_ADMIN"), "{all}");
    assert!(!all.contains("protocol family"), "{all}");
}

/// §16: after `-u nobody`, a SIGHUP that cannot reopen the daemon log says so (in the
/// old file), and the pid file the user cannot remove is emptied and reported.
#[test]
fn sighup_after_dropping_privileges_reports_what_it_cannot_reopen() {
    if !require("runuser as nobody", &[&["id", "nobody"]]) {
        return;
    }
    let d = tmpdir("hupuid");
    let c = write(
        &d,
        "u.conf",
        &endless(&d, &format!("{}/out.json", d.display())),
    );
    let pid = d.join("u.pid");
    let mut child = Guard(
        Command::new(BIN)
            .args(["-c", &c, "-u", "nobody", "-p", pid.to_str().unwrap()])
            .spawn()
            .unwrap(),
    );
    let out = d.join("out.json");
    wait_until("a first line", 10, || lines(&out) > 0);
    std::fs::rename(&out, d.join("out.json.1")).unwrap();
    std::fs::rename(d.join("daemon.log"), d.join("daemon.log.1")).unwrap();
    signal(child.id() as i32, libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(500));
    signal(child.id() as i32, libc::SIGTERM);
    assert!(wait_exit(&mut child, 10).success());
    let log = std::fs::read_to_string(d.join("daemon.log.1")).unwrap();
    assert!(
        log.contains(&format!(
            "<7> SIGHUP: can't reopen the daemon log {}/daemon.log: Permission denied",
            d.display()
        )),
        "{log}"
    );
    assert!(log.contains("can't reopen"), "{log}");
    assert!(
        log.contains(&format!("cannot remove pid file {}", pid.display()))
            && log.contains("(emptied it)"),
        "{log}"
    );
    assert_eq!(std::fs::read_to_string(&pid).unwrap(), "");
}

/// §7: at `loglevel=7` (errors only) kernel loss and the SIGUSR1 counters still show.
#[test]
fn loss_and_sigusr1_counters_show_at_loglevel_7() {
    if !require(
        "NFLOG in a namespace",
        &[&["ip", "-V"], &["nft", "--version"], &["python3", "-V"]],
    ) {
        return;
    }
    let ns = Netns::create("nc7", 1);
    let group = 2100 + (std::process::id() % 500) as u16;
    ulogd_core::testing::netns::nft(
        ns.name(0),
        &format!(
            "table inet nc {{\n chain out {{\n  type filter hook output priority 0;\n  \
             udp dport 9999 log group {group}\n }}\n}}\n"
        ),
    );
    let d = tmpdir("lvl7");
    let body = format!(
        "[global]\nlogfile=\"{d}/daemon.log\"\nloglevel=7\n\
         stack=log1:NFLOG,b:BASE,s:IP2STR,j:JSON\n\
         [log1]\ngroup={group}\nnetwork_namespace_path=\"{p}\"\nnetlink_socket_buffer_size=16384\n\
         [j]\nfile=\"{d}/out.json\"\n",
        d = d.display(),
        p = ns.path(0)
    );
    let c = write(&d, "l7.conf", &body);
    let mut child = Guard(Command::new(BIN).args(["-c", &c]).spawn().unwrap());
    let pid = child.id() as i32;
    std::thread::sleep(Duration::from_millis(1000));
    // Stopped, the daemon cannot read: the kernel overruns its 16 KiB buffer.
    signal(pid, libc::SIGSTOP);
    run_in(
        ns.name(0),
        &[
            "python3",
            "-c",
            "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
             for i in range(2000): s.sendto(b'x'*100,('127.0.0.1',9999))\n",
        ],
    );
    signal(pid, libc::SIGCONT);
    std::thread::sleep(Duration::from_millis(500));
    signal(pid, libc::SIGUSR1);
    std::thread::sleep(Duration::from_millis(500));
    signal(pid, libc::SIGTERM);
    assert!(wait_exit(&mut child, 10).success());
    let log = std::fs::read_to_string(d.join("daemon.log")).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("NFLOG") && l.contains("kernel dropped")),
        "no loss line at loglevel=7: {log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("<5> counters: log1 (NFLOG)") && l.contains("overruns=")),
        "no SIGUSR1 counters at loglevel=7: {log}"
    );
    // Nothing else at notice level leaks through.
    assert!(!log.contains("using configuration file"), "{log}");
    assert!(lines(&d.join("out.json")) < 2000);
}

/// §17: a full disk is retried while idle: once space returns, every buffered line
/// reaches the file without a new event, in order, with no gap in the middle.
#[test]
fn full_disk_recovers_while_idle_without_gaps() {
    if !require("tmpfs", &[&["mount", "--version"], &["python3", "-V"]]) {
        return;
    }
    let d = tmpdir("full");
    let full = d.join("full");
    std::fs::create_dir_all(&full).unwrap();
    run(&[
        "mount",
        "-t",
        "tmpfs",
        "-o",
        "size=512k",
        "tmpfs",
        full.to_str().unwrap(),
    ]);
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _u = Unmount(full.clone());
    let filler = full.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let _ = f.write_all(&vec![0u8; 512 * 1024]);
    drop(f);
    // 200 events over 2 s (speed=1), then the source idles (loop=0 ends it, so a
    // second, never-ending replay keeps the daemon up).
    let cap = d.join("burst.pcap");
    std::fs::write(&cap, raw_pcap(200, 10, 101)).unwrap();
    let body = format!(
        "[global]\nlogfile=\"{d}/daemon.log\"\nloglevel=3\n\
         stack=r:REPLAY,b:BASE,s:IP2STR,j:JSON\n\
         stack=idle:REPLAY,b2:BASE,s2:IP2STR,j2:JSON\n\
         [r]\nfile=\"{cap}\"\nspeed=1\n[j]\nfile=\"{full}/out.json\"\nsync=1\n\
         [idle]\nfile=\"{cap}\"\nspeed=0.0001\nloop=1\n[j2]\nfile=\"{d}/idle.json\"\n",
        d = d.display(),
        cap = cap.display(),
        full = full.display()
    );
    let c = write(&d, "full.conf", &body);
    let mut child = Guard(Command::new(BIN).args(["-c", &c]).spawn().unwrap());
    std::thread::sleep(Duration::from_millis(3500));
    let out = full.join("out.json");
    let before = lines(&out);
    assert!(before < 200, "the disk was not full: {before} lines");
    std::fs::remove_file(&filler).unwrap();
    // No new event reaches j now; the retry must come from the timer.
    wait_until("the buffered lines to reach the disk", 5, || {
        lines(&out) == 200
    });
    signal(child.id() as i32, libc::SIGTERM);
    assert!(wait_exit(&mut child, 10).success());
    let py = "import json,sys\n\
              ids=[json.loads(l)['icmp.echoseq'] for l in open(sys.argv[1])]\n\
              print(ids==list(range(200)), len(ids))\n";
    let o = run(&["python3", "-c", py, out.to_str().unwrap()]);
    assert_eq!(o.trim(), "True 200", "lines out of order or with gaps");
}

/// §12–§14: the group range of NFLOG, the log file's OS reason, a comment without a
/// blank, TOML `group = true`, and `--check` on directories that do not exist.
#[test]
fn check_messages_name_the_real_problem() {
    let d = tmpdir("msgs");
    let base = |group: &str, sync: &str, logfile: &str, file: &str| {
        format!(
            "[global]\nlogfile=\"{logfile}\"\nstack=log1:NFLOG,b:BASE,i:IFINDEX,s:IP2STR,p:PRINTPKT,e:LOGEMU\n\
             [log1]\ngroup={group}\n[e]\nfile=\"{file}\"\nsync={sync}\n"
        )
    };
    let out = format!("{}/out.log", d.display());
    let cases = [
        ("g1.conf", base("-1", "1", "stdout", &out), ":5: option 'group' of [log1]: must be between 0 and 65535"),
        ("g2.conf", base("99999999999", "1", "stdout", &out), ":5: option 'group' of [log1]: must be between 0 and 65535"),
        ("c1.conf", base("7#comment", "1", "stdout", &out), "not \"7#comment\" (a comment needs a blank before '#': `7 #comment`)"),
        ("c2.conf", base("7", "1# no space", "stdout", &out), ":8: \"1#\" is taken as the value: a comment needs a blank before '#' (write `sync=1 # no space`)"),
        ("d1.conf", base("7", "1", "stdout", "/nonexistent-nc/sub/out.log"), ":7: [e] (LOGEMU) file /nonexistent-nc/sub/out.log: directory /nonexistent-nc/sub does not exist"),
        ("d2.conf", base("7", "1", "/nonexistent-nc/dir/ulogd.log", &out), ":2: logfile /nonexistent-nc/dir/ulogd.log: directory /nonexistent-nc/dir does not exist"),
    ];
    for (name, body, want) in cases {
        let c = write(&d, name, &body);
        let o = ulogd(&d, &["--check", "-c", &c]);
        let err = text(&o.stderr);
        if name.starts_with('d') {
            // A warning (the configuration may be meant for another machine).
            assert!(o.status.success(), "{name}: {err}");
            assert!(err.contains("ulogd: warning: "), "{name}: {err}");
            assert!(
                err.contains("(a run here would fail to open it)"),
                "{name}: {err}"
            );
        } else {
            assert!(!o.status.success(), "{name} passed --check");
        }
        assert!(err.contains(want), "{name}: want {want:?}\n{err}");
        assert_eq!(
            err.matches(&c).count(),
            1,
            "{name}: the location once: {err}"
        );
    }
    // The run says why the log file cannot be opened.
    let c = write(
        &d,
        "lf.conf",
        &base("7", "1", "/nonexistent-nc/dir/ulogd.log", &out),
    );
    let err = text(&ulogd(&d, &["-c", &c]).stderr);
    assert!(
        err.contains(
            "cannot open log file /nonexistent-nc/dir/ulogd.log: No such file or directory"
        ),
        "{err}"
    );
    // TOML: a boolean is not an integer.
    let c = write(
        &d,
        "b.toml",
        "[global]\nstack = [\"log1:NFLOG,b:BASE,s:IP2STR,j:JSON\"]\n[log1]\ngroup = true\n\
         [j]\nfile = \"/tmp/nc-b.json\"\nsync = true\n",
    );
    let o = ulogd(&d, &["--check", "-c", &c]);
    let err = text(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains(
            ":4: option 'group' of [log1] must be an integer (decimal or 0x hex), not \"true\""
        ),
        "{err}"
    );
    assert!(
        !err.contains("'sync'"),
        "a TOML boolean is a boolean: {err}"
    );
}

/// §7, the output side: records an output drops (queue full, `when_full=drop_newest`)
/// are reported at `loglevel=7` too, where every other notice and warning is hidden.
#[test]
fn output_drops_show_at_loglevel_7() {
    let d = tmpdir("drops7");
    let cap = d.join("burst.pcap");
    std::fs::write(&cap, raw_pcap(500, 0, 101)).unwrap();
    // A TCP peer that never answers: port 9 on loopback is closed, so every record
    // queues; a queue of 10 records drops the rest.
    let body = format!(
        "[global]\nlogfile=\"{d}/daemon.log\"\nloglevel=7\n\
         stack=r:REPLAY,b:BASE,s:IP2STR,j:JSON\n\
         [r]\nfile=\"{cap}\"\n[j]\nmode=tcp\nhost=127.0.0.1\nport=9\nqueue_max=10\nwhen_full=drop_newest\n",
        d = d.display(),
        cap = cap.display()
    );
    let c = write(&d, "drops.conf", &body);
    let o = ulogd(&d, &["-c", &c]);
    let log = std::fs::read_to_string(d.join("daemon.log")).unwrap_or_default();
    assert!(
        log.contains("record dropped (when_full=drop_newest)"),
        "no drop report at loglevel=7 (rc {:?}):\n{log}\n{}",
        o.status,
        text(&o.stderr)
    );
    assert!(
        log.contains("they are lost") || log.contains("dropped"),
        "{log}"
    );
}
