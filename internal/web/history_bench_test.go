package web_test

import (
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/auth"
	"github.com/sluice/sluice/internal/engine"
	"github.com/sluice/sluice/internal/store"
	"github.com/sluice/sluice/internal/store/sqlite"
	"github.com/sluice/sluice/internal/web"
)

// BenchmarkHistoryPage measures the server time of the run history page
// with SLUICE_BENCH_RUNS runs (default 1,000,000) in a SQLite store:
// 20 flows of ann and 20 of bob share the runs half and half (every
// other run), one flow of carl has one run in 10,000 (all failed), a run
// in 10 failed. With -v it logs the query plans of the maker's list.
// Run with
//
//	go test ./internal/web -run '^$' -bench BenchmarkHistoryPage -benchtime 50x
func BenchmarkHistoryPage(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("SLUICE_BENCH_RUNS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	ctx := b.Context()
	path := filepath.Join(b.TempDir(), "sluice.db")
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := sqlite.Open(ctx, path, logger)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	hash, err := auth.HashPassword(sitePassword)
	if err != nil {
		b.Fatal(err)
	}
	users := map[string]store.User{}
	flows := map[string][]int64{}
	for _, who := range []string{"admin", "ann", "bob", "carl"} {
		role := store.RoleMaker
		if who == "admin" {
			role = store.RoleAdmin
		}
		u, err := st.CreateUser(ctx, store.User{Email: who + "@example.com", Name: who, PasswordHash: hash, Role: role})
		if err != nil {
			b.Fatal(err)
		}
		users[who] = u
		count := 20
		if who == "carl" {
			count = 1
		} else if who == "admin" {
			count = 0
		}
		for i := range count {
			tok, _ := auth.NewWebhookToken()
			f, err := st.CreateFlow(ctx, store.NewFlow{Name: fmt.Sprintf("%s flow %d", who, i), OwnerID: u.ID, TriggerType: "manual",
				WebhookToken: tok, Definition: []byte(`{}`), Source: "{}"})
			if err != nil {
				b.Fatal(err)
			}
			flows[who] = append(flows[who], f.ID)
		}
	}
	// The runs, written straight to the file in one statement: the store
	// has no bulk insert, and a million CreateRun calls would take long.
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	_, err = db.ExecContext(ctx, `WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?)
		INSERT INTO runs (flow_id, flow_version, status, trigger_type, input, created_at, next_attempt_at)
		SELECT CASE WHEN i % 10000 = 0 THEN ? WHEN i % 2 = 0 THEN ? + (i / 2) % 20 ELSE ? + (i / 2) % 20 END, 1,
			CASE WHEN i % 10 = 0 THEN 'failed' ELSE 'succeeded' END, 'manual',
			'{"input":{"user":"user' || i || '"}}', ? + i * 1000000000, 0 FROM seq`,
		n, flows["carl"][0], flows["ann"][0], flows["bob"][0], time.Now().Add(-time.Duration(n)*time.Second).UnixNano())
	if err != nil {
		b.Fatal(err)
	}
	if os.Getenv("SLUICE_BENCH_ANALYZE") != "" {
		// The store never runs ANALYZE; this shows what statistics change.
		if _, err := db.ExecContext(ctx, `ANALYZE`); err != nil {
			b.Fatal(err)
		}
	}
	// The plans of a maker's list (owner through the flows join), shown
	// with -v with their time: runs first (the shape before migration
	// 0013), and flows first (the store's, with runs_flow_status).
	const cols = `SELECT r.id, r.input, f.name FROM `
	for _, pl := range []struct {
		who, q string
	}{
		{"ann", cols + `runs r JOIN flows f ON f.id = r.flow_id WHERE f.owner_id = ? ORDER BY r.id DESC LIMIT ?`},
		{"carl", cols + `runs r JOIN flows f ON f.id = r.flow_id WHERE f.owner_id = ? AND r.status = 'succeeded' ORDER BY r.id DESC LIMIT ?`},
		{"carl", cols + `flows f CROSS JOIN runs r ON f.id = r.flow_id WHERE f.owner_id = ? AND r.status = 'succeeded' ORDER BY r.id DESC LIMIT ?`},
		{"ann", cols + `flows f CROSS JOIN runs r ON f.id = r.flow_id WHERE f.owner_id = ? AND r.status = 'cancelled' ORDER BY r.id DESC LIMIT ?`},
	} {
		var plan []string
		rows, err := db.QueryContext(ctx, `EXPLAIN QUERY PLAN `+pl.q, users[pl.who].ID, 51)
		if err != nil {
			b.Fatal(err)
		}
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				b.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		t0, n := time.Now(), 0
		if rows, err = db.QueryContext(ctx, pl.q, users[pl.who].ID, 51); err != nil {
			b.Fatal(err)
		}
		for rows.Next() {
			n++
		}
		rows.Close()
		b.Logf("%s: %s: %s (%d rows in %s)", pl.who, pl.q, strings.Join(plan, "; "), n, time.Since(t0).Round(time.Microsecond))
	}
	db.Close()
	b.Logf("%d runs written in %s", n, time.Since(start).Round(time.Millisecond))

	eng, err := engine.New(engine.Config{Store: st, Logger: logger, SingleNode: true, HTTPClient: http.DefaultClient})
	if err != nil {
		b.Fatal(err)
	}
	h := web.NewPortal(web.PortalConfig{Store: st, Sessions: web.NewSessions(web.SessionConfig{Store: st}), Runner: eng, Logger: logger})
	srv := httptest.NewServer(h)
	defer srv.Close()
	cookie := func(who string) *http.Cookie {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Get(srv.URL + "/signin")
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := csrfRE.FindSubmatch(body)
		if m == nil {
			b.Fatal("no csrf on the sign-in form")
		}
		resp, err = c.PostForm(srv.URL+"/signin", url.Values{"email": {who + "@example.com"}, "password": {sitePassword}, "csrf": {string(m[1])}, "next": {"/"}})
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		u, _ := url.Parse(srv.URL)
		for _, ck := range jar.Cookies(u) {
			if ck.Name == "sluice_session" {
				return ck
			}
		}
		b.Fatalf("%s did not sign in: %d", who, resp.StatusCode)
		return nil
	}
	for _, bc := range []struct{ name, who, path string }{
		{"admin/first", "admin", "/runs"},
		{"admin/deep", "admin", "/runs?before=1000"},
		{"maker/first", "ann", "/runs"},
		{"maker/deep", "ann", "/runs?before=1000"},
		{"maker/failed/first", "ann", "/runs?status=failed"},
		{"maker/failed/deep", "ann", "/runs?status=failed&before=1000"},
		{"maker/day", "ann", "/runs?from=" + time.Now().Add(-time.Duration(n/2)*time.Second).UTC().Format(time.DateOnly)},
		{"maker/text", "ann", "/runs?q=user99999"},
		{"maker/columns", "ann", "/runs?col=input.user"},
		{"flow/first", "ann", fmt.Sprintf("/flows/%d/runs", flows["ann"][0])},
		{"flow/deep", "ann", fmt.Sprintf("/flows/%d/runs?before=1000", flows["ann"][0])},
		{"rare-owner/first", "carl", "/runs"},
		{"rare-owner/failed", "carl", "/runs?status=failed"},
		{"rare-owner/succeeded-none", "carl", "/runs?status=succeeded"},
		{"rare-owner/text", "carl", "/runs?q=user"},
	} {
		ck := cookie(bc.who)
		b.Run(bc.name, func(b *testing.B) {
			cpu0 := processCPU()
			defer func() { b.ReportMetric(float64(processCPU()-cpu0)/float64(max(b.N, 1))/1e6, "cpu-ms/op") }()
			for b.Loop() {
				req := httptest.NewRequest("GET", bc.path, nil)
				req.AddCookie(ck)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "<h1>") {
					b.Fatalf("GET %s: %d\n%s", bc.path, rec.Code, rec.Body.String())
				}
			}
		})
	}
}

// processCPU returns the CPU time the process used, user and system: on a
// shared machine, the steadier figure per page.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
