//! The files in `contrib/` work with the real tools: `systemd-analyze verify`
//! accepts the unit, and logrotate driven by `contrib/ulogd.logrotate` rotates a
//! running daemon's output without losing a line (its postrotate SIGHUP makes
//! ulogd reopen the file).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn contrib(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../contrib")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A missing tool skips with a reason, and fails under CI=true.
fn need(cmd: &str, package: &str) -> bool {
    if have(cmd) {
        return true;
    }
    let why = format!("{cmd} missing (Debian package {package}, .ci/install-deps)");
    assert!(std::env::var("CI").map_or(true, |v| v != "true"), "{why}");
    println!("skip: {why}");
    false
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("op-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn unit_is_type_notify_hardened_and_passes_systemd_analyze_verify() {
    let unit = contrib("ulogd.service");
    for line in [
        "Type=notify",
        "CapabilityBoundingSet=CAP_NET_ADMIN CAP_SETUID CAP_SETGID",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/log/ulogd",
        "NoNewPrivileges=yes",
        "ExecStart=/usr/sbin/ulogd ",
    ] {
        assert!(
            unit.lines().any(|l| l.starts_with(line)),
            "unit lacks {line}"
        );
    }
    if !need("systemd-analyze", "systemd") {
        return;
    }
    // verify checks that ExecStart's binary exists and that the Documentation=
    // pages are installed: point it at the binary under test and drop the man
    // references (the Debian package installs those; not this test machine).
    let dir = tmpdir("unit");
    let unit: String = unit
        .replace("/usr/sbin/ulogd", env!("CARGO_BIN_EXE_ulogd"))
        .lines()
        .filter(|l| !l.starts_with("Documentation="))
        .map(|l| format!("{l}\n"))
        .collect();
    let path = dir.join("ulogd.service");
    std::fs::write(&path, unit).unwrap();
    let o = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "systemd-analyze verify: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn logrotate_rotates_a_running_daemon_without_losing_a_line() {
    if !need("logrotate", "logrotate") {
        return;
    }
    let dir = tmpdir("logrotate");
    let out = dir.join("out.json");
    let pidfile = dir.join("ulogd.pid");
    let pcap = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ulogd-netfilter/tests/fixtures/golden-basic/nflog.pcap");
    let conf = format!(
        "[global]\nlogfile=\"{d}/daemon.log\"\nloglevel=3\n\
         stack=r:REPLAY,b:BASE,s:IP2STR,j:JSON\n\
         [r]\nfile=\"{pcap}\"\nloop=1\nspeed=50\n[j]\nfile=\"{out}\"\nsync=1\n",
        d = dir.display(),
        pcap = pcap.display(),
        out = out.display()
    );
    let cpath = dir.join("u.conf");
    std::fs::write(&cpath, conf).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ulogd"))
        .arg("-c")
        .arg(&cpath)
        .arg("-p")
        .arg(&pidfile)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    // The shipped rules, with the test's directory for /var/log/ulogd and /run/ulogd.
    let rules = contrib("ulogd.logrotate")
        .replace("/var/log/ulogd", &dir.display().to_string())
        .replace("/run/ulogd/ulogd.pid", &pidfile.display().to_string());
    let lr = dir.join("logrotate.conf");
    std::fs::write(&lr, rules).unwrap();
    let o = Command::new("logrotate")
        .arg("-f")
        .arg("-s")
        .arg(dir.join("state"))
        .arg(&lr)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "logrotate: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    std::thread::sleep(Duration::from_millis(800));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());

    let rotated = dir.join("out.json.1");
    let count = |p: &Path| {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .count()
    };
    let (old, new) = (count(&rotated), count(&out));
    assert!(
        old > 0,
        "the rotated file out.json.1 holds the lines before"
    );
    assert!(new > 0, "after SIGHUP the daemon writes to a new out.json");
    let log = std::fs::read_to_string(dir.join("daemon.log")).unwrap();
    assert!(log.contains("reopening"), "{log}");
    // Every event JSON consumed is a line in one of the two files.
    let fin = log
        .lines()
        .rfind(|l| l.contains("final counters: j (JSON):"))
        .unwrap_or_else(|| panic!("no final counters: {log}"));
    let ok: usize = fin
        .split_whitespace()
        .find_map(|w| w.strip_prefix("ok="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no ok= in {fin}"));
    assert_eq!(
        old + new,
        ok,
        "lines in out.json.1 + out.json = JSON's ok counter"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The shipped /etc/ulogd.conf passes `--check` as it is, and with every example
/// stack it keeps commented out switched on.
#[test]
fn shipped_config_and_its_examples_pass_check() {
    let conf = contrib("ulogd.conf");
    let dir = tmpdir("conf");
    let all: String = conf
        .lines()
        .map(|l| {
            l.strip_prefix('#')
                .filter(|s| s.starts_with("stack="))
                .unwrap_or(l)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let stacks = all.lines().filter(|l| l.starts_with("stack=")).count();
    assert!(stacks >= 5, "{stacks} stacks");
    for (name, text) in [("ulogd.conf", conf), ("all.conf", all)] {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_ulogd"))
            .args(["--check", "-c"])
            .arg(&p)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
