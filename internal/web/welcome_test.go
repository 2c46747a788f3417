package web_test

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice/sluice/internal/engine"
	"github.com/sluice/sluice/internal/sample"
	"github.com/sluice/sluice/internal/store"
	"github.com/sluice/sluice/internal/web"
)

// withSamples turns the sample service on for a site.
func withSamples(pc *web.PortalConfig) { pc.SampleBaseURL = sampleBase }

// flowNamed returns the owner's flow of that name.
func flowNamed(t *testing.T, s *site, owner store.User, name string) store.Flow {
	t.Helper()
	flows, err := s.st.ListFlows(t.Context(), store.FlowFilter{OwnerID: owner.ID})
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(flows, func(f store.Flow) bool { return f.Name == name })
	if i < 0 {
		t.Fatalf("no flow %q among %d", name, len(flows))
	}
	return flows[i]
}

// startRun starts a manual run of f and waits for its end.
func startRun(t *testing.T, s *site, f store.Flow) store.Run {
	t.Helper()
	r, err := s.eng.Start(t.Context(), engine.StartRequest{Flow: f, TriggerType: "manual", Trigger: engine.Trigger{Input: map[string]any{}}})
	if err != nil {
		t.Fatal(err)
	}
	return s.waitRun(t, r.ID)
}

// TestWelcomeImportsTheSamples: a maker with no flow gets the welcome
// page, which tells the sample token; its one POST (with the session's
// CSRF token) saves the three sample flows and the sample connection for
// that maker only; a second import adds no flow; and the samples fail as
// the page says, then succeed once fixed.
func TestWelcomeImportsTheSamples(t *testing.T) {
	t.Parallel()
	s := newSite(t, withSamples)
	ann, bob := s.browser(t), s.browser(t)
	ann.signIn("ann@example.com", "/")
	bob.signIn("bob@example.com", "/")
	home := ann.get("/")
	requireStatus(t, home, http.StatusOK, "home")
	if !strings.Contains(home.body, "Welcome to Sluice") || !strings.Contains(home.body, sample.Token) || !strings.Contains(home.body, `action="/welcome/samples"`) {
		t.Fatalf("the home page of a maker with no flow is not the welcome page:\n%s", home.body)
	}
	for name, form := range map[string]url.Values{"no token": {}, "bob's token": {"csrf": {bob.get("/").csrf(t)}}} {
		p := ann.do("POST", "/welcome/samples", form)
		requireStatus(t, p, http.StatusForbidden, "import with "+name)
	}
	if flows, _ := s.st.ListFlows(t.Context(), store.FlowFilter{}); len(flows) != 0 {
		t.Fatalf("refused imports saved %d flows", len(flows))
	}
	for range 2 {
		p := ann.post("/", "/welcome/samples", nil)
		if p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/flows") {
			t.Fatalf("import: %d to %q\n%s", p.status, p.header.Get("Location"), p.body)
		}
	}
	flows, err := s.st.ListFlows(t.Context(), store.FlowFilter{})
	if err != nil || len(flows) != 3 {
		t.Fatalf("after two imports: %d flows, %v; want ann's 3", len(flows), err)
	}
	for _, f := range flows {
		if f.OwnerID != s.ann.ID || !strings.HasPrefix(f.Name, "Sample: ") {
			t.Fatalf("imported flow %q of owner %d, want ann's and marked", f.Name, f.OwnerID)
		}
	}
	list := ann.get("/flows")
	if !strings.Contains(list.body, "Sample: payroll (401)") {
		t.Fatalf("the flow list has no sample:\n%s", list.body)
	}
	if p := ann.get("/"); strings.Contains(p.body, "Welcome to Sluice") {
		t.Fatal("the welcome page is still shown once ann has flows")
	}
	if p := bob.get("/"); !strings.Contains(p.body, "Welcome to Sluice") {
		t.Fatal("bob, with no flow, does not get the welcome page")
	}
	cn, err := s.st.GetConnectionByName(t.Context(), s.ann.ID, sample.ConnectionName)
	if err != nil {
		t.Fatal(err)
	}

	payroll := flowNamed(t, s, s.ann, "Sample: payroll (401)")
	if r := startRun(t, s, payroll); r.Status != store.RunFailed {
		t.Fatalf("the payroll sample with the wrong token: %s, want failed", r.Status)
	}
	if r := startRun(t, s, flowNamed(t, s, s.ann, "Sample: manager lookup (404)")); r.Status != store.RunFailed {
		t.Fatalf("the manager sample: %s, want failed", r.Status)
	}
	flaky := startRun(t, s, flowNamed(t, s, s.ann, "Sample: flaky service (502)"))
	if flaky.Status != store.RunFailed {
		t.Fatalf("the flaky sample's first run: %s, want failed", flaky.Status)
	}
	p := ann.post("/runs/"+strconv.FormatInt(flaky.ID, 10), "/runs/"+strconv.FormatInt(flaky.ID, 10)+"/resubmit", url.Values{"version": {"latest"}})
	requireStatus(t, p, http.StatusSeeOther, "resubmit the flaky run")
	if r := s.waitRun(t, lastRunID(t, s)); r.ID == flaky.ID || r.Status != store.RunSucceeded {
		t.Fatalf("the flaky sample resubmitted: run %d %s, want a new run that succeeded", r.ID, r.Status)
	}
	fix := ann.post("/connections/"+strconv.FormatInt(cn.ID, 10)+"/fix", "/connections/"+strconv.FormatInt(cn.ID, 10)+"/fix", url.Values{"token": {sample.Token}})
	requireStatus(t, fix, http.StatusSeeOther, "fix the sample connection")
	if r := startRun(t, s, payroll); r.Status != store.RunSucceeded {
		t.Fatalf("the payroll sample with the right token: %s, want succeeded", r.Status)
	}
}

// TestWelcomeOffWithoutSamples: with the sample service off, a maker with
// no flow gets the usual home page and the import is not there.
func TestWelcomeOffWithoutSamples(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ann := s.browser(t)
	if p := ann.do("POST", "/welcome/samples", url.Values{"csrf": {"x"}}); p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/signin") {
		t.Fatalf("anonymous import: %d to %q, want the sign-in form", p.status, p.header.Get("Location"))
	}
	ann.signIn("ann@example.com", "/")
	if p := ann.get("/"); strings.Contains(p.body, "Welcome to Sluice") || !strings.Contains(p.body, "Nothing needs your attention") {
		t.Fatalf("home with the samples off:\n%s", p.body)
	}
	requireStatus(t, ann.post("/", "/welcome/samples", nil), http.StatusNotFound, "import with the samples off")
	if flows, _ := s.st.ListFlows(t.Context(), store.FlowFilter{}); len(flows) != 0 {
		t.Fatalf("%d flows saved with the samples off", len(flows))
	}
}

// TestImportedSamplesFollowTheBaseURL imports the samples on a server
// whose base URL was then changed (the portal imports under one, the
// engine's client serves the samples under another): the flows call the
// sample service's fixed origin, not the address they were imported
// under, so they still reach it.
func TestImportedSamplesFollowTheBaseURL(t *testing.T) {
	t.Parallel()
	const oldBase = "http://old-name.example:8080"
	s := newSite(t, func(pc *web.PortalConfig) { pc.SampleBaseURL = oldBase })
	ann := s.browser(t)
	ann.signIn("ann@example.com", "/")
	requireStatus(t, ann.post("/", "/welcome/samples", nil), http.StatusSeeOther, "import")
	flows, err := s.st.ListFlows(t.Context(), store.FlowFilter{OwnerID: s.ann.ID})
	if err != nil || len(flows) != 3 {
		t.Fatalf("%d flows imported, %v", len(flows), err)
	}
	for _, f := range flows {
		v, err := s.st.GetFlowVersion(t.Context(), f.ID, f.Version)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(v.Source, "old-name.example") || !strings.Contains(v.Source, sample.Origin+"/sample/") {
			t.Fatalf("sample %q keeps the base URL it was imported under:\n%s", f.Name, v.Source)
		}
	}
	r := startRun(t, s, flowNamed(t, s, s.ann, "Sample: manager lookup (404)"))
	steps, err := s.st.ListSteps(t.Context(), r.ID)
	if err != nil || len(steps) != 1 {
		t.Fatalf("steps %+v, %v", steps, err)
	}
	if r.Status != store.RunFailed || !strings.Contains(string(steps[0].Error), `"status":404`) || !strings.Contains(string(steps[0].Error), "Grace Hopper has no manager") {
		t.Fatalf("the manager sample under a new base URL: %s, error %s; want the sample service's 404", r.Status, steps[0].Error)
	}
	if r := startRun(t, s, flowNamed(t, s, s.ann, "Sample: flaky service (502)")); r.Status != store.RunFailed {
		t.Fatalf("the flaky sample: %s, want failed (its first call)", r.Status)
	}
	if r := startRun(t, s, flowNamed(t, s, s.ann, "Sample: flaky service (502)")); r.Status != store.RunSucceeded {
		t.Fatalf("the flaky sample's second run: %s, want succeeded", r.Status)
	}
}
