//! PYTHON as a filter or a sink, and the plugin's registration.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyModule;
use ulogd_core::{
    BuildContext, Built, Event, Inputs, Kind, OptionDef, PluginError, PluginSpec, Ret, Signal,
    Stage,
};

use crate::api::{Keylist, DTYPE_WILDCARD};
use crate::interp::{self, ErrorLog};
use crate::keys::{KeyMeta, Keyset, Mode};

/// The options of every PYTHON instance.
pub(crate) fn options() -> Vec<OptionDef> {
    vec![
        OptionDef::string(
            "module",
            "",
            "Python module to load (found on sys.path, PYTHONPATH and path_append)",
        )
        .required(),
        OptionDef::string(
            "path_append",
            "",
            "colon-separated directories appended to sys.path",
        ),
        OptionDef::any_other("any other key is handed to the script in the dict ULOGD_CONFIG"),
    ]
}

fn spec(kind: Kind) -> PluginSpec {
    PluginSpec {
        name: "PYTHON",
        aliases: &[],
        kind,
        summary: "a source, filter or sink written in Python (the fork's API); the stack position decides",
        options: options(),
        inputs: vec![],
        outputs: vec![],
        wildcard: false,
        build: Box::new(move |ctx| match kind {
            Kind::Source => crate::source::build(ctx),
            _ => build_stage(ctx, kind),
        }),
    }
}

/// Registers PYTHON for every stack position: a filter (the main spec) and, as
/// variants of the same name, a source and a sink.
pub(crate) fn register(reg: &mut ulogd_core::Registry) {
    reg.add(spec(Kind::Filter));
    reg.add_variant(spec(Kind::Source));
    reg.add_variant(spec(Kind::Sink));
}

pub(crate) fn signo(sig: Signal) -> i32 {
    match sig {
        Signal::Hup => libc::SIGHUP,
        Signal::Usr1 => libc::SIGUSR1,
        Signal::Usr2 => libc::SIGUSR2,
    }
}

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

fn build_stage(ctx: &BuildContext<'_>, kind: Kind) -> Result<Built, PluginError> {
    interp::ensure_init()?;
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
        let in_defs = interp::key_defs(&modname, &ik.borrow(), false)?;
        let out_defs = interp::key_defs(&modname, &ok.borrow(), true)?;
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

/// The outcome of a call whose return value must be 0, as words for a log line.
pub(crate) fn checked(py: Python<'_>, r: PyResult<Bound<'_, PyAny>>) -> Result<(), String> {
    match r {
        Ok(v) => interp::check_ret(&v),
        Err(e) => Err(format!("raised:\n{}", interp::traceback(py, &e))),
    }
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
        let p: *mut Event<'static> = std::ptr::from_mut(ev).cast();
        crate::interp::keep_thread_state();
        Python::attach(|py| {
            let imode = if self.wildcard {
                Mode::Wildcard
            } else {
                Mode::Input
            };
            let made = Bound::new(py, Keyset::new(self.inputs.clone(), imode)).and_then(|ik| {
                Bound::new(py, Keyset::new(self.outputs.clone(), Mode::Output)).map(|ok| (ik, ok))
            });
            let (ik, ok) = match made {
                Ok(x) => x,
                Err(e) => {
                    self.errors
                        .report(py, &self.id, &self.modname, "interp", &e);
                    return Ret::Err;
                }
            };
            ik.borrow().attach(p);
            ok.borrow().attach(p);
            let r = self.cb_interp.bind(py).call1((&ik, &ok));
            ik.borrow().detach();
            ok.borrow().detach();
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
