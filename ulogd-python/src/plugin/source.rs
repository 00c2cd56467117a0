//! PYTHON as a source: `configure(okeys)`, `start(spi)`, timers and fds driven by the
//! daemon's event loop, `propagate_results()` turning staged values into events.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyModule;
use ulogd_core::{
    BuildContext, Built, Emit, Flow, KeyDef, PluginError, Signal, Source, SourceSetup, Wake,
};

use crate::bridge::{Current, Req, SrcCtx, Staged};
use crate::host::{self as interp, checked, signo, ErrorLog};
use crate::pyapi::module::{key_defs, make_module, Fd, Keylist, SourcePluginstance, Timer};
use crate::value::KeyMeta;

/// Timers a source may arm after `start()` (each `Timer` object takes one slot).
const SPARE_TIMERS: usize = 16;
/// How far away an unused timer slot is parked.
const DORMANT: Duration = Duration::from_secs(86_400);

enum Slot {
    Unused,
    Spare,
    Timer(Py<Timer>, bool),
}

struct PySource {
    id: String,
    modname: String,
    ctx: Arc<SrcCtx>,
    _module: Py<PyModule>,
    cb_start: Py<PyAny>,
    cb_stop: Py<PyAny>,
    cb_signal: Py<PyAny>,
    nout: usize,
    timers: Vec<Slot>,
    fds: Vec<Option<Py<Fd>>>,
    readable: Vec<usize>,
    started: bool,
    finished: bool,
    errors: ErrorLog,
    events: AtomicU64,
}

pub(crate) fn build(ctx: &BuildContext<'_>) -> Result<Built, PluginError> {
    interp::ensure_init(make_module)?;
    let o = ctx.options;
    let modname = o.str("module").to_string();
    Python::attach(|py| {
        let module = interp::load_module(py, ctx.id, &modname, o.str("path_append"), o)?;
        let cb = |n: &str, sig: &str| interp::callback(&module, &modname, n, sig);
        let cb_configure = cb("configure", "okeys")?;
        let cb_start = cb("start", "spi")?;
        let cb_stop = cb("stop", "")?;
        let cb_signal = cb("signal", "signo")?;
        let ok = Bound::new(py, Keylist::default()).map_err(|e| {
            PluginError::new(format!(
                "Python module '{modname}': {}",
                interp::short(py, &e)
            ))
        })?;
        let r = cb_configure.bind(py).call1((&ok,)).map_err(|e| {
            PluginError::new(format!(
                "Python module '{modname}': configure() failed: {}",
                interp::short(py, &e)
            ))
        })?;
        interp::check_ret(&r).map_err(|why| {
            PluginError::new(format!("Python module '{modname}': configure() {why}"))
        })?;
        let outputs: Vec<KeyDef> = key_defs(&modname, &ok.borrow(), true)?;
        if outputs.is_empty() {
            return Err(PluginError::new(format!(
                "Python module '{modname}' stands first (a source) but its configure(okeys) declares no output keys"
            )));
        }
        let meta = KeyMeta::new(outputs.clone());
        let src = PySource {
            id: ctx.id.to_string(),
            modname: modname.clone(),
            ctx: Arc::new(SrcCtx {
                reqs: Mutex::new(Vec::new()),
                staged: Arc::new(Mutex::new(Staged {
                    vals: vec![None; outputs.len()],
                    queued: VecDeque::new(),
                })),
                meta,
            }),
            _module: module.clone().unbind(),
            cb_start,
            cb_stop,
            cb_signal,
            nout: outputs.len(),
            timers: Vec::new(),
            fds: Vec::new(),
            readable: Vec::new(),
            started: false,
            finished: false,
            errors: ErrorLog::default(),
            events: AtomicU64::new(0),
        };
        Ok(Built::Source {
            source: Box::new(src),
            outputs,
        })
    })
}

/// The `ulogd.Timer` / `ulogd.Fd` behind a request (only those objects make them).
fn cast<T: pyo3::PyClass>(py: Python<'_>, o: Py<PyAny>) -> Option<Py<T>> {
    o.into_bound(py).cast_into::<T>().ok().map(Bound::unbind)
}

fn slot_mut<T>(v: &mut Vec<T>, i: usize, fill: impl Fn() -> T) -> &mut T {
    while v.len() <= i {
        v.push(fill());
    }
    &mut v[i]
}

#[allow(unsafe_code)]
fn still_readable(fd: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    n > 0 && p.revents & libc::POLLIN != 0
}

impl PySource {
    fn take_reqs(&self) -> Vec<Req> {
        std::mem::take(&mut *self.ctx.reqs.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Applies what the script asked for after `start()` (the loop is running).
    fn apply(&mut self, py: Python<'_>, emit: &mut dyn Emit) {
        for r in self.take_reqs() {
            match r {
                Req::Arm(t, secs) => {
                    let Some(t) = cast::<Timer>(py, t) else {
                        continue;
                    };
                    let after = Duration::from_secs_f64(secs);
                    let pos = self
                        .timers
                        .iter()
                        .position(|s| matches!(s, Slot::Timer(x, _) if x.as_ptr() == t.as_ptr()));
                    let pos =
                        pos.or_else(|| self.timers.iter().position(|s| matches!(s, Slot::Spare)));
                    match pos {
                        Some(i) => {
                            self.timers[i] = Slot::Timer(t, true);
                            emit.arm_timer(i, after);
                        }
                        None => log::error!(
                            "[{}] Python module '{}': more than {SPARE_TIMERS} timers created after start(); Timer.add ignored",
                            self.id, self.modname
                        ),
                    }
                }
                Req::Cancel(t) => {
                    for s in &mut self.timers {
                        if let Slot::Timer(x, armed) = s {
                            if x.as_ptr() == t.as_ptr() {
                                *armed = false;
                            }
                        }
                    }
                }
                Req::AddFd(_) => log::error!(
                    "[{}] Python module '{}': Fd.register() works in start() only; ignored",
                    self.id,
                    self.modname
                ),
                Req::DelFd(f) => {
                    for s in &mut self.fds {
                        if s.as_ref().is_some_and(|x| x.as_ptr() == f.as_ptr()) {
                            *s = None;
                        }
                    }
                }
                Req::Finish => self.finished = true,
            }
        }
    }

    /// Emits the propagated events; false if the pool ran dry (woken with Resume).
    fn flush(&mut self, emit: &mut dyn Emit) -> bool {
        loop {
            let next = {
                let mut st = self.ctx.staged.lock().unwrap_or_else(|e| e.into_inner());
                st.queued.pop_front()
            };
            let Some(vals) = next else { return true };
            let r = emit.emit(&mut |ev| {
                for (i, v) in vals.iter().enumerate().take(self.nout) {
                    if let Some(v) = v {
                        v.write(ev, i);
                    }
                }
                true
            });
            if r.is_err() {
                let mut st = self.ctx.staged.lock().unwrap_or_else(|e| e.into_inner());
                st.queued.push_front(vals);
                return false;
            }
            self.events.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn call_fd(&mut self, py: Python<'_>, i: usize) {
        let Some(Some(f)) = self.fds.get(i) else {
            return;
        };
        let f = f.clone_ref(py);
        let fd = f.get();
        let _cur = Current::set(&self.ctx);
        if let Err(e) = fd
            .cb
            .bind(py)
            .call1((fd.file.clone_ref(py), 1, fd.data.clone_ref(py)))
        {
            self.errors
                .report(py, &self.id, &self.modname, "fd callback", &e);
        }
        if still_readable(fd.fd) && !self.readable.contains(&i) {
            self.readable.push(i);
        }
    }
}

impl Source for PySource {
    fn start(&mut self, setup: &mut dyn SourceSetup) -> Result<(), PluginError> {
        Python::attach(|py| {
            let spi = Bound::new(py, SourcePluginstance::new(self.ctx.clone(), &self.id))
                .map_err(|e| PluginError::new(interp::short(py, &e)))?;
            {
                let _cur = Current::set(&self.ctx);
                checked(py, self.cb_start.bind(py).call1((spi,))).map_err(|why| {
                    PluginError::new(format!("Python module '{}': start() {why}", self.modname))
                })?;
            }
            for r in self.take_reqs() {
                match r {
                    Req::Arm(t, secs) => {
                        let Some(t) = cast::<Timer>(py, t) else {
                            continue;
                        };
                        let i = setup.add_timer(Duration::from_secs_f64(secs), None);
                        *slot_mut(&mut self.timers, i, || Slot::Unused) = Slot::Timer(t, true);
                    }
                    Req::Cancel(t) => {
                        for s in &mut self.timers {
                            if let Slot::Timer(x, armed) = s {
                                if x.as_ptr() == t.as_ptr() {
                                    *armed = false;
                                }
                            }
                        }
                    }
                    Req::AddFd(f) => {
                        let Some(f) = cast::<Fd>(py, f) else {
                            continue;
                        };
                        let i = setup.add_fd(f.get().fd);
                        *slot_mut(&mut self.fds, i, || None) = Some(f);
                    }
                    Req::DelFd(f) => {
                        for s in &mut self.fds {
                            if s.as_ref().is_some_and(|x| x.as_ptr() == f.as_ptr()) {
                                *s = None;
                            }
                        }
                    }
                    Req::Finish => self.finished = true,
                }
            }
            // The first spare fires at once, to emit what start() propagated.
            for n in 0..SPARE_TIMERS {
                let first = if n == 0 { Duration::ZERO } else { DORMANT };
                let i = setup.add_timer(first, None);
                *slot_mut(&mut self.timers, i, || Slot::Unused) = Slot::Spare;
            }
            self.started = true;
            Ok(())
        })
    }

    fn run(&mut self, wake: Wake, emit: &mut dyn Emit) -> Result<Flow, PluginError> {
        interp::keep_thread_state();
        Python::attach(|py| {
            match wake {
                Wake::Timer(i) => match self.timers.get_mut(i) {
                    Some(Slot::Timer(t, armed)) if *armed => {
                        *armed = false;
                        let t = t.clone_ref(py);
                        let tm = t.get();
                        let _cur = Current::set(&self.ctx);
                        if let Err(e) = tm
                            .cb
                            .bind(py)
                            .call1((t.clone_ref(py), tm.data.clone_ref(py)))
                        {
                            self.errors
                                .report(py, &self.id, &self.modname, "timer callback", &e);
                        }
                    }
                    Some(Slot::Timer(..)) | Some(Slot::Spare) => emit.arm_timer(i, DORMANT),
                    _ => {}
                },
                Wake::Readable(i) => self.call_fd(py, i),
                Wake::Resume => {
                    for i in std::mem::take(&mut self.readable) {
                        self.call_fd(py, i);
                    }
                }
            }
            self.apply(py, emit);
            if !self.flush(emit) {
                return Ok(Flow::Idle);
            }
            if self.finished {
                return Ok(Flow::Finished);
            }
            Ok(if self.readable.is_empty() {
                Flow::Idle
            } else {
                Flow::Again
            })
        })
    }

    fn signal(&mut self, sig: Signal, emit: &mut dyn Emit) {
        Python::attach(|py| {
            {
                let _cur = Current::set(&self.ctx);
                if let Err(e) = self.cb_signal.bind(py).call1((signo(sig),)) {
                    self.errors
                        .report(py, &self.id, &self.modname, "signal", &e);
                }
            }
            self.apply(py, emit);
            self.flush(emit);
        })
    }

    fn stop(&mut self) {
        if !self.started {
            return;
        }
        Python::attach(|py| {
            let _cur = Current::set(&self.ctx);
            if let Err(why) = checked(py, self.cb_stop.bind(py).call0()) {
                log::error!(
                    "[{}] Python module '{}': stop() {why}",
                    self.id,
                    self.modname
                );
            }
        })
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("python_events", self.events.load(Ordering::Relaxed)),
            (
                "python_exceptions",
                self.errors.count.load(Ordering::Relaxed),
            ),
        ]
    }
}
