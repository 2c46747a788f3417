package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// pendingAlert counts one failure into an alert of a new flow of the
// user and returns it as DueAlerts reads it.
func pendingAlert(t *testing.T, st store.Store, userID int64, at time.Time) store.Alert {
	t.Helper()
	f := createFlow(t, st, userID, "", nil)
	requireNoError(t, st.CountAlert(t.Context(), f.ID, "call", "http.500", 1, at), "CountAlert")
	due, err := st.DueAlerts(t.Context(), at, time.Hour)
	requireNoError(t, err, "DueAlerts")
	for _, a := range due {
		if a.FlowID == f.ID {
			return a
		}
	}
	t.Fatalf("no due alert for flow %d", f.ID)
	return store.Alert{}
}

// digestMail is a digest for the user.
func digestMail(u store.User) store.Mail {
	return store.Mail{To: []string{u.Email}, Subject: "Your hourly digest", Text: "t", HTML: "h", Kind: "repair_digest"}
}

// countDigests counts the digests in the outbox.
func countDigests(t *testing.T, st store.Store) int {
	t.Helper()
	all, err := st.ListMail(t.Context(), "", 1000)
	requireNoError(t, err, "ListMail")
	n := 0
	for _, m := range all {
		if m.Kind == "repair_digest" {
			n++
		}
	}
	return n
}

// digestTests check that a user's last digest is kept in the store and
// that a digest is queued once per period however many nodes notify.
var digestTests = []test{
	{"OncePerPeriod", func(t *testing.T, open opener) {
		b := setup(t, open)
		_, err := b.st.LastDigest(b.ctx, b.user.ID)
		requireErrorIs(t, err, store.ErrNotFound, "LastDigest(never sent)")

		at := time.Now().UTC().Add(-3 * time.Hour)
		ok, err := b.st.QueueDigestMail(b.ctx, b.user.ID, time.Hour, digestMail(b.user), []store.Alert{pendingAlert(t, b.st, b.user.ID, at)}, at)
		requireNoError(t, err, "QueueDigestMail(first)")
		if !ok || countDigests(t, b.st) != 1 {
			t.Fatalf("QueueDigestMail(first): queued %v, %d digests in the outbox, want 1", ok, countDigests(t, b.st))
		}
		last, err := b.st.LastDigest(b.ctx, b.user.ID)
		requireNoError(t, err, "LastDigest")
		requireTime(t, last, at, "LastDigest after the first digest")

		// Within the period: refused, nothing queued, the alert still
		// pending for the next digest.
		within := at.Add(59 * time.Minute)
		a := pendingAlert(t, b.st, b.user.ID, within)
		ok, err = b.st.QueueDigestMail(b.ctx, b.user.ID, time.Hour, digestMail(b.user), []store.Alert{a}, within)
		requireNoError(t, err, "QueueDigestMail(within the period)")
		if ok || countDigests(t, b.st) != 1 {
			t.Fatalf("QueueDigestMail(within the period): queued %v, %d digests in the outbox, want 1", ok, countDigests(t, b.st))
		}
		last, err = b.st.LastDigest(b.ctx, b.user.ID)
		requireNoError(t, err, "LastDigest")
		requireTime(t, last, at, "LastDigest after a refused digest")
		if due := mustDueAlerts(t, b.st, within, time.Hour); len(due) != 1 || due[0].FlowID != a.FlowID || due[0].Pending != 1 {
			t.Fatalf("alerts after a refused digest: %+v", due)
		}

		// A period later: queued, and the other user's digest is apart.
		later := at.Add(time.Hour)
		ok, err = b.st.QueueDigestMail(b.ctx, b.user.ID, time.Hour, digestMail(b.user), []store.Alert{a}, later)
		requireNoError(t, err, "QueueDigestMail(a period later)")
		if !ok || countDigests(t, b.st) != 2 {
			t.Fatalf("QueueDigestMail(a period later): queued %v, %d digests in the outbox, want 2", ok, countDigests(t, b.st))
		}
		other := createUser(t, b.st, "")
		ok, err = b.st.QueueDigestMail(b.ctx, other.ID, 24*time.Hour, digestMail(other), []store.Alert{pendingAlert(t, b.st, other.ID, later)}, later)
		requireNoError(t, err, "QueueDigestMail(other user)")
		if !ok {
			t.Fatal("QueueDigestMail(other user): refused because of another user's digest")
		}
		last, err = b.st.LastDigest(b.ctx, b.user.ID)
		requireNoError(t, err, "LastDigest")
		requireTime(t, last, later, "LastDigest after the second digest")
	}},
	{"OnceConcurrent", func(t *testing.T, open opener) {
		// Several nodes each read other alerts of one user (a failure
		// counted between their reads) and send the digest at once: one
		// digest goes out.
		b := setup(t, open)
		const nodes = 6
		at := time.Now().UTC()
		alerts := make([]store.Alert, nodes)
		for i := range alerts {
			alerts[i] = pendingAlert(t, b.st, b.user.ID, at)
		}
		var mu sync.Mutex
		queued := 0
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range nodes {
			wg.Go(func() {
				<-start
				ok, err := b.st.QueueDigestMail(b.ctx, b.user.ID, time.Hour, digestMail(b.user), alerts[i:i+1], at.Add(time.Duration(i)*time.Millisecond))
				if err != nil {
					t.Errorf("QueueDigestMail #%d: %v", i, err)
				}
				if ok {
					mu.Lock()
					queued++
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
		if queued != 1 || countDigests(t, b.st) != 1 {
			t.Fatalf("%d nodes at once: %d queued a digest, %d digests in the outbox, want 1", nodes, queued, countDigests(t, b.st))
		}
	}},
}
