//! The `ulogd` binary: `--check` on real ulogd2 configurations, error messages that
//! name file, line and key, `-i`, `--list-plugins` and `--help`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ulogd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ulogd"))
        .args(args)
        .output()
        .expect("run ulogd")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn configs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ulogd-core/tests/fixtures/configs")
}

fn registered() -> Vec<String> {
    let o = ulogd(&["--list-plugins"]);
    assert!(o.status.success());
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// Plugin names a config's stack= lines use.
fn plugins_of(conf: &str) -> Vec<String> {
    conf.lines()
        .filter_map(|l| l.trim().strip_prefix("stack="))
        .flat_map(|s| {
            s.split(',')
                .filter_map(|e| e.split(':').nth(1).map(|p| p.trim().to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn tmp(name: &str, body: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ulogd-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

#[test]
fn real_configs_pass_check_once_their_plugins_exist() {
    let have = registered();
    let mut checked = 0;
    for entry in std::fs::read_dir(configs_dir()).unwrap() {
        let p = entry.unwrap().path();
        if !matches!(p.extension().and_then(|e| e.to_str()), Some("conf")) {
            continue;
        }
        let body = std::fs::read_to_string(&p).unwrap();
        let missing: Vec<String> = plugins_of(&body)
            .into_iter()
            .filter(|x| !have.contains(x))
            .collect();
        if !missing.is_empty() {
            println!("skip {}: plugins not built yet: {missing:?}", p.display());
            continue;
        }
        let o = ulogd(&["--check", "-c", p.to_str().unwrap()]);
        assert!(o.status.success(), "{}: {}", p.display(), text(&o));
        assert!(text(&o).contains("configuration OK"), "{}", text(&o));
        checked += 1;
    }
    assert!(checked >= 1, "the golden configuration must be checkable");
}

#[test]
fn golden_config_in_ini_and_toml_builds_five_stacks() {
    for f in ["golden-basic.conf", "golden-basic.toml"] {
        let p = configs_dir().join(f);
        let o = ulogd(&["--check", "-c", p.to_str().unwrap()]);
        let t = text(&o);
        assert!(o.status.success(), "{f}: {t}");
        assert_eq!(
            t.lines()
                .filter(|l| l.trim_start().starts_with("stack "))
                .count(),
            5,
            "{t}"
        );
    }
}

#[test]
fn errors_name_file_line_and_key() {
    let p = tmp(
        "bad.conf",
        "[global]\nloglevel=5\nstack=log1:NFLOG,base1:BASE,j1:JSNO\nstack=log2:NFLOG,emu1:LOGEMU\n\n[log2]\ngrup=3\n",
    );
    let o = ulogd(&["--check", "-c", p.to_str().unwrap()]);
    let t = text(&o);
    assert!(!o.status.success());
    let f = p.display().to_string();
    assert!(t.contains(&format!("{f}:3: stack 'log1:NFLOG,base1:BASE,j1:JSNO': unknown plugin 'JSNO' (did you mean JSON?)")), "{t}");
    assert!(
        t.contains(&format!(
            "{f}:7: unknown option 'grup' in [log2] for plugin NFLOG (did you mean 'group'?)"
        )),
        "{t}"
    );
    // PRINTPKT needs IFINDEX and IP2STR before it, as in ulogd2.
    let p = tmp(
        "needy.conf",
        "[global]\nstack=log1:NFLOG,base1:BASE,p1:PRINTPKT,emu1:LOGEMU\n[log1]\n[emu1]\n",
    );
    let t = text(&ulogd(&["--check", "-c", p.to_str().unwrap()]));
    assert!(t.contains(":2: stack 'log1:NFLOG,base1:BASE,p1:PRINTPKT,emu1:LOGEMU': p1 (PRINTPKT) needs key 'oob.in'"), "{t}");
    // A typo in [global].
    let p = tmp(
        "glob.conf",
        "[global]\nlogfle=\"x\"\nstack=log1:NFLOG,emu1:LOGEMU\n",
    );
    let t = text(&ulogd(&["--check", "-c", p.to_str().unwrap()]));
    assert!(
        t.contains(":2: unknown option 'logfle' in [global] (did you mean 'logfile'?)"),
        "{t}"
    );
    // A syntax error and an unreadable file.
    let p = tmp("syntax.conf", "[global\nstack=a:B\n");
    let o = ulogd(&["--check", "-c", p.to_str().unwrap()]);
    assert!(
        !o.status.success() && text(&o).contains(":1:"),
        "{}",
        text(&o)
    );
    let o = ulogd(&["--check", "-c", "/nonexistent/ulogd.conf"]);
    assert!(
        !o.status.success() && text(&o).contains("/nonexistent/ulogd.conf"),
        "{}",
        text(&o)
    );
}

#[test]
fn info_lists_options_and_keys() {
    let o = ulogd(&[
        "-i",
        "/usr/lib/x86_64-linux-gnu/ulogd/ulogd_inppkt_NFLOG.so",
    ]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("Name: NFLOG"), "{t}");
    assert!(t.contains("group") && t.contains("default \"0\""), "{t}");
    assert!(t.contains("oob.prefix") && t.contains("string"), "{t}");
    let o = ulogd(&["-i", "NOPE"]);
    assert!(!o.status.success());
}

#[test]
fn help_teaches() {
    let t = text(&ulogd(&["--help"]));
    for want in [
        "--configfile",
        "--check",
        "--list-plugins",
        "SIGHUP",
        "SIGUSR1",
        "stack=",
        "log group 0",
    ] {
        assert!(t.contains(want), "--help lacks {want}: {t}");
    }
}

#[test]
fn embedded_default_and_examples_pass_check() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for p in [
        root.join("src/default.conf"),
        root.join("../examples/replay-json.conf"),
    ] {
        let o = ulogd(&["--check", "-c", p.to_str().unwrap()]);
        assert!(o.status.success(), "{}: {}", p.display(), text(&o));
    }
}

#[test]
fn replay_example_runs_without_root_from_the_repository_root() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let o = Command::new(env!("CARGO_BIN_EXE_ulogd"))
        .args(["-c", "examples/replay-json.conf"])
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let json: Vec<&str> = out.lines().filter(|l| l.starts_with('{')).collect();
    assert_eq!(json.len(), 20, "{out}");
    assert!(
        json[0].contains("\"oob.prefix\": \"IN-ICMP \""),
        "{}",
        json[0]
    );
}

#[test]
fn a_bad_option_value_is_reported_once_at_its_own_line() {
    let p = tmp(
        "range.conf",
        "[global]\nstack=log1:NFLOG,base1:BASE,j1:JSON\n\n[log1]\ngroup=70000\n\n[j1]\nfile=\"/dev/null\"\n",
    );
    let o = ulogd(&["--check", "-c", p.to_str().unwrap()]);
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    let f = p.display().to_string();
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(
        lines,
        [
            format!("ulogd: {f}:5: option 'group' of [log1]: must be between 0 and 65535").as_str(),
            "ulogd: 1 problem(s) found; nothing started",
        ],
        "{t}"
    );
}
