package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/auth"
	"github.com/sluice/sluice/internal/store"
)

// slice3Paths are the pages of this slice, for the anonymous check.
var slice3Paths = []string{"/problems", "/problems/1.call.http.502", "/settings", "/admin/users", "/admin/outbox", "/jobs/1",
	"/runs/export.csv", "/flows/1/runs", "/connections/1/fix"}

// slice3Posts are the forms of this slice.
var slice3Posts = []string{"/runs/bulk", "/problems/1.call.http.502/resubmit", "/settings/notifications", "/settings/tokens",
	"/settings/tokens/1/delete", "/settings/password", "/admin/users", "/admin/users/1/disabled", "/admin/users/1/password",
	"/connections/1/fix", "/connections/1/resubmit"}

func TestSlice3RefusesAnonymousAndForgedPosts(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	anon := s.browser(t)
	for _, path := range slice3Paths {
		if p := anon.get(path); p.status != http.StatusSeeOther || p.header.Get("Location") != "/signin?next="+url.QueryEscape(path) {
			t.Errorf("anonymous GET %s: %d to %q", path, p.status, p.header.Get("Location"))
		}
	}
	admin := s.browser(t)
	admin.signIn("admin@example.com", "/")
	for _, path := range slice3Posts {
		if p := anon.do("POST", path, url.Values{"csrf": {"x"}}); p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/signin") {
			t.Errorf("anonymous POST %s: %d to %q", path, p.status, p.header.Get("Location"))
		}
		requireStatus(t, admin.do("POST", path, url.Values{"csrf": {"forged"}, "email": {"x@example.com"}, "role": {"maker"}}), http.StatusForbidden, "forged POST "+path)
	}
	users, err := s.st.ListUsers(t.Context())
	if err != nil || len(users) != 3 {
		t.Fatalf("users after forged posts: %d, %v", len(users), err)
	}
}

func TestProblemsPages(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	rec := annRecords(t, s) // a failed run: step call, http.502, title with a script
	id := fmt.Sprintf("%d.call.http.502", rec.flow.ID)
	ann, bob, admin := s.browser(t), s.browser(t), s.browser(t)
	ann.signIn("ann@example.com", "/")
	bob.signIn("bob@example.com", "/")
	admin.signIn("admin@example.com", "/")

	list := ann.get("/problems")
	requireStatus(t, list, http.StatusOK, "problems")
	for _, want := range []string{`href="/problems/` + id + `"`, "The server failed &lt;script&gt;", "Ongoing", "1 failure"} {
		if !strings.Contains(list.body, want) {
			t.Errorf("problems lack %q:\n%s", want, list.body)
		}
	}
	page := ann.get("/problems/" + id)
	requireStatus(t, page, http.StatusOK, "problem")
	for _, want := range []string{"first seen", "last seen", `<svg role="img"`, "Resubmit the 1 run that failed this way",
		fmt.Sprintf(`href="/runs/%d"`, rec.run.ID)} {
		if !strings.Contains(page.body, want) {
			t.Errorf("problem page lacks %q:\n%s", want, page.body)
		}
	}
	// Today's bar is the last and the tallest.
	if !regexp.MustCompile(`<rect x="232" y="0" width="6" height="40"><title>\d{4}-\d\d-\d\d: 1</title></rect>`).MatchString(page.body) {
		t.Errorf("today's bar is not drawn:\n%s", page.body)
	}
	for _, b := range []string{list.body, page.body} {
		if strings.Contains(b, hostile) {
			t.Fatal("a problem's title is shown as HTML")
		}
	}
	requireStatus(t, admin.get("/problems/"+id), http.StatusOK, "admin GET problem")
	requireStatus(t, bob.get("/problems/"+id), http.StatusNotFound, "bob GET ann's problem")
	requireStatus(t, bob.post("/problems", "/problems/"+id+"/resubmit", nil), http.StatusNotFound, "bob resubmits ann's problem")
	if strings.Contains(bob.get("/problems").body, "/problems/"+id) {
		t.Error("bob's problems list ann's")
	}
	for _, bad := range []string{"x", "1", "1.call", fmt.Sprintf("%d.call.http.404", rec.flow.ID), "99999.call.http.502"} {
		requireStatus(t, ann.get("/problems/"+bad), http.StatusNotFound, "GET /problems/"+bad)
	}
	p := ann.post("/problems/"+id, "/problems/"+id+"/resubmit", nil)
	requireStatus(t, p, http.StatusSeeOther, "resubmit the problem's runs")
	s.waitJob(t, ann, p.header.Get("Location"))
	if n, _ := s.st.CountRuns(t.Context(), store.RunFilter{ResubmittedFrom: rec.run.ID}); n != 1 {
		t.Fatalf("the problem's run was resubmitted %d times, want 1", n)
	}
	// Resubmitted once, it is not offered again.
	if body := ann.get("/problems/" + id).body; strings.Contains(body, "Resubmit the") {
		t.Errorf("the problem page offers to resubmit a run resubmitted already:\n%s", body)
	}
	requireStatus(t, ann.post("/problems/"+id, "/problems/"+id+"/resubmit", nil), http.StatusConflict, "resubmit again")
}

func TestSettings(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ann, other, bob := s.browser(t), s.browser(t), s.browser(t)
	ann.signIn("ann@example.com", "/")
	other.signIn("ann@example.com", "/")
	bob.signIn("bob@example.com", "/")

	// Repair-tip frequency.
	p := ann.post("/settings", "/settings/notifications", url.Values{"repair_emails": {"daily"}})
	requireStatus(t, p, http.StatusSeeOther, "save frequency")
	if us, _ := s.st.GetUserSettings(t.Context(), s.ann.ID); us.RepairEmails != "daily" {
		t.Fatalf("repair emails %q, want daily", us.RepairEmails)
	}
	if !strings.Contains(ann.get("/settings").body, `value="daily" checked`) {
		t.Error("the saved frequency is not checked")
	}
	requireStatus(t, ann.post("/settings", "/settings/notifications", url.Values{"repair_emails": {"weekly"}}), http.StatusBadRequest, "weekly")

	// Tokens: created with an expiry, shown once, listed, deleted; bob
	// cannot delete ann's.
	p = ann.post("/settings", "/settings/tokens", url.Values{"name": {"cli " + hostile}, "expires": {"30"}})
	requireStatus(t, p, http.StatusOK, "create token")
	m := regexp.MustCompile(`id="newtoken" readonly value="([^"]+)"`).FindStringSubmatch(p.body)
	if m == nil || strings.Contains(p.body, hostile) {
		t.Fatalf("the new token is not shown, or its name is HTML:\n%s", p.body)
	}
	tok, u, err := s.st.GetTokenByHash(t.Context(), auth.HashToken(m[1]))
	if err != nil || u.ID != s.ann.ID || tok.ExpiresAt == nil || tok.ExpiresAt.Sub(time.Now()) < 29*24*time.Hour {
		t.Fatalf("the token shown: %+v of user %d, %v", tok, u.ID, err)
	}
	if strings.Contains(ann.get("/settings").body, m[1]) {
		t.Fatal("the token is shown again")
	}
	for name, form := range map[string]url.Values{"no name": {"name": {" "}}, "bad expiry": {"name": {"x"}, "expires": {"7"}}} {
		requireStatus(t, ann.post("/settings", "/settings/tokens", form), http.StatusBadRequest, name)
	}
	del := fmt.Sprintf("/settings/tokens/%d/delete", tok.ID)
	requireStatus(t, bob.post("/settings", del, nil), http.StatusNotFound, "bob deletes ann's token")
	requireStatus(t, ann.post("/settings", del, nil), http.StatusSeeOther, "delete token")
	if toks, _ := s.st.ListTokens(t.Context(), s.ann.ID); len(toks) != 0 {
		t.Fatalf("tokens after delete: %+v", toks)
	}

	// Password: the current one is checked; a change ends the other
	// session, keeps this one.
	for name, form := range map[string]url.Values{
		"wrong current": {"current": {"nope nope"}, "new": {"a brand new one"}, "again": {"a brand new one"}},
		"differ":        {"current": {sitePassword}, "new": {"a brand new one"}, "again": {"another one!"}},
		"too short":     {"current": {sitePassword}, "new": {"short"}, "again": {"short"}},
	} {
		requireStatus(t, ann.post("/settings", "/settings/password", form), http.StatusBadRequest, name)
	}
	p = ann.post("/settings", "/settings/password", url.Values{"current": {sitePassword}, "new": {"a brand new one"}, "again": {"a brand new one"}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/settings?done=password" {
		t.Fatalf("change password: %d to %q\n%s", p.status, p.header.Get("Location"), p.body)
	}
	requireStatus(t, ann.get("/settings"), http.StatusOK, "this session after the change")
	requireStatus(t, other.get("/settings"), http.StatusSeeOther, "the other session after the change")
	if u, _ := s.st.GetUser(t.Context(), s.ann.ID); !auth.CheckPassword(u.PasswordHash, "a brand new one") {
		t.Fatal("the new password does not work")
	}
}

func TestAdminUsersAndOutbox(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	if _, err := s.st.EnqueueMail(t.Context(), store.Mail{To: []string{"ann@example.com"}, Subject: "Run failed " + hostile, Text: "body " + hostile, Kind: "repair_tip"}); err != nil {
		t.Fatal(err)
	}
	admin, ann, annToo := s.browser(t), s.browser(t), s.browser(t)
	admin.signIn("admin@example.com", "/")
	ann.signIn("ann@example.com", "/")
	annToo.signIn("ann@example.com", "/")
	for _, path := range []string{"/admin/users", "/admin/outbox"} {
		requireStatus(t, ann.get(path), http.StatusNotFound, "maker GET "+path)
		p := admin.get(path)
		requireStatus(t, p, http.StatusOK, "admin GET "+path)
		if strings.Contains(p.body, hostile) {
			t.Fatalf("%s shows a script as HTML", path)
		}
	}
	if !strings.Contains(admin.get("/admin/outbox").body, "Run failed &lt;script&gt;") {
		t.Error("the outbox does not list the mail")
	}
	requireStatus(t, ann.post("/", "/admin/users", url.Values{"email": {"eve@example.com"}, "role": {"admin"}, "password": {"long enough"}}), http.StatusNotFound, "maker creates a user")

	// Create with a generated password, shown once.
	p := admin.post("/admin/users", "/admin/users", url.Values{"email": {"carl@example.com"}, "name": {hostile}, "role": {"maker"}})
	requireStatus(t, p, http.StatusOK, "create user")
	m := regexp.MustCompile(`id="newpw" readonly value="([^"]+)"`).FindStringSubmatch(p.body)
	if m == nil || strings.Contains(p.body, hostile) {
		t.Fatalf("the generated password is not shown, or the name is HTML:\n%s", p.body)
	}
	carl, err := s.st.GetUserByEmail(t.Context(), "carl@example.com")
	if err != nil || !auth.CheckPassword(carl.PasswordHash, m[1]) || carl.Role != store.RoleMaker {
		t.Fatalf("carl: %+v, %v", carl, err)
	}
	for name, form := range map[string]url.Values{
		"taken":     {"email": {"ann@example.com"}, "role": {"maker"}, "password": {"long enough"}},
		"bad email": {"email": {"not an address"}, "role": {"maker"}, "password": {"long enough"}},
		"bad role":  {"email": {"dan@example.com"}, "role": {"owner"}, "password": {"long enough"}},
		"short pw":  {"email": {"dan@example.com"}, "role": {"maker"}, "password": {"short"}},
	} {
		p := admin.post("/admin/users", "/admin/users", form)
		if p.status != http.StatusBadRequest && p.status != http.StatusConflict {
			t.Errorf("%s: status %d", name, p.status)
		}
	}

	// Disable ann: her sessions end; enable her again.
	path := fmt.Sprintf("/admin/users/%d/disabled", s.ann.ID)
	requireStatus(t, admin.post("/admin/users", path, url.Values{"disabled": {"1"}}), http.StatusOK, "disable ann")
	requireStatus(t, ann.get("/"), http.StatusSeeOther, "ann after disable")
	if u, _ := s.st.GetUser(t.Context(), s.ann.ID); u.DisabledAt == nil {
		t.Fatal("ann is not disabled")
	}
	requireStatus(t, admin.post("/admin/users", fmt.Sprintf("/admin/users/%d/disabled", s.admin.ID), url.Values{"disabled": {"1"}}), http.StatusConflict, "admin disables self")
	requireStatus(t, admin.post("/admin/users", path, url.Values{"disabled": {"0"}}), http.StatusOK, "enable ann")
	if u, _ := s.st.GetUser(t.Context(), s.ann.ID); u.DisabledAt != nil {
		t.Fatal("ann is still disabled")
	}

	// Reset bob's password: generated, shown once, old one gone.
	bob := s.browser(t)
	bob.signIn("bob@example.com", "/")
	p = admin.post("/admin/users", fmt.Sprintf("/admin/users/%d/password", s.bob.ID), nil)
	requireStatus(t, p, http.StatusOK, "reset bob's password")
	m = regexp.MustCompile(`id="newpw" readonly value="([^"]+)"`).FindStringSubmatch(p.body)
	if u, _ := s.st.GetUser(t.Context(), s.bob.ID); m == nil || !auth.CheckPassword(u.PasswordHash, m[1]) {
		t.Fatal("bob's new password is not the one shown")
	}
	requireStatus(t, bob.get("/"), http.StatusSeeOther, "bob's session after the reset")
	requireStatus(t, admin.get(fmt.Sprintf("/admin/users/%d/password", s.bob.ID)), http.StatusNotFound, "GET reset")
	requireStatus(t, admin.post("/admin/users", "/admin/users/99999/password", nil), http.StatusNotFound, "reset unknown user")
}
