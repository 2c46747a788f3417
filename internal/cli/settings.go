package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

// repairEmailFrequencies are the values of a user's repair_emails setting.
var repairEmailFrequencies = []string{"immediately", "hourly", "daily", "never"}

// flowsSettingsOptions are the options of `sluice flows settings`.
type flowsSettingsOptions struct {
	// Flow is the flow's name or id.
	Flow string
	// RepairEmails, when set, turns the flow's repair-tip emails on or off.
	RepairEmails string
	// JSON prints the settings as JSON.
	JSON bool
}

func (o *flowsSettingsOptions) validate() error {
	if err := flowRef(o.Flow); err != nil {
		return err
	}
	if o.RepairEmails != "" && o.RepairEmails != "on" && o.RepairEmails != "off" {
		return fmt.Errorf("--repair-emails %q must be on or off", o.RepairEmails)
	}
	return nil
}

func (a *app) flowsSettingsCommand() *cobra.Command {
	var o flowsSettingsOptions
	cmd := &cobra.Command{
		Use:   "settings NAME|ID [--repair-emails on|off]",
		Short: "Show or change a flow's settings (repair-tip emails on or off)",
		Args:  argsRange(1, 1, "one flow NAME|ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Flow = args[0]
			return runValidated(cmd.Context(), &o, a.flowsSettings)
		},
	}
	cmd.Flags().StringVar(&o.RepairEmails, "repair-emails", "", "turn the flow's repair-tip emails on or off")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

func (a *app) flowsSettings(ctx context.Context, o *flowsSettingsOptions) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if o.RepairEmails != "" {
		_, err = c.do(ctx, http.MethodPut, pathFlow(o.Flow)+"/settings", nil, map[string]bool{"repair_emails": o.RepairEmails == "on"}, &raw)
	} else {
		_, err = c.do(ctx, http.MethodGet, pathFlow(o.Flow)+"/settings", nil, nil, &raw)
	}
	if err != nil {
		return fmt.Errorf("settings of flow %s: %w", o.Flow, err)
	}
	if o.JSON {
		return printJSON(a.stdout, raw)
	}
	var st struct {
		RepairEmails bool `json:"repair_emails"`
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return fmt.Errorf("server answered with unexpected settings: %w", err)
	}
	t := newTable(a.stdout)
	t.row("Flow:", o.Flow)
	t.row("Repair emails:", map[bool]string{true: "on", false: "off"}[st.RepairEmails])
	return t.flush()
}

// usersSettingsOptions are the options of `sluice users settings`.
type usersSettingsOptions struct {
	// RepairEmails, when set, is how often repair-tip emails come:
	// immediately, hourly, daily or never.
	RepairEmails string
	// JSON prints the settings as JSON.
	JSON bool
}

func (o *usersSettingsOptions) validate() error {
	if o.RepairEmails != "" && !slices.Contains(repairEmailFrequencies, o.RepairEmails) {
		return fmt.Errorf("--repair-emails %q must be one of %s", o.RepairEmails, strings.Join(repairEmailFrequencies, ", "))
	}
	return nil
}

func (a *app) usersSettingsCommand() *cobra.Command {
	var o usersSettingsOptions
	cmd := &cobra.Command{
		Use:   "settings [--repair-emails immediately|hourly|daily|never]",
		Short: "Show or change your notification settings",
		Long: `Show or change how often you get repair-tip emails about your failing
flows: immediately (one per problem, at most once an hour), as an hourly or
daily digest, or never.`,
		Args: argsRange(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runValidated(cmd.Context(), &o, a.usersSettings)
		},
	}
	cmd.Flags().StringVar(&o.RepairEmails, "repair-emails", "", "how often repair-tip emails come: "+strings.Join(repairEmailFrequencies, ", "))
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

func (a *app) usersSettings(ctx context.Context, o *usersSettingsOptions) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if o.RepairEmails != "" {
		_, err = c.do(ctx, http.MethodPut, "/me/settings", nil, map[string]string{"repair_emails": o.RepairEmails}, &raw)
	} else {
		_, err = c.do(ctx, http.MethodGet, "/me/settings", nil, nil, &raw)
	}
	if err != nil {
		return fmt.Errorf("your settings: %w", err)
	}
	if o.JSON {
		return printJSON(a.stdout, raw)
	}
	var st struct {
		RepairEmails string `json:"repair_emails"`
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return fmt.Errorf("server answered with unexpected settings: %w", err)
	}
	t := newTable(a.stdout)
	t.row("Repair emails:", st.RepairEmails)
	return t.flush()
}
