package signin_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluice/sluice/internal/auth"
	"github.com/sluice/sluice/internal/signin"
	"github.com/sluice/sluice/internal/store"
	"github.com/sluice/sluice/internal/store/sqlite"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const password = "correct horse battery"

type bundle struct {
	st   *sqlite.Store
	user store.User
	// hashes counts the hashes checked against, by hash.
	mu     sync.Mutex
	hashes map[string]int
}

func setup(t *testing.T) *bundle {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "sluice.db"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	hash, err := auth.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(t.Context(), store.User{Email: "Ann@example.com", PasswordHash: hash, Role: store.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	return &bundle{st: st, user: u, hashes: map[string]int{}}
}

// checker returns a Checker on b's store (a node) that counts hashes.
func (b *bundle) checker(c signin.Config) *signin.Checker {
	c.Store = b.st
	c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	k := signin.New(c)
	signin.CountHashes(k, func(h string) {
		b.mu.Lock()
		b.hashes[h]++
		b.mu.Unlock()
	})
	return k
}

func (b *bundle) total() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, c := range b.hashes {
		n += c
	}
	return n
}

func TestUnknownEmailChecksTheDummyHash(t *testing.T) {
	t.Parallel()
	b := setup(t)
	k := b.checker(signin.Config{})
	ctx := t.Context()

	_, err := k.Check(ctx, signin.Attempt{Email: "nobody@example.com", Password: "wrong password", RemoteAddr: "192.0.2.1:1000"})
	if !errors.Is(err, signin.ErrInvalid) {
		t.Fatalf("unknown email: err = %v, want ErrInvalid", err)
	}
	_, err = k.Check(ctx, signin.Attempt{Email: "ann@example.com", Password: "wrong password", RemoteAddr: "192.0.2.1:1000"})
	if !errors.Is(err, signin.ErrInvalid) {
		t.Fatalf("wrong password: err = %v, want ErrInvalid", err)
	}
	// One argon2id check each: the unknown email against the dummy hash,
	// the known one against its own.
	want := map[string]int{signin.DummyHash(k): 1, b.user.PasswordHash: 1}
	if fmt.Sprint(b.hashes) != fmt.Sprint(want) {
		t.Fatalf("hashes checked: %v, want the dummy and the user's once each", b.hashes)
	}

	u, err := k.Check(ctx, signin.Attempt{Email: " ANN@example.com ", Password: password, RemoteAddr: "192.0.2.1:1000"})
	if err != nil || u.ID != b.user.ID {
		t.Fatalf("right password: got user %d, err %v", u.ID, err)
	}
}

func TestAccountThrottleGrowsAndRefusesBeforeHashing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	now := time.Now()
	k := b.checker(signin.Config{})
	signin.SetNow(k, func() time.Time { return now })
	ctx := t.Context()
	attempt := func(pw, addr string) error {
		_, err := k.Check(ctx, signin.Attempt{Email: "ann@example.com", Password: pw, RemoteAddr: addr})
		return err
	}
	free := signin.DefaultAccountLimit.Free
	for i := range free {
		// Each from its own address: the account is what is counted.
		if err := attempt("wrong password", fmt.Sprintf("192.0.2.%d:1", i+1)); !errors.Is(err, signin.ErrInvalid) {
			t.Fatalf("attempt %d: err = %v, want ErrInvalid", i+1, err)
		}
	}
	// 200 more, the right password among them, are refused unchecked.
	for i := range 200 {
		pw := "wrong password"
		if i == 199 {
			pw = password
		}
		err := attempt(pw, fmt.Sprintf("198.51.100.%d:1", i%250))
		var te *signin.ThrottledError
		if !errors.As(err, &te) || te.Scope != "account" || te.RetryAfter != time.Second {
			t.Fatalf("attempt %d while locked: err = %v, want the account throttled for 1s", free+i+1, err)
		}
	}
	if n := b.total(); n != free {
		t.Fatalf("%d passwords checked, want %d", n, free)
	}
	// The delay doubles with each attempt past the limit.
	for _, want := range []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second} {
		now = now.Add(time.Hour / 10)
		_ = attempt("wrong password", "203.0.113.1:1")
		var te *signin.ThrottledError
		if err := attempt("wrong password", "203.0.113.1:1"); !errors.As(err, &te) || te.RetryAfter != want {
			t.Fatalf("next lock: err = %v, want retry after %s", err, want)
		}
	}
	// A right password after the lock signs in and clears the count.
	now = now.Add(time.Hour / 10)
	if err := attempt(password, "203.0.113.1:1"); err != nil {
		t.Fatalf("right password after the lock: %v", err)
	}
	if err := attempt("wrong password", "203.0.113.1:1"); !errors.Is(err, signin.ErrInvalid) {
		t.Fatalf("after a sign-in the count starts again: err = %v, want ErrInvalid", err)
	}
}

// TestAccountThrottleIsSharedByNodes: two Checkers (two nodes) on one
// store count one account's attempts together.
func TestAccountThrottleIsSharedByNodes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	nodes := []*signin.Checker{b.checker(signin.Config{}), b.checker(signin.Config{})}
	var throttled int
	for i := range 20 {
		_, err := nodes[i%2].Check(t.Context(), signin.Attempt{Email: "ann@example.com", Password: "wrong password", RemoteAddr: "192.0.2.7:1"})
		var te *signin.ThrottledError
		if errors.As(err, &te) {
			throttled++
		}
	}
	if n := b.total(); n != signin.DefaultAccountLimit.Free {
		t.Fatalf("two nodes checked %d passwords, want %d in all", n, signin.DefaultAccountLimit.Free)
	}
	if want := 20 - signin.DefaultAccountLimit.Free; throttled != want {
		t.Fatalf("%d attempts throttled, want %d", throttled, want)
	}
}

func TestUnknownEmailsAreThrottledAlike(t *testing.T) {
	t.Parallel()
	b := setup(t)
	k := b.checker(signin.Config{})
	for _, email := range []string{"ann@example.com", "nobody@example.com"} {
		var refusedAt int
		for i := 1; i <= 10 && refusedAt == 0; i++ {
			_, err := k.Check(t.Context(), signin.Attempt{Email: email, Password: "wrong password", RemoteAddr: fmt.Sprintf("192.0.2.%d:1", i)})
			var te *signin.ThrottledError
			if errors.As(err, &te) {
				refusedAt = i
			}
		}
		if refusedAt != signin.DefaultAccountLimit.Free+1 {
			t.Fatalf("%s: first refused attempt %d, want %d", email, refusedAt, signin.DefaultAccountLimit.Free+1)
		}
	}
}

func TestAddressThrottle(t *testing.T) {
	t.Parallel()
	b := setup(t)
	k := b.checker(signin.Config{Address: store.AttemptLimit{Free: 3, Delay: time.Second, MaxDelay: time.Minute, Window: time.Hour}})
	var last error
	for i := range 4 {
		// One address trying many accounts (password spraying); an IPv6
		// client is counted by its /64.
		_, last = k.Check(t.Context(), signin.Attempt{Email: fmt.Sprintf("u%d@example.com", i), Password: "wrong password",
			RemoteAddr: fmt.Sprintf("[2001:db8::%d]:443", i+1)})
	}
	var te *signin.ThrottledError
	if !errors.As(last, &te) || te.Scope != "address" {
		t.Fatalf("4th attempt from one /64: err = %v, want the address throttled", last)
	}
	if n := b.total(); n != 3 {
		t.Fatalf("%d passwords checked, want 3", n)
	}
	// Another address is not affected.
	if _, err := k.Check(t.Context(), signin.Attempt{Email: "ann@example.com", Password: password, RemoteAddr: "[2001:db8:1::1]:443"}); err != nil {
		t.Fatalf("another address: %v", err)
	}
}

func TestLinkConcurrentAttemptsCheckAtMostTheLimit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	k := b.checker(signin.Config{})
	var (
		wg        sync.WaitGroup
		throttled atomic.Int32
	)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Different emails and addresses: only the link is common.
			_, err := k.Check(t.Context(), signin.Attempt{Email: fmt.Sprintf("guess%d@example.com", i), Password: "wrong password",
				RemoteAddr: fmt.Sprintf("192.0.2.%d:1", i+1), Link: "the-link-token", Via: "link"})
			var te *signin.ThrottledError
			if errors.As(err, &te) && te.Scope == "link" {
				throttled.Add(1)
			}
		}()
	}
	wg.Wait()
	limit := signin.DefaultLinkLimit.Free
	if n := b.total(); n != limit {
		t.Fatalf("40 concurrent attempts through one link checked %d passwords, want %d", n, limit)
	}
	if int(throttled.Load()) != 40-limit {
		t.Fatalf("%d attempts throttled, want %d", throttled.Load(), 40-limit)
	}
}

func TestDisabledUserCannotSignIn(t *testing.T) {
	t.Parallel()
	b := setup(t)
	k := b.checker(signin.Config{})
	if _, err := b.st.SetUserDisabled(t.Context(), b.user.ID, true); err != nil {
		t.Fatal(err)
	}
	_, err := k.Check(t.Context(), signin.Attempt{Email: "ann@example.com", Password: password, RemoteAddr: "192.0.2.1:1"})
	if !errors.Is(err, signin.ErrDisabled) {
		t.Fatalf("disabled user: err = %v, want ErrDisabled", err)
	}
}

func TestAddressKey(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"192.0.2.1:443":              "192.0.2.1",
		"[::ffff:192.0.2.1]:443":     "192.0.2.1",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"not an address":             "not an address",
	} {
		if got := signin.AddressKey(in); got != want {
			t.Errorf("addressKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestAddressCounterIsBounded: the in-memory per-address counter tracks
// at most MaxAddresses; a new address beyond them goes ahead untracked,
// and idle ones are forgotten to make room.
func TestAddressCounterIsBounded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	k := b.checker(signin.Config{})
	now := time.Now()
	for i := range signin.MaxAddresses {
		signin.ReserveAddress(k, fmt.Sprintf("10.%d.%d.%d:1", i>>16, (i>>8)&255, i&255), now)
	}
	allowed, tracked := signin.ReserveAddress(k, "192.0.2.1:1", now.Add(time.Second))
	if !allowed || tracked != signin.MaxAddresses {
		t.Fatalf("a new address when full: allowed=%t, tracked %d, want allowed and %d tracked", allowed, tracked, signin.MaxAddresses)
	}
	later := now.Add(signin.DefaultAddressLimit.Window + time.Minute)
	if allowed, tracked = signin.ReserveAddress(k, "192.0.2.1:1", later); !allowed || tracked != 1 {
		t.Fatalf("after the window: allowed=%t, tracked %d, want the idle ones forgotten", allowed, tracked)
	}
}
