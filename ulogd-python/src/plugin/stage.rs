//! PYTHON as a filter or a sink.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyModule;
use ulogd_core::{BuildContext, Built, Event, Inputs, Kind, PluginError, Ret, Signal, Stage};

use crate::host::{self as interp, checked, signo, ErrorLog};
use crate::pyapi::keyset::{Keyset, LiveEvent, Mode};
use crate::pyapi::module::{key_defs, make_module, Keylist, DTYPE_WILDCARD};
use crate::value::KeyMeta;

struct PyStage {
    id: String,
    modname: String,
    _module: Py<PyModule>,
    cb_start: Py<PyAny>,
    cb_interp: Py<PyAny>,
    cb_stop: Py<PyAny>,
    cb_signal: Py<PyAny>,
    inputs: Arc<KeyMeta>,
    outputs: Arc<KeyMeta>,
    wildcard: bool,
    errors: ErrorLog,
}

pub(crate) fn build_stage(ctx: &BuildContext<'_>, kind: Kind) -> Result<Built, PluginError> {
    interp::ensure_init(make_module)?;
    let o = ctx.options;
    let modname = o.str("module").to_string();
    Python::attach(|py| {
        let module = interp::load_module(py, ctx.id, &modname, o.str("path_append"), o)?;
        let cb = |n: &str, sig: &str| interp::callback(&module, &modname, n, sig);
        let cb_configure = cb("configure", "ikeys, okeys")?;
        let cb_start = cb("start", "ikset")?;
        let cb_interp = cb("interp", "ikset, okset")?;
        let cb_stop = cb("stop", "")?;
        let cb_signal = cb("signal", "signo")?;
        let perr = |e: PyErr| {
            PluginError::new(format!(
                "Python module '{modname}': {}",
                interp::short(py, &e)
            ))
        };
        let ik = Bound::new(py, Keylist::default()).map_err(perr)?;
        let ok = Bound::new(py, Keylist::default()).map_err(perr)?;
        let r = cb_configure.bind(py).call1((&ik, &ok)).map_err(|e| {
            PluginError::new(format!(
                "Python module '{modname}': configure() failed: {}",
                interp::short(py, &e)
            ))
        })?;
        interp::check_ret(&r).map_err(|why| {
            PluginError::new(format!("Python module '{modname}': configure() {why}"))
        })?;
        let wildcard = ik.borrow().ty & DTYPE_WILDCARD != 0;
        let in_defs = key_defs(&modname, &ik.borrow(), false)?;
        let out_defs = key_defs(&modname, &ok.borrow(), true)?;
        if kind == Kind::Sink && !out_defs.is_empty() {
            return Err(PluginError::new(format!(
                "Python module '{modname}' declares output keys but stands last (a sink); put a sink after it or drop the keys"
            )));
        }
        let inputs = if wildcard {
            Inputs::All
        } else {
            Inputs::Keys(in_defs.clone())
        };
        let stage = PyStage {
            id: ctx.id.to_string(),
            modname: modname.clone(),
            _module: module.clone().unbind(),
            cb_start,
            cb_interp,
            cb_stop,
            cb_signal,
            inputs: KeyMeta::new(if wildcard { vec![] } else { in_defs }),
            outputs: KeyMeta::new(out_defs.clone()),
            wildcard,
            errors: ErrorLog::default(),
        };
        Ok(Built::Stage {
            stage: Arc::new(stage),
            inputs,
            outputs: out_defs,
        })
    })
}

impl Stage for PyStage {
    fn start(&self) -> Result<(), PluginError> {
        Python::attach(|py| {
            let mode = if self.wildcard {
                Mode::Wildcard
            } else {
                Mode::Template
            };
            let ks = Bound::new(py, Keyset::new(self.inputs.clone(), mode))
                .map_err(|e| PluginError::new(interp::short(py, &e)))?;
            checked(py, self.cb_start.bind(py).call1((ks,))).map_err(|why| {
                PluginError::new(format!("Python module '{}': start() {why}", self.modname))
            })
        })
    }

    fn interp(&self, ev: &mut Event<'_>) -> Ret {
        crate::host::keep_thread_state();
        // One event, seen by both keysets of the call, with one borrow flag.
        let live = std::rc::Rc::new(LiveEvent::default());
        Python::attach(|py| {
            let imode = if self.wildcard {
                Mode::Wildcard
            } else {
                Mode::Input
            };
            let made = Bound::new(py, Keyset::on(self.inputs.clone(), imode, live.clone()))
                .and_then(|ik| {
                    Bound::new(
                        py,
                        Keyset::on(self.outputs.clone(), Mode::Output, live.clone()),
                    )
                    .map(|ok| (ik, ok))
                });
            let (ik, ok) = match made {
                Ok(x) => x,
                Err(e) => {
                    self.errors
                        .report(py, &self.id, &self.modname, "interp", &e);
                    return Ret::Err;
                }
            };
            // Detached before `ev`'s borrow ends, also if the call panics (the guard).
            struct Detach<'a>(&'a LiveEvent);
            impl Drop for Detach<'_> {
                fn drop(&mut self) {
                    self.0.detach();
                }
            }
            live.attach(ev);
            let r = {
                let _detach = Detach(&live);
                self.cb_interp.bind(py).call1((&ik, &ok))
            };
            match r {
                Ok(v) => match interp::interp_ret(&v) {
                    Ok(r) => r,
                    Err(why) => {
                        let e = pyo3::exceptions::PyTypeError::new_err(why);
                        self.errors
                            .report(py, &self.id, &self.modname, "interp", &e);
                        Ret::Err
                    }
                },
                Err(e) => {
                    self.errors
                        .report(py, &self.id, &self.modname, "interp", &e);
                    Ret::Err
                }
            }
        })
    }

    fn signal(&self, sig: Signal) {
        Python::attach(|py| {
            if let Err(e) = self.cb_signal.bind(py).call1((signo(sig),)) {
                self.errors
                    .report(py, &self.id, &self.modname, "signal", &e);
            }
        })
    }

    fn stop(&self) {
        Python::attach(|py| {
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
        vec![(
            "python_exceptions",
            self.errors.count.load(std::sync::atomic::Ordering::Relaxed),
        )]
    }
}
