//! Dropping root once every source is open (`-u USER`).

use std::ffi::CString;

/// Switches to `user`'s uid, primary group and supplementary groups.
pub fn drop_privileges(user: &str) -> Result<(), String> {
    let name = CString::new(user).map_err(|_| format!("bad user name {user:?}"))?;
    // SAFETY: getpwnam returns a pointer to static storage or NULL; we copy the fields
    // we need before any other call that may overwrite it.
    let (uid, gid) = unsafe {
        let pw = libc::getpwnam(name.as_ptr());
        if pw.is_null() {
            return Err(format!("unknown user '{user}' (-u)"));
        }
        ((*pw).pw_uid, (*pw).pw_gid)
    };
    // SAFETY: plain syscalls with values from the password database.
    unsafe {
        if libc::setgid(gid) != 0 {
            return Err(format!(
                "setgid({gid}): {}",
                std::io::Error::last_os_error()
            ));
        }
        if libc::initgroups(name.as_ptr(), gid) != 0 {
            return Err(format!(
                "initgroups({user}): {}",
                std::io::Error::last_os_error()
            ));
        }
        if libc::setuid(uid) != 0 {
            return Err(format!(
                "setuid({uid}): {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}
