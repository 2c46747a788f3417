package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// accountTests check account administration (disable, password reset),
// token expiry and the sign-in attempt counter.
var accountTests = []test{
	{"TokenExpiryIsKept", func(t *testing.T, open opener) {
		st := open(t)
		ctx := t.Context()
		u := createUser(t, st, "")
		exp := time.Now().Add(90 * 24 * time.Hour).UTC().Truncate(time.Microsecond)
		tok, err := st.CreateToken(ctx, store.Token{UserID: u.ID, Name: "ci", Hash: []byte("expiring"), ExpiresAt: &exp})
		requireNoError(t, err, "CreateToken(expiring)")
		requireTimePtr(t, tok.ExpiresAt, exp, "CreateToken expires_at")
		got, _, err := st.GetTokenByHash(ctx, []byte("expiring"))
		requireNoError(t, err, "GetTokenByHash")
		requireTimePtr(t, got.ExpiresAt, exp, "GetTokenByHash expires_at")
		toks, err := st.ListTokens(ctx, u.ID)
		requireNoError(t, err, "ListTokens")
		if len(toks) != 1 {
			t.Fatalf("ListTokens: got %d tokens, want 1", len(toks))
		}
		requireTimePtr(t, toks[0].ExpiresAt, exp, "ListTokens expires_at")

		forever, err := st.CreateToken(ctx, store.Token{UserID: u.ID, Name: "forever", Hash: []byte("forever")})
		requireNoError(t, err, "CreateToken(forever)")
		if forever.ExpiresAt != nil {
			t.Fatalf("CreateToken without expiry: expires_at = %v, want nil", forever.ExpiresAt)
		}
	}},
	{"DisableAndEnable", func(t *testing.T, open opener) {
		st := open(t)
		ctx := t.Context()
		u := createUser(t, st, "")
		_, err := st.CreateToken(ctx, store.Token{UserID: u.ID, Name: "t", Hash: []byte("disable-me")})
		requireNoError(t, err, "CreateToken")

		before := time.Now()
		d, err := st.SetUserDisabled(ctx, u.ID, true)
		requireNoError(t, err, "SetUserDisabled(true)")
		if d.DisabledAt == nil {
			t.Fatal("SetUserDisabled(true): disabled_at is nil")
		}
		requireBetween(t, *d.DisabledAt, before, time.Now(), "disabled_at")
		first := *d.DisabledAt
		again, err := st.SetUserDisabled(ctx, u.ID, true)
		requireNoError(t, err, "SetUserDisabled(true) twice")
		requireTimePtr(t, again.DisabledAt, first, "disabled_at after a second disable")

		// Every lookup shows it, the token's too: the API refuses on it.
		for what, get := range map[string]func() (store.User, error){
			"GetUser":        func() (store.User, error) { return st.GetUser(ctx, u.ID) },
			"GetUserByEmail": func() (store.User, error) { return st.GetUserByEmail(ctx, u.Email) },
			"GetTokenByHash": func() (store.User, error) { _, u, err := st.GetTokenByHash(ctx, []byte("disable-me")); return u, err },
		} {
			got, err := get()
			requireNoError(t, err, what)
			requireTimePtr(t, got.DisabledAt, first, what+" disabled_at")
		}

		e, err := st.SetUserDisabled(ctx, u.ID, false)
		requireNoError(t, err, "SetUserDisabled(false)")
		if e.DisabledAt != nil {
			t.Fatalf("SetUserDisabled(false): disabled_at = %v, want nil", e.DisabledAt)
		}
		_, err = st.SetUserDisabled(ctx, 424242, true)
		requireErrorIs(t, err, store.ErrNotFound, "SetUserDisabled(missing)")
	}},
	{"SetPasswordRevokesTokens", func(t *testing.T, open opener) {
		st := open(t)
		ctx := t.Context()
		u, other := createUser(t, st, ""), createUser(t, st, "")
		for i, h := range []string{"a1", "a2"} {
			_, err := st.CreateToken(ctx, store.Token{UserID: u.ID, Name: "t", Hash: []byte(h)})
			requireNoError(t, err, "CreateToken "+string(rune('0'+i)))
		}
		_, err := st.CreateToken(ctx, store.Token{UserID: other.ID, Name: "t", Hash: []byte("b1")})
		requireNoError(t, err, "CreateToken(other)")

		n, err := st.SetUserPassword(ctx, u.ID, "new-hash")
		requireNoError(t, err, "SetUserPassword")
		if n != 2 {
			t.Fatalf("SetUserPassword: revoked %d tokens, want 2", n)
		}
		got, err := st.GetUser(ctx, u.ID)
		requireNoError(t, err, "GetUser")
		if got.PasswordHash != "new-hash" {
			t.Fatalf("password hash = %q, want new-hash", got.PasswordHash)
		}
		_, _, err = st.GetTokenByHash(ctx, []byte("a1"))
		requireErrorIs(t, err, store.ErrNotFound, "GetTokenByHash(revoked)")
		_, _, err = st.GetTokenByHash(ctx, []byte("b1"))
		requireNoError(t, err, "GetTokenByHash(another user's)")
		_, err = st.SetUserPassword(ctx, 424242, "x")
		requireErrorIs(t, err, store.ErrNotFound, "SetUserPassword(missing)")
	}},
	{"ReserveAttemptDelays", func(t *testing.T, open opener) {
		st := open(t)
		ctx := t.Context()
		l := store.AttemptLimit{Free: 3, Delay: time.Second, MaxDelay: 4 * time.Second, Window: time.Hour}
		key := randomName("account:")
		now := time.Now().UTC().Truncate(time.Microsecond)
		for i := 1; i <= 2; i++ {
			s, ok, err := st.ReserveAttempt(ctx, key, now, l)
			requireNoError(t, err, "ReserveAttempt")
			if !ok || s.Count != i || !s.LockedUntil.IsZero() {
				t.Fatalf("attempt %d: got %+v allowed=%t, want count %d, allowed, not locked", i, s, ok, i)
			}
		}
		// The third attempt goes ahead and locks the key for Delay.
		s, ok, err := st.ReserveAttempt(ctx, key, now, l)
		requireNoError(t, err, "ReserveAttempt 3")
		if !ok || s.Count != 3 {
			t.Fatalf("attempt 3: got %+v allowed=%t", s, ok)
		}
		requireTime(t, s.LockedUntil, now.Add(time.Second), "attempt 3 locked_until")
		// While locked, attempts are refused and not counted.
		for range 3 {
			s, ok, err = st.ReserveAttempt(ctx, key, now.Add(500*time.Millisecond), l)
			requireNoError(t, err, "ReserveAttempt while locked")
			if ok || s.Count != 3 {
				t.Fatalf("attempt while locked: got %+v allowed=%t, want refused at count 3", s, ok)
			}
		}
		// Then the delays double, up to MaxDelay.
		at := now.Add(time.Second)
		for _, want := range []time.Duration{2 * time.Second, 4 * time.Second, 4 * time.Second} {
			s, ok, err = st.ReserveAttempt(ctx, key, at, l)
			requireNoError(t, err, "ReserveAttempt after the lock")
			if !ok {
				t.Fatalf("attempt at %v: refused, state %+v", at, s)
			}
			requireTime(t, s.LockedUntil, at.Add(want), "locked_until")
			at = s.LockedUntil
		}
		// Cleared, the key starts again; other keys are not touched.
		other := randomName("account:")
		_, _, err = st.ReserveAttempt(ctx, other, at, l)
		requireNoError(t, err, "ReserveAttempt(other)")
		requireNoError(t, st.ClearAttempts(ctx, key), "ClearAttempts")
		s, ok, err = st.ReserveAttempt(ctx, key, at, l)
		requireNoError(t, err, "ReserveAttempt after clear")
		if !ok || s.Count != 1 {
			t.Fatalf("after clear: got %+v allowed=%t, want count 1", s, ok)
		}
		s, _, err = st.ReserveAttempt(ctx, other, at, l)
		requireNoError(t, err, "ReserveAttempt(other) again")
		if s.Count != 2 {
			t.Fatalf("other key: count %d, want 2", s.Count)
		}
		// Idle for the window, a key starts again.
		s, ok, err = st.ReserveAttempt(ctx, other, at.Add(l.Window), l)
		requireNoError(t, err, "ReserveAttempt after the window")
		if !ok || s.Count != 1 {
			t.Fatalf("after the window: got %+v allowed=%t, want count 1", s, ok)
		}
	}},
	{"ReserveAttemptForgetsByEachKeysWindow", func(t *testing.T, open opener) {
		st := open(t)
		ctx := t.Context()
		long := store.AttemptLimit{Free: 5, Delay: time.Second, MaxDelay: time.Minute, Window: time.Hour}
		short := store.AttemptLimit{Free: 5, Delay: time.Second, MaxDelay: time.Minute, Window: time.Minute}
		a, b, c := randomName("account:"), randomName("link:"), randomName("link:")
		now := time.Now()
		for range 2 {
			_, _, err := st.ReserveAttempt(ctx, a, now, long)
			requireNoError(t, err, "ReserveAttempt(a)")
		}
		_, _, err := st.ReserveAttempt(ctx, b, now, short)
		requireNoError(t, err, "ReserveAttempt(b)")
		// Half an hour later a new key starts, which prunes: b is past its
		// one-minute window and goes, a is within its hour and stays.
		later := now.Add(30 * time.Minute)
		_, _, err = st.ReserveAttempt(ctx, c, later, short)
		requireNoError(t, err, "ReserveAttempt(c)")
		s, _, err := st.ReserveAttempt(ctx, a, later, long)
		requireNoError(t, err, "ReserveAttempt(a) later")
		if s.Count != 3 {
			t.Fatalf("a after a prune: count %d, want 3 (its hour has not passed)", s.Count)
		}
	}},
	{"ReserveAttemptIsAtomic", func(t *testing.T, open opener) {
		st := open(t)
		ctx := t.Context()
		// The link page's limit: 10 attempts, then a long lock.
		l := store.AttemptLimit{Free: 10, Delay: time.Hour, MaxDelay: time.Hour, Window: time.Hour}
		key := randomName("link:")
		now := time.Now()
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			allowed int
		)
		for range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, ok, err := st.ReserveAttempt(ctx, key, now, l)
				if err != nil {
					t.Errorf("ReserveAttempt: %v", err)
					return
				}
				if ok {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if allowed != l.Free {
			t.Fatalf("40 concurrent attempts: %d allowed, want exactly %d", allowed, l.Free)
		}
	}},
}
