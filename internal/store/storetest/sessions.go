package storetest

import (
	"testing"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// newSession stores a session of the user that ends idle after idle and
// for good after abs, and returns it as stored.
func newSession(t *testing.T, st store.Store, userID int64, hash string, now time.Time, idle, abs time.Duration) store.Session {
	t.Helper()
	s := store.Session{Hash: []byte(hash), UserID: userID, CreatedAt: now, IdleUntil: now.Add(idle), ExpiresAt: now.Add(abs)}
	requireNoError(t, st.CreateSession(t.Context(), s), "CreateSession("+hash+")")
	return s
}

// requireNoSession checks that the session with the hash is gone.
func requireNoSession(t *testing.T, st store.Store, hash, what string) {
	t.Helper()
	_, _, err := st.GetSession(t.Context(), []byte(hash))
	requireErrorIs(t, err, store.ErrNotFound, what)
}

// sessionTests check the portal's sessions and the flow list's health.
var sessionTests = []test{
	{"CreateGetExtendDelete", func(t *testing.T, open opener) {
		st := open(t)
		ctx := t.Context()
		u := createUser(t, st, "")
		now := time.Now().UTC().Truncate(time.Microsecond)
		want := newSession(t, st, u.ID, "s1", now, time.Hour, 12*time.Hour)
		got, gu, err := st.GetSession(ctx, []byte("s1"))
		requireNoError(t, err, "GetSession")
		if string(got.Hash) != "s1" || got.UserID != u.ID || gu.ID != u.ID || gu.Email != u.Email {
			t.Fatalf("GetSession = %+v, user %+v; want hash s1 of user %d", got, gu, u.ID)
		}
		requireTime(t, got.CreatedAt, want.CreatedAt, "created_at")
		requireTime(t, got.IdleUntil, want.IdleUntil, "idle_until")
		requireTime(t, got.ExpiresAt, want.ExpiresAt, "expires_at")
		if !got.Active(now) || got.Active(want.IdleUntil) {
			t.Fatalf("Active: want active at %v and ended at idle_until %v", now, want.IdleUntil)
		}

		requireNoError(t, st.ExtendSession(ctx, []byte("s1"), now.Add(2*time.Hour)), "ExtendSession")
		got, _, err = st.GetSession(ctx, []byte("s1"))
		requireNoError(t, err, "GetSession after extend")
		requireTime(t, got.IdleUntil, now.Add(2*time.Hour), "idle_until after extend")
		// Never past the absolute end.
		requireNoError(t, st.ExtendSession(ctx, []byte("s1"), now.Add(48*time.Hour)), "ExtendSession past the end")
		got, _, err = st.GetSession(ctx, []byte("s1"))
		requireNoError(t, err, "GetSession after a long extend")
		requireTime(t, got.IdleUntil, want.ExpiresAt, "idle_until capped at expires_at")

		requireErrorIs(t, st.ExtendSession(ctx, []byte("nope"), now), store.ErrNotFound, "ExtendSession(unknown)")
		requireNoSession(t, st, "nope", "GetSession(unknown)")
		requireNoError(t, st.DeleteSession(ctx, []byte("s1")), "DeleteSession")
		requireNoSession(t, st, "s1", "GetSession after DeleteSession")
		requireNoError(t, st.DeleteSession(ctx, []byte("s1")), "DeleteSession twice")
	}},
	{"CreateCapsIdleAndPrunesIdle", func(t *testing.T, open opener) {
		st := open(t)
		u := createUser(t, st, "")
		now := time.Now().UTC().Truncate(time.Microsecond)
		old := newSession(t, st, u.ID, "old", now.Add(-3*time.Hour), time.Hour, 12*time.Hour)
		// Idle longer than absolute: capped.
		newSession(t, st, u.ID, "capped", now, 24*time.Hour, time.Hour)
		got, _, err := st.GetSession(t.Context(), []byte("capped"))
		requireNoError(t, err, "GetSession(capped)")
		requireTime(t, got.IdleUntil, now.Add(time.Hour), "idle_until capped at expires_at on create")
		if old.Active(now) {
			t.Fatal("the old session should be idle")
		}
		requireNoSession(t, st, "old", "a session idle before the next sign-in")
	}},
	{"PasswordAndDisableEndSessions", func(t *testing.T, open opener) {
		st := open(t)
		ctx := t.Context()
		u, other := createUser(t, st, ""), createUser(t, st, "")
		now := time.Now().UTC()
		newSession(t, st, u.ID, "a", now, time.Hour, 12*time.Hour)
		newSession(t, st, u.ID, "b", now, time.Hour, 12*time.Hour)
		newSession(t, st, other.ID, "c", now, time.Hour, 12*time.Hour)
		_, err := st.SetUserPassword(ctx, u.ID, "new-hash")
		requireNoError(t, err, "SetUserPassword")
		requireNoSession(t, st, "a", "session a after a password reset")
		requireNoSession(t, st, "b", "session b after a password reset")
		if _, _, err := st.GetSession(ctx, []byte("c")); err != nil {
			t.Fatalf("another user's session after a password reset: %v", err)
		}

		newSession(t, st, u.ID, "d", now, time.Hour, 12*time.Hour)
		_, err = st.SetUserDisabled(ctx, u.ID, false)
		requireNoError(t, err, "SetUserDisabled(false)")
		if _, _, err := st.GetSession(ctx, []byte("d")); err != nil {
			t.Fatalf("a session after enabling an enabled user: %v", err)
		}
		_, err = st.SetUserDisabled(ctx, u.ID, true)
		requireNoError(t, err, "SetUserDisabled(true)")
		requireNoSession(t, st, "d", "session after a disable")
		if _, _, err := st.GetSession(ctx, []byte("c")); err != nil {
			t.Fatalf("another user's session after a disable: %v", err)
		}
	}},
	{"FlowsHealth", func(t *testing.T, open opener) {
		st := open(t)
		ctx := t.Context()
		u := createUser(t, st, "")
		busy := createFlow(t, st, u.ID, randomName("busy"), nil)
		idle := createFlow(t, st, u.ID, randomName("idle"), nil)
		quiet := createFlow(t, st, u.ID, randomName("quiet"), nil)
		finishRun(t, st, busy.ID, store.RunFailed)
		finishRun(t, st, busy.ID, store.RunSucceeded)
		finishRun(t, st, busy.ID, store.RunFailed)
		last := finishRun(t, st, busy.ID, store.RunSucceeded)
		old := finishRun(t, st, quiet.ID, store.RunFailed)

		hs, err := st.FlowsHealth(ctx, []int64{busy.ID, idle.ID}, time.Now().Add(-time.Hour))
		requireNoError(t, err, "FlowsHealth")
		got := map[int64]store.FlowHealth{}
		for _, h := range hs {
			got[h.FlowID] = h
		}
		if len(hs) != 2 {
			t.Fatalf("FlowsHealth returned %d flows, want 2: %+v", len(hs), hs)
		}
		if h := got[busy.ID]; h.LastRunID != last.ID || h.LastStatus != store.RunSucceeded || h.Failed != 2 {
			t.Fatalf("busy flow: %+v, want last run %d succeeded and 2 failed", h, last.ID)
		}
		requireTime(t, got[busy.ID].LastRunAt, last.CreatedAt, "last run's created_at")
		if h := got[idle.ID]; h.LastRunID != 0 || h.LastStatus != "" || h.Failed != 0 {
			t.Fatalf("flow without runs: %+v, want zero", h)
		}
		// Failures before since are not counted.
		hs, err = st.FlowsHealth(ctx, []int64{quiet.ID}, time.Now().Add(time.Minute))
		requireNoError(t, err, "FlowsHealth(since later)")
		if len(hs) != 1 || hs[0].Failed != 0 || hs[0].LastRunID != old.ID || hs[0].LastStatus != store.RunFailed {
			t.Fatalf("FlowsHealth(since later) = %+v, want run %d failed and 0 failures since", hs, old.ID)
		}
		if hs, err := st.FlowsHealth(ctx, nil, time.Now()); err != nil || len(hs) != 0 {
			t.Fatalf("FlowsHealth(no flows) = %v, %v; want none", hs, err)
		}
	}},
}

// resubmittedFromTests check RunFilter.ResubmittedFrom, which the run
// page uses to say a run was resubmitted and link the newer run.
var resubmittedFromTests = []test{
	{"ListsTheResubmits", func(t *testing.T, open opener) {
		st := open(t)
		ctx := t.Context()
		u := createUser(t, st, "")
		f := createFlow(t, st, u.ID, randomName("f"), nil)
		orig := finishRun(t, st, f.ID, store.RunFailed)
		other := finishRun(t, st, f.ID, store.RunFailed)
		var want []int64
		for range 2 {
			r, _, err := st.ResubmitRun(ctx, store.NewRun{FlowID: f.ID, FlowVersion: 1, TriggerType: "resubmit", ResubmittedFrom: &orig.ID})
			requireNoError(t, err, "ResubmitRun")
			want = append([]int64{r.ID}, want...)
		}
		if _, _, err := st.ResubmitRun(ctx, store.NewRun{FlowID: f.ID, FlowVersion: 1, TriggerType: "resubmit", ResubmittedFrom: &other.ID}); err != nil {
			t.Fatal(err)
		}
		runs, err := st.ListRuns(ctx, store.RunFilter{ResubmittedFrom: orig.ID})
		requireNoError(t, err, "ListRuns(ResubmittedFrom)")
		requireIDs(t, runs, want, "runs resubmitted from the original, newest first")
	}},
}
