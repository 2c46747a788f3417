package engine_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/engine"
	"github.com/sluice/sluice/internal/store"
	"github.com/sluice/sluice/internal/store/sqlite"
)

// BenchmarkWebhookW1 is W1 of docs/benchmarks.md without HTTP: a webhook
// run of webhook -> compose -> respond, started and answered from 20
// goroutines per CPU on a real SQLite store (synchronous=FULL), so that
// commits are grouped as under the HTTP load. One op is one run, from
// StartWebhook to its answer.
func BenchmarkWebhookW1(b *testing.B) {
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "sluice.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	u, err := st.CreateUser(context.Background(), store.User{Email: "maker@example.com", PasswordHash: "x", Role: store.RoleMaker})
	if err != nil {
		b.Fatal(err)
	}
	eng, cancel, done := runEngine(b, testConfig(b, st))
	defer func() {
		cancel()
		<-done
	}()
	f := applyTo(b, st, u.ID, `name: w1
trigger: { type: webhook }
actions:
  - id: c
    type: compose
    with: { value: "{{ trigger.body.n }}" }
  - id: r
    type: respond
    with: { status: 200, body: { n: "{{ steps.c.output }}" } }
`)
	b.ReportAllocs()
	b.SetParallelism(10)
	before := cpuTime(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		n := 0
		for pb.Next() {
			n++
			_, p, err := eng.StartWebhook(context.Background(), f, engine.Trigger{Method: "POST", Path: "/hooks/x", Headers: map[string]string{"content-type": "application/json"}, Body: map[string]any{"n": float64(n)}})
			if err != nil {
				b.Fatal(err)
			}
			if resp := p.Wait(context.Background()); resp == nil || resp.Status != 200 {
				b.Fatalf("answer: %+v", resp)
			}
		}
	})
	b.StopTimer()
	// The process's CPU time per run, which other work on the machine
	// disturbs less than the wall time.
	b.ReportMetric(float64((cpuTime(b)-before).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// cpuTime is the CPU time (user and system) the process used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
