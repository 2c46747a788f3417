package sqlite

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// BenchmarkSaveStepsChunk measures one chunk of store.StepChunk new steps
// (one write transaction, the time a large run holds the writer at once),
// for a run that already has 0 or 100,000 steps: with the steps_seq index
// the two cost the same.
func BenchmarkSaveStepsChunk(b *testing.B) {
	for _, prior := range []int{0, 100_000} {
		b.Run(fmt.Sprintf("prior=%d", prior), func(b *testing.B) {
			s := openTemp(b)
			ctx := context.Background()
			u, err := s.CreateUser(ctx, store.User{Email: "b@example.com", PasswordHash: "x", Role: store.RoleMaker})
			if err != nil {
				b.Fatal(err)
			}
			f, err := s.CreateFlow(ctx, store.NewFlow{Name: "f", OwnerID: u.ID, TriggerType: "manual", WebhookToken: "t", Definition: []byte(`{}`), Source: "x"})
			if err != nil {
				b.Fatal(err)
			}
			r, err := s.CreateRun(ctx, store.NewRun{FlowID: f.ID, FlowVersion: 1, TriggerType: "manual", LeaseOwner: "w", LeaseUntil: time.Now().Add(time.Hour)})
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			chunk := func() []store.Step {
				steps := make([]store.Step, store.StepChunk)
				for i := range steps {
					steps[i] = store.Step{Key: fmt.Sprintf("loop[%d].c", n), ActionID: "c", Type: "compose", Status: "succeeded", Attempts: 1, Output: []byte(`"x"`)}
					n++
				}
				return steps
			}
			for n < prior {
				if err := s.SaveSteps(ctx, "w", r.ID, "", chunk()); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for b.Loop() {
				if err := s.SaveSteps(ctx, "w", r.ID, "", chunk()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
