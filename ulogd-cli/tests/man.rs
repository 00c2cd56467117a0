//! `ulogd --man DIR` writes ulogd.8 and ulogd.conf.5; `man -l` (man-db with groff)
//! renders both without a warning, ulogd.8 documents every flag `--help` shows, and
//! ulogd.conf.5 every plugin `--list-plugins` shows with every option `-i` shows.

use std::path::Path;
use std::process::Command;

fn ulogd(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_ulogd"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "ulogd {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// The page as man renders it, asserting groff printed no warning.
fn render(page: &Path) -> String {
    let o = Command::new("man")
        .args(["--warnings", "--nh", "--nj", "-l"])
        .arg(page)
        .env("MANWIDTH", "200")
        .env("MANPAGER", "cat")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success() && err.trim().is_empty(),
        "man -l {}: {err}",
        page.display()
    );
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn man_pages_render_and_document_every_flag_plugin_and_option() {
    let have_man = Command::new("sh")
        .args(["-c", "command -v man && command -v groff"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_man {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "man/groff missing (Debian man-db, groff-base)"
        );
        println!("skip: man or groff missing");
        return;
    }
    let dir = std::env::temp_dir().join(format!("op-man-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    ulogd(&["--man", dir.to_str().unwrap()]);
    let eight = render(&dir.join("ulogd.8"));
    let five = render(&dir.join("ulogd.conf.5"));

    let help = ulogd(&["--help"]);
    let flags: Vec<&str> = help
        .split_whitespace()
        .filter(|w| w.starts_with("--"))
        .map(|w| w.trim_end_matches([',', '.', ')']))
        .filter(|w| w.len() > 2)
        .collect();
    assert!(flags.len() >= 10, "{flags:?}");
    for f in flags {
        assert!(eight.contains(f), "ulogd.8 lacks {f}");
    }
    assert!(eight.contains("ulogd.conf(5)"));

    let mut options = 0;
    for line in ulogd(&["--list-plugins"]).lines() {
        let name = line.split_whitespace().next().unwrap();
        let kind = line.split_whitespace().nth(1).unwrap();
        assert!(
            five.contains(&format!("{name} ({kind})")),
            "ulogd.conf.5 lacks plugin {name}"
        );
        let info = ulogd(&["-i", name]);
        let opts = info
            .split("Options:")
            .nth(1)
            .unwrap_or("")
            .split("Input keys")
            .next()
            .unwrap()
            .split("Output keys")
            .next()
            .unwrap();
        for o in opts.lines().filter(|l| l.starts_with('\t')) {
            let opt = o.split_whitespace().next().unwrap();
            options += 1;
            assert!(
                five.contains(opt),
                "ulogd.conf.5 lacks option {opt} of {name}"
            );
        }
    }
    assert!(options > 50, "only {options} plugin options seen");
    for key in ["metrics_listen", "keyspool", "stack="] {
        assert!(five.contains(key), "ulogd.conf.5 lacks {key}");
    }
    println!(
        "ulogd.8: {} lines, ulogd.conf.5: {} lines, {options} plugin options",
        eight.lines().count(),
        five.lines().count()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
