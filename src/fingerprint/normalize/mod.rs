//! Per-platform normalization of frame fields.
//!
//! Each platform family has its own spelling of the same code location; the
//! functions here reduce a module or function name to the parts that stay
//! the same across builds, runtimes and browsers. `None` means the name
//! carries nothing stable and is ignored.

pub mod csharp;
pub mod filename;
pub mod go;
pub mod java;
pub mod javascript;
pub mod native;
pub mod php;
pub mod ruby;

use crate::event::Family;

pub use javascript::javascript_module_from_url;
pub use native::trim_native_function;

/// Normalizes a function name for its family; `None` when it is ignored.
pub fn normalize_function(raw: &str, family: Family) -> Option<String> {
    match family {
        Family::Native => native::trim_native_function(raw),
        Family::JavaScript => javascript::normalize_function(raw),
        Family::Java => java::normalize_function(raw),
        Family::Ruby => ruby::normalize_function(raw),
        Family::Php => php::normalize_function(raw),
        Family::CSharp => csharp::normalize_function(raw),
        Family::Go => go::normalize_function(raw),
        Family::Python | Family::Other => {
            let name = raw.trim();
            (!name.is_empty()).then(|| name.to_string())
        }
    }
}

/// A module after normalization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleName {
    /// Contributes with this value.
    Stable(String),
    /// Shown with this value, but ignored for the given reason.
    Ignored(String, &'static str),
}

/// Normalizes a module (Java class, .NET type, Python module, …) for its family.
pub fn normalize_module(raw: &str, family: Family) -> Option<ModuleName> {
    let module = raw.trim();
    if module.is_empty() {
        return None;
    }
    Some(match family {
        Family::Java if java::is_lambda_class(module) => ModuleName::Ignored(
            java::normalize_generated(module),
            "ignored because it is a generated lambda class",
        ),
        Family::Java => ModuleName::Stable(java::normalize_generated(module)),
        Family::CSharp => ModuleName::Stable(csharp::normalize_generated(module)),
        _ => ModuleName::Stable(module.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_dispatch() {
        assert_eq!(
            normalize_function("foo(int)", Family::Native).as_deref(),
            Some("foo")
        );
        assert_eq!(
            normalize_function("Object.foo", Family::JavaScript).as_deref(),
            Some("foo")
        );
        assert_eq!(normalize_function("lambda$x$0", Family::Java), None);
        assert_eq!(
            normalize_function("block in x", Family::Ruby).as_deref(),
            Some("block")
        );
        assert_eq!(
            normalize_function("<lambda>", Family::Python).as_deref(),
            Some("<lambda>")
        );
        assert_eq!(normalize_function("  ", Family::Other), None);
    }

    #[test]
    fn modules() {
        assert_eq!(
            normalize_module("a.B$$Lambda$1/0x01", Family::Java),
            Some(ModuleName::Ignored(
                "a.B$$Lambda$1/0x01".to_string(),
                "ignored because it is a generated lambda class"
            ))
        );
        assert_eq!(
            normalize_module("a.B$Proxy12", Family::Java),
            Some(ModuleName::Stable("a.B$Proxy<auto>".to_string()))
        );
        assert_eq!(normalize_module(" ", Family::Python), None);
    }
}
