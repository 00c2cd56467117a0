//! The `ulogd` Python module: `Keyinfo`, `Keylist`, `Timer`, `Fd`, the source
//! instance handle, `log()` and the fork's constants.

use std::sync::Arc;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyModule;

use ulogd_core::{KeyDef, KeyFlags, KeyType, PluginError};

use super::keyset::{Key, Keyset, Mode, NF_ACCEPT, NF_DROP, NF_QUEUE, NF_REPEAT};
use crate::bridge::{Req, SrcCtx, CURRENT};

/// `ULOGD_DTYPE_WILDCARD`: an input keylist of this type takes every upstream key.
pub(crate) const DTYPE_WILDCARD: u32 = 0x0040;

const CONSTANTS: &[(&str, i64)] = &[
    ("ULOGD_RET_NONE", 0x0000),
    ("ULOGD_RET_INT8", 0x0001),
    ("ULOGD_RET_INT16", 0x0002),
    ("ULOGD_RET_INT32", 0x0003),
    ("ULOGD_RET_INT64", 0x0004),
    ("ULOGD_RET_UINT8", 0x0011),
    ("ULOGD_RET_UINT16", 0x0012),
    ("ULOGD_RET_UINT32", 0x0013),
    ("ULOGD_RET_UINT64", 0x0014),
    ("ULOGD_RET_BOOL", 0x0050),
    ("ULOGD_RET_IPADDR", 0x0100),
    ("ULOGD_RET_IP6ADDR", 0x0200),
    ("ULOGD_RET_STRING", 0x8020),
    ("ULOGD_RET_RAW", 0x8030),
    ("ULOGD_RET_RAWSTR", 0x8040),
    ("ULOGD_RETF_NONE", 0x0000),
    ("ULOGD_RETF_VALID", 0x0001),
    ("ULOGD_RETF_FREE", 0x0002),
    ("ULOGD_RETF_NEEDED", 0x0004),
    ("ULOGD_RETF_DESTRUCT", 0x0008),
    ("ULOGD_RETF_EMBED", 0x0010),
    ("ULOGD_KEYF_OPTIONAL", 0x0100),
    ("ULOGD_KEYF_INACTIVE", 0x0200),
    ("ULOGD_DTYPE_NULL", 0x0000),
    ("ULOGD_DTYPE_RAW", 0x0002),
    ("ULOGD_DTYPE_PACKET", 0x0004),
    ("ULOGD_DTYPE_FLOW", 0x0008),
    ("ULOGD_DTYPE_SUM", 0x0010),
    ("ULOGD_DTYPE_SINK", 0x0020),
    ("ULOGD_DTYPE_WILDCARD", 0x0040),
    ("ULOGD_IRET_OK", 0),
    ("ULOGD_IRET_ERR", -1),
    ("ULOGD_IRET_STOP", -2),
    ("ULOGD_FD_READ", 0x0001),
    ("ULOGD_FD_WRITE", 0x0002),
    ("ULOGD_FD_EXCEPT", 0x0004),
    ("ULOGD_DEBUG", 1),
    ("ULOGD_INFO", 3),
    ("ULOGD_NOTICE", 5),
    ("ULOGD_ERROR", 7),
    ("ULOGD_FATAL", 8),
    ("NF_DROP", NF_DROP),
    ("NF_ACCEPT", NF_ACCEPT),
    ("NF_QUEUE", NF_QUEUE),
    ("NF_REPEAT", NF_REPEAT),
];

/// A key declaration, as `configure()` adds it to a `Keylist`.
#[pyclass(module = "ulogd", name = "Keyinfo", from_py_object)]
#[derive(Clone, Debug)]
pub struct Keyinfo {
    #[pyo3(get, set)]
    pub name: String,
    #[pyo3(get, set)]
    pub len: u32,
    #[pyo3(get, set, name = "type")]
    pub ty: u32,
    #[pyo3(get, set)]
    pub flags: u32,
    #[pyo3(get, set)]
    pub ipfix_vendor: u32,
    #[pyo3(get, set)]
    pub ipfix_field_id: u16,
    #[pyo3(get, set)]
    pub cim_name: Option<String>,
}

#[pymethods]
impl Keyinfo {
    #[new]
    #[pyo3(signature = (name, len=0, r#type=0, flags=0, ipfix_vendor=0, ipfix_field_id=0, cim_name=None))]
    fn new(
        name: String,
        len: u32,
        r#type: u32,
        flags: u32,
        ipfix_vendor: u32,
        ipfix_field_id: u16,
        cim_name: Option<String>,
    ) -> Keyinfo {
        Keyinfo {
            name,
            len,
            ty: r#type,
            flags,
            ipfix_vendor,
            ipfix_field_id,
            cim_name,
        }
    }
    fn __repr__(&self) -> String {
        format!("Keyinfo({:?}, type={:#x})", self.name, self.ty)
    }
}

/// The keys an instance declares in `configure()`, and its data type mask.
#[pyclass(module = "ulogd", name = "Keylist")]
#[derive(Default)]
pub struct Keylist {
    #[pyo3(get, set, name = "type")]
    pub ty: u32,
    pub keys: Vec<Keyinfo>,
}

#[pymethods]
impl Keylist {
    #[new]
    fn py_new() -> Keylist {
        Keylist::default()
    }
    /// Adds a key; duplicate names and keys without a type are refused.
    fn add(&mut self, key: Keyinfo) -> PyResult<()> {
        if key.name.is_empty() {
            return Err(PyValueError::new_err("Keyinfo needs a name"));
        }
        if self.keys.iter().any(|k| k.name == key.name) {
            return Err(PyValueError::new_err(format!(
                "key '{}' is already in the list",
                key.name
            )));
        }
        self.keys.push(key);
        Ok(())
    }
    /// Removes the key named `name`.
    fn delete(&mut self, name: &str) -> PyResult<()> {
        let before = self.keys.len();
        self.keys.retain(|k| k.name != name);
        if self.keys.len() == before {
            return Err(pyo3::exceptions::PyKeyError::new_err(name.to_string()));
        }
        Ok(())
    }
    fn __len__(&self) -> usize {
        self.keys.len()
    }
    fn __getitem__(&self, i: usize) -> PyResult<Keyinfo> {
        self.keys
            .get(i)
            .cloned()
            .ok_or_else(|| pyo3::exceptions::PyIndexError::new_err("index out of range"))
    }
}

fn current_source(what: &str) -> PyResult<Arc<SrcCtx>> {
    CURRENT.with(|c| c.borrow().clone()).ok_or_else(|| {
        PyRuntimeError::new_err(format!(
            "{what} is available to PYTHON sources only, from start() or a callback"
        ))
    })
}

/// A one-shot timer run by the daemon's event loop: `add(seconds)` arms it (again),
/// `delete()` disarms it; it calls `cb(timer, data)`. Sources only.
#[pyclass(module = "ulogd", name = "Timer", frozen)]
pub struct Timer {
    pub(crate) cb: Py<PyAny>,
    pub(crate) data: Py<PyAny>,
    owner: Arc<SrcCtx>,
}

#[pymethods]
impl Timer {
    #[new]
    #[pyo3(signature = (cb, data=None))]
    fn new(py: Python<'_>, cb: Py<PyAny>, data: Option<Py<PyAny>>) -> PyResult<Timer> {
        Ok(Timer {
            cb,
            data: data.unwrap_or_else(|| py.None()),
            owner: current_source("ulogd.Timer")?,
        })
    }
    /// Fires once after `seconds` (a float); re-arming replaces the previous time.
    fn add(slf: &Bound<'_, Self>, seconds: f64) -> PyResult<i32> {
        if !(seconds.is_finite() && seconds >= 0.0) {
            return Err(PyValueError::new_err("seconds must be 0 or more"));
        }
        slf.get()
            .owner
            .push(Req::Arm(slf.clone().into_any().unbind(), seconds));
        Ok(0)
    }
    /// Disarms the timer.
    fn delete(slf: &Bound<'_, Self>) -> PyResult<i32> {
        slf.get()
            .owner
            .push(Req::Cancel(slf.clone().into_any().unbind()));
        Ok(0)
    }
}

/// A file descriptor watched by the daemon's event loop: `register()` in `start()`
/// (the loop is edge-triggered: the daemon calls `cb(file, ULOGD_FD_READ, data)`
/// again while the fd stays readable). Sources only.
#[pyclass(module = "ulogd", name = "Fd", frozen)]
pub struct Fd {
    pub(crate) file: Py<PyAny>,
    pub(crate) fd: i32,
    pub(crate) cb: Py<PyAny>,
    pub(crate) data: Py<PyAny>,
    owner: Arc<SrcCtx>,
}

#[pymethods]
impl Fd {
    #[new]
    #[pyo3(signature = (file, when, cb, data=None))]
    fn new(
        py: Python<'_>,
        file: &Bound<'_, PyAny>,
        when: u32,
        cb: Py<PyAny>,
        data: Option<Py<PyAny>>,
    ) -> PyResult<Fd> {
        let fd: i32 = match file.extract::<i32>() {
            Ok(fd) => fd,
            Err(_) => file.call_method0("fileno")?.extract()?,
        };
        if when & 0x1 == 0 {
            return Err(PyValueError::new_err(
                "only ULOGD_FD_READ is supported (the loop watches readability)",
            ));
        }
        Ok(Fd {
            file: file.clone().unbind(),
            fd,
            cb,
            data: data.unwrap_or_else(|| py.None()),
            owner: current_source("ulogd.Fd")?,
        })
    }
    /// Starts watching (call it from `start()`).
    fn register(slf: &Bound<'_, Self>) -> PyResult<i32> {
        slf.get()
            .owner
            .push(Req::AddFd(slf.clone().into_any().unbind()));
        Ok(0)
    }
    /// Stops calling the callback.
    fn unregister(slf: &Bound<'_, Self>) -> PyResult<i32> {
        slf.get()
            .owner
            .push(Req::DelFd(slf.clone().into_any().unbind()));
        Ok(0)
    }
}

/// What a source's `start(spi)` gets.
#[pyclass(module = "ulogd", name = "SourcePluginstance", frozen)]
pub struct SourcePluginstance {
    pub(crate) ctx: Arc<SrcCtx>,
    #[pyo3(get)]
    id: String,
}

impl SourcePluginstance {
    pub(crate) fn new(ctx: Arc<SrcCtx>, id: &str) -> SourcePluginstance {
        SourcePluginstance {
            ctx,
            id: id.to_string(),
        }
    }
}

#[pymethods]
impl SourcePluginstance {
    /// The keyset the source writes before `propagate_results()`.
    fn get_output_keyset(&self) -> Keyset {
        let mut ks = Keyset::new(self.ctx.meta.clone(), Mode::Staging);
        ks.staging = Some(self.ctx.staged.clone());
        ks
    }
    /// Tells the daemon this source has no more events (ulogd-rs extension: a script
    /// reading a file ends like REPLAY). What was propagated is still emitted.
    fn finish(&self) {
        self.ctx.push(Req::Finish);
    }
}

/// Writes `message` to the daemon log at `level` (`ulogd.ULOGD_INFO`...).
#[pyfunction(name = "log")]
#[pyo3(signature = (level, message))]
fn log_message(level: i64, message: &str) {
    match level {
        ..=1 => ::log::debug!("python: {message}"),
        2..=4 => ::log::info!("python: {message}"),
        5..=6 => ::log::warn!("python: {message}"),
        _ => ::log::error!("python: {message}"),
    }
}

/// Builds the `ulogd` module.
pub(crate) fn make_module(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    let m = PyModule::new(py, "ulogd")?;
    m.add_class::<Keyinfo>()?;
    m.add_class::<Keylist>()?;
    m.add_class::<Keyset>()?;
    m.add_class::<Key>()?;
    m.add_class::<Timer>()?;
    m.add_class::<Fd>()?;
    m.add_class::<SourcePluginstance>()?;
    m.add_function(wrap_pyfunction!(log_message, &m)?)?;
    for (name, v) in CONSTANTS {
        m.add(*name, *v)?;
    }
    m.add(
        "__doc__",
        "ulogd-rs plugin API (the Could? fork's ulogd module, in process)",
    )?;
    Ok(m)
}

/// A `ULOGD_RET_*` code as a key type (`0` is "any type", for inputs only).
fn key_type(code: u32) -> Option<KeyType> {
    Some(match code {
        0x01 => KeyType::I8,
        0x02 => KeyType::I16,
        0x03 => KeyType::I32,
        0x04 => KeyType::I64,
        0x11 => KeyType::U8,
        0x12 => KeyType::U16,
        0x13 => KeyType::U32,
        0x14 => KeyType::U64,
        0x50 => KeyType::Bool,
        0x100 | 0x200 => KeyType::IpAddr,
        0x8020 => KeyType::String,
        0x8030 => KeyType::Raw,
        0x8040 => KeyType::RawStr,
        0 => KeyType::Any,
        _ => return None,
    })
}

/// Turns a keylist filled by `configure()` into key declarations.
pub(crate) fn key_defs(
    modname: &str,
    list: &Keylist,
    outputs: bool,
) -> Result<Vec<KeyDef>, PluginError> {
    list.keys
        .iter()
        .map(|k: &Keyinfo| {
            let side = if outputs { "output" } else { "input" };
            let ty = key_type(k.ty)
                .filter(|t| !(outputs && *t == KeyType::Any))
                .ok_or_else(|| {
                    PluginError::new(format!(
                        "Python module '{modname}': {side} key '{}' has type {:#x}, which is not a ULOGD_RET_* type",
                        k.name, k.ty
                    ))
                })?;
            let mut d = KeyDef::dynamic(k.name.clone(), ty);
            d.flags = KeyFlags::from_bits(
                (k.flags & (KeyFlags::OPTIONAL.bits() | KeyFlags::INACTIVE.bits()) as u32) as u16,
            );
            if k.ipfix_field_id != 0 {
                d = d.ipfix(k.ipfix_vendor, k.ipfix_field_id);
            }
            if let Some(c) = &k.cim_name {
                // Declared once per instance at start-up: leaking is bounded.
                d = d.cim(Box::leak(c.clone().into_boxed_str()));
            }
            Ok(d)
        })
        .collect()
}
