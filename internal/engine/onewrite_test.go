package engine_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/engine"
	"github.com/sluice/sluice/internal/flow"
	"github.com/sluice/sluice/internal/store"
	"github.com/sluice/sluice/internal/store/postgres"
	"github.com/sluice/sluice/internal/store/postgres/pgtest"
	"github.com/sluice/sluice/internal/store/sqlite"
)

// writeWatch is a real store that counts the engine's run writes, and
// holds every SaveNewRun until gate is closed (when set).
type writeWatch struct {
	store.Store
	gate chan struct{}
	mu   sync.Mutex
	// news holds what each SaveNewRun wrote: its steps, and its end if any.
	news                                    []store.NewRun
	creates, saves, parks, finishes, usages int
}

func (w *writeWatch) SaveNewRun(ctx context.Context, nr store.NewRun) error {
	if w.gate != nil {
		<-w.gate
	}
	err := w.Store.SaveNewRun(ctx, nr)
	w.mu.Lock()
	w.news = append(w.news, nr)
	w.mu.Unlock()
	return err
}

func (w *writeWatch) count(n *int) {
	w.mu.Lock()
	*n++
	w.mu.Unlock()
}

func (w *writeWatch) CreateRun(ctx context.Context, nr store.NewRun) (store.Run, error) {
	w.count(&w.creates)
	return w.Store.CreateRun(ctx, nr)
}

func (w *writeWatch) SaveSteps(ctx context.Context, owner string, id int64, current string, steps []store.Step) error {
	w.count(&w.saves)
	return w.Store.SaveSteps(ctx, owner, id, current, steps)
}

func (w *writeWatch) ParkRun(ctx context.Context, owner string, id int64, at time.Time, steps []store.Step) error {
	w.count(&w.parks)
	return w.Store.ParkRun(ctx, owner, id, at, steps)
}

func (w *writeWatch) FinishRun(ctx context.Context, owner string, id int64, fin store.RunFinish) error {
	w.count(&w.finishes)
	return w.Store.FinishRun(ctx, owner, id, fin)
}

// writes describes the run writes so far, for comparing.
func (w *writeWatch) writes() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var news []string
	for _, nr := range w.news {
		s := fmt.Sprintf("new(%d steps", len(nr.Steps))
		if nr.Finish != nil {
			s += ", " + nr.Finish.Status
		}
		news = append(news, s+")")
	}
	return fmt.Sprintf("%s creates=%d saves=%d parks=%d finishes=%d", strings.Join(news, " "), w.creates, w.saves, w.parks, w.finishes)
}

// drivers opens a fresh store of each driver: SQLite always, PostgreSQL
// when it can be reached (required with SLUICE_TEST_POSTGRES).
func drivers(t *testing.T) map[string]func(t *testing.T) store.Store {
	return map[string]func(t *testing.T) store.Store{
		"sqlite": func(t *testing.T) store.Store {
			st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "sluice.db"), slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		},
		"postgres": func(t *testing.T) store.Store {
			st, err := postgres.Open(context.Background(), pgtest.FreshSchema(t), slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		},
	}
}

// watched starts an engine on a fresh store of the driver behind a
// writeWatch, and returns both with a maker's id.
func watched(t *testing.T, open func(t *testing.T) store.Store, gate chan struct{}, opts ...func(*engine.Config)) (*engine.Engine, *writeWatch, int64) {
	t.Helper()
	st := open(t)
	u, err := st.CreateUser(context.Background(), store.User{Email: "maker@example.com", PasswordHash: "x", Role: store.RoleMaker})
	if err != nil {
		t.Fatal(err)
	}
	w := &writeWatch{Store: st, gate: gate}
	cfg := testConfig(t, w)
	// Long enough that no run of these tests is committed by its timer
	// however loaded the machine is, unless the test asks otherwise.
	engine.SetUnsavedWindow(&cfg, time.Minute)
	for _, o := range opts {
		o(&cfg)
	}
	eng, cancel, done := runEngine(t, cfg)
	t.Cleanup(func() {
		cancel()
		<-done
	})
	eng.WaitStarted()
	return eng, w, u.ID
}

// TestOneWrite checks that a webhook run that ends at once (webhook ->
// compose -> respond) is written once, run, steps and end together, and
// that its answer is given only once that write committed.
func TestOneWrite(t *testing.T) {
	t.Parallel()
	for name, open := range drivers(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			gate := make(chan struct{})
			eng, w, owner := watched(t, open, gate)
			f := applyTo(t, w, owner, `name: hook
trigger: { type: webhook }
actions:
  - id: c
    type: compose
    with: { value: "{{ run.id }}-{{ trigger.body.n }}" }
  - id: r
    type: respond
    with: { body: { id: "{{ steps.c.output }}" } }
`)
			type started struct {
				run     store.Run
				pending *engine.Pending
				err     error
			}
			ch := make(chan started, 1)
			go func() {
				r, p, err := eng.StartWebhook(context.Background(), f, engine.Trigger{Method: "POST", Body: map[string]any{"n": 7}})
				ch <- started{r, p, err}
			}()
			select {
			case s := <-ch:
				t.Fatalf("StartWebhook returned before the run was committed: %+v", s)
			case <-time.After(200 * time.Millisecond):
			}
			close(gate)
			s := <-ch
			if s.err != nil || s.pending == nil {
				t.Fatalf("StartWebhook: %v (pending %v)", s.err, s.pending)
			}
			resp := s.pending.Wait(context.Background())
			want := fmt.Sprintf(`{"id":"%d-7"}`, s.run.ID)
			if resp == nil || resp.Status != 200 || string(resp.Body) != want {
				t.Fatalf("answer: got %+v, want 200 %s", resp, want)
			}
			// The answer came after the commit: the run is there, ended.
			r, err := w.GetRun(context.Background(), s.run.ID)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != store.RunSucceeded || r.TriggerType != flow.TriggerWebhook || r.LeaseOwner != "" || r.StartedAt == nil || r.FinishedAt == nil {
				t.Fatalf("run: %+v", r)
			}
			steps, err := w.ListSteps(context.Background(), r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(steps) != 2 || steps[0].Key != "c" || string(steps[0].Output) != strconv.Quote(fmt.Sprintf("%d-7", r.ID)) || steps[1].Key != "r" || steps[1].Status != "succeeded" {
				t.Fatalf("steps: %+v", steps)
			}
			if got, want := w.writes(), "new(2 steps, succeeded) creates=0 saves=0 parks=0 finishes=0"; got != want {
				t.Fatalf("writes: got %s, want %s", got, want)
			}

			// A failed run is written once too, with the event that reports it.
			f2 := applyTo(t, w, owner, `name: stop
trigger: { type: manual }
actions:
  - id: end
    type: terminate
    with: { status: failed, message: "no {{ trigger.input.n }}" }
`)
			r2, err := eng.Start(context.Background(), engine.StartRequest{Flow: f2, TriggerType: flow.TriggerManual, Trigger: engine.Trigger{Input: map[string]any{"n": 3}}})
			if err != nil {
				t.Fatal(err)
			}
			if r2.Status != store.RunFailed || r2.Error != "no 3" {
				t.Fatalf("Start of a run that failed at once: got %s %q", r2.Status, r2.Error)
			}
			if got, want := w.writes(), "new(2 steps, succeeded) new(1 steps, failed) creates=0 saves=0 parks=0 finishes=0"; got != want {
				t.Fatalf("writes: got %s, want %s", got, want)
			}
			events, err := w.ClaimEvents(context.Background(), time.Now(), time.Now().Add(time.Minute), 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(events) != 1 || events[0].Kind != store.EventRunFailed || events[0].RunID != r2.ID {
				t.Fatalf("events: %+v, want one run_failed of run %d", events, r2.ID)
			}
		})
	}
}

// TestCommitBeforeActing checks that a run not committed yet is committed,
// with the steps before, before an action acts outside it, and before a
// delay parks it.
func TestCommitBeforeActing(t *testing.T) {
	t.Parallel()
	for name, open := range drivers(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			eng, w, owner := watched(t, open, nil)
			seen := make(chan string, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
				id, _ := strconv.ParseInt(strings.TrimPrefix(r.URL.Path, "/"), 10, 64)
				run, err := w.GetRun(r.Context(), id)
				steps, err2 := w.ListSteps(r.Context(), id)
				seen <- fmt.Sprintf("%s %d steps %v %v", run.Status, len(steps), err, err2)
				rw.Header().Set("Content-Type", "application/json")
				rw.Write([]byte(`{"ok":true}`))
			}))
			defer srv.Close()
			f := applyTo(t, w, owner, `name: call
trigger: { type: webhook }
actions:
  - id: c
    type: compose
    with: { value: 1 }
  - id: call
    type: http
    with: { url: "`+srv.URL+`/{{ run.id }}" }
  - id: r
    type: respond
    with: { body: "{{ steps.call.output.body.ok }}" }
`)
			run, p, err := eng.StartWebhook(context.Background(), f, engine.Trigger{Method: "POST"})
			if err != nil {
				t.Fatal(err)
			}
			if resp := p.Wait(context.Background()); resp == nil || string(resp.Body) != "true" {
				steps, _ := w.ListSteps(context.Background(), run.ID)
				for _, st := range steps {
					t.Logf("step %s %s %s %s", st.Key, st.Status, st.Output, st.Error)
				}
				t.Fatalf("answer: %+v", resp)
			}
			if got := <-seen; got != "running 1 steps <nil> <nil>" {
				t.Fatalf("what the http action's server saw of run %d: %s", run.ID, got)
			}

			d := applyTo(t, w, owner, `name: wait
trigger: { type: manual }
actions:
  - id: c
    type: compose
    with: { value: 1 }
  - id: pause
    type: delay
    with: { duration: 300ms }
`)
			r, err := eng.Start(context.Background(), engine.StartRequest{Flow: d, TriggerType: flow.TriggerManual})
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != store.RunRunning {
				t.Fatalf("Start of a run that parks: status %s", r.Status)
			}
			deadline := time.Now().Add(time.Minute)
			for r.Status != store.RunSucceeded && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
				if r, err = w.GetRun(context.Background(), r.ID); err != nil {
					t.Fatal(err)
				}
			}
			if r.Status != store.RunSucceeded {
				t.Fatalf("run %d: status %s", r.ID, r.Status)
			}
			// The respond after the http action flushes the http step
			// (saves=1); the delay's run is committed with its waiting
			// step, then parked.
			if got, want := w.writes(), "new(1 steps) new(2 steps) creates=0 saves=1 parks=1 finishes=2"; got != want {
				t.Fatalf("writes: got %s, want %s", got, want)
			}
		})
	}
}

// TestCommitLongRun checks that a run still going after its first moments
// is committed then, while it goes on, so that Start returns.
func TestCommitLongRun(t *testing.T) {
	t.Parallel()
	eng, w, owner := watched(t, drivers(t)["sqlite"], nil, func(c *engine.Config) { engine.SetUnsavedWindow(c, time.Millisecond) })
	// Each iteration does 40,000 loop steps (map and sum): longer, all
	// together, than the millisecond this engine works a run before
	// committing it.
	f := applyTo(t, w, owner, `name: long
trigger: { type: manual }
actions:
  - id: loop
    type: foreach
    foreach: "{{ 1..4 }}"
    actions:
      - id: c
        type: compose
        with: { value: "{{ sum(map(1..20000, # * 2)) }}" }
`)
	r, err := eng.Start(context.Background(), engine.StartRequest{Flow: f, TriggerType: flow.TriggerManual})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != store.RunRunning {
		t.Fatalf("Start: status %s, want running (committed while it went on)", r.Status)
	}
	if got, err := w.GetRun(context.Background(), r.ID); err != nil || got.Status != store.RunRunning {
		t.Fatalf("GetRun after Start: %+v %v", got, err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for r.Status == store.RunRunning && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		if r, err = w.GetRun(context.Background(), r.ID); err != nil {
			t.Fatal(err)
		}
	}
	if r.Status != store.RunSucceeded {
		t.Fatalf("run %d: %s %s", r.ID, r.Status, r.Error)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.news) != 1 || w.news[0].Finish != nil || w.finishes != 1 || w.creates != 0 {
		t.Fatalf("writes: %d SaveNewRun (first finished: %v), %d FinishRun, %d CreateRun; want one SaveNewRun while it went on, then one FinishRun",
			len(w.news), len(w.news) > 0 && w.news[0].Finish != nil, w.finishes, w.creates)
	}
}
