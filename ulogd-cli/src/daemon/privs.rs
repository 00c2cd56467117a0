//! Dropping root once every source is open (`-u USER`).
//!
//! No source needs a capability after its socket is open (NFLOG, NFCT, NFQUEUE,
//! NFACCT, IFINDEX bind and subscribe at start; verdicts and dumps go through the
//! already-open sockets), so the drop leaves nothing: `setuid` from root to a non-zero
//! uid empties the permitted, effective and ambient sets of every thread (glibc
//! applies it to all of them), the inheritable set is emptied with `capset`, and
//! `PR_SET_NO_NEW_PRIVS` keeps a later `exec` (a Python module, say) from gaining any
//! back through a setuid or file-capability binary. The result is checked, not
//! assumed: a capability left in any set is a start error.

use std::ffi::CString;

/// Sets the process's file-creation mask (`[global] umask`, default 027), so the
/// daemon log and every output file is created without access for other users
/// whatever mask the daemon inherited.
pub fn set_umask(mask: u32) {
    // SAFETY: umask has no preconditions and cannot fail.
    unsafe { libc::umask(mask as libc::mode_t) };
}

/// `user`'s uid and primary gid from the password database.
pub fn lookup_user(user: &str) -> Result<(u32, u32), String> {
    let name = CString::new(user).map_err(|_| format!("bad user name {user:?}"))?;
    // SAFETY: getpwnam returns a pointer to static storage or NULL; the two fields
    // are copied before anything else can overwrite it.
    unsafe {
        let pw = libc::getpwnam(name.as_ptr());
        if pw.is_null() {
            return Err(format!("unknown user '{user}' (-u)"));
        }
        Ok(((*pw).pw_uid, (*pw).pw_gid))
    }
}

/// Checks that `user` exists before anything is opened, so `-u nosuchuser` fails at
/// once with the reason on standard error (ulogd2: "Unknown user"), not after every
/// source is bound.
pub fn user_exists(user: &str) -> Result<(), String> {
    let name = CString::new(user).map_err(|_| format!("bad user name {user:?} (-u)"))?;
    // SAFETY: getpwnam returns a pointer to static storage or NULL; only the null
    // check is made.
    if unsafe { libc::getpwnam(name.as_ptr()) }.is_null() {
        return Err(format!("unknown user '{user}' (-u)"));
    }
    Ok(())
}

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
    clear_capabilities()?;
    let left = capabilities_left();
    if !left.is_empty() {
        return Err(format!(
            "capabilities left after dropping privileges to '{user}': {}",
            left.join(", ")
        ));
    }
    Ok(())
}

/// `struct __user_cap_header_struct` of `<linux/capability.h>`.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

/// `struct __user_cap_data_struct`; version 3 takes two of them (64 capabilities).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Empties the calling thread's capability sets (the inheritable set survives
/// `setuid`) and the ambient set, and sets `PR_SET_NO_NEW_PRIVS`.
fn clear_capabilities() -> Result<(), String> {
    let mut hdr = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [CapData::default(); 2];
    // SAFETY: capset reads a valid header and two data structs (version 3).
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) };
    if r != 0 {
        return Err(format!(
            "capset (clearing capabilities): {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: prctl with integer arguments only.
    unsafe {
        // EINVAL on kernels before 4.3 (no ambient set): nothing to clear then.
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        );
    }
    no_new_privs()
}

/// Before any thread exists (with `-u`): empties the inheritable and ambient sets
/// while keeping the permitted and effective ones the sources need to open, and
/// sets `PR_SET_NO_NEW_PRIVS`. All three are per thread and inherited by threads
/// created later; `setuid` empties permitted/effective/ambient in every thread but
/// not the inheritable set, which a service manager may have filled
/// (`AmbientCapabilities=` fills both), so it has to be empty before the first
/// thread is spawned.
pub fn prepare_drop() -> Result<(), String> {
    let mut hdr = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget writes two data structs (version 3) for a valid header.
    let r = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut hdr as *mut CapHeader,
            data.as_mut_ptr(),
        )
    };
    if r != 0 {
        return Err(format!("capget: {}", std::io::Error::last_os_error()));
    }
    for d in &mut data {
        d.inheritable = 0;
    }
    // SAFETY: capset reads a valid header and two data structs (version 3).
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) };
    if r != 0 {
        return Err(format!(
            "capset (clearing the inheritable set): {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: prctl with integer arguments only (EINVAL before Linux 4.3: no ambient set).
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    no_new_privs()
}

/// `PR_SET_NO_NEW_PRIVS` is per thread and inherited by threads created later.
fn no_new_privs() -> Result<(), String> {
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(format!(
            "prctl(PR_SET_NO_NEW_PRIVS): {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// The non-empty capability sets of every thread of this process, as
/// `"<thread>: CapEff=..."` (read from /proc, the kernel's own account).
fn capabilities_left() -> Vec<String> {
    let mut left = Vec::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return left;
    };
    for t in tasks.flatten() {
        let Ok(status) = std::fs::read_to_string(t.path().join("status")) else {
            continue;
        };
        for line in status.lines() {
            for set in ["CapInh:", "CapPrm:", "CapEff:", "CapAmb:"] {
                if let Some(v) = line.strip_prefix(set) {
                    if u64::from_str_radix(v.trim(), 16) != Ok(0) {
                        left.push(format!(
                            "thread {}: {set}{}",
                            t.file_name().to_string_lossy(),
                            v.trim()
                        ));
                    }
                }
            }
        }
    }
    left
}
