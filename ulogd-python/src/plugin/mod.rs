//! The PYTHON plugin itself: a source, or a filter/sink. Uses every layer below.

pub(crate) mod source;
pub(crate) mod stage;
