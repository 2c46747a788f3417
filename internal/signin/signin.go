// Package signin is the one place where Sluice checks a password. The
// API's POST /login (and so `sluice login`) and the retry-link pages all
// call Checker.Check, which
//
//   - throttles with growing delays per account and per retry link in the
//     store, so that every node sharing a PostgreSQL database counts the
//     same attempts, and per client address in memory, on each node;
//   - reserves each attempt (an atomic increment) before any password is
//     hashed, so that concurrent attempts never exceed a limit;
//   - takes the same path for an unknown email as for a known one,
//     checking a dummy argon2id hash, so that neither the answer nor its
//     time tells whether an account exists;
//   - logs every failed or refused sign-in, never the password.
package signin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluice/sluice/internal/auth"
	"github.com/sluice/sluice/internal/store"
)

// Default limits (docs/security.md, "Accounts and sign-in").
var (
	// DefaultAccountLimit throttles one email address (whether or not an
	// account has it): 4 attempts without delay, then 1 s after the 5th,
	// doubled for each further attempt up to 15 minutes. A successful
	// sign-in clears it.
	DefaultAccountLimit = store.AttemptLimit{Free: 5, Delay: time.Second, MaxDelay: 15 * time.Minute, Window: time.Hour}
	// DefaultAddressLimit throttles one client address (an IPv6 client by
	// its /64): 29 attempts without delay, then 1 s, doubled up to one
	// minute. It is milder than the account limit because many people can
	// share an address (an office, a reverse proxy).
	DefaultAddressLimit = store.AttemptLimit{Free: 30, Delay: time.Second, MaxDelay: time.Minute, Window: 15 * time.Minute}
	// DefaultLinkLimit throttles one retry link from an email: 10
	// attempts, then the link is locked for 15 minutes.
	DefaultLinkLimit = store.AttemptLimit{Free: 10, Delay: 15 * time.Minute, MaxDelay: 15 * time.Minute, Window: 15 * time.Minute}
)

// Errors Check returns; test them with errors.Is or errors.As.
var (
	// ErrInvalid means the email is unknown or the password is wrong; the
	// two are not told apart.
	ErrInvalid = errors.New("wrong email or password")
	// ErrDisabled means the password is right but an admin disabled the
	// account.
	ErrDisabled = errors.New("this account is disabled; ask an administrator")
)

// ThrottledError is returned by Check when an attempt is refused before
// any password is checked because its account, link or client address
// made too many attempts.
type ThrottledError struct {
	// Scope is what is throttled: "account", "link" or "address".
	Scope string
	// Until is when the next attempt may be made.
	Until time.Time
	// RetryAfter is Until less the time of the refusal, rounded up to a
	// whole second, for a Retry-After header.
	RetryAfter time.Duration
}

// RetryAfterHeader returns the value of a Retry-After header: RetryAfter
// in whole seconds.
func (e *ThrottledError) RetryAfterHeader() string {
	return strconv.FormatInt(int64(e.RetryAfter/time.Second), 10)
}

// Error says what is throttled and for how long.
func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many sign-in attempts for this %s: try again in %s", e.Scope, e.RetryAfter)
}

// Store is what a Checker needs of the store.
type Store interface {
	GetUserByEmail(ctx context.Context, email string) (store.User, error)
	ReserveAttempt(ctx context.Context, key string, now time.Time, l store.AttemptLimit) (store.AttemptState, bool, error)
	ClearAttempts(ctx context.Context, key string) error
}

// Config configures a Checker.
type Config struct {
	// Store finds users and counts attempts per account and link.
	// Required.
	Store Store
	// Logger receives failed and refused sign-ins. Defaults to
	// slog.Default().
	Logger *slog.Logger
	// Account limits attempts per email address. Defaults to
	// DefaultAccountLimit.
	Account store.AttemptLimit
	// Address limits attempts per client address, counted in this
	// process's memory. Defaults to DefaultAddressLimit.
	Address store.AttemptLimit
	// Link limits attempts through one retry link. Defaults to
	// DefaultLinkLimit.
	Link store.AttemptLimit
}

// Checker checks sign-in attempts. It is safe for concurrent use; one
// Checker serves a whole process, so that the API and the link pages
// share the per-address counts.
type Checker struct {
	store                  Store
	log                    *slog.Logger
	account, address, link store.AttemptLimit
	addrs                  *memCounter
	// checkPassword is auth.CheckPassword; a test counts its calls.
	checkPassword func(hash, password string) bool
	// dummy is the hash an unknown email is checked against; it is made
	// on the first Check of any kind so that no path pays for it alone.
	dummy func() (string, error)
	now   func() time.Time
}

// New returns a Checker.
func New(c Config) *Checker {
	k := &Checker{
		store: c.Store, log: c.Logger,
		account: c.Account, address: c.Address, link: c.Link,
		checkPassword: auth.CheckPassword,
		dummy: sync.OnceValues(func() (string, error) {
			return auth.HashPassword(auth.RandomPassword())
		}),
		now: time.Now,
	}
	if k.log == nil {
		k.log = slog.Default()
	}
	for _, l := range []struct {
		limit *store.AttemptLimit
		def   store.AttemptLimit
	}{{&k.account, DefaultAccountLimit}, {&k.address, DefaultAddressLimit}, {&k.link, DefaultLinkLimit}} {
		if l.limit.Free <= 0 {
			*l.limit = l.def
		}
	}
	k.addrs = newMemCounter(k.address)
	return k
}

// Attempt is one try to sign in.
type Attempt struct {
	// Email and Password are what the person typed.
	Email, Password string
	// RemoteAddr is the client's address as http.Request.RemoteAddr has
	// it ("host:port").
	RemoteAddr string
	// Link is the retry link's token when the attempt comes through one;
	// "" for POST /login.
	Link string
	// Via names the form for the log: "api" or "link".
	Via string
}

// Check signs a person in: it returns the user when the email and
// password match an enabled account. Otherwise it returns ErrInvalid,
// ErrDisabled, a *ThrottledError, or an error from the store.
func (k *Checker) Check(ctx context.Context, a Attempt) (store.User, error) {
	dummy, err := k.dummy()
	if err != nil {
		return store.User{}, fmt.Errorf("sign in: make dummy hash: %w", err)
	}
	now := k.now()
	addr := addressKey(a.RemoteAddr)
	email := strings.ToLower(strings.TrimSpace(a.Email))
	log := k.log.With("via", a.Via, "email", truncate(email, 254), "addr", addr)

	if st, ok := k.addrs.reserve(addr, now); !ok {
		return store.User{}, k.throttled(ctx, log, "address", st.LockedUntil, now)
	}
	var keys []string
	if a.Link != "" {
		key := "link:" + digest(a.Link)
		if err := k.reserve(ctx, log, "link", key, k.link, now); err != nil {
			return store.User{}, err
		}
		keys = append(keys, key)
	}
	accountKey := "account:" + digest(email)
	if err := k.reserve(ctx, log, "account", accountKey, k.account, now); err != nil {
		return store.User{}, err
	}
	keys = append(keys, accountKey)

	// From here on a known and an unknown email cost one argon2id check
	// each.
	u, err := k.store.GetUserByEmail(ctx, email)
	switch {
	case errors.Is(err, store.ErrNotFound):
		k.checkPassword(dummy, a.Password)
		log.WarnContext(ctx, "sign-in failed", "reason", "unknown email")
		return store.User{}, ErrInvalid
	case err != nil:
		return store.User{}, fmt.Errorf("sign in: %w", err)
	}
	if !k.checkPassword(u.PasswordHash, a.Password) {
		log.WarnContext(ctx, "sign-in failed", "reason", "wrong password", "user", u.ID)
		return store.User{}, ErrInvalid
	}
	if u.DisabledAt != nil {
		log.WarnContext(ctx, "sign-in failed", "reason", "account disabled", "user", u.ID)
		return store.User{}, ErrDisabled
	}
	for _, key := range keys {
		if err := k.store.ClearAttempts(ctx, key); err != nil {
			return store.User{}, fmt.Errorf("sign in: %w", err)
		}
	}
	k.addrs.refund(addr)
	return u, nil
}

// reserve counts an attempt against key in the store; it returns a
// *ThrottledError when the key is locked.
func (k *Checker) reserve(ctx context.Context, log *slog.Logger, scope, key string, l store.AttemptLimit, now time.Time) error {
	st, ok, err := k.store.ReserveAttempt(ctx, key, now, l)
	if err != nil {
		return fmt.Errorf("sign in: %w", err)
	}
	if !ok {
		return k.throttled(ctx, log, scope, st.LockedUntil, now)
	}
	return nil
}

// throttled logs a refused attempt and returns its error.
func (k *Checker) throttled(ctx context.Context, log *slog.Logger, scope string, until, now time.Time) error {
	wait := time.Duration(math.Ceil(until.Sub(now).Seconds())) * time.Second
	log.WarnContext(ctx, "sign-in refused: too many attempts", "scope", scope, "retry_after", wait)
	return &ThrottledError{Scope: scope, Until: until, RetryAfter: max(wait, time.Second)}
}

// digest keys the store's counters by a hash, so that the table holds
// neither emails nor link tokens and every key has the same short length
// whatever was typed.
func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

// addressKey returns the client's address without its port; an IPv6
// address stands for its /64, which one client usually holds whole.
func addressKey(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// truncate cuts s to at most n bytes for a log line.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// maxAddresses caps how many client addresses a memCounter tracks (about
// 100 bytes each). When it is full of addresses still within their window,
// a new address goes untracked: the per-account limit still holds, and no
// one is locked out because many addresses tried.
const maxAddresses = 100_000

// memCounter counts attempts per client address in memory, with the same
// rule as the store (store.AttemptLimit.Reserve).
type memCounter struct {
	limit store.AttemptLimit
	mu    sync.Mutex
	m     map[string]store.AttemptState
	// pruned is when idle entries were last dropped.
	pruned time.Time
}

func newMemCounter(l store.AttemptLimit) *memCounter {
	return &memCounter{limit: l, m: map[string]store.AttemptState{}}
}

// reserve counts one attempt from key at now.
func (c *memCounter) reserve(key string, now time.Time) (store.AttemptState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	prev, known := c.m[key]
	if now.Sub(c.pruned) > time.Minute || (!known && len(c.m) >= maxAddresses) {
		for k, s := range c.m {
			if now.After(c.limit.ForgetAt(s)) {
				delete(c.m, k)
			}
		}
		c.pruned = now
	}
	s, ok := c.limit.Reserve(prev, now)
	if known || len(c.m) < maxAddresses {
		c.m[key] = s
	}
	return s, ok
}

// refund gives back the attempt of a successful sign-in, so that people
// who sign in correctly behind one address do not use up its attempts.
func (c *memCounter) refund(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.m[key]; ok && s.Count > 0 {
		s.Count--
		c.m[key] = s
	}
}
