package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// flexString decodes a JSON value that the CLI only shows: a string as is,
// a number as written, null as empty, an object by its "message" field or
// else compactly. IDs and errors use it so that the CLI does not break if
// the server sends an id as a number or an error as an object.
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*s = ""
	case b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = flexString(v)
	case b[0] == '{':
		var v struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(b, &v) == nil && v.Message != "" {
			*s = flexString(v.Message)
			return nil
		}
		*s = flexString(compactJSON(b))
	default:
		*s = flexString(compactJSON(b))
	}
	return nil
}

func compactJSON(b []byte) string {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return string(b)
	}
	return buf.String()
}

// apiTime is a timestamp of the API (RFC 3339). A value that does not parse
// is kept as text rather than failing the whole answer.
type apiTime struct {
	time.Time
	raw string
}

func (t *apiTime) UnmarshalJSON(b []byte) error {
	*t = apiTime{}
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		t.raw = string(b)
		return nil
	}
	t.raw = s
	if v, err := time.Parse(time.RFC3339Nano, s); err == nil {
		t.Time = v
	}
	return nil
}

// formatTime shows t in loc to the second, or "-" when unknown.
func formatTime(t apiTime, loc *time.Location) string {
	switch {
	case !t.IsZero():
		return t.In(loc).Format("2006-01-02 15:04:05")
	case t.raw != "":
		return t.raw
	default:
		return "-"
	}
}

// formatDuration shows how long from start to end took, or "-" when either
// is unknown.
func formatDuration(start, end apiTime) string {
	if start.IsZero() || end.IsZero() {
		return "-"
	}
	d := end.Sub(start.Time)
	switch {
	case d < 0:
		return "-"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(10 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

// printJSON writes raw JSON from the server, indented, so that --json shows
// the fields exactly as the API returns them.
func printJSON(w io.Writer, raw json.RawMessage) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return fmt.Errorf("formatting JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// printJSONList writes items as a JSON array; none is [], never null.
func printJSONList(w io.Writer, items []json.RawMessage) error {
	if items == nil {
		items = []json.RawMessage{}
	}
	raw, err := json.Marshal(items)
	if err != nil {
		return fmt.Errorf("formatting JSON: %w", err)
	}
	return printJSON(w, raw)
}

// decodeList decodes each raw item into a T.
func decodeList[T any](items []json.RawMessage) ([]T, error) {
	out := make([]T, 0, len(items))
	for _, raw := range items {
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("server answered with an unexpected shape: %w", err)
		}
		out = append(out, v)
	}
	return out, nil
}

// decodeRaw returns the raw items of an answer wrapped in one key, such
// as {"flows": [...]}.
func decodeRaw(data json.RawMessage, key string) ([]json.RawMessage, error) {
	var env map[string]json.RawMessage
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("server answered with an unexpected shape: %w", err)
	}
	var items []json.RawMessage
	if raw, ok := env[key]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, fmt.Errorf("server answered with an unexpected %q: %w", key, err)
		}
	}
	return items, nil
}

// table writes aligned columns.
type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	if len(header) > 0 {
		t.row(header...)
	}
	return t
}

// row adds a line; tabs and newlines in cells are flattened so that a
// multi-line error cannot break the alignment.
func (t *table) row(cells ...string) {
	for i, c := range cells {
		cells[i] = cell(c)
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error {
	return t.tw.Flush()
}

func cell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "-"
	}
	return s
}

// truncate shortens s to n runes with an ellipsis.
func truncate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// Shapes of the API (docs/api.md) that the human output reads. --json
// prints the server's own JSON instead, so fields not listed here are kept.

type apiUser struct {
	ID         flexString `json:"id"`
	Email      string     `json:"email"`
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	CreatedAt  apiTime    `json:"created_at"`
	DisabledAt apiTime    `json:"disabled_at"`
}

// status says whether the user is enabled or disabled.
func (u apiUser) status() string {
	if u.DisabledAt.IsZero() && u.DisabledAt.raw == "" {
		return "enabled"
	}
	return "disabled"
}

type apiToken struct {
	ID         flexString `json:"id"`
	Name       string     `json:"name"`
	CreatedAt  apiTime    `json:"created_at"`
	LastUsedAt apiTime    `json:"last_used_at"`
	ExpiresAt  apiTime    `json:"expires_at"`
}

type apiFlow struct {
	ID          flexString `json:"id"`
	Name        string     `json:"name"`
	Enabled     bool       `json:"enabled"`
	Version     flexString `json:"version"`
	TriggerType string     `json:"trigger_type"`
	WebhookURL  string     `json:"webhook_url"`
	OwnerID     flexString `json:"owner_id"`
	CreatedAt   apiTime    `json:"created_at"`
	UpdatedAt   apiTime    `json:"updated_at"`
	Source      string     `json:"source"`
	// RunCount is how many runs the flow has (GET /flows/{flow} only).
	RunCount int `json:"run_count"`
}

type apiVersion struct {
	Version   flexString `json:"version"`
	CreatedAt apiTime    `json:"created_at"`
	CreatedBy flexString `json:"created_by"`
}

type apiRun struct {
	ID              flexString `json:"id"`
	FlowID          flexString `json:"flow_id"`
	FlowName        string     `json:"flow_name"`
	FlowVersion     flexString `json:"flow_version"`
	Status          string     `json:"status"`
	TriggerType     string     `json:"trigger_type"`
	StartedAt       apiTime    `json:"started_at"`
	FinishedAt      apiTime    `json:"finished_at"`
	CreatedAt       apiTime    `json:"created_at"`
	ResubmittedFrom flexString `json:"resubmitted_from"`
	Error           flexString `json:"error"`
	Steps           []apiStep  `json:"steps"`
	// NextStepsAfter is the cursor of the next page of steps (GET
	// /runs/{id} answers at most 1,000), or nil on the last page.
	NextStepsAfter *int64 `json:"next_steps_after"`
}

type apiStep struct {
	ID         flexString `json:"id"`
	ActionID   string     `json:"action_id"`
	Type       string     `json:"type"`
	Status     string     `json:"status"`
	StartedAt  apiTime    `json:"started_at"`
	FinishedAt apiTime    `json:"finished_at"`
	Attempts   int        `json:"attempts"`
	Error      flexString `json:"error"`
	// Input and Output are shown as compact JSON by runs show.
	Input  json.RawMessage `json:"input"`
	Output json.RawMessage `json:"output"`
	// NextAttemptAt is when a waiting step is due.
	NextAttemptAt apiTime `json:"next_attempt_at"`
	// AttemptLog is the step's last attempts, oldest first.
	AttemptLog []apiAttempt `json:"attempt_log"`
}

// apiAttempt is one logged attempt of a step.
type apiAttempt struct {
	N          int     `json:"n"`
	StartedAt  apiTime `json:"started_at"`
	FinishedAt apiTime `json:"finished_at"`
	Outcome    string  `json:"outcome"`
	HTTPStatus int     `json:"http_status"`
	Answer     string  `json:"answer"`
	RetryAt    apiTime `json:"retry_at"`
}
