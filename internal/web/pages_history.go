package web

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluice/sluice/internal/engine"
	"github.com/sluice/sluice/internal/store"
)

// Bounds of the run history.
const (
	// runsPageSize is the run list's page.
	runsPageSize = 50
	// maxColumns caps the trigger-field columns a user adds, and
	// maxColumnPath the length of one column's path.
	maxColumns    = 5
	maxColumnPath = 100
	// maxSearch caps the text searched for in trigger inputs.
	maxSearch = 200
	// exportPage is how many runs an export reads per query, and
	// maxExportRows the most it writes.
	exportPage    = 500
	maxExportRows = 100_000
	// maxBulk caps the runs one Resubmit or Cancel of the list takes.
	maxBulk = 200
	// maxCell cuts a trigger-field cell in the list.
	maxCell = 80
)

// runStatuses are the statuses the list filters by.
var runStatuses = []string{store.RunFailed, store.RunSucceeded, store.RunRunning, store.RunWaiting, store.RunQueued, store.RunCancelled}

// historyQuery is a run list's filter, read from and written back to the
// query string, so that a filtered list (with its columns) is a link.
type historyQuery struct {
	Status string
	// From and To are days (YYYY-MM-DD, UTC), both included.
	From, To string
	// Q is text to find in the trigger input.
	Q string
	// Cols are trigger fields shown as columns, as dotted paths into the
	// trigger object (body.user, query.id, input.name).
	Cols []string
	// Before is the keyset: runs with a smaller id.
	Before int64
}

// values writes q back as a query string, without the keyset.
func (q historyQuery) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"status": q.Status, "from": q.From, "to": q.To, "q": q.Q} {
		if s != "" {
			v.Set(k, s)
		}
	}
	for _, c := range q.Cols {
		v.Add("col", c)
	}
	return v
}

// badFilter is the page for a filter that cannot be used.
func badFilter(what string) error {
	return pageErr(http.StatusBadRequest, "This filter cannot be used", what+" Change the filter and try again.")
}

// parseHistory reads a run list's query string into the query and the
// store filter it asks for (without the owner, flow and keyset).
func parseHistory(v url.Values) (historyQuery, store.RunFilter, error) {
	q := historyQuery{Status: v.Get("status"), From: v.Get("from"), To: v.Get("to"), Q: strings.TrimSpace(v.Get("q"))}
	var f store.RunFilter
	if q.Status != "" {
		if !slices.Contains(runStatuses, q.Status) {
			return q, f, badFilter(fmt.Sprintf("Status %q is not one of %s.", q.Status, strings.Join(runStatuses, ", ")))
		}
		f.Status = q.Status
	}
	day := func(name, s string) (time.Time, error) {
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return t, badFilter(fmt.Sprintf("The %s date %q is not a day written as YYYY-MM-DD.", name, s))
		}
		return t, nil
	}
	if q.From != "" {
		t, err := day("from", q.From)
		if err != nil {
			return q, f, err
		}
		f.Since = t
	}
	if q.To != "" {
		t, err := day("to", q.To)
		if err != nil {
			return q, f, err
		}
		f.Until = t.Add(24 * time.Hour)
	}
	if len(q.Q) > maxSearch {
		return q, f, badFilter(fmt.Sprintf("The text to find is %d bytes long; at most %d are searched.", len(q.Q), maxSearch))
	}
	for _, c := range v["col"] {
		c = strings.TrimSpace(c)
		if c == "" || slices.Contains(q.Cols, c) {
			continue
		}
		if len(q.Cols) == maxColumns {
			return q, f, badFilter(fmt.Sprintf("At most %d columns can be added.", maxColumns))
		}
		if len(c) > maxColumnPath {
			return q, f, badFilter(fmt.Sprintf("The column %.40q… is longer than %d characters.", c, maxColumnPath))
		}
		q.Cols = append(q.Cols, c)
	}
	if s := v.Get("before"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			return q, f, badFilter(fmt.Sprintf("The page %q does not exist.", s))
		}
		q.Before = n
	}
	return q, f, nil
}

// jsonText is how text appears inside a JSON string: the trigger input is
// stored as JSON, so a search for a quote or backslash looks for its
// escaped form.
var jsonText = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

// historySlice is one keyset page of the run list.
type historySlice struct {
	Runs []store.Run
	// Next is the before= of the next page, 0 on the last one.
	Next int64
	// SearchedTo, for a windowed page (see listHistory) that did not
	// fill, is the lowest run id its window reached; the next page
	// searches below.
	SearchedTo int64
}

// listHistory reads one page of runs newest first: an index range below
// before (the primary key, or runs_status, runs_flow, runs_flow_status,
// runs_created as the filter allows; an owner's runs through the owner's
// flows). A status filter reads the whole history, however old the runs
// it finds. A text search reads one window of SearchWindow ids per page:
// no index serves a LIKE over the trigger input, so that the page's cost
// stays bounded (docs/benchmarks.md).
func (p *portal) listHistory(ctx context.Context, f store.RunFilter, text string, before int64, limit int) (historySlice, error) {
	f.BeforeID, f.Limit = before, limit+1
	if text != "" {
		if before == 0 {
			newest, err := p.st.ListRuns(ctx, store.RunFilter{Limit: 1})
			if err != nil || len(newest) == 0 {
				return historySlice{}, err
			}
			f.BeforeID = newest[0].ID + 1
		}
		f.InputContains = jsonText.Replace(text)
		f.AfterID = max(0, f.BeforeID-1-p.cfg.SearchWindow)
	}
	runs, err := p.st.ListRuns(ctx, f)
	if err != nil {
		return historySlice{}, fmt.Errorf("run list: %w", err)
	}
	var out historySlice
	switch {
	case len(runs) > limit:
		runs = runs[:limit]
		out.Next = runs[limit-1].ID
	case f.AfterID > 0:
		out.Next, out.SearchedTo = f.AfterID+1, f.AfterID+1
	}
	out.Runs = runs
	return out, nil
}

// historyRow is a run in the list with its trigger-field cells.
type historyRow struct {
	store.Run
	Cells []string
}

// historyPage is the run list.
type historyPage struct {
	base
	// Flow is set on a flow's run list.
	Flow     *store.Flow
	Query    historyQuery
	Statuses []string
	Rows     []historyRow
	// Action is the list's own address; NextURL, ExportURL and
	// SearchedTo lead on.
	Action     string
	NextURL    string
	ExportURL  string
	SearchedTo int64
	// ColsText is the columns as the form shows them, comma-separated.
	ColsText string
}

// historyFilter reads the list's query and scope at the request's path:
// the caller's runs (all for an admin), or one flow's. It returns the
// query, the store filter, the flow (nil for /runs) and the list's path.
func (p *portal) historyFilter(r *http.Request, c *call) (historyQuery, store.RunFilter, *store.Flow, string, error) {
	q, f, err := parseHistory(r.URL.Query())
	if err != nil {
		return q, f, nil, "", err
	}
	if r.PathValue("id") == "" {
		f.OwnerID = scope(c.user)
		return q, f, nil, "/runs", nil
	}
	fl, err := p.lookupFlow(r, c)
	if err != nil {
		return q, f, nil, "", err
	}
	f.FlowID = fl.ID
	return q, f, &fl, fmt.Sprintf("/flows/%d/runs", fl.ID), nil
}

// history answers GET /runs and /flows/{id}/runs: which runs failed, and
// when. Filters: status, from/to days, text in the trigger input, and
// columns of trigger fields (col=body.user); before= pages by keyset.
// Queries: one ListRuns (an index range by id; see listHistory).
func (p *portal) history(w http.ResponseWriter, r *http.Request, c *call) error {
	q, f, fl, action, err := p.historyFilter(r, c)
	if err != nil {
		return err
	}
	sl, err := p.listHistory(r.Context(), f, q.Q, q.Before, runsPageSize)
	if err != nil {
		return err
	}
	title := "Runs"
	if fl != nil {
		title = "Runs of " + fl.Name
	}
	v := historyPage{base: c.base(title, "runs"), Flow: fl, Query: q, Statuses: runStatuses, Action: action,
		SearchedTo: sl.SearchedTo, ColsText: strings.Join(q.Cols, ", ")}
	for _, run := range sl.Runs {
		v.Rows = append(v.Rows, historyRow{Run: run, Cells: cells(run.Input, q.Cols, maxCell)})
	}
	vals := q.values()
	if sl.Next != 0 {
		next := q.values()
		next.Set("before", strconv.FormatInt(sl.Next, 10))
		v.NextURL = action + "?" + next.Encode()
	}
	v.ExportURL = action + "/export.csv"
	if len(vals) > 0 {
		v.ExportURL += "?" + vals.Encode()
	}
	p.render(w, http.StatusOK, "runs", v)
	return nil
}

// splitCols reads the columns box (comma-separated) into col values.
func splitCols(v url.Values) {
	if box := v.Get("cols"); box != "" {
		for _, c := range strings.Split(box, ",") {
			v.Add("col", strings.TrimSpace(c))
		}
		v.Del("cols")
	}
}

// historyForm answers GET /runs?cols=a,b (the filter form's columns box)
// by redirecting to the list with one col= per column, so that links
// keep them.
func historyForm(h pageFunc) pageFunc {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		v := r.URL.Query()
		if !v.Has("cols") {
			return h(w, r, c)
		}
		splitCols(v)
		for k, s := range v {
			if len(s) == 1 && s[0] == "" {
				v.Del(k)
			}
		}
		u := r.URL.Path
		if len(v) > 0 {
			u += "?" + v.Encode()
		}
		http.Redirect(w, r, u, http.StatusSeeOther)
		return nil
	}
}

// cells reads the trigger fields at paths from a run's input, each cut
// at max runes: a string as it is, anything else as compact JSON, and ""
// where the input has no such field.
func cells(input json.RawMessage, paths []string, max int) []string {
	if len(paths) == 0 {
		return nil
	}
	var root any
	d := json.NewDecoder(bytes.NewReader(input))
	d.UseNumber()
	_ = d.Decode(&root)
	out := make([]string, len(paths))
	for i, path := range paths {
		v := root
		for _, key := range strings.Split(path, ".") {
			switch node := v.(type) {
			case map[string]any:
				v = node[key]
			case []any:
				n, err := strconv.Atoi(key)
				if err != nil || n < 0 || n >= len(node) {
					v = nil
				} else {
					v = node[n]
				}
			default:
				v = nil
			}
		}
		var s string
		switch val := v.(type) {
		case nil:
		case string:
			s = val
		default:
			b, _ := json.Marshal(val)
			s = string(b)
		}
		if r := []rune(s); max > 0 && len(r) > max {
			s = string(r[:max-1]) + "…"
		}
		out[i] = s
	}
	return out
}

// csvCell makes a cell safe to open in a spreadsheet: text starting with
// = + - @ (or a tab or carriage return) would be read as a formula, so it
// gets a leading quote.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// timeCell formats a time for the export, "" for none.
func timeCell(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// export answers GET /runs/export.csv and /flows/{id}/runs/export.csv:
// the runs the list's filter keeps, newest first, streamed exportPage at
// a time by keyset, at most maxExportRows (a last line says when more
// were left out), every cell through csvCell.
func (p *portal) export(w http.ResponseWriter, r *http.Request, c *call) error {
	q, f, _, _, err := p.historyFilter(r, c)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="runs.csv"`)
	cw := csv.NewWriter(w)
	head := []string{"run", "flow", "status", "trigger", "created", "started", "finished", "error", "resubmitted_from"}
	if err := cw.Write(append(head, q.Cols...)); err != nil {
		return nil // the client went away
	}
	written, before := 0, q.Before
	for written < maxExportRows {
		sl, err := p.listHistory(r.Context(), f, q.Q, before, min(exportPage, maxExportRows-written))
		if err != nil {
			p.log.Error("export runs", "user", c.user.ID, "err", err)
			_ = cw.Write([]string{"# the export stopped: Sluice could not read the next runs; try again"})
			break
		}
		for _, run := range sl.Runs {
			from := ""
			if run.ResubmittedFrom != nil {
				from = strconv.FormatInt(*run.ResubmittedFrom, 10)
			}
			created := run.CreatedAt
			row := []string{strconv.FormatInt(run.ID, 10), run.FlowName, run.Status, run.TriggerType, timeCell(&created),
				timeCell(run.StartedAt), timeCell(run.FinishedAt), run.Error, from}
			row = append(row, cells(run.Input, q.Cols, 0)...)
			for i := range row {
				row[i] = csvCell(row[i])
			}
			if err := cw.Write(row); err != nil {
				return nil
			}
		}
		written += len(sl.Runs)
		cw.Flush()
		if sl.Next == 0 {
			return cw.Error()
		}
		before = sl.Next
	}
	if written >= maxExportRows {
		_ = cw.Write([]string{fmt.Sprintf("# stopped after %d runs: narrow the filter (a date range) to export the others", maxExportRows)})
	}
	cw.Flush()
	return nil
}

// bulk answers POST /runs/bulk: the checked runs (run=ID, at most
// maxBulk), action resubmit or cancel, through the engine's bulk jobs;
// it goes to the job's progress page. A maker's job only touches their
// own runs (JobParams.OwnerID), whatever ids the form sends.
func (p *portal) bulk(w http.ResponseWriter, r *http.Request, c *call) error {
	kind := r.PostFormValue("action")
	if kind != store.JobResubmit && kind != store.JobCancel {
		return pageErr(http.StatusBadRequest, "Choose Resubmit or Cancel", "Go back, check the runs and press Resubmit or Cancel.")
	}
	ids := r.PostForm["run"]
	if len(ids) == 0 {
		return pageErr(http.StatusBadRequest, "No runs were checked", "Go back and check the runs to "+kind+" first.")
	}
	if len(ids) > maxBulk {
		return pageErr(http.StatusBadRequest, "Too many runs", fmt.Sprintf("At most %d runs can be chosen at once; %d were.", maxBulk, len(ids)))
	}
	params := engine.JobParams{OwnerID: scope(c.user)}
	for _, s := range ids {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id < 1 {
			return pageErr(http.StatusBadRequest, "No such run", fmt.Sprintf("%q is not a run. Go back and choose again.", s))
		}
		params.IDs = append(params.IDs, id)
	}
	if kind == store.JobResubmit {
		params.Resubmit = engine.ResubmitOptions{Version: r.PostFormValue("version"), From: r.PostFormValue("from")}
		if err := params.Resubmit.Validate(); err != nil {
			return pageErr(http.StatusBadRequest, "This resubmit cannot be done", "The form asked for "+err.Error()+".")
		}
	}
	return p.submitJob(w, r, c, kind, params)
}

// submitJob queues a bulk job for the caller and goes to its progress.
func (p *portal) submitJob(w http.ResponseWriter, r *http.Request, c *call, kind string, params engine.JobParams) error {
	j, err := p.cfg.Runner.SubmitJob(r.Context(), c.user.ID, kind, params)
	if err != nil {
		return fmt.Errorf("submit %s job: %w", kind, err)
	}
	p.log.Info("bulk job submitted from the portal", "job", j.ID, "kind", kind, "user", c.user.ID)
	http.Redirect(w, r, fmt.Sprintf("/jobs/%d", j.ID), http.StatusSeeOther)
	return nil
}

// jobPage is a bulk job's progress.
type jobPage struct {
	base
	Job      store.Job
	Finished bool
	// Percent is how much is done, 0 to 100.
	Percent int
}

// job answers GET /jobs/{id}: a bulk job's progress, to its owner or an
// admin; it reloads itself every two seconds until the job is finished.
func (p *portal) job(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	j, err := owned(r.Context(), c.user, id, p.st.GetJob, func(j store.Job) int64 { return j.OwnerID })
	if err != nil {
		return err
	}
	v := jobPage{base: c.base(fmt.Sprintf("%s job %d", statusWord(j.Kind), j.ID), "runs"), Job: j,
		Finished: j.Status == store.JobSucceeded || j.Status == store.JobFailed}
	if j.Total > 0 {
		v.Percent = min(100, (j.Done+j.Failed)*100/j.Total)
	} else if v.Finished {
		v.Percent = 100
	}
	if !v.Finished {
		v.Refresh = 2
	}
	p.render(w, http.StatusOK, "job", v)
	return nil
}
