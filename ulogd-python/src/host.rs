//! The lowest layer: the interpreter (start-up, thread states, the GIL), module
//! loading, callbacks, return codes and error reports. Uses nothing else of this
//! crate; everything else uses it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyModule};
use ulogd_core::{Options, PluginError, Ret, Signal};

static INIT: OnceLock<Result<(), String>> = OnceLock::new();

thread_local! {
    static HAS_TSTATE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Gives the calling thread a Python thread state that lives as long as the
/// thread. Without it every call from a worker thread would create and destroy one
/// (`PyGILState_Ensure`/`Release` on a thread Python does not know), which costs
/// more than the call itself. The GIL is not held on return.
pub(crate) fn keep_thread_state() {
    if HAS_TSTATE.with(|h| h.replace(true)) {
        return;
    }
    // SAFETY: the interpreter is initialised (instances exist only after
    // `ensure_init`); this thread does not hold the GIL here (callers invoke this
    // before `Python::attach`). Ensure creates the thread state and takes the GIL;
    // SaveThread releases the GIL and keeps the state, so later Ensure/Release pairs
    // (pyo3's attach) find it and never free it.
    unsafe {
        let _ = pyo3::ffi::PyGILState_Ensure();
        let _ = pyo3::ffi::PyEval_SaveThread();
    }
}

/// Starts the interpreter (once per process) and installs the `ulogd` module that
/// `make_module` builds (passed in, so this layer does not depend on the API one).
pub(crate) fn ensure_init(
    make_module: impl FnOnce(Python<'_>) -> PyResult<Bound<'_, PyModule>>,
) -> Result<(), PluginError> {
    INIT.get_or_init(|| {
        // Py_InitializeEx(0): Python installs no signal handlers (the daemon owns
        // them); the GIL is released afterwards and taken per call.
        Python::initialize();
        Python::attach(|py| -> PyResult<()> {
            let m = make_module(py)?;
            py.import("sys")?.getattr("modules")?.set_item("ulogd", m)?;
            Ok(())
        })
        .map_err(|e| format!("cannot set up the Python interpreter: {e}"))
    })
    .clone()
    .map_err(PluginError::new)
}

/// One line: `Type: message` of an exception.
pub(crate) fn short(py: Python<'_>, e: &PyErr) -> String {
    let fallback = || e.to_string();
    (|| -> PyResult<String> {
        let tb = py.import("traceback")?;
        let lines = tb.call_method1("format_exception_only", (e.value(py),))?;
        let s: Vec<String> = lines.extract()?;
        Ok(s.concat().trim_end().replace('\n', " | "))
    })()
    .unwrap_or_else(|_| fallback())
}

/// The full traceback of an exception.
pub(crate) fn traceback(py: Python<'_>, e: &PyErr) -> String {
    (|| -> PyResult<String> {
        let tb = py.import("traceback")?;
        let lines = tb.call_method1(
            "format_exception",
            (e.get_type(py), e.value(py), e.traceback(py)),
        )?;
        let s: Vec<String> = lines.extract()?;
        Ok(s.concat().trim_end().to_string())
    })()
    .unwrap_or_else(|_| e.to_string())
}

/// Counts a script's exceptions and logs them: the first few with their traceback,
/// then one line at every power of two, so a script failing on every event cannot
/// flood the log.
#[derive(Default)]
pub(crate) struct ErrorLog {
    pub count: AtomicU64,
}

impl ErrorLog {
    pub fn report(&self, py: Python<'_>, id: &str, module: &str, call: &str, e: &PyErr) {
        let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        if n <= 5 {
            log::error!(
                "[{id}] PYTHON module '{module}': exception in {call}() (event dropped for this stack):\n{}",
                traceback(py, e)
            );
        } else if n.is_power_of_two() {
            log::error!(
                "[{id}] PYTHON module '{module}': {n} exceptions so far; latest in {call}(): {}",
                short(py, e)
            );
        }
    }
}

/// Loads a fresh copy of module `name` for one instance, through the normal import
/// machinery (`importlib.util.find_spec`), after appending `path_append` to
/// `sys.path`. The module gets `ULOGD_INSTANCE` (the instance id) and `ULOGD_CONFIG`
/// (a dict of every other option of the section) before its code runs.
pub(crate) fn load_module<'py>(
    py: Python<'py>,
    id: &str,
    name: &str,
    path_append: &str,
    options: &Options,
) -> Result<Bound<'py, PyModule>, PluginError> {
    let fail = |why: String| PluginError::new(format!("cannot load Python module '{name}': {why}"));
    if name.trim().is_empty() {
        return Err(PluginError::new(
            "option 'module' is empty: name the Python module to load",
        ));
    }
    let sys_path = py
        .import("sys")
        .and_then(|s| s.getattr("path"))
        .map_err(|e| fail(short(py, &e)))?;
    let sys_path = sys_path
        .cast::<PyList>()
        .map_err(|_| fail("sys.path is not a list".into()))?;
    for p in path_append.split(':').filter(|p| !p.is_empty()) {
        if !sys_path.contains(p).unwrap_or(false) {
            sys_path.append(p).map_err(|e| fail(short(py, &e)))?;
        }
    }
    let util = py
        .import("importlib.util")
        .map_err(|e| fail(short(py, &e)))?;
    let spec = util
        .call_method1("find_spec", (name,))
        .map_err(|e| fail(short(py, &e)))?;
    if spec.is_none() {
        let path: Vec<String> = sys_path.extract().unwrap_or_default();
        return Err(fail(format!(
            "no such module on sys.path ({}); set path_append or PYTHONPATH",
            path.join(":")
        )));
    }
    let module = util
        .call_method1("module_from_spec", (&spec,))
        .map_err(|e| fail(short(py, &e)))?;
    let config = PyDict::new(py);
    for (k, v) in options.extra() {
        config.set_item(k, v).map_err(|e| fail(short(py, &e)))?;
    }
    module
        .setattr("ULOGD_CONFIG", config)
        .and_then(|_| module.setattr("ULOGD_INSTANCE", id))
        .map_err(|e| fail(short(py, &e)))?;
    spec.getattr("loader")
        .and_then(|l| l.call_method1("exec_module", (&module,)))
        .map_err(|e| fail(short(py, &e)))?;
    module
        .cast_into::<PyModule>()
        .map_err(|_| fail("not a module".into()))
}

/// The callback `name` of `module`, or an error saying it is missing.
pub(crate) fn callback(
    module: &Bound<'_, PyModule>,
    modname: &str,
    name: &str,
    sig: &str,
) -> Result<Py<PyAny>, PluginError> {
    match module.getattr(name) {
        Ok(f) if f.is_callable() => Ok(f.unbind()),
        Ok(_) => Err(PluginError::new(format!(
            "Python module '{modname}': '{name}' is not callable; define {name}({sig})"
        ))),
        Err(_) => Err(PluginError::new(format!(
            "Python module '{modname}' lacks the callback {name}({sig})"
        ))),
    }
}

/// Checks a callback's return value: 0 (or None) is OK.
pub(crate) fn check_ret(v: &Bound<'_, PyAny>) -> Result<(), String> {
    if v.is_none() {
        return Ok(());
    }
    match v.extract::<i64>() {
        Ok(0) => Ok(()),
        Ok(x) => Err(format!("returned {x}")),
        Err(_) => Err(format!(
            "returned {} instead of an int",
            v.repr().map(|r| r.to_string()).unwrap_or_default()
        )),
    }
}

/// Maps `interp()`'s return value to the engine's.
pub(crate) fn interp_ret(v: &Bound<'_, PyAny>) -> Result<Ret, String> {
    if v.is_none() {
        return Ok(Ret::Ok);
    }
    match v.extract::<i64>() {
        Ok(0) => Ok(Ret::Ok),
        Ok(-2) => Ok(Ret::Stop),
        Ok(-1) => Ok(Ret::Err),
        _ => Err(format!(
            "interp() returned {}; expected ULOGD_IRET_OK, ULOGD_IRET_STOP or ULOGD_IRET_ERR",
            v.repr().map(|r| r.to_string()).unwrap_or_default()
        )),
    }
}

/// The signal number a script's `signal(signo)` callback gets.
pub(crate) fn signo(sig: Signal) -> i32 {
    match sig {
        Signal::Hup => libc::SIGHUP,
        Signal::Usr1 => libc::SIGUSR1,
        Signal::Usr2 => libc::SIGUSR2,
    }
}

/// The outcome of a call whose return value must be 0, as words for a log line.
pub(crate) fn checked(py: Python<'_>, r: PyResult<Bound<'_, PyAny>>) -> Result<(), String> {
    match r {
        Ok(v) => check_ret(&v),
        Err(e) => Err(format!("raised:\n{}", traceback(py, &e))),
    }
}
