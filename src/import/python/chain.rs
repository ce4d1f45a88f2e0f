//! How Python's exceptions hang together, and how sentry-python numbers them.
//!
//! A chain is printed oldest first; each exception but the last is the
//! `__cause__` or `__context__` of the next. An exception group also has
//! members, each a chain of its own. sentry-python numbers the tree depth
//! first from the outermost exception (id 0): an exception, then its cause
//! with everything below it, then its members, `exceptions[i]` as their
//! source. The list it sends is that order reversed.

use crate::event::{Exception, Mechanism};

/// One printed exception.
pub(super) struct Item {
    pub exception: Exception,
    /// How it is attached to the next item of its chain (`__cause__` or
    /// `__context__`); `None` for the last.
    pub link: Option<&'static str>,
    /// Set for an exception group; its members, in order.
    pub members: Option<Vec<Chain>>,
}

/// Items oldest first; the last is the outermost.
pub(super) type Chain = Vec<Item>;

/// The exceptions in Sentry's order (innermost first), numbered when there
/// is more than one.
pub(super) fn into_exceptions(chain: Chain) -> Vec<Exception> {
    let mut out = Vec::new();
    let mut next_id = 0;
    number(chain, None, None, &mut next_id, &mut out);
    if out.len() == 1 {
        // A lone exception needs no links; sentry-python sends none either.
        if let Some(only) = out.first_mut() {
            only.mechanism = only
                .mechanism
                .take()
                .filter(|m| m.is_exception_group == Some(true));
            if let Some(mechanism) = only.mechanism.as_mut() {
                mechanism.exception_id = None;
            }
        }
    }
    out.reverse();
    out
}

/// Numbers one chain whose outermost item hangs below `parent` by
/// `source`. Recursion only goes down group members, which Python itself
/// prints at most ten levels deep (and the parser stops there too).
fn number(
    chain: Chain,
    parent: Option<u64>,
    source: Option<String>,
    next_id: &mut u64,
    out: &mut Vec<Exception>,
) {
    let mut parent = parent;
    let mut source = source;
    let mut groups: Vec<(u64, Vec<Chain>)> = Vec::new();
    for (position, item) in chain.into_iter().rev().enumerate() {
        // The outermost hangs by `source`; the others by their own link.
        let item_source = if position == 0 {
            source.take()
        } else {
            item.link.map(str::to_string)
        };
        let id = *next_id;
        *next_id += 1;
        let mut exception = item.exception;
        let mechanism = exception.mechanism.get_or_insert_with(Mechanism::default);
        mechanism.exception_id = Some(id);
        mechanism.parent_id = parent;
        mechanism.source = item_source;
        if parent.is_some() {
            mechanism.ty = Some("chained".to_string());
        }
        if let Some(members) = item.members {
            mechanism.is_exception_group = Some(true);
            groups.push((id, members));
        }
        out.push(exception);
        parent = Some(id);
    }
    // Members come after the whole cause subtree: the oldest group's first.
    for (id, members) in groups.into_iter().rev() {
        for (index, member) in members.into_iter().enumerate() {
            number(
                member,
                Some(id),
                Some(format!("exceptions[{index}]")),
                next_id,
                out,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(ty: &str, link: Option<&'static str>, members: Option<Vec<Chain>>) -> Item {
        Item {
            exception: Exception {
                ty: Some(ty.to_string()),
                ..Exception::default()
            },
            link,
            members,
        }
    }

    /// type, exception_id, parent_id, source.
    type Link = (String, Option<u64>, Option<u64>, Option<String>);

    fn ids(exceptions: &[Exception]) -> Vec<Link> {
        exceptions
            .iter()
            .map(|e| {
                let m = e.mechanism.clone().unwrap_or_default();
                (
                    e.ty.clone().unwrap_or_default(),
                    m.exception_id,
                    m.parent_id,
                    m.source,
                )
            })
            .collect()
    }

    #[test]
    fn chains_number_from_the_outermost() {
        let chain = vec![
            item("KeyError", Some("__context__"), None),
            item("TypeError", None, None),
        ];
        assert_eq!(
            ids(&into_exceptions(chain)),
            [
                (
                    "KeyError".into(),
                    Some(1),
                    Some(0),
                    Some("__context__".into())
                ),
                ("TypeError".into(), Some(0), None, None),
            ]
        );
    }

    #[test]
    fn groups_number_their_cause_before_their_members() {
        let members = vec![
            vec![item("ValueError", None, None)],
            vec![item("OSError", None, None)],
        ];
        let chain = vec![
            item("RuntimeError", Some("__cause__"), None),
            item("ExceptionGroup", None, Some(members)),
        ];
        let exceptions = into_exceptions(chain);
        assert_eq!(
            ids(&exceptions),
            [
                (
                    "OSError".into(),
                    Some(3),
                    Some(0),
                    Some("exceptions[1]".into())
                ),
                (
                    "ValueError".into(),
                    Some(2),
                    Some(0),
                    Some("exceptions[0]".into())
                ),
                (
                    "RuntimeError".into(),
                    Some(1),
                    Some(0),
                    Some("__cause__".into())
                ),
                ("ExceptionGroup".into(), Some(0), None, None),
            ]
        );
        let group = exceptions[3].mechanism.as_ref().expect("mechanism");
        assert_eq!(group.is_exception_group, Some(true));
    }

    #[test]
    fn a_lone_exception_has_no_mechanism() {
        let exceptions = into_exceptions(vec![item("ValueError", None, None)]);
        assert_eq!(exceptions[0].mechanism, None);
    }
}
