//! Keysets and keys as Python sees them: light objects over the event's slots that
//! convert only what the script reads or writes.

use std::cell::Cell;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};

use pyo3::exceptions::{PyAttributeError, PyIndexError, PyKeyError, PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyInt, PyList, PyMemoryView, PyString};
use ulogd_core::{Event, KeyDef, KeyType, Value, Verdict, VerdictAction};

use crate::api;

/// The keys of one side (inputs or outputs) of an instance, with a name index
/// built once at configure time.
pub(crate) struct KeyMeta {
    pub defs: Vec<KeyDef>,
    pub by_name: HashMap<String, usize>,
}

impl KeyMeta {
    pub fn new(defs: Vec<KeyDef>) -> Arc<KeyMeta> {
        let by_name = defs
            .iter()
            .enumerate()
            .map(|(i, d)| (d.name.to_string(), i))
            .collect();
        Arc::new(KeyMeta { defs, by_name })
    }
}

/// An owned value (source output keys are staged here until propagated).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Owned {
    U(u64),
    I(i64),
    B(bool),
    Ip(IpAddr),
    Bytes(Vec<u8>),
}

impl Owned {
    pub fn write(&self, ev: &mut Event<'_>, o: usize) {
        match self {
            Owned::U(x) => ev.set_u64(o, *x),
            Owned::I(x) => ev.set_i64(o, *x),
            Owned::B(x) => ev.set_bool(o, *x),
            Owned::Ip(x) => ev.set_addr(o, *x),
            Owned::Bytes(x) => ev.set_bytes(o, x),
        }
    }
}

static IPV4: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static IPV6: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn ip_class(py: Python<'_>, v6: bool) -> PyResult<&Bound<'_, PyAny>> {
    let cell = if v6 { &IPV6 } else { &IPV4 };
    if let Some(c) = cell.get(py) {
        return Ok(c.bind(py));
    }
    let c = py
        .import("ipaddress")?
        .getattr(if v6 { "IPv6Address" } else { "IPv4Address" })?
        .unbind();
    let _ = cell.set(py, c);
    Ok(cell.get(py).expect("just set").bind(py))
}

/// A value read from an event, as Python expects it for a key of type `ty`.
pub(crate) fn to_py<'py>(
    py: Python<'py>,
    ty: KeyType,
    v: Option<Value<'_>>,
) -> PyResult<Bound<'py, PyAny>> {
    let Some(v) = v else {
        return Ok(py.None().into_bound(py));
    };
    Ok(match v {
        Value::Uint(x) if ty == KeyType::Bool => PyBool::new(py, x != 0).to_owned().into_any(),
        Value::Int(x) if ty == KeyType::Bool => PyBool::new(py, x != 0).to_owned().into_any(),
        Value::Uint(x) if ty.is_signed() => (x as i64).into_pyobject(py)?.into_any(),
        Value::Uint(x) => x.into_pyobject(py)?.into_any(),
        Value::Int(x) => x.into_pyobject(py)?.into_any(),
        Value::Bool(b) => PyBool::new(py, b).to_owned().into_any(),
        Value::Addr(IpAddr::V4(a)) => ip_class(py, false)?.call1((u32::from(a),))?,
        Value::Addr(IpAddr::V6(a)) => ip_class(py, true)?.call1((u128::from(a),))?,
        Value::Bytes(b) if ty == KeyType::Raw => PyBytes::new(py, b).into_any(),
        Value::Bytes(b) => PyString::new(py, &String::from_utf8_lossy(b)).into_any(),
    })
}

fn type_error(key: &str, ty: KeyType, want: &str, got: &Bound<'_, PyAny>) -> PyErr {
    let got = got
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into());
    PyTypeError::new_err(format!(
        "key '{key}' is {} ({}): expected {want}, got {got}",
        ty.name(),
        ty.code()
    ))
}

fn int_range(ty: KeyType) -> (i128, i128) {
    match ty {
        KeyType::I8 => (i8::MIN as i128, i8::MAX as i128),
        KeyType::I16 => (i16::MIN as i128, i16::MAX as i128),
        KeyType::I32 => (i32::MIN as i128, i32::MAX as i128),
        KeyType::I64 => (i64::MIN as i128, i64::MAX as i128),
        KeyType::U8 => (0, u8::MAX as i128),
        KeyType::U16 => (0, u16::MAX as i128),
        KeyType::U32 => (0, u32::MAX as i128),
        _ => (0, u64::MAX as i128),
    }
}

/// Converts a Python value for key `key` of type `ty`; `None` unsets it. A value of
/// the wrong type is a `TypeError` naming the key; an integer out of the type's range
/// is an `OverflowError` naming it.
pub(crate) fn from_py(key: &str, ty: KeyType, obj: &Bound<'_, PyAny>) -> PyResult<Option<Owned>> {
    let py = obj.py();
    if obj.is_none() {
        return Ok(None);
    }
    Ok(Some(match ty {
        KeyType::Bool => {
            if let Ok(b) = obj.cast::<PyBool>() {
                Owned::B(b.is_true())
            } else if obj.is_instance_of::<PyInt>() {
                Owned::B(obj.extract::<i128>().unwrap_or(1) != 0)
            } else {
                return Err(type_error(key, ty, "bool", obj));
            }
        }
        t if t.is_numeric() => {
            if !obj.is_instance_of::<PyInt>() {
                return Err(type_error(key, ty, "int", obj));
            }
            let (lo, hi) = int_range(t);
            let v: i128 = obj.extract().map_err(|_| {
                pyo3::exceptions::PyOverflowError::new_err(format!(
                    "key '{key}' is {}: value out of range",
                    t.name()
                ))
            })?;
            if v < lo || v > hi {
                return Err(pyo3::exceptions::PyOverflowError::new_err(format!(
                    "key '{key}' is {}: {v} is out of range {lo}..={hi}",
                    t.name()
                )));
            }
            if t.is_signed() {
                Owned::I(v as i64)
            } else {
                Owned::U(v as u64)
            }
        }
        KeyType::IpAddr => {
            if obj.is_instance(ip_class(py, false)?)? {
                Owned::Ip(IpAddr::V4(Ipv4Addr::from(
                    obj.call_method0("__int__")?.extract::<u32>()?,
                )))
            } else if obj.is_instance(ip_class(py, true)?)? {
                Owned::Ip(IpAddr::V6(Ipv6Addr::from(
                    obj.call_method0("__int__")?.extract::<u128>()?,
                )))
            } else if obj.is_instance_of::<PyInt>() && !obj.is_instance_of::<PyBool>() {
                let v: u128 = obj.extract().map_err(|_| {
                    pyo3::exceptions::PyOverflowError::new_err(format!(
                        "key '{key}': {obj} is not an IPv4 or IPv6 address"
                    ))
                })?;
                match u32::try_from(v) {
                    Ok(v4) => Owned::Ip(IpAddr::V4(Ipv4Addr::from(v4))),
                    Err(_) => Owned::Ip(IpAddr::V6(Ipv6Addr::from(v))),
                }
            } else if let Ok(s) = obj.cast::<PyString>() {
                let s = s.to_cow()?;
                Owned::Ip(s.parse().map_err(|_| {
                    pyo3::exceptions::PyValueError::new_err(format!(
                        "key '{key}': '{s}' is not an IP address"
                    ))
                })?)
            } else {
                return Err(type_error(
                    key,
                    ty,
                    "ipaddress.IPv4Address, IPv6Address, int or str",
                    obj,
                ));
            }
        }
        KeyType::String | KeyType::RawStr => {
            if let Ok(s) = obj.cast::<PyString>() {
                Owned::Bytes(s.to_cow()?.as_bytes().to_vec())
            } else if let Ok(b) = obj.cast::<PyBytes>() {
                Owned::Bytes(b.as_bytes().to_vec())
            } else {
                return Err(type_error(key, ty, "str", obj));
            }
        }
        KeyType::Raw => {
            if let Ok(b) = obj.cast::<PyBytes>() {
                Owned::Bytes(b.as_bytes().to_vec())
            } else if let Ok(b) = obj.cast::<PyByteArray>() {
                Owned::Bytes(b.to_vec())
            } else if obj.is_instance_of::<PyMemoryView>() {
                Owned::Bytes(
                    py.import("builtins")?
                        .getattr("bytes")?
                        .call1((obj,))?
                        .cast::<PyBytes>()?
                        .as_bytes()
                        .to_vec(),
                )
            } else {
                return Err(type_error(key, ty, "bytes, bytearray or memoryview", obj));
            }
        }
        _ => return Err(type_error(key, ty, "a value (the key has no type)", obj)),
    }))
}

/// What a keyset looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Names and types only (`start(ikset)`, `configure`): every value is `None`.
    Template,
    /// An instance's declared inputs, in a live event.
    Input,
    /// Every upstream key (a wildcard sink), in a live event.
    Wildcard,
    /// An instance's outputs, in a live event (write-only, as in the fork).
    Output,
    /// A source's output keys, staged until `propagate_results()`.
    Staging,
}

/// A keyset: `len()`, indexing by key name or position, iteration.
#[pyclass(unsendable, module = "ulogd", name = "Keyset")]
pub struct Keyset {
    pub(crate) meta: Arc<KeyMeta>,
    pub(crate) mode: Mode,
    /// The live event, only during the call (null otherwise).
    pub(crate) ev: Cell<*mut Event<'static>>,
    pub(crate) staging: Option<Arc<Mutex<crate::source::Staged>>>,
}

impl Keyset {
    pub(crate) fn new(meta: Arc<KeyMeta>, mode: Mode) -> Keyset {
        Keyset {
            meta,
            mode,
            ev: Cell::new(std::ptr::null_mut()),
            staging: None,
        }
    }

    /// Points the keyset at an event for the duration of one call. The lifetime is
    /// erased; the caller clears the pointer with `detach` before the event goes
    /// away, every use checks it, and the class is unsendable (same thread only).
    pub(crate) fn attach(&self, ev: *mut Event<'static>) {
        self.ev.set(ev);
    }

    pub(crate) fn detach(&self) {
        self.ev.set(std::ptr::null_mut());
    }

    // The keyset is a handle over the engine's `&mut Event` of the running call, so a
    // shared Python reference hands out mutable access; no two references from it
    // are alive at once (each method takes one, uses it and drops it).
    #[allow(clippy::mut_from_ref)]
    fn live(&self) -> PyResult<&mut Event<'static>> {
        let p = self.ev.get();
        if p.is_null() {
            return Err(PyRuntimeError::new_err(
                "keyset used outside the interp() call it was passed to",
            ));
        }
        // SAFETY: non-null only while the engine's `&mut Event` is borrowed by the
        // call that set it, on this thread; no reference outlives this method's use.
        Ok(unsafe { &mut *p })
    }

    pub(crate) fn len_(&self) -> usize {
        match self.mode {
            Mode::Wildcard => self.live().map(|e| e.wildcard_len()).unwrap_or(0),
            _ => self.meta.defs.len(),
        }
    }

    /// Runs `f` with the declaration (the producer's, for bound inputs) of key `i`.
    pub(crate) fn with_def<R>(&self, i: usize, f: impl FnOnce(&KeyDef) -> R) -> PyResult<R> {
        match self.mode {
            Mode::Wildcard => {
                let ev = self.live()?;
                ev.wildcard_def(i)
                    .map(f)
                    .ok_or_else(|| PyIndexError::new_err("key index out of range"))
            }
            Mode::Input if !self.ev.get().is_null() => {
                let ev = self.live()?;
                match ev.input_def(i) {
                    Some(d) => Ok(f(d)),
                    None => self
                        .meta
                        .defs
                        .get(i)
                        .map(f)
                        .ok_or_else(|| PyIndexError::new_err("key index out of range")),
                }
            }
            _ => self
                .meta
                .defs
                .get(i)
                .map(f)
                .ok_or_else(|| PyIndexError::new_err("key index out of range")),
        }
    }

    fn index_of(&self, key: &Bound<'_, PyAny>) -> PyResult<usize> {
        if let Ok(s) = key.cast::<PyString>() {
            let s = s.to_cow()?;
            if self.mode == Mode::Wildcard {
                let ev = self.live()?;
                return (0..ev.wildcard_len())
                    .rev()
                    .find(|&i| ev.wildcard_def(i).is_some_and(|d| d.name == *s))
                    .ok_or_else(|| PyKeyError::new_err(s.to_string()));
            }
            return self
                .meta
                .by_name
                .get(&*s)
                .copied()
                .ok_or_else(|| PyKeyError::new_err(s.to_string()));
        }
        if key.is_instance_of::<PyInt>() {
            let i: i64 = key.extract()?;
            let n = self.len_() as i64;
            let j = if i < 0 { i + n } else { i };
            if j < 0 || j >= n {
                return Err(PyIndexError::new_err(format!(
                    "key index {i} out of range ({n} keys)"
                )));
            }
            return Ok(j as usize);
        }
        Err(PyTypeError::new_err(
            "keysets are indexed by key name or position",
        ))
    }

    pub(crate) fn get_value<'py>(&self, py: Python<'py>, i: usize) -> PyResult<Bound<'py, PyAny>> {
        match self.mode {
            Mode::Template => Ok(py.None().into_bound(py)),
            Mode::Input => {
                let ev = self.live()?;
                let ty = self.with_def(i, |d| d.ty)?;
                to_py(py, ty, ev.get(i))
            }
            Mode::Wildcard => {
                let ev = self.live()?;
                let ty = self.with_def(i, |d| d.ty)?;
                to_py(py, ty, ev.wildcard_get(i))
            }
            Mode::Output => Err(PyAttributeError::new_err(format!(
                "output key '{}' is write-only",
                self.meta.defs[i].name
            ))),
            Mode::Staging => {
                let st = self.staging.as_ref().expect("staging keyset");
                let st = st.lock().unwrap_or_else(|e| e.into_inner());
                let ty = self.meta.defs[i].ty;
                Ok(match &st.vals[i] {
                    None => py.None().into_bound(py),
                    Some(Owned::U(x)) => to_py(py, ty, Some(Value::Uint(*x)))?,
                    Some(Owned::I(x)) => to_py(py, ty, Some(Value::Int(*x)))?,
                    Some(Owned::B(x)) => to_py(py, ty, Some(Value::Bool(*x)))?,
                    Some(Owned::Ip(x)) => to_py(py, ty, Some(Value::Addr(*x)))?,
                    Some(Owned::Bytes(x)) => to_py(py, ty, Some(Value::Bytes(x)))?,
                })
            }
        }
    }

    pub(crate) fn is_set(&self, i: usize) -> PyResult<bool> {
        Ok(match self.mode {
            Mode::Template | Mode::Output => false,
            Mode::Input => self.live()?.is_set(i),
            Mode::Wildcard => self.live()?.wildcard_get(i).is_some(),
            Mode::Staging => {
                let st = self.staging.as_ref().expect("staging keyset");
                let st = st.lock().unwrap_or_else(|e| e.into_inner());
                st.vals[i].is_some()
            }
        })
    }

    pub(crate) fn set_value(&self, i: usize, obj: &Bound<'_, PyAny>) -> PyResult<()> {
        let def = self
            .meta
            .defs
            .get(i)
            .ok_or_else(|| PyIndexError::new_err("key index out of range"))?;
        match self.mode {
            Mode::Output => {
                let v = from_py(&def.name, def.ty, obj)?;
                let ev = self.live()?;
                match v {
                    None => ev.unset(i),
                    Some(v) => v.write(ev, i),
                }
                Ok(())
            }
            Mode::Staging => {
                let v = from_py(&def.name, def.ty, obj)?;
                let st = self.staging.as_ref().expect("staging keyset");
                st.lock().unwrap_or_else(|e| e.into_inner()).vals[i] = v;
                Ok(())
            }
            _ => Err(PyAttributeError::new_err(format!(
                "input key '{}' is read-only",
                def.name
            ))),
        }
    }
}

#[pymethods]
impl Keyset {
    fn __len__(&self) -> usize {
        self.len_()
    }

    fn __getitem__(slf: &Bound<'_, Self>, key: &Bound<'_, PyAny>) -> PyResult<Key> {
        let idx = slf.borrow().index_of(key)?;
        Ok(Key {
            set: slf.clone().unbind(),
            idx,
        })
    }

    fn __contains__(&self, key: &Bound<'_, PyAny>) -> bool {
        self.index_of(key).is_ok()
    }

    fn __iter__(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let n = slf.borrow().len_();
        let list = PyList::empty(py);
        for idx in 0..n {
            list.append(Key {
                set: slf.clone().unbind(),
                idx,
            })?;
        }
        Ok(list.try_iter()?.into_any().unbind())
    }

    /// The keys' names, in order.
    fn names(&self) -> PyResult<Vec<String>> {
        (0..self.len_())
            .map(|i| self.with_def(i, |d| d.name.to_string()))
            .collect()
    }

    /// Sets the NFQUEUE verdict of the event (a filter or sink in a stack fed by
    /// NFQ): `ulogd.NF_ACCEPT`, `NF_DROP`, `NF_REPEAT` or `NF_QUEUE` (with `queue`),
    /// and optionally the packet mark and the conntrack mark. The last call wins.
    #[pyo3(signature = (verdict, mark=None, connmark=None, queue=0))]
    fn set_verdict(
        &self,
        verdict: i64,
        mark: Option<u32>,
        connmark: Option<u32>,
        queue: u16,
    ) -> PyResult<()> {
        if matches!(self.mode, Mode::Template | Mode::Staging) {
            return Err(PyRuntimeError::new_err(
                "set_verdict() needs the keyset of an interp() call",
            ));
        }
        let action = match verdict {
            api::NF_DROP => VerdictAction::Drop,
            api::NF_ACCEPT => VerdictAction::Accept,
            api::NF_QUEUE => VerdictAction::Queue(queue),
            api::NF_REPEAT => VerdictAction::Repeat,
            v => {
                return Err(pyo3::exceptions::PyValueError::new_err(format!(
                    "unknown verdict {v} (use ulogd.NF_ACCEPT, NF_DROP, NF_REPEAT or NF_QUEUE)"
                )))
            }
        };
        self.live()?.set_verdict(
            Verdict {
                action,
                mark,
                connmark,
            },
            true,
        );
        Ok(())
    }

    /// For a source's output keyset: hands the staged values to the stacks as one
    /// event and clears them. Returns 0.
    fn propagate_results(&self) -> PyResult<i32> {
        let Some(st) = &self.staging else {
            return Err(PyRuntimeError::new_err(
                "propagate_results() is for the keyset of get_output_keyset()",
            ));
        };
        let mut st = st.lock().unwrap_or_else(|e| e.into_inner());
        let vals = std::mem::replace(&mut st.vals, vec![None; self.meta.defs.len()]);
        st.queued.push_back(vals);
        Ok(0)
    }
}

/// One key of a keyset.
#[pyclass(unsendable, module = "ulogd", name = "Key")]
pub struct Key {
    set: Py<Keyset>,
    idx: usize,
}

#[pymethods]
impl Key {
    #[getter]
    fn name(&self, py: Python<'_>) -> PyResult<String> {
        self.set
            .borrow(py)
            .with_def(self.idx, |d| d.name.to_string())
    }
    #[getter(r#type)]
    fn ty(&self, py: Python<'_>) -> PyResult<u32> {
        self.set
            .borrow(py)
            .with_def(self.idx, |d| d.ty.code() as u32)
    }
    #[getter]
    fn flags(&self, py: Python<'_>) -> PyResult<u32> {
        let set = self.set.borrow(py);
        let f = set.with_def(self.idx, |d| d.flags.bits() as u32)?;
        let valid = set.is_set(self.idx).unwrap_or(false);
        Ok(f | if valid { api::RETF_VALID } else { 0 })
    }
    #[getter]
    fn len(&self, py: Python<'_>) -> PyResult<u32> {
        let set = self.set.borrow(py);
        let ty = set.with_def(self.idx, |d| d.ty)?;
        Ok(match ty {
            KeyType::I8 | KeyType::U8 | KeyType::Bool => 1,
            KeyType::I16 | KeyType::U16 => 2,
            KeyType::I32 | KeyType::U32 => 4,
            KeyType::I64 | KeyType::U64 => 8,
            KeyType::IpAddr => 16,
            _ => 0,
        })
    }
    #[getter]
    fn cim_name(&self, py: Python<'_>) -> PyResult<Option<String>> {
        self.set
            .borrow(py)
            .with_def(self.idx, |d| d.cim.map(str::to_string))
    }
    #[getter]
    fn ipfix_vendor(&self, py: Python<'_>) -> PyResult<u32> {
        self.set
            .borrow(py)
            .with_def(self.idx, |d| d.ipfix.map(|i| i.enterprise).unwrap_or(0))
    }
    #[getter]
    fn ipfix_field_id(&self, py: Python<'_>) -> PyResult<u16> {
        self.set
            .borrow(py)
            .with_def(self.idx, |d| d.ipfix.map(|i| i.id).unwrap_or(0))
    }
    /// The value: None when unset, else int, bool, ipaddress address, str or bytes.
    #[getter]
    fn value<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.set.borrow(py).get_value(py, self.idx)
    }
    #[setter(value)]
    fn set_value(&self, py: Python<'_>, v: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let none = py.None().into_bound(py);
        self.set.borrow(py).set_value(self.idx, v.unwrap_or(&none))
    }
    /// Whether the key has a value in this event.
    fn is_valid(&self, py: Python<'_>) -> PyResult<bool> {
        self.set.borrow(py).is_set(self.idx)
    }
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let set = self.set.borrow(py);
        let name = set.with_def(self.idx, |d| d.name.to_string())?;
        let v = match set.get_value(py, self.idx) {
            Ok(v) => v.repr()?.to_string(),
            Err(_) => "<write-only>".into(),
        };
        Ok(format!("<ulogd.Key {name}={v}>"))
    }
}
