package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/spf13/cobra"
)

// apiNotification is an entry of the caller's feed (GET /notifications).
type apiNotification struct {
	ID           flexString `json:"id"`
	Kind         string     `json:"kind"`
	Title        string     `json:"title"`
	Body         string     `json:"body"`
	FlowID       flexString `json:"flow_id"`
	RunID        flexString `json:"run_id"`
	ConnectionID flexString `json:"connection_id"`
	ReadAt       apiTime    `json:"read_at"`
	CreatedAt    apiTime    `json:"created_at"`
	// Resolved says that what it reports is over (the flow succeeded
	// since, the connection works again).
	Resolved bool `json:"resolved"`
}

// activityOptions are the options of `sluice activity`.
type activityOptions struct {
	// Unread lists only unread notifications.
	Unread bool
	// Limit caps how many notifications are listed; 0 lets the server
	// choose.
	Limit int
	// MarkRead marks the listed notifications read after showing them.
	MarkRead bool
	// JSON prints {notifications, unread} as the API answers it.
	JSON bool
}

func (o *activityOptions) validate() error {
	if o.Limit < 0 {
		return fmt.Errorf("--limit must be positive, got %d", o.Limit)
	}
	return nil
}

func (a *app) activityCommand() *cobra.Command {
	var o activityOptions
	cmd := &cobra.Command{
		Use:   "activity [--unread] [--limit N] [--mark-read]",
		Short: "Show your notifications: failed runs, connections needing attention, flows turned off",
		Long: `Show your notifications, newest first: failed runs, connections needing
attention, flows turned off. STATE says unread or read, and resolved once
what the notification reports is over: a run of the flow succeeded after
the failed one, or the connection works again.`,
		Args: argsRange(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runValidated(cmd.Context(), &o, a.activity)
		},
	}
	cmd.Flags().BoolVar(&o.Unread, "unread", false, "only unread notifications")
	cmd.Flags().IntVar(&o.Limit, "limit", 0, "show at most N notifications")
	cmd.Flags().BoolVar(&o.MarkRead, "mark-read", false, "mark the notifications shown as read")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

func (a *app) activity(ctx context.Context, o *activityOptions) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	q := url.Values{}
	if o.Unread {
		q.Set("unread", "true")
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	var raw json.RawMessage
	if _, err := c.do(ctx, http.MethodGet, "/notifications", q, nil, &raw); err != nil {
		return fmt.Errorf("listing notifications: %w", err)
	}
	var feed struct {
		Notifications []apiNotification `json:"notifications"`
		Unread        int               `json:"unread"`
	}
	if err := json.Unmarshal(raw, &feed); err != nil {
		return fmt.Errorf("server answered with an unexpected feed: %w", err)
	}
	if o.JSON {
		if err := printJSON(a.stdout, raw); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(a.stdout, "%d unread\n", feed.Unread)
		if len(feed.Notifications) > 0 {
			fmt.Fprintln(a.stdout)
			t := newTable(a.stdout, "STATE", "TIME", "KIND", "TITLE", "RUN", "DETAILS")
			for _, n := range feed.Notifications {
				state := "unread"
				if !n.ReadAt.IsZero() || n.ReadAt.raw != "" {
					state = "read"
				}
				if n.Resolved {
					state += ", resolved"
				}
				// The details are shown whole, on one line.
				t.row(state, formatTime(n.CreatedAt, a.loc), n.Kind, n.Title, string(n.RunID), cell(n.Body))
			}
			if err := t.flush(); err != nil {
				return err
			}
		}
	}
	if !o.MarkRead || len(feed.Notifications) == 0 {
		return nil
	}
	ids := make([]int64, 0, len(feed.Notifications))
	for _, n := range feed.Notifications {
		id, err := strconv.ParseInt(string(n.ID), 10, 64)
		if err != nil {
			return fmt.Errorf("server answered with a notification id %q that is not a number", n.ID)
		}
		ids = append(ids, id)
	}
	if _, err := c.do(ctx, http.MethodPost, "/notifications/read", nil, map[string]any{"ids": ids}, nil); err != nil {
		return fmt.Errorf("marking notifications read: %w", err)
	}
	if !o.JSON {
		fmt.Fprintf(a.stdout, "marked %d %s read\n", len(ids), plural(len(ids), "notification", "notifications"))
	}
	return nil
}
