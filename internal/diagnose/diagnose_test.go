package diagnose

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestSpecialCases(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		in          Input
		class, code string
		retryable   bool
		contains    []string
	}{
		{
			name:  "github 403 with remaining 0 is a rate limit, not a permission error",
			in:    Input{Status: 403, URL: "https://api.github.com/user/repos", Headers: map[string]string{"X-Ratelimit-Remaining": "0"}, RawBody: `{"message":"API rate limit exceeded for user ID 1."}`},
			class: ClassThrottled, code: "github.rate_limit", retryable: true,
		},
		{
			name:  "github secondary rate limit on 403",
			in:    Input{Status: 403, URL: "https://api.github.com/repos/a/b/issues", RawBody: `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}`},
			class: ClassThrottled, code: "github.secondary_rate_limit", retryable: true,
		},
		{
			name:  "unknown API's 403 saying rate limit exceeded",
			in:    Input{Status: 403, URL: "https://api.example.com/x", RawBody: `{"error":"API rate limit exceeded"}`},
			class: ClassThrottled, code: "http.rate_limited", retryable: true,
		},
		{
			name:  "unknown API's 403 with X-RateLimit-Remaining 0",
			in:    Input{Status: 403, URL: "https://api.example.com/x", Headers: map[string]string{"x-ratelimit-remaining": "0"}},
			class: ClassThrottled, code: "http.rate_limited", retryable: true,
		},
		{
			name:  "IETF RateLimit header on 403",
			in:    Input{Status: 403, Headers: map[string]string{"RateLimit": `"default";r=0;t=30`}},
			class: ClassThrottled, code: "http.rate_limited", retryable: true,
		},
		{
			name:  "AWS ThrottlingException on 400",
			in:    Input{Status: 400, URL: "https://monitoring.us-east-1.amazonaws.com/", RawBody: `<ErrorResponse><Error><Type>Sender</Type><Code>ThrottlingException</Code><Message>Rate exceeded</Message></Error></ErrorResponse>`},
			class: ClassThrottled, code: "aws.throttling", retryable: true,
		},
		{
			name:  "AWS Throttling XML from an unknown host still matches its signature",
			in:    Input{Status: 400, RawBody: `<ErrorResponse><Error><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>`},
			class: ClassThrottled, code: "aws.throttling", retryable: true,
		},
		{
			name:  "Google rateLimitExceeded on 403",
			in:    Input{Status: 403, URL: "https://www.googleapis.com/drive/v3/files", Body: map[string]any{"error": map[string]any{"errors": []any{map[string]any{"domain": "usageLimits", "reason": "userRateLimitExceeded"}}, "code": 403.0}}},
			class: ClassThrottled, code: "google.rate_limit", retryable: true,
		},
		{
			name:  "Slack revoked token on 200",
			in:    Input{Status: 200, URL: "https://slack.com/api/chat.postMessage", Body: map[string]any{"ok": false, "error": "token_revoked"}, Connection: "slack-bot"},
			class: ClassAuth, code: "slack.token_revoked", contains: []string{`connection "slack-bot"`},
		},
		{
			name:  "Slack invalid_auth on 200 without URL (its signature is enough)",
			in:    Input{Status: 200, RawBody: `{"ok": false, "error": "invalid_auth"}`},
			class: ClassAuth, code: "slack.invalid_auth",
		},
		{
			name:  "Telegram error_code 401 on 200",
			in:    Input{Status: 200, URL: "https://api.telegram.org/bot1:x/getMe", RawBody: `{"ok":false,"error_code":401,"description":"Unauthorized"}`},
			class: ClassAuth, code: "telegram.unauthorized",
		},
		{
			name:  "Graph manager 404 is data, with a run_after tip naming the step",
			in:    Input{Status: 404, URL: "https://graph.microsoft.com/v1.0/users/u1/manager", Step: "get_manager", RawBody: `{"error":{"code":"Request_ResourceNotFound","message":"Resource 'manager' does not exist or one of its queried reference-property objects are not present.","innerError":{"request-id":"1"}}}`},
			class: ClassConfig, code: "graph.no_manager",
			contains: []string{"no manager set", "run_after", "get_manager: [failed]"},
		},
		{
			name:  "generic not-found body from an unknown host stays generic",
			in:    Input{Status: 404, URL: "https://intranet.example.com/api/users/7", RawBody: `{"error": "not found"}`},
			class: ClassConfig, code: "http.404",
		},
		{
			name:  "generic error body with ok false from an unknown host is not Slack",
			in:    Input{Status: 400, URL: "https://intranet.example.com/api", RawBody: `{"ok": false, "error": "bad_input"}`},
			class: ClassConfig, code: "http.400",
		},
		{
			name:  "unknown 418 falls back to its family",
			in:    Input{Status: 418},
			class: ClassConfig, code: "http.4xx",
		},
		{
			name:  "unknown 599 falls back to its family",
			in:    Input{Status: 599, RawBody: "oops"},
			class: ClassTransient, code: "http.5xx", retryable: true, contains: []string{`"oops"`},
		},
		{
			name:  "gateway HTML page: the title is quoted",
			in:    Input{Status: 504, RawBody: "<!DOCTYPE html><html><head><title>504 Gateway Time-out</title></head><body><h1>504</h1></body></html>"},
			class: ClassTransient, code: "http.5xx", retryable: true, contains: []string{"504 Gateway Time-out"},
		},
		{
			name:  "SSRF guard refusal",
			in:    Input{Kind: KindConfig, Message: `GET http://10.0.0.5/admin: refusing to connect to 10.0.0.5 (private) for host "10.0.0.5": set SLUICE_ALLOW_NET to allow it`},
			class: ClassConfig, code: "net.blocked", contains: []string{"SLUICE_ALLOW_NET"},
		},
		{
			name:  "DNS",
			in:    Input{Kind: KindConfig, Message: `GET https://api.exmaple.com/x: host "api.exmaple.com" not found`},
			class: ClassConfig, code: "net.dns",
		},
		{
			name:  "connection refused",
			in:    Input{Kind: KindNetwork, Message: "POST http://127.0.0.1:9/x: dial tcp 127.0.0.1:9: connect: connection refused"},
			class: ClassTransient, code: "net.refused", retryable: true,
		},
		{
			name:  "connection reset",
			in:    Input{Kind: KindNetwork, Message: "GET https://a.example/x: read tcp 10.0.0.2:5555->1.2.3.4:443: read: connection reset by peer"},
			class: ClassTransient, code: "net.reset", retryable: true,
		},
		{
			name:  "TLS",
			in:    Input{Kind: KindConfig, Message: "GET https://self-signed.example/: TLS certificate: x509: certificate signed by unknown authority"},
			class: ClassConfig, code: "net.tls",
		},
		{
			name:  "timeout",
			in:    Input{Kind: KindTimeout, Message: "GET https://slow.example/: timed out"},
			class: ClassTransient, code: "net.timeout", retryable: true,
		},
		{
			name:  "expression error names the field",
			in:    Input{Kind: KindExpression, Message: "with.to: unknown name mail", Step: "welcome", Field: "with.to"},
			class: ClassFlow, code: "expression.error", contains: []string{`field "with.to"`, `step "welcome"`},
		},
		{
			name:  "expression budget is a flow failure, not retried",
			in:    Input{Kind: KindExpression, Message: "with: evaluate uniq(trigger.body): expression budget exceeded: expression ran longer than 2s", Step: "dedupe"},
			class: ClassFlow, code: "expression.budget", contains: []string{`step "dedupe"`, "budget"},
		},
		{
			name:  "run expression work is a flow failure, not retried",
			in:    Input{Kind: KindExpression, Message: "with: run expression work limit reached: the run's expressions ran longer than 5m0s in total", Step: "work"},
			class: ClassFlow, code: "run.expression_work", contains: []string{`step "work"`, "5m0s"},
		},
		{
			name:  "run step limit is a flow failure, not retried",
			in:    Input{Kind: KindFlow, Message: "run step limit reached: the run has recorded 250000 steps, the most one run may record", Step: "loop"},
			class: ClassFlow, code: "run.steps", contains: []string{`step "loop"`, "250000"},
		},
		{
			name:  "run memory limit is a flow failure, not retried",
			in:    Input{Kind: KindPayload, Message: "run memory limit reached: the run's step outputs add up to more than 256.0 MiB, the most one run may hold", Step: "fetch"},
			class: ClassFlow, code: "run.memory", contains: []string{`step "fetch"`, "256.0 MiB"},
		},
		{
			name:  "terminate",
			in:    Input{Kind: KindTerminate, Message: "no manager", Step: "stop"},
			class: ClassFlow, code: "flow.terminate",
		},
		{
			name:  "payload over the cap",
			in:    Input{Kind: KindPayload, Status: 200, Message: "the response of GET https://x.example/big is larger than the 10 MiB cap per step"},
			class: ClassFlow, code: "payload.too_large",
		},
		{
			name:  "connection missing",
			in:    Input{Kind: KindConfig, Message: "connection \"crm\" not found: add it with `sluice connections add crm`", Connection: "crm"},
			class: ClassConfig, code: "config.connection_missing", contains: []string{"sluice connections add crm"},
		},
		{
			name:  "nothing at all",
			in:    Input{},
			class: ClassTransient, code: "error.unknown",
		},
		{
			name:  "a quota 429 with a short Retry-After is a rate limit, retried",
			in:    Input{Status: 429, URL: "https://api.example.com/x", Headers: map[string]string{"Retry-After": "20"}, RawBody: `{"message":"Daily quota exceeded for this key"}`},
			class: ClassThrottled, code: "http.429", retryable: true,
		},
		{
			name:  "a quota 429 with a long reset is not retried and says when it resets",
			in:    Input{Status: 429, URL: "https://api.example.com/x", Headers: map[string]string{"Retry-After": "7200"}, RawBody: `{"message":"Monthly quota exceeded"}`},
			class: ClassThrottled, code: "http.quota_exhausted", contains: []string{"resets in 2h0m", `"Monthly quota exceeded"`},
		},
		{
			name:  "a quota per minute is a rate limit",
			in:    Input{Status: 429, URL: "https://api.example.com/x", RawBody: `{"error":{"code":429,"message":"Quota exceeded for quota metric 'Requests' and limit 'Requests per minute'","status":"RESOURCE_EXHAUSTED"}}`},
			class: ClassThrottled, code: "http.429", retryable: true,
		},
		{
			name:  "a 409 that says already exists stays a configuration problem",
			in:    Input{Status: 409, URL: "https://api.example.com/users", RawBody: `{"message":"A user with this email already exists. Do not retry."}`},
			class: ClassConfig, code: "http.409", contains: []string{"already exists"},
		},
		{
			name:  "words in keys do not count: a 409 with retryable false, a 403 with a billing id",
			in:    Input{Status: 409, URL: "https://api.example.com/x", RawBody: `{"message":"Email taken","retryable":false,"lock_id":null}`},
			class: ClassConfig, code: "http.409",
		},
		{
			name:  "a 403 whose body has a billing field but whose message is about a role",
			in:    Input{Status: 403, URL: "https://api.example.com/x", RawBody: `{"message":"Role viewer may not delete invoices","billing_account":"ba_1"}`},
			class: ClassAuth, code: "http.403",
		},
		{
			name:  "a 409 that says do not retry is not retried",
			in:    Input{Status: 409, URL: "https://api.example.com/jobs/1", RawBody: `{"message":"Job 1 is in state done; do not retry"}`},
			class: ClassConfig, code: "http.409",
		},
		{
			name:  "GraphQL code wins over the status",
			in:    Input{Status: 500, URL: "https://api.example.com/graphql", RawBody: `{"errors":[{"message":"Context creation failed: token expired","extensions":{"code":"UNAUTHENTICATED"}}]}`},
			class: ClassAuth, code: "graphql.unauthenticated", contains: []string{"Context creation failed: token expired"},
		},
		{
			name:  "a REST errors list on a 401 is not taken for GraphQL by its message",
			in:    Input{Status: 401, URL: "https://api.example.com/v3/mail", RawBody: `{"errors":[{"field":null,"message":"not found"}]}`},
			class: ClassAuth, code: "http.401",
		},
		{
			name:  "a GraphQL 429 without a code is a rate limit",
			in:    Input{Status: 429, URL: "https://api.example.com/graphql", Headers: map[string]string{"Retry-After": "3"}, RawBody: `{"errors":[{"message":"Slow down there, partner"}]}`},
			class: ClassThrottled, code: "http.429", retryable: true,
		},
		{
			name:  "SOAP 1.1 Server.userException about a login is an auth fault",
			in:    Input{Status: 500, RawBody: `<Envelope><Header/><Body><Fault><faultcode>Server.userException</faultcode><faultstring>Your session has expired</faultstring></Fault></Body></Envelope>`},
			class: ClassAuth, code: "soap.auth_fault", contains: []string{"Your session has expired"},
		},
		{
			name:  "an unprefixed SOAP envelope with a Header is XML, not HTML",
			in:    Input{Status: 500, RawBody: `<Envelope><Header/><Body><Fault><faultcode>Client</faultcode><faultstring>Missing OrderId</faultstring></Fault></Body></Envelope>`},
			class: ClassConfig, code: "soap.client_fault", contains: []string{"Missing OrderId"},
		},
		{
			name:  "problem+json: title and detail quoted, the problem's status classifies a 200",
			in:    Input{Status: 200, URL: "https://api.example.com/orders/9", Headers: map[string]string{"Content-Type": "application/problem+json"}, RawBody: `{"type":"about:blank","title":"Not Found","status":404,"detail":"Order 9 does not exist"}`},
			class: ClassConfig, code: "http.404", contains: []string{"Not Found: Order 9 does not exist", "answered 404"},
		},
		{
			name:  "problem+json: the first invalid field is quoted",
			in:    Input{Status: 422, Headers: map[string]string{"Content-Type": "application/problem+json"}, RawBody: `{"type":"https://zalando.github.io/problem/constraint-violation","title":"Constraint Violation","status":422,"violations":[{"field":"email","message":"must be a well-formed email address"}]}`},
			class: ClassConfig, code: "http.422", contains: []string{"Constraint Violation email: must be a well-formed email address"},
		},
		{
			name:  "OAuth invalid_grant on a 400 is a credentials problem",
			in:    Input{Status: 400, URL: "https://login.example.com/oauth/token", RawBody: `{"error":"invalid_grant","error_description":"Refresh token expired"}`},
			class: ClassAuth, code: "oauth.invalid_grant", contains: []string{"Refresh token expired"},
		},
		{
			name:  "neutral wording without names",
			in:    Input{Status: 401},
			class: ClassAuth, code: "http.401", contains: []string{"the connection this step uses"},
		},
	}
	cat := Default()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := cat.Diagnose(tt.in)
			if d.Class != tt.class || d.Code != tt.code || d.Retryable != tt.retryable {
				t.Fatalf("got %s %s retryable=%v, want %s %s retryable=%v\n%+v", d.Class, d.Code, d.Retryable, tt.class, tt.code, tt.retryable, d)
			}
			all := d.Title + "\n" + d.WhatHappened + "\n" + d.HowToFix
			for _, s := range tt.contains {
				if !strings.Contains(all, s) {
					t.Errorf("diagnosis lacks %q:\n%s", s, all)
				}
			}
			if strings.Contains(all, "{{") || strings.Contains(all, "<no value>") {
				t.Errorf("unrendered template:\n%s", all)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	date := "Wed, 21 Oct 2015 07:28:00 GMT"
	tests := []struct {
		name    string
		headers map[string]string
		body    string
		want    time.Duration
	}{
		{"seconds", map[string]string{"Retry-After": "120"}, "", 120 * time.Second},
		{"fractional seconds", map[string]string{"Retry-After": "2.0"}, "", 2 * time.Second},
		{"HTTP date relative to Date", map[string]string{"Date": date, "Retry-After": "Wed, 21 Oct 2015 07:29:30 GMT"}, "", 90 * time.Second},
		{"HTTP date in the past", map[string]string{"Date": date, "Retry-After": "Wed, 21 Oct 2015 07:00:00 GMT"}, "", 0},
		{"X-RateLimit-Reset epoch", map[string]string{"Date": date, "X-RateLimit-Reset": "1445412540"}, "", 60 * time.Second},
		{"RateLimit-Reset delta", map[string]string{"RateLimit-Reset": "50"}, "", 50 * time.Second},
		{"RateLimit structured", map[string]string{"RateLimit": "limit=100, remaining=0, reset=7"}, "", 7 * time.Second},
		{"Discord body", nil, `{"message":"You are being rate limited.","retry_after":64.57,"global":false}`, 64570 * time.Millisecond},
		{"Telegram body", nil, `{"ok":false,"error_code":429,"parameters":{"retry_after":15}}`, 15 * time.Second},
		{"Retry-After wins over the body", map[string]string{"Retry-After": "3"}, `{"retry_after":99}`, 3 * time.Second},
		{"absurd value is capped", map[string]string{"Retry-After": "99999999999"}, "", MaxRetryAfter},
		{"garbage is ignored", map[string]string{"Retry-After": "soon"}, "", 0},
		{"negative is ignored", map[string]string{"Retry-After": "-5"}, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := Diagnose(Input{Status: 429, Headers: tt.headers, RawBody: tt.body})
			if d.RetryAfter != tt.want {
				t.Errorf("RetryAfter = %v, want %v", d.RetryAfter, tt.want)
			}
		})
	}
	// Not retryable, not throttled: no wait is reported.
	if d := Diagnose(Input{Status: 404, Headers: map[string]string{"Retry-After": "5"}}); d.RetryAfter != 0 {
		t.Errorf("404 RetryAfter = %v, want 0", d.RetryAfter)
	}
}

func TestHeaderExhausted(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]bool{"40/40": true, "39/40": false, "api-usage=15000/15000": true, "api-usage=25/15000": false, "x": false, "0/0": false} {
		if got := exhausted(v); got != want {
			t.Errorf("exhausted(%q) = %v, want %v", v, got, want)
		}
	}
	d := Diagnose(Input{Status: 403, URL: "https://acme.my.salesforce.com/services/data", Headers: map[string]string{"Sforce-Limit-Info": "api-usage=15000/15000"}})
	if d.Code != "http.rate_limited" {
		t.Errorf("Sforce-Limit-Info exhausted: got %s", d.Code)
	}
}

func TestIsFailure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		body   string
		want   bool
	}{
		{"4xx", 404, "", true},
		{"5xx", 503, "ok", true},
		{"plain 200", 200, `{"ok":true,"channel":"C1"}`, false},
		{"slack invalid_auth", 200, `{"ok":false,"error":"invalid_auth"}`, true},
		{"telegram 401 in 200", 200, `{"ok":false,"error_code":401,"description":"Unauthorized"}`, true},
		{"graphql errors without data", 200, `{"errors":[{"message":"Field 'x' doesn't exist"}]}`, true},
		{"graphql partial data", 200, `{"data":{"a":1},"errors":[{"message":"b failed"}]}`, false},
		{"shopify graphql throttled", 200, `{"errors":[{"message":"Throttled","extensions":{"code":"THROTTLED"}}],"data":{}}`, true},
		{"only an error", 200, `{"error":{"code":"x","message":"bad"}}`, true},
		{"data with an error field", 200, `{"id":7,"error":null,"errors":[]}`, false},
		{"log entry that mentions error", 200, `{"level":"info","error":"none"}`, false},
		{"text", 200, "all good", false},
		{"success false", 200, `{"success":false,"message":"Invalid key"}`, true},
		{"graphql data with only null fields", 200, `{"data":{"createOrder":null},"errors":[{"message":"Not allowed"}]}`, true},
		{"graphql partial data with a null field", 200, `{"data":{"a":1,"b":null},"errors":[{"message":"b failed"}]}`, false},
		{"json-rpc error", 200, `{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":1}`, true},
		{"json-rpc result", 200, `{"jsonrpc":"2.0","result":{"error":"none"},"id":1}`, false},
		{"record with a title and a status", 200, `{"title":"Q3 report","status":200,"type":"report"}`, false},
		{"uptime check with a title and a status 500", 200, `{"title":"Homepage","status":500,"type":"http"}`, false},
		{"SOAP fault in a 200", 200, `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault><faultcode>soap:Server</faultcode><faultstring>down</faultstring></soap:Fault></soap:Body></soap:Envelope>`, true},
		{"SOAP answer", 200, `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><GetPriceResponse><Price>1.90</Price></GetPriceResponse></soap:Body></soap:Envelope>`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := IsFailure(tt.status, nil, tt.body); got != tt.want {
				t.Errorf("IsFailure(%d, %s) = %v, want %v", tt.status, tt.body, got, tt.want)
			}
		})
	}
	// A problem document in a 200 fails when its Content-Type says it is
	// one; the same body as plain JSON might be a record.
	problem := `{"type":"about:blank","title":"Not Found","status":404}`
	if !IsFailure(200, map[string]string{"content-type": "application/problem+json"}, problem) {
		t.Error("a problem+json 404 in a 200 is not a failure")
	}
	if IsFailure(200, map[string]string{"Content-Type": "application/json"}, problem) {
		t.Error("a JSON record with a title and a status 404 is a failure")
	}
}

func TestBuiltinCatalog(t *testing.T) {
	t.Parallel()
	c := Default()
	if n := len(c.Providers()); n < 13 {
		t.Errorf("catalog covers %d providers, want at least 13: %v", n, c.Providers())
	}
	ids := map[string]bool{}
	for _, id := range c.IDs() {
		ids[id] = true
	}
	for _, want := range []string{"http.401", "http.403", "http.404", "http.408", "http.409", "http.422", "http.429", "http.5xx", "http.4xx",
		"net.dns", "net.refused", "net.reset", "net.tls", "net.timeout", "net.blocked", "expression.error", "expression.budget", "flow.terminate", "run.steps", "run.expression_work", "run.memory",
		"payload.too_large", "config.connection_missing", "graph.no_manager"} {
		if !ids[want] {
			t.Errorf("catalog lacks %s", want)
		}
	}
	for _, e := range append(append([]*entry{}, c.provider...), c.generic...) {
		if !strings.HasPrefix(e.Source, "https://") {
			t.Errorf("%s: source %q is not an https URL", e.ID, e.Source)
		}
		if len(e.Actions) == 0 {
			t.Errorf("%s: no actions", e.ID)
		}
		if !e.Generic && len(e.Match.Hosts) == 0 {
			t.Errorf("%s: a provider entry needs hosts (and a signature to match elsewhere)", e.ID)
		}
		fix := strings.Contains(strings.Join(e.Actions, ","), ActionFixConnection)
		if fix && !strings.Contains(e.HowToFix, "{{.Connection}}") {
			t.Errorf("%s: suggests fix_connection but how_to_fix does not name {{.Connection}}", e.ID)
		}
		if !strings.Contains(e.HowToFix, "{{.Connection}}") && !strings.Contains(e.HowToFix, "{{.Step}}") && !strings.Contains(e.HowToFix, ".StepName") {
			t.Errorf("%s: how_to_fix names neither {{.Connection}} nor {{.Step}}", e.ID)
		}
		if e.Class == ClassThrottled && !strings.Contains(strings.Join(e.Actions, ","), ActionWait) {
			t.Errorf("%s: throttled without the wait action", e.ID)
		}
	}
	// Default returns independent catalogs.
	a, b := Default(), Default()
	if err := a.Load(strings.NewReader(`[{"id":"x.y","class":"flow","title":"t","what_happened":"w","how_to_fix":"f {{.Step}}","actions":["edit_flow"]}]`)); err != nil {
		t.Fatal(err)
	}
	if a.Entries() != b.Entries()+1 {
		t.Errorf("Load on one Default changed another: %d vs %d", a.Entries(), b.Entries())
	}
}

func TestLoadAdminEntries(t *testing.T) {
	t.Parallel()
	c := Default()
	const file = `{"entries": [{
		"id": "acme.quota", "provider": "Acme CRM", "source": "https://wiki.acme.example/crm-errors",
		"match": {"hosts": ["crm.acme.example"], "status": [403], "body": [{"path": "error.code", "equals": "QUOTA"}]},
		"class": "throttled", "retryable": true, "actions": ["wait", "resubmit"],
		"title": "Acme CRM quota used up",
		"what_happened": "Acme CRM refused {{.Connection}}: its daily quota is used up.",
		"how_to_fix": "Ask the CRM team to raise the quota of {{.Connection}}, or resubmit {{.Step}} tomorrow."
	}, {
		"id": "acme.override_404", "generic": true,
		"match": {"status": [404], "hosts": ["crm.acme.example"]},
		"class": "config", "actions": ["edit_flow"],
		"title": "No such CRM record", "what_happened": "The CRM has no such record.", "how_to_fix": "Check the record id used by {{.Step}}."
	}]}`
	if err := c.Load(strings.NewReader(file)); err != nil {
		t.Fatal(err)
	}
	d := c.Diagnose(Input{Status: 403, URL: "https://crm.acme.example/api/v2/contacts", RawBody: `{"error":{"code":"QUOTA"}}`, Connection: "crm", Step: "sync"})
	if d.Code != "acme.quota" || d.Class != ClassThrottled || !strings.Contains(d.HowToFix, `connection "crm"`) {
		t.Errorf("admin entry not used: %+v", d)
	}
	// An admin entry wins over a built-in one that also matches.
	if d := c.Diagnose(Input{Status: 404, URL: "https://crm.acme.example/x"}); d.Code != "acme.override_404" {
		t.Errorf("admin entry did not win: %s", d.Code)
	}
	// Other hosts are unaffected.
	if d := c.Diagnose(Input{Status: 404, URL: "https://other.example/x"}); d.Code != "http.404" {
		t.Errorf("other host: %s", d.Code)
	}
	// From a file.
	path := filepath.Join(t.TempDir(), "catalog.json")
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Default().LoadFile(path); err != nil {
		t.Errorf("LoadFile: %v", err)
	}
}

func TestLoadBadCatalog(t *testing.T) {
	t.Parallel()
	ok := `{"id":"acme.a","class":"auth","title":"t","what_happened":"w","how_to_fix":"f","actions":["fix_connection"]}`
	tests := []struct {
		name, file, want string
	}{
		{"not JSON", `{"entries": [`, "not valid JSON"},
		{"wrong shape", `{"items": []}`, `want a JSON array of entries or an object {"entries": [...]}`},
		{"bad class", `[` + ok + `, {"id":"acme.b","class":"throttle","title":"t","what_happened":"w","how_to_fix":"f"}]`, `entries[1] (id "acme.b"): class: "throttle" is not one of auth, config, throttled, transient, flow`},
		{"bad action", `[{"id":"acme.b","class":"auth","title":"t","what_happened":"w","how_to_fix":"f","actions":["retry"]}]`, `entries[0] (id "acme.b"): actions[0]: "retry" is not one of`},
		{"unknown field", `[{"id":"acme.b","clas":"auth"}]`, `entries[0] (id "acme.b"): unknown field "clas"`},
		{"wrong type", `[{"id":"acme.b","retryable":"yes"}]`, `entries[0] (id "acme.b"): retryable: want bool, got string`},
		{"bad id", `[{"id":"Acme","class":"auth","title":"t","what_happened":"w","how_to_fix":"f"}]`, `entries[0] (id "Acme"): id:`},
		{"empty how_to_fix", `[{"id":"acme.b","class":"auth","title":"t","what_happened":"w","how_to_fix":" "}]`, `how_to_fix: must not be empty`},
		{"bad template", `[{"id":"acme.b","class":"auth","title":"t","what_happened":"w","how_to_fix":"{{.Conection}}"}]`, `entries[0] (id "acme.b"): how_to_fix:`},
		{"bad regex", `[{"id":"acme.b","class":"auth","title":"t","what_happened":"w","how_to_fix":"f","match":{"text":"("}}]`, `entries[0] (id "acme.b"): match.text: error parsing regexp`},
		{"bad status", `[{"id":"acme.b","class":"auth","title":"t","what_happened":"w","how_to_fix":"f","match":{"status":[700]}}]`, `entries[0] (id "acme.b"): 700 is not an HTTP status`},
		{"bad status family", `[{"id":"acme.b","class":"auth","title":"t","what_happened":"w","how_to_fix":"f","match":{"status":["6xx"]}}]`, `"6xx" is not a status`},
		{"bad kind", `[{"id":"acme.b","class":"auth","title":"t","what_happened":"w","how_to_fix":"f","match":{"kinds":["dns"]}}]`, `match.kinds[0]: "dns" is not one of`},
		{"body rule without path", `[{"id":"acme.b","class":"auth","title":"t","what_happened":"w","how_to_fix":"f","match":{"any":[{"body":[{"equals":"x"}]}]}}]`, `match.any[0].body[0].path: must not be empty`},
		{"duplicate id", `[` + ok + `,` + ok + `]`, `id "acme.a": used by two entries`},
		{"bad wait", `[{"id":"acme.b","class":"auth","title":"t","what_happened":"w","how_to_fix":"f","match":{"not":[{"wait_at_most":"soon"}]}}]`, `match.not[0].wait_at_most: "soon" is not a positive duration`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Default()
			n := c.Entries()
			err := c.Load(strings.NewReader(tt.file))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load error = %v, want one containing %q", err, tt.want)
			}
			if c.Entries() != n {
				t.Errorf("a bad file added entries")
			}
		})
	}
	if err := Default().LoadFile(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("LoadFile of a missing file succeeded")
	}
}

func TestLookup(t *testing.T) {
	t.Parallel()
	doc := map[string]any{"errors": []any{map[string]any{"code": "a"}, map[string]any{"code": "b"}}, "x": map[string]any{"y": 1.0}}
	for path, want := range map[string]string{"errors.code": "a,b", "errors[1].code": "b", "errors[].code": "a,b", "errors[5].code": "", "x.y": "1", "nope": "", "errors[x]": ""} {
		var got []string
		for _, v := range lookup(doc, path) {
			s, _ := scalar(v)
			got = append(got, s)
		}
		if strings.Join(got, ",") != want {
			t.Errorf("lookup(%q) = %v, want %s", path, got, want)
		}
	}
}

// TestSMTPUnreachable: an email step that cannot reach its mail server is
// told about the mail server (its connection, or SLUICE_SMTP_URL), not
// about "the port in the URL" of an HTTP request.
func TestSMTPUnreachable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ conn, want string }{
		{"office mail", "sluice connections show 'office mail'"},
		{"", "SLUICE_SMTP_URL"},
	} {
		d := Diagnose(Input{Kind: "network", Message: "send email: dial tcp 127.0.0.1:2525: connect: connection refused", Connection: tc.conn, Step: "notify"})
		if d.Code != "smtp.unreachable" || !strings.Contains(d.HowToFix, tc.want) || strings.Contains(d.HowToFix, "URL in") {
			t.Errorf("connection %q: %s: %s", tc.conn, d.Code, d.HowToFix)
		}
	}
}
