package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/sluice/sluice/internal/secret"
	"github.com/sluice/sluice/internal/store"
)

// TestBodyTooLargeEverywhere sends a body over the cap to every operation
// that openapi.json says takes one: each must answer 413 too_large through
// the one mapper, and document that answer.
func TestBodyTooLargeEverywhere(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const maxBody = 4096
	box, err := secret.NewBox(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	b.handler = New(Config{Store: b.store, Runner: b.runner, Secrets: box, MaxBody: maxBody})
	big := `{"name": "` + strings.Repeat("x", maxBody) + `"}`
	forEachBodyOperation(t, b, func(t *testing.T, method, path string, responses map[string]json.RawMessage) {
		if _, ok := responses["413"]; !ok {
			t.Errorf("openapi.json does not document 413 for %s", method)
		}
		scenario{method: method, path: path, who: "admin", body: big,
			status: http.StatusRequestEntityTooLarge, contains: []string{`"code":"too_large"`}}.run(t, b)
	})
}

// forEachBodyOperation runs check as a subtest for every operation that
// openapi.json says takes a body, with its path filled in with b's
// records (user a's flow and run, connection 1, user a) and the responses
// it documents.
func forEachBodyOperation(t *testing.T, b *bundle, check func(t *testing.T, method, path string, responses map[string]json.RawMessage)) {
	t.Helper()
	ids := strings.NewReplacer("{flow}", fmt.Sprint(b.flows["a"].ID), "{id}", fmt.Sprint(b.runs["a"].ID), "{conn}", "1", "{user}", "a@example.com")
	checked := 0
	for path, item := range loadOpenAPI(t).Paths {
		for method, raw := range item {
			var op struct {
				RequestBody json.RawMessage            `json:"requestBody"`
				Responses   map[string]json.RawMessage `json:"responses"`
			}
			if method == "parameters" || json.Unmarshal(raw, &op) != nil || op.RequestBody == nil {
				continue
			}
			checked++
			method := strings.ToUpper(method)
			t.Run(method+" "+path, func(t *testing.T) { check(t, method, Prefix+ids.Replace(path), op.Responses) })
		}
	}
	if checked < 10 {
		t.Errorf("only %d operations take a body", checked)
	}
}

// TestManualInputStoredOnce checks that a manual run's input is stored
// once: an input of 60% of the payload cap is accepted (stored twice it
// was over the cap and answered 500), and an input over the cap answers
// 413 too_large.
func TestManualInputStoredOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const payloadCap = 10 << 20 // the engine's default MaxPayload
	b.handler = New(Config{Store: b.store, Runner: b.runner, MaxBody: 2 * payloadCap})
	input := func(n int) string { return `{"input": {"who": "` + strings.Repeat("x", n) + `"}}` }
	path := fmt.Sprintf("/api/v1/flows/%d/trigger", b.flows["a"].ID)

	var r runView
	b.doJSON(t, "POST", path, "a", input(payloadCap*6/10), http.StatusCreated, &r)
	run, err := b.store.GetRun(t.Context(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(run.Input); n > payloadCap*6/10+100 {
		t.Errorf("stored input is %d bytes for a %d-byte input", n, payloadCap*6/10)
	}
	scenario{method: "POST", path: path, who: "a", body: input(payloadCap + 1),
		status: http.StatusRequestEntityTooLarge, contains: []string{`"code":"too_large"`, "payload cap"}}.run(t, b)
	if runs, err := b.store.ListRuns(t.Context(), store.RunFilter{FlowID: b.flows["a"].ID}); err == nil && len(runs) != 2 {
		t.Errorf("%d runs of the flow, want 2 (the setup's and the accepted one)", len(runs))
	}
}

// countingReader is an endless body that counts the bytes read from it.
type countingReader struct{ n int64 }

func (c *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	c.n += int64(len(p))
	return len(p), nil
}

// TestOversizedBodyReadNoFurther sends endless bodies to an API route and
// to a webhook: each is refused with 413 too_large after at most the cap
// and a read buffer are read, and what is allocated is bounded by a small
// multiple of the cap, not by the body.
//
// It is not parallel: the allocation count is the process's.
func TestOversizedBodyReadNoFurther(t *testing.T) {
	b := setup(t)
	const maxBody = 64 << 10
	b.handler = New(Config{Store: b.store, Runner: b.runner, MaxBody: maxBody})
	hooks := b.hooks(maxBody)
	for _, tc := range []struct {
		name string
		h    http.Handler
		path string
	}{
		{"api", b.handler, fmt.Sprintf("/api/v1/flows/%d/trigger", b.flows["a"].ID)},
		{"webhook", hooks, "/hooks/" + b.flows["a"].WebhookToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := &countingReader{}
			req := httptest.NewRequest("POST", tc.path, body)
			req.ContentLength = -1 // unknown: the cap must stop the read itself
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+b.tokens["a"])
			if _, err := loadContract(); err != nil { // loaded before the measure
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			rec := exchange(t, tc.h, req)
			runtime.ReadMemStats(&after)
			if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), `"too_large"`) {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			if body.n > maxBody+32<<10 {
				t.Errorf("read %d bytes of an endless body with a %d-byte cap", body.n, maxBody)
			}
			alloc := after.TotalAlloc - before.TotalAlloc
			if alloc > 16*maxBody {
				t.Errorf("allocated %d bytes refusing a body over a %d-byte cap", alloc, maxBody)
			}
			t.Logf("read %d bytes, allocated %d bytes for a %d-byte cap", body.n, alloc, maxBody)
		})
	}
}
