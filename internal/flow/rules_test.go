package flow_test

import (
	"testing"

	"github.com/sluice/sluice/internal/flow"
)

// TestCheckerAcceptsWhatTheEngineRuns: written values that the engine's
// rules accept pass the checker too (the checker calls the same rules).
func TestCheckerAcceptsWhatTheEngineRuns(t *testing.T) {
	t.Parallel()
	const webhook = "name: ok\ntrigger: {type: webhook}\nactions:\n"
	for name, action := range map[string]string{
		"method in lower case":   "{id: a, type: http, with: {url: 'https://x.example', method: post}}",
		"respond status as text": "{id: a, type: respond, with: {status: '201'}}",
		"delay in seconds":       "{id: a, type: delay, with: {duration: 90}}",
		"name with a comma":      `{id: a, type: email, with: {to: '"Doe, Jo" <jo@example.com>, b@example.com', subject: s}}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, problems := flow.Parse([]byte(webhook + "  - " + action + "\n")); len(problems) > 0 {
				t.Fatalf("problems: %v", problems)
			}
		})
	}
}

// TestRules checks the values the engine reads at run time.
func TestRules(t *testing.T) {
	t.Parallel()
	if n, err := flow.RespondStatus(float64(204)); n != 204 || err != nil {
		t.Errorf("RespondStatus(204.0) = %d, %v", n, err)
	}
	for _, v := range []any{int64(100), 199.0, 600, "abc", 200.5, nil} {
		if _, err := flow.RespondStatus(v); err == nil {
			t.Errorf("RespondStatus(%v) accepted", v)
		}
	}
	if m, err := flow.HTTPMethod("patch"); m != "PATCH" || err != nil {
		t.Errorf("HTTPMethod(patch) = %q, %v", m, err)
	}
	for _, v := range []any{"TRACE", "CONNECT", "GET\r\nX: y", 1} {
		if _, err := flow.HTTPMethod(v); err == nil {
			t.Errorf("HTTPMethod(%q) accepted", v)
		}
	}
	for _, v := range []any{"ftp://x", "https://", "//x.example/a", ":", 1} {
		if _, err := flow.HTTPURL(v); err == nil {
			t.Errorf("HTTPURL(%v) accepted", v)
		}
	}
	if d, err := flow.DelayDuration(1.5); d.Seconds() != 1.5 || err != nil {
		t.Errorf("DelayDuration(1.5) = %v, %v", d, err)
	}
	if d, err := flow.DelayDuration("-5m"); d >= 0 || err != nil {
		t.Errorf("a computed negative delay is no wait, not an error: %v, %v", d, err)
	}
	for _, v := range []any{"721h", 1e300, int64(1) << 62, "soon", true} {
		if _, err := flow.DelayDuration(v); err == nil {
			t.Errorf("DelayDuration(%v) accepted", v)
		}
	}
	got, err := flow.EmailAddresses([]any{`"Doe, Jo" <jo@example.com>, b@example.com`, "c@example.com"})
	if err != nil || len(got) != 3 || got[0] != `"Doe, Jo" <jo@example.com>` {
		t.Errorf("EmailAddresses = %q, %v", got, err)
	}
	if got, err := flow.EmailAddresses([]any{"a@example.com", " "}); err != nil || len(got) != 1 {
		t.Errorf("a blank computed address: %q, %v", got, err)
	}
	if _, err := flow.EmailAddresses([]any{"a@example.com", 7}); err == nil {
		t.Error("a number accepted as an address")
	}
	if err := flow.HeaderValue("a\tb"); err != nil {
		t.Errorf("HeaderValue(tab) = %v", err)
	}
	for _, v := range []string{"a\r\nX-Injected: 1", "a\x00", "a\x7f"} {
		if err := flow.HeaderValue(v); err == nil {
			t.Errorf("HeaderValue(%q) accepted", v)
		}
	}
	if _, err := flow.TerminateStatus("done"); err == nil {
		t.Error("TerminateStatus(done) accepted")
	}
}
