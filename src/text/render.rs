//! Rendering an event's stacks to the embedded text (rules in `super`'s docs).

use crate::event::{Event, Exception, Family, Frame};

/// Source lines longer than this (in characters, after trimming) are not
/// rendered and do not count as "usable": they are minified bundles.
pub const MAX_CONTEXT_LINE_CHARS: usize = 1000;

/// What is printed for a missing type, file or function (Python's `None`,
/// as in the reference rendering).
const MISSING: &str = "None";

/// Size limits of the rendered text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextLimits {
    /// Frames in total across all exceptions (most recent kept).
    pub max_frames: usize,
    /// Exceptions considered, most recent first.
    pub max_exceptions: usize,
    /// Frame budget instead of `max_frames` when the stack is fully minified
    /// JavaScript (no usable source line in any JavaScript frame).
    pub max_minified_js_frames: usize,
}

impl Default for TextLimits {
    fn default() -> Self {
        TextLimits {
            max_frames: 30,
            max_exceptions: 30,
            max_minified_js_frames: 20,
        }
    }
}

/// Why an event has no stacktrace text (and so is not embedded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotRendered {
    #[error("not rendered: the event has no stacktrace frames")]
    NoStacktrace,
    #[error("not rendered: events of platform `other` (or without a platform) are not embedded")]
    PlatformOther,
    #[error("not rendered: every stacktrace frame was a base64 data URL")]
    OnlyDataUrlFrames,
}

/// The first line of a block.
#[derive(Debug, Clone, Copy)]
enum Header<'e> {
    Exception(&'e Exception),
    Message(&'e str),
}

/// One header and the frames rendered under it, caller first.
#[derive(Debug)]
struct Block<'e> {
    header: Option<Header<'e>>,
    frames: Vec<&'e Frame>,
}

/// Renders `event` as the text that is embedded, or says why it cannot be.
///
/// Never panics; the result has no trailing newline.
pub fn render_stacktrace(event: &Event, limits: &TextLimits) -> Result<String, NotRendered> {
    if is_platform_other(event.platform.as_deref()) {
        return Err(NotRendered::PlatformOther);
    }
    let mut blocks = collect_blocks(event, limits.max_exceptions);
    if frame_count(&blocks) == 0 {
        return Err(NotRendered::NoStacktrace);
    }
    for block in &mut blocks {
        block.frames.retain(|frame| !is_data_url_frame(frame));
    }
    if frame_count(&blocks) == 0 {
        return Err(NotRendered::OnlyDataUrlFrames);
    }
    select_in_app(&mut blocks);
    let budget = if is_fully_minified_js(&blocks, event.platform.as_deref()) {
        limits.max_frames.min(limits.max_minified_js_frames)
    } else {
        limits.max_frames
    };
    spread_frame_budget(&mut blocks, budget);
    Ok(render_blocks(&blocks))
}

/// Sentry normalizes a missing platform to `other`, so both are refused.
fn is_platform_other(platform: Option<&str>) -> bool {
    platform.is_none_or(|p| {
        let p = p.trim();
        p.is_empty() || p.eq_ignore_ascii_case("other")
    })
}

/// The blocks to render, most recent first, with all their frames.
fn collect_blocks(event: &Event, max_exceptions: usize) -> Vec<Block<'_>> {
    let mut blocks: Vec<Block<'_>> = event
        .exceptions()
        .iter()
        .rev()
        .take(max_exceptions)
        .map(|exception| Block {
            header: Some(Header::Exception(exception)),
            frames: exception_frames(exception).iter().collect(),
        })
        .collect();

    if blocks.is_empty() {
        if let Some(frames) = fallback_stack(event, None) {
            blocks.push(Block {
                header: event.message_text().map(Header::Message),
                frames: frames.iter().collect(),
            });
        }
    } else if frame_count(&blocks) == 0 {
        // Native SDKs put the crashing stack on the thread, not the exception.
        let outermost_thread = event.exceptions().last().and_then(|e| e.thread_id.as_ref());
        if let (Some(frames), Some(first)) =
            (fallback_stack(event, outermost_thread), blocks.first_mut())
        {
            first.frames = frames.iter().collect();
        }
    }
    blocks
}

fn exception_frames(exception: &Exception) -> &[Frame] {
    exception
        .stacktrace
        .as_ref()
        .map_or(&[], |stacktrace| stacktrace.frames.as_slice())
}

/// The stack of an event without usable exception frames: the thread the
/// exception names, the top-level `stacktrace`, then the crashed, current or
/// only thread — the first of these that has frames.
fn fallback_stack<'e>(
    event: &'e Event,
    thread_id: Option<&serde_json::Value>,
) -> Option<&'e [Frame]> {
    let threads = event.threads();
    let thread_frames = |pick: &dyn Fn(&crate::event::Thread) -> bool| {
        threads
            .iter()
            .filter(|thread| pick(thread))
            .filter_map(|thread| thread.stacktrace.as_ref())
            .map(|stacktrace| stacktrace.frames.as_slice())
            .find(|frames| !frames.is_empty())
    };
    let named = thread_id.and_then(|id| thread_frames(&|t| t.id.as_ref() == Some(id)));
    let top_level = || {
        event
            .stacktrace
            .as_ref()
            .map(|stacktrace| stacktrace.frames.as_slice())
            .filter(|frames| !frames.is_empty())
    };
    named
        .or_else(top_level)
        .or_else(|| thread_frames(&|t| t.crashed == Some(true)))
        .or_else(|| thread_frames(&|t| t.current == Some(true)))
        .or_else(|| {
            (threads.len() == 1)
                .then(|| thread_frames(&|_| true))
                .flatten()
        })
}

fn frame_count(blocks: &[Block<'_>]) -> usize {
    blocks.iter().map(|block| block.frames.len()).sum()
}

/// A frame loaded from a base64 `data:` URL (inline script): no file to
/// name, and its "filename" is an arbitrarily long blob.
fn is_data_url_frame(frame: &Frame) -> bool {
    [frame.filename.as_deref(), frame.abs_path.as_deref()]
        .into_iter()
        .flatten()
        .any(is_base64_data_url)
}

fn is_base64_data_url(path: &str) -> bool {
    let path = path.trim_start();
    let Some(prefix) = path.get(..5) else {
        return false;
    };
    prefix.eq_ignore_ascii_case("data:") && path.contains(";base64,")
}

/// Per event: in-app frames only when there is any, else all frames.
fn select_in_app(blocks: &mut [Block<'_>]) {
    let any_in_app = blocks
        .iter()
        .flat_map(|block| &block.frames)
        .any(|frame| frame.in_app == Some(true));
    if any_in_app {
        for block in blocks {
            block.frames.retain(|frame| frame.in_app == Some(true));
        }
    }
}

/// At least one JavaScript frame, and none with a usable source line.
fn is_fully_minified_js(blocks: &[Block<'_>], event_platform: Option<&str>) -> bool {
    let mut js_frames = blocks
        .iter()
        .flat_map(|block| &block.frames)
        .filter(|frame| {
            Family::of_frame(frame.platform.as_deref(), event_platform) == Family::JavaScript
        })
        .peekable();
    js_frames.peek().is_some() && js_frames.all(|frame| usable_context_line(frame).is_none())
}

/// Spends `budget` from the most recent end: the outermost block's last
/// frames first, then the next older block with what is left.
fn spread_frame_budget(blocks: &mut [Block<'_>], budget: usize) {
    let mut remaining = budget;
    for block in blocks {
        let keep = block.frames.len().min(remaining);
        let drop = block.frames.len() - keep;
        block.frames.drain(..drop);
        remaining -= keep;
    }
}

fn usable_context_line(frame: &Frame) -> Option<&str> {
    let line = frame.context_line.as_deref()?.trim();
    let usable = !line.is_empty() && line.chars().count() <= MAX_CONTEXT_LINE_CHARS;
    usable.then_some(line)
}

fn render_blocks(blocks: &[Block<'_>]) -> String {
    let mut lines: Vec<String> = Vec::new();
    for block in blocks {
        match block.header {
            Some(Header::Exception(exception)) => lines.push(exception_header(exception)),
            Some(Header::Message(message)) => lines.push(single_line(message.trim())),
            None => {}
        }
        for frame in &block.frames {
            lines.push(frame_line(frame));
            if let Some(source) = usable_context_line(frame) {
                lines.push(format!("    {}", single_line(source)));
            }
        }
    }
    lines.join("\n")
}

/// `Type: value`, `Type` without a value, `None` standing in for no type.
fn exception_header(exception: &Exception) -> String {
    let ty = non_blank(exception.ty.as_deref()).unwrap_or(MISSING);
    match non_blank(exception.value.as_deref()) {
        Some(value) => format!("{}: {}", single_line(ty), single_line(value)),
        None => single_line(ty),
    }
}

fn frame_line(frame: &Frame) -> String {
    let file = non_blank(frame.filename.as_deref())
        .or_else(|| non_blank(frame.module.as_deref()))
        .unwrap_or(MISSING);
    let function = non_blank(frame.function.as_deref()).unwrap_or(MISSING);
    format!(
        "  File \"{}\", function {}",
        single_line(file),
        single_line(function)
    )
}

/// The trimmed text, or `None` when it is missing or blank.
fn non_blank(text: Option<&str>) -> Option<&str> {
    text.map(str::trim).filter(|t| !t.is_empty())
}

/// Line breaks become spaces so every rendered item stays on one line.
fn single_line(text: &str) -> String {
    text.replace("\r\n", " ").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_url_detection() {
        assert!(is_base64_data_url("data:text/javascript;base64,AAAA"));
        assert!(is_base64_data_url(
            "DATA:application/js;charset=utf-8;base64,QQ=="
        ));
        assert!(!is_base64_data_url("data:text/plain,hello"));
        assert!(!is_base64_data_url("app/data.js"));
        assert!(!is_base64_data_url("dat"));
        assert!(!is_base64_data_url("dé"));
    }

    #[test]
    fn missing_platform_counts_as_other() {
        assert!(is_platform_other(None));
        assert!(is_platform_other(Some(" ")));
        assert!(is_platform_other(Some("Other")));
        assert!(!is_platform_other(Some("python")));
        assert!(!is_platform_other(Some("perl")));
    }

    #[test]
    fn headers_for_missing_parts() {
        let header = |ty: Option<&str>, value: Option<&str>| {
            exception_header(&Exception {
                ty: ty.map(String::from),
                value: value.map(String::from),
                ..Exception::default()
            })
        };
        assert_eq!(header(Some("KeyError"), Some("'x'")), "KeyError: 'x'");
        assert_eq!(header(Some("KeyError"), Some("  ")), "KeyError");
        assert_eq!(header(None, Some("boom")), "None: boom");
        assert_eq!(header(None, None), "None");
        assert_eq!(header(Some("E"), Some("a\nb\r\nc")), "E: a b c");
    }

    #[test]
    fn budget_is_spent_from_the_most_recent_end() {
        let frames: Vec<Frame> = (0..5)
            .map(|i| Frame {
                function: Some(format!("f{i}")),
                ..Frame::default()
            })
            .collect();
        let mut blocks = vec![
            Block {
                header: None,
                frames: frames[..3].iter().collect(),
            },
            Block {
                header: None,
                frames: frames[3..].iter().collect(),
            },
        ];
        spread_frame_budget(&mut blocks, 4);
        let names = |b: &Block<'_>| -> Vec<String> {
            b.frames
                .iter()
                .map(|f| f.function.clone().unwrap_or_default())
                .collect()
        };
        assert_eq!(names(&blocks[0]), ["f0", "f1", "f2"]);
        assert_eq!(names(&blocks[1]), ["f4"]);
    }
}
