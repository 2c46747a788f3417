package api

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// TestShowRunPagesSteps checks that GET /runs/{id} answers a long run's
// steps a page at a time, at most 1,000 per answer, and that the pages
// give every step once, in order.
func TestShowRunPagesSteps(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	f := b.flows["a"]
	r, err := b.store.CreateRun(ctx, store.NewRun{FlowID: f.ID, FlowVersion: f.Version, TriggerType: "manual", LeaseOwner: "test", LeaseUntil: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	const n = 2*maxRunLimit + 5
	steps := make([]store.Step, n)
	for i := range steps {
		key := fmt.Sprintf("loop[%d].c", i)
		steps[i] = store.Step{Key: key, ActionID: "c", Type: "compose", Status: "succeeded", Attempts: 1}
	}
	if err := b.store.FinishRun(ctx, "test", r.ID, store.RunFinish{Status: store.RunSucceeded, Steps: steps}); err != nil {
		t.Fatal(err)
	}
	type page struct {
		Steps []struct {
			ID string `json:"id"`
		} `json:"steps"`
		Next *int64 `json:"next_steps_after"`
	}
	var got []string
	pages := 0
	for q := ""; ; pages++ {
		var p page
		b.doJSON(t, "GET", fmt.Sprintf("/api/v1/runs/%d%s", r.ID, q), "a", "", 200, &p)
		if len(p.Steps) > maxRunLimit {
			t.Fatalf("page %d: %d steps, more than %d", pages, len(p.Steps), maxRunLimit)
		}
		for _, s := range p.Steps {
			got = append(got, s.ID)
		}
		if p.Next == nil {
			break
		}
		q = fmt.Sprintf("?steps_after=%d", *p.Next)
	}
	if pages != 2 || len(got) != n {
		t.Fatalf("%d pages of %d steps in all, want 3 pages of %d", pages+1, len(got), n)
	}
	for i, id := range got {
		if want := fmt.Sprintf("loop[%d].c", i); id != want {
			t.Fatalf("step %d: %q, want %q", i, id, want)
		}
	}
	var p page
	b.doJSON(t, "GET", fmt.Sprintf("/api/v1/runs/%d?steps_limit=3", r.ID), "a", "", 200, &p)
	if len(p.Steps) != 3 || p.Next == nil {
		t.Fatalf("steps_limit=3: %d steps, next %v", len(p.Steps), p.Next)
	}
	for _, bad := range []string{"steps_limit=0", "steps_limit=1001", "steps_limit=x", "steps_after=-1", "steps_after=x"} {
		rec := b.do(t, "GET", fmt.Sprintf("/api/v1/runs/%d?%s", r.ID, bad), "a", "")
		var e struct {
			Error struct {
				Code, Message string
			} `json:"error"`
		}
		json.Unmarshal(rec.Body.Bytes(), &e)
		if rec.Code != 400 || e.Error.Code != "bad_request" {
			t.Fatalf("%s: %d %s", bad, rec.Code, rec.Body)
		}
	}
}
