package store

import (
	"context"
	"time"
)

// AccountStore keeps what account administration and sign-in throttling
// need beyond users and tokens.
type AccountStore interface {
	// SetUserDisabled disables (records the time) or re-enables a user
	// and returns the user after the call. Disabling a disabled user
	// keeps its first time. A disable deletes the user's sessions in the
	// same transaction. ErrNotFound if there is no such user.
	SetUserDisabled(ctx context.Context, id int64, disabled bool) (User, error)
	// SetUserPassword replaces a user's password hash and, in the same
	// transaction, deletes every token and session of the user, so that a
	// reset password also ends whatever signed in with the old one. It returns
	// how many tokens it deleted; ErrNotFound if there is no such user.
	SetUserPassword(ctx context.Context, id int64, hash string) (revoked int, err error)
	// ReserveAttempt counts one sign-in attempt against key, atomically
	// (across nodes sharing the database), before the password is
	// checked: it applies l.Reserve to key's state at now and stores the
	// result. It returns the state and whether the attempt may go ahead;
	// a refused attempt changes nothing. It also forgets the keys past
	// their AttemptLimit.ForgetAt.
	ReserveAttempt(ctx context.Context, key string, now time.Time, l AttemptLimit) (AttemptState, bool, error)
	// ClearAttempts forgets key's attempts (after a successful sign-in).
	ClearAttempts(ctx context.Context, key string) error
}

// AttemptLimit says how many attempts a key gets and how long it waits
// after them. The first Free-1 attempts are not delayed; the Free-th and
// every later attempt locks the key for Delay, doubled for each attempt
// beyond Free, at most MaxDelay. A key idle for Window starts again.
type AttemptLimit struct {
	// Free is the number of attempts before the first delay.
	Free int
	// Delay is the first lock, after the Free-th attempt.
	Delay time.Duration
	// MaxDelay caps the lock.
	MaxDelay time.Duration
	// Window is how long a key must be idle (and unlocked) before its
	// count starts again.
	Window time.Duration
}

// AttemptState is a key's attempt count.
type AttemptState struct {
	// Count is the attempts counted since the key was last idle for the
	// window or cleared.
	Count int
	// LastAt is when the last counted attempt was made; zero for none.
	LastAt time.Time
	// LockedUntil is when the key may try again; zero when not locked.
	LockedUntil time.Time
}

// ForgetAt returns when a store may forget the state s under l: a window
// after its last attempt, and never before its lock ends.
func (l AttemptLimit) ForgetAt(s AttemptState) time.Time {
	at := s.LastAt.Add(l.Window)
	if s.LockedUntil.After(at) {
		return s.LockedUntil
	}
	return at
}

// Reserve returns the state after one more attempt at now and whether the
// attempt may go ahead. A locked key refuses the attempt and keeps its
// state, so that hammering a locked key does not lengthen the lock. Every
// store driver and the in-memory per-address counter use it, so they
// count alike.
func (l AttemptLimit) Reserve(s AttemptState, now time.Time) (AttemptState, bool) {
	if now.Before(s.LockedUntil) {
		return s, false
	}
	if s.LastAt.IsZero() || now.Sub(s.LastAt) >= l.Window {
		s.Count = 0
	}
	s.Count++
	s.LastAt = now
	s.LockedUntil = time.Time{}
	if d := l.lockFor(s.Count); d > 0 {
		s.LockedUntil = now.Add(d)
	}
	return s, true
}

// lockFor returns how long the n-th attempt locks the key.
func (l AttemptLimit) lockFor(n int) time.Duration {
	if n < l.Free || l.Delay <= 0 {
		return 0
	}
	d := l.Delay
	for i := l.Free; i < n && d < l.MaxDelay; i++ {
		d *= 2
	}
	return min(d, l.MaxDelay)
}

// Expired reports whether the token has an expiry at or before now.
func (t Token) Expired(now time.Time) bool {
	return t.ExpiresAt != nil && !now.Before(*t.ExpiresAt)
}
