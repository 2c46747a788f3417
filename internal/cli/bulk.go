package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// apiJob is a bulk job of the API (GET /jobs/{id}).
type apiJob struct {
	ID         flexString `json:"id"`
	Kind       string     `json:"kind"`
	Status     string     `json:"status"`
	Total      int        `json:"total"`
	Done       int        `json:"done"`
	Failed     int        `json:"failed"`
	Error      string     `json:"error"`
	FinishedAt apiTime    `json:"finished_at"`
}

// finished reports whether the job has stopped.
func (j apiJob) finished() bool {
	return j.Status == "succeeded" || j.Status == "failed"
}

// pastTense is what the job does to a run, for messages: "resubmitted"
// or "cancelled".
func pastTense(action string) string {
	if action == "cancel" {
		return "cancelled"
	}
	return "resubmitted"
}

// checkSince checks a --since value the way the server reads it: a
// duration back from now such as 90m, 24h or 7d, or an RFC 3339 time.
func checkSince(v string) error {
	_, err := store.ParseSince(v, time.Now())
	return err
}

// runsBulk queues a bulk resubmit or cancel for the runs the filter
// selects and, with --wait, follows it to the end.
func (a *app) runsBulk(ctx context.Context, o *runsBatchOptions) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	filter := map[string]any{}
	for k, v := range map[string]string{"flow": o.Flow, "status": o.Status, "since": o.Since, "connection": o.Connection} {
		if v != "" {
			filter[k] = v
		}
	}
	body := o.resubmitBody(map[string]any{"filter": filter})
	var raw json.RawMessage
	if _, err := c.do(ctx, http.MethodPost, "/runs/"+o.Action, nil, body, &raw); err != nil {
		return fmt.Errorf("queueing bulk %s: %w", o.Action, err)
	}
	var j apiJob
	if err := json.Unmarshal(raw, &j); err != nil {
		return fmt.Errorf("server answered with an unexpected job: %w", err)
	}
	if j.ID == "" {
		return errors.New("server answered without a job id")
	}
	if !o.Wait {
		if o.JSON {
			return printJSON(a.stdout, raw)
		}
		fmt.Fprintf(a.stdout, "job %s queued: the server %s the matching runs in the background (add --wait to follow it)\n",
			j.ID, map[string]string{"cancel": "cancels", "resubmit": "resubmits"}[o.Action])
		return nil
	}
	return a.followJob(ctx, c, raw, j, o.Action, o.JSON)
}

// followJob draws a job's progress until it finishes, prints the result,
// and fails if the job failed or skipped runs. action is what the job
// does to each run: resubmit or cancel.
func (a *app) followJob(ctx context.Context, c *client, raw json.RawMessage, j apiJob, action string, asJSON bool) error {
	if !j.finished() {
		bar := newProgressBar(a.stderr, a.terminal(a.stderr), pastTense(action))
		bar.update(j)
		var err error
		raw, j, err = a.waitJob(ctx, c, j, bar)
		bar.done()
		if err != nil {
			return err
		}
	}
	if asJSON {
		if err := printJSON(a.stdout, raw); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(a.stdout, "job %s %s: %d of %d runs %s, %d skipped\n", j.ID, j.Status, j.Done, j.Total, pastTense(action), j.Failed)
	}
	switch {
	case j.Status == "failed":
		return fmt.Errorf("job %s failed: %s", j.ID, firstNonEmpty(j.Error, "no reason given"))
	case j.Failed > 0:
		return fmt.Errorf("job %s could not %s %d of %d %s (see the server log)", j.ID, action, j.Failed, j.Total, plural(j.Total, "run", "runs"))
	}
	return nil
}

// waitJob polls a job, backing off up to maxPollInterval and drawing its
// progress, until it finishes.
func (a *app) waitJob(ctx context.Context, c *client, j apiJob, bar *progressBar) (json.RawMessage, apiJob, error) {
	interval := a.pollInterval
	timer := time.NewTimer(interval)
	defer timer.Stop()
	path := "/jobs/" + url.PathEscape(string(j.ID))
	for {
		select {
		case <-ctx.Done():
			return nil, j, fmt.Errorf("stopped waiting for job %s, which goes on: %w", j.ID, ctx.Err())
		case <-timer.C:
		}
		var raw json.RawMessage
		if _, err := c.do(ctx, http.MethodGet, path, nil, nil, &raw); err != nil {
			return nil, j, fmt.Errorf("waiting for job %s: %w", j.ID, err)
		}
		if err := json.Unmarshal(raw, &j); err != nil {
			return nil, j, fmt.Errorf("server answered with an unexpected job: %w", err)
		}
		bar.update(j)
		if j.finished() {
			return raw, j, nil
		}
		timer.Reset(interval)
		interval = min(interval*3/2, a.maxPollInterval)
	}
}

// isTerminal reports whether the stream v (stdin, stdout or stderr) is a
// terminal: where the progress bar is redrawn in place instead of printed
// line by line, and where a question can be asked.
func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressBarWidth is how many cells the bar has between its brackets.
const progressBarWidth = 30

// progressBar draws a bulk job's progress, such as
// "[=====>    ] 120/300 resubmitted, 2 skipped". On a terminal it redraws
// one line with \r; elsewhere (a log, a pipe) it prints a line per change.
type progressBar struct {
	w        io.Writer
	terminal bool
	verb     string
	last     string
	width    int // length of the last line drawn on a terminal
}

func newProgressBar(w io.Writer, terminal bool, verb string) *progressBar {
	return &progressBar{w: w, terminal: terminal, verb: verb}
}

// line renders the job's progress.
func (p *progressBar) line(j apiJob) string {
	if j.Status == "queued" {
		return "[" + strings.Repeat(" ", progressBarWidth) + "] queued, waiting for a worker"
	}
	bar := barCells(j.Done+j.Failed, j.Total)
	return fmt.Sprintf("[%s] %d/%d %s, %d skipped", bar, j.Done, j.Total, p.verb, j.Failed)
}

// barCells renders the cells between the bar's brackets for done of
// total.
func barCells(done, total int) string {
	cells := progressBarWidth
	if total > 0 && done < total {
		cells = done * progressBarWidth / total
	}
	switch {
	case cells >= progressBarWidth:
		return strings.Repeat("=", progressBarWidth)
	case cells == 0:
		return ">" + strings.Repeat(" ", progressBarWidth-1)
	}
	return strings.Repeat("=", cells) + ">" + strings.Repeat(" ", progressBarWidth-cells-1)
}

// update draws the job's progress if it changed.
func (p *progressBar) update(j apiJob) {
	p.draw(p.line(j))
}

// draw shows the line l if it differs from the last one.
func (p *progressBar) draw(l string) {
	if l == p.last {
		return
	}
	p.last = l
	if !p.terminal {
		fmt.Fprintln(p.w, l)
		return
	}
	pad := ""
	if n := p.width - len(l); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	p.width = len(l)
	fmt.Fprint(p.w, "\r"+l+pad)
}

// done ends the bar's line on a terminal.
func (p *progressBar) done() {
	if p.terminal && p.last != "" {
		fmt.Fprintln(p.w)
	}
}
