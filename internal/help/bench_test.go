package help_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/diagnose"
	"github.com/sluice/sluice/internal/help"
	"github.com/sluice/sluice/internal/store"
	"github.com/sluice/sluice/internal/store/sqlite"
)

// Sizes of the benchmark's store.
const (
	benchArticles = 1000
	benchMakers   = 100
	benchProblems = 1000 // per maker: 100,000 in all
)

// benchWords are what the generated articles are written with.
var benchWords = strings.Fields(`connection token webhook schedule retry timeout flow step run resubmit email
	expression foreach respond scope limit payload oauth2 client secret header body status request answer
	service server network certificate queue worker digest notification activity problem failure diagnosis
	invoice order contact ticket message channel manager report export import sheet calendar file folder`)

// writeArticles writes n articles made of benchWords into a folder.
func writeArticles(tb testing.TB, n int) string {
	tb.Helper()
	dir := tb.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(k int) string {
		w := make([]string, k)
		for i := range w {
			w[i] = benchWords[rng.IntN(len(benchWords))]
		}
		return strings.Join(w, " ")
	}
	for i := range n {
		text := fmt.Sprintf("---\ntitle: Team guide %d: %s\nkeywords: %s\n---\n", i, pick(4), pick(5))
		for range 8 {
			text += pick(25) + ".\n\n"
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("guide-%04d.md", i)), []byte(text), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// addProblems gives each of makers users one flow and one failed run
// whose perMaker steps each failed with a catalog code: as many
// problems (flow, step, code) per maker. It returns the first maker.
func addProblems(tb testing.TB, st store.Store, makers, perMaker int) store.User {
	tb.Helper()
	ctx := tb.Context()
	codes := diagnose.Default().Summaries()
	var first store.User
	now := time.Now().UTC()
	for m := range makers {
		u, err := st.CreateUser(ctx, store.User{Email: fmt.Sprintf("maker%d@example.com", m), PasswordHash: "x", Role: store.RoleMaker})
		if err != nil {
			tb.Fatal(err)
		}
		if m == 0 {
			first = u
		}
		f, err := st.CreateFlow(ctx, store.NewFlow{Name: "flow", OwnerID: u.ID, TriggerType: "manual", WebhookToken: fmt.Sprintf("wh-%d", m),
			Definition: json.RawMessage(`{"name":"flow","trigger":{"type":"manual"}}`), Source: "name: flow\n"})
		if err != nil {
			tb.Fatal(err)
		}
		r, err := st.CreateRun(ctx, store.NewRun{FlowID: f.ID, FlowVersion: 1, TriggerType: "manual", Input: json.RawMessage(`{}`),
			LeaseOwner: "bench", LeaseUntil: now.Add(time.Hour)})
		if err != nil {
			tb.Fatal(err)
		}
		steps := make([]store.Step, perMaker)
		for i := range steps {
			c := codes[(m+i)%len(codes)]
			e, _ := json.Marshal(map[string]any{"message": "failed", "kind": "http", "diagnosis": map[string]any{"class": c.Class, "code": c.Code, "title": c.Title}})
			id := fmt.Sprintf("step_%d", i)
			steps[i] = store.Step{Key: id, ActionID: id, Type: "http", Status: "failed", Attempts: 1, StartedAt: &now, FinishedAt: &now, Error: e}
		}
		if err := st.FinishRun(ctx, "bench", r.ID, store.RunFinish{Status: store.RunFailed, Steps: steps}); err != nil {
			tb.Fatal(err)
		}
	}
	return first
}

// BenchmarkSearch answers a maker's question with 1,000 articles of the
// admin's beside the built-in ones and the catalog, and 100,000 problems
// in the store (the asking maker has 1,000 of them), on SQLite.
func BenchmarkSearch(b *testing.B) {
	st, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "sluice.db"), quiet())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	c, err := help.New(b.Context(), help.Config{Store: st, Dir: writeArticles(b, benchArticles)})
	if err != nil {
		b.Fatal(err)
	}
	maker := addProblems(b, st, benchMakers, benchProblems)
	questions := []string{"my slack token is unauthorised", "the request timed out", "ratelimit on github", "how do I resubmit failed runs", "webhok respond json"}
	for _, bc := range []struct {
		name string
		user int64
	}{{"maker", maker.ID}, {"anonymous", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			// CPU time per search as well as wall time: on a shared
			// machine the wall time measures the neighbours too.
			cpu0 := cpuTime()
			i := 0
			for b.Loop() {
				if _, err := c.Search(b.Context(), help.Query{Text: questions[i%len(questions)], UserID: bc.user}); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
		})
	}
}

// cpuTime returns the CPU time the process used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
