package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluice/sluice/internal/mail/mailtest"
)

// TestThreeNodesOneKilled is issue 10's done-when test: three nodes (the
// real binary) on one PostgreSQL schema take 5,000 webhooks spread across
// them; one node is SIGKILLed mid-load and nothing is restarted. Every
// accepted webhook (2xx) must end as exactly one succeeded run (the dead
// node's runs are rescued by the others once their lease expires), no
// schedule slot may fire twice over at least 200 slots, and the failing
// flow's repair-tip email must be sent once, though all three nodes run a
// notifier. It reads the outcome from the database itself.
//
// Its time is mostly the lease of the dead node's runs (30 s, found by
// the survivors' rescue pass within another 15 s).
func TestThreeNodesOneKilled(t *testing.T) {
	db := postgresURL(t)
	smtp := mailtest.NewServer(t)
	missing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
	}))
	defer missing.Close()
	nodes := startNodes(t, db, 3, "SLUICE_REPAIR_GRACE=1s",
		fmt.Sprintf("SLUICE_SMTP_URL=smtp://%s?from=sluice@example.com&tls=none", smtp.Addr))
	a := nodes[0]
	a.login()
	a.sluice("", "flows", "apply", "-f", writeFlow(t, `name: load
trigger: { type: webhook }
actions:
  - id: echo
    type: compose
    with: { value: "{{ trigger.body.n }}" }
`))
	a.sluice("", "flows", "apply", "-f", writeFlow(t, `name: broken
trigger: { type: webhook }
actions:
  - id: fetch
    type: http
    with: { url: "`+missing.URL+`/missing" }
`))
	// 8 schedules every second: 200 slots in 25 s, while the load runs
	// and while the dead node's runs wait out their lease.
	const schedules, slots = 8, 200
	for i := range schedules {
		a.sluice("", "flows", "apply", "-f", writeFlow(t, fmt.Sprintf(`name: tick-%d
trigger: { type: schedule, every: 1s }
actions:
  - id: at
    type: compose
    with: { value: "{{ trigger.input.scheduled_at }}" }
`, i)))
	}
	hook := func(name string) string {
		var shown struct {
			WebhookURL string `json:"webhook_url"`
		}
		out := a.sluice("", "flows", "show", name, "--json")
		if err := json.Unmarshal([]byte(out), &shown); err != nil {
			t.Fatalf("flows show %s: %v\n%s", name, err, out)
		}
		return shown.WebhookURL[strings.Index(shown.WebhookURL, "/hooks/"):]
	}
	loadPath, brokenPath := hook("load"), hook("broken")

	client := &http.Client{Timeout: 30 * time.Second}
	var dead atomic.Int32 // 1 + the index of the killed node
	post := func(i int, path, body string) bool {
		n := i % len(nodes)
		if d := int(dead.Load()) - 1; d == n {
			n = (n + 1) % len(nodes)
		}
		resp, err := client.Post(nodes[n].url+path, "application/json", strings.NewReader(body))
		if err != nil {
			return false // the node died under it: not accepted
		}
		resp.Body.Close()
		return resp.StatusCode >= 200 && resp.StatusCode < 300
	}
	// The failing flow, on every node: one repair-tip email in all.
	const failures = 30
	for i := range failures {
		if !post(i, brokenPath, `{}`) {
			t.Fatalf("webhook %d of the failing flow refused", i)
		}
	}

	const total, workers = 5000, 24
	accepted := make([]bool, total)
	var sent atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < total; i += workers {
				accepted[i] = post(i, loadPath, fmt.Sprintf(`{"n": %d}`, i))
				if sent.Add(1) == total/2 {
					// Mid-load: kill the third node, and restart nothing.
					dead.Store(3)
					nodes[2].kill()
				}
			}
		})
	}
	wg.Wait()
	want := 0
	for _, ok := range accepted {
		if ok {
			want++
		}
	}
	t.Logf("%d of %d webhooks accepted", want, total)
	if want < total*9/10 {
		t.Fatalf("only %d of %d webhooks accepted", want, total)
	}

	conn, err := pgx.Connect(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	// Wait for every accepted webhook's run and the schedule slots; the
	// dead node's runs come back after its lease.
	deadline := time.Now().Add(120 * time.Second)
	for {
		var done, open, ticks int
		err := conn.QueryRow(t.Context(), `SELECT
			COUNT(*) FILTER (WHERE f.name = 'load' AND r.status = 'succeeded'),
			COUNT(*) FILTER (WHERE f.name = 'load' AND r.status IN ('queued', 'running', 'waiting')),
			COUNT(*) FILTER (WHERE f.name LIKE 'tick-%' AND r.status = 'succeeded')
			FROM runs r JOIN flows f ON f.id = r.flow_id`).Scan(&done, &open, &ticks)
		if err != nil {
			t.Fatal(err)
		}
		if done >= want && open == 0 && ticks >= slots {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 120 s: %d load runs succeeded (want %d), %d unfinished, %d schedule runs succeeded (want %d)", done, want, open, ticks, slots)
		}
		time.Sleep(250 * time.Millisecond)
	}

	// Every accepted webhook: one succeeded run. Any webhook: at most one
	// run (a refused one may have been committed before its node died).
	rows, err := conn.Query(t.Context(), `SELECT (r.input::jsonb->'body'->>'n')::int, r.status FROM runs r JOIN flows f ON f.id = r.flow_id WHERE f.name = 'load'`)
	if err != nil {
		t.Fatal(err)
	}
	runs := make([]int, total)
	for rows.Next() {
		var n int
		var status string
		if err := rows.Scan(&n, &status); err != nil {
			t.Fatal(err)
		}
		if status != "succeeded" {
			t.Errorf("webhook %d: run %s", n, status)
		}
		runs[n]++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for n, c := range runs {
		switch {
		case c > 1:
			t.Errorf("webhook %d: %d runs, want one", n, c)
		case c == 0 && accepted[n]:
			t.Errorf("webhook %d was accepted but has no run", n)
		}
	}

	// No schedule slot fired twice: slots told by their scheduled time.
	var fired, distinct int
	if err := conn.QueryRow(t.Context(), `SELECT COUNT(*), COUNT(DISTINCT (f.name, r.input::jsonb->'input'->>'scheduled_at')) FROM runs r JOIN flows f ON f.id = r.flow_id WHERE f.name LIKE 'tick-%'`).Scan(&fired, &distinct); err != nil {
		t.Fatal(err)
	}
	if fired != distinct || fired < slots {
		t.Errorf("schedules: %d runs for %d distinct slots, want one run per slot and at least %d slots", fired, distinct, slots)
	}

	// One repair-tip email for the failing flow, though three nodes (one
	// killed) each ran a notifier over its failures.
	waitMail(t, smtp, "repair_tip")
	var failed int
	if err := conn.QueryRow(t.Context(), `SELECT COUNT(*) FROM runs r JOIN flows f ON f.id = r.flow_id WHERE f.name = 'broken' AND r.status = 'failed'`).Scan(&failed); err != nil {
		t.Fatal(err)
	}
	if failed != failures {
		t.Errorf("%d failed runs of the failing flow, want %d", failed, failures)
	}
	// Give the survivors' notifiers a few more passes: still one email.
	time.Sleep(3 * time.Second)
	if tips := mailsOf(smtp, "repair_tip"); len(tips) != 1 {
		t.Errorf("%d repair-tip emails, want 1", len(tips))
	}
}
