package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// runStatuses are the statuses a run can have, for --status.
var runStatuses = []string{"queued", "running", "waiting", "succeeded", "failed", "cancelled"}

func (a *app) runsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List, show, cancel and resubmit runs",
		Args:  noArgs,
		RunE:  groupRunE,
	}
	cmd.AddCommand(
		a.runsListCommand(),
		a.runsShowCommand(),
		a.runsBatchCommand("cancel", "Cancel runs that have not finished", "cancel"),
		a.runsBatchCommand("resubmit", "Run failed runs again with the same trigger input, on the latest or the original flow version", "resubmit"),
	)
	return cmd
}

// runsListOptions are the options of `sluice runs list`.
type runsListOptions struct {
	// Flow limits the list to one flow, by id or name.
	Flow string
	// Status limits the list to runs with this status.
	Status string
	// Limit caps how many runs are listed; 0 lets the server choose.
	Limit int
	// Before lists runs older than this cursor, the next_before of a
	// previous page.
	Before string
	// JSON prints the runs as a JSON array.
	JSON bool
}

func (o *runsListOptions) validate() error {
	if o.Status != "" && !slices.Contains(runStatuses, o.Status) {
		return fmt.Errorf("--status %q is not a run status; use one of %s", o.Status, strings.Join(runStatuses, ", "))
	}
	if o.Limit < 0 {
		return fmt.Errorf("--limit must be positive, got %d", o.Limit)
	}
	return nil
}

func (a *app) runsListCommand() *cobra.Command {
	var o runsListOptions
	cmd := &cobra.Command{
		Use:   "list [--flow NAME|ID] [--status STATUS] [--limit N]",
		Short: "List runs, newest first",
		Args:  argsRange(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runValidated(cmd.Context(), &o, a.runsList)
		},
	}
	cmd.Flags().StringVar(&o.Flow, "flow", "", "only runs of this flow (name or id)")
	cmd.Flags().StringVar(&o.Status, "status", "", "only runs with this status: "+strings.Join(runStatuses, ", "))
	cmd.Flags().IntVar(&o.Limit, "limit", 0, "list at most N runs")
	cmd.Flags().StringVar(&o.Before, "before", "", "list runs older than this cursor (next_before of a previous page)")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

func (a *app) runsList(ctx context.Context, o *runsListOptions) error {
	q := url.Values{}
	if o.Flow != "" {
		q.Set("flow", o.Flow)
	}
	if o.Status != "" {
		q.Set("status", o.Status)
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Before != "" {
		q.Set("before", o.Before)
	}
	items, err := a.getList(ctx, "/runs", q, "runs")
	if err != nil {
		return fmt.Errorf("listing runs: %w", err)
	}
	if o.JSON {
		return printJSONList(a.stdout, items)
	}
	runs, err := decodeList[apiRun](items)
	if err != nil {
		return err
	}
	t := newTable(a.stdout, "ID", "FLOW", "STATUS", "STARTED", "DURATION", "RESUBMITTED_FROM", "ERROR")
	for _, r := range runs {
		t.row(string(r.ID), firstNonEmpty(r.FlowName, string(r.FlowID)), r.Status,
			formatTime(firstTime(r.StartedAt, r.CreatedAt), a.loc), formatDuration(r.StartedAt, r.FinishedAt),
			string(r.ResubmittedFrom), truncate(string(r.Error), 60))
	}
	return t.flush()
}

func firstTime(ts ...apiTime) apiTime {
	for _, t := range ts {
		if !t.IsZero() || t.raw != "" {
			return t
		}
	}
	return apiTime{}
}

// runsShowOptions are the options of `sluice runs show`.
type runsShowOptions struct {
	// Run is the run id.
	Run string
	// JSON prints the run and its steps as JSON.
	JSON bool
	// StepsAfter shows the page of steps after this cursor (the
	// next_steps_after a long run's first page ends with).
	StepsAfter int64
}

func (o *runsShowOptions) validate() error {
	if strings.TrimSpace(o.Run) == "" {
		return errors.New("the run id must not be empty")
	}
	if o.StepsAfter < 0 {
		return fmt.Errorf("--steps-after %d must be 0 or more", o.StepsAfter)
	}
	return nil
}

func (a *app) runsShowCommand() *cobra.Command {
	var o runsShowOptions
	cmd := &cobra.Command{
		Use:   "show RUN",
		Short: "Show a run and its steps",
		Args:  argsRange(1, 1, "one RUN id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Run = args[0]
			return runValidated(cmd.Context(), &o, a.runsShow)
		},
	}
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	cmd.Flags().Int64Var(&o.StepsAfter, "steps-after", 0, "show the steps after this cursor (a long run shows 1,000 steps at a time and prints the next cursor)")
	return cmd
}

func (a *app) runsShow(ctx context.Context, o *runsShowOptions) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	var raw json.RawMessage
	path := pathRun(o.Run)
	if o.StepsAfter > 0 {
		path += "?steps_after=" + strconv.FormatInt(o.StepsAfter, 10)
	}
	if printed, err := a.fetch(ctx, c, path, fmt.Sprintf("showing run %s", o.Run), "run", o.JSON, &raw); printed || err != nil {
		return err
	}
	var r apiRun
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("server answered with an unexpected run: %w", err)
	}
	t := newTable(a.stdout)
	t.row("Run:", string(r.ID))
	t.row("Flow:", fmt.Sprintf("%s (id %s, version %s)", cell(r.FlowName), cell(string(r.FlowID)), cell(string(r.FlowVersion))))
	t.row("Status:", r.Status)
	t.row("Trigger:", r.TriggerType)
	t.row("Created:", formatTime(r.CreatedAt, a.loc))
	t.row("Started:", formatTime(r.StartedAt, a.loc))
	t.row("Finished:", formatTime(r.FinishedAt, a.loc))
	t.row("Duration:", formatDuration(r.StartedAt, r.FinishedAt))
	if r.ResubmittedFrom != "" {
		t.row("Resubmitted from:", string(r.ResubmittedFrom))
	}
	if r.Error != "" {
		t.row("Error:", string(r.Error))
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout)
	if len(r.Steps) == 0 {
		fmt.Fprintln(a.stdout, "no steps")
		return nil
	}
	st := newTable(a.stdout, "STEP", "TYPE", "STATUS", "ATTEMPTS", "STARTED", "DURATION", "ERROR")
	for _, s := range r.Steps {
		st.row(firstNonEmpty(string(s.ID), s.ActionID), s.Type, s.Status, strconv.Itoa(s.Attempts),
			formatTime(s.StartedAt, a.loc), formatDuration(s.StartedAt, s.FinishedAt), truncate(string(s.Error), 80))
	}
	if err := st.flush(); err != nil {
		return err
	}
	a.printStepDetails(raw, r.Steps)
	if r.NextStepsAfter != nil {
		fmt.Fprintf(a.stdout, "\nmore steps: sluice runs show %s --steps-after %d\n", o.Run, *r.NextStepsAfter)
	}
	return a.printDiagnoses(raw)
}

// stepValueLimit caps each value runs show prints of a step; --json shows
// them whole.
const stepValueLimit = 2000

// printStepDetails prints, under a run's steps table, what each step was
// given and gave: its input, its output, the answer of its last attempt
// (for an HTTP failure, the status and body the other side sent) and,
// for a waiting step, when it is tried next.
func (a *app) printStepDetails(raw json.RawMessage, steps []apiStep) {
	var errs struct {
		Steps []struct {
			Error json.RawMessage `json:"error"`
		} `json:"steps"`
	}
	_ = json.Unmarshal(raw, &errs)
	for i, s := range steps {
		var lines []string
		detail := func(label, v string) {
			// Lines of a multi-line value line up under its first.
			lines = append(lines, fmt.Sprintf("  %-12s %s\n", label+":", strings.ReplaceAll(v, "\n", "\n"+strings.Repeat(" ", 15))))
		}
		if v := jsonValue(s.Input); v != "" {
			detail("Input", v)
		}
		if v := jsonValue(s.Output); v != "" {
			detail("Output", v)
		}
		if i < len(errs.Steps) {
			if ans := lastAnswer(errs.Steps[i].Error); ans != "" {
				detail("Last answer", ans)
			}
		}
		if s.Error != "" {
			detail("Error", limitText(string(s.Error), stepValueLimit))
		}
		for _, at := range s.AttemptLog {
			detail(fmt.Sprintf("Attempt %d", at.N), attemptLine(at, a.loc))
		}
		if !s.NextAttemptAt.IsZero() {
			detail("Next try", formatTime(s.NextAttemptAt, a.loc))
		}
		if len(lines) == 0 {
			continue
		}
		fmt.Fprintf(a.stdout, "\nStep %s (%s, %s, %d %s)\n", firstNonEmpty(string(s.ID), s.ActionID), s.Type, s.Status, s.Attempts, plural(s.Attempts, "attempt", "attempts"))
		for _, l := range lines {
			fmt.Fprint(a.stdout, l)
		}
	}
}

// attemptLine describes a logged attempt on one line: when, how long,
// how it ended, the answer's status and excerpt, and the next try.
func attemptLine(at apiAttempt, loc *time.Location) string {
	line := fmt.Sprintf("%s (%s) %s", formatTime(at.StartedAt, loc), formatDuration(at.StartedAt, at.FinishedAt), at.Outcome)
	if at.HTTPStatus != 0 {
		line += fmt.Sprintf(", HTTP %d", at.HTTPStatus)
	}
	if !at.RetryAt.IsZero() {
		line += ", next try " + formatTime(at.RetryAt, loc)
	}
	if at.Answer != "" {
		line += ": " + strings.ReplaceAll(at.Answer, "\n", " ")
	}
	return line
}

// lastAnswer describes the answer of a failed step's last attempt as its
// error records it: "HTTP 503: {body}", or "" when it has no HTTP status.
func lastAnswer(stepErr json.RawMessage) string {
	var e struct {
		Status int             `json:"status"`
		Body   json.RawMessage `json:"body"`
	}
	if len(stepErr) == 0 || json.Unmarshal(stepErr, &e) != nil || e.Status == 0 {
		return ""
	}
	ans := fmt.Sprintf("HTTP %d %s", e.Status, http.StatusText(e.Status))
	if v := jsonValue(e.Body); v != "" {
		ans += ": " + v
	}
	return ans
}

// jsonValue shows a JSON value compactly, a string as its text, capped at
// stepValueLimit; "" for none or null.
func jsonValue(b json.RawMessage) string {
	if len(b) == 0 || string(b) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(b, &s) == nil {
		return limitText(s, stepValueLimit)
	}
	return limitText(compactJSON(b), stepValueLimit)
}

// limitText cuts s to n runes, saying how much was left out.
func limitText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + fmt.Sprintf("… (%d more characters; --json shows all)", len(r)-n)
}

// runsBatchOptions are the options of `sluice runs cancel` and
// `sluice runs resubmit`: either run ids, acted on one by one, or a
// filter, handed to the server as a bulk job.
type runsBatchOptions struct {
	// Action is "cancel" or "resubmit".
	Action string
	// Runs are the run ids to act on, in order.
	Runs []string
	// Flow, Status, Since and Connection select runs for a bulk job.
	Flow, Status, Since, Connection string
	// Version is latest or original (resubmit only).
	Version string
	// From is trigger or failed (resubmit only).
	From string
	// Force resubmits even when a resubmit of the same run has not
	// finished or has already succeeded (resubmit only).
	Force bool
	// Wait follows a bulk job until it finishes, with a progress bar.
	Wait bool
	// JSON prints the answered runs as a JSON array, or the job as JSON.
	JSON bool
}

// bulk reports whether the options select runs by a filter.
func (o *runsBatchOptions) bulk() bool {
	return o.Flow != "" || o.Status != "" || o.Since != "" || o.Connection != ""
}

func (o *runsBatchOptions) validate() error {
	for _, id := range o.Runs {
		if strings.TrimSpace(id) == "" {
			return errors.New("a run id must not be empty")
		}
	}
	switch {
	case len(o.Runs) > 0 && o.bulk():
		return fmt.Errorf("runs %s takes RUN ids or a filter (--flow, --status, --since, --connection), not both", o.Action)
	case len(o.Runs) == 0 && !o.bulk():
		return fmt.Errorf("runs %s needs at least one RUN id, or a filter: --flow, --status, --since or --connection", o.Action)
	case o.Wait && !o.bulk():
		return errors.New("--wait follows a bulk job: use it with --flow, --status, --since or --connection")
	}
	if o.Status != "" && !slices.Contains(runStatuses, o.Status) {
		return fmt.Errorf("--status %q is not a run status; use one of %s", o.Status, strings.Join(runStatuses, ", "))
	}
	if o.Since != "" {
		if err := checkSince(o.Since); err != nil {
			return fmt.Errorf("--since %w", err)
		}
	}
	if o.Version != "" && o.Version != "latest" && o.Version != "original" {
		return fmt.Errorf("--version %q must be latest or original", o.Version)
	}
	if o.From != "" && o.From != "trigger" && o.From != "failed" {
		return fmt.Errorf("--from %q must be trigger or failed", o.From)
	}
	return nil
}

// resubmitBody is the resubmit options of a request body, with only the
// options given.
func (o *runsBatchOptions) resubmitBody(body map[string]any) map[string]any {
	if o.Action != "resubmit" {
		return body
	}
	if o.Version != "" {
		body["version"] = o.Version
	}
	if o.From != "" {
		body["from"] = o.From
	}
	if o.Force {
		body["force"] = true
	}
	return body
}

// resubmitNote is what the help of runs resubmit adds: a run whose
// resubmission already succeeded is refused without --force.
func resubmitNote(action string) string {
	if action != "resubmit" {
		return ""
	}
	return `

A run whose resubmission already succeeded is not resubmitted again (a bulk
job skips it), since the flow's effects would happen twice; --force does.`
}

func (a *app) runsBatchCommand(verb, short, action string) *cobra.Command {
	o := runsBatchOptions{Action: action}
	use := verb + " RUN... | " + verb + " [--flow NAME|ID] [--status STATUS] [--since 24h] [--connection NAME] [--wait]"
	if action == "resubmit" {
		use = verb + " RUN... [--version latest|original] [--from trigger|failed] [--force] | " +
			verb + " [--flow NAME|ID] [--status STATUS] [--since 24h] [--connection NAME] [--wait]"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long: short + `.

Give run ids to act on each one now, or a filter to have the server do it
in the background for every run that matches, with no limit on their
number: --wait then follows the job with a progress bar on stderr and
exits 1 if any run could not be handled.` + resubmitNote(action),
		Args: argsRange(0, -1, "RUN ids"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Runs = args
			return runValidated(cmd.Context(), &o, a.runsBatch)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Flow, "flow", "", "bulk: runs of this flow (name or id)")
	f.StringVar(&o.Status, "status", "", "bulk: runs with this status: "+strings.Join(runStatuses, ", "))
	f.StringVar(&o.Since, "since", "", "bulk: runs created since then (a duration such as 24h or 7d, or an RFC 3339 time)")
	f.StringVar(&o.Connection, "connection", "", "bulk: failed runs with a step that failed authenticating with this connection since it broke")
	f.BoolVar(&o.Wait, "wait", false, "bulk: follow the job until it finishes")
	if action == "resubmit" {
		f.StringVar(&o.Version, "version", "", "flow version to run: latest (default) or original")
		f.StringVar(&o.From, "from", "", "where to start: trigger (default) or failed (reuse the steps that succeeded)")
		f.BoolVar(&o.Force, "force", false, "resubmit even when a resubmit of the same run has not finished, or has already succeeded (the flow's effects may happen twice)")
	}
	f.BoolVar(&o.JSON, "json", false, "print the answered runs, or the job, as JSON")
	return cmd
}

// runsBatch cancels or resubmits every run, going on past failures so that
// one bad id does not stop a thousand good ones, and fails at the end if
// any did. With a filter instead of ids it queues a bulk job.
func (a *app) runsBatch(ctx context.Context, o *runsBatchOptions) error {
	if o.bulk() {
		return a.runsBulk(ctx, o)
	}
	action := o.Action
	c, err := a.client()
	if err != nil {
		return err
	}
	var body any
	if opts := o.resubmitBody(map[string]any{}); len(opts) > 0 {
		body = opts
	}
	var (
		failed  []string
		answers []json.RawMessage
	)
	for _, id := range o.Runs {
		if ctx.Err() != nil {
			failed = append(failed, id)
			continue
		}
		var raw json.RawMessage
		if _, err := c.do(ctx, http.MethodPost, pathRun(id)+"/"+action, nil, body, &raw); err != nil {
			fmt.Fprintf(a.stderr, "sluice: run %s: %s\n", id, err)
			failed = append(failed, id)
			continue
		}
		if o.JSON {
			answers = append(answers, raw)
			continue
		}
		var r struct {
			apiRun
			Existing bool `json:"existing"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			fmt.Fprintf(a.stderr, "sluice: run %s: server answered with an unexpected run: %s\n", id, err)
			failed = append(failed, id)
			continue
		}
		switch {
		case action == "resubmit" && r.Existing:
			fmt.Fprintf(a.stdout, "run %s already resubmitted as run %s (still running)\n", id, r.ID)
		case action == "resubmit":
			fmt.Fprintf(a.stdout, "run %s resubmitted as run %s\n", id, r.ID)
		default:
			fmt.Fprintf(a.stdout, "run %s %s\n", id, firstNonEmpty(r.Status, "cancelled"))
		}
	}
	if o.JSON {
		if err := printJSONList(a.stdout, answers); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted; could not %s %d of %d runs: %s", action, len(failed), len(o.Runs), strings.Join(failed, " "))
		}
		return fmt.Errorf("could not %s %d of %d runs: %s", action, len(failed), len(o.Runs), strings.Join(failed, " "))
	}
	return nil
}
