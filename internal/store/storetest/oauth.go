package storetest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// oauthTests check OAuth2 sign-ins in progress and the compare-and-swap
// of a connection's secret that saves their tokens.
var oauthTests = []test{
	{"SecretCompareAndSwap", func(t *testing.T, open opener) {
		b := setup(t, open)
		c := createConnection(t, b.st, b.user.ID, "crm")
		_, err := b.st.SetConnectionHealth(b.ctx, c.ID, store.HealthOK, "", time.Now())
		requireNoError(t, err, "SetConnectionHealth")
		ok, err := b.st.SetConnectionSecret(b.ctx, c.ID, []byte("not it"), []byte("new"))
		requireNoError(t, err, "SetConnectionSecret(stale)")
		if ok {
			t.Fatal("SetConnectionSecret with a stale old secret replaced it")
		}
		ok, err = b.st.SetConnectionSecret(b.ctx, c.ID, c.Secret, []byte("new"))
		requireNoError(t, err, "SetConnectionSecret")
		if !ok {
			t.Fatal("SetConnectionSecret with the current secret did not replace it")
		}
		got, err := b.st.GetConnection(b.ctx, c.ID)
		requireNoError(t, err, "GetConnection")
		if !bytes.Equal(got.Secret, []byte("new")) || got.Health != store.HealthOK {
			t.Fatalf("after SetConnectionSecret: secret %q health %s, want new and ok (unchanged)", got.Secret, got.Health)
		}
		requireTime(t, got.UpdatedAt, c.UpdatedAt, "updated_at")
		_, err = b.st.SetConnectionSecret(b.ctx, c.ID+1000, nil, []byte("x"))
		requireErrorIs(t, err, store.ErrNotFound, "SetConnectionSecret(missing)")
	}},
	{"StateClaimedOnce", func(t *testing.T, open opener) {
		b := setup(t, open)
		c := createConnection(t, b.st, b.user.ID, "crm")
		exp := time.Now().Add(10 * time.Minute)
		o, err := b.st.CreateOAuthState(b.ctx, store.OAuthState{Hash: "h1", UserID: b.user.ID, ConnectionID: c.ID, Verifier: []byte{1, 2}, Via: "cli", ExpiresAt: exp})
		requireNoError(t, err, "CreateOAuthState")
		if o.ID == 0 || o.Status != store.OAuthPending || o.Via != "cli" || !bytes.Equal(o.Verifier, []byte{1, 2}) {
			t.Fatalf("CreateOAuthState: got %+v", o)
		}
		requireTime(t, o.ExpiresAt, exp, "expires_at")
		_, err = b.st.CreateOAuthState(b.ctx, store.OAuthState{Hash: "h1", UserID: b.user.ID, ConnectionID: c.ID, Verifier: []byte{1}, Via: "cli", ExpiresAt: exp})
		requireErrorIs(t, err, store.ErrConflict, "CreateOAuthState(same hash)")

		_, err = b.st.ClaimOAuthState(b.ctx, "nope", time.Now())
		requireErrorIs(t, err, store.ErrNotFound, "ClaimOAuthState(unknown)")
		got, err := b.st.ClaimOAuthState(b.ctx, "h1", time.Now())
		requireNoError(t, err, "ClaimOAuthState")
		if got.ID != o.ID || got.Status != store.OAuthClaimed || got.UserID != b.user.ID || got.ConnectionID != c.ID {
			t.Fatalf("ClaimOAuthState: got %+v", got)
		}
		again, err := b.st.ClaimOAuthState(b.ctx, "h1", time.Now())
		requireErrorIs(t, err, store.ErrConflict, "ClaimOAuthState(again)")
		if again.ID != o.ID {
			t.Fatalf("a refused claim returns the sign-in it refused: got %+v", again)
		}
		requireNoError(t, b.st.FinishOAuthState(b.ctx, o.ID, store.OAuthFailed, "access_denied"), "FinishOAuthState")
		got, err = b.st.GetOAuthState(b.ctx, o.ID)
		requireNoError(t, err, "GetOAuthState")
		if got.Status != store.OAuthFailed || got.Message != "access_denied" {
			t.Fatalf("GetOAuthState after finish: %+v", got)
		}
		requireErrorIs(t, b.st.FinishOAuthState(b.ctx, o.ID+1000, store.OAuthDone, ""), store.ErrNotFound, "FinishOAuthState(missing)")

		// An expired sign-in is not claimed.
		_, err = b.st.CreateOAuthState(b.ctx, store.OAuthState{Hash: "h2", UserID: b.user.ID, ConnectionID: c.ID, Verifier: []byte{3}, Via: "portal", ExpiresAt: time.Now().Add(time.Minute)})
		requireNoError(t, err, "CreateOAuthState(h2)")
		_, err = b.st.ClaimOAuthState(b.ctx, "h2", time.Now().Add(2*time.Minute))
		requireErrorIs(t, err, store.ErrConflict, "ClaimOAuthState(expired)")

		// A user keeps at most MaxOAuthStates: the oldest go.
		var last store.OAuthState
		for i := range store.MaxOAuthStates {
			last, err = b.st.CreateOAuthState(b.ctx, store.OAuthState{Hash: fmt.Sprintf("many-%d", i), UserID: b.user.ID, ConnectionID: c.ID, Verifier: []byte{4}, Via: "cli", ExpiresAt: exp})
			requireNoError(t, err, "CreateOAuthState(many)")
		}
		_, err = b.st.GetOAuthState(b.ctx, o.ID)
		requireErrorIs(t, err, store.ErrNotFound, "GetOAuthState(the oldest, beyond the cap)")
		_, err = b.st.ClaimOAuthState(b.ctx, "many-0", time.Now())
		requireNoError(t, err, "ClaimOAuthState(within the cap)")
		_, err = b.st.GetOAuthState(b.ctx, last.ID)
		requireNoError(t, err, "GetOAuthState(the newest)")

		// Deleting the connection deletes its sign-ins.
		requireNoError(t, b.st.DeleteConnection(b.ctx, c.ID), "DeleteConnection")
		_, err = b.st.GetOAuthState(b.ctx, last.ID)
		requireErrorIs(t, err, store.ErrNotFound, "GetOAuthState(after connection deleted)")
	}},
}
