package cli

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// mailStatuses are the statuses of a message in the outbox.
var mailStatuses = []string{"queued", "sent", "failed"}

// apiMail is a message of the outbox (GET /outbox).
type apiMail struct {
	ID        flexString `json:"id"`
	To        []string   `json:"to"`
	Subject   string     `json:"subject"`
	Kind      string     `json:"kind"`
	Status    string     `json:"status"`
	Attempts  int        `json:"attempts"`
	LastError string     `json:"last_error"`
	CreatedAt apiTime    `json:"created_at"`
	SentAt    apiTime    `json:"sent_at"`
}

// outboxOptions are the options of `sluice outbox`.
type outboxOptions struct {
	// Status lists only messages with this status.
	Status string
	// Limit caps how many messages are listed; 0 lets the server choose.
	Limit int
	// JSON prints the messages, bodies included, as a JSON array.
	JSON bool
}

func (o *outboxOptions) validate() error {
	if o.Status != "" && !slices.Contains(mailStatuses, o.Status) {
		return fmt.Errorf("--status %q must be one of %s", o.Status, strings.Join(mailStatuses, ", "))
	}
	if o.Limit < 0 {
		return fmt.Errorf("--limit must be positive, got %d", o.Limit)
	}
	return nil
}

func (a *app) outboxCommand() *cobra.Command {
	var o outboxOptions
	cmd := &cobra.Command{
		Use:   "outbox [--status queued|sent|failed]",
		Short: "List the mail outbox, newest first (admins only)",
		Long: `List the mail outbox, newest first (admins only). Every email the server
sends waits there until the SMTP server takes it; without SMTP configured
it stays there. --json shows the text and HTML bodies.`,
		Args: argsRange(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runValidated(cmd.Context(), &o, a.outbox)
		},
	}
	cmd.Flags().StringVar(&o.Status, "status", "", "only messages with this status: "+strings.Join(mailStatuses, ", "))
	cmd.Flags().IntVar(&o.Limit, "limit", 0, "list at most N messages")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

func (a *app) outbox(ctx context.Context, o *outboxOptions) error {
	q := url.Values{}
	if o.Status != "" {
		q.Set("status", o.Status)
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	items, err := a.getList(ctx, "/outbox", q, "mail")
	if err != nil {
		return fmt.Errorf("listing the outbox: %w", err)
	}
	if o.JSON {
		return printJSONList(a.stdout, items)
	}
	mail, err := decodeList[apiMail](items)
	if err != nil {
		return err
	}
	if len(mail) == 0 {
		fmt.Fprintln(a.stdout, "the outbox is empty")
		return nil
	}
	t := newTable(a.stdout, "ID", "CREATED", "STATUS", "ATTEMPTS", "TO", "SUBJECT", "LAST ERROR")
	for _, m := range mail {
		t.row(string(m.ID), formatTime(m.CreatedAt, a.loc), m.Status, strconv.Itoa(m.Attempts),
			strings.Join(m.To, ", "), truncate(m.Subject, 60), truncate(m.LastError, 60))
	}
	return t.flush()
}
