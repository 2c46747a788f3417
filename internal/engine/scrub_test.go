package engine_test

import (
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice/sluice/internal/engine"
	"github.com/sluice/sluice/internal/store"
	"github.com/sluice/sluice/internal/store/sqlite"
)

// TestScrubStoredInputs: inputs stored before webhook redaction lose the
// token in their path and their callers' credentials, in chunks, keeping
// everything else; a second pass changes nothing; a new input is already
// what the scrub would make of it.
func TestScrubStoredInputs(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "sluice.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.CreateUser(ctx, store.User{Email: "maker@example.com", PasswordHash: "x", Role: store.RoleMaker})
	if err != nil {
		t.Fatal(err)
	}
	f, err := st.CreateFlow(ctx, store.NewFlow{Name: "hook", OwnerID: u.ID, TriggerType: "webhook", WebhookToken: "tok-SECRET",
		Definition: json.RawMessage(`{}`), Source: "x"})
	if err != nil {
		t.Fatal(err)
	}
	const old = `{"method":"POST","path":"/hooks/tok-SECRET","headers":{"authorization":"Bearer CALLER-SECRET","cookie":"sid=COOKIE-SECRET","x-custom":"kept"},` +
		`"query":{"api_key":"QUERY-SECRET","n":"1"},"body":{"big":12345678901234567890,"text":"<b>"}}`
	const n = 100 // several chunks
	var ids []int64
	for i := range n {
		input := old
		if i%10 == 9 {
			input = `{"input":{"manual":true}}`
		}
		r, err := st.CreateRun(ctx, store.NewRun{FlowID: f.ID, FlowVersion: 1, TriggerType: "webhook", Input: json.RawMessage(input)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	changed, err := engine.ScrubStoredInputs(ctx, st)
	if err != nil || changed != 90 {
		t.Fatalf("ScrubStoredInputs = %d, %v; want 90 changed", changed, err)
	}
	for i, id := range ids {
		r, err := st.GetRun(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		in := string(r.Input)
		if i%10 == 9 {
			if in != `{"input":{"manual":true}}` {
				t.Fatalf("manual input changed: %s", in)
			}
			continue
		}
		if strings.Contains(in, "SECRET") {
			t.Fatalf("run %d input still holds a secret: %s", id, in)
		}
		var got map[string]any
		dec := json.NewDecoder(strings.NewReader(in))
		dec.UseNumber()
		if err := dec.Decode(&got); err != nil {
			t.Fatal(err)
		}
		body := got["body"].(map[string]any)
		if got["path"] != "/hooks/[redacted]" || got["headers"].(map[string]any)["x-custom"] != "kept" || got["query"].(map[string]any)["n"] != "1" ||
			body["big"].(json.Number) != "12345678901234567890" || body["text"] != "<b>" || got["method"] != "POST" {
			t.Fatalf("scrubbed input lost data: %s", in)
		}
	}
	if changed, err := engine.ScrubStoredInputs(ctx, st); err != nil || changed != 0 {
		t.Fatalf("second pass = %d, %v; want 0", changed, err)
	}

	req := httptest.NewRequest("POST", "/hooks/tok-new?token=q", strings.NewReader(`{}`))
	req.SetPathValue("token", "tok-new")
	req.Header.Set("Authorization", "Basic x")
	req.Header.Set("Content-Type", "application/json")
	trig, err := engine.WebhookTrigger(req, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	fresh, _ := json.Marshal(trig)
	if out, ok := engine.ScrubInput(fresh); ok {
		t.Errorf("a new webhook input would be scrubbed again: %s -> %s", fresh, out)
	}
	for _, in := range []string{`[1]`, `null`, `"x"`, `{"path":"/hooks/[redacted]/more"}`, `{"path":"/other/tok"}`, `{"headers":"x"}`} {
		if out, ok := engine.ScrubInput(json.RawMessage(in)); ok || string(out) != in {
			t.Errorf("ScrubInput(%s) = %s, %t", in, out, ok)
		}
	}
	if out, _ := engine.ScrubInput(json.RawMessage(`{"path":"/hooks/tok/more"}`)); string(out) != `{"path":"/hooks/[redacted]/more"}` {
		t.Errorf("sub-path: %s", out)
	}
}

// BenchmarkScrubStoredInputs measures one pass over 1,000 webhook runs
// stored before redaction (32 a transaction), and the pass at the next
// start, which finds nothing to change.
func BenchmarkScrubStoredInputs(b *testing.B) {
	ctx := b.Context()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "sluice.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	u, err := st.CreateUser(ctx, store.User{Email: "maker@example.com", PasswordHash: "x", Role: store.RoleMaker})
	if err != nil {
		b.Fatal(err)
	}
	f, err := st.CreateFlow(ctx, store.NewFlow{Name: "hook", OwnerID: u.ID, TriggerType: "webhook", WebhookToken: "tok", Definition: json.RawMessage(`{}`), Source: "x"})
	if err != nil {
		b.Fatal(err)
	}
	const old = `{"method":"POST","path":"/hooks/tok","headers":{"authorization":"Bearer x","content-type":"application/json"},"body":{"order":{"id":1,"lines":[1,2,3]}}}`
	var ids []int64
	for range 1000 {
		r, err := st.CreateRun(ctx, store.NewRun{FlowID: f.ID, FlowVersion: 1, TriggerType: "webhook", Input: json.RawMessage(old)})
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	reset := map[int64]json.RawMessage{}
	for _, id := range ids {
		reset[id] = json.RawMessage(old)
	}
	b.Run("pass=1000-old", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			if err := st.SetRunInputs(ctx, reset); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if n, err := engine.ScrubStoredInputs(ctx, st); err != nil || n != 1000 {
				b.Fatal(n, err)
			}
		}
	})
	b.Run("pass=1000-done", func(b *testing.B) {
		for b.Loop() {
			if n, err := engine.ScrubStoredInputs(ctx, st); err != nil || n != 0 {
				b.Fatal(n, err)
			}
		}
	})
	chunk := map[int64]json.RawMessage{}
	for _, id := range ids[:32] {
		chunk[id] = json.RawMessage(old)
	}
	b.Run("write-one-chunk=32", func(b *testing.B) {
		for b.Loop() {
			if err := st.SetRunInputs(ctx, chunk); err != nil {
				b.Fatal(err)
			}
		}
	})
}
