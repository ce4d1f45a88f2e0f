"""Raise real Python exceptions and send them to stackherd with the official
Sentry SDK (the `sentry-sdk` package from PyPI, unmodified).

    python3 tests/sdk/send_errors.py --dsn http://KEY@127.0.0.1:9091/2 [SCENARIO ...]

Scenarios (all, in this order, when none is named):

    first      a KeyError raised six calls deep
    same       the same error from the same code again
    variant    the same crash reached through another entry point
               (fingerprinting splits it; the stacktrace is nearly the same)
    unrelated  a different error from different code

Prints one JSON object per event on stdout: {"scenario": ..., "event_id": ...}.
Every send is flushed before the next exception is raised, so the server
sees the events in order. Exits non-zero if the SDK could not deliver.
"""

import argparse
import json
import os
import sys

import sentry_sdk

HERE = os.path.dirname(os.path.abspath(__file__))


# --- a small application that fails -----------------------------------------

PROFILES = {"u-1": {"name": "Ada"}}


def lookup(profiles, user_id):
    # A local variable with personal data: the SDK sends frame variables,
    # stackherd must never store or log them.
    contact_email = "jane.doe@example.com"
    assert contact_email
    return profiles[user_id]


def load_profile(profiles, user_id):
    profile = lookup(profiles, user_id)
    return dict(profile)


def fetch_profile(profiles, user_id):
    return load_profile(profiles, user_id)


def show_profile(profiles, user_id):
    return fetch_profile(profiles, user_id)


def profile_page(profiles, user_id):
    return show_profile(profiles, user_id)


def user_profile_page(profiles, user_id):
    """The variant: the same path under a renamed entry point."""
    return show_profile(profiles, user_id)


def export_page(profiles, user_id):
    return export_report([{"amount": "12"}, {"amount": "twelve"}])


def export_report(rows):
    total = 0
    for row in rows:
        total += int(row["amount"])
    return total


def handle_request(view, user_id):
    return view(PROFILES, user_id)


# Which view each scenario requests; `first` and `same` are the same code.
SCENARIOS = {
    "first": profile_page,
    "same": profile_page,
    "variant": user_profile_page,
    "unrelated": export_page,
}


# --- sending ------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True)
    parser.add_argument("scenarios", nargs="*", help=", ".join(SCENARIOS))
    args = parser.parse_args()
    unknown = [name for name in args.scenarios if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenarios {unknown}; known: {', '.join(SCENARIOS)}")

    failures = []
    sentry_sdk.init(
        dsn=args.dsn,
        project_root=HERE,
        release="sdk-client-test@1.0",
        environment="test",
        # No performance data, sessions or extra threads beyond the transport.
        traces_sample_rate=None,
        auto_session_tracking=False,
    )
    client = sentry_sdk.get_client()
    if not client.is_active():
        print("the Sentry SDK did not initialize", file=sys.stderr)
        return 2

    for name in args.scenarios or list(SCENARIOS):
        view = SCENARIOS[name]
        try:
            handle_request(view, "u-42")
        except Exception:  # noqa: BLE001 - every exception is the point
            event_id = sentry_sdk.capture_exception()
        else:
            failures.append(f"scenario {name} did not raise")
            continue
        if event_id is None:
            failures.append(f"the SDK dropped the {name} event")
            continue
        # Deliver before raising the next one: the server sees them in order.
        sentry_sdk.flush(timeout=30)
        print(json.dumps({"scenario": name, "event_id": event_id}), flush=True)

    sentry_sdk.flush(timeout=30)
    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
