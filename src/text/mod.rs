//! The stacktrace text that is embedded (SEER_API.md, "The stacktrace text").
//!
//! [`render_stacktrace`] turns an event into the line-oriented text that the
//! similarity model embeds:
//!
//! ```text
//! DatabaseError: connection refused
//!   File "app/views.py", function get_user
//!     user = db.connect().fetch(user_id)
//! KeyError: 'user_id'
//!   File "app/views.py", function get_user
//!     uid = request.args['user_id']
//! ```
//!
//! Rules where the spec leaves room (all stable, because a changed rendering
//! changes every embedding):
//!
//! - **Exceptions** are rendered outermost (most recent) first; only the
//!   [`TextLimits::max_exceptions`] most recent ones are considered at all.
//! - **Header**: `Type: value`; `Type` alone when the value is missing or
//!   blank; `None: value` when the type is missing; `None` when both are.
//!   Line breaks inside any rendered field become single spaces so the text
//!   keeps one item per line.
//! - **Frame line**: `  File "<filename>", function <function>` where the
//!   file is `filename`, else `module`, else `None`, and the function is
//!   `function`, else `None` (`abs_path` is never printed: it tends to carry
//!   user names and home directories).
//! - **Source line**: the trimmed `context_line`, indented four spaces, only
//!   when it is *usable*: non-blank and at most [`MAX_CONTEXT_LINE_CHARS`]
//!   characters (longer lines are minified bundles, not source).
//! - **Dropped frames**: a frame whose `filename` or `abs_path` is a base64
//!   `data:` URL is removed before anything else is decided.
//! - **In-app selection is per event**: if any remaining frame of the
//!   considered stacks is `in_app: true`, only in-app frames are rendered
//!   everywhere (an exception without in-app frames keeps its header, like
//!   Sentry's "app" grouping variant); otherwise every frame is rendered.
//! - **Frame budget**: [`TextLimits::max_frames`] in total, or
//!   [`TextLimits::max_minified_js_frames`] when the stack is fully minified
//!   JavaScript (at least one JavaScript frame and no JavaScript frame with a
//!   usable source line). The budget is spent greedily from the most recent
//!   end: the outermost exception keeps its last (crashing-side) frames
//!   first, then the next older exception takes what is left, and so on.
//!   Headers are always kept; an exception whose share is zero renders its
//!   header only.
//! - **Without exceptions** the top-level `stacktrace`, else the crashed,
//!   else the current, else the only thread's stack is rendered as one block
//!   whose header is the event's message (no header line when there is no
//!   message). When exceptions exist but none has a frame, that same stack
//!   is attached to the outermost exception (native SDKs send the crashing
//!   stack on the thread).
//! - **Refusals**: platform `other` — and a missing or blank platform, which
//!   Sentry normalizes to `other` — is [`NotRendered::PlatformOther`]; no
//!   frame anywhere is [`NotRendered::NoStacktrace`]; frames that were all
//!   data URLs is [`NotRendered::OnlyDataUrlFrames`].
//!
//! The renderer reads only types, values, messages and frame locations: the
//! event model has no local variables, request or user data to leak. Its
//! output still goes through [`crate::scrub::Scrubber`] before it is
//! embedded or stored, since exception values and messages can carry PII.
//! Long texts are not cut here: the token limit belongs to the embedder.

mod render;

pub use render::{MAX_CONTEXT_LINE_CHARS, NotRendered, TextLimits, render_stacktrace};
