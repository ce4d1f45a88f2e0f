//! One frame's grouping component (placeholder until normalization lands).
use super::component::Component;
use crate::event::{Family, Frame};

/// The `frame` component: children `module`, `filename`, `function`, `context_line`.
pub fn frame_component(frame: &Frame, _family: Family) -> Component {
    let mut component = Component::new("frame");
    if let Some(function) = &frame.function {
        component.push_child(Component::leaf("function", function.clone()));
    }
    component
}
