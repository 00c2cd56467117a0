//! PGSQL without `pass`: the password from `PGPASSWORD`, else from the password file
//! `PGPASSFILE` names (libpq's order). Its own test binary, because it sets the
//! process environment.

mod common;

use common::*;

#[test]
fn pgsql_password_from_pgpassword_then_pgpassfile() {
    let Some(pg) = PgDb::create() else { return };
    pg.q("create table t (orig_raw_pktlen bigint)");
    let section = format!(
        "[pgenv]\ndb=\"{}\"\nhost=\"127.0.0.1\"\nuser=\"ulogd\"\ntable=\"t\"\nprocedure=\"INSERT\"\nreconnect=0\n",
        pg.name
    );
    let run = || {
        let reg = registry(&flows4());
        ulogd_core::testing::run(&reg, "src:SRC,pgenv:PGSQL", &section, 0)
            .unwrap()
            .get("pgenv", "rows")
    };
    // The only test of this binary: no other thread reads the environment.
    std::env::set_var("PGPASSWORD", PG_PASS);
    assert_eq!(run(), Some(4), "PGPASSWORD");
    std::env::remove_var("PGPASSWORD");
    let d = tmpdir();
    let f = d.join("pgpass");
    std::fs::write(&f, format!("127.0.0.1:5432:*:ulogd:{PG_PASS}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::env::set_var("PGPASSFILE", &f);
    assert_eq!(run(), Some(4), "PGPASSFILE");
    std::env::remove_var("PGPASSFILE");
    // Neither: the server refuses, the rows are counted.
    std::env::set_var("PGPASSFILE", d.join("none"));
    assert_eq!(run(), Some(0), "no password anywhere");
    assert_eq!(pg.q("select count(*) from t"), "8\n");
}

fn flows4() -> Vec<Flow> {
    (0..4).map(|i| Flow::tcp(i, 100 + i as u64)).collect()
}
