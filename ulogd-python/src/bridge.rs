//! What a PYTHON source shares with the Python objects it hands out: requests
//! from the script (arm a timer, watch an fd, finish), staged output values, and
//! the source whose callback runs on this thread (`CURRENT`, for `ulogd.Timer()`
//! and `ulogd.Fd()`). Below the API layer; uses `value`.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;

use crate::value::{KeyMeta, Owned};

/// Output values being filled, and events propagated but not emitted yet.
pub(crate) struct Staged {
    pub vals: Vec<Option<Owned>>,
    pub queued: VecDeque<Vec<Option<Owned>>>,
}

/// What the script asked the loop to do during a call. The objects are the
/// `ulogd.Timer` / `ulogd.Fd` that asked (typed `PyAny` here so this layer does not
/// depend on the API layer above it; the source casts them back).
pub(crate) enum Req {
    Arm(Py<PyAny>, f64),
    Cancel(Py<PyAny>),
    AddFd(Py<PyAny>),
    DelFd(Py<PyAny>),
    Finish,
}

/// State shared between a source and the Python objects it hands out.
pub(crate) struct SrcCtx {
    pub reqs: Mutex<Vec<Req>>,
    pub staged: Arc<Mutex<Staged>>,
    pub meta: Arc<KeyMeta>,
}

impl SrcCtx {
    pub(crate) fn push(&self, r: Req) {
        self.reqs.lock().unwrap_or_else(|e| e.into_inner()).push(r);
    }
}

thread_local! {
    /// The source whose callback is running on this thread (for `Timer` and `Fd`).
    pub(crate) static CURRENT: RefCell<Option<Arc<SrcCtx>>> = const { RefCell::new(None) };
}

/// Marks `ctx` as the running source while alive.
pub(crate) struct Current;

impl Current {
    pub(crate) fn set(ctx: &Arc<SrcCtx>) -> Current {
        CURRENT.with(|c| *c.borrow_mut() = Some(ctx.clone()));
        Current
    }
}

impl Drop for Current {
    fn drop(&mut self) {
        CURRENT.with(|c| *c.borrow_mut() = None);
    }
}
