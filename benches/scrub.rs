//! Scrubbing throughput on a realistic ~2 KB stacktrace text, with and
//! without personal data in it.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use stackherd::scrub::Scrubber;
use std::hint::black_box;

/// Frames shared by both texts: ordinary Python code, nothing to scrub.
const FRAMES: &str = r#"  File "django/core/handlers/exception.py", function inner
    response = get_response(request)
  File "django/core/handlers/base.py", function _get_response
    response = wrapped_callback(request, *callback_args, **callback_kwargs)
  File "app/views/accounts.py", function update_profile
    profile = AccountService(request.user).update(form.cleaned_data)
  File "app/services/accounts.py", function update
    row = self.repo.save(account, fields=changed_fields)
  File "app/repo/base.py", function save
    return self.db.execute(query, params)
  File "sqlalchemy/engine/base.py", function execute
    return meth(self, distilled_parameters, execution_options or NO_OPTIONS)
  File "sqlalchemy/engine/base.py", function _execute_context
    return self._exec_single_context(dialect, context, statement, parameters)
  File "sqlalchemy/engine/default.py", function do_execute
    cursor.execute(statement, parameters)
  File "psycopg2/extras.py", function execute
    return super().execute(query, vars)"#;

fn dirty_text() -> String {
    let header = "IntegrityError: duplicate key value violates unique constraint \
        \"accounts_email_key\" DETAIL: Key (email)=(maria.lopez+billing@example.com) already exists. \
        [SQL: UPDATE accounts SET email='maria.lopez+billing@example.com', password='hunter2', \
        card='4111 1111 1111 1111' WHERE id=48213 AND tenant_id=7]";
    let cause = "ConnectionError: upstream 10.20.30.40:5432 (fe80::1%eth0) refused \
        Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0ODIxMyJ9.\
        dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk api_key=sk_live_51HqLyjWDarjtT1zdp7dc \
        session=\"8f14e45fceea167a5a36dedd4bea2543\"";
    let text = format!("{header}\n{FRAMES}\n{cause}\n{FRAMES}");
    text
}

fn clean_text() -> String {
    let header = "IntegrityError: duplicate key value violates unique constraint \
        \"accounts_name_key\" while saving the account profile for the current tenant";
    let cause = "ConnectionError: upstream database refused the connection after three retries";
    format!("{header}\n{FRAMES}\n{cause}\n{FRAMES}")
}

fn bench_scrub(c: &mut Criterion) {
    let scrubber = Scrubber::new();
    let mut group = c.benchmark_group("scrub");
    for (name, text) in [
        ("dirty_stacktrace", dirty_text()),
        ("clean_stacktrace", clean_text()),
    ] {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(name, |b| b.iter(|| scrubber.scrub(black_box(&text)).len()));
    }
    group.finish();
}

criterion_group!(benches, bench_scrub);
criterion_main!(benches);
