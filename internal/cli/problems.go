package cli

import (
	"context"
	"fmt"
	"net/url"
	"strconv"

	"github.com/spf13/cobra"
)

// apiProblem is a group of failures (GET /problems).
type apiProblem struct {
	FlowID    flexString `json:"flow_id"`
	FlowName  string     `json:"flow_name"`
	Step      string     `json:"step"`
	Code      string     `json:"code"`
	Class     string     `json:"class"`
	Title     string     `json:"title"`
	Count     int        `json:"count"`
	FirstSeen apiTime    `json:"first_seen"`
	LastSeen  apiTime    `json:"last_seen"`
	LatestRun flexString `json:"latest_run_id"`
	Ongoing   bool       `json:"ongoing"`
}

// problemsOptions are the options of `sluice problems`.
type problemsOptions struct {
	// Flow limits the list to one flow, by id or name.
	Flow string
	// Since keeps failures since then (24h, 7d or an RFC 3339 time).
	Since string
	// Limit caps how many problems are listed; 0 lets the server choose.
	Limit int
	// JSON prints the problems as a JSON array.
	JSON bool
}

func (o *problemsOptions) validate() error {
	if o.Since != "" {
		if err := checkSince(o.Since); err != nil {
			return fmt.Errorf("--since %w", err)
		}
	}
	if o.Limit < 0 {
		return fmt.Errorf("--limit must be positive, got %d", o.Limit)
	}
	return nil
}

func (a *app) problemsCommand() *cobra.Command {
	var o problemsOptions
	cmd := &cobra.Command{
		Use:   "problems [--flow NAME|ID] [--since 7d]",
		Short: "List failures grouped by flow, step and diagnosis code",
		Long: `List failures grouped by flow, step and diagnosis code, most recently seen
first: how many times each failed, when first and last, the latest failed
run, and its state: ongoing, or resolved once a run of the flow succeeded
after the latest failure.`,
		Args: argsRange(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runValidated(cmd.Context(), &o, a.problems)
		},
	}
	cmd.Flags().StringVar(&o.Flow, "flow", "", "only problems of this flow (name or id)")
	cmd.Flags().StringVar(&o.Since, "since", "", "only failures since then (a duration such as 24h or 7d, or an RFC 3339 time)")
	cmd.Flags().IntVar(&o.Limit, "limit", 0, "list at most N problems")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

func (a *app) problems(ctx context.Context, o *problemsOptions) error {
	q := url.Values{}
	if o.Flow != "" {
		q.Set("flow", o.Flow)
	}
	if o.Since != "" {
		q.Set("since", o.Since)
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	items, err := a.getList(ctx, "/problems", q, "problems")
	if err != nil {
		return fmt.Errorf("listing problems: %w", err)
	}
	if o.JSON {
		return printJSONList(a.stdout, items)
	}
	problems, err := decodeList[apiProblem](items)
	if err != nil {
		return err
	}
	if len(problems) == 0 {
		fmt.Fprintln(a.stdout, "no problems")
		return nil
	}
	t := newTable(a.stdout, "FLOW", "STEP", "CODE", "PROBLEM", "CLASS", "COUNT", "FIRST SEEN", "LAST SEEN", "LATEST RUN", "STATE")
	for _, p := range problems {
		state := "resolved"
		if p.Ongoing {
			state = "ongoing"
		}
		t.row(firstNonEmpty(p.FlowName, string(p.FlowID)), p.Step, p.Code, cell(p.Title), p.Class, strconv.Itoa(p.Count),
			formatTime(p.FirstSeen, a.loc), formatTime(p.LastSeen, a.loc), string(p.LatestRun), state)
	}
	return t.flush()
}
