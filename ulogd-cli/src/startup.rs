//! What the daemon says at start, at the default log level: which configuration is in
//! use, what each source listens on and where each output goes. A newcomer who has
//! ulogd2's `/etc/ulogd.conf` on the machine, or whose lines land in a default path,
//! learns it from the first lines instead of from an empty terminal.

use ulogd_core::config::ConfigFile;
use ulogd_core::global::StackSpec;
use ulogd_core::Registry;

/// Options that say where a source listens or an output writes, in the order shown.
const WHERE_KEYS: &[&str] = &[
    "mode",
    "group",
    "queue_num",
    "nlgroup",
    "file",
    "directory",
    "socket_path",
    "socket",
    "dest",
    "host",
    "port",
    "db",
    "table",
];

/// One line per stack element that has a "where" option: `log1 (NFLOG): group=0`.
/// Values come from the instance's section, else the plugin's default.
pub fn instance_lines(reg: &Registry, cfg: &ConfigFile, stacks: &[StackSpec]) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for st in stacks {
        let last = st.elems.len().saturating_sub(1);
        for (pos, el) in st.elems.iter().enumerate() {
            if (pos != 0 && pos != last) || seen.contains(&el.id.as_str()) {
                continue;
            }
            seen.push(&el.id);
            let Some(spec) = reg.get(&el.plugin) else {
                continue;
            };
            let section = cfg.section(&el.id);
            let mut parts = Vec::new();
            for key in WHERE_KEYS {
                let Some(def) = spec.options.iter().find(|o| o.name == *key) else {
                    continue;
                };
                let value = section
                    .and_then(|s| s.get(key))
                    .map(|e| e.value.clone())
                    .unwrap_or_else(|| def.default.to_string());
                if value.is_empty() {
                    continue;
                }
                // JSON and friends: `file=` matters only in file mode, the address
                // only in the others.
                if let Some(mode) = parts.iter().find(|p: &&String| p.starts_with("mode=")) {
                    let file_mode = mode.eq_ignore_ascii_case("mode=file");
                    let is_file_key = *key == "file";
                    let is_addr_key = matches!(*key, "host" | "port" | "socket_path");
                    if (file_mode && is_addr_key) || (!file_mode && is_file_key) {
                        continue;
                    }
                }
                parts.push(format!("{key}={value}"));
            }
            let role = if pos == 0 { "source" } else { "output" };
            let what = if parts.is_empty() {
                String::new()
            } else {
                format!(": {}", parts.join(" "))
            };
            out.push(format!("{role} {} ({}){what}", el.id, spec.name));
        }
    }
    out
}

/// Warnings for sections no stack uses (ulogd2 ignores them silently; they are
/// usually the other half of an instance-id typo).
pub fn unused_section_warnings(cfg: &ConfigFile, stacks: &[StackSpec]) -> Vec<String> {
    let used: Vec<&str> = stacks
        .iter()
        .flat_map(|s| s.elems.iter().map(|e| e.id.as_str()))
        .collect();
    cfg.unused_sections(&used)
        .into_iter()
        .map(|s| {
            format!(
                "{}:{}: section [{}] is not used by any stack",
                cfg.origin.display(),
                s.line,
                ulogd_core::config::escape_control(&s.name)
            )
        })
        .collect()
}

/// The same as one line, for the start: a sample configuration such as Debian's
/// `ulogd.conf` prepares a section for every commented-out stack, and forty warnings at
/// every start would bury the lines that matter. `--check` lists them one per line.
pub fn unused_section_summary(cfg: &ConfigFile, stacks: &[StackSpec]) -> Option<String> {
    let used: Vec<&str> = stacks
        .iter()
        .flat_map(|s| s.elems.iter().map(|e| e.id.as_str()))
        .collect();
    let unused = cfg.unused_sections(&used);
    if unused.is_empty() {
        return None;
    }
    let names: Vec<String> = unused
        .iter()
        .map(|s| {
            format!(
                "[{}] (line {})",
                ulogd_core::config::escape_control(&s.name),
                s.line
            )
        })
        .collect();
    const SHOWN: usize = 5;
    let more = if names.len() > SHOWN {
        format!(
            " and {} more (`ulogd --check` lists them)",
            names.len() - SHOWN
        )
    } else {
        String::new()
    };
    Some(format!(
        "{}: {} section(s) not used by any stack: {}{more}",
        cfg.origin.display(),
        unused.len(),
        names[..names.len().min(SHOWN)].join(", ")
    ))
}

/// `--check` problems it can see without opening anything: an output file (`file=` of
/// a stack's last element, in file mode) or the daemon log in a directory that does
/// not exist. The run would fail on them at start; `--check` said "OK" before.
pub fn missing_directories(
    reg: &Registry,
    cfg: &ConfigFile,
    stacks: &[StackSpec],
    logfile: &ulogd_core::LogTarget,
) -> Vec<String> {
    use std::path::Path;
    let origin = cfg.origin.display();
    let missing = |p: &str| {
        let dir = match Path::new(p).parent() {
            Some(d) if d.as_os_str().is_empty() => Path::new("."),
            Some(d) => d,
            None => return None,
        };
        (!dir.is_dir()).then(|| dir.display().to_string())
    };
    let mut out = Vec::new();
    if let ulogd_core::LogTarget::File(p) = logfile {
        let line = cfg
            .section("global")
            .and_then(|s| s.get("logfile"))
            .map_or(0, |e| e.line);
        if let Some(dir) = missing(&p.to_string_lossy()) {
            out.push(format!(
                "{origin}:{line}: logfile {}: directory {dir} does not exist",
                p.display()
            ));
        }
    }
    let mut seen: Vec<&str> = Vec::new();
    for st in stacks {
        let Some(el) = st.elems.last().filter(|_| st.elems.len() > 1) else {
            continue;
        };
        if seen.contains(&el.id.as_str()) {
            continue;
        }
        seen.push(&el.id);
        let Some(spec) = reg.get(&el.plugin) else {
            continue;
        };
        if !spec.options.iter().any(|o| o.name == "file") {
            continue;
        }
        let section = cfg.section(&el.id);
        let opt = |k: &str| section.and_then(|s| s.get(k));
        if let Some(mode) = spec.options.iter().find(|o| o.name == "mode") {
            let m = opt("mode").map_or(mode.default.to_string(), |e| e.value.clone());
            if !m.eq_ignore_ascii_case("file") {
                continue;
            }
        }
        let default = spec
            .options
            .iter()
            .find(|o| o.name == "file")
            .map_or("", |o| o.default);
        let (value, line) = opt("file").map_or((default.to_string(), st.line), |e| {
            (e.value.clone(), e.line)
        });
        if value.is_empty() || value == "-" || value == "stdout" || value.starts_with("/dev/") {
            continue;
        }
        if let Some(dir) = missing(&value) {
            out.push(format!(
                "{origin}:{line}: [{}] ({}) file {value}: directory {dir} does not exist",
                ulogd_core::config::escape_control(&el.id),
                spec.name
            ));
        }
    }
    out
}

/// A start-up error with the configuration's file and line in front, as the
/// configuration errors have: the instance's `[section]`, else the first stack
/// naming it.
pub fn locate(cfg: &ConfigFile, stacks: &[StackSpec], e: &ulogd_core::EngineError) -> String {
    let ulogd_core::EngineError::Start { id, .. } = e else {
        return e.to_string();
    };
    let line = cfg.section(id).map(|s| s.line).or_else(|| {
        stacks
            .iter()
            .find(|st| st.elems.iter().any(|el| &el.id == id))
            .map(|st| st.line)
    });
    match line {
        Some(l) => format!("{}:{l}: {e}", cfg.origin.display()),
        None => e.to_string(),
    }
}
