package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"

	"github.com/spf13/cobra"
)

func (a *app) jobsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "jobs",
		Short: "Follow bulk resubmits and cancels",
		Args:  argsRange(0, 0, "a subcommand"),
	}
	cmd.AddCommand(a.jobsShowCommand())
	return cmd
}

// jobsShowOptions are the options of `sluice jobs show`.
type jobsShowOptions struct {
	// Job is the job's id, as `runs resubmit` and `runs cancel` print it.
	Job string
	// Wait follows the job to its end with a progress bar.
	Wait bool
	// JSON prints the job as JSON.
	JSON bool
}

func (o *jobsShowOptions) validate() error {
	if id, err := strconv.ParseInt(o.Job, 10, 64); err != nil || id <= 0 {
		return usagef("job id %q must be a positive number, as `sluice runs resubmit` printed it", o.Job)
	}
	return nil
}

func (a *app) jobsShowCommand() *cobra.Command {
	var o jobsShowOptions
	cmd := &cobra.Command{
		Use:   "show JOB [--wait]",
		Short: "Show a bulk job's progress; with --wait, follow it to the end",
		Args:  argsRange(1, 1, "one job id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Job = args[0]
			return runValidated(cmd.Context(), &o, a.jobsShow)
		},
	}
	cmd.Flags().BoolVar(&o.Wait, "wait", false, "follow the job until it finishes, with a progress bar")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

func (a *app) jobsShow(ctx context.Context, o *jobsShowOptions) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if _, err := a.fetch(ctx, c, "/jobs/"+url.PathEscape(o.Job), "showing job "+o.Job, "job", false, &raw); err != nil {
		return err
	}
	var j apiJob
	if err := json.Unmarshal(raw, &j); err != nil {
		return fmt.Errorf("server answered with an unexpected job: %w", err)
	}
	if o.Wait || j.finished() {
		return a.followJob(ctx, c, raw, j, j.Kind, o.JSON)
	}
	if o.JSON {
		return printJSON(a.stdout, raw)
	}
	fmt.Fprintf(a.stdout, "job %s %s: %d of %d runs %s so far, %d skipped\n", j.ID, j.Status, j.Done, j.Total, pastTense(j.Kind), j.Failed)
	return nil
}
