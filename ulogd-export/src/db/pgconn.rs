//! How PGSQL reaches the server the way libpq (and so ulogd2) does: connection
//! strings (`key=value` or URL), `sslmode` (TLS through native-tls), the password from
//! `pass`, `PGPASSWORD` or the password file (`~/.pgpass`, `PGPASSFILE`, `passfile=`),
//! and the server's own words in every error.
//!
//! The postgres crate parses most of a connection string itself but knows neither
//! `sslmode=verify-ca|verify-full`, `sslrootcert` nor password files; those are taken
//! out here and done by hand, so a connection string copied from a libpq program
//! works unchanged. Nothing here ever prints the password.

use std::path::{Path, PathBuf};
use std::time::Duration;

use postgres::config::{Host, SslMode};
use postgres::{Client, Config};
use postgres_native_tls::MakeTlsConnector;

/// TLS as libpq's `sslmode` asks for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tls {
    /// `disable`: plain text only.
    Disable,
    /// `allow` / `prefer` (libpq's default): TLS when the server offers it, without
    /// checking its certificate.
    Prefer,
    /// `require`: TLS or nothing, certificate not checked.
    Require,
    /// `verify-ca`: TLS with a certificate signed by a trusted CA (`sslrootcert`).
    VerifyCa,
    /// `verify-full`: as `verify-ca`, and the certificate names the host.
    VerifyFull,
}

impl Tls {
    fn parse(v: &str) -> Result<Tls, String> {
        Ok(match v {
            "disable" => Tls::Disable,
            "allow" | "prefer" => Tls::Prefer,
            "require" => Tls::Require,
            "verify-ca" => Tls::VerifyCa,
            "verify-full" => Tls::VerifyFull,
            _ => {
                return Err(format!(
                "sslmode '{v}' is not one of disable, allow, prefer, require, verify-ca, verify-full"
            ))
            }
        })
    }
}

/// Everything needed to (re)connect.
pub(crate) struct Target {
    pub(crate) config: Config,
    tls: MakeTlsConnector,
    /// `database D on H (port P)`, for messages (never the password).
    pub(crate) describe: String,
}

impl Target {
    /// Connects once (bounded by `connect_timeout`).
    pub(crate) fn connect(&self) -> Result<Client, postgres::Error> {
        self.config.connect(self.tls.clone())
    }
}

/// The options PGSQL's connection is made from.
pub(crate) struct Params<'a> {
    pub(crate) connstring: &'a str,
    pub(crate) host: &'a str,
    pub(crate) port: u16,
    pub(crate) user: &'a str,
    pub(crate) pass: &'a str,
    pub(crate) db: &'a str,
    pub(crate) connect_timeout: Duration,
    pub(crate) schema: &'a str,
}

/// Splits a libpq `key=value` connection string (values may be single-quoted;
/// backslash escapes a quote or a backslash).
pub fn parse_conninfo(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut it = s.chars().peekable();
    loop {
        while it.peek().is_some_and(|c| c.is_whitespace()) {
            it.next();
        }
        if it.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(&c) = it.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            it.next();
        }
        while it.peek().is_some_and(|c| c.is_whitespace()) {
            it.next();
        }
        if it.next() != Some('=') {
            return Err(format!("missing \"=\" after \"{key}\""));
        }
        while it.peek().is_some_and(|c| c.is_whitespace()) {
            it.next();
        }
        let mut val = String::new();
        if it.peek() == Some(&'\'') {
            it.next();
            loop {
                match it.next() {
                    None => return Err(format!("unterminated quoted value of \"{key}\"")),
                    Some('\'') => break,
                    Some('\\') => match it.next() {
                        Some(c) => val.push(c),
                        None => return Err(format!("unterminated quoted value of \"{key}\"")),
                    },
                    Some(c) => val.push(c),
                }
            }
        } else {
            while let Some(&c) = it.peek() {
                if c.is_whitespace() {
                    break;
                }
                it.next();
                if c == '\\' {
                    if let Some(n) = it.next() {
                        val.push(n);
                    }
                } else {
                    val.push(c);
                }
            }
        }
        out.push((key, val));
    }
}

fn quote_conninfo(v: &str) -> String {
    let mut s = String::with_capacity(v.len() + 2);
    s.push('\'');
    for c in v.chars() {
        if c == '\'' || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('\'');
    s
}

/// The part of a connection string the postgres crate does not do: taken out.
#[derive(Default)]
struct Extra {
    sslmode: Option<String>,
    sslrootcert: Option<String>,
    passfile: Option<String>,
}

/// Parses `connstring` into a [`Config`], keeping back what is done by hand.
fn parse_connstring(s: &str) -> Result<(Config, Extra), String> {
    let mut extra = Extra::default();
    let cleaned = if let Some(rest) = s
        .strip_prefix("postgresql://")
        .map(|r| ("postgresql://", r))
        .or_else(|| s.strip_prefix("postgres://").map(|r| ("postgres://", r)))
    {
        let (scheme, rest) = rest;
        match rest.split_once('?') {
            None => s.to_string(),
            Some((head, query)) => {
                let mut kept = Vec::new();
                for pair in query.split('&') {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    match k {
                        "sslmode" => extra.sslmode = Some(v.to_string()),
                        "sslrootcert" => extra.sslrootcert = Some(v.to_string()),
                        "passfile" => extra.passfile = Some(v.to_string()),
                        _ => kept.push(pair),
                    }
                }
                if kept.is_empty() {
                    format!("{scheme}{head}")
                } else {
                    format!("{scheme}{head}?{}", kept.join("&"))
                }
            }
        }
    } else {
        let mut kept = Vec::new();
        for (k, v) in parse_conninfo(s)? {
            match k.as_str() {
                "sslmode" => extra.sslmode = Some(v),
                "sslrootcert" => extra.sslrootcert = Some(v),
                "passfile" => extra.passfile = Some(v),
                _ => kept.push(format!("{k}={}", quote_conninfo(&v))),
            }
        }
        kept.join(" ")
    };
    let cfg = cleaned
        .parse::<Config>()
        .map_err(|e| format!("not a PostgreSQL connection string: {}", reason(&e)))?;
    Ok((cfg, extra))
}

/// The user libpq would use when none is given: `PGUSER`, else the effective user.
fn default_user() -> Option<String> {
    if let Ok(u) = std::env::var("PGUSER") {
        if !u.is_empty() {
            return Some(u);
        }
    }
    // SAFETY: getpwuid returns a pointer into static storage or NULL; it is read
    // at once, on this thread, before any other getpw* call.
    unsafe {
        let pw = libc::getpwuid(libc::geteuid());
        if pw.is_null() || (*pw).pw_name.is_null() {
            return None;
        }
        std::ffi::CStr::from_ptr((*pw).pw_name)
            .to_str()
            .ok()
            .map(str::to_string)
    }
}

fn home_dir() -> Option<PathBuf> {
    if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        return Some(PathBuf::from(h));
    }
    // SAFETY: as in default_user.
    unsafe {
        let pw = libc::getpwuid(libc::geteuid());
        if pw.is_null() || (*pw).pw_dir.is_null() {
            return None;
        }
        std::ffi::CStr::from_ptr((*pw).pw_dir)
            .to_str()
            .ok()
            .map(PathBuf::from)
    }
}

/// Splits one password-file line on unescaped `:` (libpq: `\:` and `\\`).
fn pgpass_fields(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut it = line.chars();
    while let Some(c) = it.next() {
        match c {
            '\\' => {
                if let Some(n) = it.next() {
                    out.last_mut().expect("non-empty").push(n);
                }
            }
            ':' => out.push(String::new()),
            c => out.last_mut().expect("non-empty").push(c),
        }
    }
    out
}

/// The password for (host, port, db, user) in a libpq password file's text.
pub fn pgpass_lookup(text: &str, host: &str, port: u16, db: &str, user: &str) -> Option<String> {
    let port = port.to_string();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let f = pgpass_fields(line);
        if f.len() < 5 {
            continue;
        }
        let m = |field: &str, v: &str| field == "*" || field == v;
        if m(&f[0], host) && m(&f[1], &port) && m(&f[2], db) && m(&f[3], user) {
            // A password containing ':' was split: join the rest back.
            return Some(f[4..].join(":"));
        }
    }
    None
}

/// Reads the password file libpq would read, honouring its permission rule.
fn pgpass_password(path: &Path, host: &str, port: u16, db: &str, user: &str) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    if meta.permissions().mode() & 0o077 != 0 {
        log::warn!(
            "PGSQL: password file {} has group or world access; permissions should be u=rw (0600) or less: not used (as libpq)",
            path.display()
        );
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    pgpass_lookup(&text, host, port, db, user)
}

/// Builds the connection target from PGSQL's options.
pub(crate) fn target(p: &Params<'_>) -> Result<Target, String> {
    let (mut cfg, extra) = if p.connstring.is_empty() {
        let mut c = Config::new();
        c.host(if p.host.is_empty() {
            "/var/run/postgresql"
        } else {
            p.host
        });
        if p.port != 0 {
            c.port(p.port);
        }
        if !p.user.is_empty() {
            c.user(p.user);
        }
        if !p.pass.is_empty() {
            c.password(p.pass);
        }
        c.dbname(p.db);
        (c, Extra::default())
    } else {
        parse_connstring(p.connstring)?
    };
    if cfg.get_hosts().is_empty() {
        cfg.host("/var/run/postgresql");
    }
    if cfg.get_user().is_none() {
        match default_user() {
            Some(u) => {
                cfg.user(&u);
            }
            None => return Err("no user given, and the effective user has no name".into()),
        }
    }
    let user = cfg.get_user().unwrap_or_default().to_string();
    if cfg.get_dbname().is_none() {
        cfg.dbname(&user);
    }
    let host = match cfg.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        // libpq matches `localhost` in the password file for socket connections.
        Some(Host::Unix(_)) | None => "localhost".to_string(),
    };
    let port = cfg.get_ports().first().copied().unwrap_or(5432);
    let db = cfg.get_dbname().unwrap_or_default().to_string();
    if cfg.get_password().is_none() {
        if let Some(pw) = std::env::var("PGPASSWORD").ok().filter(|s| !s.is_empty()) {
            cfg.password(pw);
        } else {
            let file = extra
                .passfile
                .clone()
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("PGPASSFILE").map(PathBuf::from))
                .or_else(|| home_dir().map(|h| h.join(".pgpass")));
            if let Some(pw) = file.and_then(|f| pgpass_password(&f, &host, port, &db, &user)) {
                cfg.password(pw);
            }
        }
    }
    if !p.connect_timeout.is_zero() && cfg.get_connect_timeout().is_none() {
        cfg.connect_timeout(p.connect_timeout);
    }
    if cfg.get_application_name().is_none() {
        cfg.application_name("ulogd");
    }
    // Functions named by `procedure` are found in `schema` first, as the table is.
    if !p.schema.is_empty()
        && p.schema != "public"
        && cfg.get_options().is_none()
        && p.schema
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        cfg.options(&format!("-c search_path={},public", p.schema));
    }
    let tls = Tls::parse(extra.sslmode.as_deref().unwrap_or("prefer"))?;
    cfg.ssl_mode(match tls {
        Tls::Disable => SslMode::Disable,
        Tls::Prefer => SslMode::Prefer,
        _ => SslMode::Require,
    });
    let mut b = native_tls::TlsConnector::builder();
    match tls {
        Tls::Disable | Tls::Prefer | Tls::Require => {
            b.danger_accept_invalid_certs(true);
            b.danger_accept_invalid_hostnames(true);
        }
        Tls::VerifyCa => {
            b.danger_accept_invalid_hostnames(true);
        }
        Tls::VerifyFull => {}
    }
    if let Some(root) = &extra.sslrootcert {
        let pem = std::fs::read(root).map_err(|e| format!("sslrootcert {root}: {e}"))?;
        let cert = native_tls::Certificate::from_pem(&pem)
            .map_err(|e| format!("sslrootcert {root}: not a PEM certificate: {e}"))?;
        b.add_root_certificate(cert);
    }
    let connector = b.build().map_err(|e| format!("cannot set up TLS: {e}"))?;
    let describe = format!(
        "database {db} on {} as {user}",
        cfg.get_hosts()
            .iter()
            .zip(cfg.get_ports().iter().chain(std::iter::repeat(&5432)))
            .map(|(h, port)| match h {
                Host::Tcp(s) => format!("{s}:{port}"),
                Host::Unix(p) => format!("{} (port {port})", p.display()),
            })
            .collect::<Vec<_>>()
            .join(",")
    );
    Ok(Target {
        config: cfg,
        tls: MakeTlsConnector::new(connector),
        describe,
    })
}

/// The server's (or the system's) own words for an error: the SQLSTATE severity,
/// message, detail and hint of a server error, else every cause in the chain
/// (`error connecting to server: Connection refused (os error 111)`).
pub(crate) fn reason(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!(
            "{}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        );
        if let Some(d) = db.detail() {
            s.push_str("; DETAIL: ");
            s.push_str(d);
        }
        if let Some(h) = db.hint() {
            s.push_str("; HINT: ");
            s.push_str(h);
        }
        return s;
    }
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conninfo_quotes_and_escapes() {
        let v = parse_conninfo("host=h  dbname = 'my db' password='it\\'s' user=a\\ b").unwrap();
        assert_eq!(
            v,
            [
                ("host".into(), "h".into()),
                ("dbname".into(), "my db".into()),
                ("password".into(), "it's".into()),
                ("user".into(), "a b".into()),
            ]
        );
        assert!(parse_conninfo("host").is_err());
        assert!(parse_conninfo("host='x").is_err());
    }

    #[test]
    fn sslmode_and_rootcert_taken_out() {
        let (cfg, extra) =
            parse_connstring("host=127.0.0.1 dbname=d user=u sslmode=verify-full sslrootcert=/x")
                .unwrap();
        assert_eq!(extra.sslmode.as_deref(), Some("verify-full"));
        assert_eq!(extra.sslrootcert.as_deref(), Some("/x"));
        assert_eq!(cfg.get_dbname(), Some("d"));
        let (cfg, extra) =
            parse_connstring("postgresql://u@127.0.0.1:5433/d?sslmode=require&application_name=x")
                .unwrap();
        assert_eq!(extra.sslmode.as_deref(), Some("require"));
        assert_eq!(cfg.get_ports(), [5433]);
        assert_eq!(cfg.get_application_name(), Some("x"));
        assert!(Tls::parse("verify-mostly").is_err());
    }

    #[test]
    fn pgpass_rules() {
        let text = "# comment\n\
                    otherhost:*:*:*:nope\n\
                    127.0.0.1:5432:ulogd:ulogd:pa\\:ss\n\
                    *:*:*:ulogd:fallback\n";
        assert_eq!(
            pgpass_lookup(text, "127.0.0.1", 5432, "ulogd", "ulogd").as_deref(),
            Some("pa:ss")
        );
        assert_eq!(
            pgpass_lookup(text, "127.0.0.1", 5433, "ulogd", "ulogd").as_deref(),
            Some("fallback")
        );
        assert_eq!(pgpass_lookup(text, "127.0.0.1", 5432, "ulogd", "x"), None);
    }
}
