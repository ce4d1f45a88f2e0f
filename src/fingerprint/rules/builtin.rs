//! The built-in stack trace rules, in the same syntax as project rules.
//!
//! Their `±app` actions only decide frames whose in-app state is still
//! unknown (the SDK's explicit `in_app` wins); project rules override
//! anything.

pub(crate) const BUILTIN_RULES: &str = r#"
# ---------------------------------------------------------------- JavaScript
family:javascript path:**/node_modules/** -app
family:javascript path:node:** -app

# ------------------------------------------------------------------- Python
family:python path:**/site-packages/** -app
family:python path:**/dist-packages/** -app

# ---------------------------------------------------------------------- JVM
family:jvm module:java.* -app
family:jvm module:javax.* -app
family:jvm module:jakarta.* -app
family:jvm module:jdk.* -app
family:jvm module:sun.* -app
family:jvm module:com.sun.* -app
family:jvm module:kotlin.* -app
family:jvm module:kotlinx.* -app
family:jvm module:scala.* -app
family:jvm module:groovy.* -app
family:jvm module:org.codehaus.groovy.* -app
family:jvm module:clojure.* -app
family:jvm module:android.* -app
family:jvm module:androidx.* -app
family:jvm module:com.android.* -app
family:jvm module:dalvik.* -app
family:jvm module:org.springframework.* -app
family:jvm module:org.apache.* -app
family:jvm module:org.hibernate.* -app
family:jvm module:com.google.* -app
family:jvm module:io.netty.* -app
family:jvm module:reactor.* -app
family:jvm module:io.reactivex.* -app
family:jvm module:org.eclipse.jetty.* -app
family:jvm module:io.undertow.* -app
family:jvm module:org.glassfish.* -app
family:jvm module:com.fasterxml.* -app
family:jvm module:org.slf4j.* -app
family:jvm module:ch.qos.logback.* -app
family:jvm module:okhttp3.* -app
family:jvm module:retrofit2.* -app
family:jvm module:io.grpc.* -app
family:jvm module:net.bytebuddy.* -app
family:jvm module:org.aspectj.* -app
family:jvm module:com.zaxxer.hikari.* -app
family:jvm module:org.junit.* -app

# --------------------------------------------------------------------- Ruby
family:ruby path:**/gems/** -app
family:ruby path:**/vendor/bundle/** -app
family:ruby path:**/rubygems/** -app

# ---------------------------------------------------------------------- PHP
family:php path:**/vendor/** -app

# ----------------------------------------------------------------------- Go
family:go module:runtime -app
family:go module:runtime/* -app
family:go function:runtime.* -app
family:go module:internal/* -app
family:go module:reflect -app
family:go module:sync -app
family:go module:syscall -app
family:go module:testing -app
family:go module:net/http -app
family:go path:**/go/pkg/mod/** -app
family:go path:/usr/local/go/src/** -app
family:go path:/usr/lib/go*/src/** -app
family:go path:**/goroot/src/** -app

# ------------------------------------------------------------------- .NET
family:csharp module:System.* -app
family:csharp module:Microsoft.* -app

# ------------------------------------------------------------------- Native
family:native function:std::* -app
family:native function:core::* -app
family:native function:alloc::* -app
family:native function:__rust_* -app
family:native package:/usr/lib/** -app
family:native package:/usr/lib64/** -app
family:native package:/lib/** -app
family:native package:/lib64/** -app
family:native package:/System/Library/** -app
family:native package:C:/Windows/** -app

# Throw-site markers: the marker and everything after it (towards the
# crash) is error-reporting machinery, not the error's location.
family:native function:abort ^-group -group
family:native function:__abort ^-group -group
family:native function:__GI_abort ^-group -group
family:native function:raise ^-group -group
family:native function:__GI_raise ^-group -group
family:native function:gsignal ^-group -group
family:native function:__pthread_kill ^-group -group
family:native function:__pthread_kill_implementation* ^-group -group
family:native function:pthread_kill ^-group -group
family:native function:abort_message ^-group -group
family:native function:__stack_chk_fail ^-group -group
family:native function:__fortify_fail ^-group -group
family:native function:__chk_fail ^-group -group
family:native function:__assert_fail ^-group -group
family:native function:__assert_rtn ^-group -group
family:native function:_assert ^-group -group
family:native function:_wassert ^-group -group
family:native function:__cxa_throw ^-group -group
family:native function:__cxa_rethrow ^-group -group
family:native function:_CxxThrowException* ^-group -group
family:native function:__CxxThrowException* ^-group -group
family:native function:RaiseException ^-group -group
family:native function:objc_exception_throw ^-group -group
family:native function:objc_exception_rethrow ^-group -group
family:native function:std::terminate* ^-group -group
family:native function:std::__terminate* ^-group -group
family:native function:__cxxabiv1::__terminate* ^-group -group
family:native function:std::panicking::begin_panic* ^-group -group
family:native function:std::panicking::rust_panic_with_hook* ^-group -group
family:native function:std::panicking::panic_fmt* ^-group -group
family:native function:core::panicking::* ^-group -group
family:native function:core::result::unwrap_failed* ^-group -group
family:native function:core::option::expect_failed* ^-group -group
family:native function:core::option::unwrap_failed* ^-group -group
family:native function:rust_begin_unwind ^-group -group
family:native function:std::process::abort* ^-group -group
family:native function:std::sys::*::abort_internal* ^-group -group
"#;
