//! What a newcomer trips over (issue 17): an instance id with no section, duplicate and
//! unused sections, a silent start, a closed stdout, control bytes echoed to the
//! terminal, `--check` stopping at the first syntax error. Each test runs the real
//! binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn ulogd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ulogd"))
        .args(args)
        .output()
        .expect("run ulogd")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nc-newcomer-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(dir: &Path, name: &str, body: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.display().to_string()
}

fn pcap() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ulogd-netfilter/tests/fixtures/golden-basic/nflog.pcap")
}

/// The review's base.conf with `emu1:LOGEMU` renamed `emu2:LOGEMU` in the stack only.
const TYPO: &str = "[global]\n\
    stack=log1:NFLOG,base1:BASE,ifi1:IFINDEX,ip2str1:IP2STR,print1:PRINTPKT,emu2:LOGEMU\n\
    [log1]\ngroup=0\n\
    [emu1]\nfile=\"/tmp/nc-never-written.log\"\nsync=1\n";

#[test]
fn instance_id_typo_is_refused_with_file_line_and_did_you_mean() {
    let d = tmpdir("typo");
    let c = write(&d, "typo-id.conf", TYPO.as_bytes());
    let o = ulogd(&["--check", "-c", &c]);
    let err = stderr(&o);
    assert!(!o.status.success(), "accepted: {}", stdout(&o));
    assert!(
        err.contains(&format!("{c}:2:")),
        "no file:line of the stack line: {err}"
    );
    assert!(
        err.contains("'emu2' (LOGEMU) has no [emu2] section"),
        "{err}"
    );
    assert!(err.contains("did you mean [emu1]?"), "{err}");
    // The same file without --check starts nothing and writes nothing.
    let o = ulogd(&["-c", &c]);
    assert!(!o.status.success());
    assert!(!Path::new("/tmp/nc-never-written.log").exists());
}

#[test]
fn missing_section_for_a_plugin_without_options_is_fine() {
    // BASE, IFINDEX, IP2STR and PRINTPKT have no options: ulogd2 needs no section for
    // them either. LOGEMU has options and a section.
    let d = tmpdir("nooptions");
    let body = TYPO.replace("emu2:LOGEMU", "emu1:LOGEMU");
    let c = write(&d, "ok.conf", body.as_bytes());
    let o = ulogd(&["--check", "-c", &c]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("source log1 (NFLOG): group=0"), "{out}");
    assert!(
        out.contains("output emu1 (LOGEMU): file=/tmp/nc-never-written.log"),
        "{out}"
    );
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
}

#[test]
fn duplicate_section_is_an_error_and_unused_section_a_warning() {
    let d = tmpdir("dup");
    let body = "[global]\nstack=log1:NFLOG,emu1:LOGEMU\n\
        [log1]\ngroup=0\n[emu1]\nfile=\"/tmp/nc-x.log\"\n[log1]\ngroup=8\n";
    let c = write(&d, "dup.conf", body.as_bytes());
    let o = ulogd(&["--check", "-c", &c]);
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(
        err.contains(&format!(
            "{c}:7: section [log1] is defined twice (first at line 3)"
        )),
        "{err}"
    );

    let body = "[global]\nstack=log1:NFLOG,base1:BASE,j1:JSON\n\
        [log1]\ngroup=0\n[j1]\nfile=\"/tmp/nc-x.log\"\n[json9]\nfile=\"/tmp/nc-y.json\"\n";
    let c = write(&d, "unused.conf", body.as_bytes());
    let o = ulogd(&["--check", "-c", &c]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!(
            "ulogd: warning: {c}:7: section [json9] is not used by any stack"
        )),
        "{}",
        stderr(&o)
    );
}

#[test]
fn start_says_which_config_and_where_each_output_goes() {
    let d = tmpdir("start");
    let out = d.join("out.json");
    let body = format!(
        "[global]\nlogfile=\"{d}/daemon.log\"\n\
         stack=r:REPLAY,b:BASE,s:IP2STR,j:JSON\n\
         [r]\nfile=\"{p}\"\n[j]\nfile=\"{o}\"\n[unused1]\nx=1\n",
        d = d.display(),
        p = pcap().display(),
        o = out.display()
    );
    let c = write(&d, "start.conf", body.as_bytes());
    let o = ulogd(&["-c", &c]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    let log = std::fs::read_to_string(d.join("daemon.log")).unwrap();
    for want in [
        format!("using configuration file {c}"),
        format!("source r (REPLAY): file={}", pcap().display()),
        format!("output j (JSON): mode=file file={}", out.display()),
        format!("warning: {c}: 1 section(s) not used by any stack: [unused1] (line 8)"),
    ] {
        assert!(err.contains(&want), "stderr lacks {want:?}: {err}");
        // At notice level (5), the default loglevel.
        assert!(
            log.lines().any(|l| l.contains("<5>") && l.contains(&want)),
            "daemon log lacks {want:?} at <5>: {log}"
        );
    }
    assert!(std::fs::metadata(&out).unwrap().len() > 0);
}

/// Runs `ulogd args` with a stdout pipe whose reader is already gone, so the first
/// write fails with EPIPE every time (what `| head -1` does, without the race).
fn closed_stdout(args: &[&str]) -> Output {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0; 2];
    // SAFETY: pipe writes two fresh descriptors into the array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both descriptors were just created and are owned here only.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    Command::new(env!("CARGO_BIN_EXE_ulogd"))
        .args(args)
        .stdout(Stdio::from(write))
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

#[test]
fn closed_stdout_does_not_panic() {
    for args in [&["-i", "REPLAY"][..], &["--list-plugins"][..]] {
        let o = closed_stdout(args);
        let err = stderr(&o);
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{args:?}: {err}"
        );
        assert!(err.is_empty(), "{args:?}: {err}");
    }
}

#[test]
fn control_bytes_from_the_config_are_escaped() {
    let d = tmpdir("esc");
    let c = write(&d, "esc.conf", b"\x1b[2J\x1b[31mRED\n");
    let o = ulogd(&["--check", "-c", &c]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(!err.contains('\x1b'), "raw ESC echoed: {err:?}");
    assert!(err.contains("\\x1b[2J\\x1b[31mRED"), "{err}");
}

#[test]
fn check_reports_every_syntax_error() {
    let d = tmpdir("multi");
    let c = write(
        &d,
        "multi.conf",
        b"[global]\nstack=a:NFLOG,b:LOGEMU extra\n[bad\n= nokey\n[b]\n",
    );
    let o = ulogd(&["--check", "-c", &c]);
    assert!(!o.status.success());
    let err = stderr(&o);
    for line in [2, 3, 4] {
        assert!(err.contains(&format!("{c}:{line}:")), "line {line}: {err}");
    }
    assert!(err.contains("3 syntax errors"), "{err}");
}

#[test]
fn many_unused_sections_make_one_short_start_line() {
    // Debian's sample ulogd.conf prepares ~25 sections for commented-out stacks.
    let d = tmpdir("many");
    let mut body = format!(
        "[global]\nlogfile=\"{d}/daemon.log\"\nstack=r:REPLAY,b:BASE,s:IP2STR,j:JSON\n\
         [r]\nfile=\"{p}\"\n[j]\nfile=\"{d}/out.json\"\n",
        d = d.display(),
        p = pcap().display()
    );
    for i in 1..=7 {
        body.push_str(&format!("[spare{i}]\n"));
    }
    let c = write(&d, "many.conf", body.as_bytes());
    let o = ulogd(&["-c", &c]);
    assert!(o.status.success(), "{}", stderr(&o));
    let warn: Vec<String> = stderr(&o)
        .lines()
        .filter(|l| l.contains("not used by any stack"))
        .map(str::to_string)
        .collect();
    assert_eq!(warn.len(), 1, "{warn:?}");
    assert!(
        warn[0].contains("7 section(s) not used by any stack: [spare1] (line 8)")
            && warn[0].contains("[spare5] (line 12) and 2 more (`ulogd --check` lists them)")
            && !warn[0].contains("[spare6]"),
        "{}",
        warn[0]
    );
    // --check lists every one.
    let o = ulogd(&["--check", "-c", &c]);
    assert_eq!(
        stderr(&o)
            .lines()
            .filter(|l| l.contains("is not used by any stack"))
            .count(),
        7,
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_missing_section_is_reported_once_per_id() {
    let d = tmpdir("once");
    let body = "[global]\nstack=r:REPLAY,b:BASE,m1:FLOW\nstack=m1:FLOW,j:JSON\n\
        [r]\nfile=\"x.pcap\"\n[j]\n";
    let c = write(&d, "once.conf", body.as_bytes());
    let o = ulogd(&["--check", "-c", &c]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert_eq!(err.matches("has no [m1] section").count(), 1, "{err}");
    assert!(
        err.contains(&format!("{c}:2: stack 'r:REPLAY,b:BASE,m1:FLOW'")),
        "{err}"
    );
}

/// Two outputs given one `spool_dir` would replay and delete each other's records:
/// refused by `--check` (and at start and reload), naming both instances and lines;
/// the same directory given to one instance used by two stacks is fine.
#[test]
fn two_outputs_sharing_a_spool_dir_are_refused() {
    let d = tmpdir("spooldir");
    let sp = d.join("spool");
    let out = |id: &str, dir: &Path| {
        format!(
            "[{id}]\nmode=tcp\nhost=127.0.0.1\nport=9\nwhen_full=spool\nspool_dir=\"{}\"\n",
            dir.display()
        )
    };
    let head =
        "[global]\nstack=log1:NFLOG,base1:BASE,j1:JSON\nstack=log2:NFLOG,base2:BASE,j2:JSON\n\
        [log1]\ngroup=1\n[log2]\ngroup=2\n[base1]\n[base2]\n";
    let body = format!("{head}{}{}", out("j1", &sp), out("j2", &sp.join("")));
    let c = write(&d, "shared.conf", body.as_bytes());
    let o = ulogd(&["--check", "-c", &c]);
    let err = stderr(&o);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "{c}:21: [j2] spool_dir \"{}/\" is already the spool_dir of [j1] (line 15)",
            sp.display()
        )),
        "{err}"
    );

    let body = format!("{head}{}{}", out("j1", &sp), out("j2", &d.join("spool2")));
    let c = write(&d, "own.conf", body.as_bytes());
    let o = ulogd(&["--check", "-c", &c]);
    assert!(o.status.success(), "{}", stderr(&o));

    // One instance in two stacks: one output, one spool.
    let body = format!(
        "[global]\nstack=log1:NFLOG,base1:BASE,j1:JSON\nstack=log2:NFLOG,base2:BASE,j1:JSON\n\
         [log1]\ngroup=1\n[log2]\ngroup=2\n[base1]\n[base2]\n{}",
        out("j1", &sp)
    );
    let c = write(&d, "one.conf", body.as_bytes());
    let o = ulogd(&["--check", "-c", &c]);
    assert!(o.status.success(), "{}", stderr(&o));
    let _ = std::fs::remove_dir_all(&d);
}
