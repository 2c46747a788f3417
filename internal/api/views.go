package api

import (
	"encoding/json"
	"time"

	"github.com/sluice/sluice/internal/flow"
	"github.com/sluice/sluice/internal/store"
)

// The view types below are the API's answer shapes (docs/api.md,
// "Shapes"). They are separate from the store's types so that a field
// added to the store never reaches a client by accident: password hashes,
// token hashes and webhook tokens have no field here.

// userView is a user as the API shows it.
type userView struct {
	ID        int64     `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	// DisabledAt is when an admin disabled the user; null while enabled.
	DisabledAt *time.Time `json:"disabled_at"`
}

func viewUser(u store.User) userView {
	return userView{ID: u.ID, Email: u.Email, Name: u.Name, Role: u.Role, CreatedAt: u.CreatedAt, DisabledAt: u.DisabledAt}
}

// tokenView is an API token without its secret.
type tokenView struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	// ExpiresAt is when the token stops working; null if it does not.
	ExpiresAt *time.Time `json:"expires_at"`
}

func viewToken(t store.Token) tokenView {
	return tokenView{ID: t.ID, Name: t.Name, CreatedAt: t.CreatedAt, LastUsedAt: t.LastUsedAt, ExpiresAt: t.ExpiresAt}
}

// flowView is a flow as the API shows it.
type flowView struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Enabled     bool   `json:"enabled"`
	Version     int    `json:"version"`
	TriggerType string `json:"trigger_type"`
	// WebhookURL is set only for webhook flows, and only for their owner:
	// the token in it is the flow's secret.
	WebhookURL *string   `json:"webhook_url"`
	OwnerID    int64     `json:"owner_id"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// viewFlow shows f to the user u.
func (s *server) viewFlow(u store.User, f store.Flow) flowView {
	v := flowView{
		ID: f.ID, Name: f.Name, Enabled: f.Enabled, Version: f.Version, TriggerType: f.TriggerType,
		OwnerID: f.OwnerID, CreatedAt: f.CreatedAt, UpdatedAt: f.UpdatedAt,
	}
	if f.TriggerType == flow.TriggerWebhook && f.OwnerID == u.ID && f.WebhookToken != "" {
		url := s.hookBaseURL + "/hooks/" + f.WebhookToken
		v.WebhookURL = &url
	}
	return v
}

// flowDetailView is a flow with its latest definition.
type flowDetailView struct {
	flowView
	Definition json.RawMessage `json:"definition"`
	Source     string          `json:"source"`
	// RunCount is how many runs the flow has, all of which go when it
	// is deleted.
	RunCount int `json:"run_count"`
}

// versionView is one saved version in a list.
type versionView struct {
	Version   int       `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy int64     `json:"created_by"`
}

// versionDetailView is one saved version with its definition.
type versionDetailView struct {
	versionView
	Definition json.RawMessage `json:"definition"`
	Source     string          `json:"source"`
}

func viewVersion(v store.FlowVersion) versionView {
	return versionView{Version: v.Version, CreatedAt: v.CreatedAt, CreatedBy: v.CreatedBy}
}

// runView is a run as the API shows it.
type runView struct {
	ID              int64           `json:"id"`
	FlowID          int64           `json:"flow_id"`
	FlowName        string          `json:"flow_name"`
	FlowVersion     int             `json:"flow_version"`
	Status          string          `json:"status"`
	TriggerType     string          `json:"trigger_type"`
	StartedAt       *time.Time      `json:"started_at"`
	FinishedAt      *time.Time      `json:"finished_at"`
	CreatedAt       time.Time       `json:"created_at"`
	ResubmittedFrom *int64          `json:"resubmitted_from"`
	Error           *string         `json:"error"`
	Input           json.RawMessage `json:"input"`
	Output          json.RawMessage `json:"output"`
}

func viewRun(r store.Run) runView {
	v := runView{
		ID: r.ID, FlowID: r.FlowID, FlowName: r.FlowName, FlowVersion: r.FlowVersion, Status: r.Status,
		TriggerType: r.TriggerType, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, CreatedAt: r.CreatedAt,
		ResubmittedFrom: r.ResubmittedFrom, Input: rawOrNull(r.Input), Output: rawOrNull(r.Output),
	}
	if r.Error != "" {
		e := r.Error
		v.Error = &e
	}
	return v
}

// runDetailView is a run with its steps.
type runDetailView struct {
	runView
	Steps []stepView `json:"steps"`
	// NextStepsAfter is the steps_after of the next page of steps, or
	// null on the last page.
	NextStepsAfter *int64 `json:"next_steps_after"`
}

// stepView is a step as the API shows it; the engine has already redacted
// secrets from its input and output.
type stepView struct {
	ID         string          `json:"id"`
	ActionID   string          `json:"action_id"`
	Type       string          `json:"type"`
	Status     string          `json:"status"`
	StartedAt  *time.Time      `json:"started_at"`
	FinishedAt *time.Time      `json:"finished_at"`
	Attempts   int             `json:"attempts"`
	Error      json.RawMessage `json:"error"`
	Input      json.RawMessage `json:"input"`
	Output     json.RawMessage `json:"output"`
	// NextAttemptAt is when a waiting step (a retry, a delay) is due.
	NextAttemptAt *time.Time `json:"next_attempt_at"`
	// AttemptLog is the step's last attempts, oldest first; empty for a
	// step that acts inside the run or was recorded before attempts were.
	AttemptLog []store.StepAttempt `json:"attempt_log"`
}

func viewStep(st store.Step) stepView {
	v := stepView{
		ID: st.Key, ActionID: st.ActionID, Type: st.Type, Status: st.Status, StartedAt: st.StartedAt,
		FinishedAt: st.FinishedAt, Attempts: st.Attempts, Error: rawOrNull(st.Error),
		Input: rawOrNull(st.Input), Output: rawOrNull(st.Output), NextAttemptAt: st.NextAttemptAt,
		AttemptLog: st.AttemptLog,
	}
	if v.AttemptLog == nil {
		v.AttemptLog = []store.StepAttempt{}
	}
	return v
}

// rawOrNull returns b, or JSON null when b is empty or not valid JSON, so
// that a stored value can never break the answer's encoding.
func rawOrNull(b json.RawMessage) json.RawMessage {
	if len(b) == 0 || !json.Valid(b) {
		return json.RawMessage("null")
	}
	return b
}
