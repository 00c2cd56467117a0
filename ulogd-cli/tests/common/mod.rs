//! What the reliability suites share (`reliability.rs`, `reliability_sinks.rs`): a
//! namespace whose nftables rule logs UDP to an NFLOG group and counts it, the daemon
//! run as a child process, its final counters, python's check of JSON lines, and the
//! `offered / delivered / counted-lost / silently-lost` row every case prints.
#![allow(dead_code)] // each test binary uses a different part

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

// The same command helpers as the live-test harness.
pub use ulogd_core::testing::netns::{ok, run};

/// The cases run one at a time (each is a burst with timing; in parallel they would
/// measure each other).
pub static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub fn can_run(tools: &[&str]) -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let skip = |why: &str| {
        assert!(!ci, "CI=true and this test cannot run: {why}");
        println!("skip: {why}");
        false
    };
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return skip("needs root (network namespaces, nftables, tmpfs, -u)");
    }
    for t in tools {
        if !ok(&["sh", "-c", &format!("command -v {t}")]) {
            return skip(&format!("`{t}` is not installed"));
        }
    }
    true
}

pub static NEXT: AtomicU32 = AtomicU32::new(0);

/// A network namespace with lo up and an nft rule logging UDP to port 9999 to an
/// NFLOG group, with a counter; deleted on drop.
pub struct Ns {
    pub name: String,
    pub group: u16,
}

impl Ns {
    pub fn new() -> Ns {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let name = format!("ex-rel{}x{n}", std::process::id());
        let group = 3000 + (std::process::id() % 1000) as u16 * 4 + n as u16;
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(Stdio::null())
            .status();
        run(&["ip", "netns", "add", &name]);
        let ns = Ns { name, group };
        run(&["ip", "-n", &ns.name, "link", "set", "lo", "up"]);
        let rules = format!(
            "table inet ex {{\n chain out {{\n  type filter hook output priority 0;\n  \
             udp dport 9999 counter log group {}\n }}\n}}\n",
            ns.group
        );
        let mut c = Command::new("ip")
            .args(["netns", "exec", &ns.name, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(rules.as_bytes()).unwrap();
        assert!(c.wait().unwrap().success(), "nft rules:\n{rules}");
        ns
    }

    pub fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }

    /// Sends `n` datagrams at `rate` per second from inside the namespace.
    pub fn send(&self, n: usize, rate: usize) {
        let py = "import socket,sys,time\n\
                  n=int(sys.argv[1]); r=int(sys.argv[2])\n\
                  s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
                  t0=time.time()\n\
                  for i in range(n):\n\
                  \x20   s.sendto(b'x',('127.0.0.1',9999))\n\
                  \x20   if i%25==0:\n\
                  \x20       d=t0+i/r-time.time()\n\
                  \x20       d>0 and time.sleep(d)\n";
        run(&[
            "ip",
            "netns",
            "exec",
            &self.name,
            "python3",
            "-c",
            py,
            &n.to_string(),
            &rate.to_string(),
        ]);
    }

    /// The packets nftables logged (the rule's counter).
    pub fn offered(&self) -> u64 {
        let out = run(&[
            "ip", "netns", "exec", &self.name, "nft", "list", "chain", "inet", "ex", "out",
        ]);
        let i = out.find("counter packets ").expect("counter in the rule") + 16;
        out[i..].split_whitespace().next().unwrap().parse().unwrap()
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

pub fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ex-rel-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
}

impl Daemon {
    pub fn start(dir: &Path, conf: &str, args: &[&str]) -> Daemon {
        Daemon::start_with_mode(dir, conf, args, 0o644, &[])
    }

    /// As [`Daemon::start`], the configuration file with permissions `mode`, the
    /// daemon started through `wrap` (a command that ends by exec-ing its arguments,
    /// so the pid is the daemon's) unless it is empty.
    pub fn start_with_mode(
        dir: &Path,
        conf: &str,
        args: &[&str],
        mode: u32,
        wrap: &[&str],
    ) -> Daemon {
        use std::os::unix::fs::PermissionsExt;
        let log = dir.join("daemon.log");
        let conf = format!(
            "[global]\nlogfile=\"{}\"\nloglevel=1\nthreads=0\n{conf}",
            log.display()
        );
        let cpath = dir.join("u.conf");
        std::fs::write(&cpath, conf).unwrap();
        std::fs::set_permissions(&cpath, std::fs::Permissions::from_mode(mode)).unwrap();
        let mut cmd = match wrap.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(env!("CARGO_BIN_EXE_ulogd"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_ulogd")),
        };
        let child = cmd
            .arg("-c")
            .arg(&cpath)
            .args(args)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        // Give it time to bind its NFLOG group and connect.
        std::thread::sleep(Duration::from_millis(1500));
        Daemon { child, log }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, wait, return the daemon log.
    pub fn stop(mut self) -> String {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let st = self.child.wait().unwrap();
        let log = self.log_text();
        assert!(st.success(), "daemon exit {st}:\n{log}");
        log
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Counter `name` of instance `inst` in the final counters of a daemon log.
pub fn counter(log: &str, inst: &str, name: &str) -> u64 {
    let line = log
        .lines()
        .rfind(|l| l.contains(&format!("final counters: {inst} (")))
        .unwrap_or_else(|| panic!("no final counters of {inst}:\n{log}"));
    let key = format!(" {name}=");
    let i = line
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {line}"))
        + key.len();
    line[i..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Checks a JSON-lines file with python's json module: (whole lines, lines that do
/// not parse, distinct oob.seq.local values, whether the file ends in a newline).
pub fn json_lines(p: &Path) -> (u64, u64, u64, bool) {
    let py = "import json,sys\n\
              d=open(sys.argv[1],'rb').read()\n\
              good=bad=0; seqs=set()\n\
              for l in d.split(b'\\n'):\n\
              \x20   if not l: continue\n\
              \x20   try:\n\
              \x20       o=json.loads(l); good+=1; seqs.add(o.get('oob.seq.local'))\n\
              \x20   except Exception: bad+=1\n\
              print(good,bad,len(seqs),int(d.endswith(b'\\n') or not d))\n";
    let out = run(&["python3", "-c", py, p.to_str().unwrap()]);
    let v: Vec<u64> = out.split_whitespace().map(|x| x.parse().unwrap()).collect();
    (v[0], v[1], v[2], v[3] == 1)
}

pub fn table(case: &str, offered: u64, delivered: u64, counted: u64) -> u64 {
    let silent = offered as i64 - delivered as i64 - counted as i64;
    ulogd_core::testing::reliability_row(&format!(
        "| {case} | offered {offered} | delivered {delivered} | counted-lost {counted} | silently-lost {silent} |"
    ));
    assert_eq!(silent, 0, "{case}: records lost without being counted");
    silent as u64
}

pub fn nflog_section(ns: &Ns) -> String {
    format!(
        "[log1]\ngroup={}\nseq_local=1\nnetwork_namespace_path=\"{}\"\n\
         netlink_socket_buffer_size=1048576\n",
        ns.group,
        ns.path()
    )
}
