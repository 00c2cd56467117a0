//! The live-test harness (feature `netns`, for dev-dependencies): tests against the
//! real kernel in network namespaces of their own.
//!
//! - [`require`] says whether the test can run here (root, and the tools it needs);
//!   otherwise it prints why and the test returns, except under CI (`CI=true`),
//!   where a live test that cannot run FAILS instead of skipping silently.
//! - [`Netns`] creates namespaces with unique names (prefix, pid, counter) and
//!   deletes them, and kills the helper processes it was given, on drop, also when
//!   the test panics. Nothing touches the host's interfaces.
//! - [`run`], [`ok`], [`run_in`], [`run_stdin`] run the tools (`ip`, `nft`,
//!   `conntrack`, ...).
//!
//! ```no_run
//! use ulogd_core::testing::netns::{require, run_in, Netns};
//! if !require("needs ip", &[&["ip", "-V"]]) {
//!     return;
//! }
//! let ns = Netns::create("doc", 1);
//! run_in(ns.name(0), &["ip", "link", "set", "lo", "up"]);
//! ```

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// Runs a command; whether it exited 0 (its output is discarded).
pub fn ok(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs a command that must succeed (panics with its stderr otherwise); its stdout.
pub fn run(args: &[&str]) -> String {
    let o = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// [`run`] inside network namespace `ns` (`ip netns exec ns ...`).
pub fn run_in(ns: &str, args: &[&str]) -> String {
    let mut v = vec!["ip", "netns", "exec", ns];
    v.extend_from_slice(args);
    run(&v)
}

/// [`ok`] inside network namespace `ns`.
pub fn ok_in(ns: &str, args: &[&str]) -> bool {
    let mut v = vec!["ip", "netns", "exec", ns];
    v.extend_from_slice(args);
    ok(&v)
}

/// Runs a command with `input` on its stdin (e.g. `nft -f -`); it must succeed.
pub fn run_stdin(args: &[&str], input: &str) {
    let mut c = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    if let Some(mut i) = c.stdin.take() {
        i.write_all(input.as_bytes())
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    }
    let st = c.wait().unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(st.success(), "{args:?} failed with input:\n{input}");
}

/// Loads an nftables ruleset into namespace `ns`.
pub fn nft(ns: &str, rules: &str) {
    run_stdin(&["ip", "netns", "exec", ns, "nft", "-f", "-"], rules);
}

/// Whether this process runs as root (effective uid 0), from `/proc/self/status`.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Whether the environment says this is CI (`CI=true` or `CI=1`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Why a live test cannot run here (not root, or one of `tools` — each a command
/// line that must succeed, like `["nft", "--version"]` — failing), or `None`.
pub fn missing(tools: &[&[&str]]) -> Option<String> {
    if !is_root() {
        return Some("needs root for network namespaces".into());
    }
    tools
        .iter()
        .find(|t| !ok(t))
        .map(|t| format!("`{}` does not run (bash .ci/install-deps)", t.join(" ")))
}

/// Call first in a live test: `true` when it can run. Otherwise prints
/// `skip: <why> (<what>)` and returns `false` — or, under CI, panics: there a
/// test that cannot run is a failure, not a skip.
pub fn require(what: &str, tools: &[&[&str]]) -> bool {
    let Some(why) = missing(tools) else {
        return true;
    };
    if in_ci() {
        panic!("live test cannot run under CI: {why} ({what})");
    }
    println!("skip: {why} ({what})");
    false
}

/// Skips (or, under CI, fails) for a reason found during the test, like a kernel
/// without a feature. Returns nothing: the caller returns right after.
pub fn skip(why: &str) {
    if in_ci() {
        panic!("live test cannot run under CI: {why}");
    }
    println!("skip: {why}");
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Network namespaces of one test, and the helper processes running in them: on
/// drop the processes are killed (by their own handle) and the namespaces deleted.
#[derive(Debug, Default)]
pub struct Netns {
    names: Vec<String>,
    /// Helper processes to kill on drop (servers, `conntrack -E` ...).
    pub children: Vec<Child>,
}

impl Netns {
    /// Creates `count` namespaces named `{prefix}{pid}x{n}`, unique within the
    /// machine for this process (keep `prefix` short: names show in `ip netns`).
    pub fn create(prefix: &str, count: usize) -> Netns {
        let mut ns = Netns::default();
        for _ in 0..count {
            let n = NEXT.fetch_add(1, Ordering::SeqCst);
            let name = format!("{prefix}{}x{n}", std::process::id());
            // Pushed first, so a failed `add` is still cleaned up.
            ns.names.push(name.clone());
            run(&["ip", "netns", "add", &name]);
            run(&["ip", "-n", &name, "link", "set", "lo", "up"]);
        }
        ns
    }

    /// Name of namespace `i`.
    pub fn name(&self, i: usize) -> &str {
        &self.names[i]
    }

    /// Every name, in creation order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// `/var/run/netns/<name>`: what `network_namespace_path` takes.
    pub fn path(&self, i: usize) -> String {
        format!("/var/run/netns/{}", self.names[i])
    }

    /// Hands a helper process over, to be killed on drop.
    pub fn adopt(&mut self, child: Child) {
        self.children.push(child);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in &self.names {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_names_the_tool() {
        if !is_root() {
            assert!(missing(&[]).unwrap().contains("root"));
            return;
        }
        assert_eq!(missing(&[&["true"]]), None);
        let m = missing(&[&["true"], &["false", "x"]]).unwrap();
        assert!(m.contains("`false x`"), "{m}");
    }

    #[test]
    fn run_returns_stdout_and_ok_reports_status() {
        assert_eq!(run(&["echo", "hi"]), "hi\n");
        assert!(ok(&["true"]));
        assert!(!ok(&["false"]));
        assert!(!ok(&["/nonexistent/tool"]));
    }
}
