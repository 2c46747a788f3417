package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// apiSolution is a solution of GET /help/search.
type apiSolution struct {
	Title   string `json:"title"`
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Class   string `json:"class"`
	URL     string `json:"url"`
	Excerpt string `json:"excerpt"`
	Yours   bool   `json:"yours"`
}

// apiHelpFailure is one of the caller's failures a search matched.
type apiHelpFailure struct {
	RunID    flexString `json:"run_id"`
	RunURL   string     `json:"run_url"`
	FlowName string     `json:"flow_name"`
	Step     string     `json:"step"`
	Code     string     `json:"code"`
	Count    int        `json:"count"`
	LastSeen apiTime    `json:"last_seen"`
}

// helpSearchAnswer is GET /help/search's answer.
type helpSearchAnswer struct {
	Solutions    []json.RawMessage `json:"solutions"`
	Failures     []apiHelpFailure  `json:"failures"`
	CommunityURL string            `json:"community_url"`
}

// helpSearchOptions are the options of `sluice help search`.
type helpSearchOptions struct {
	// Text is the question.
	Text string
	// Category adds Ask for help's category to the question.
	Category string
	// Limit caps the solutions; 0 lets the server choose.
	Limit int
	// JSON prints the solutions as a JSON array.
	JSON bool
}

func (o *helpSearchOptions) validate() error {
	if strings.TrimSpace(o.Text) == "" {
		return fmt.Errorf("help search needs a question, such as: sluice help search 'slack token unauthorised'")
	}
	if o.Limit < 0 || o.Limit > 50 {
		return fmt.Errorf("--limit must be from 1 to 50, got %d", o.Limit)
	}
	return nil
}

// helpShowOptions are the options of `sluice help show`.
type helpShowOptions struct {
	Name string
	JSON bool
}

func (o *helpShowOptions) validate() error { return nil }

// helpCommand replaces cobra's help command: `sluice help COMMAND` still
// shows a command's help, and search and show read the help center.
func (a *app) helpCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "help [COMMAND] | help search TEXT | help show NAME",
		Short: "Show a command's help, or search the help center's articles and diagnoses",
		Long: `With a command, show its help. 'sluice help search TEXT' finds the articles
and diagnoses that answer a question, your own recent failures that match it
first; 'sluice help show NAME' prints an article.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			target, _, err := cmd.Root().Find(args)
			if err != nil || target == nil || target == cmd.Root() && len(args) > 0 {
				return usagef("unknown help topic %q: give a command, or use 'sluice help search TEXT'", strings.Join(args, " "))
			}
			target.InitDefaultHelpFlag()
			return target.Help()
		},
	}
	var so helpSearchOptions
	search := &cobra.Command{
		Use:   "search TEXT...",
		Short: "Search the articles and the diagnosis catalog, your matching failures first",
		Example: `  sluice help search my slack token is unauthorised
  sluice help search 'request timed out' --json`,
		Args: argsRange(1, -1, "a question"),
		RunE: func(cmd *cobra.Command, args []string) error {
			so.Text = strings.Join(args, " ")
			return runValidated(cmd.Context(), &so, a.helpSearch)
		},
	}
	search.Flags().IntVar(&so.Limit, "limit", 0, "show at most N solutions (1 to 50)")
	search.Flags().StringVar(&so.Category, "category", "", "the category of the problem: auth, config, throttled, transient, flow, webhooks, schedules, email, limits or other")
	search.Flags().BoolVar(&so.JSON, "json", false, "print the solutions as a JSON array (title, kind, class, url, excerpt, ...)")
	var sh helpShowOptions
	show := &cobra.Command{
		Use:   "show NAME",
		Short: "Print a help article",
		Args:  argsRange(1, 1, "an article NAME (see the url of a search result)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			sh.Name = args[0]
			return runValidated(cmd.Context(), &sh, a.helpShow)
		},
	}
	show.Flags().BoolVar(&sh.JSON, "json", false, "print the article as JSON (markdown, text and html)")
	cmd.AddCommand(search, show)
	return cmd
}

func (a *app) helpSearch(ctx context.Context, o *helpSearchOptions) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	q := url.Values{"q": {o.Text}}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Category != "" {
		q.Set("category", o.Category)
	}
	var ans helpSearchAnswer
	if _, err := c.do(ctx, http.MethodGet, "/help/search", q, nil, &ans); err != nil {
		return fmt.Errorf("searching help: %w", err)
	}
	if o.JSON {
		return printJSONList(a.stdout, ans.Solutions)
	}
	solutions, err := decodeList[apiSolution](ans.Solutions)
	if err != nil {
		return err
	}
	if len(ans.Failures) > 0 {
		fmt.Fprintln(a.stdout, "Your recent failures that match:")
		for _, f := range ans.Failures {
			fmt.Fprintf(a.stdout, "  run %s  %s, step %s: %s (%s, last %s)\n      %s\n", f.RunID, f.FlowName, f.Step, f.Code,
				plural(f.Count, "1 failure", strconv.Itoa(f.Count)+" failures"), formatTime(f.LastSeen, a.loc), f.RunURL)
		}
		fmt.Fprintln(a.stdout)
	}
	if len(solutions) == 0 {
		fmt.Fprintln(a.stdout, "no solutions found: try other words, or ask for help with 'sluice support ask'")
	}
	for i, s := range solutions {
		about := s.Kind
		if s.Class != "" {
			about += ", " + s.Class
		}
		if s.Yours {
			about += ", your problem"
		}
		fmt.Fprintf(a.stdout, "%d. %s (%s)\n", i+1, s.Title, about)
		if s.Excerpt != "" {
			fmt.Fprintf(a.stdout, "   %s\n", s.Excerpt)
		}
		fmt.Fprintf(a.stdout, "   %s\n", s.URL)
	}
	if ans.CommunityURL != "" {
		fmt.Fprintf(a.stdout, "\nAsk the community: %s\n", ans.CommunityURL)
	}
	return nil
}

func (a *app) helpShow(ctx context.Context, o *helpShowOptions) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	var article struct {
		Text string `json:"text"`
	}
	printed, err := a.fetch(ctx, c, "/help/articles/"+url.PathEscape(o.Name), "showing article "+o.Name, "article", o.JSON, &article)
	if err != nil || printed {
		return err
	}
	_, err = fmt.Fprint(a.stdout, article.Text)
	return err
}
