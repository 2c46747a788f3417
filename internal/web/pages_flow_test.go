package web_test

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// upload posts a multipart form with a file, as the new-flow page does.
func (b *browser) upload(path string, fields url.Values, file string) page {
	b.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, vs := range fields {
		for _, v := range vs {
			_ = mw.WriteField(k, v)
		}
	}
	fw, err := mw.CreateFormFile("file", "flow.yaml")
	if err != nil {
		b.t.Fatal(err)
	}
	_, _ = fw.Write([]byte(file))
	_ = mw.Close()
	req, err := http.NewRequest("POST", b.base+path, &body)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	_, _ = out.ReadFrom(resp.Body)
	return page{status: resp.StatusCode, body: out.String(), header: resp.Header}
}

// flowPosts are the flow pages' POSTs with a form that would change
// something, for the refusal tests.
func flowPosts(id int64) map[string]url.Values {
	f := fmt.Sprintf("/flows/%d", id)
	return map[string]url.Values{
		f + "/edit":               {"source": {flowSource("changed", "https://api.example.com/y")}},
		f + "/versions/1/restore": {},
		f + "/settings":           {"repair_emails": {"0"}},
		f + "/run":                {"input": {`{"a":1}`}},
		f + "/delete":             {},
		"/flows/new":              {"source": {flowSource("created", "https://api.example.com/y")}},
	}
}

// unchanged checks that ann's flow is as it was: one version, still
// there, repair-tip emails on, one run, and no other flow.
func unchanged(t *testing.T, s *site, f store.Flow) {
	t.Helper()
	got, err := s.st.GetFlow(t.Context(), f.ID)
	if err != nil || got.Version != 1 {
		t.Fatalf("ann's flow after refused posts: %+v, %v", got, err)
	}
	if st, err := s.st.GetFlowSettings(t.Context(), f.ID); err != nil || !st.RepairEmails {
		t.Fatalf("settings after refused posts: %+v, %v", st, err)
	}
	if n, err := s.st.CountRuns(t.Context(), store.RunFilter{}); err != nil || n != 1 {
		t.Fatalf("runs after refused posts: %d, %v", n, err)
	}
	if fs, err := s.st.ListFlows(t.Context(), store.FlowFilter{}); err != nil || len(fs) != 1 {
		t.Fatalf("flows after refused posts: %d, %v", len(fs), err)
	}
}

func TestFlowPagesRefuseAnonymousOtherMakersAndMissingCSRF(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	rec := annRecords(t, s)
	id := rec.flow.ID
	gets := []string{"/flows/new", fmt.Sprintf("/flows/%d/edit", id), fmt.Sprintf("/flows/%d/diff?from=1&to=1", id), fmt.Sprintf("/flows/%d/delete", id)}

	anon := s.browser(t)
	for _, path := range gets {
		p := anon.get(path)
		if want := "/signin?next=" + url.QueryEscape(path); p.status != http.StatusSeeOther || p.header.Get("Location") != want {
			t.Errorf("anonymous GET %s: %d to %q, want 303 to %q", path, p.status, p.header.Get("Location"), want)
		}
	}
	for path, form := range flowPosts(id) {
		form.Set("csrf", "x")
		if p := anon.do("POST", path, form); p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/signin?next=") {
			t.Errorf("anonymous POST %s: %d to %q", path, p.status, p.header.Get("Location"))
		}
	}
	if p := anon.upload("/flows/new", url.Values{"csrf": {"x"}}, flowSource("up", "https://x.example")); p.status != http.StatusSeeOther {
		t.Errorf("anonymous upload: %d", p.status)
	}
	unchanged(t, s, rec.flow)

	bob := s.signedIn(t, "bob@example.com")
	for _, path := range gets[1:] {
		requireStatus(t, bob.get(path), http.StatusNotFound, "bob GET "+path)
	}
	for path, form := range flowPosts(id) {
		if path == "/flows/new" {
			continue // bob's own new flow
		}
		requireStatus(t, bob.post("/", path, form), http.StatusNotFound, "bob POST "+path)
	}
	unchanged(t, s, rec.flow)

	ann := s.signedIn(t, "ann@example.com")
	other := s.signedIn(t, "ann@example.com")
	stolen := other.get("/").csrf(t)
	for path, form := range flowPosts(id) {
		for name, tok := range map[string]string{"no token": "", "another session's token": stolen} {
			form := url.Values(form)
			form.Set("csrf", tok)
			p := ann.do("POST", path, form)
			requireStatus(t, p, http.StatusForbidden, name+" POST "+path)
			if !strings.Contains(p.body, "This form has expired") {
				t.Errorf("%s POST %s: the page does not say why", name, path)
			}
		}
	}
	requireStatus(t, ann.upload("/flows/new", url.Values{"csrf": {stolen}}, flowSource("up", "https://x.example")), http.StatusForbidden, "upload with another session's token")
	unchanged(t, s, rec.flow)
	// The admin may open and edit anyone's flow.
	admin := s.signedIn(t, "admin@example.com")
	for _, path := range gets {
		requireStatus(t, admin.get(path), http.StatusOK, "admin GET "+path)
	}
}

func TestFlowPagesShowHostileTextAsText(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	rec := annRecords(t, s)
	ann := s.signedIn(t, "ann@example.com")
	fp := fmt.Sprintf("/flows/%d", rec.flow.ID)
	// A second version, so that the diff has hostile lines.
	requireStatus(t, ann.post(fp+"/edit", fp+"/edit", url.Values{"source": {flowSource(hostile, "https://api.example.com/"+hostile)}}), http.StatusSeeOther, "save")
	// And a problem whose message quotes hostile text.
	bad := ann.post(fp+"/edit", fp+"/edit", url.Values{"source": {strings.Replace(flowSource(hostile, "x"), "type: http", "type: "+hostile, 1)}})
	requireStatus(t, bad, http.StatusUnprocessableEntity, "a hostile action type")
	for name, p := range map[string]page{
		"flow": ann.get(fp), "edit": ann.get(fp + "/edit"), "diff": ann.get(fp + "/diff?from=1&to=2"), "delete": ann.get(fp + "/delete"),
		"problems": bad, "run now refused": ann.post(fp, fp+"/run", url.Values{"input": {`{"x": "` + hostile + `"`}}),
	} {
		if strings.Contains(p.body, "<script>alert") || strings.Contains(p.body, "<img src=x") {
			t.Errorf("%s renders hostile text as markup:\n%s", name, p.body)
		}
		if !strings.Contains(p.body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("%s does not show the hostile text as text:\n%s", name, p.body)
		}
	}
}

// signedIn returns a browser signed in as email.
func (s *site) signedIn(t *testing.T, email string) *browser {
	t.Helper()
	b := s.browser(t)
	b.signIn(email, "/")
	return b
}

// annFlow signs ann in and gives her a flow with one version.
func annFlow(t *testing.T, s *site) (*browser, store.Flow, string) {
	t.Helper()
	f := s.saveFlow(t, s.ann, flowSource("Sync", "https://api.example.com/a"))
	return s.signedIn(t, "ann@example.com"), f, fmt.Sprintf("/flows/%d", f.ID)
}

func TestFlowEditor(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ann, f, fp := annFlow(t, s)

	// The editor shows the latest source, with a numbered gutter and an
	// anchor on the line of each step.
	p := ann.get(fp + "/edit")
	requireStatus(t, p, http.StatusOK, "editor")
	for _, want := range []string{`<li id="L5"><span class="anchor" id="step-call"></span>5</li>`, `name="source"`, "Saving makes version 2", "https://api.example.com/a",
		`name="base" value="1"`} {
		if !strings.Contains(p.body, want) {
			t.Errorf("editor lacks %q:\n%s", want, p.body)
		}
	}

	// A source with problems: 422, the problems beside their lines, the
	// text kept, nothing saved.
	broken := strings.Replace(flowSource("Sync", "https://api.example.com/b"), "type: http", "type: htp", 1)
	p = ann.post(fp+"/edit", fp+"/edit", url.Values{"source": {strings.ReplaceAll(broken, "\n", "\r\n")}})
	requireStatus(t, p, http.StatusUnprocessableEntity, "save with a problem")
	for _, want := range []string{"1 problem: nothing was saved", `<a href="#L6" data-line="6">Line 6`, `<li id="L6" class="has-problem"`, `<span class="pmark">!</span>6</li>`,
		"actions[0].type", "type: htp"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("problems page lacks %q:\n%s", want, p.body)
		}
	}
	if got, _ := s.st.GetFlow(t.Context(), f.ID); got.Version != 1 {
		t.Fatalf("a source with problems was saved: version %d", got.Version)
	}

	// A new name is a problem on the name's line.
	p = ann.post(fp+"/edit", fp+"/edit", url.Values{"source": {flowSource("Renamed", "https://api.example.com/b")}})
	requireStatus(t, p, http.StatusUnprocessableEntity, "rename")
	if !strings.Contains(p.body, `<li id="L1" class="has-problem"`) || !strings.Contains(p.body, "a new version keeps its name") {
		t.Fatalf("rename is not refused on line 1:\n%s", p.body)
	}

	// A good source is version 2.
	p = ann.post(fp+"/edit", fp+"/edit", url.Values{"source": {flowSource("Sync", "https://api.example.com/b")}})
	requireStatus(t, p, http.StatusSeeOther, "save")
	if loc := p.header.Get("Location"); loc != fp+"?saved=2" {
		t.Fatalf("save went to %q", loc)
	}
	if got, _ := s.st.GetFlow(t.Context(), f.ID); got.Version != 2 {
		t.Fatalf("version after save: %d", got.Version)
	}
	if p := ann.get(fp + "?saved=2"); !strings.Contains(p.body, "Version 2 saved.") || !strings.Contains(p.body, "version 2 ·") {
		t.Fatalf("flow page after save:\n%s", p.body)
	}

	// A Save from an editor opened on version 1, after version 2 was
	// saved, saves nothing and says so; the editor it shows saves.
	p = ann.post(fp+"/edit", fp+"/edit", url.Values{"source": {flowSource("Sync", "https://api.example.com/c")}, "base": {"1"}})
	requireStatus(t, p, http.StatusConflict, "save on an old version")
	if !strings.Contains(p.body, "version 2 was saved after you opened the editor on version 1") || !strings.Contains(p.body, `name="base" value="2"`) ||
		!strings.Contains(p.body, "https://api.example.com/c") {
		t.Fatalf("save on an old version:\n%s", p.body)
	}
	requireStatus(t, ann.post(fp+"/edit", fp+"/edit", url.Values{"source": {flowSource("Sync", "https://api.example.com/c")}, "base": {"2"}}), http.StatusSeeOther, "save again")
	if got, _ := s.st.GetFlow(t.Context(), f.ID); got.Version != 3 {
		t.Fatalf("version after the second save: %d", got.Version)
	}

	// A definition over 64 KiB (the other forms' cap) is taken; one over
	// the checker's 1 MiB is refused by the checker, unparsed.
	big := flowSource("Sync", "https://api.example.com/b") + "# " + strings.Repeat("x", 200<<10) + "\n"
	requireStatus(t, ann.post(fp+"/edit", fp+"/edit", url.Values{"source": {big}}), http.StatusSeeOther, "a 200 KiB definition")
	huge := flowSource("Sync", "https://api.example.com/b") + "# " + strings.Repeat("x", 1<<20) + "\n"
	p = ann.post(fp+"/edit", fp+"/edit", url.Values{"source": {huge}})
	requireStatus(t, p, http.StatusUnprocessableEntity, "a 1 MiB definition")
	if !strings.Contains(p.body, "the limit is 1048576 bytes") {
		t.Fatalf("1 MiB definition:\n%.2000s", p.body)
	}
	p = ann.post(fp+"/edit", fp+"/edit", url.Values{"source": {strings.Repeat("x", 4<<20)}})
	requireStatus(t, p, http.StatusRequestEntityTooLarge, "a 4 MiB form")
}

func TestFlowCreateAndImport(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ann := s.signedIn(t, "ann@example.com")
	p := ann.get("/flows/new")
	requireStatus(t, p, http.StatusOK, "new flow")
	if !strings.Contains(p.body, `enctype="multipart/form-data"`) || !strings.Contains(p.body, `type="file"`) {
		t.Fatalf("new flow page has no upload:\n%s", p.body)
	}
	if p := ann.get("/flows"); !strings.Contains(p.body, `href="/flows/new">New flow</a>`) {
		t.Fatalf("the flow list does not offer New flow")
	}
	// Pasted.
	p = ann.post("/flows/new", "/flows/new", url.Values{"source": {flowSource("Pasted", "https://api.example.com/p")}})
	requireStatus(t, p, http.StatusSeeOther, "create from text")
	pasted, err := s.st.GetFlowByName(t.Context(), s.ann.ID, "Pasted")
	if err != nil || p.header.Get("Location") != fmt.Sprintf("/flows/%d?saved=1", pasted.ID) {
		t.Fatalf("pasted flow: %+v, %v, went to %q", pasted, err, p.header.Get("Location"))
	}
	// Uploaded JSON, which wins over the text.
	tok := ann.get("/flows/new").csrf(t)
	js := `{"name": "Uploaded", "trigger": {"type": "webhook"}, "actions": [{"id": "a", "type": "compose", "with": {"value": 1}}]}`
	p = ann.upload("/flows/new", url.Values{"csrf": {tok}, "source": {"ignored"}}, js)
	requireStatus(t, p, http.StatusSeeOther, "upload")
	up, err := s.st.GetFlowByName(t.Context(), s.ann.ID, "Uploaded")
	if err != nil || up.TriggerType != "webhook" || up.OwnerID != s.ann.ID {
		t.Fatalf("uploaded flow: %+v, %v", up, err)
	}
	// An upload with problems shows them in the editor, with its text.
	p = ann.upload("/flows/new", url.Values{"csrf": {tok}}, `{"name": "Bad", "trigger": {"type": "never"}, "actions": []}`)
	requireStatus(t, p, http.StatusUnprocessableEntity, "upload with problems")
	if !strings.Contains(p.body, "trigger.type") || !strings.Contains(p.body, "&#34;never&#34;") {
		t.Fatalf("upload problems:\n%s", p.body)
	}
	if _, err := s.st.GetFlowByName(t.Context(), s.ann.ID, "Bad"); err == nil {
		t.Fatal("a flow with problems was created")
	}
}

func TestFlowVersionsDiffAndRestore(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ann, f, fp := annFlow(t, s)
	requireStatus(t, ann.post(fp+"/edit", fp+"/edit", url.Values{"source": {flowSource("Sync", "https://api.example.com/b")}}), http.StatusSeeOther, "save v2")

	p := ann.get(fp)
	for _, want := range []string{"Version 2</strong> (latest)", "Version 1</strong>", fmt.Sprintf(`action="%s/versions/1/restore"`, fp), "Restore this version",
		fmt.Sprintf(`href="%s/diff?from=1&amp;to=2">Changes since</a>`, fp)} {
		if !strings.Contains(p.body, want) {
			t.Errorf("flow page lacks %q", want)
		}
	}
	p = ann.get(fp + "/diff?from=1&to=2")
	requireStatus(t, p, http.StatusOK, "diff")
	for _, want := range []string{`<tr class="del"><td class="n">10</td><td class="n"></td><td class="code"><span class="op">−</span>      url: https://api.example.com/a</td></tr>`,
		`<tr class="ins"><td class="n"></td><td class="n">10</td><td class="code"><span class="op">+</span>      url: https://api.example.com/b</td></tr>`,
		"⋯ 6 unchanged lines", "Restore version 1"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("diff lacks %q:\n%s", want, p.body)
		}
	}
	requireStatus(t, ann.get(fp+"/diff?from=1&to=3"), http.StatusNotFound, "a version that does not exist")
	if p := ann.get(fp + "/diff?from=2&to=2"); !strings.Contains(p.body, "The two versions have the same text") {
		t.Fatalf("same version diff:\n%s", p.body)
	}

	// Restore saves version 1's text as version 3.
	p = ann.post(fp, fp+"/versions/1/restore", nil)
	requireStatus(t, p, http.StatusSeeOther, "restore")
	got, _ := s.st.GetFlow(t.Context(), f.ID)
	v3, err := s.st.GetFlowVersion(t.Context(), f.ID, 3)
	if got.Version != 3 || err != nil || v3.Source != flowSource("Sync", "https://api.example.com/a") {
		t.Fatalf("after restore: version %d, v3 %q, %v", got.Version, v3.Source, err)
	}
	requireStatus(t, ann.post(fp, fp+"/versions/9/restore", nil), http.StatusNotFound, "restore of a version that does not exist")
}

func TestFlowSettingsRunNowAndDelete(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ann, f, fp := annFlow(t, s)

	// Repair-tip emails off and on again.
	requireStatus(t, ann.post(fp, fp+"/settings", url.Values{"repair_emails": {"0"}}), http.StatusSeeOther, "repair emails off")
	if st, _ := s.st.GetFlowSettings(t.Context(), f.ID); st.RepairEmails {
		t.Fatal("repair emails still on")
	}
	if p := ann.get(fp); !strings.Contains(p.body, "Repair-tip emails are <strong>off</strong>") || !strings.Contains(p.body, "Turn repair-tip emails on") {
		t.Fatalf("flow page does not show the setting off:\n%s", p.body)
	}
	requireStatus(t, ann.post(fp, fp+"/settings", url.Values{"repair_emails": {"1"}}), http.StatusSeeOther, "repair emails on")
	if st, _ := s.st.GetFlowSettings(t.Context(), f.ID); !st.RepairEmails {
		t.Fatal("repair emails still off")
	}

	// Run now with an input goes to the new run, whose input it is.
	p := ann.post(fp, fp+"/run", url.Values{"input": {`{"name": "Ann"}`}})
	requireStatus(t, p, http.StatusSeeOther, "run now")
	run := lastRunID(t, s)
	if p.header.Get("Location") != fmt.Sprintf("/runs/%d", run) {
		t.Fatalf("run now went to %q", p.header.Get("Location"))
	}
	if r, _ := s.st.GetRun(t.Context(), run); r.TriggerType != "manual" || !strings.Contains(string(r.Input), `"input":{"name":"Ann"}`) {
		t.Fatalf("run now's run: %s %s", r.TriggerType, r.Input)
	}
	// Input that is not JSON, or too deep, is shown again with why.
	p = ann.post(fp, fp+"/run", url.Values{"input": {`{"name": Ann}`}})
	requireStatus(t, p, http.StatusUnprocessableEntity, "run now with bad JSON")
	if !strings.Contains(p.body, "The input is not JSON") || !strings.Contains(p.body, "{&#34;name&#34;: Ann}</textarea>") {
		t.Fatalf("bad input page:\n%s", p.body)
	}
	p = ann.post(fp, fp+"/run", url.Values{"input": {strings.Repeat("[", 100) + strings.Repeat("]", 100)}})
	requireStatus(t, p, http.StatusUnprocessableEntity, "run now with deep JSON")
	if !strings.Contains(p.body, "nested deeper than 64 levels") {
		t.Fatalf("deep input page:\n%s", p.body)
	}
	// No input is a run too.
	requireStatus(t, ann.post(fp, fp+"/run", url.Values{"input": {""}}), http.StatusSeeOther, "run now without input")
	// A flow that is off cannot run.
	requireStatus(t, ann.post(fp, fp+"/enabled", url.Values{"on": {"0"}}), http.StatusSeeOther, "turn off")
	requireStatus(t, ann.post(fp, fp+"/run", url.Values{"input": {"{}"}}), http.StatusConflict, "run a flow that is off")

	// Delete says how many runs go with the flow, then deletes all.
	for range 1202 - 2 {
		if _, err := s.st.CreateRun(t.Context(), store.NewRun{FlowID: f.ID, FlowVersion: 1, TriggerType: "manual", NextAttemptAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	p = ann.get(fp + "/delete")
	if !strings.Contains(p.body, "Delete flow and its 1,202 runs</button>") || !strings.Contains(p.body, "its <strong>1,202 runs</strong>") {
		t.Fatalf("delete page does not count the runs:\n%s", p.body)
	}
	p = ann.post(fp+"/delete", fp+"/delete", nil)
	requireStatus(t, p, http.StatusSeeOther, "delete")
	if _, err := s.st.GetFlow(t.Context(), f.ID); err == nil {
		t.Fatal("the flow is still there")
	}
	if n, _ := s.st.CountRuns(t.Context(), store.RunFilter{FlowID: f.ID}); n != 0 {
		t.Fatalf("%d runs left", n)
	}
	requireStatus(t, ann.get(fp), http.StatusNotFound, "deleted flow's page")
}
