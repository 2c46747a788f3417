package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// ErrNotPorted is returned by the store.NotifyStore methods, which this
// driver does not implement yet (events, notifications, the mail outbox,
// alerts, problems and settings arrived in the SQLite driver after it was
// written). It wraps errors.ErrUnsupported so that callers fail loudly
// rather than act on empty answers.
var ErrNotPorted = fmt.Errorf("postgres: events, notifications, mail, alerts, problems and settings not ported yet: %w", errors.ErrUnsupported)

// ClaimEvents is not implemented yet; it returns ErrNotPorted.
func (s *Store) ClaimEvents(ctx context.Context, limit int) ([]store.Event, error) {
	return nil, ErrNotPorted
}

// AddNotification is not implemented yet; it returns ErrNotPorted.
func (s *Store) AddNotification(ctx context.Context, n store.Notification) (store.Notification, error) {
	return store.Notification{}, ErrNotPorted
}

// ListNotifications is not implemented yet; it returns ErrNotPorted.
func (s *Store) ListNotifications(ctx context.Context, userID int64, unreadOnly bool, limit int) ([]store.Notification, error) {
	return nil, ErrNotPorted
}

// CountUnread is not implemented yet; it returns ErrNotPorted.
func (s *Store) CountUnread(ctx context.Context, userID int64) (int, error) {
	return 0, ErrNotPorted
}

// MarkRead is not implemented yet; it returns ErrNotPorted.
func (s *Store) MarkRead(ctx context.Context, userID int64, ids []int64) error {
	return ErrNotPorted
}

// EnqueueMail is not implemented yet; it returns ErrNotPorted.
func (s *Store) EnqueueMail(ctx context.Context, m store.Mail) (store.Mail, error) {
	return store.Mail{}, ErrNotPorted
}

// DueMail is not implemented yet; it returns ErrNotPorted.
func (s *Store) DueMail(ctx context.Context, now time.Time, limit int) ([]store.Mail, error) {
	return nil, ErrNotPorted
}

// MarkMailSent is not implemented yet; it returns ErrNotPorted.
func (s *Store) MarkMailSent(ctx context.Context, id int64, messageID string, at time.Time) error {
	return ErrNotPorted
}

// MarkMailRetry is not implemented yet; it returns ErrNotPorted.
func (s *Store) MarkMailRetry(ctx context.Context, id int64, lastError string, next time.Time) error {
	return ErrNotPorted
}

// ListMail is not implemented yet; it returns ErrNotPorted.
func (s *Store) ListMail(ctx context.Context, status string, limit int) ([]store.Mail, error) {
	return nil, ErrNotPorted
}

// CountAlert is not implemented yet; it returns ErrNotPorted.
func (s *Store) CountAlert(ctx context.Context, flowID int64, step, code string, runID int64, at time.Time) error {
	return ErrNotPorted
}

// DueAlerts is not implemented yet; it returns ErrNotPorted.
func (s *Store) DueAlerts(ctx context.Context, now time.Time, window time.Duration) ([]store.Alert, error) {
	return nil, ErrNotPorted
}

// AlertSent is not implemented yet; it returns ErrNotPorted.
func (s *Store) AlertSent(ctx context.Context, flowID int64, step, code string, sent int, at time.Time) error {
	return ErrNotPorted
}

// ListProblems is not implemented yet; it returns ErrNotPorted.
func (s *Store) ListProblems(ctx context.Context, f store.ProblemFilter) ([]store.Problem, error) {
	return nil, ErrNotPorted
}

// GetUserSettings is not implemented yet; it returns ErrNotPorted.
func (s *Store) GetUserSettings(ctx context.Context, userID int64) (store.UserSettings, error) {
	return store.UserSettings{}, ErrNotPorted
}

// SetUserSettings is not implemented yet; it returns ErrNotPorted.
func (s *Store) SetUserSettings(ctx context.Context, userID int64, st store.UserSettings) error {
	return ErrNotPorted
}

// GetFlowSettings is not implemented yet; it returns ErrNotPorted.
func (s *Store) GetFlowSettings(ctx context.Context, flowID int64) (store.FlowSettings, error) {
	return store.FlowSettings{}, ErrNotPorted
}

// SetFlowSettings is not implemented yet; it returns ErrNotPorted.
func (s *Store) SetFlowSettings(ctx context.Context, flowID int64, st store.FlowSettings) error {
	return ErrNotPorted
}
