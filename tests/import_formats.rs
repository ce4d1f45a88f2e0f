//! Table tests for plain-text trace import: realistic traces of every
//! format, with the exceptions, frames and `in_app` flags they must give.
//! Every case is also imported with `auto`, which must agree.

use stackherd::event::{Event, Exception, Frame};
use stackherd::import::{ImportError, TraceFormat, format_trace, import_trace};

/// module, function, filename, lineno, in_app.
type F = (
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
    Option<u64>,
    bool,
);

/// A frame; `""` and `0` stand for "absent".
fn fr(module: &'static str, function: &'static str, file: &'static str, line: u64, app: bool) -> F {
    let some = |s: &'static str| (!s.is_empty()).then_some(s);
    (
        some(module),
        some(function),
        some(file),
        (line > 0).then_some(line),
        app,
    )
}

/// A frame as imported: the fields of [`F`], borrowed.
type Got<'a> = (
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<u64>,
    bool,
);

/// function, module, filename, lineno of every frame of every exception.
type Located = Vec<Vec<(Option<String>, Option<String>, Option<String>, Option<u64>)>>;

struct Exc {
    ty: Option<&'static str>,
    module: Option<&'static str>,
    value: Option<&'static str>,
    /// Caller first, as Sentry orders them.
    frames: Vec<F>,
}

fn exc(ty: &'static str, module: &'static str, value: &'static str, frames: Vec<F>) -> Exc {
    let some = |s: &'static str| (!s.is_empty()).then_some(s);
    Exc {
        ty: some(ty),
        module: some(module),
        value: some(value),
        frames,
    }
}

struct Case {
    name: &'static str,
    format: TraceFormat,
    platform: &'static str,
    text: &'static str,
    /// Innermost first, as Sentry orders them.
    exceptions: Vec<Exc>,
}

fn frame_tuple(frame: &Frame) -> Got<'_> {
    (
        frame.module.as_deref(),
        frame.function.as_deref(),
        frame.filename.as_deref(),
        frame.lineno,
        frame.in_app == Some(true),
    )
}

fn frames_of(exception: &Exception) -> Vec<Got<'_>> {
    exception
        .stacktrace
        .iter()
        .flat_map(|s| &s.frames)
        .map(frame_tuple)
        .collect()
}

fn check(case: &Case) -> Event {
    let event = import_trace(case.text, case.format)
        .unwrap_or_else(|e| panic!("{}: import failed: {e}", case.name));
    assert_eq!(
        event.platform.as_deref(),
        Some(case.platform),
        "{}",
        case.name
    );
    let got = event.exceptions();
    assert_eq!(
        got.len(),
        case.exceptions.len(),
        "{}: exception count",
        case.name
    );
    for (index, (got, want)) in got.iter().zip(&case.exceptions).enumerate() {
        let at = format!("{} exception {index}", case.name);
        assert_eq!(got.ty.as_deref(), want.ty, "{at}: type");
        assert_eq!(got.module.as_deref(), want.module, "{at}: module");
        assert_eq!(got.value.as_deref(), want.value, "{at}: value");
        assert_eq!(frames_of(got), want.frames, "{at}: frames");
    }
    let auto = import_trace(case.text, TraceFormat::Auto)
        .unwrap_or_else(|e| panic!("{}: auto import failed: {e}", case.name));
    assert_eq!(auto, event, "{}: auto detection disagrees", case.name);
    event
}

fn run(cases: &[Case]) -> Vec<Event> {
    cases.iter().map(check).collect()
}

// ---------------------------------------------------------------- Java --

fn java_cases() -> Vec<Case> {
    vec![
        Case {
            name: "java uncaught in main",
            format: TraceFormat::Java,
            platform: "java",
            text: "Exception in thread \"main\" java.lang.IllegalStateException: order 7 has no lines
\tat com.example.orders.OrderService.total(OrderService.java:42)
\tat com.example.orders.Main.main(Main.java:12)
",
            exceptions: vec![exc(
                "IllegalStateException",
                "java.lang",
                "order 7 has no lines",
                vec![
                    fr("com.example.orders.Main", "main", "Main.java", 12, true),
                    fr("com.example.orders.OrderService", "total", "OrderService.java", 42, true),
                ],
            )],
        },
        Case {
            name: "java spring caused-by chain with logback",
            format: TraceFormat::Java,
            platform: "java",
            text: "2024-05-01 12:00:01.123 ERROR 4242 --- [nio-8080-exec-1] o.a.c.c.C.[.[.[/].[dispatcherServlet]    : Servlet.service() for servlet [dispatcherServlet] threw exception
org.springframework.transaction.CannotCreateTransactionException: Could not open JPA EntityManager for transaction
\tat org.springframework.orm.jpa.JpaTransactionManager.doBegin(JpaTransactionManager.java:466) ~[spring-orm-6.1.5.jar:6.1.5]
\tat com.example.orders.web.OrderController.create(OrderController.java:64) ~[classes/:na]
\tat java.base/java.lang.Thread.run(Thread.java:1583) ~[na:na]
Caused by: org.hibernate.exception.JDBCConnectionException: Unable to acquire JDBC Connection
\tat org.hibernate.engine.jdbc.spi.SqlExceptionHelper.convert(SqlExceptionHelper.java:108) ~[hibernate-core-6.4.4.Final.jar:6.4.4.Final]
\tat org.hibernate.resource.jdbc.internal.LogicalConnectionManagedImpl.acquireConnectionIfNeeded(LogicalConnectionManagedImpl.java:113) ~[hibernate-core-6.4.4.Final.jar:6.4.4.Final]
\t... 3 common frames omitted
Caused by: java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, request timed out after 30000ms.
\tat com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:686) ~[HikariCP-5.0.1.jar:na]
\tat com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:181) ~[HikariCP-5.0.1.jar:na]
\tat org.hibernate.resource.jdbc.internal.LogicalConnectionManagedImpl.acquireConnectionIfNeeded(LogicalConnectionManagedImpl.java:106) ~[hibernate-core-6.4.4.Final.jar:6.4.4.Final]
\t... 3 common frames omitted
2024-05-01 12:00:01.130  INFO 4242 --- [nio-8080-exec-1] c.e.o.web.RequestLog : POST /orders 500
",
            exceptions: vec![
                exc(
                    "SQLTransientConnectionException",
                    "java.sql",
                    "HikariPool-1 - Connection is not available, request timed out after 30000ms.",
                    vec![
                        fr("java.lang.Thread", "run", "Thread.java", 1583, false),
                        fr("com.example.orders.web.OrderController", "create", "OrderController.java", 64, true),
                        fr("org.springframework.orm.jpa.JpaTransactionManager", "doBegin", "JpaTransactionManager.java", 466, false),
                        fr("org.hibernate.resource.jdbc.internal.LogicalConnectionManagedImpl", "acquireConnectionIfNeeded", "LogicalConnectionManagedImpl.java", 106, false),
                        fr("com.zaxxer.hikari.pool.HikariPool", "getConnection", "HikariPool.java", 181, false),
                        fr("com.zaxxer.hikari.pool.HikariPool", "createTimeoutException", "HikariPool.java", 686, false),
                    ],
                ),
                exc(
                    "JDBCConnectionException",
                    "org.hibernate.exception",
                    "Unable to acquire JDBC Connection",
                    vec![
                        fr("java.lang.Thread", "run", "Thread.java", 1583, false),
                        fr("com.example.orders.web.OrderController", "create", "OrderController.java", 64, true),
                        fr("org.springframework.orm.jpa.JpaTransactionManager", "doBegin", "JpaTransactionManager.java", 466, false),
                        fr("org.hibernate.resource.jdbc.internal.LogicalConnectionManagedImpl", "acquireConnectionIfNeeded", "LogicalConnectionManagedImpl.java", 113, false),
                        fr("org.hibernate.engine.jdbc.spi.SqlExceptionHelper", "convert", "SqlExceptionHelper.java", 108, false),
                    ],
                ),
                exc(
                    "CannotCreateTransactionException",
                    "org.springframework.transaction",
                    "Could not open JPA EntityManager for transaction",
                    vec![
                        fr("java.lang.Thread", "run", "Thread.java", 1583, false),
                        fr("com.example.orders.web.OrderController", "create", "OrderController.java", 64, true),
                        fr("org.springframework.orm.jpa.JpaTransactionManager", "doBegin", "JpaTransactionManager.java", 466, false),
                    ],
                ),
            ],
        },
        Case {
            name: "java suppressed, native method, lambda",
            format: TraceFormat::Java,
            platform: "java",
            text: "java.io.IOException: failed to flush segment 12
\tat com.example.storage.SegmentWriter.flush(SegmentWriter.kt:88)
\tat com.example.storage.SegmentWriter$$Lambda$412/0x0000000800c4b040.run(Unknown Source)
\tat java.base/jdk.internal.reflect.NativeMethodAccessorImpl.invoke0(Native Method)
\tat com.example.storage.Compactor.compact(Compactor.kt:31)
\tSuppressed: java.io.IOException: close failed
\t\tat com.example.storage.SegmentWriter.close(SegmentWriter.kt:97)
\t\t... 3 more
\tCaused by: java.nio.channels.ClosedChannelException
\t\tat java.base/sun.nio.ch.FileChannelImpl.ensureOpen(FileChannelImpl.java:159)
\t\t... 4 more
Caused by: java.nio.file.FileSystemException: /var/lib/segments/12.seg: No space left on device
\tat java.base/sun.nio.fs.UnixException.translateToIOException(UnixException.java:100)
\tat com.example.storage.SegmentWriter.flush(SegmentWriter.kt:85)
\t... 3 more
",
            exceptions: vec![
                exc(
                    "FileSystemException",
                    "java.nio.file",
                    "/var/lib/segments/12.seg: No space left on device",
                    vec![
                        fr("com.example.storage.Compactor", "compact", "Compactor.kt", 31, true),
                        fr("jdk.internal.reflect.NativeMethodAccessorImpl", "invoke0", "", 0, false),
                        fr("com.example.storage.SegmentWriter$$Lambda$412/0x0000000800c4b040", "run", "", 0, true),
                        fr("com.example.storage.SegmentWriter", "flush", "SegmentWriter.kt", 85, true),
                        fr("sun.nio.fs.UnixException", "translateToIOException", "UnixException.java", 100, false),
                    ],
                ),
                exc(
                    "IOException",
                    "java.io",
                    "failed to flush segment 12",
                    vec![
                        fr("com.example.storage.Compactor", "compact", "Compactor.kt", 31, true),
                        fr("jdk.internal.reflect.NativeMethodAccessorImpl", "invoke0", "", 0, false),
                        fr("com.example.storage.SegmentWriter$$Lambda$412/0x0000000800c4b040", "run", "", 0, true),
                        fr("com.example.storage.SegmentWriter", "flush", "SegmentWriter.kt", 88, true),
                    ],
                ),
            ],
        },
        Case {
            name: "java multi-line message",
            format: TraceFormat::Java,
            platform: "java",
            text: "com.example.billing.InvoiceValidationException: invoice INV-2024-0042 failed validation:
  - line 3: negative quantity
  - line 7: unknown SKU 'ZZ-900'
\tat com.example.billing.InvoiceValidator.validate(InvoiceValidator.java:57)
\tat com.example.billing.InvoiceService.submit(InvoiceService.java:33)
\tat org.junit.jupiter.engine.execution.MethodInvocation.proceed(MethodInvocation.java:60)
",
            exceptions: vec![exc(
                "InvoiceValidationException",
                "com.example.billing",
                "invoice INV-2024-0042 failed validation:\n  - line 3: negative quantity\n  - line 7: unknown SKU 'ZZ-900'",
                vec![
                    fr("org.junit.jupiter.engine.execution.MethodInvocation", "proceed", "MethodInvocation.java", 60, false),
                    fr("com.example.billing.InvoiceService", "submit", "InvoiceService.java", 33, true),
                    fr("com.example.billing.InvoiceValidator", "validate", "InvoiceValidator.java", 57, true),
                ],
            )],
        },
        Case {
            name: "java scala constructor without message",
            format: TraceFormat::Java,
            platform: "java",
            text: "java.lang.NullPointerException
\tat com.example.catalog.Product.<init>(Product.scala:14)
\tat com.example.catalog.ProductRepository.$anonfun$load$1(ProductRepository.scala:40)
\tat scala.collection.immutable.List.map(List.scala:293)
",
            exceptions: vec![exc(
                "NullPointerException",
                "java.lang",
                "",
                vec![
                    fr("scala.collection.immutable.List", "map", "List.scala", 293, false),
                    fr("com.example.catalog.ProductRepository", "$anonfun$load$1", "ProductRepository.scala", 40, true),
                    fr("com.example.catalog.Product", "<init>", "Product.scala", 14, true),
                ],
            )],
        },
    ]
}

#[test]
fn java_traces() {
    run(&java_cases());
}

// -------------------------------------------------------------- Python --

fn python_cases() -> Vec<Case> {
    vec![
        Case {
            name: "python django zero division with carets",
            format: TraceFormat::Python,
            platform: "python",
            text: r#"Traceback (most recent call last):
  File "/usr/local/lib/python3.12/site-packages/django/core/handlers/exception.py", line 55, in inner
    response = get_response(request)
               ^^^^^^^^^^^^^^^^^^^^^
  File "/srv/shop/shop/views.py", line 88, in checkout
    summary = build_summary(cart)
              ^^^^^^^^^^^^^^^^^^^
  File "/srv/shop/shop/pricing.py", line 41, in build_summary
    average = total / len(items)
              ~~~~~~^~~~~~~~~~~~
ZeroDivisionError: division by zero
"#,
            exceptions: vec![exc(
                "ZeroDivisionError",
                "",
                "division by zero",
                vec![
                    fr(
                        "",
                        "inner",
                        "/usr/local/lib/python3.12/site-packages/django/core/handlers/exception.py",
                        55,
                        false,
                    ),
                    fr("", "checkout", "/srv/shop/shop/views.py", 88, true),
                    fr("", "build_summary", "/srv/shop/shop/pricing.py", 41, true),
                ],
            )],
        },
        Case {
            name: "python direct cause chain",
            format: TraceFormat::Python,
            platform: "python",
            text: r#"Traceback (most recent call last):
  File "/srv/shop/billing/gateway.py", line 74, in charge
    resp = self.session.post(self.url, json=payload, timeout=10)
  File "/usr/local/lib/python3.12/site-packages/requests/sessions.py", line 637, in post
    return self.request("POST", url, data=data, json=json, **kwargs)
requests.exceptions.ConnectionError: HTTPSConnectionPool(host='api.payments.example.net', port=443): Max retries exceeded

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/usr/local/lib/python3.12/site-packages/celery/app/trace.py", line 453, in trace_task
    R = retval = fun(*args, **kwargs)
  File "/srv/shop/billing/tasks.py", line 31, in charge_order
    gateway.charge(order)
  File "/srv/shop/billing/gateway.py", line 77, in charge
    raise PaymentGatewayError(f"charge failed for order {order.id}") from exc
billing.errors.PaymentGatewayError: charge failed for order 5512
"#,
            exceptions: vec![
                exc(
                    "ConnectionError",
                    "requests.exceptions",
                    "HTTPSConnectionPool(host='api.payments.example.net', port=443): Max retries exceeded",
                    vec![
                        fr("", "charge", "/srv/shop/billing/gateway.py", 74, true),
                        fr(
                            "",
                            "post",
                            "/usr/local/lib/python3.12/site-packages/requests/sessions.py",
                            637,
                            false,
                        ),
                    ],
                ),
                exc(
                    "PaymentGatewayError",
                    "billing.errors",
                    "charge failed for order 5512",
                    vec![
                        fr(
                            "",
                            "trace_task",
                            "/usr/local/lib/python3.12/site-packages/celery/app/trace.py",
                            453,
                            false,
                        ),
                        fr("", "charge_order", "/srv/shop/billing/tasks.py", 31, true),
                        fr("", "charge", "/srv/shop/billing/gateway.py", 77, true),
                    ],
                ),
            ],
        },
        Case {
            name: "python during handling, inside log records",
            format: TraceFormat::Python,
            platform: "python",
            text: r#"2024-05-01 12:00:01,123 ERROR [worker-3] catalog.tasks: rebuild failed
Traceback (most recent call last):
  File "/srv/shop/catalog/tree.py", line 17, in walk
    label = node["label"]
KeyError: 'label'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/srv/shop/catalog/tasks.py", line 22, in rebuild_index
    walk(root)
  File "/srv/shop/catalog/tree.py", line 19, in walk
    log.warning(json.dumps(node, default=str))
  File "/usr/lib/python3.12/json/__init__.py", line 238, in dumps
    **kw).encode(obj)
          ^^^^^^^^^^^
TypeError: Object of type datetime is not JSON serializable
2024-05-01 12:00:01,124 INFO [worker-3] celery: task done
"#,
            exceptions: vec![
                exc(
                    "KeyError",
                    "",
                    "'label'",
                    vec![fr("", "walk", "/srv/shop/catalog/tree.py", 17, true)],
                ),
                exc(
                    "TypeError",
                    "",
                    "Object of type datetime is not JSON serializable",
                    vec![
                        fr("", "rebuild_index", "/srv/shop/catalog/tasks.py", 22, true),
                        fr("", "walk", "/srv/shop/catalog/tree.py", 19, true),
                        fr(
                            "",
                            "dumps",
                            "/usr/lib/python3.12/json/__init__.py",
                            238,
                            false,
                        ),
                    ],
                ),
            ],
        },
        Case {
            name: "python multi-line value and frozen frame",
            format: TraceFormat::Python,
            platform: "python",
            text: r#"Traceback (most recent call last):
  File "<frozen runpy>", line 198, in _run_module_as_main
  File "/srv/api/app/main.py", line 12, in <module>
    user = User.model_validate(payload)
pydantic_core._pydantic_core.ValidationError: 1 validation error for User
age
  Input should be a valid integer, unable to parse string as an integer [type=int_parsing, input_value='forty', input_type=str]
"#,
            exceptions: vec![exc(
                "ValidationError",
                "pydantic_core._pydantic_core",
                "1 validation error for User\nage\n  Input should be a valid integer, unable to parse string as an integer [type=int_parsing, input_value='forty', input_type=str]",
                vec![
                    fr("", "_run_module_as_main", "<frozen runpy>", 198, false),
                    fr("", "<module>", "/srv/api/app/main.py", 12, true),
                ],
            )],
        },
        Case {
            name: "python syntax error location is not a frame",
            format: TraceFormat::Python,
            platform: "python",
            text: r#"Traceback (most recent call last):
  File "/srv/tools/run.py", line 4, in <module>
    import settings
  File "/srv/tools/settings.py", line 9
    DEBUG = True if env == "dev" else
                                     ^
SyntaxError: expected expression
"#,
            exceptions: vec![exc(
                "SyntaxError",
                "",
                "expected expression",
                vec![fr("", "<module>", "/srv/tools/run.py", 4, true)],
            )],
        },
        Case {
            name: "python exception group from a TaskGroup",
            format: TraceFormat::Python,
            platform: "python",
            text: r#"  + Exception Group Traceback (most recent call last):
  |   File "/srv/shop/inventory/sync.py", line 81, in run_import
  |     async with asyncio.TaskGroup() as tg:
  |   File "/usr/lib/python3.12/asyncio/taskgroups.py", line 145, in __aexit__
  |     raise me from None
  | ExceptionGroup: unhandled errors in a TaskGroup (2 sub-exceptions)
  +-+---------------- 1 ----------------
    | Traceback (most recent call last):
    |   File "/srv/shop/inventory/sync.py", line 58, in import_row
    |     qty = parse_row(row)
    |           ^^^^^^^^^^^^^^
    |   File "/srv/shop/inventory/sync.py", line 34, in parse_row
    |     return int(row["qty"])
    |            ^^^^^^^^^^^^^^^
    | ValueError: invalid literal for int() with base 10: 'abc'
    +---------------- 2 ----------------
    | Traceback (most recent call last):
    |   File "/srv/shop/inventory/sync.py", line 41, in fetch_price
    |     return prices[sku]
    |            ~~~~~~^^^^^
    | KeyError: 'ZZ-900'
    |
    | The above exception was the direct cause of the following exception:
    |
    | Traceback (most recent call last):
    |   File "/srv/shop/inventory/sync.py", line 60, in import_row
    |     price = fetch_price(row["sku"])
    |             ^^^^^^^^^^^^^^^^^^^^^^^
    |   File "/srv/shop/inventory/sync.py", line 43, in fetch_price
    |     raise UnknownSku(sku) from exc
    | inventory.errors.UnknownSku: ZZ-900
    +------------------------------------
"#,
            exceptions: vec![
                exc(
                    "KeyError",
                    "",
                    "'ZZ-900'",
                    vec![fr(
                        "",
                        "fetch_price",
                        "/srv/shop/inventory/sync.py",
                        41,
                        true,
                    )],
                ),
                exc(
                    "UnknownSku",
                    "inventory.errors",
                    "ZZ-900",
                    vec![
                        fr("", "import_row", "/srv/shop/inventory/sync.py", 60, true),
                        fr("", "fetch_price", "/srv/shop/inventory/sync.py", 43, true),
                    ],
                ),
                exc(
                    "ValueError",
                    "",
                    "invalid literal for int() with base 10: 'abc'",
                    vec![
                        fr("", "import_row", "/srv/shop/inventory/sync.py", 58, true),
                        fr("", "parse_row", "/srv/shop/inventory/sync.py", 34, true),
                    ],
                ),
                exc(
                    "ExceptionGroup",
                    "",
                    "unhandled errors in a TaskGroup (2 sub-exceptions)",
                    vec![
                        fr("", "run_import", "/srv/shop/inventory/sync.py", 81, true),
                        fr(
                            "",
                            "__aexit__",
                            "/usr/lib/python3.12/asyncio/taskgroups.py",
                            145,
                            false,
                        ),
                    ],
                ),
            ],
        },
    ]
}

#[test]
fn python_traces() {
    let events = run(&python_cases());
    // Chains are linked like sentry-python links them.
    let chained = &events[1].exceptions()[0];
    let mechanism = chained.mechanism.as_ref().expect("cause has a mechanism");
    assert_eq!(mechanism.source.as_deref(), Some("__cause__"));
    assert_eq!(
        (mechanism.exception_id, mechanism.parent_id),
        (Some(1), Some(0))
    );
    let context = events[2].exceptions()[0]
        .mechanism
        .as_ref()
        .expect("mechanism");
    assert_eq!(context.source.as_deref(), Some("__context__"));
    let frame = &events[0].exceptions()[0]
        .stacktrace
        .as_ref()
        .expect("frames")
        .frames[2];
    assert_eq!(
        frame.context_line.as_deref(),
        Some("average = total / len(items)")
    );
    // Groups are numbered like sentry-python: depth first from the group.
    let links: Vec<_> = events[5]
        .exceptions()
        .iter()
        .map(|e| {
            let m = e.mechanism.clone().expect("mechanism");
            (m.exception_id, m.parent_id, m.source, m.is_exception_group)
        })
        .collect();
    assert_eq!(
        links,
        [
            (Some(3), Some(2), Some("__cause__".to_string()), None),
            (Some(2), Some(0), Some("exceptions[1]".to_string()), None),
            (Some(1), Some(0), Some("exceptions[0]".to_string()), None),
            (Some(0), None, None, Some(true)),
        ]
    );
}

// ---------------------------------------------------------- JavaScript --

fn javascript_cases() -> Vec<Case> {
    vec![
        Case {
            name: "node express with code frame and footer",
            format: TraceFormat::JavaScript,
            platform: "node",
            text: "/app/src/services/orderService.js:18
    return order.toJSON();
                 ^

TypeError: Cannot read properties of null (reading 'toJSON')
    at OrderService.findById (/app/src/services/orderService.js:18:18)
    at async getOrder (/app/src/routes/orders.js:42:17)
    at Layer.handle [as handle_request] (/app/node_modules/express/lib/router/layer.js:95:5)
    at next (/app/node_modules/express/lib/router/route.js:149:13)
    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)

Node.js v20.11.1
",
            exceptions: vec![exc(
                "TypeError",
                "",
                "Cannot read properties of null (reading 'toJSON')",
                vec![
                    fr(
                        "",
                        "process.processTicksAndRejections",
                        "node:internal/process/task_queues",
                        95,
                        false,
                    ),
                    fr(
                        "",
                        "next",
                        "/app/node_modules/express/lib/router/route.js",
                        149,
                        false,
                    ),
                    fr(
                        "",
                        "Layer.handle [as handle_request]",
                        "/app/node_modules/express/lib/router/layer.js",
                        95,
                        false,
                    ),
                    fr("", "getOrder", "/app/src/routes/orders.js", 42, true),
                    fr(
                        "",
                        "OrderService.findById",
                        "/app/src/services/orderService.js",
                        18,
                        true,
                    ),
                ],
            )],
        },
        Case {
            name: "node error with cause and properties",
            format: TraceFormat::JavaScript,
            platform: "node",
            text: "Error: failed to load config for tenant acme
    at loadTenantConfig (/srv/api/src/config.js:41:11)
    at async Server.<anonymous> (/srv/api/src/server.js:17:5) {
  [cause]: Error: connect ECONNREFUSED 10.0.0.12:6379
      at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1595:16) {
    errno: -111,
    code: 'ECONNREFUSED',
    syscall: 'connect',
    address: '10.0.0.12',
    port: 6379
  }
}
",
            exceptions: vec![
                exc(
                    "Error",
                    "",
                    "connect ECONNREFUSED 10.0.0.12:6379",
                    vec![fr(
                        "",
                        "TCPConnectWrap.afterConnect [as oncomplete]",
                        "node:net",
                        1595,
                        false,
                    )],
                ),
                exc(
                    "Error",
                    "",
                    "failed to load config for tenant acme",
                    vec![
                        fr("", "Server.<anonymous>", "/srv/api/src/server.js", 17, true),
                        fr("", "loadTenantConfig", "/srv/api/src/config.js", 41, true),
                    ],
                ),
            ],
        },
        Case {
            name: "chrome console with bundle URLs",
            format: TraceFormat::JavaScript,
            platform: "javascript",
            text: "Uncaught TypeError: Cannot read properties of undefined (reading 'id')
    at Object.handleClick (https://cdn.example.com/static/js/main.3f2a1b9c.min.js:1:40213)
    at HTMLButtonElement.dispatch (https://cdn.example.com/static/js/vendor.8c1d2e4f.min.js:2:43064)
    at Array.forEach (<anonymous>)
    at https://cdn.example.com/static/js/vendor.8c1d2e4f.min.js:2:41020
",
            exceptions: vec![exc(
                "TypeError",
                "",
                "Cannot read properties of undefined (reading 'id')",
                vec![
                    fr(
                        "",
                        "?",
                        "https://cdn.example.com/static/js/vendor.8c1d2e4f.min.js",
                        2,
                        true,
                    ),
                    fr("", "Array.forEach", "<anonymous>", 0, false),
                    fr(
                        "",
                        "HTMLButtonElement.dispatch",
                        "https://cdn.example.com/static/js/vendor.8c1d2e4f.min.js",
                        2,
                        true,
                    ),
                    fr(
                        "",
                        "Object.handleClick",
                        "https://cdn.example.com/static/js/main.3f2a1b9c.min.js",
                        1,
                        true,
                    ),
                ],
            )],
        },
        Case {
            name: "firefox stack",
            format: TraceFormat::JavaScript,
            platform: "javascript",
            text: "TypeError: data.items is undefined
renderList@https://shop.example.com/assets/app-4f1d2c3b.js:1:8812
loadPage/<@https://shop.example.com/assets/app-4f1d2c3b.js:1:9120
promise callback*loadPage@https://shop.example.com/assets/app-4f1d2c3b.js:1:9050
@https://shop.example.com/assets/app-4f1d2c3b.js:1:120
",
            exceptions: vec![exc(
                "TypeError",
                "",
                "data.items is undefined",
                vec![
                    fr(
                        "",
                        "?",
                        "https://shop.example.com/assets/app-4f1d2c3b.js",
                        1,
                        true,
                    ),
                    fr(
                        "",
                        "loadPage",
                        "https://shop.example.com/assets/app-4f1d2c3b.js",
                        1,
                        true,
                    ),
                    fr(
                        "",
                        "loadPage/<",
                        "https://shop.example.com/assets/app-4f1d2c3b.js",
                        1,
                        true,
                    ),
                    fr(
                        "",
                        "renderList",
                        "https://shop.example.com/assets/app-4f1d2c3b.js",
                        1,
                        true,
                    ),
                ],
            )],
        },
        Case {
            name: "safari stack with native code",
            format: TraceFormat::JavaScript,
            platform: "javascript",
            text: "TypeError: undefined is not an object (evaluating 'cart.total')
applyDiscount@https://shop.example.com/checkout:212:31
global code@https://shop.example.com/checkout:230:14
forEach@[native code]
",
            exceptions: vec![exc(
                "TypeError",
                "",
                "undefined is not an object (evaluating 'cart.total')",
                vec![
                    fr("", "forEach", "[native code]", 0, false),
                    fr(
                        "",
                        "global code",
                        "https://shop.example.com/checkout",
                        230,
                        true,
                    ),
                    fr(
                        "",
                        "applyDiscount",
                        "https://shop.example.com/checkout",
                        212,
                        true,
                    ),
                ],
            )],
        },
    ]
}

#[test]
fn javascript_traces() {
    let events = run(&javascript_cases());
    let cause = events[1].exceptions()[0]
        .mechanism
        .as_ref()
        .expect("mechanism");
    assert_eq!(cause.source.as_deref(), Some("cause"));
    let frame = &events[0].exceptions()[0]
        .stacktrace
        .as_ref()
        .expect("frames")
        .frames[4];
    assert_eq!(frame.colno, Some(18));
}

// ------------------------------------------------------------------ Go --

fn go_cases() -> Vec<Case> {
    vec![
        Case {
            name: "go index out of range in a worker goroutine",
            format: TraceFormat::Go,
            platform: "go",
            text: "panic: runtime error: index out of range [5] with length 3

goroutine 18 [running]:
github.com/acme/orders/internal/pricing.ApplyTiers(...)
\t/home/build/orders/internal/pricing/tiers.go:33
github.com/acme/orders/internal/worker.(*Pool).process(0xc0001a2000, {0xc0001b4000, 0x3, 0x3})
\t/home/build/orders/internal/worker/pool.go:71 +0x1e5
github.com/acme/orders/internal/worker.(*Pool).start.func1()
\t/home/build/orders/internal/worker/pool.go:48 +0x6f
created by github.com/acme/orders/internal/worker.(*Pool).start in goroutine 1
\t/home/build/orders/internal/worker/pool.go:45 +0x9a
exit status 2
",
            exceptions: vec![exc(
                "runtime.boundsError",
                "",
                "runtime error: index out of range [5] with length 3",
                vec![
                    fr("github.com/acme/orders/internal/worker", "(*Pool).start.func1", "/home/build/orders/internal/worker/pool.go", 48, true),
                    fr("github.com/acme/orders/internal/worker", "(*Pool).process", "/home/build/orders/internal/worker/pool.go", 71, true),
                    fr("github.com/acme/orders/internal/pricing", "ApplyTiers", "/home/build/orders/internal/pricing/tiers.go", 33, true),
                ],
            )],
        },
        Case {
            name: "go nil pointer recovered and re-panicked in net/http",
            format: TraceFormat::Go,
            platform: "go",
            text: "2024/05/01 12:00:01 http: panic serving 10.0.0.7:51234: runtime error: invalid memory address or nil pointer dereference
panic: runtime error: invalid memory address or nil pointer dereference [recovered]
\tpanic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x6b5c3a]

goroutine 34 [running]:
net/http.(*conn).serve.func1()
\t/usr/local/go/src/net/http/server.go:1898 +0xbe
panic({0x6f0a40?, 0x9a7c30?})
\t/usr/local/go/src/runtime/panic.go:770 +0x132
github.com/acme/shop/internal/handlers.(*CartHandler).ServeHTTP(0x0, {0x7c1e08, 0xc0002a0000}, 0xc000254000)
\t/src/shop/internal/handlers/cart.go:27 +0x3a
net/http.serverHandler.ServeHTTP({0xc0001f6000?}, {0x7c1e08?, 0xc0002a0000?}, 0x6?)
\t/usr/local/go/src/net/http/server.go:3137 +0x8e
net/http.(*conn).serve(0xc0002c4000, {0x7c2a50, 0xc0001e2ed0})
\t/usr/local/go/src/net/http/server.go:2039 +0x5e8
created by net/http.(*Server).Serve in goroutine 1
\t/usr/local/go/src/net/http/server.go:3285 +0x4b4
",
            exceptions: vec![
                exc(
                    "runtime.errorString",
                    "",
                    "runtime error: invalid memory address or nil pointer dereference",
                    vec![],
                ),
                exc(
                    "runtime.errorString",
                    "",
                    "runtime error: invalid memory address or nil pointer dereference",
                    vec![
                        fr("net/http", "(*conn).serve", "/usr/local/go/src/net/http/server.go", 2039, false),
                        fr("net/http", "serverHandler.ServeHTTP", "/usr/local/go/src/net/http/server.go", 3137, false),
                        fr("github.com/acme/shop/internal/handlers", "(*CartHandler).ServeHTTP", "/src/shop/internal/handlers/cart.go", 27, true),
                        fr("", "panic", "/usr/local/go/src/runtime/panic.go", 770, false),
                        fr("net/http", "(*conn).serve.func1", "/usr/local/go/src/net/http/server.go", 1898, false),
                    ],
                ),
            ],
        },
        Case {
            name: "go fatal error with several goroutines",
            format: TraceFormat::Go,
            platform: "go",
            text: "fatal error: concurrent map writes

goroutine 23 [running]:
github.com/acme/cache.(*Store).Set(...)
\t/src/cache/store.go:41
github.com/acme/cache.(*Store).Refresh(0xc000120000)
\t/src/cache/store.go:66 +0x7d
created by main.main in goroutine 1
\t/src/cache/cmd/cached/main.go:22 +0x105

goroutine 1 [sleep]:
time.Sleep(0x3b9aca00)
\t/usr/local/go/src/runtime/time.go:195 +0x125
main.main()
\t/src/cache/cmd/cached/main.go:30 +0x12f

goroutine 24 [runnable]:
github.com/acme/cache.(*Store).Refresh(0xc000120000)
\t/src/cache/store.go:60 +0x4a
created by main.main in goroutine 1
\t/src/cache/cmd/cached/main.go:22 +0x105
",
            exceptions: vec![exc(
                "fatal error",
                "",
                "concurrent map writes",
                vec![
                    fr("github.com/acme/cache", "(*Store).Refresh", "/src/cache/store.go", 66, true),
                    fr("github.com/acme/cache", "(*Store).Set", "/src/cache/store.go", 41, true),
                ],
            )],
        },
        Case {
            name: "go custom panic through a module-cache dependency",
            format: TraceFormat::Go,
            platform: "go",
            text: "panic: invalid config: missing \"listen\" address

goroutine 1 [running]:
gopkg.in/yaml%2ev3.(*decoder).unmarshal(0xc00010c000, 0xc000112000, {0x5d3e20?, 0xc000118000?, 0x2?})
\t/root/go/pkg/mod/gopkg.in/yaml.v3@v3.0.1/decode.go:493 +0x3a5
github.com/acme/gateway/config.Load({0x7ffd5b8c1e2a, 0x10})
\t/build/gateway/config/config.go:58 +0x1f4
main.main()
\t/build/gateway/main.go:19 +0x3b
exit status 2
",
            exceptions: vec![exc(
                "panic",
                "",
                "invalid config: missing \"listen\" address",
                vec![
                    fr("main", "main", "/build/gateway/main.go", 19, true),
                    fr("github.com/acme/gateway/config", "Load", "/build/gateway/config/config.go", 58, true),
                    fr("gopkg.in/yaml.v3", "(*decoder).unmarshal", "/root/go/pkg/mod/gopkg.in/yaml.v3@v3.0.1/decode.go", 493, false),
                ],
            )],
        },
    ]
}

#[test]
fn go_traces() {
    let events = run(&go_cases());
    let dump = &events[2];
    let threads = dump.threads();
    assert_eq!(threads.len(), 2, "the other goroutines become threads");
    assert_eq!(threads[0].name.as_deref(), Some("goroutine 1"));
    let main_frames = &threads[0].stacktrace.as_ref().expect("frames").frames;
    assert_eq!(main_frames.len(), 2);
    assert_eq!(main_frames[1].function.as_deref(), Some("Sleep"));
    assert_eq!(main_frames[1].in_app, Some(false));
    assert_eq!(
        dump.exceptions()[0].thread_id,
        Some(serde_json::Value::from(23))
    );
}

// ---------------------------------------------------------------- Ruby --

fn ruby_cases() -> Vec<Case> {
    vec![
        Case {
            name: "ruby uncaught with gems",
            format: TraceFormat::Ruby,
            platform: "ruby",
            text: "/rails/app/models/user.rb:12:in `full_name': undefined method `upcase' for nil:NilClass (NoMethodError)
\tfrom /rails/app/controllers/users_controller.rb:5:in `show'
\tfrom /usr/local/bundle/gems/actionpack-7.1.3/lib/action_controller/metal/basic_implicit_render.rb:6:in `send_action'
\tfrom /usr/local/bundle/gems/actionpack-7.1.3/lib/abstract_controller/base.rb:224:in `process_action'
",
            exceptions: vec![exc(
                "NoMethodError",
                "",
                "undefined method `upcase' for nil:NilClass",
                vec![
                    fr("", "process_action", "/usr/local/bundle/gems/actionpack-7.1.3/lib/abstract_controller/base.rb", 224, false),
                    fr("", "send_action", "/usr/local/bundle/gems/actionpack-7.1.3/lib/action_controller/metal/basic_implicit_render.rb", 6, false),
                    fr("", "show", "/rails/app/controllers/users_controller.rb", 5, true),
                    fr("", "full_name", "/rails/app/models/user.rb", 12, true),
                ],
            )],
        },
        Case {
            name: "ruby 3.4 labels with classes",
            format: TraceFormat::Ruby,
            platform: "ruby",
            text: "/app/lib/billing/invoice_job.rb:27:in 'Integer#/': divided by 0 (ZeroDivisionError)
\tfrom /app/lib/billing/invoice_job.rb:27:in 'block in Billing::InvoiceJob#perform'
\tfrom <internal:numeric>:257:in 'Integer#times'
\tfrom /app/lib/billing/invoice_job.rb:25:in 'Billing::InvoiceJob#perform'
\tfrom /usr/local/lib/ruby/3.4.0/benchmark.rb:323:in 'Benchmark.realtime'
",
            exceptions: vec![exc(
                "ZeroDivisionError",
                "",
                "divided by 0",
                vec![
                    fr("Benchmark", "realtime", "/usr/local/lib/ruby/3.4.0/benchmark.rb", 323, false),
                    fr("Billing::InvoiceJob", "perform", "/app/lib/billing/invoice_job.rb", 25, true),
                    fr("Integer", "times", "<internal:numeric>", 257, false),
                    fr("Billing::InvoiceJob", "block in perform", "/app/lib/billing/invoice_job.rb", 27, true),
                    fr("Integer", "/", "/app/lib/billing/invoice_job.rb", 27, true),
                ],
            )],
        },
        Case {
            name: "rails log backtrace",
            format: TraceFormat::Ruby,
            platform: "ruby",
            text: "Completed 500 Internal Server Error in 41ms (ActiveRecord: 3.1ms | Allocations: 9120)

NoMethodError (undefined method `locale' for nil):
  app/jobs/invoice_delivery_job.rb:12:in `perform'
  app/services/mailer_service.rb:31:in `deliver'
  /usr/local/bundle/gems/sidekiq-7.2.0/lib/sidekiq/processor.rb:180:in `block (2 levels) in process'
",
            exceptions: vec![exc(
                "NoMethodError",
                "",
                "undefined method `locale' for nil",
                vec![
                    fr("", "block (2 levels) in process", "/usr/local/bundle/gems/sidekiq-7.2.0/lib/sidekiq/processor.rb", 180, false),
                    fr("", "deliver", "app/services/mailer_service.rb", 31, true),
                    fr("", "perform", "app/jobs/invoice_delivery_job.rb", 12, true),
                ],
            )],
        },
        Case {
            name: "ruby cause reported after its effect",
            format: TraceFormat::Ruby,
            platform: "ruby",
            text: "/app/lib/importer.rb:14:in `rescue in import_row': row 42 could not be imported (Importer::RowError)
\tfrom /app/lib/importer.rb:9:in `import_row'
\tfrom /app/bin/import:7:in `<main>'
/app/lib/importer.rb:10:in `Integer': invalid value for Integer(): \"4x2\" (ArgumentError)
\tfrom /app/lib/importer.rb:10:in `import_row'
\tfrom /app/bin/import:7:in `<main>'
",
            exceptions: vec![
                exc(
                    "ArgumentError",
                    "",
                    "invalid value for Integer(): \"4x2\"",
                    vec![
                        fr("", "<main>", "/app/bin/import", 7, true),
                        fr("", "import_row", "/app/lib/importer.rb", 10, true),
                        fr("", "Integer", "/app/lib/importer.rb", 10, true),
                    ],
                ),
                exc(
                    "Importer::RowError",
                    "",
                    "row 42 could not be imported",
                    vec![
                        fr("", "<main>", "/app/bin/import", 7, true),
                        fr("", "import_row", "/app/lib/importer.rb", 9, true),
                        fr("", "rescue in import_row", "/app/lib/importer.rb", 14, true),
                    ],
                ),
            ],
        },
    ]
}

#[test]
fn ruby_traces() {
    let events = run(&ruby_cases());
    let cause = events[3].exceptions()[0]
        .mechanism
        .as_ref()
        .expect("mechanism");
    assert_eq!(cause.ty.as_deref(), Some("chained"));
}

// ---------------------------------------------------------------- .NET --

fn csharp_cases() -> Vec<Case> {
    vec![
        Case {
            name: ".NET Core inner exception",
            format: TraceFormat::CSharp,
            platform: "csharp",
            text: "System.InvalidOperationException: Could not place order 42
 ---> System.Collections.Generic.KeyNotFoundException: The given key 'SKU-991' was not present in the dictionary.
   at System.Collections.Generic.Dictionary`2.get_Item(TKey key)
   at MyShop.Pricing.PriceCache.Get(String sku) in /src/MyShop/Pricing/PriceCache.cs:line 21
   at MyShop.Services.OrderService.PriceLines(Order order) in /src/MyShop/Services/OrderService.cs:line 112
   --- End of inner exception stack trace ---
   at MyShop.Services.OrderService.PlaceOrderAsync(Int32 orderId) in /src/MyShop/Services/OrderService.cs:line 87
   at MyShop.Controllers.OrdersController.Create(OrderDto dto) in /src/MyShop/Controllers/OrdersController.cs:line 44
   at lambda_method5(Closure, Object, Object[])
   at Microsoft.AspNetCore.Mvc.Infrastructure.ActionMethodExecutor.TaskOfIActionResultExecutor.Execute(ActionContext actionContext, IActionResultTypeMapper mapper, ObjectMethodExecutor executor, Object controller, Object[] arguments)
--- End of stack trace from previous location ---
   at Microsoft.AspNetCore.Mvc.Infrastructure.ControllerActionInvoker.<InvokeActionMethodAsync>g__Logged|12_1(ControllerActionInvoker invoker)
",
            exceptions: vec![
                exc(
                    "KeyNotFoundException",
                    "System.Collections.Generic",
                    "The given key 'SKU-991' was not present in the dictionary.",
                    vec![
                        fr("MyShop.Services.OrderService", "PriceLines", "/src/MyShop/Services/OrderService.cs", 112, true),
                        fr("MyShop.Pricing.PriceCache", "Get", "/src/MyShop/Pricing/PriceCache.cs", 21, true),
                        fr("System.Collections.Generic.Dictionary`2", "get_Item", "", 0, false),
                    ],
                ),
                exc(
                    "InvalidOperationException",
                    "System",
                    "Could not place order 42",
                    vec![
                        fr("Microsoft.AspNetCore.Mvc.Infrastructure.ControllerActionInvoker", "<InvokeActionMethodAsync>g__Logged|12_1", "", 0, false),
                        fr("Microsoft.AspNetCore.Mvc.Infrastructure.ActionMethodExecutor.TaskOfIActionResultExecutor", "Execute", "", 0, false),
                        fr("", "lambda_method5", "", 0, false),
                        fr("MyShop.Controllers.OrdersController", "Create", "/src/MyShop/Controllers/OrdersController.cs", 44, true),
                        fr("MyShop.Services.OrderService", "PlaceOrderAsync", "/src/MyShop/Services/OrderService.cs", 87, true),
                    ],
                ),
            ],
        },
        Case {
            name: ".NET Framework inline inner and async state machine",
            format: TraceFormat::CSharp,
            platform: "csharp",
            text: r"Unhandled Exception: System.AggregateException: One or more errors occurred. ---> System.Net.Http.HttpRequestException: Response status code does not indicate success: 503 (Service Unavailable).
   at System.Net.Http.HttpResponseMessage.EnsureSuccessStatusCode()
   at Contoso.Sync.InventoryClient.<FetchAsync>d__4.MoveNext() in C:\build\Contoso.Sync\InventoryClient.cs:line 58
   --- End of inner exception stack trace ---
   at System.Threading.Tasks.Task.ThrowIfExceptional(Boolean includeTaskCanceledExceptions)
   at Contoso.Sync.Program.Main(String[] args) in C:\build\Contoso.Sync\Program.cs:line 23
",
            exceptions: vec![
                exc(
                    "HttpRequestException",
                    "System.Net.Http",
                    "Response status code does not indicate success: 503 (Service Unavailable).",
                    vec![
                        fr("Contoso.Sync.InventoryClient.<FetchAsync>d__4", "MoveNext", r"C:\build\Contoso.Sync\InventoryClient.cs", 58, true),
                        fr("System.Net.Http.HttpResponseMessage", "EnsureSuccessStatusCode", "", 0, false),
                    ],
                ),
                exc(
                    "AggregateException",
                    "System",
                    "One or more errors occurred.",
                    vec![
                        fr("Contoso.Sync.Program", "Main", r"C:\build\Contoso.Sync\Program.cs", 23, true),
                        fr("System.Threading.Tasks.Task", "ThrowIfExceptional", "", 0, false),
                    ],
                ),
            ],
        },
        Case {
            name: "ASP.NET console log",
            format: TraceFormat::CSharp,
            platform: "csharp",
            text: "fail: Microsoft.AspNetCore.Diagnostics.ExceptionHandlerMiddleware[1]
      An unhandled exception has occurred while executing the request.
      System.NullReferenceException: Object reference not set to an instance of an object.
         at MyShop.Services.CartService.Total(Cart cart) in /src/MyShop/Services/CartService.cs:line 33
         at MyShop.Controllers.CartController.Summary() in /src/MyShop/Controllers/CartController.cs:line 19
         at Microsoft.AspNetCore.Mvc.Infrastructure.ActionMethodExecutor.SyncActionResultExecutor.Execute(ActionContext actionContext, IActionResultTypeMapper mapper, ObjectMethodExecutor executor, Object controller, Object[] arguments)
",
            exceptions: vec![exc(
                "NullReferenceException",
                "System",
                "Object reference not set to an instance of an object.",
                vec![
                    fr("Microsoft.AspNetCore.Mvc.Infrastructure.ActionMethodExecutor.SyncActionResultExecutor", "Execute", "", 0, false),
                    fr("MyShop.Controllers.CartController", "Summary", "/src/MyShop/Controllers/CartController.cs", 19, true),
                    fr("MyShop.Services.CartService", "Total", "/src/MyShop/Services/CartService.cs", 33, true),
                ],
            )],
        },
        Case {
            name: ".NET multi-line message, constructor, generic method, closure",
            format: TraceFormat::CSharp,
            platform: "csharp",
            text: r"System.ArgumentException: Invalid tax region.
Parameter name: region
   at Contoso.Tax.TaxTable..ctor(String region) in C:\src\Contoso.Tax\TaxTable.cs:line 17
   at Contoso.Tax.TaxService.Lookup[TRegion](TRegion region) in C:\src\Contoso.Tax\TaxService.cs:line 40
   at Contoso.Web.Startup.<>c.<Configure>b__4_0(HttpContext ctx) in C:\src\Contoso.Web\Startup.cs:line 61
",
            exceptions: vec![exc(
                "ArgumentException",
                "System",
                "Invalid tax region.\nParameter name: region",
                vec![
                    fr("Contoso.Web.Startup.<>c", "<Configure>b__4_0", r"C:\src\Contoso.Web\Startup.cs", 61, true),
                    fr("Contoso.Tax.TaxService", "Lookup[TRegion]", r"C:\src\Contoso.Tax\TaxService.cs", 40, true),
                    fr("Contoso.Tax.TaxTable", ".ctor", r"C:\src\Contoso.Tax\TaxTable.cs", 17, true),
                ],
            )],
        },
    ]
}

#[test]
fn csharp_traces() {
    run(&csharp_cases());
}

// ----------------------------------------------------------------- gdb --

fn gdb_cases() -> Vec<Case> {
    vec![
        Case {
            name: "gdb segfault in memmove",
            format: TraceFormat::Gdb,
            platform: "native",
            text: "Program received signal SIGSEGV, Segmentation fault.
__memmove_avx_unaligned_erms () at ../sysdeps/x86_64/multiarch/memmove-vec-unaligned-erms.S:317
317\t../sysdeps/x86_64/multiarch/memmove-vec-unaligned-erms.S: No such file or directory.
(gdb) bt
#0  __memmove_avx_unaligned_erms () at ../sysdeps/x86_64/multiarch/memmove-vec-unaligned-erms.S:317
#1  0x0000555555555a2c in Kiln::Mesh::upload (this=0x5555555592a0, data=0x0, size=4096) at /src/kiln/Mesh.cpp:97
#2  0x0000555555555c41 in Kiln::Renderer::drawFrame (this=0x555555559eb0) at /src/kiln/Renderer.cpp:212
#3  0x0000555555555d02 in main (argc=1, argv=0x7fffffffe0b8) at /src/kiln/main.cpp:41
",
            exceptions: vec![exc(
                "SIGSEGV",
                "",
                "Segmentation fault",
                vec![
                    fr("", "main", "/src/kiln/main.cpp", 41, true),
                    fr("", "Kiln::Renderer::drawFrame", "/src/kiln/Renderer.cpp", 212, true),
                    fr("", "Kiln::Mesh::upload", "/src/kiln/Mesh.cpp", 97, true),
                    fr("", "__memmove_avx_unaligned_erms", "../sysdeps/x86_64/multiarch/memmove-vec-unaligned-erms.S", 317, false),
                ],
            )],
        },
        Case {
            name: "gdb abort through libstdc++",
            format: TraceFormat::Gdb,
            platform: "native",
            text: "Thread 1 \"vorbis-worker\" received signal SIGABRT, Aborted.
__pthread_kill_implementation (no_tid=0, signo=6, threadid=<optimized out>) at ./nptl/pthread_kill.c:44
(gdb) bt
#0  __pthread_kill_implementation (no_tid=0, signo=6, threadid=<optimized out>) at ./nptl/pthread_kill.c:44
#1  __pthread_kill_internal (signo=6, threadid=<optimized out>) at ./nptl/pthread_kill.c:78
#2  __GI___pthread_kill (threadid=<optimized out>, signo=signo@entry=6) at ./nptl/pthread_kill.c:89
#3  0x00007ffff7c4526e in __GI_raise (sig=sig@entry=6) at ../sysdeps/posix/raise.c:26
#4  0x00007ffff7c288ff in __GI_abort () at ./stdlib/abort.c:79
#5  0x00007ffff7ea5ff5 in ?? () from /lib/x86_64-linux-gnu/libstdc++.so.6
#6  0x00007ffff7ebb0da in std::terminate() () from /lib/x86_64-linux-gnu/libstdc++.so.6
#7  0x00005555555562b4 in VorbisPlugin::decode (this=0x55555556aeb0, buf=0x7ffff0000b70 \"OggS\", len=4096) at /src/plugins/vorbis/decode.cpp:133
#8  0x0000555555556019 in vp_worker_main (arg=0x55555556aeb0) at /src/plugins/vorbis/worker.c:58
#9  0x00007ffff7c94ac3 in start_thread (arg=<optimized out>) at ./nptl/pthread_create.c:442
#10 0x00007ffff7d26850 in clone3 () at ../sysdeps/unix/sysv/linux/x86_64/clone3.S:81
",
            exceptions: vec![exc(
                "SIGABRT",
                "",
                "Aborted",
                vec![
                    fr("", "clone3", "../sysdeps/unix/sysv/linux/x86_64/clone3.S", 81, false),
                    fr("", "start_thread", "./nptl/pthread_create.c", 442, false),
                    fr("", "vp_worker_main", "/src/plugins/vorbis/worker.c", 58, true),
                    fr("", "VorbisPlugin::decode", "/src/plugins/vorbis/decode.cpp", 133, true),
                    fr("", "std::terminate()", "", 0, false),
                    fr("", "", "", 0, false),
                    fr("", "__GI_abort", "./stdlib/abort.c", 79, false),
                    fr("", "__GI_raise", "../sysdeps/posix/raise.c", 26, false),
                    fr("", "__GI___pthread_kill", "./nptl/pthread_kill.c", 89, false),
                    fr("", "__pthread_kill_internal", "./nptl/pthread_kill.c", 78, false),
                    fr("", "__pthread_kill_implementation", "./nptl/pthread_kill.c", 44, false),
                ],
            )],
        },
        Case {
            name: "gdb core file with all threads",
            format: TraceFormat::Gdb,
            platform: "native",
            text: "Core was generated by `/opt/kiln/bin/kiln --headless'.
Program terminated with signal SIGSEGV, Segmentation fault.
#0  0x000055d1c3a0b1f4 in Kiln::Cache::lookup (this=0x0, key=...) at /src/kiln/Cache.cpp:54
54\t/src/kiln/Cache.cpp: No such file or directory.
[Current thread is 1 (Thread 0x7f3b2c1ff640 (LWP 9120))]
(gdb) thread apply all bt

Thread 2 (Thread 0x7f3b2d9fe740 (LWP 9118)):
#0  0x00007f3b2e0d7d61 in __futex_abstimed_wait_common64 (private=128, cancel=true, abstime=0x0, op=393, expected=0, futex_word=0x55d1c4e1a2d8) at ./nptl/futex-internal.c:57
#1  0x00007f3b2e0da7dd in __pthread_cond_wait_common (abstime=0x0, clockid=0, mutex=0x55d1c4e1a288, cond=0x55d1c4e1a2b0) at ./nptl/pthread_cond_wait.c:503
#2  0x000055d1c3a0c0aa in Kiln::EventLoop::wait (this=0x55d1c4e1a280, timeout_ms=-1) at /src/kiln/EventLoop.cpp:61
#3  0x000055d1c3a0a2d3 in main (argc=2, argv=0x7ffd4b9c3f08) at /src/kiln/main.cpp:43

Thread 1 (Thread 0x7f3b2c1ff640 (LWP 9120)):
#0  0x000055d1c3a0b1f4 in Kiln::Cache::lookup (this=0x0, key=...) at /src/kiln/Cache.cpp:54
#1  0x000055d1c3a0b9e0 in Kiln::Loader::loadAll (this=0x55d1c4e1b000) at /src/kiln/Loader.cpp:88
#2  0x00007f3b2e0d8ac3 in start_thread (arg=<optimized out>) at ./nptl/pthread_create.c:442
#3  0x00007f3b2e16a850 in clone3 () at ../sysdeps/unix/sysv/linux/x86_64/clone3.S:81
",
            exceptions: vec![exc(
                "SIGSEGV",
                "",
                "Segmentation fault",
                vec![
                    fr("", "clone3", "../sysdeps/unix/sysv/linux/x86_64/clone3.S", 81, false),
                    fr("", "start_thread", "./nptl/pthread_create.c", 442, false),
                    fr("", "Kiln::Loader::loadAll", "/src/kiln/Loader.cpp", 88, true),
                    fr("", "Kiln::Cache::lookup", "/src/kiln/Cache.cpp", 54, true),
                ],
            )],
        },
        Case {
            name: "gdb rust abort with a wrapped frame",
            format: TraceFormat::Gdb,
            platform: "native",
            text: "Thread 3 \"tokio-runtime-w\" received signal SIGABRT, Aborted.
#0  __pthread_kill_implementation (no_tid=0, signo=6, threadid=140737330034240) at ./nptl/pthread_kill.c:44
#1  0x00007ffff7c4526e in __GI_raise (sig=sig@entry=6) at ../sysdeps/posix/raise.c:26
#2  0x00007ffff7c288ff in __GI_abort () at ./stdlib/abort.c:79
#3  0x0000555555a1b2ca in std::sys::pal::unix::abort_internal () at library/std/src/sys/pal/unix/mod.rs:372
#4  0x00005555555a40d7 in myapp::db::Pool::checkout (self=0x7ffff0001230,
    timeout=...) at src/db.rs:61
#5  0x00005555555a3f12 in myapp::handlers::orders::create (pool=0x7ffff0001230) at src/handlers/orders.rs:27
#6  0x00005555555a2a10 in tokio::runtime::task::harness::Harness<T,S>::poll (self=...) at /home/ci/.cargo/registry/src/index.crates.io-6f17d22bba15001f/tokio-1.37.0/src/runtime/task/harness.rs:153
",
            exceptions: vec![exc(
                "SIGABRT",
                "",
                "Aborted",
                vec![
                    fr("", "tokio::runtime::task::harness::Harness<T,S>::poll", "/home/ci/.cargo/registry/src/index.crates.io-6f17d22bba15001f/tokio-1.37.0/src/runtime/task/harness.rs", 153, false),
                    fr("", "myapp::handlers::orders::create", "src/handlers/orders.rs", 27, true),
                    fr("", "myapp::db::Pool::checkout", "src/db.rs", 61, true),
                    fr("", "std::sys::pal::unix::abort_internal", "library/std/src/sys/pal/unix/mod.rs", 372, false),
                    fr("", "__GI_abort", "./stdlib/abort.c", 79, false),
                    fr("", "__GI_raise", "../sysdeps/posix/raise.c", 26, false),
                    fr("", "__pthread_kill_implementation", "./nptl/pthread_kill.c", 44, false),
                ],
            )],
        },
    ]
}

#[test]
fn gdb_traces() {
    let events = run(&gdb_cases());
    let signal = &events[0].exceptions()[0];
    let mechanism = signal.mechanism.as_ref().expect("mechanism");
    assert_eq!(
        mechanism.synthetic,
        Some(true),
        "signals are synthetic types"
    );
    let libstdcxx = &events[1].exceptions()[0]
        .stacktrace
        .as_ref()
        .expect("frames")
        .frames[4];
    assert_eq!(
        libstdcxx.package.as_deref(),
        Some("/lib/x86_64-linux-gnu/libstdc++.so.6")
    );
    let core = &events[2];
    assert_eq!(
        core.exceptions()[0].thread_id,
        Some(serde_json::Value::from(1))
    );
    assert_eq!(core.threads().len(), 1, "thread 2 is kept as a thread");
}

// -------------------------------------------------------- cross-format --

fn all_cases() -> Vec<Case> {
    [
        java_cases(),
        python_cases(),
        javascript_cases(),
        go_cases(),
        ruby_cases(),
        csharp_cases(),
        gdb_cases(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

#[test]
fn every_format_has_at_least_four_cases() {
    for format in TraceFormat::CONCRETE {
        let count = all_cases().iter().filter(|c| c.format == format).count();
        assert!(count >= 4, "{format} has {count} cases");
    }
}

/// Printing an imported trace in its own format and importing it again
/// keeps every exception and frame.
#[test]
fn realistic_traces_survive_format_and_reimport() {
    for case in all_cases() {
        let event = import_trace(case.text, case.format).expect("imports");
        let text = format_trace(&event, TraceFormat::Auto)
            .unwrap_or_else(|e| panic!("{}: format failed: {e}", case.name));
        let again = import_trace(&text, case.format)
            .unwrap_or_else(|e| panic!("{}: reimport failed: {e}\n{text}", case.name));
        let frames = |e: &Event| -> Located {
            e.exceptions()
                .iter()
                .map(|x| {
                    x.stacktrace
                        .iter()
                        .flat_map(|s| &s.frames)
                        .map(|f| {
                            (
                                f.module.clone(),
                                f.function.clone(),
                                f.filename.clone(),
                                f.lineno,
                            )
                        })
                        .collect()
                })
                .collect()
        };
        assert_eq!(frames(&again), frames(&event), "{}:\n{text}", case.name);
        let types = |e: &Event| -> Vec<Option<String>> {
            e.exceptions().iter().map(|x| x.ty.clone()).collect()
        };
        if case.format != TraceFormat::Go {
            assert_eq!(types(&again), types(&event), "{}:\n{text}", case.name);
        }
        let auto = import_trace(&text, TraceFormat::Auto).expect("auto reimport");
        assert_eq!(
            auto, again,
            "{}: auto detection of formatted text",
            case.name
        );
    }
}

#[test]
fn a_format_that_does_not_match_names_itself() {
    let python = python_cases().remove(0).text;
    for format in [
        TraceFormat::Java,
        TraceFormat::CSharp,
        TraceFormat::Gdb,
        TraceFormat::Go,
    ] {
        let error = import_trace(python, format).expect_err("wrong format");
        assert!(
            matches!(error, ImportError::NoTrace { format: f, .. } if f == format),
            "{format}: {error}"
        );
        assert!(error.to_string().contains(&format.to_string()), "{error}");
    }
}

#[test]
fn errors_name_the_problem_and_line() {
    let error = import_trace(
        "log line\nTraceback (most recent call last):\n\n",
        TraceFormat::Python,
    )
    .expect_err("empty traceback");
    assert_eq!(
        error.to_string(),
        "python trace, line 2: the traceback has neither frames nor an exception line"
    );
    assert_eq!(
        import_trace("nothing to see here\n", TraceFormat::Auto),
        Err(ImportError::NotRecognized)
    );
}

#[test]
fn frames_are_capped_like_ingested_events() {
    let mut text = String::from("java.lang.StackOverflowError\n");
    for depth in 0..2000 {
        text.push_str(&format!(
            "\tat com.example.Tree.walk(Tree.java:{})\n",
            depth + 1
        ));
    }
    // A cause that claims more shared frames than exist.
    text.push_str("Caused by: java.lang.IllegalStateException: deep\n\tat com.example.Tree.leaf(Tree.java:9)\n\t... 99999999999 more\n");
    let event = import_trace(&text, TraceFormat::Java).expect("imports");
    for exception in event.exceptions() {
        let frames = &exception.stacktrace.as_ref().expect("frames").frames;
        assert_eq!(frames.len(), 250);
    }
    // The most recent frames are the ones kept.
    let outer = &event.exceptions()[1]
        .stacktrace
        .as_ref()
        .expect("frames")
        .frames;
    assert_eq!(outer.last().and_then(|f| f.lineno), Some(1));
}
