//! Values between the engine and Python: a side's key declarations with a name
//! index, owned values staged by sources, and the conversions both ways (natural
//! Python types; a wrong type is a `TypeError` naming the key). Uses only `host`'s
//! layer below it (nothing of this crate, in fact).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyInt, PyMemoryView, PyString};
use ulogd_core::{Event, KeyDef, KeyType, Value};

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
