package engine_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluice/sluice/internal/store"
)

// TestComputedValuesUseTheCheckersRules: a value a template computes is
// held to the rule the checker applies to a written one
// (internal/flow/rules.go), and fails the step as a config error, without
// a retry and without a request.
func TestComputedValuesUseTheCheckersRules(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	b := setup(t)
	for _, tc := range []struct{ name, with, want string }{
		{"header", `{ url: "` + srv.URL + `", headers: { X-A: "{{ trigger.body.v }}" } }`, "with.headers.X-A: must be one line"},
		{"method", `{ url: "` + srv.URL + `", method: "{{ trigger.body.v }}" }`, "with.method: unknown method"},
		{"url", `{ url: "{{ trigger.body.v }}" }`, "with.url: not a valid URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := b.apply(t, "name: computed-"+tc.name+`
trigger: { type: manual }
actions:
  - id: call
    type: http
    with: `+tc.with+`
`)
			r, steps := b.wait(t, b.trigger(t, f, map[string]any{"v": "a\nb"}).ID)
			if r.Status != store.RunFailed || steps["call"].Attempts != 1 || !strings.Contains(string(steps["call"].Error), `"class":"config"`) ||
				!strings.Contains(string(steps["call"].Error), tc.want) {
				t.Fatalf("run %s after %d attempts: %s", r.Status, steps["call"].Attempts, steps["call"].Error)
			}
		})
	}
	if hits.Load() != 0 {
		t.Fatalf("%d requests sent", hits.Load())
	}
}
