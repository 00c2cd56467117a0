//! The daemon's signals end to end: SIGHUP after a logrotate-style rename reopens the
//! output without losing a line, SIGUSR1 writes every instance's counters to the daemon
//! log, SIGTERM flushes and exits 0 (removing the pid file).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn capture() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ulogd-netfilter/tests/fixtures/golden-basic/nflog.pcap")
        .display()
        .to_string()
}

fn kill(pid: u32, sig: libc::c_int) {
    // SAFETY: sending a signal to our own child.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, sig) }, 0);
}

fn lines(p: &Path) -> usize {
    std::fs::read_to_string(p)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

#[test]
fn hup_reopens_usr1_reports_term_flushes() {
    let dir = std::env::temp_dir().join(format!("ulogd-signals-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("out.json");
    let conf = format!(
        "[global]\nlogfile=\"{d}/daemon.log\"\nloglevel=3\n\
         stack=r:REPLAY,b:BASE,s:IP2STR,j:JSON\n\
         [r]\nfile=\"{pcap}\"\nloop=1\nspeed=50\n\
         [j]\nfile=\"{out}\"\nsync=0\n",
        d = dir.display(),
        pcap = capture(),
        out = out.display()
    );
    let cpath = dir.join("u.conf");
    std::fs::write(&cpath, conf).unwrap();
    let pidfile = dir.join("ulogd.pid");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ulogd"))
        .arg("-c")
        .arg(&cpath)
        .arg("-p")
        .arg(&pidfile)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap().trim(),
        pid.to_string()
    );
    // logrotate: rename, then SIGHUP.
    let rotated = dir.join("out.json.1");
    std::fs::rename(&out, &rotated).unwrap();
    kill(pid, libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(800));
    kill(pid, libc::SIGUSR1);
    std::thread::sleep(Duration::from_millis(300));
    kill(pid, libc::SIGTERM);
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
    assert!(!pidfile.exists(), "pid file removed on exit");

    let log = std::fs::read_to_string(dir.join("daemon.log")).unwrap();
    assert!(log.contains("counters: r (REPLAY): events="), "{log}");
    assert!(log.contains("counters: j (JSON): in="), "{log}");
    // The final counters say how many events JSON took; every one is a line in one of
    // the two files: nothing lost across the rename and the reopen.
    let fin = log
        .lines()
        .rfind(|l| l.contains("final counters: j (JSON):"))
        .unwrap_or_else(|| panic!("no final counters: {log}"));
    let ok: usize = fin
        .split_whitespace()
        .find_map(|w| w.strip_prefix("ok="))
        .and_then(|v| v.parse().ok())
        .unwrap();
    let (before, after) = (lines(&rotated), lines(&out));
    assert!(
        before > 0 && after > 0,
        "both files have lines: {before} / {after}"
    );
    assert_eq!(before + after, ok, "{fin}");
    let _ = std::fs::remove_dir_all(&dir);
}
