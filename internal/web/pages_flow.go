package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/sluice/sluice/internal/engine"
	"github.com/sluice/sluice/internal/flow"
	"github.com/sluice/sluice/internal/store"
)

// FlowSaver saves a flow's source for a user, checked by the flow checker:
// with into 0 as POST /api/v1/flows does (a new version of the user's flow
// of that name, or a new flow), with into as a new version of that flow,
// which keeps its name. Problems, when there are any, mean nothing was
// saved. api.NewFlowSaver makes one.
type FlowSaver = func(ctx context.Context, u store.User, src string, into int64) (f store.Flow, created bool, problems []flow.Problem, err error)

// maxDefinitionForm caps a form that carries a definition: the checker's
// own limit (flow.MaxSize), URL-encoded (at most three bytes a byte),
// with room for the rest of the form. A larger source inside it is
// refused by the checker before parsing.
const maxDefinitionForm = 3*flow.MaxSize + maxPortalForm

// maxGutterLines is how many lines of a definition get a number in the
// editor's gutter; past it the textarea still holds everything.
const maxGutterLines = 20000

// maxVersionsShown is how many versions the flow page lists.
const maxVersionsShown = 50

// flowPage is a flow's page: its state, Run now, the step diagram, the
// versions, the settings, the webhook URL and Delete.
type flowPage struct {
	base
	Flow       store.Flow
	Health     store.FlowHealth
	WebhookURL string
	Diagram    diagram
	// Versions are the newest maxVersionsShown versions; More counts the
	// others.
	Versions     []store.FlowVersion
	More         int
	RepairEmails bool
	// Saved is the version just saved or restored, to say so.
	Saved int
	// RunInput and RunError refill the Run now form after a refusal.
	RunInput, RunError string
}

// flow answers GET /flows/{id}.
func (p *portal) flow(w http.ResponseWriter, r *http.Request, c *call) error {
	f, err := p.lookupFlow(r, c)
	if err != nil {
		return err
	}
	v, err := p.flowView(r.Context(), c, f)
	if err != nil {
		return err
	}
	if n, err := strconv.Atoi(r.URL.Query().Get("saved")); err == nil && n > 0 && n <= f.Version {
		v.Saved = n
	}
	p.render(w, http.StatusOK, "flow", v)
	return nil
}

// flowView gathers a flow's page. Queries: FlowsHealth (two index probes),
// GetFlowVersion (the latest, for the diagram), ListFlowVersions and
// GetFlowSettings.
func (p *portal) flowView(ctx context.Context, c *call, f store.Flow) (flowPage, error) {
	v := flowPage{base: c.base(f.Name, "flows"), Flow: f, RunInput: "{}"}
	hs, err := p.st.FlowsHealth(ctx, []int64{f.ID}, p.now().Add(-day))
	if err != nil {
		return v, fmt.Errorf("flow %d: %w", f.ID, err)
	}
	if len(hs) == 1 {
		v.Health = hs[0]
	}
	if f.TriggerType == flow.TriggerWebhook {
		v.WebhookURL = p.cfg.WebhookBaseURL + "/hooks/" + f.WebhookToken
	}
	versions, err := p.st.ListFlowVersions(ctx, f.ID)
	if err != nil {
		return v, fmt.Errorf("flow %d: versions: %w", f.ID, err)
	}
	if len(versions) > maxVersionsShown {
		v.More = len(versions) - maxVersionsShown
		versions = versions[:maxVersionsShown]
	}
	v.Versions = versions
	if len(versions) > 0 && versions[0].Version == f.Version {
		var def flow.Definition
		if err := json.Unmarshal(versions[0].Definition, &def); err != nil {
			return v, fmt.Errorf("flow %d: version %d: %w", f.ID, f.Version, err)
		}
		v.Diagram = drawDiagram(&def, fmt.Sprintf("/flows/%d/edit", f.ID))
	}
	st, err := p.st.GetFlowSettings(ctx, f.ID)
	if err != nil {
		return v, fmt.Errorf("flow %d: settings: %w", f.ID, err)
	}
	v.RepairEmails = st.RepairEmails
	return v, nil
}

// editorLine is one line of the editor's gutter: its number, the step
// that starts there (the target of #step-ID), and the checker's problems
// on it.
type editorLine struct {
	N        int
	Step     string
	Problems []string
}

// editorPage is the definition editor, for a new flow (Flow nil) or a new
// version of one.
type editorPage struct {
	base
	Flow     *store.Flow
	Source   string
	Lines    []editorLine
	Problems []flow.Problem
	// Rows is the textarea's height in lines: all of them, so that the
	// gutter stays beside its lines without script.
	Rows int
	// Base is the version the editor was opened on, sent back with Save
	// so that a version saved meanwhile is not silently replaced.
	Base int
}

// editor builds the editor's view of src with the checker's problems.
func editor(b base, f *store.Flow, src string, problems []flow.Problem) editorPage {
	v := editorPage{base: b, Flow: f, Source: src, Problems: problems}
	if f != nil {
		v.Base = f.Version
	}
	n := strings.Count(src, "\n") + 1
	v.Rows = min(max(n+2, 12), maxGutterLines+2)
	steps := stepLines(src)
	byLine := map[int][]string{}
	for _, pr := range problems {
		if pr.Line > 0 {
			msg := pr.Message
			if pr.Path != "" {
				msg = pr.Path + ": " + msg
			}
			byLine[pr.Line] = append(byLine[pr.Line], msg)
		}
	}
	for i := 1; i <= min(n, maxGutterLines); i++ {
		v.Lines = append(v.Lines, editorLine{N: i, Step: steps[i], Problems: byLine[i]})
	}
	return v
}

// idLine finds an action id in a line of YAML ("- id: x", "id: 'x'") or
// JSON (`"id": "x"`).
var idLine = regexp.MustCompile(`(?:^|[\s{,\-])"?id"?\s*:\s*["']?([A-Za-z0-9_\-]+)["']?\s*(?:[,}#]|$)`)

// stepLines maps a line number to the action id first set on it, for the
// editor's #step-ID anchors. It reads the lines, not the parsed tree, so
// it works on text with problems too.
func stepLines(src string) map[int]string {
	out := map[int]string{}
	seen := map[string]bool{}
	for i, line := range strings.SplitN(src, "\n", maxGutterLines+1) {
		if i == maxGutterLines {
			break
		}
		for _, m := range idLine.FindAllStringSubmatch(line, -1) {
			if id := m[1]; !seen[id] {
				seen[id] = true
				if _, taken := out[i+1]; !taken {
					out[i+1] = id
				}
			}
		}
	}
	return out
}

// editFlow answers GET /flows/{id}/edit: the latest version's source in
// the editor.
func (p *portal) editFlow(w http.ResponseWriter, r *http.Request, c *call) error {
	f, err := p.lookupFlow(r, c)
	if err != nil {
		return err
	}
	ver, err := p.st.GetFlowVersion(r.Context(), f.ID, f.Version)
	if err != nil {
		return fmt.Errorf("edit flow %d: version %d: %w", f.ID, f.Version, err)
	}
	p.render(w, http.StatusOK, "flowedit", editor(c.base("Edit "+f.Name, "flows"), &f, ver.Source, nil))
	return nil
}

// saveFlowEdit answers POST /flows/{id}/edit: the source saved as the
// flow's next version, or the editor again with the checker's problems
// beside their lines and nothing saved. When a version was saved since
// the editor was opened (base), it shows the editor again with the text
// and says so, once: the next Save goes through.
func (p *portal) saveFlowEdit(w http.ResponseWriter, r *http.Request, c *call) error {
	f, err := p.lookupFlow(r, c)
	if err != nil {
		return err
	}
	src := r.PostFormValue("source")
	if base, err := strconv.Atoi(r.PostFormValue("base")); err == nil && base > 0 && base < f.Version {
		pr := flow.Problem{Message: fmt.Sprintf("version %d was saved after you opened the editor on version %d, so nothing was saved: "+
			"compare them on the flow's page (in another tab); Save again to save this text as version %d", f.Version, base, f.Version+1)}
		p.render(w, http.StatusConflict, "flowedit", editor(c.base("Edit "+f.Name, "flows"), &f, normalize(src), []flow.Problem{pr}))
		return nil
	}
	return p.saveSource(w, r, c, &f, src)
}

// normalize turns a textarea's CRLF line ends into LF.
func normalize(src string) string { return strings.ReplaceAll(src, "\r\n", "\n") }

// saveSource saves src for the caller (into f when not nil) and goes to
// the flow's page, or shows the editor with the problems (422).
func (p *portal) saveSource(w http.ResponseWriter, r *http.Request, c *call, f *store.Flow, src string) error {
	src = normalize(src) // browsers send textareas with CRLF
	var into int64
	if f != nil {
		into = f.ID
	}
	saved, _, problems, err := p.cfg.SaveFlow(r.Context(), c.user, src, into)
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound // deleted meanwhile
	}
	if err != nil {
		return fmt.Errorf("save flow: %w", err)
	}
	if len(problems) > 0 {
		title := "New flow"
		if f != nil {
			title = "Edit " + f.Name
		}
		p.render(w, http.StatusUnprocessableEntity, "flowedit", editor(c.base(title, "flows"), f, src, problems))
		return nil
	}
	p.log.Info("flow saved from the portal", "flow", saved.ID, "version", saved.Version, "user", c.user.ID)
	http.Redirect(w, r, fmt.Sprintf("/flows/%d?saved=%d", saved.ID, saved.Version), http.StatusSeeOther)
	return nil
}

// newFlow answers GET /flows/new: an empty editor with an upload field.
func (p *portal) newFlow(w http.ResponseWriter, r *http.Request, c *call) error {
	p.render(w, http.StatusOK, "flowedit", editor(c.base("New flow", "flows"), nil, newFlowTemplate, nil))
	return nil
}

// newFlowTemplate is the new-flow editor's starting text.
const newFlowTemplate = `name: My new flow
trigger:
  type: manual
actions:
  - id: hello
    type: compose
    with:
      value: "Hello {{ trigger.input.name }}"
`

// createFlow answers POST /flows/new: the pasted text, or the uploaded
// file when one is sent, saved as a new flow (or, as the API does, as
// the next version of the caller's flow of that name).
func (p *portal) createFlow(w http.ResponseWriter, r *http.Request, c *call) error {
	src := r.PostFormValue("source")
	if file, _, err := r.FormFile("file"); err == nil {
		defer file.Close()
		var buf bytes.Buffer
		if _, err := io.Copy(&buf, io.LimitReader(file, flow.MaxSize+1)); err != nil {
			return fmt.Errorf("read uploaded flow: %w", err)
		}
		if buf.Len() > 0 {
			src = buf.String()
		}
	} else if !errors.Is(err, http.ErrMissingFile) && !errors.Is(err, http.ErrNotMultipart) {
		return formError(err)
	}
	return p.saveSource(w, r, c, nil, src)
}

// diffPage compares two versions of a flow.
type diffPage struct {
	base
	Flow     store.Flow
	From, To store.FlowVersion
	Lines    []diffLine
	// Refused says why the versions were not compared.
	Refused  string
	Versions []int
}

// flowDiff answers GET /flows/{id}/diff?from=A&to=B (defaults: the
// version before the latest, and the latest): the line diff of their
// sources, computed here within the bounds of lineDiff.
func (p *portal) flowDiff(w http.ResponseWriter, r *http.Request, c *call) error {
	f, err := p.lookupFlow(r, c)
	if err != nil {
		return err
	}
	num := func(name string, def int) (int, error) {
		s := r.URL.Query().Get(name)
		if s == "" {
			return def, nil
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > f.Version {
			return 0, pageErr(http.StatusNotFound, "No such version",
				fmt.Sprintf("This flow has versions 1 to %d. Choose two of them on the flow's page.", f.Version))
		}
		return n, nil
	}
	from, err := num("from", max(f.Version-1, 1))
	if err != nil {
		return err
	}
	to, err := num("to", f.Version)
	if err != nil {
		return err
	}
	v := diffPage{base: c.base(fmt.Sprintf("%s: version %d to %d", f.Name, from, to), "flows"), Flow: f}
	if v.From, err = p.st.GetFlowVersion(r.Context(), f.ID, from); err != nil {
		return fmt.Errorf("diff of flow %d: version %d: %w", f.ID, from, err)
	}
	if v.To, err = p.st.GetFlowVersion(r.Context(), f.ID, to); err != nil {
		return fmt.Errorf("diff of flow %d: version %d: %w", f.ID, to, err)
	}
	for n := f.Version; n >= 1; n-- {
		v.Versions = append(v.Versions, n)
	}
	lines, err := lineDiff(v.From.Source, v.To.Source)
	var far *tooDifferent
	if errors.As(err, &far) {
		v.Refused = far.reason
	} else if err != nil {
		return err
	}
	v.Lines = lines
	p.render(w, http.StatusOK, "flowdiff", v)
	return nil
}

// restoreVersion answers POST /flows/{id}/versions/{n}/restore: version
// n's source saved again as the newest version (the checker runs again;
// should today's checker find problems in it, the editor shows them).
func (p *portal) restoreVersion(w http.ResponseWriter, r *http.Request, c *call) error {
	f, err := p.lookupFlow(r, c)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 1 || n > f.Version {
		return errNotFound
	}
	old, err := p.st.GetFlowVersion(r.Context(), f.ID, n)
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return fmt.Errorf("restore version %d of flow %d: %w", n, f.ID, err)
	}
	return p.saveSource(w, r, c, &f, old.Source)
}

// setFlowSettings answers POST /flows/{id}/settings: repair_emails=1
// turns the flow's repair-tip emails on, anything else off.
func (p *portal) setFlowSettings(w http.ResponseWriter, r *http.Request, c *call) error {
	f, err := p.lookupFlow(r, c)
	if err != nil {
		return err
	}
	st := store.FlowSettings{RepairEmails: r.PostFormValue("repair_emails") == "1"}
	if err := p.st.SetFlowSettings(r.Context(), f.ID, st); err != nil {
		return fmt.Errorf("settings of flow %d: %w", f.ID, err)
	}
	http.Redirect(w, r, fmt.Sprintf("/flows/%d#settings", f.ID), http.StatusSeeOther)
	return nil
}

// runNow answers POST /flows/{id}/run: a manual run with the form's JSON
// input (empty means none), started as POST /api/v1/flows/{id}/trigger
// starts one, then its run page. Input that is not JSON, or nests deeper
// than flow.MaxInputNesting, shows the flow page again with the reason.
func (p *portal) runNow(w http.ResponseWriter, r *http.Request, c *call) error {
	f, err := p.lookupFlow(r, c)
	if err != nil {
		return err
	}
	if !f.Enabled {
		return pageErr(http.StatusConflict, "The flow is turned off", "Turn the flow on from its page, then run it.")
	}
	raw := strings.TrimSpace(r.PostFormValue("input"))
	var input any
	if raw != "" && raw != "null" {
		if reason := checkInput([]byte(raw)); reason != "" {
			v, err := p.flowView(r.Context(), c, f)
			if err != nil {
				return err
			}
			v.RunInput, v.RunError = raw, reason
			p.render(w, http.StatusUnprocessableEntity, "flow", v)
			return nil
		}
		input = json.RawMessage(raw)
	}
	run, err := p.cfg.Runner.Start(r.Context(), engine.StartRequest{Flow: f, TriggerType: flow.TriggerManual, Trigger: engine.Trigger{Input: input}})
	if err != nil {
		return fmt.Errorf("run flow %d: %w", f.ID, err)
	}
	p.log.Info("flow run from the portal", "flow", f.ID, "run", run.ID, "user", c.user.ID)
	http.Redirect(w, r, fmt.Sprintf("/runs/%d", run.ID), http.StatusSeeOther)
	return nil
}

// checkInput says what is wrong with a manual run's input, or "".
func checkInput(raw []byte) string {
	if err := flow.CheckDepth(raw, flow.MaxInputNesting); err != nil {
		return "The input " + err.Error() + "."
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return fmt.Sprintf("The input is not JSON: %s (at character %d). Write an object such as {\"name\": \"Ann\"}, or leave it empty.", syn.Error(), syn.Offset)
		}
		return "The input is not JSON: " + err.Error() + "."
	}
	return ""
}

// deletePage asks before deleting a flow, saying how many runs go with it.
type deletePage struct {
	base
	Flow store.Flow
	Runs int
}

// confirmDelete answers GET /flows/{id}/delete. The count is one
// CountRuns by flow (an index range of runs by flow).
func (p *portal) confirmDelete(w http.ResponseWriter, r *http.Request, c *call) error {
	f, err := p.lookupFlow(r, c)
	if err != nil {
		return err
	}
	n, err := p.st.CountRuns(r.Context(), store.RunFilter{FlowID: f.ID})
	if err != nil {
		return fmt.Errorf("delete flow %d: count runs: %w", f.ID, err)
	}
	p.render(w, http.StatusOK, "flowdelete", deletePage{base: c.base("Delete "+f.Name+"?", "flows"), Flow: f, Runs: n})
	return nil
}

// deleteFlow answers POST /flows/{id}/delete: the flow, its versions and
// its runs removed, then the flow list.
func (p *portal) deleteFlow(w http.ResponseWriter, r *http.Request, c *call) error {
	f, err := p.lookupFlow(r, c)
	if err != nil {
		return err
	}
	if err := p.st.DeleteFlow(r.Context(), f.ID); errors.Is(err, store.ErrNotFound) {
		return errNotFound
	} else if err != nil {
		return fmt.Errorf("delete flow %d: %w", f.ID, err)
	}
	p.log.Info("flow deleted from the portal", "flow", f.ID, "user", c.user.ID)
	http.Redirect(w, r, "/flows", http.StatusSeeOther)
	return nil
}

// thousands writes n with commas: 1,204.
func thousands(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
