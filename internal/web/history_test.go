package web_test

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/connection"
	"github.com/sluice/sluice/internal/store"
)

// finishedRun records a finished run of f with that status and trigger
// input, without running anything.
func (s *site) finishedRun(t *testing.T, f store.Flow, status, input string) store.Run {
	t.Helper()
	r, err := s.st.CreateRun(t.Context(), store.NewRun{FlowID: f.ID, FlowVersion: 1, TriggerType: "manual", Input: json.RawMessage(input),
		LeaseOwner: "test", LeaseUntil: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.st.FinishRun(t.Context(), "test", r.ID, store.RunFinish{Status: status}); err != nil {
		t.Fatal(err)
	}
	return r
}

// runLinks returns the run ids a list page links to, in order.
func runLinks(body string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`<a href="/runs/(\d+)">Run`).FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestHistoryFiltersColumnsAndPages(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	f := s.saveFlow(t, s.ann, flowSource("Welcome", "https://api.example.com/x"))
	ok := s.finishedRun(t, f, store.RunSucceeded, `{"input":{"user":"ann.lee","dept":"HR"}}`)
	bad := s.finishedRun(t, f, store.RunFailed, `{"input":{"user":"`+strings.ReplaceAll(hostile, `"`, `\"`)+`","dept":"IT"}}`)
	quote := s.finishedRun(t, f, store.RunFailed, `{"input":{"user":"say \"hi\"","dept":"IT"}}`)
	ann, bob := s.browser(t), s.browser(t)
	ann.signIn("ann@example.com", "/")
	bob.signIn("bob@example.com", "/")
	id := func(r store.Run) string { return fmt.Sprint(r.ID) }

	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", []string{id(quote), id(bad), id(ok)}},
		{"?status=failed", []string{id(quote), id(bad)}},
		{"?q=ann.lee", []string{id(ok)}},
		{"?q=" + url.QueryEscape(`say "hi"`), []string{id(quote)}},
		{"?q=nobody", nil},
		{"?from=2000-01-01&to=2000-01-02", nil},
		{"?from=" + time.Now().UTC().Format(time.DateOnly) + "&status=succeeded", []string{id(ok)}},
	} {
		p := ann.get("/runs" + tc.query)
		requireStatus(t, p, http.StatusOK, "GET /runs"+tc.query)
		if got := runLinks(p.body); strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("GET /runs%s lists %v, want %v", tc.query, got, tc.want)
		}
	}
	// Columns: from the columns box to one col= each, kept in the links.
	p := ann.get("/runs?status=&cols=" + url.QueryEscape("input.user, input.dept"))
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/runs?col=input.user&col=input.dept" {
		t.Fatalf("columns box: %d to %q", p.status, p.header.Get("Location"))
	}
	p = ann.get(fmt.Sprintf("/flows/%d/runs?col=input.user&col=input.dept", f.ID))
	requireStatus(t, p, http.StatusOK, "flow's runs with columns")
	for _, want := range []string{`<th scope="col">input.user</th>`, `>ann.lee</td>`, `>HR</td>`, "&lt;script&gt;alert(1)&lt;/script&gt;",
		`href="/flows/` + fmt.Sprint(f.ID) + `/runs/export.csv?col=input.user&amp;col=input.dept"`} {
		if !strings.Contains(p.body, want) {
			t.Errorf("flow's runs with columns lack %q", want)
		}
	}
	if strings.Contains(p.body, hostile) {
		t.Errorf("a script in a trigger input is shown as HTML")
	}
	// Keyset pages: one run a page would need 50; two pages of the three
	// runs come from before=.
	p = ann.get("/runs?before=" + id(bad))
	if got := runLinks(p.body); strings.Join(got, ",") != id(ok) {
		t.Errorf("page before run %d lists %v", bad.ID, got)
	}
	// Bad filters are refused, saying what was wrong.
	for q, want := range map[string]string{
		"?status=weird":                        "Status &#34;weird&#34; is not one of",
		"?from=yesterday":                      "The from date &#34;yesterday&#34; is not a day",
		"?before=-1":                           "The page &#34;-1&#34; does not exist",
		"?q=" + strings.Repeat("x", 201):       "at most 200 are searched",
		"?col=a&col=b&col=c&col=d&col=e&col=f": "At most 5 columns",
		"?col=" + strings.Repeat("a", 101):     "longer than 100 characters",
	} {
		p := ann.get("/runs" + q)
		requireStatus(t, p, http.StatusBadRequest, "GET /runs"+q)
		if !strings.Contains(p.body, want) {
			t.Errorf("GET /runs%s does not say %q:\n%s", q, want, p.body)
		}
	}
	// Bob sees none of ann's runs, and not her flow's list.
	if got := runLinks(bob.get("/runs").body); len(got) != 0 {
		t.Errorf("bob's runs list ann's: %v", got)
	}
	requireStatus(t, bob.get(fmt.Sprintf("/flows/%d/runs", f.ID)), http.StatusNotFound, "bob GET ann's flow's runs")
	requireStatus(t, bob.get(fmt.Sprintf("/flows/%d/runs/export.csv", f.ID)), http.StatusNotFound, "bob exports ann's flow's runs")
}

func TestHistoryTextSearchIsWindowed(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	f := s.saveFlow(t, s.ann, flowSource("Window", "https://api.example.com/x"))
	old := s.finishedRun(t, f, store.RunFailed, `{"input":{"user":"needle"}}`)
	// The site's search window is 20 ids: the search of the first page
	// does not reach the old run, and offers to go on.
	for range 45 {
		s.finishedRun(t, f, store.RunSucceeded, `{"input":{"user":"hay"}}`)
	}
	newest := s.finishedRun(t, f, store.RunFailed, `{"input":{"user":"hay"}}`)
	ann := s.browser(t)
	ann.signIn("ann@example.com", "/")
	p := ann.get("/runs?q=needle")
	if got := runLinks(p.body); len(got) != 0 {
		t.Fatalf("first window lists %v", got)
	}
	m := regexp.MustCompile(`href="(/runs\?before=\d+&amp;q=needle)">Search older runs`).FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no Search older runs link:\n%s", p.body)
	}
	if want := fmt.Sprintf("down to run %d", newest.ID-19); !strings.Contains(p.body, want) {
		t.Errorf("the page does not say %q", want)
	}
	next := strings.ReplaceAll(m[1], "&amp;", "&")
	for range 3 {
		p = ann.get(next)
		if got := runLinks(p.body); len(got) == 1 && got[0] == fmt.Sprint(old.ID) {
			return
		}
		m = regexp.MustCompile(`href="(/runs\?before=\d+&amp;q=needle)">Search older runs`).FindStringSubmatch(p.body)
		if m == nil {
			break
		}
		next = strings.ReplaceAll(m[1], "&amp;", "&")
	}
	t.Fatalf("the old run was not found by going on:\n%s", p.body)
}

func TestHistoryStatusFilterReadsWholeHistory(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	f := s.saveFlow(t, s.ann, flowSource("Old failure", "https://api.example.com/x"))
	old := s.finishedRun(t, f, store.RunFailed, `{"input":{"user":"ann"}}`)
	// More runs than the site's text-search window (20 ids) come after
	// the only failure: a status filter still finds it on its first page.
	for range 45 {
		s.finishedRun(t, f, store.RunSucceeded, `{"input":{"user":"ann"}}`)
	}
	ann := s.browser(t)
	ann.signIn("ann@example.com", "/")
	for _, path := range []string{"/runs?status=failed", fmt.Sprintf("/flows/%d/runs?status=failed", f.ID)} {
		p := ann.get(path)
		requireStatus(t, p, http.StatusOK, "GET "+path)
		if got := runLinks(p.body); len(got) != 1 || got[0] != fmt.Sprint(old.ID) {
			t.Errorf("GET %s lists %v, want run %d", path, got, old.ID)
		}
		if strings.Contains(p.body, "Search older runs") || strings.Contains(p.body, "Searched runs down to") {
			t.Errorf("GET %s offers to search older runs:\n%s", path, p.body)
		}
	}
}

func TestHistoryExportCSV(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	f := s.saveFlow(t, s.ann, flowSource("=cmd|' /C calc'!A0", "https://api.example.com/x"))
	r1 := s.finishedRun(t, f, store.RunFailed, `{"input":{"user":"=HYPERLINK(\"http://evil\")","n":"+1","m":"-2","a":"@SUM(A1)","ok":"plain"}}`)
	s.finishedRun(t, s.saveFlow(t, s.bob, flowSource("Bob's", "https://api.example.com/x")), store.RunFailed, `{}`)
	ann := s.browser(t)
	ann.signIn("ann@example.com", "/")
	p := ann.get("/runs/export.csv?status=failed&col=input.user&col=input.n&col=input.m&col=input.a&col=input.ok")
	requireStatus(t, p, http.StatusOK, "export")
	if ct := p.header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	rows, err := csv.NewReader(strings.NewReader(p.body)).ReadAll()
	if err != nil {
		t.Fatalf("the export is not CSV: %v\n%s", err, p.body)
	}
	if len(rows) != 2 {
		t.Fatalf("export has %d rows, want the header and ann's one run:\n%s", len(rows), p.body)
	}
	want := []string{fmt.Sprint(r1.ID), `'=cmd|' /C calc'!A0`, "failed", "manual"}
	for i, w := range want {
		if rows[1][i] != w {
			t.Errorf("cell %d = %q, want %q", i, rows[1][i], w)
		}
	}
	cols := rows[1][len(rows[1])-5:]
	for i, w := range []string{`'=HYPERLINK("http://evil")`, "'+1", "'-2", "'@SUM(A1)", "plain"} {
		if cols[i] != w {
			t.Errorf("column %d = %q, want %q", i, cols[i], w)
		}
	}
}

func TestBulkResubmitCancelAndProgress(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	f := s.saveFlow(t, s.ann, flowSource("Bulk", "http://127.0.0.1:1/nothing"))
	r1 := s.finishedRun(t, f, store.RunFailed, `{"input":{}}`)
	r2 := s.finishedRun(t, f, store.RunFailed, `{"input":{}}`)
	ann, bob := s.browser(t), s.browser(t)
	ann.signIn("ann@example.com", "/")
	bob.signIn("bob@example.com", "/")

	// Bob's job names ann's runs: it is his job, and touches none of them.
	p := bob.post("/runs", "/runs/bulk", url.Values{"action": {"resubmit"}, "run": {fmt.Sprint(r1.ID), fmt.Sprint(r2.ID)}})
	requireStatus(t, p, http.StatusSeeOther, "bob's bulk resubmit")
	bobJob := p.header.Get("Location")
	s.waitJob(t, bob, bobJob)
	if n, _ := s.st.CountRuns(t.Context(), store.RunFilter{ResubmittedFrom: r1.ID}); n != 0 {
		t.Fatalf("bob's job resubmitted ann's run")
	}
	requireStatus(t, ann.get(bobJob), http.StatusNotFound, "ann GET bob's job")

	p = ann.post("/runs", "/runs/bulk", url.Values{"action": {"resubmit"}, "run": {fmt.Sprint(r1.ID), fmt.Sprint(r2.ID)}})
	requireStatus(t, p, http.StatusSeeOther, "ann's bulk resubmit")
	job := p.header.Get("Location")
	if !strings.HasPrefix(job, "/jobs/") {
		t.Fatalf("bulk resubmit goes to %q", job)
	}
	page := ann.get(job)
	requireStatus(t, page, http.StatusOK, "job page")
	if !strings.Contains(page.body, "Resubmit of 2 runs") && !strings.Contains(page.body, "Resubmit of 0 runs") {
		t.Errorf("job page does not say what it does:\n%s", page.body)
	}
	body := s.waitJob(t, ann, job)
	if !strings.Contains(body, "2 done") || !strings.Contains(body, `value="100"`) {
		t.Errorf("finished job page:\n%s", body)
	}
	for _, r := range []store.Run{r1, r2} {
		if n, _ := s.st.CountRuns(t.Context(), store.RunFilter{ResubmittedFrom: r.ID}); n != 1 {
			t.Errorf("run %d was resubmitted %d times, want 1", r.ID, n)
		}
	}
	requireStatus(t, bob.get(job), http.StatusNotFound, "bob GET ann's job")
	requireStatus(t, s.browser(t).get(job), http.StatusSeeOther, "anonymous GET job")
	for name, form := range map[string]url.Values{
		"no action":  {"run": {"1"}},
		"no runs":    {"action": {"cancel"}},
		"not an id":  {"action": {"cancel"}, "run": {"x"}},
		"bad option": {"action": {"resubmit"}, "run": {"1"}, "version": {"v9"}},
		"too many":   {"action": {"cancel"}, "run": strings.Fields(strings.Repeat("1 ", 201))},
	} {
		requireStatus(t, ann.post("/runs", "/runs/bulk", form), http.StatusBadRequest, name)
	}
	requireStatus(t, ann.do("POST", "/runs/bulk", url.Values{"action": {"cancel"}, "run": {"1"}}), http.StatusForbidden, "bulk without CSRF")
}

// waitJob reloads a job's page until it says the job finished, and
// returns that page.
func (s *site) waitJob(t *testing.T, b *browser, path string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		p := b.get(path)
		requireStatus(t, p, http.StatusOK, "job page")
		if !strings.Contains(p.body, `http-equiv="refresh"`) {
			return p.body
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s did not finish:\n%s", path, p.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestFixConnection(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	sealed, err := connection.Seal(s.box, connection.Secret{Token: "old-secret-token"})
	if err != nil {
		t.Fatal(err)
	}
	cn, err := s.st.CreateConnection(t.Context(), store.Connection{OwnerID: s.ann.ID, Name: "crm" + hostile, Type: "bearer",
		Config: json.RawMessage(`{"test_url":"https://crm.example.com/me"}`), Secret: sealed})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.st.SetConnectionHealth(t.Context(), cn.ID, store.HealthNeedsAttention, "401", time.Now()); err != nil {
		t.Fatal(err)
	}
	f := s.saveFlow(t, s.ann, strings.Replace(flowSource("Uses crm", "https://crm.example.com/x"), "    retry:", "    connection: \"crm"+strings.ReplaceAll(hostile, `"`, `\"`)+"\"\n    retry:", 1))
	authErr, _ := json.Marshal(map[string]any{"kind": "http", "status": 401, "message": "401", "connection": cn.Name, "class": "auth"})
	s.failedRun(t, f, store.Step{Key: "call", ActionID: "call", Type: "http", Status: "failed", Attempts: 1, Error: authErr,
		Fault: store.StepFault{Class: "auth", Code: "http.401", Connection: cn.Name}})
	ann, bob := s.browser(t), s.browser(t)
	ann.signIn("ann@example.com", "/")
	bob.signIn("bob@example.com", "/")
	path := fmt.Sprintf("/connections/%d", cn.ID)

	page := ann.get(path)
	requireStatus(t, page, http.StatusOK, "connection page")
	for _, want := range []string{"Fix connection", "••••", fmt.Sprintf(`<a href="/flows/%d">`, f.ID),
		"Resubmit the 1 run that failed because of this connection"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("connection page lacks %q:\n%s", want, page.body)
		}
	}
	form := ann.get(path + "/fix")
	requireStatus(t, form, http.StatusOK, "fix form")
	for _, body := range []string{page.body, form.body} {
		if strings.Contains(body, "old-secret-token") || strings.Contains(body, hostile) {
			t.Fatalf("a page shows the stored secret or the name as HTML:\n%s", body)
		}
	}
	if !strings.Contains(form.body, `name="token" type="password"`) {
		t.Errorf("the fix form does not ask for a token:\n%s", form.body)
	}
	requireStatus(t, bob.get(path+"/fix"), http.StatusNotFound, "bob GET fix form")
	requireStatus(t, bob.post("/", path+"/fix", url.Values{"token": {"bobs"}}), http.StatusNotFound, "bob POST fix")
	requireStatus(t, bob.post("/", path+"/resubmit", nil), http.StatusNotFound, "bob POST resubmit")
	requireStatus(t, ann.do("POST", path+"/fix", url.Values{"token": {"x"}}), http.StatusForbidden, "fix without CSRF")
	requireStatus(t, ann.post(path, path+"/fix", url.Values{"token": {"  "}}), http.StatusBadRequest, "fix with nothing")

	p := ann.post(path, path+"/fix", url.Values{"token": {"new-token"}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != path+"?saved=1" {
		t.Fatalf("fix: %d to %q\n%s", p.status, p.header.Get("Location"), p.body)
	}
	got, err := s.st.GetConnection(t.Context(), cn.ID)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := connection.Open(s.box, got.Type, got.Config, got.Secret)
	if err != nil || spec.Secret.Token != "new-token" || spec.Config.TestURL != "https://crm.example.com/me" {
		t.Fatalf("after the fix the connection holds %+v, %v", spec, err)
	}
	p = ann.post(path, path+"/resubmit", nil)
	requireStatus(t, p, http.StatusSeeOther, "resubmit the runs of the connection")
	if body := s.waitJob(t, ann, p.header.Get("Location")); !strings.Contains(body, "1 done") {
		t.Errorf("connection's resubmit job:\n%s", body)
	}
}
