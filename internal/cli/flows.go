package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sluice/sluice/internal/flow"
)

func (a *app) flowsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "flows",
		Short: "Save, list, check and manage flows",
		Args:  noArgs,
		RunE:  groupRunE,
	}
	cmd.AddCommand(
		a.flowsApplyCommand(),
		a.flowsListCommand(),
		a.flowsShowCommand(),
		a.flowsCheckCommand(),
		a.flowsToggleCommand(true),
		a.flowsToggleCommand(false),
		a.flowsVersionsCommand(),
		a.flowsDeleteCommand(),
	)
	return cmd
}

// flowRef checks a NAME|ID argument.
func flowRef(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("the flow name or id must not be empty")
	}
	return nil
}

// readSource reads a flow file, or stdin for "-".
func (a *app) readSource(file string) ([]byte, error) {
	if file == "-" {
		b, err := io.ReadAll(a.stdin)
		if err != nil {
			return nil, fmt.Errorf("reading stdin: %w", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading flow: %w", err)
	}
	return b, nil
}

// flowsApplyOptions are the options of `sluice flows apply`.
type flowsApplyOptions struct {
	// File is the definition to save, YAML or JSON; "-" reads stdin.
	File string
	// JSON prints the saved flow as the API returns it.
	JSON bool
}

func (o *flowsApplyOptions) validate() error {
	if o.File == "" {
		return errors.New("flows apply needs -f FILE (or -f - for stdin)")
	}
	return nil
}

func (a *app) flowsApplyCommand() *cobra.Command {
	var o flowsApplyOptions
	cmd := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Create a flow, or save a new version of the flow with that name",
		Args:  argsRange(0, 0, "no arguments (the file is given with -f)"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runValidated(cmd.Context(), &o, a.flowsApply)
		},
	}
	cmd.Flags().StringVarP(&o.File, "file", "f", "", "flow definition (YAML or JSON), - for stdin")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the saved flow as JSON")
	return cmd
}

func (a *app) flowsApply(ctx context.Context, o *flowsApplyOptions) error {
	src, err := a.readSource(o.File)
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	var raw json.RawMessage
	status, err := c.do(ctx, http.MethodPost, "/flows", nil, map[string]string{"source": string(src)}, &raw)
	if err != nil {
		if ae := (*apiError)(nil); errors.As(err, &ae) {
			ae.File = o.File
			if o.File == "-" {
				ae.File = "<stdin>"
			}
		}
		return fmt.Errorf("saving flow from %s: %w", o.File, err)
	}
	if o.JSON {
		return printJSON(a.stdout, raw)
	}
	var f apiFlow
	if err := json.Unmarshal(raw, &f); err != nil {
		return fmt.Errorf("server answered with an unexpected flow: %w", err)
	}
	if status == http.StatusCreated {
		fmt.Fprintf(a.stdout, "created flow %s (id %s, version %s)\n", f.Name, f.ID, f.Version)
	} else {
		fmt.Fprintf(a.stdout, "updated flow %s to version %s\n", f.Name, f.Version)
	}
	if f.WebhookURL != "" {
		fmt.Fprintf(a.stdout, "webhook_url: %s\n", f.WebhookURL)
	}
	return nil
}

// flowsListOptions are the options of `sluice flows list`.
type flowsListOptions struct {
	// JSON prints the flows as a JSON array.
	JSON bool
}

func (o *flowsListOptions) validate() error { return nil }

func (a *app) flowsListCommand() *cobra.Command {
	var o flowsListOptions
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List flows",
		Args:  argsRange(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runValidated(cmd.Context(), &o, a.flowsList)
		},
	}
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

func (a *app) flowsList(ctx context.Context, o *flowsListOptions) error {
	items, err := a.getList(ctx, "/flows", nil, "flows")
	if err != nil {
		return fmt.Errorf("listing flows: %w", err)
	}
	if o.JSON {
		return printJSONList(a.stdout, items)
	}
	flows, err := decodeList[apiFlow](items)
	if err != nil {
		return err
	}
	t := newTable(a.stdout, "ID", "NAME", "ENABLED", "VERSION", "TRIGGER", "UPDATED")
	for _, f := range flows {
		t.row(string(f.ID), f.Name, yesNo(f.Enabled), string(f.Version), f.TriggerType, formatTime(f.UpdatedAt, a.loc))
	}
	return t.flush()
}

// flowsShowOptions are the options of `sluice flows show`.
type flowsShowOptions struct {
	// Flow is a flow id or the name of one of the caller's flows.
	Flow string
	// JSON prints the flow, its definition and source as JSON.
	JSON bool
}

func (o *flowsShowOptions) validate() error { return flowRef(o.Flow) }

func (a *app) flowsShowCommand() *cobra.Command {
	var o flowsShowOptions
	cmd := &cobra.Command{
		Use:   "show NAME|ID",
		Short: "Show a flow and its source",
		Args:  argsRange(1, 1, "one flow NAME|ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Flow = args[0]
			return runValidated(cmd.Context(), &o, a.flowsShow)
		},
	}
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

func (a *app) flowsShow(ctx context.Context, o *flowsShowOptions) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	var f apiFlow
	if printed, err := a.fetch(ctx, c, pathFlow(o.Flow), fmt.Sprintf("showing flow %s", o.Flow), "flow", o.JSON, &f); printed || err != nil {
		return err
	}
	t := newTable(a.stdout)
	t.row("ID:", string(f.ID))
	t.row("Name:", f.Name)
	t.row("Enabled:", yesNo(f.Enabled))
	t.row("Version:", string(f.Version))
	t.row("Trigger:", f.TriggerType)
	if f.WebhookURL != "" {
		t.row("Webhook URL:", f.WebhookURL)
	}
	t.row("Owner:", string(f.OwnerID))
	t.row("Created:", formatTime(f.CreatedAt, a.loc))
	t.row("Updated:", formatTime(f.UpdatedAt, a.loc))
	if err := t.flush(); err != nil {
		return err
	}
	if f.Source != "" {
		fmt.Fprintf(a.stdout, "\nSource:\n%s", f.Source)
		if !strings.HasSuffix(f.Source, "\n") {
			fmt.Fprintln(a.stdout)
		}
	}
	return nil
}

// flowsCheckOptions are the options of `sluice flows check`.
type flowsCheckOptions struct {
	// File is the definition to check; "-" reads stdin.
	File string
	// Offline checks with the checker built into the CLI even when a
	// server is configured. Without a server, the check is always offline.
	Offline bool
}

func (o *flowsCheckOptions) validate() error {
	if o.File == "" {
		return errors.New("the file name must not be empty")
	}
	return nil
}

func (a *app) flowsCheckCommand() *cobra.Command {
	var o flowsCheckOptions
	cmd := &cobra.Command{
		Use:   "check FILE",
		Short: "Check a flow definition without saving it",
		Long: `Check a flow definition without saving it, printing "FILE: ok" or each
problem as FILE:LINE:COL: path: message. The server checks it when one is
configured; otherwise, or with --offline, the checker built into sluice does.`,
		Args: argsRange(1, 1, "one FILE (or - for stdin)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.File = args[0]
			return runValidated(cmd.Context(), &o, a.flowsCheck)
		},
	}
	cmd.Flags().BoolVar(&o.Offline, "offline", false, "check locally, without a server")
	return cmd
}

func (a *app) flowsCheck(ctx context.Context, o *flowsCheckOptions) error {
	src, err := a.readSource(o.File)
	if err != nil {
		return err
	}
	var problems []problem
	conn, err := a.resolveConnection()
	if err != nil {
		return err
	}
	if o.Offline || conn.Server == "" {
		problems = checkOffline(src)
	} else {
		c, err := a.client()
		if err != nil {
			return err
		}
		var resp struct {
			OK       bool      `json:"ok"`
			Problems []problem `json:"problems"`
		}
		if _, err := c.do(ctx, http.MethodPost, "/flows/check", nil, map[string]string{"source": string(src)}, &resp); err != nil {
			return fmt.Errorf("checking %s: %w", o.File, err)
		}
		problems = resp.Problems
		if !resp.OK && len(problems) == 0 {
			return fmt.Errorf("%s: the server found the flow invalid but gave no problem", o.File)
		}
	}
	name := o.File
	if name == "-" {
		name = "<stdin>"
	}
	if len(problems) == 0 {
		fmt.Fprintf(a.stdout, "%s: ok\n", name)
		return nil
	}
	for _, p := range problems {
		fmt.Fprintln(a.stdout, formatProblemAt(name, p))
	}
	return fmt.Errorf("%s: %d %s", name, len(problems), plural(len(problems), "problem", "problems"))
}

// checkOffline runs the flow checker built into the binary.
func checkOffline(src []byte) []problem {
	_, ps := flow.Parse(src)
	out := make([]problem, 0, len(ps))
	for _, p := range ps {
		out = append(out, problem{Path: p.Path, Message: p.Message, Line: p.Line, Column: p.Column})
	}
	return out
}

// formatProblemAt formats a problem the way compilers do,
// FILE:LINE:COL: path: message, leaving out what is unknown.
func formatProblemAt(file string, p problem) string {
	loc := file
	if p.Line > 0 {
		loc += fmt.Sprintf(":%d", p.Line)
		if p.Column > 0 {
			loc += fmt.Sprintf(":%d", p.Column)
		}
	}
	if p.Path == "" {
		return fmt.Sprintf("%s: %s", loc, p.Message)
	}
	return fmt.Sprintf("%s: %s: %s", loc, p.Path, p.Message)
}

// flowRefOptions are the options of the commands that act on one flow:
// enable, disable and delete.
type flowRefOptions struct {
	// Flow is a flow id or the name of one of the caller's flows.
	Flow string
}

func (o *flowRefOptions) validate() error { return flowRef(o.Flow) }

func (a *app) flowsToggleCommand(enable bool) *cobra.Command {
	var o flowRefOptions
	verb, short := "disable", "Turn a flow off: its trigger no longer starts runs"
	if enable {
		verb, short = "enable", "Turn a flow on"
	}
	return &cobra.Command{
		Use:   verb + " NAME|ID",
		Short: short,
		Args:  argsRange(1, 1, "one flow NAME|ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Flow = args[0]
			return runValidated(cmd.Context(), &o, func(ctx context.Context, o *flowRefOptions) error {
				return a.flowsToggle(ctx, o, enable)
			})
		},
	}
}

func (a *app) flowsToggle(ctx context.Context, o *flowRefOptions, enable bool) error {
	verb := "disable"
	if enable {
		verb = "enable"
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	var f apiFlow
	if _, err := c.do(ctx, http.MethodPost, pathFlow(o.Flow)+"/"+verb, nil, nil, &f); err != nil {
		return fmt.Errorf("%s flow %s: %w", strings.TrimSuffix(verb, "e")+"ing", o.Flow, err)
	}
	fmt.Fprintf(a.stdout, "%sd flow %s\n", verb, firstNonEmpty(f.Name, o.Flow))
	return nil
}

// flowsVersionsOptions are the options of `sluice flows versions`.
type flowsVersionsOptions struct {
	// Flow is a flow id or the name of one of the caller's flows.
	Flow string
	// JSON prints the versions as a JSON array.
	JSON bool
}

func (o *flowsVersionsOptions) validate() error { return flowRef(o.Flow) }

func (a *app) flowsVersionsCommand() *cobra.Command {
	var o flowsVersionsOptions
	cmd := &cobra.Command{
		Use:   "versions NAME|ID",
		Short: "List the saved versions of a flow",
		Args:  argsRange(1, 1, "one flow NAME|ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Flow = args[0]
			return runValidated(cmd.Context(), &o, a.flowsVersions)
		},
	}
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

func (a *app) flowsVersions(ctx context.Context, o *flowsVersionsOptions) error {
	items, err := a.getList(ctx, pathFlow(o.Flow)+"/versions", nil, "versions")
	if err != nil {
		return fmt.Errorf("listing versions of flow %s: %w", o.Flow, err)
	}
	if o.JSON {
		return printJSONList(a.stdout, items)
	}
	versions, err := decodeList[apiVersion](items)
	if err != nil {
		return err
	}
	t := newTable(a.stdout, "VERSION", "CREATED", "CREATED_BY")
	for _, v := range versions {
		t.row(string(v.Version), formatTime(v.CreatedAt, a.loc), string(v.CreatedBy))
	}
	return t.flush()
}

// flowsDeleteOptions are the options of `sluice flows delete`.
type flowsDeleteOptions struct {
	flowRefOptions
	// Yes deletes without asking. Without it, the command asks on a
	// terminal and refuses elsewhere, since the flow's runs go with it.
	Yes bool
}

func (a *app) flowsDeleteCommand() *cobra.Command {
	var o flowsDeleteOptions
	cmd := &cobra.Command{
		Use:   "delete NAME|ID [--yes]",
		Short: "Delete a flow with its versions and all its runs",
		Long: `Delete a flow with its versions and all its runs, for good. It says how many
runs go and asks for confirmation on a terminal; elsewhere (a script, a
pipe) pass --yes.`,
		Args: argsRange(1, 1, "one flow NAME|ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Flow = args[0]
			return runValidated(cmd.Context(), &o, a.flowsDelete)
		},
	}
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "delete without asking")
	return cmd
}

func (a *app) flowsDelete(ctx context.Context, o *flowsDeleteOptions) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	var f apiFlow
	if _, err := c.do(ctx, http.MethodGet, pathFlow(o.Flow), nil, nil, &f); err != nil {
		return fmt.Errorf("deleting flow %s: %w", o.Flow, err)
	}
	runs := fmt.Sprintf("%d %s", f.RunCount, plural(f.RunCount, "run", "runs"))
	if !o.Yes {
		if !a.terminal(a.stdin) {
			return usagef("flows delete removes flow %s (id %s) and its %s for good: pass --yes to confirm (stdin is not a terminal to ask on)", f.Name, f.ID, runs)
		}
		fmt.Fprintf(a.stderr, "Delete flow %s (id %s) and its %s for good? [y/N] ", f.Name, f.ID, runs)
		answer, err := bufio.NewReader(a.stdin).ReadString('\n')
		if err != nil && answer == "" {
			return fmt.Errorf("flow %s not deleted: no answer: %w", f.Name, err)
		}
		if ans := strings.ToLower(strings.TrimSpace(answer)); ans != "y" && ans != "yes" {
			return fmt.Errorf("flow %s not deleted", f.Name)
		}
	}
	if _, err := c.do(ctx, http.MethodDelete, pathFlow(string(f.ID)), nil, nil, nil); err != nil {
		return fmt.Errorf("deleting flow %s: %w", o.Flow, err)
	}
	fmt.Fprintf(a.stdout, "deleted flow %s and its %s\n", f.Name, runs)
	return nil
}

// getList GETs path and returns the raw items under key of the answer,
// such as "flows" in {"flows": [...]}.
func (a *app) getList(ctx context.Context, path string, query map[string][]string, key string) ([]json.RawMessage, error) {
	c, err := a.client()
	if err != nil {
		return nil, err
	}
	var raw json.RawMessage
	if _, err := c.do(ctx, http.MethodGet, path, query, nil, &raw); err != nil {
		return nil, err
	}
	return decodeRaw(raw, key)
}
