package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/sluice/sluice/internal/store"
)

// TestNullRefused sends null where the document does not allow it: each is
// a 400 that names the field, and nothing is done. A null where the
// document allows any value (a manual trigger's input) is taken.
func TestNullRefused(t *testing.T) {
	t.Parallel()
	cb := setupConnections(t)
	b := cb.bundle
	ctx := t.Context()
	note, err := b.store.AddNotification(ctx, store.Notification{UserID: b.users["a"].ID, Kind: "run_failed", Title: "t", Body: "b"})
	if err != nil {
		t.Fatal(err)
	}
	conn := cb.create(t, "a", `{"name": "api", "type": "bearer", "secret": {"token": "GOOD"}}`)
	ra := b.runs["a"]
	for _, sc := range []scenario{
		{name: "ids null marks nothing", method: "POST", path: "/api/v1/notifications/read", who: "a", body: `{"ids": null}`, status: 400, contains: []string{`field \"ids\": null is not allowed`}},
		{name: "id null in ids", method: "POST", path: "/api/v1/notifications/read", who: "a", body: `{"ids": [null]}`, status: 400, contains: []string{`field \"ids[0]\": null is not allowed`}},
		{name: "force null", method: "POST", path: fmt.Sprintf("/api/v1/runs/%d/resubmit", ra.ID), who: "a", body: `{"force": null}`, status: 400, contains: []string{`field \"force\": null is not allowed`}},
		{name: "type null", method: "PUT", path: fmt.Sprintf("/api/v1/connections/%d", conn.ID), who: "a", body: `{"type": null}`, status: 400, contains: []string{`field \"type\": null is not allowed`}},
		{name: "config field null", method: "PUT", path: fmt.Sprintf("/api/v1/connections/%d", conn.ID), who: "a", body: `{"config": {"test_url": null}}`, status: 400, contains: []string{`field \"config.test_url\": null is not allowed`}},
		{name: "null body on check", method: "POST", path: "/api/v1/flows/check", who: "a", body: `null`, status: 400, contains: []string{"must be a JSON object, not null"}},
		{name: "null body on trigger", method: "POST", path: "/api/v1/flows/hook-a/trigger", who: "a", body: `null`, status: 400, contains: []string{"must be a JSON object, not null"}},
		{name: "nested filter null", method: "POST", path: "/api/v1/runs/cancel", who: "a", body: `{"filter": {"status": "queued", "flow": null}}`, status: 400, contains: []string{`field \"filter.flow\": null is not allowed`}},
		{name: "case-folded key", method: "POST", path: "/api/v1/runs/cancel", who: "a", body: `{"Filter": null}`, status: 400, contains: []string{`field \"Filter\": null is not allowed`}},
		{name: "empty status query", method: "GET", path: "/api/v1/runs?status=", who: "a", status: 400, contains: []string{`query parameter \"status\" is empty`}},
		{name: "empty limit query", method: "GET", path: "/api/v1/notifications?limit=", who: "a", status: 400, contains: []string{`query parameter \"limit\" is empty`}},
		{name: "input null is a value", method: "POST", path: "/api/v1/flows/hook-a/trigger", who: "a", body: `{"input": null}`, status: 201, contains: []string{`"trigger_type":"manual"`}},
		{name: "nulls inside input are values", method: "POST", path: "/api/v1/flows/hook-a/trigger", who: "a", body: `{"input": {"who": null, "list": [null]}}`, status: 201},
	} {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, b) })
	}
	notes, err := b.store.ListNotifications(ctx, b.users["a"].ID, true, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 1 || notes[0].ID != note.ID {
		t.Errorf("unread notifications after the refused requests: %+v, want #%d", notes, note.ID)
	}
	got, err := b.store.GetConnection(ctx, conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Type != "bearer" {
		t.Errorf("connection type %q after a refused update, want bearer", got.Type)
	}
}

// TestContentType sends bodies with the Content-Types clients send: JSON
// (with or without charset=utf-8) is read; anything else with a body, or
// no Content-Type, is a 415; an empty optional body needs none.
func TestContentType(t *testing.T) {
	t.Parallel()
	b := setup(t)
	send := func(t *testing.T, method, path, ct, body string) *httptest.ResponseRecorder {
		t.Helper()
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		req.Header.Set("Authorization", "Bearer "+b.tokens["a"])
		return exchange(t, b.handler, req)
	}
	for _, tc := range []struct {
		name, ct, body string
		status         int
		contains       string
	}{
		{"json", "application/json", `{"name": "t1"}`, 201, `"name":"t1"`},
		{"json utf-8", "application/json; charset=utf-8", `{"name": "t2"}`, 201, `"name":"t2"`},
		{"json UTF-8 upper case", "Application/JSON; Charset=UTF-8", `{"name": "t3"}`, 201, `"name":"t3"`},
		{"text/plain", "text/plain", `{"name": "t4"}`, 415, `"code":"unsupported_media_type"`},
		{"no content type", "", `{"name": "t5"}`, 415, "no Content-Type"},
		{"form", "application/x-www-form-urlencoded", `name=t6`, 415, `"unsupported_media_type"`},
		{"suffix json", "application/merge-patch+json", `{"name": "t7"}`, 415, "application/merge-patch+json"},
		{"latin1", "application/json; charset=iso-8859-1", `{"name": "t8"}`, 415, "UTF-8"},
		{"malformed", "application/json; charset", `{"name": "t9"}`, 415, `"unsupported_media_type"`},
		{"empty body without type", "", "", 400, "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := send(t, "POST", "/api/v1/tokens", tc.ct, tc.body)
			if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.contains) {
				t.Fatalf("%d %s, want %d with %s", rec.Code, rec.Body, tc.status, tc.contains)
			}
		})
	}
	t.Run("optional body empty without type", func(t *testing.T) {
		if rec := send(t, "POST", "/api/v1/flows/hook-a/trigger", "", ""); rec.Code != 201 {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	})
	t.Run("refused before reading", func(t *testing.T) {
		body := &countingReader{}
		req := httptest.NewRequest("POST", "/api/v1/flows/hook-a/trigger", body)
		req.ContentLength = 1 << 30
		req.Header.Set("Content-Type", "text/plain")
		req.Header.Set("Authorization", "Bearer "+b.tokens["a"])
		rec := exchange(t, b.handler, req)
		if rec.Code != 415 {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		if body.n != 0 {
			t.Errorf("read %d bytes of a body refused for its Content-Type", body.n)
		}
	})
}

// TestUnsupportedMediaTypeEverywhere sends a text/plain body to every
// operation that openapi.json says takes one: each answers 415 and
// documents it.
func TestUnsupportedMediaTypeEverywhere(t *testing.T) {
	t.Parallel()
	cb := setupConnections(t)
	b := cb.bundle
	forEachBodyOperation(t, b, func(t *testing.T, method, path string, responses map[string]json.RawMessage) {
		if _, ok := responses["415"]; !ok {
			t.Errorf("openapi.json does not document 415 for %s", method)
		}
		req := httptest.NewRequest(method, path, strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "text/plain; charset=utf-8")
		req.Header.Set("Authorization", "Bearer "+b.tokens["admin"])
		if rec := exchange(t, b.handler, req); rec.Code != http.StatusUnsupportedMediaType {
			t.Errorf("%d %s", rec.Code, rec.Body)
		}
	})
}

// TestIntegerOutOfRange checks that an id beyond the int64 range is said
// to be out of range, not "not a number".
func TestIntegerOutOfRange(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const huge = "99999999999999999999"
	for _, sc := range []scenario{
		{name: "ids", method: "POST", path: "/api/v1/notifications/read", who: "a", body: `{"ids": [` + huge + `]}`, status: 400,
			contains: []string{`field \"ids\" must be an integer from -9223372036854775808 to 9223372036854775807, not ` + huge}, absent: []string{"not number"}},
		{name: "filter ids", method: "POST", path: "/api/v1/runs/cancel", who: "a", body: `{"filter": {"ids": [` + huge + `]}}`, status: 400,
			contains: []string{`field \"filter.ids\" must be an integer from`, huge}, absent: []string{"not number"}},
		{name: "filter flow", method: "POST", path: "/api/v1/runs/cancel", who: "a", body: `{"filter": {"flow": ` + huge + `}}`, status: 400,
			contains: []string{`field \"filter.flow\" must be an integer from`, huge}},
		{name: "fraction", method: "POST", path: "/api/v1/notifications/read", who: "a", body: `{"ids": [1.5]}`, status: 400,
			contains: []string{`must be an integer from`, "not 1.5"}},
	} {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, b) })
	}
}

// TestDocumentRules checks what Redocly's lint reports as errors, and the
// patterns the document shares with the server.
func TestDocumentRules(t *testing.T) {
	t.Parallel()
	// nullable needs a type beside it (OpenAPI 3.0.3): "any value, null
	// included" is components/schemas/AnyValue.
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if v["nullable"] == true && v["type"] == nil {
				t.Errorf("%s: nullable without type", path)
			}
			if v["$ref"] != nil && len(v) > 1 {
				t.Errorf("%s: $ref with siblings", path)
			}
			for k, sub := range v {
				walk(path+"/"+k, sub)
			}
		case []any:
			for i, sub := range v {
				walk(fmt.Sprintf("%s/%d", path, i), sub)
			}
		}
	}
	var doc any
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	walk("#", doc)
	c, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	since := c.doc.Components.Schemas["RunFilter"].Value.Properties["since"].Value.Pattern
	if since != store.SincePattern {
		t.Errorf("RunFilter.since pattern %q, want the server's %q", since, store.SincePattern)
	}
	if p := c.doc.Paths.Value("/problems").Get.Parameters.GetByInAndName("query", "since").Schema.Value.Pattern; p != store.SincePattern {
		t.Errorf("/problems since pattern %q, want the server's %q", p, store.SincePattern)
	}
	for _, v := range []string{"24h", "7d", "1h30m", "90m", "2026-01-02T15:04:05Z", "2026-01-02T15:04:05.5+02:00"} {
		if !regexp.MustCompile(store.SincePattern).MatchString(v) {
			t.Errorf("since %q refused", v)
		}
	}
	for _, v := range []string{"", " 24h", "-1h", "+1h", "yesterday", "7 d", "2026-01-02"} {
		if regexp.MustCompile(store.SincePattern).MatchString(v) {
			t.Errorf("since %q taken", v)
		}
	}
	// The document's connection name pattern and the server agree.
	name := regexp.MustCompile(c.doc.Components.Schemas["NewConnection"].Value.Properties["name"].Value.Pattern)
	for _, n := range []string{"api", "5", "+5", "-5", "007", huge(), "+", "-", "++", "5-", "-5-", "5a", "a5", "a/b", "/", "a\tb", "x y", "5+6", "--5", "+a", ".5"} {
		server := checkConnectionName(n) == nil
		if doc := name.MatchString(n); doc != server {
			t.Errorf("connection name %q: document takes it %v, server %v", n, doc, server)
		}
	}
}

func huge() string { return "99999999999999999999" }

// TestContractCatchesDrift checks that exchange fails a test on a drift:
// an answer the document does not describe, and a request the document
// refuses that the server takes.
func TestContractCatchesDrift(t *testing.T) {
	t.Parallel()
	c, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	answer := func(status int, body string) *httptest.ResponseRecorder {
		rec := &httptest.ResponseRecorder{Code: status, Body: bytes.NewBufferString(body)}
		rec.Header().Set("Content-Type", "application/json")
		return rec
	}
	request := func(method, path, body string) (*http.Request, *capture) {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer x")
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		cp := &capture{r: req.Body}
		_, _ = cp.buf.ReadFrom(req.Body)
		cp.eof = true
		return req, cp
	}
	for _, tc := range []struct {
		name         string
		method, path string
		body         string
		rec          *httptest.ResponseRecorder
		drift        string
	}{
		{"ok", "GET", "/api/v1/me", "", answer(200, `{"id":1,"email":"a@example.com","name":"A","role":"maker","created_at":"2026-01-02T15:04:05Z","disabled_at":null}`), ""},
		{"undocumented status", "GET", "/api/v1/me", "", answer(418, `{}`), "status is not supported"},
		{"answer off schema", "GET", "/api/v1/me", "", answer(200, `{"id":"one"}`), "does not match"},
		{"unknown error code", "GET", "/api/v1/me", "", answer(401, `{"error":{"code":"nope","message":"m"}}`), "does not match"},
		{"refused request taken", "POST", "/api/v1/notifications/read", `{"ids": null}`, answer(204, ``), "the document refuses the request"},
		{"405 without Allow", "PUT", "/api/v1/me", "", answer(405, `{"error":{"code":"method_not_allowed","message":"m"}}`), "Allow"},
		{"unknown path not 404", "GET", "/api/v1/nope", "", answer(200, `{}`), "not an operation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, body := request(tc.method, tc.path, tc.body)
			err := c.check(req, body, tc.rec)
			switch {
			case tc.drift == "" && err != nil:
				t.Errorf("drift reported: %v", err)
			case tc.drift != "" && (err == nil || !strings.Contains(err.Error(), tc.drift)):
				t.Errorf("error %v, want one with %q", err, tc.drift)
			}
		})
	}
}

// nullHeavyInput is a trigger body whose input, which takes any value,
// holds n nulls.
func nullHeavyInput(n int) []byte {
	return []byte(`{"input": [` + strings.Repeat(`null,`, n) + `null]}`)
}

// TestNullWalkBounded checks that the null walk of a large body costs a
// small multiple of the body: the nulls inside a field that takes any
// value are skipped in one piece, and a refused null stops the walk.
//
// It is not parallel: the allocation count is the process's.
func TestNullWalkBounded(t *testing.T) {
	for _, tc := range []struct {
		name string
		body []byte
		dst  any
		ok   bool
	}{
		{"allowed nulls", nullHeavyInput(200_000), &triggerRequest{}, true},
		{"refused at the first", []byte(`{"ids": [null` + strings.Repeat(`, 1`, 200_000) + `]}`), &markReadRequest{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			err := refuseNulls(tc.body, reflect.TypeOf(tc.dst))
			runtime.ReadMemStats(&after)
			if (err == nil) != tc.ok {
				t.Fatalf("refuseNulls = %v", err)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4*uint64(len(tc.body)) {
				t.Errorf("allocated %d bytes walking a %d-byte body", alloc, len(tc.body))
			}
		})
	}
}

// BenchmarkDecodeJSONNulls measures decoding a 1 MB trigger body whose
// input holds nulls (walked) against one without (not walked).
func BenchmarkDecodeJSONNulls(b *testing.B) {
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"nulls", nullHeavyInput(200_000)},
		{"no nulls", []byte(`{"input": [` + strings.Repeat(`true,`, 200_000) + `true]}`)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(tc.body)))
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest("POST", "/", bytes.NewReader(tc.body))
				req.Header.Set("Content-Type", "application/json")
				if err := decodeJSON(req, &triggerRequest{}, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
