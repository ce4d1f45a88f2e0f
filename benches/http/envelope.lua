-- Sentry SDK envelope ingestion: one Python error event per envelope (the
-- same error each time, so after the first the fingerprint cache groups it),
-- plus a client report item that is accepted and ignored.
local event = '{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","platform":"python","level":"error",' ..
  '"exception":{"values":[{"type":"KeyError","value":"\'u-42\'","stacktrace":{"frames":[' ..
  '{"module":"app.views","filename":"app/views.py","function":"profile_page","lineno":12,' ..
  '"context_line":"    return show_profile(profiles, user_id)","in_app":true},' ..
  '{"module":"app.profiles","filename":"app/profiles.py","function":"lookup","lineno":40,' ..
  '"context_line":"    return profiles[user_id]","in_app":true}]}}]}}'
local report = '{"timestamp":1700000000,"discarded_events":[]}'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-sentry-envelope"
wrk.headers["X-Sentry-Auth"] = "Sentry sentry_key=" .. (os.getenv("BENCH_DSN_KEY") or "benchkey0123456789abcdef01234567") ..
  ", sentry_version=7, sentry_client=wrk/1.0"
wrk.body = '{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","sent_at":"2025-01-01T00:00:00Z"}\n' ..
  '{"type":"event","length":' .. #event .. '}\n' .. event .. '\n' ..
  '{"type":"client_report","length":' .. #report .. '}\n' .. report .. '\n'

function response(status, headers, body)
  if status ~= 200 then
    io.stderr:write("unexpected status " .. status .. ": " .. body .. "\n")
  end
end
