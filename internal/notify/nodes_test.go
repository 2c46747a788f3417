package notify_test

import (
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/notify"
	"github.com/sluice/sluice/internal/store"
)

// otherNode returns a second notifier on the bundle's store, mailer and
// clock, as another node sharing the database runs.
func (b *bundle) otherNode(t *testing.T) *notify.Notifier {
	t.Helper()
	n, err := notify.New(notify.Config{Store: b.st, Mailer: b.sender, From: "sluice@example.com", BaseURL: b.web.URL, Key: b.key,
		Logger: slog.New(slog.DiscardHandler), Now: b.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDeadSenderMailRetriedAfterLease claims a message as a sender that
// dies mid-send would: no other sender takes it while the lease runs, and
// one sends it, once, after the lease ends.
func TestDeadSenderMailRetriedAfterLease(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m, err := b.st.EnqueueMail(b.ctx, store.Mail{To: []string{"ann@example.com"}, Subject: "tip", Text: "t", Kind: notify.MailRepairTip})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	lease := now.Add(5 * time.Minute)
	if got, err := b.st.ClaimMail(b.ctx, now, lease, 10); err != nil || len(got) != 1 {
		t.Fatalf("the dying sender's claim: %+v %v", got, err)
	}
	// The dying sender's node stops here. Another node passes during the
	// lease: it must not send the message the first may be sending.
	b.clock.Set(lease.Add(-time.Second))
	if err := b.n.DeliverDue(b.ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.smtp.Messages(); len(got) != 0 {
		t.Fatalf("a leased message was sent by another node: %d messages", len(got))
	}
	b.clock.Set(lease.Add(time.Second))
	if err := b.n.DeliverDue(b.ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.smtp.WaitMessages(1, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := b.n.DeliverDue(b.ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.smtp.Messages(); len(got) != 1 {
		t.Fatalf("the message was sent %d times after its lease, want once", len(got))
	}
	if got := b.outbox(t)[0]; got.ID != m.ID || got.Status != store.MailSent {
		t.Fatalf("outbox after the retry: %+v", got)
	}
}

// TestTwoNodesSendMailOnce delivers one outbox from two notifiers at once,
// as two nodes on one store do: every message reaches the SMTP server
// once.
func TestTwoNodesSendMailOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const messages = 12
	for i := range messages {
		if _, err := b.st.EnqueueMail(b.ctx, store.Mail{To: []string{"ann@example.com"}, Subject: fmt.Sprintf("m%d", i), Text: "t", Kind: notify.MailRepairTip}); err != nil {
			t.Fatal(err)
		}
	}
	b.clock.Set(time.Now())
	other := b.otherNode(t)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, n := range []*notify.Notifier{b.n, other} {
		wg.Go(func() {
			<-start
			if err := n.DeliverDue(b.ctx); err != nil {
				t.Error(err)
			}
		})
	}
	close(start)
	wg.Wait()
	got := b.smtp.Messages()
	seen := map[string]int{}
	for _, m := range got {
		seen[m.Subject]++
	}
	if len(got) != messages || len(seen) != messages {
		t.Fatalf("two nodes sent %d messages (%d distinct), want %d once each: %v", len(got), len(seen), messages, seen)
	}
}

// TestTwoNodesOneDigestPerPeriod runs two notifiers on one store, as two
// nodes do: once one has sent an owner's hourly digest, the other sends
// none within the hour, although it never saw that digest go out.
func TestTwoNodesOneDigestPerPeriod(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if err := b.st.SetUserSettings(b.ctx, b.owner.ID, store.UserSettings{RepairEmails: "hourly"}); err != nil {
		t.Fatal(err)
	}
	other := b.otherNode(t)
	second := b.newFlow(t, "Nightly report", b.owner.ID)
	b.fail(t, b.flow.ID, diagnosisError)
	if err := b.n.HandleEvents(b.ctx); err != nil {
		t.Fatal(err)
	}
	// The other node looks first, inside the grace: nothing to send yet.
	if err := other.SendAlerts(b.ctx); err != nil {
		t.Fatal(err)
	}
	b.clock.Advance(time.Minute)
	if err := b.n.SendAlerts(b.ctx); err != nil {
		t.Fatal(err)
	}
	if got := countKind(t, b, notify.MailRepairDigest); got != 1 {
		t.Fatalf("%d digests after the first node's pass, want 1", got)
	}
	// A new problem; the other node's pass comes within the hour.
	b.fail(t, second.ID, diagnosisError)
	if err := b.n.HandleEvents(b.ctx); err != nil {
		t.Fatal(err)
	}
	b.clock.Advance(time.Minute)
	if err := other.SendAlerts(b.ctx); err != nil {
		t.Fatal(err)
	}
	if got := countKind(t, b, notify.MailRepairDigest); got != 1 {
		t.Fatalf("the second node sent another digest within the hour: %d digests, want 1", got)
	}
	// An hour after the first, either node sends the next one.
	b.clock.Advance(time.Hour)
	if err := other.SendAlerts(b.ctx); err != nil {
		t.Fatal(err)
	}
	if got := countKind(t, b, notify.MailRepairDigest); got != 2 {
		t.Fatalf("%d digests an hour later, want 2", got)
	}
}

// countKind counts the outbox messages of a kind.
func countKind(t *testing.T, b *bundle, kind string) int {
	t.Helper()
	n := 0
	for _, m := range b.outbox(t) {
		if m.Kind == kind {
			n++
		}
	}
	return n
}
