package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

// triggerOptions are the options of `sluice trigger`.
type triggerOptions struct {
	// Flow is a flow id or the name of one of the caller's flows.
	Flow string
	// Input is the trigger input as JSON text.
	Input string
	// InputFile is a file holding the trigger input; "-" reads stdin.
	InputFile string
	// Wait polls the run until it finishes and fails if the run did.
	Wait bool
	// Timeout, with Wait, stops waiting after that long; the run goes on.
	// Zero waits as long as the run takes.
	Timeout time.Duration
	// JSON prints the run (the finished run with Wait) as JSON.
	JSON bool

	// input is the validated input, read from Input or InputFile.
	input json.RawMessage
}

func (o *triggerOptions) validate() error {
	if err := flowRef(o.Flow); err != nil {
		return err
	}
	if o.Input != "" && o.InputFile != "" {
		return errors.New("give the input with --input or --input-file, not both")
	}
	if o.Timeout < 0 || (o.Timeout > 0 && !o.Wait) {
		return errors.New("--timeout is a positive duration and goes with --wait")
	}
	return nil
}

// checkInput validates JSON input locally, so that a typo is a usage error
// with the position instead of a server round trip.
func checkInput(what string, b []byte) (json.RawMessage, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, usagef("%s is empty; give a JSON value such as {\"name\": \"Ada\"}", what)
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, usagef("%s is not valid JSON: %v (at byte %d)", what, err, se.Offset)
		}
		return nil, usagef("%s is not valid JSON: %w", what, err)
	}
	if dec.More() {
		return nil, usagef("%s is not valid JSON: it holds more than one value", what)
	}
	return json.RawMessage(b), nil
}

func (a *app) triggerCommand() *cobra.Command {
	var o triggerOptions
	cmd := &cobra.Command{
		Use:   "trigger NAME|ID [--input JSON | --input-file FILE] [--wait]",
		Short: "Start a run of a flow and print its id",
		Args:  argsRange(1, 1, "one flow NAME|ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Flow = args[0]
			return runValidated(cmd.Context(), &o, a.trigger)
		},
	}
	cmd.Flags().StringVar(&o.Input, "input", "", "trigger input as JSON")
	cmd.Flags().StringVar(&o.InputFile, "input-file", "", "file holding the trigger input as JSON, - for stdin")
	cmd.Flags().BoolVar(&o.Wait, "wait", false, "wait for the run to finish; fail if it failed")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 0, "with --wait, stop waiting after this long (the run goes on)")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the run as JSON")
	return cmd
}

func (a *app) trigger(ctx context.Context, o *triggerOptions) error {
	switch {
	case o.Input != "":
		in, err := checkInput("--input", []byte(o.Input))
		if err != nil {
			return err
		}
		o.input = in
	case o.InputFile != "":
		b, err := a.readSource(o.InputFile)
		if err != nil {
			return fmt.Errorf("reading --input-file: %w", err)
		}
		in, err := checkInput("--input-file "+o.InputFile, b)
		if err != nil {
			return err
		}
		o.input = in
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	body := map[string]json.RawMessage{}
	if o.input != nil {
		body["input"] = o.input
	}
	var raw json.RawMessage
	if _, err := c.do(ctx, http.MethodPost, pathFlow(o.Flow)+"/trigger", nil, body, &raw); err != nil {
		return fmt.Errorf("triggering flow %s: %w", o.Flow, err)
	}
	var run apiRun
	if err := json.Unmarshal(raw, &run); err != nil {
		return fmt.Errorf("server answered with an unexpected run: %w", err)
	}
	if run.ID == "" {
		return errors.New("server answered without a run id")
	}
	if !o.Wait {
		if o.JSON {
			return printJSON(a.stdout, raw)
		}
		fmt.Fprintln(a.stdout, run.ID)
		return nil
	}
	if !o.JSON {
		fmt.Fprintln(a.stdout, run.ID)
	}
	wctx, cancel := ctx, context.CancelFunc(func() {})
	if o.Timeout > 0 {
		wctx, cancel = context.WithTimeout(ctx, o.Timeout)
	}
	defer cancel()
	id := run.ID
	raw, run, err = a.waitRun(wctx, c, string(id))
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return fmt.Errorf("run %s has not finished after %s; it goes on (see 'sluice runs show %s')", id, o.Timeout, id)
	}
	if err != nil {
		return err
	}
	if o.JSON {
		if err := printJSON(a.stdout, raw); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(a.stdout, "run %s %s in %s\n", run.ID, run.Status, formatDuration(run.StartedAt, run.FinishedAt))
	}
	if run.Status != "succeeded" {
		msg := fmt.Sprintf("run %s %s", run.ID, run.Status)
		if run.Error != "" {
			msg += ": " + string(run.Error)
		}
		return fmt.Errorf("%s (see 'sluice runs show %s')", msg, run.ID)
	}
	return nil
}

// activeRunStatuses are the statuses of a run that has not finished.
var activeRunStatuses = map[string]bool{"queued": true, "running": true, "waiting": true}

// waitRun polls a run, backing off up to maxPollInterval, until it leaves
// the queued, running and waiting statuses.
func (a *app) waitRun(ctx context.Context, c *client, id string) (json.RawMessage, apiRun, error) {
	interval := a.pollInterval
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, apiRun{}, fmt.Errorf("stopped waiting for run %s, which goes on: %w", id, ctx.Err())
		case <-timer.C:
		}
		var raw json.RawMessage
		if _, err := c.do(ctx, http.MethodGet, pathRun(id), nil, nil, &raw); err != nil {
			return nil, apiRun{}, fmt.Errorf("waiting for run %s: %w", id, err)
		}
		var run apiRun
		if err := json.Unmarshal(raw, &run); err != nil {
			return nil, apiRun{}, fmt.Errorf("server answered with an unexpected run: %w", err)
		}
		if !activeRunStatuses[run.Status] {
			return raw, run, nil
		}
		timer.Reset(interval)
		interval = min(interval*3/2, a.maxPollInterval)
	}
}
