package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// apiSupport is a support request.
type apiSupport struct {
	ID          flexString  `json:"id"`
	UserEmail   string      `json:"user_email"`
	ProblemType string      `json:"problem_type"`
	Category    string      `json:"category"`
	Description string      `json:"description"`
	RunID       *flexString `json:"run_id"`
	RunURL      *string     `json:"run_url"`
	Status      string      `json:"status"`
	Answer      string      `json:"answer"`
	AnsweredAt  apiTime     `json:"answered_at"`
	CreatedAt   apiTime     `json:"created_at"`
}

// supportListOptions are the options of `sluice support list`.
type supportListOptions struct {
	Status string
	Limit  int
	JSON   bool
}

func (o *supportListOptions) validate() error {
	switch o.Status {
	case "", "open", "answered", "closed":
	default:
		return fmt.Errorf("--status %q: want open, answered or closed", o.Status)
	}
	if o.Limit < 0 {
		return fmt.Errorf("--limit must be positive, got %d", o.Limit)
	}
	return nil
}

// supportIDOptions name one request, for show, answer and close.
type supportIDOptions struct {
	ID   string
	JSON bool
	// Text and File give an answer (answer only).
	Text, File string
	answer     bool
}

func (o *supportIDOptions) validate() error {
	if n, err := strconv.ParseInt(o.ID, 10, 64); err != nil || n < 1 {
		return fmt.Errorf("%q is not a support request id", o.ID)
	}
	if o.answer && (o.Text == "") == (o.File == "") {
		return fmt.Errorf("give the answer with exactly one of --text and --file")
	}
	return nil
}

// supportAskOptions are the options of `sluice support ask`.
type supportAskOptions struct {
	ProblemType, Category, Description string
	Run                                int64
	JSON                               bool
}

func (o *supportAskOptions) validate() error {
	if o.ProblemType == "" || o.Category == "" || strings.TrimSpace(o.Description) == "" {
		return fmt.Errorf("--problem-type, --category and --description are required ('sluice support ask --help' lists the choices)")
	}
	if o.Run < 0 {
		return fmt.Errorf("--run %d is not a run id", o.Run)
	}
	return nil
}

func (a *app) supportCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "support",
		Short: "Ask for help, and list, show, answer (admins) and close support requests",
		Long: `Support requests are makers' questions to the admins, with a run attached.
A maker asks and sees their own; admins see everyone's, answer them (the maker
is told in Activity and by email) and close them.`,
		Args: noArgs,
		RunE: groupRunE,
	}
	var lo supportListOptions
	list := &cobra.Command{
		Use:   "list [--status open|answered|closed]",
		Short: "List support requests, newest first (admins: everyone's)",
		Args:  argsRange(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runValidated(cmd.Context(), &lo, a.supportList)
		},
	}
	list.Flags().StringVar(&lo.Status, "status", "", "only requests with this status: open, answered, closed")
	list.Flags().IntVar(&lo.Limit, "limit", 0, "list at most N requests")
	list.Flags().BoolVar(&lo.JSON, "json", false, "print JSON")

	idCommand := func(use, short string, o *supportIDOptions, run func(context.Context, *supportIDOptions) error) *cobra.Command {
		c := &cobra.Command{
			Use: use, Short: short, Args: argsRange(1, 1, "a support request ID"),
			RunE: func(cmd *cobra.Command, args []string) error {
				o.ID = args[0]
				return runValidated(cmd.Context(), o, run)
			},
		}
		c.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
		return c
	}
	var so, ao, co supportIDOptions
	show := idCommand("show ID", "Show a support request and its answer", &so, a.supportShow)
	ao.answer = true
	answer := idCommand("answer ID (--text TEXT | --file FILE)", "Answer a support request (admins only); the maker is told in Activity and by email", &ao, a.supportAnswer)
	answer.Flags().StringVar(&ao.Text, "text", "", "the answer")
	answer.Flags().StringVar(&ao.File, "file", "", "read the answer from FILE (- for stdin)")
	closeCmd := idCommand("close ID", "Close a support request", &co, a.supportClose)

	var ko supportAskOptions
	ask := &cobra.Command{
		Use:     "ask --problem-type TYPE --category CATEGORY --description TEXT [--run ID]",
		Short:   "Ask the admins for help, with a run of yours attached",
		Example: `  sluice support ask --problem-type failed_run --category auth --run 1042 --description 'Slack refuses my new token'`,
		Args:    argsRange(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runValidated(cmd.Context(), &ko, a.supportAsk)
		},
	}
	ask.Flags().StringVar(&ko.ProblemType, "problem-type", "", "failed_run, connection, building_a_flow, notifications, account or other")
	ask.Flags().StringVar(&ko.Category, "category", "", "auth, config, throttled, transient, flow, webhooks, schedules, email, limits or other")
	ask.Flags().StringVar(&ko.Description, "description", "", "what you need help with")
	ask.Flags().Int64Var(&ko.Run, "run", 0, "the id of the run the request is about")
	ask.Flags().BoolVar(&ko.JSON, "json", false, "print JSON")
	cmd.AddCommand(list, show, answer, closeCmd, ask)
	return cmd
}

func (a *app) supportList(ctx context.Context, o *supportListOptions) error {
	q := url.Values{}
	if o.Status != "" {
		q.Set("status", o.Status)
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	items, err := a.getList(ctx, "/support", q, "requests")
	if err != nil {
		return fmt.Errorf("listing support requests: %w", err)
	}
	if o.JSON {
		return printJSONList(a.stdout, items)
	}
	reqs, err := decodeList[apiSupport](items)
	if err != nil {
		return err
	}
	if len(reqs) == 0 {
		fmt.Fprintln(a.stdout, "no support requests")
		return nil
	}
	t := newTable(a.stdout, "ID", "STATUS", "FROM", "TYPE", "CATEGORY", "RUN", "CREATED", "DESCRIPTION")
	for _, r := range reqs {
		run := ""
		if r.RunID != nil {
			run = string(*r.RunID)
		}
		t.row(string(r.ID), r.Status, r.UserEmail, r.ProblemType, r.Category, run, formatTime(r.CreatedAt, a.loc), truncate(r.Description, 50))
	}
	return t.flush()
}

// printSupport prints one request, or its JSON.
func (a *app) printSupport(raw json.RawMessage, asJSON bool) error {
	if asJSON {
		return printJSON(a.stdout, raw)
	}
	var r apiSupport
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("server answered with an unexpected support request: %w", err)
	}
	fmt.Fprintf(a.stdout, "Request %s (%s) from %s, %s\n", r.ID, r.Status, r.UserEmail, formatTime(r.CreatedAt, a.loc))
	fmt.Fprintf(a.stdout, "Problem type: %s\nCategory:     %s\n", r.ProblemType, r.Category)
	if r.RunURL != nil {
		fmt.Fprintf(a.stdout, "Run:          %s\n", *r.RunURL)
	}
	fmt.Fprintf(a.stdout, "\n%s\n", r.Description)
	if r.Answer != "" {
		fmt.Fprintf(a.stdout, "\nAnswer (%s):\n%s\n", formatTime(r.AnsweredAt, a.loc), r.Answer)
	}
	return nil
}

// supportCall sends a request about one support request and prints the
// request as the server answers it.
func (a *app) supportCall(ctx context.Context, method, path string, body any, doing string, asJSON bool) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if _, err := c.do(ctx, method, path, nil, body, &raw); err != nil {
		return fmt.Errorf("%s: %w", doing, err)
	}
	return a.printSupport(raw, asJSON)
}

func (a *app) supportShow(ctx context.Context, o *supportIDOptions) error {
	return a.supportCall(ctx, http.MethodGet, "/support/"+o.ID, nil, "showing support request "+o.ID, o.JSON)
}

func (a *app) supportAnswer(ctx context.Context, o *supportIDOptions) error {
	text := o.Text
	if o.File != "" {
		var r io.Reader = a.stdin
		if o.File != "-" {
			f, err := os.Open(o.File)
			if err != nil {
				return fmt.Errorf("reading the answer: %w", err)
			}
			defer f.Close()
			r = f
		}
		b, err := io.ReadAll(io.LimitReader(r, 1<<20))
		if err != nil {
			return fmt.Errorf("reading the answer: %w", err)
		}
		text = string(b)
	}
	return a.supportCall(ctx, http.MethodPost, "/support/"+o.ID+"/answer", map[string]string{"answer": text}, "answering support request "+o.ID, o.JSON)
}

func (a *app) supportClose(ctx context.Context, o *supportIDOptions) error {
	return a.supportCall(ctx, http.MethodPost, "/support/"+o.ID+"/close", nil, "closing support request "+o.ID, o.JSON)
}

func (a *app) supportAsk(ctx context.Context, o *supportAskOptions) error {
	body := map[string]any{"problem_type": o.ProblemType, "category": o.Category, "description": o.Description}
	if o.Run > 0 {
		body["run_id"] = o.Run
	}
	return a.supportCall(ctx, http.MethodPost, "/support", body, "asking for help", o.JSON)
}
