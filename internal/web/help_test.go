package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice/sluice/internal/api"
	"github.com/sluice/sluice/internal/help"
	"github.com/sluice/sluice/internal/store"
	"github.com/sluice/sluice/internal/web"
)

// askForm is the Contact support form for ann's run.
func askForm(q string, run int64) url.Values {
	v := url.Values{"problem_type": {"failed_run"}, "category": {"transient"}, "q": {q}}
	if run > 0 {
		v.Set("run", fmt.Sprint(run))
	}
	return v
}

func TestPortalHelpSupportJourney(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	rec := annRecords(t, s)
	ann := s.browser(t)
	ann.signIn("ann@example.com", "/")

	p := ann.get("/help")
	requireStatus(t, p, http.StatusOK, "/help")
	for _, want := range []string{`action="/help/ask"`, `href="/help/retries"`, `href="/help" aria-current="page">Help</a>`} {
		if !strings.Contains(p.body, want) {
			t.Errorf("/help lacks %q", want)
		}
	}
	// The run page's diagnosis links its article.
	if p := ann.get(fmt.Sprintf("/runs/%d", rec.run.ID)); !strings.Contains(p.body, `class="learn" href="/help/transient-errors"`) {
		t.Errorf("run page has no Learn more link to its article")
	}
	requireStatus(t, ann.get("/help/transient-errors"), http.StatusOK, "the transient article")
	requireStatus(t, ann.get("/help/no-such-article"), http.StatusNotFound, "an unknown article")

	q := "my run keeps failing with 502 bad gateway"
	p = ann.get("/help/ask?" + askForm(q, 0).Encode())
	requireStatus(t, p, http.StatusOK, "See solutions")
	for _, want := range []string{fmt.Sprintf(`href="/runs/%d"`, rec.run.ID), `href="/help/transient-errors"`, ">Contact support</button>",
		fmt.Sprintf(`name="run" value="%d"`, rec.run.ID)} {
		if !strings.Contains(p.body, want) {
			t.Errorf("See solutions lacks %q:\n%s", want, p.body)
		}
	}

	desc := "Help " + hostile
	p = ann.post("/help/ask", "/help/ask", askForm(desc, rec.run.ID))
	requireStatus(t, p, http.StatusSeeOther, "Contact support")
	reqs, err := s.st.ListSupportRequests(t.Context(), store.SupportFilter{UserID: s.ann.ID})
	if err != nil || len(reqs) != 1 || reqs[0].RunID == nil || *reqs[0].RunID != rec.run.ID || reqs[0].Description != desc {
		t.Fatalf("support requests %+v, %v", reqs, err)
	}
	if loc := p.header.Get("Location"); loc != fmt.Sprintf("/support?sent=%d", reqs[0].ID) {
		t.Fatalf("Contact support went to %q", loc)
	}
	p = ann.get(fmt.Sprintf("/support?sent=%d", reqs[0].ID))
	if strings.Contains(p.body, "<script>alert") || !strings.Contains(p.body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("/support does not show the description as text:\n%s", p.body)
	}

	// An empty question is refused with its reason, nothing recorded.
	p = ann.post("/help/ask", "/help/ask", askForm(" ", 0))
	requireStatus(t, p, http.StatusBadRequest, "an empty question")
	if !strings.Contains(p.body, "description is empty") {
		t.Errorf("an empty question's page lacks its reason:\n%s", p.body)
	}

	admin := s.browser(t)
	admin.signIn("admin@example.com", "/admin/support")
	p = admin.get("/admin/support")
	if !strings.Contains(p.body, "ann@example.com") || strings.Contains(p.body, "<script>alert") {
		t.Fatalf("/admin/support does not list ann's request as text:\n%s", p.body)
	}
	answer := "Resubmit it " + hostile
	p = admin.post("/admin/support", fmt.Sprintf("/admin/support/%d/answer", reqs[0].ID), url.Values{"answer": {answer}})
	requireStatus(t, p, http.StatusSeeOther, "answer")
	p = ann.get("/activity")
	if !strings.Contains(p.body, fmt.Sprintf("Support answered your request #%d", reqs[0].ID)) || strings.Contains(p.body, "<script>alert") {
		t.Errorf("Activity lacks the answer:\n%s", p.body)
	}
	mail, err := s.st.ListMail(t.Context(), "", 10)
	if err != nil || len(mail) != 1 || mail[0].To[0] != "ann@example.com" {
		t.Errorf("outbox %+v, %v", mail, err)
	}
	if p := ann.get("/support"); !strings.Contains(p.body, "Resubmit it &lt;script&gt;") {
		t.Errorf("/support lacks the answer:\n%s", p.body)
	}
	p = admin.post("/admin/support", fmt.Sprintf("/admin/support/%d/close", reqs[0].ID), nil)
	requireStatus(t, p, http.StatusSeeOther, "close")
	p = admin.post("/admin/support", fmt.Sprintf("/admin/support/%d/answer", reqs[0].ID), url.Values{"answer": {"again"}})
	requireStatus(t, p, http.StatusConflict, "answer a closed request")
}

func TestPortalHelpAuthorization(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	rec := annRecords(t, s)
	anon := s.browser(t)
	for _, path := range []string{"/help", "/help/retries", "/help/ask", "/support", "/admin/support"} {
		p := anon.get(path)
		if p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/signin?next=") {
			t.Errorf("anonymous %s: %d to %q", path, p.status, p.header.Get("Location"))
		}
	}
	bob := s.browser(t)
	bob.signIn("bob@example.com", "/")
	// Bob cannot attach ann's run, nor reach the admin page.
	requireStatus(t, bob.post("/help/ask", "/help/ask", askForm("help", rec.run.ID)), http.StatusNotFound, "bob attaches ann's run")
	requireStatus(t, bob.get("/admin/support"), http.StatusNotFound, "bob's /admin/support")
	ann := s.browser(t)
	ann.signIn("ann@example.com", "/")
	requireStatus(t, ann.post("/help/ask", "/help/ask", askForm("help", rec.run.ID)), http.StatusSeeOther, "ann's request")
	reqs, err := s.st.ListSupportRequests(t.Context(), store.SupportFilter{})
	if err != nil || len(reqs) != 1 {
		t.Fatalf("requests %+v, %v", reqs, err)
	}
	answer := fmt.Sprintf("/admin/support/%d/answer", reqs[0].ID)
	requireStatus(t, bob.post("/help", answer, url.Values{"answer": {"mine"}}), http.StatusNotFound, "bob answers")
	if p := bob.get("/support"); strings.Contains(p.body, "ann@example.com") || strings.Contains(p.body, fmt.Sprintf("#%d ", reqs[0].ID)) {
		t.Errorf("bob's /support shows ann's request:\n%s", p.body)
	}
	// Without the CSRF token, posts are refused.
	requireStatus(t, ann.do("POST", "/help/ask", askForm("help", 0)), http.StatusForbidden, "Contact support without CSRF")
	admin := s.browser(t)
	admin.signIn("admin@example.com", "/")
	requireStatus(t, admin.do("POST", answer, url.Values{"answer": {"x"}}), http.StatusForbidden, "answer without CSRF")
	requireStatus(t, admin.do("POST", fmt.Sprintf("/admin/support/%d/close", reqs[0].ID), url.Values{}), http.StatusForbidden, "close without CSRF")
	if q, err := s.st.GetSupportRequest(t.Context(), reqs[0].ID); err != nil || q.Status != store.SupportOpen {
		t.Errorf("request after refused posts: %+v, %v", q, err)
	}
}

func TestPortalHelpArticleIsSanitized(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	article := "---\ntitle: Hostile " + hostile + "\n---\n# Hello\n\n" + hostile + "\n\n[click](javascript:alert(3)) <a href=\"javascript:alert(4)\">x</a>\n"
	if err := os.WriteFile(filepath.Join(dir, "hostile.md"), []byte(article), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newSite(t, func(pc *web.PortalConfig) {
		hc, err := help.New(t.Context(), help.Config{Store: pc.Store, Dir: dir, CommunityURL: "https://community.example.com/"})
		if err != nil {
			t.Fatal(err)
		}
		pc.Support = api.NewSupport(api.Config{Store: pc.Store, Help: hc})
	})
	ann := s.browser(t)
	ann.signIn("ann@example.com", "/")
	for _, path := range []string{"/help/hostile", "/help"} {
		p := ann.get(path)
		requireStatus(t, p, http.StatusOK, path)
		if strings.Contains(p.body, "<script>alert") || strings.Contains(p.body, "<img src=x") || strings.Contains(p.body, "javascript:") {
			t.Errorf("%s renders the article's markup:\n%s", path, p.body)
		}
		if !strings.Contains(p.body, "Hostile &lt;script&gt;") {
			t.Errorf("%s lacks the title as text:\n%s", path, p.body)
		}
	}
	p := ann.get("/help/ask?" + url.Values{"q": {hostile}, "category": {"other"}}.Encode())
	if strings.Contains(p.body, "<script>alert") || !strings.Contains(p.body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("/help/ask does not show the question as text:\n%s", p.body)
	}
	if p := ann.get("/help"); !strings.Contains(p.body, `href="https://community.example.com/"`) {
		t.Errorf("/help lacks the community link")
	}
}
