//! `trim_native_function`: symbolicated C, C++, Rust, Swift and Objective-C
//! names reduced to what stays the same across builds.

use stackherd::fingerprint::normalize::trim_native_function;

/// `(raw, expected)`; `None` means the name is ignored.
const CASES: &[(&str, Option<&str>)] = &[
    // Plain and qualified names.
    ("main", Some("main")),
    ("  main  ", Some("main")),
    ("foo::bar::baz", Some("foo::bar::baz")),
    // Argument lists, return types, qualifiers.
    ("main(int, char**)", Some("main")),
    ("int main(int, char**)", Some("main")),
    ("void foo::bar(int) const", Some("foo::bar")),
    ("foo::bar(int) volatile &&", Some("foo::bar")),
    ("foo::bar() const &", Some("foo::bar")),
    ("char* strdup_wrapper(char const*)", Some("strdup_wrapper")),
    ("char *strdup_wrapper(const char *)", Some("strdup_wrapper")),
    (
        "const std::string& Foo::name() const noexcept",
        Some("Foo::name"),
    ),
    ("static void Foo::bar()", Some("Foo::bar")),
    (
        "public: virtual void __thiscall Foo::bar(int)",
        Some("Foo::bar"),
    ),
    ("int __cdecl main(int,char * *)", Some("main")),
    // Templates.
    (
        "std::vector<int, std::allocator<int> >::push_back(int const&)",
        Some("std::vector<T>::push_back"),
    ),
    ("void foo::bar<int>(int) const", Some("foo::bar<T>")),
    (
        "std::__1::basic_string<char, std::__1::char_traits<char>, std::__1::allocator<char> >::basic_string(char const*)",
        Some("std::__1::basic_string<T>::basic_string"),
    ),
    (
        "std::function<void (int)>::operator()(int) const",
        Some("std::function<T>::operator()"),
    ),
    (
        "std::map<int, std::vector<int>>::at(int const&)",
        Some("std::map<T>::at"),
    ),
    ("std::vector<int> make_vector()", Some("make_vector")),
    (
        "auto apply<std::function<auto () -> int>>(int)",
        Some("apply<T>"),
    ),
    // Operators survive template and argument stripping.
    ("Foo::operator()(int) const", Some("Foo::operator()")),
    ("bool operator<(Foo const&, Foo const&)", Some("operator<")),
    (
        "bool operator< <Foo>(Foo const&, Foo const&)",
        Some("operator< <T>"),
    ),
    (
        "std::ostream& operator<<(std::ostream&, Foo const&)",
        Some("operator<<"),
    ),
    (
        "std::basic_ostream<char>& std::operator<< <std::char_traits<char> >(std::basic_ostream<char>&, char const*)",
        Some("std::operator<< <T>"),
    ),
    ("Foo::operator->() const", Some("Foo::operator->")),
    ("operator new[](unsigned long)", Some("operator new[]")),
    (
        "operator delete(void*, unsigned long)",
        Some("operator delete"),
    ),
    ("Foo::operator bool() const", Some("Foo::operator bool")),
    ("Foo::operator==(Foo const&) const", Some("Foo::operator==")),
    (
        "Foo::operator std::vector<int>() const",
        Some("Foo::operator std::vector<T>"),
    ),
    // Anonymous namespaces survive argument stripping.
    (
        "(anonymous namespace)::Worker::run(int)",
        Some("(anonymous namespace)::Worker::run"),
    ),
    (
        "void (anonymous namespace)::helper()",
        Some("(anonymous namespace)::helper"),
    ),
    (
        "`anonymous namespace'::Worker::run(int)",
        Some("`anonymous namespace'::Worker::run"),
    ),
    // Lambda spellings collapse to `{lambda}`.
    (
        "foo(int)::{lambda(int)#1}::operator()(int) const",
        Some("foo::{lambda}::operator()"),
    ),
    (
        "foo(int)::{lambda(int)#2}::operator()(int) const",
        Some("foo::{lambda}::operator()"),
    ),
    (
        "foo()::$_0::operator()() const",
        Some("foo::{lambda}::operator()"),
    ),
    (
        "Foo::bar()::$_12::operator()() const",
        Some("Foo::bar::{lambda}::operator()"),
    ),
    (
        "<lambda_1a2b3c4d5e6f>::operator()(int) const",
        Some("{lambda}::operator()"),
    ),
    (
        "Foo::bar::<lambda_7f8e>::operator()",
        Some("Foo::bar::{lambda}::operator()"),
    ),
    ("__main_block_invoke", Some("main::{lambda}")),
    ("__main_block_invoke_2", Some("main::{lambda}")),
    (
        "__29-[Foo bar:]_block_invoke",
        Some("-[Foo bar:]::{lambda}"),
    ),
    (
        "__29-[Foo bar:]_block_invoke.123",
        Some("-[Foo bar:]::{lambda}"),
    ),
    (
        "invocation function for block in foo(int)",
        Some("foo::{lambda}"),
    ),
    // Rust.
    (
        "std::panicking::begin_panic::h0123456789abcdef",
        Some("std::panicking::begin_panic"),
    ),
    (
        "<alloc::vec::Vec<T,A> as core::ops::drop::Drop>::drop::h1a2b3c4d5e6f7a8b",
        Some("alloc::vec::Vec<T>::drop"),
    ),
    (
        "<alloc::boxed::Box<F,A> as core::ops::function::FnOnce<Args>>::call_once",
        Some("alloc::boxed::Box<T>::call_once"),
    ),
    ("<myapp::Foo>::bar", Some("myapp::Foo::bar")),
    (
        "core::ptr::drop_in_place<alloc::vec::Vec<u8>>",
        Some("core::ptr::drop_in_place<T>"),
    ),
    ("core::mem::size_of::<u8>", Some("core::mem::size_of<T>")),
    (
        "std::rt::lang_start::{{closure}}::hfedcba9876543210",
        Some("std::rt::lang_start::{lambda}"),
    ),
    ("myapp::main::{closure#0}", Some("myapp::main::{lambda}")),
    (
        "core::result::Result<T,E>::unwrap",
        Some("core::result::Result<T>::unwrap"),
    ),
    // Linker, calling convention and compiler suffixes.
    ("_foo@12", Some("_foo")),
    ("WinMain@16", Some("WinMain")),
    ("memcpy@@GLIBC_2.14", Some("memcpy")),
    ("pthread_cond_wait@GLIBC_2.3.2", Some("pthread_cond_wait")),
    ("printf@plt", Some("printf")),
    ("foo::bar(int) [clone .cold]", Some("foo::bar")),
    ("foo [clone .constprop.0] [clone .isra.0]", Some("foo")),
    ("foo.isra.0", Some("foo")),
    ("foo.constprop.3.isra.1", Some("foo")),
    ("foo.cold", Some("foo")),
    ("foo.part.0.lto_priv.0", Some("foo")),
    // Objective-C methods are kept verbatim.
    ("-[Foo bar:]", Some("-[Foo bar:]")),
    ("+[Foo sharedInstance]", Some("+[Foo sharedInstance]")),
    (
        "-[Foo(Category) doThing:withObject:]",
        Some("-[Foo(Category) doThing:withObject:]"),
    ),
    // Swift.
    (
        "MyApp.ViewController.viewDidLoad() -> ()",
        Some("MyApp.ViewController.viewDidLoad"),
    ),
    (
        "static MyApp.Foo.bar(x: Swift.Int) -> Swift.String",
        Some("MyApp.Foo.bar"),
    ),
    ("MyApp.Foo.bar(x:y:)", Some("MyApp.Foo.bar")),
    (
        "closure #1 () -> () in MyApp.ViewController.viewDidLoad() -> ()",
        Some("MyApp.ViewController.viewDidLoad::{lambda}"),
    ),
    (
        "closure #2 in closure #1 in MyApp.run()",
        Some("MyApp.run::{lambda}::{lambda}"),
    ),
    (
        "partial apply for closure #1 (Swift.Int) -> () in MyApp.Foo.bar()",
        Some("MyApp.Foo.bar::{lambda}"),
    ),
    (
        "generic specialization <Swift.Int> of MyApp.foo<A>(A) -> ()",
        Some("MyApp.foo<T>"),
    ),
    ("@objc MyApp.Foo.tap(_:) -> ()", Some("MyApp.Foo.tap")),
    (
        "(extension in MyApp):MyApp.Foo.bar() -> ()",
        Some("(extension in MyApp):MyApp.Foo.bar"),
    ),
    ("<&T as core::fmt::Debug>::fmt", Some("T::fmt")),
    ("Foo<int>::~Foo()", Some("Foo<T>::~Foo")),
    // Unknown and redacted names are ignored.
    ("<unknown>", None),
    ("<redacted>", None),
    ("?", None),
    ("??", None),
    ("", None),
    ("   ", None),
];

#[test]
fn native_names_trim_as_documented() {
    assert!(CASES.len() >= 40, "the table keeps at least 40 cases");
    let mut failures = Vec::new();
    for &(raw, expected) in CASES {
        let actual = trim_native_function(raw);
        if actual.as_deref() != expected {
            failures.push(format!("{raw:?}: expected {expected:?}, got {actual:?}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn trimming_is_idempotent_on_the_table() {
    for &(raw, _) in CASES {
        if let Some(once) = trim_native_function(raw) {
            assert_eq!(
                trim_native_function(&once).as_deref(),
                Some(once.as_str()),
                "{raw:?}"
            );
        }
    }
}

#[test]
fn garbage_never_panics() {
    let inputs = [
        "<".repeat(20_000),
        ">".repeat(20_000),
        "(".repeat(20_000),
        "{lambda(".repeat(5_000),
        "closure #1 in ".repeat(2_000),
        "x_block_invoke".repeat(2_000),
        "operator".repeat(3_000),
        "const ".repeat(5_000),
        "é<ü>(ß)::日本".to_string(),
        "@@".to_string(),
        "`unterminated".to_string(),
        "operator".to_string(),
        "<X as".to_string(),
    ];
    for input in inputs {
        let _ = trim_native_function(&input);
    }
}
