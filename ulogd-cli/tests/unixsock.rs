//! UNIXSOCK end to end: ulogd2's own sample configuration (`run7-unixsock.conf`)
//! passes `--check`, and the frame ulogd2's sample client sends comes out of
//! UNIXSOCK,BASE,IP2STR,PRINTPKT,LOGEMU as the line ulogd2 2.0.8 printed (after the
//! timestamp and host name) and as JSON python's parser reads. A client sending
//! garbage is disconnected and counted while another client goes on; the socket has
//! its configured mode before anyone connects and is removed on exit.

use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ulogd-netfilter/tests/fixtures/unixsock")
}

fn kill(pid: u32, sig: libc::c_int) {
    // SAFETY: sending a signal to our own child.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, sig) }, 0);
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ok() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Drops ulogd2's LOGEMU prefix (`Mon DD HH:MM:SS host `), which depends on when and
/// where it ran.
fn after_host(line: &str) -> &str {
    let mut rest = line;
    for _ in 0..4 {
        rest = rest.trim_start();
        rest = rest.split_once(' ').map_or("", |x| x.1);
    }
    rest
}

#[test]
fn ulogd2_sample_config_passes_check() {
    let out = Command::new(env!("CARGO_BIN_EXE_ulogd"))
        .arg("--check")
        .arg("-c")
        .arg(fixtures().join("ulogd2-run7.conf"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "--check of ulogd2's run7-unixsock.conf failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sample_frame_prints_what_ulogd2_printed() {
    let dir = std::env::temp_dir().join(format!("ulogd-unixsock-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("ulogd2.sock");
    // A stale socket file from a crashed run must not stop the start.
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    assert!(sock.exists());
    // ulogd2's run7 stanzas, with the paths moved into the test's directory.
    let sample = std::fs::read_to_string(fixtures().join("ulogd2-run7.conf")).unwrap();
    let conf = sample
        .replace(
            "/var/log/ulog/run7/ulogd.log",
            &dir.join("daemon.log").display().to_string(),
        )
        .replace(
            "/var/log/ulog/run7/ulogd2.sock",
            &sock.display().to_string(),
        )
        .replace(
            "/var/log/ulog/run7/unixsock-emu.log",
            &dir.join("emu.log").display().to_string(),
        )
        .replace(
            "/var/log/ulog/run7/unixsock.json",
            &dir.join("out.json").display().to_string(),
        )
        .replace("loglevel=1", "loglevel=5")
        .replace("[us1]\n", "[us1]\nperms=0660\n");
    assert!(!conf.contains("/var/log"), "every path moved: {conf}");
    let cpath = dir.join("ulogd.conf");
    std::fs::write(&cpath, conf).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ulogd"))
        .arg("-c")
        .arg(&cpath)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    wait_for("the socket", || {
        std::fs::symlink_metadata(&sock)
            .is_ok_and(|m| m.file_type().is_socket() && m.permissions().mode() & 0o7777 == 0o660)
            && UnixStream::connect(&sock).is_ok()
    });

    // A client that sends garbage is disconnected...
    let mut bad = UnixStream::connect(&sock).unwrap();
    // ...while a second client, connected at the same time, is served.
    let mut good = UnixStream::connect(&sock).unwrap();
    bad.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    bad.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut b = [0u8; 16];
    assert_eq!(
        bad.read(&mut b).unwrap(),
        0,
        "the garbage client is disconnected"
    );
    let frame = std::fs::read(fixtures().join("sample-frame.bin")).unwrap();
    // In two writes, split inside the header: frames are reassembled from the stream.
    good.write_all(&frame[..5]).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    good.write_all(&frame[5..]).unwrap();
    // The same client goes on: a second frame on the same connection.
    good.write_all(&frame).unwrap();
    let emu = dir.join("emu.log");
    wait_for("two LOGEMU lines", || {
        std::fs::read_to_string(&emu).is_ok_and(|s| s.lines().count() >= 2)
    });
    drop(good);

    let ours = std::fs::read_to_string(&emu).unwrap();
    let theirs = std::fs::read_to_string(fixtures().join("ulogd2-logemu.log")).unwrap();
    let theirs = theirs.lines().next().unwrap();
    for line in ours.lines() {
        assert_eq!(
            after_host(line),
            after_host(theirs),
            "LOGEMU line as ulogd2 2.0.8's"
        );
    }
    let json = dir.join("out.json");
    wait_for("two JSON lines", || {
        std::fs::read_to_string(&json).is_ok_and(|s| s.lines().count() >= 2)
    });
    let check = Command::new("python3")
        .arg("-c")
        .arg(
            "import json,sys\n\
             for l in open(sys.argv[1]):\n\
             \x20   d=json.loads(l)\n\
             \x20   assert d['oob.prefix']=='unixsock-prefix', d\n\
             \x20   assert d['src_ip']=='10.0.0.1' and d['dest_ip']=='10.0.0.2', d\n\
             \x20   assert d['src_port']==5555 and d['dest_port']==53, d\n\
             \x20   assert d['oob.in']=='eth0' and d['nufw.user.name']=='alice', d\n\
             \x20   assert d['nufw.user.id']==1000 and d['nufw.app.name']=='firefox', d\n\
             \x20   assert d['raw.label']==1, d\n",
        )
        .arg(&json)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "python json check: {}\n{}",
        String::from_utf8_lossy(&check.stderr),
        std::fs::read_to_string(&json).unwrap()
    );

    kill(pid, libc::SIGUSR1);
    let log = dir.join("daemon.log");
    wait_for("the counters", || {
        std::fs::read_to_string(&log).is_ok_and(|s| s.contains("bad_frames"))
    });
    kill(pid, libc::SIGTERM);
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "ulogd exited {status}: {err}");
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.contains("bad frame marker"),
        "the garbage was logged: {log}"
    );
    let counters: Vec<&str> = log.lines().filter(|l| l.contains("bad_frames")).collect();
    assert!(
        counters
            .iter()
            .any(|l| l.contains("bad_frames=1") && l.contains("frames=2")),
        "one bad frame and two good ones counted: {counters:?}"
    );
    assert!(!sock.exists(), "the socket is removed on exit");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_path_that_is_not_a_socket_is_refused_by_name() {
    let dir = std::env::temp_dir().join(format!("ulogd-unixsock-file-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("not-a-socket");
    std::fs::write(&path, "precious").unwrap();
    let conf = format!(
        "[global]\nlogfile=\"stdout\"\nstack=us1:UNIXSOCK,base1:BASE,n:NULL\n\
         [us1]\nsocket_path=\"{}\"\n",
        path.display()
    );
    let cpath = dir.join("u.conf");
    std::fs::write(&cpath, conf).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ulogd"))
        .arg("-c")
        .arg(&cpath)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "start must fail: {text}");
    assert!(text.contains("is not a socket"), "{text}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
    let _ = std::fs::remove_dir_all(&dir);
}
