package store

import (
	"context"
	"time"
)

// Session is a signed-in browser of the portal. Only the SHA-256 hash of
// its id (the cookie's value) is kept, so that a copy of the database
// does not sign anyone in.
type Session struct {
	// Hash is the SHA-256 hash of the session id.
	Hash   []byte
	UserID int64
	// CreatedAt is when the user signed in.
	CreatedAt time.Time
	// ExpiresAt is the absolute end of the session, however active.
	ExpiresAt time.Time
	// IdleUntil is when the session ends unless it is used again; it is
	// never after ExpiresAt.
	IdleUntil time.Time
}

// Active reports whether the session may still be used at now.
func (s Session) Active(now time.Time) bool {
	return now.Before(s.IdleUntil) && now.Before(s.ExpiresAt)
}

// SessionStore keeps the portal's sessions. SetUserPassword deletes a
// user's sessions with their tokens, and SetUserDisabled deletes them on
// disable, so that either ends every browser signed in as the user.
type SessionStore interface {
	// CreateSession stores a new session. It also deletes the sessions
	// whose IdleUntil passed before s.CreatedAt, so that ended sessions
	// do not pile up.
	CreateSession(ctx context.Context, s Session) error
	// GetSession returns the session with that hash and its user;
	// ErrNotFound if there is none. It returns ended sessions and
	// disabled users too, so that the caller decides and can say why.
	GetSession(ctx context.Context, hash []byte) (Session, User, error)
	// ExtendSession moves a session's IdleUntil (capped at its
	// ExpiresAt); ErrNotFound if there is no such session.
	ExtendSession(ctx context.Context, hash []byte, idleUntil time.Time) error
	// DeleteSession ends a session (sign out); deleting a session that
	// does not exist is not an error.
	DeleteSession(ctx context.Context, hash []byte) error
}

// FlowHealth is what the flow list shows of a flow's recent runs.
type FlowHealth struct {
	FlowID int64
	// LastRunID, LastStatus and LastRunAt describe the flow's newest run;
	// LastRunID is 0 when the flow has no run.
	LastRunID  int64
	LastStatus string
	LastRunAt  time.Time
	// Failed counts the flow's runs that failed, created since the time
	// asked.
	Failed int
}

// Owns reports whether u may see and change a record owned by ownerID:
// their own, or anyone's for an admin. The API and the portal both ask
// it, so that one rule decides who sees what.
func (u User) Owns(ownerID int64) bool {
	return u.Role == RoleAdmin || u.ID == ownerID
}
