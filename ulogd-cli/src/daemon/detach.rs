//! `-d`: running in the background, with an exit status that means something.
//!
//! `daemon(3)` forks and the parent exits 0 at once, so a daemon that dies a moment
//! later (pid file locked, unknown `-u` user, an output that cannot be opened) looks
//! like a success to an init script or a `Type=forking` unit, and the reason reaches
//! only the daemon log. Instead the parent waits on a pipe: the child finishes the
//! whole start-up (pid file, every source and output open, privileges dropped) with
//! the terminal still on its standard error, then says "ready" and lets go of the
//! terminal. If the child exits first, the parent exits with the child's status;
//! the child has already printed its reason on the same standard error.
//!
//! The working directory is kept (ulogd2's `daemon(0, 0)` changes to `/`): the
//! daemon log was opened relative to it before the fork, and outputs and SIGHUP
//! reopens must resolve relative paths against the same directory, not some against
//! the start directory and some against `/`.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// The detached child's side of the start-up pipe.
pub struct Detached {
    ready: Option<File>,
}

/// Forks; the parent waits for the child to call [`Detached::ready`] (then exits 0)
/// or to exit (then exits with its status). Must run before any thread is started:
/// the engine's workers and the signal thread start later.
pub fn detach() -> Result<Detached, String> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array we own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!(
            "cannot daemonize (pipe): {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: no thread exists yet (see above), so the child is a full copy.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!(
            "cannot daemonize (fork): {}",
            std::io::Error::last_os_error()
        ));
    }
    if pid > 0 {
        drop(wr);
        parent(File::from(rd), pid);
    }
    drop(rd);
    // SAFETY: setsid has no preconditions; the child is not a process group leader.
    if unsafe { libc::setsid() } < 0 {
        return Err(format!(
            "cannot daemonize (setsid): {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(Detached {
        ready: Some(File::from(wr)),
    })
}

/// The parent: waits for "ready" or the child's end, never returns.
fn parent(mut rd: File, child: libc::pid_t) -> ! {
    let mut b = [0u8; 1];
    let got = loop {
        match rd.read(&mut b) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => break r.unwrap_or(0),
        }
    };
    if got == 1 && b[0] == b'R' {
        // SAFETY: _exit ends the process without running the child's destructors
        // (the engine, the log) in the parent's copy.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    // SAFETY: waits for our own child.
    let r = unsafe { libc::waitpid(child, &mut status, 0) };
    let code = if r != child {
        eprintln!("ulogd: the daemon ended during start-up");
        1
    } else if libc::WIFEXITED(status) {
        match libc::WEXITSTATUS(status) {
            0 => {
                eprintln!("ulogd: the daemon ended during start-up");
                1
            }
            c => c,
        }
    } else if libc::WIFSIGNALED(status) {
        eprintln!(
            "ulogd: the daemon was killed by signal {} during start-up",
            libc::WTERMSIG(status)
        );
        1
    } else {
        1
    };
    let _ = std::io::stderr().flush();
    // SAFETY: as above.
    unsafe { libc::_exit(code) }
}

impl Detached {
    /// Start-up is done: lets go of the terminal (standard input, output and error
    /// become `/dev/null`, as with `daemon(3)`) and tells the parent to exit 0.
    pub fn ready(mut self) {
        if let Ok(null) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
        {
            let _ = std::io::stdout().flush();
            let _ = std::io::stderr().flush();
            for fd in 0..=2 {
                // SAFETY: dup2 onto the standard descriptors; `null` stays open until
                // the end of this block.
                unsafe { libc::dup2(null.as_raw_fd(), fd) };
            }
        }
        if let Some(mut w) = self.ready.take() {
            let _ = w.write_all(b"R");
        }
    }
}
