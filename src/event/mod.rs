//! The event model and its validation.

mod model;
mod parse;
mod platform;

pub use model::{
    Event, Exception, Exceptions, Frame, LogEntry, Mechanism, Message, Sdk, Stacktrace, Tags,
    Thread, Threads,
};
pub use parse::{
    EventError, EventLimits, apply_limits, check_depth, event_from_value, parse_event,
    truncate_string,
};
pub use platform::Family;
