//! One frame's grouping component.
//!
//! A frame contributes `module`, `filename`, `function` and `context_line`,
//! in that order, each normalized for the frame's platform family. Fields
//! that are present but ignored stay in the tree as non-contributing
//! children with a hint, so people can see why. Line and column numbers are
//! never read.

use super::component::Component;
use super::normalize::{self, ModuleName, filename, javascript};
use crate::event::{Family, Frame};

/// Context lines longer than this are minified code or data, not source.
const MAX_CONTEXT_LINE_CHARS: usize = 120;

/// The `frame` component: children `module`, `filename`, `function`, `context_line`.
pub fn frame_component(frame: &Frame, family: Family) -> Component {
    let mut component = Component::new("frame");
    let module = module_component(frame, family);
    let has_module = module.is_some();
    let children = [
        module,
        filename_component(frame, family, has_module),
        function_component(frame, family),
        context_line_component(frame, family),
    ];
    for child in children.into_iter().flatten() {
        component.push_child(child);
    }
    if family == Family::JavaScript {
        let reason = javascript::dropped_frame_reason(
            frame.function.as_deref(),
            frame.abs_path.as_deref(),
            frame.filename.as_deref(),
        );
        if let Some(reason) = reason {
            component.exclude(reason);
        }
    }
    component
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|value| !value.is_empty())
}

/// The frame's module, or for JavaScript one derived from its bundle URL.
fn module_component(frame: &Frame, family: Family) -> Option<Component> {
    if let Some(raw) = non_empty(frame.module.as_deref()) {
        return normalize::normalize_module(raw, family).map(|module| match module {
            ModuleName::Stable(value) => Component::leaf("module", value),
            ModuleName::Ignored(value, why) => Component::leaf("module", value).excluded(why),
        });
    }
    if family != Family::JavaScript {
        return None;
    }
    let url = [frame.abs_path.as_deref(), frame.filename.as_deref()]
        .into_iter()
        .flatten()
        .find(|path| javascript::is_bundle_url(path))?;
    let module = javascript::javascript_module_from_url(url)?;
    Some(Component::leaf("module", module).with_hint("derived from the bundle URL"))
}

/// The file's basename, lowercased; ignored under a module or a URL.
fn filename_component(frame: &Frame, family: Family, has_module: bool) -> Option<Component> {
    let raw = non_empty(frame.filename.as_deref())?;
    let path = if family == Family::JavaScript {
        filename::without_query(raw)
    } else {
        raw
    };
    let name = filename::basename(path);
    if name.is_empty() {
        return None;
    }
    let mut component = Component::leaf("filename", name);
    // abs_path decides; without one, the filename is the best evidence.
    let location = non_empty(frame.abs_path.as_deref()).unwrap_or(raw);
    if has_module {
        component.exclude("module takes precedence");
    } else if filename::is_url(location) {
        component.exclude("ignored because the file is a URL");
    } else if filename::is_opaque(location) {
        component.exclude("ignored because the frame has no source file");
    }
    Some(component)
}

/// The normalized function; native frames fall back to `raw_function`.
fn function_component(frame: &Frame, family: Family) -> Option<Component> {
    let raw = non_empty(frame.function.as_deref()).or_else(|| {
        (family == Family::Native)
            .then(|| non_empty(frame.raw_function.as_deref()))
            .flatten()
    })?;
    Some(match normalize::normalize_function(raw, family) {
        Some(name) => Component::leaf("function", name),
        None => Component::leaf("function", raw).excluded("ignored unknown function name"),
    })
}

/// The source line, whitespace collapsed; only some families use it.
fn context_line_component(frame: &Frame, family: Family) -> Option<Component> {
    let raw = frame.context_line.as_deref()?;
    let line = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.is_empty() {
        return None;
    }
    let too_long = line.chars().count() > MAX_CONTEXT_LINE_CHARS;
    let mut component = Component::leaf("context_line", line);
    if !family.context_line_contributes() {
        component.exclude("context line only contributes for javascript, python, php and ruby");
    } else if too_long {
        component.exclude("ignored because the line is too long");
    }
    Some(component)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(function: &str) -> Frame {
        Frame {
            function: Some(function.to_string()),
            ..Frame::default()
        }
    }

    fn signature(frame: &Frame, family: Family) -> Vec<(String, Vec<String>)> {
        frame_component(frame, family)
            .contributing_signature()
            .into_iter()
            .map(|(id, leaves)| {
                (
                    id.to_string(),
                    leaves.into_iter().map(str::to_string).collect(),
                )
            })
            .collect()
    }

    fn leaves(frame: &Frame, family: Family) -> Vec<String> {
        frame_component(frame, family)
            .contributing_leaves()
            .into_iter()
            .map(str::to_string)
            .collect()
    }

    fn child_ids(component: &Component) -> Vec<&str> {
        component.children().map(|c| c.id).collect()
    }

    #[test]
    fn children_come_in_order_and_module_wins() {
        let f = Frame {
            module: Some("app.views".into()),
            filename: Some("app/views.py".into()),
            function: Some("index".into()),
            context_line: Some("    return  render(x)  ".into()),
            lineno: Some(12),
            ..Frame::default()
        };
        let component = frame_component(&f, Family::Python);
        assert_eq!(
            child_ids(&component),
            ["module", "filename", "function", "context_line"]
        );
        let filename = component.child("filename").expect("filename child");
        assert!(!filename.contributes);
        assert_eq!(filename.hint.as_deref(), Some("module takes precedence"));
        assert_eq!(
            leaves(&f, Family::Python),
            ["app.views", "index", "return render(x)"]
        );
    }

    #[test]
    fn line_numbers_never_contribute() {
        let mut a = frame("f");
        a.filename = Some("a.py".into());
        a.lineno = Some(1);
        a.colno = Some(2);
        let mut b = a.clone();
        b.lineno = Some(99);
        b.colno = None;
        assert_eq!(leaves(&a, Family::Python), leaves(&b, Family::Python));
    }

    #[test]
    fn filename_is_basename_and_url_files_are_ignored() {
        let mut f = frame("main");
        f.filename = Some(r"C:\Src\Main.CPP".into());
        assert_eq!(leaves(&f, Family::Native), ["main.cpp", "main"]);

        let mut web = frame("f");
        web.filename = Some("/x/app.py".into());
        web.abs_path = Some("https://example.com/x/app.py".into());
        let component = frame_component(&web, Family::Python);
        let filename = component.child("filename").expect("filename child");
        assert!(!filename.contributes);
        assert_eq!(leaves(&web, Family::Python), ["f"]);
    }

    #[test]
    fn context_line_rules() {
        let mut f = frame("f");
        f.context_line = Some("x".repeat(121));
        let component = frame_component(&f, Family::JavaScript);
        assert!(!component.child("context_line").expect("child").contributes);
        f.context_line = Some("x = 1".into());
        let component = frame_component(&f, Family::Java);
        let line = component.child("context_line").expect("child");
        assert!(!line.contributes);
        assert!(line.hint.is_some());
        let component = frame_component(&f, Family::Ruby);
        assert!(component.child("context_line").expect("child").contributes);
    }

    #[test]
    fn native_falls_back_to_raw_function() {
        let f = Frame {
            raw_function: Some("  void foo::bar<int>(int) const ".into()),
            ..Frame::default()
        };
        assert_eq!(leaves(&f, Family::Native), ["foo::bar<T>"]);
        // Other families do not read raw_function.
        assert!(leaves(&f, Family::Python).is_empty());
        let unknown = frame("<unknown>");
        let component = frame_component(&unknown, Family::Native);
        let function = component.child("function").expect("child");
        assert!(!function.contributes);
        assert_eq!(function.all_leaves(), ["<unknown>"]);
    }

    fn browser_frame(function: &str, abs_path: &str) -> Frame {
        Frame {
            function: Some(function.to_string()),
            abs_path: Some(abs_path.to_string()),
            filename: Some(
                abs_path
                    .trim_start_matches("https://cdn.example.com")
                    .to_string(),
            ),
            lineno: Some(1),
            colno: Some(4242),
            platform: Some("javascript".to_string()),
            ..Frame::default()
        }
    }

    #[test]
    fn four_browsers_agree() {
        let url = "https://cdn.example.com/static/js/main.3f2a1b9c.min.js?v=2";
        let chrome = [
            browser_frame("Object.foo", url),
            browser_frame("Foo.prototype.bar", url),
            browser_frame("<anonymous>", url),
        ];
        let firefox = [
            browser_frame("foo@", url),
            browser_frame("bar", url),
            browser_frame("foo/<", url),
        ];
        let safari = [
            browser_frame("foo", url),
            browser_frame("bar", url),
            browser_frame("global code", url),
        ];
        let edge = [
            browser_frame("Object.foo", url),
            browser_frame("Foo.prototype.bar", url),
            browser_frame("Anonymous function", url),
        ];
        for index in 0..3 {
            let expected = signature(&chrome[index], Family::JavaScript);
            for other in [&firefox, &safari, &edge] {
                assert_eq!(signature(&other[index], Family::JavaScript), expected);
            }
        }
        assert_eq!(
            leaves(&chrome[0], Family::JavaScript),
            ["main", "foo"],
            "module from the bundle URL, then the function"
        );
        assert_eq!(leaves(&chrome[2], Family::JavaScript), ["main"]);
        // The next deploy changes the content hash, not the group.
        let deployed = browser_frame(
            "Object.foo",
            "https://cdn.example.com/static/js/main.77aa88bb.min.js",
        );
        assert_eq!(
            signature(&deployed, Family::JavaScript),
            signature(&chrome[0], Family::JavaScript)
        );
    }

    #[test]
    fn javascript_eval_and_native_frames_are_dropped() {
        let eval = browser_frame("eval", "https://cdn.example.com/app.js");
        let component = frame_component(&eval, Family::JavaScript);
        assert!(!component.contributes);
        assert!(component.hint.is_some());
        let mut native = frame("Array.forEach");
        native.abs_path = Some("[native code]".into());
        assert!(leaves(&native, Family::JavaScript).is_empty());
        let mut anonymous = frame("f");
        anonymous.filename = Some("<anonymous>".into());
        assert!(leaves(&anonymous, Family::JavaScript).is_empty());
    }

    #[test]
    fn javascript_filename_query_is_stripped() {
        let mut f = frame("f");
        f.filename = Some("/app/src/App.js?v=3#top".into());
        assert_eq!(leaves(&f, Family::JavaScript), ["app.js", "f"]);
    }

    #[test]
    fn spring_proxies_agree() {
        let proxy = |suffix: &str| Frame {
            module: Some(format!(
                "com.example.UserService$$EnhancerBySpringCGLIB${suffix}"
            )),
            filename: Some("<generated>".into()),
            function: Some("save".into()),
            platform: Some("java".into()),
            ..Frame::default()
        };
        let a = proxy("$1a2b3c4d");
        let b = proxy("$9f8e7d6c");
        assert_eq!(leaves(&a, Family::Java), leaves(&b, Family::Java));
        assert_eq!(
            leaves(&a, Family::Java),
            [
                "com.example.UserService$$EnhancerBySpringCGLIB$$<auto>",
                "save"
            ]
        );
    }

    #[test]
    fn java_lambdas_are_ignored() {
        let f = Frame {
            module: Some("com.example.Foo$$Lambda$123/0x0000000800c02a00".into()),
            function: Some("lambda$run$0".into()),
            filename: Some("Foo.java".into()),
            ..Frame::default()
        };
        let component = frame_component(&f, Family::Java);
        assert_eq!(child_ids(&component), ["module", "filename", "function"]);
        assert!(!component.has_contributing_leaves());
    }

    #[test]
    fn ruby_php_csharp_functions() {
        let ruby = frame("block (2 levels) in process");
        assert_eq!(leaves(&ruby, Family::Ruby), ["block"]);
        let erb_a = frame("_app_views_users_index_html_erb__1234567_89012");
        let erb_b = frame("_app_views_users_index_html_erb___7654321_21098");
        assert_eq!(leaves(&erb_a, Family::Ruby), leaves(&erb_b, Family::Ruby));
        let php_a = frame("class@anonymous/in/a.php:12$0::handle");
        let php_b = frame("class@anonymous%0/in/a.php:14$1::handle");
        assert_eq!(leaves(&php_a, Family::Php), ["handle"]);
        assert_eq!(leaves(&php_a, Family::Php), leaves(&php_b, Family::Php));
        let cs_a = frame("Bar (Int32 x)");
        let cs_b = frame("Bar(Int32 x, String y)");
        assert_eq!(leaves(&cs_a, Family::CSharp), ["Bar"]);
        assert_eq!(leaves(&cs_a, Family::CSharp), leaves(&cs_b, Family::CSharp));
        let machine = Frame {
            module: Some("MyApp.Worker+<DoWork>d__5".into()),
            function: Some("<DoWork>d__5.MoveNext".into()),
            ..Frame::default()
        };
        assert_eq!(
            leaves(&machine, Family::CSharp),
            ["MyApp.Worker+DoWork", "DoWork"]
        );
    }
}
