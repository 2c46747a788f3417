package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// postgresURL returns a URL of a fresh schema in the test PostgreSQL, or
// skips the test when it is unreachable (fails when CI says it must run).
func postgresURL(t *testing.T) string {
	t.Helper()
	base := os.Getenv("SLUICE_TEST_POSTGRES_URL")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv("SLUICE_TEST_POSTGRES") != "" {
			t.Fatalf("PostgreSQL is required (SLUICE_TEST_POSTGRES is set) but unreachable: %v", err)
		}
		t.Skipf("PostgreSQL unreachable: %v", err)
	}
	defer conn.Close(context.Background())
	var b [6]byte
	rand.Read(b[:])
	schema := "sluice_e2e_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err == nil {
			c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			c.Close(context.Background())
		}
	})
	return base + "&search_path=" + schema
}

func TestTwoNodesOnPostgres(t *testing.T) {
	db := postgresURL(t)
	var mu sync.Mutex
	seen := map[string]int{}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.URL.Query().Get("n")]++
		mu.Unlock()
		fmt.Fprint(w, "ok")
	}))
	defer api.Close()
	nodes := startNodes(t, db, 2)
	a := nodes[0]
	a.login()
	a.sluice("", "flows", "apply", "-f", writeFlow(t, `name: shared
trigger: { type: webhook }
actions:
  - id: call
    type: http
    with: { url: "`+api.URL+`/", query: { n: "{{ trigger.body.n }}" } }
`))
	a.sluice("", "flows", "apply", "-f", writeFlow(t, `name: tick
trigger: { type: schedule, every: 1s }
actions:
  - id: at
    type: compose
    with: { value: "{{ trigger.input.scheduled_at }}" }
`))
	var shown struct {
		WebhookURL string `json:"webhook_url"`
	}
	json.Unmarshal([]byte(a.sluice("", "flows", "show", "shared", "--json")), &shown)
	path := shown.WebhookURL[strings.Index(shown.WebhookURL, "/hooks/"):]
	const n = 100
	for i := range n {
		node := nodes[i%2]
		resp, err := http.Post(node.url+path, "application/json", strings.NewReader(fmt.Sprintf(`{"n": %d}`, i)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("webhook %d on node %d: %d", i, i%2, resp.StatusCode)
		}
	}
	a.waitRuns("shared", "succeeded", n, 60*time.Second)
	mu.Lock()
	if len(seen) != n {
		t.Errorf("%d distinct calls, want %d", len(seen), n)
	}
	mu.Unlock()

	// Both nodes run the scheduler; each firing must happen once.
	a.waitRuns("tick", "succeeded", 3, 30*time.Second)
	out := a.sluice("", "runs", "list", "--flow", "tick", "--limit", "1000", "--json")
	var ticks []struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal([]byte(out), &ticks); err != nil || len(ticks) < 2 {
		t.Fatalf("schedule runs: %v\n%s", err, out)
	}
	at := map[string]bool{}
	for _, tk := range ticks {
		r := a.showRunInput(tk.ID)
		if at[r] {
			t.Fatalf("the schedule fired twice for %s", r)
		}
		at[r] = true
	}
}

// startNodes starts n nodes on the database db, sharing one secret key
// and one CLI configuration folder, with env added to each node's
// environment; each is killed when t ends.
func startNodes(t *testing.T, db string, n int, env ...string) []*server {
	t.Helper()
	key := strings.Repeat("ab", 32)
	config := t.TempDir()
	nodes := make([]*server, n)
	for i := range nodes {
		s := &server{t: t, data: t.TempDir(), config: config, addr: freeAddr(t)}
		s.url = "http://" + s.addr
		s.env = append([]string{"SLUICE_SECRET_KEY=" + key}, env...)
		s.start2(db)
		t.Cleanup(s.kill)
		nodes[i] = s
	}
	return nodes
}

// start2 starts the server on a shared database URL.
func (s *server) start2(db string) {
	s.t.Helper()
	s.extraArgs = []string{"--db", db}
	s.start()
}

// showRunInput returns a scheduled run's scheduled_at input.
func (s *server) showRunInput(id int64) string {
	s.t.Helper()
	var r struct {
		Input struct {
			Input struct {
				ScheduledAt string `json:"scheduled_at"`
			} `json:"input"`
		} `json:"input"`
	}
	out := s.sluice("", "runs", "show", fmt.Sprint(id), "--json")
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Input.Input.ScheduledAt == "" {
		s.t.Fatalf("run %d input: %v\n%s", id, err, out)
	}
	return r.Input.Input.ScheduledAt
}
