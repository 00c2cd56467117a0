//! Keysets and keys as Python sees them: light objects over the event's slots that
//! convert only what the script reads or writes.
//!
//! A keyset of an `interp()` call points at the engine's `&mut Event` through a
//! [`LiveEvent`] shared by the call's input and output keysets. Every access goes
//! through [`LiveEvent::with`], which refuses a second access while one is running
//! (a script re-entering a keyset from a conversion callback gets a `RuntimeError`,
//! not two `&mut` to one event) and any access after the call.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use pyo3::exceptions::{PyAttributeError, PyIndexError, PyKeyError, PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyInt, PyList, PyString};
use ulogd_core::{Event, KeyDef, KeyType, Value, Verdict, VerdictAction};

use crate::bridge::Staged;
use crate::value::{from_py, to_py, KeyMeta, Owned};

/// `ULOGD_RETF_VALID`: the key has a value.
pub(crate) const RETF_VALID: u32 = 0x0001;
/// Kernel verdict codes (`NF_DROP`...).
pub(crate) const NF_DROP: i64 = 0;
pub(crate) const NF_ACCEPT: i64 = 1;
pub(crate) const NF_QUEUE: i64 = 3;
pub(crate) const NF_REPEAT: i64 = 4;

/// The event of the running `interp()` call, shared by its keysets, with a borrow
/// flag.
#[derive(Default)]
pub(crate) struct LiveEvent {
    ptr: Cell<Option<std::ptr::NonNull<Event<'static>>>>,
    busy: Cell<bool>,
}

impl LiveEvent {
    /// Points at `ev` until [`LiveEvent::detach`]. The lifetime is erased: the
    /// caller detaches before the event goes away (see `plugin::stage`).
    pub(crate) fn attach(&self, ev: &mut Event<'_>) {
        self.ptr
            .set(Some(std::ptr::NonNull::from(ev).cast::<Event<'static>>()));
    }

    pub(crate) fn detach(&self) {
        self.ptr.set(None);
    }

    pub(crate) fn is_attached(&self) -> bool {
        self.ptr.get().is_some()
    }

    /// Runs `f` with the event; an error if no call is running or if another access
    /// is (re-entrancy).
    #[allow(unsafe_code)]
    pub(crate) fn with<R>(
        &self,
        f: impl FnOnce(&mut Event<'static>) -> PyResult<R>,
    ) -> PyResult<R> {
        let Some(mut p) = self.ptr.get() else {
            return Err(PyRuntimeError::new_err(
                "keyset used outside the interp() call it was passed to",
            ));
        };
        if self.busy.replace(true) {
            return Err(PyRuntimeError::new_err(
                "keyset used re-entrantly (from inside another access to the same event)",
            ));
        }
        struct Release<'a>(&'a Cell<bool>);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                self.0.set(false);
            }
        }
        let _release = Release(&self.busy);
        // SAFETY: `ptr` is set only while the engine's `&mut Event` is lent to the
        // running `interp()` call on this thread (attach/detach bracket the call, and
        // the keysets are unsendable); `busy` makes this the only reference derived
        // from it until `f` returns, and `f` cannot keep it (the lifetime is the
        // closure's).
        f(unsafe { p.as_mut() })
    }
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
    /// The live event, only during the call.
    pub(crate) ev: Rc<LiveEvent>,
    pub(crate) staging: Option<Arc<Mutex<Staged>>>,
}

impl Keyset {
    pub(crate) fn new(meta: Arc<KeyMeta>, mode: Mode) -> Keyset {
        Keyset::on(meta, mode, Rc::default())
    }

    /// A keyset over `ev`, shared with the other keysets of the same call.
    pub(crate) fn on(meta: Arc<KeyMeta>, mode: Mode, ev: Rc<LiveEvent>) -> Keyset {
        Keyset {
            meta,
            mode,
            ev,
            staging: None,
        }
    }

    /// The declaration of key `i`: the producer's for a bound input of a live event.
    fn def_in<'s>(&'s self, ev: Option<&'s Event<'static>>, i: usize) -> PyResult<&'s KeyDef> {
        let d = match (self.mode, ev) {
            (Mode::Wildcard, Some(ev)) => ev.wildcard_def(i),
            (Mode::Input, Some(ev)) => ev.input_def(i).or_else(|| self.meta.defs.get(i)),
            _ => self.meta.defs.get(i),
        };
        d.ok_or_else(|| PyIndexError::new_err("key index out of range"))
    }

    pub(crate) fn len_(&self) -> usize {
        match self.mode {
            Mode::Wildcard => self.ev.with(|e| Ok(e.wildcard_len())).unwrap_or(0),
            _ => self.meta.defs.len(),
        }
    }

    /// Runs `f` with the declaration (the producer's, for bound inputs) of key `i`.
    pub(crate) fn with_def<R>(&self, i: usize, f: impl FnOnce(&KeyDef) -> R) -> PyResult<R> {
        match self.mode {
            Mode::Wildcard => self.ev.with(|ev| self.def_in(Some(ev), i).map(f)),
            Mode::Input if self.ev.is_attached() => {
                self.ev.with(|ev| self.def_in(Some(ev), i).map(f))
            }
            _ => self.def_in(None, i).map(f),
        }
    }

    fn index_of(&self, key: &Bound<'_, PyAny>) -> PyResult<usize> {
        if let Ok(s) = key.cast::<PyString>() {
            let s = s.to_cow()?;
            if self.mode == Mode::Wildcard {
                return self.ev.with(|ev| {
                    (0..ev.wildcard_len())
                        .rev()
                        .find(|&i| ev.wildcard_def(i).is_some_and(|d| d.name == *s))
                        .ok_or_else(|| PyKeyError::new_err(s.to_string()))
                });
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
            Mode::Input => self.ev.with(|ev| {
                let ty = self.def_in(Some(ev), i)?.ty;
                to_py(py, ty, ev.get(i))
            }),
            Mode::Wildcard => self.ev.with(|ev| {
                let ty = self.def_in(Some(ev), i)?.ty;
                to_py(py, ty, ev.wildcard_get(i))
            }),
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
            Mode::Input => self.ev.with(|ev| Ok(ev.is_set(i)))?,
            Mode::Wildcard => self.ev.with(|ev| Ok(ev.wildcard_get(i).is_some()))?,
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
                // Converted first: from_py may run Python code, which must not find
                // the event borrowed.
                let v = from_py(&def.name, def.ty, obj)?;
                self.ev.with(|ev| {
                    match v {
                        None => ev.unset(i),
                        Some(v) => v.write(ev, i),
                    }
                    Ok(())
                })
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
            NF_DROP => VerdictAction::Drop,
            NF_ACCEPT => VerdictAction::Accept,
            NF_QUEUE => VerdictAction::Queue(queue),
            NF_REPEAT => VerdictAction::Repeat,
            v => {
                return Err(pyo3::exceptions::PyValueError::new_err(format!(
                    "unknown verdict {v} (use ulogd.NF_ACCEPT, NF_DROP, NF_REPEAT or NF_QUEUE)"
                )))
            }
        };
        self.ev.with(|ev| {
            ev.set_verdict(
                Verdict {
                    action,
                    mark,
                    connmark,
                },
                true,
            );
            Ok(())
        })
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
        Ok(f | if valid { RETF_VALID } else { 0 })
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use ulogd_core::{
        Emit, EngineBuilder, Flow, Inputs, KeyType, PluginError, Ret, Source, SourceSetup, Stage,
        Wake,
    };

    use super::*;

    struct One;
    impl Source for One {
        fn start(&mut self, _s: &mut dyn SourceSetup) -> Result<(), PluginError> {
            Ok(())
        }
        fn run(&mut self, _w: Wake, emit: &mut dyn Emit) -> Result<Flow, PluginError> {
            let _ = emit.emit(&mut |ev| {
                ev.set_u64(0, 42);
                true
            });
            Ok(Flow::Finished)
        }
    }

    /// Checks the borrow flag on a real event.
    struct Probe(AtomicUsize);
    impl Stage for Probe {
        fn interp(&self, ev: &mut Event<'_>) -> Ret {
            let live = LiveEvent::default();
            assert!(live.with(|_| Ok(())).is_err(), "no event attached yet");
            live.attach(ev);
            assert_eq!(live.with(|e| Ok(e.u64(0))).ok().flatten(), Some(42));
            // A second access while one runs is refused, not aliased.
            let nested = live
                .with(|_| Ok(live.with(|_| Ok(())).is_err()))
                .unwrap_or(false);
            assert!(nested, "re-entrant access was allowed");
            // The flag is released afterwards, also after an error inside.
            let _ = live.with(|_| -> PyResult<()> { Err(PyRuntimeError::new_err("x")) });
            assert!(live.with(|_| Ok(())).is_ok());
            live.detach();
            assert!(live.with(|_| Ok(())).is_err(), "used after detach");
            self.0.fetch_add(1, Ordering::Relaxed);
            Ret::Ok
        }
    }

    #[test]
    fn live_event_refuses_reentrant_and_late_access() {
        let k = KeyDef::new("n", KeyType::U64);
        let probe = std::sync::Arc::new(Probe(AtomicUsize::new(0)));
        let report = EngineBuilder::default()
            .source("s", Box::new(One), vec![k.clone()])
            .stage("p", probe.clone(), Inputs::Keys(vec![k]), vec![])
            .stack(&["s", "p"])
            .build()
            .unwrap_or_else(|e| panic!("{e:?}"))
            .run()
            .unwrap();
        assert_eq!(probe.0.load(Ordering::Relaxed), 1);
        assert_eq!(report.get("p", "errors"), Some(0));
    }
}
