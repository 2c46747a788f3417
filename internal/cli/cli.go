// Package cli implements the sluice command line. `sluice serve` runs a
// server; every other command talks to one through the REST API described
// in docs/api.md, with the server and token taken from flags, SLUICE_SERVER
// and SLUICE_TOKEN, or the file `sluice login` saves.
//
// Each command is a small options struct that validates itself and a run
// method that takes a context and those options, so that the logic can be
// tested without cobra and cobra only parses flags.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// Exit codes returned by Main.
const (
	// ExitOK means the command did what it was asked.
	ExitOK = 0
	// ExitFailure means the command was well formed but failed: the server
	// said no, the network is down, or a run failed.
	ExitFailure = 1
	// ExitUsage means the command was called wrongly: an unknown flag, a
	// missing argument or an invalid value. Nothing was sent to a server.
	ExitUsage = 2
)

// Main runs the sluice command line with args (without the program name)
// and returns the process exit code: ExitOK, ExitFailure or ExitUsage.
// Errors are printed on stderr as "sluice: <message>". It reads the
// environment of the process; cancelling ctx (on SIGINT or SIGTERM) stops
// the command.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return newApp(stdin, stdout, stderr, os.Getenv).main(ctx, args)
}

// app holds what every command needs: the standard streams, the
// environment and the global flags. Tests build one with a fake
// environment instead of changing the process's.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string

	// loc is the zone times are shown in. Defaults to time.Local.
	loc *time.Location
	// transport carries API requests; its idle connections are closed when
	// the command ends.
	transport *http.Transport
	// pollInterval is the first wait between polls of `trigger --wait`.
	pollInterval time.Duration
	// maxPollInterval caps the wait between polls.
	maxPollInterval time.Duration
	// serve starts a server; it is server.Run except in tests.
	serve serveFunc
	// terminal reports whether a stream is a terminal, where the CLI may
	// ask a question; it is isTerminal except in tests.
	terminal func(any) bool

	// Global flags.
	flagServer string
	flagToken  string
}

func newApp(stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) *app {
	tr, _ := http.DefaultTransport.(*http.Transport)
	if tr != nil {
		tr = tr.Clone()
	} else {
		tr = &http.Transport{}
	}
	return &app{
		stdin:           stdin,
		stdout:          stdout,
		stderr:          stderr,
		getenv:          getenv,
		loc:             time.Local,
		transport:       tr,
		pollInterval:    500 * time.Millisecond,
		maxPollInterval: 5 * time.Second,
		serve:           defaultServe,
		terminal:        isTerminal,
	}
}

// main runs the command tree and turns its error into an exit code.
func (a *app) main(ctx context.Context, args []string) int {
	defer a.transport.CloseIdleConnections()
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	a.printError(err)
	var ue *usageError
	if errors.As(err, &ue) {
		if cmd != nil {
			fmt.Fprintf(a.stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		}
		return ExitUsage
	}
	return ExitFailure
}

// printError writes err as "sluice: <message>", followed by the flow
// problems of an invalid_flow answer, one per line.
func (a *app) printError(err error) {
	fmt.Fprintf(a.stderr, "sluice: %s\n", err)
	var ae *apiError
	if errors.As(err, &ae) {
		for _, p := range ae.Problems {
			if ae.File != "" {
				fmt.Fprintln(a.stderr, formatProblemAt(ae.File, p))
				continue
			}
			fmt.Fprintln(a.stderr, p.String())
		}
	}
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "sluice",
		Short: "Sluice runs and manages workflow automations",
		Long: `Sluice runs flows: a trigger followed by actions.

'sluice serve' runs a server. The other commands talk to a server given by
--server and --token, SLUICE_SERVER and SLUICE_TOKEN, or 'sluice login'.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          noArgs,
		RunE:          groupRunE,
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SuggestionsMinimumDistance = suggestionDistance
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &usageError{err: err}
	})
	pf := root.PersistentFlags()
	pf.StringVar(&a.flagServer, "server", "", "server URL (overrides SLUICE_SERVER and the saved login)")
	pf.StringVar(&a.flagToken, "token", "", "API token (overrides SLUICE_TOKEN and the saved login)")

	flows := a.flowsCommand()
	flows.AddCommand(a.flowsSettingsCommand())
	users := a.usersCommand()
	users.Short = "List and create users (admins only); show and change your settings"
	users.AddCommand(a.usersSettingsCommand())
	root.AddCommand(
		a.serveCommand(),
		a.loginCommand(),
		a.logoutCommand(),
		flows,
		a.triggerCommand(),
		a.runsCommand(),
		a.jobsCommand(),
		a.problemsCommand(),
		a.activityCommand(),
		users,
		a.tokensCommand(),
		a.connectionsCommand(),
		a.outboxCommand(),
		a.diagnoseCommand(),
		a.exportCommand(),
		a.importCommand(),
		a.backupCommand(),
		a.migrateCommand(),
		a.supportCommand(),
		a.versionCommand(),
	)
	// Every group suggests the subcommand nearest a mistyped one.
	var suggest func(*cobra.Command)
	suggest = func(c *cobra.Command) {
		c.SuggestionsMinimumDistance = suggestionDistance
		for _, sub := range c.Commands() {
			suggest(sub)
		}
	}
	suggest(root)
	root.SetHelpCommand(a.helpCommand())
	return root
}

// usageError marks an error as the caller's mistake in flags or
// arguments, which exits with ExitUsage.
type usageError struct {
	err error
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usagef returns a usageError with a formatted message.
func usagef(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// validator is an options struct that checks itself before a command runs.
type validator interface {
	validate() error
}

// runValidated validates opts, as a usage error, and then runs the command.
func runValidated[O validator](ctx context.Context, opts O, run func(context.Context, O) error) error {
	if err := opts.validate(); err != nil {
		return &usageError{err: err}
	}
	return run(ctx, opts)
}

// groupRunE answers a command that only groups subcommands: called alone
// or with an unknown subcommand, it is a usage error rather than a silent
// help page with exit code 0.
func groupRunE(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		if !cmd.HasParent() {
			return usagef("missing command")
		}
		return usagef("%s needs a command", commandName(cmd))
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if suggestions := cmd.SuggestionsFor(args[0]); len(suggestions) > 0 {
		msg += "; did you mean " + quoteOr(suggestions) + "?"
	}
	return usagef("%s", msg)
}

// suggestionDistance is how many letters a mistyped command may be from
// the command it suggests (cobra's SuggestionsMinimumDistance): "runs
// lsit" suggests "list".
const suggestionDistance = 2

// quoteOr joins words as "a", "b" or "c".
func quoteOr(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = strconv.Quote(w)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// noArgs lets groupRunE report unknown subcommands itself.
func noArgs(*cobra.Command, []string) error { return nil }

// argsRange accepts between min and max positional arguments (max < 0:
// no limit), described by usage such as "NAME|ID".
func argsRange(min, max int, usage string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < min:
			return usagef("%s needs %s", commandName(cmd), usage)
		case max >= 0 && len(args) > max:
			return usagef("%s takes %s, got %d arguments: %s", commandName(cmd), usage, len(args), strings.Join(args, " "))
		}
		return nil
	}
}

// commandName is the command's path without the program name, such as
// "flows show", for messages that already start with "sluice: ".
func commandName(cmd *cobra.Command) string {
	return strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
}
