package notify_test

import (
	"testing"
	"time"

	"github.com/sluice/sluice/internal/notify"
)

// TestOff checks that Off, the value SLUICE_REPAIR_GRACE=0 or off and
// SLUICE_DISABLE_AFTER=off give, turns each setting off rather than
// meaning its default: the first repair-tip email goes out at once, and a
// flow that keeps failing is never turned off.
func TestOff(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *notify.Config) { c.Grace, c.DisableAfter = notify.Off, notify.Off })
	b.fail(t, b.flow.ID, diagnosisError)
	// A second after the failure: with the default grace this sends
	// nothing (the outbox is due at the real time it was written).
	b.clock.Set(time.Now().Add(time.Second))
	b.pass(t)
	if _, err := b.smtp.WaitMessages(1, 10*time.Second); err != nil {
		t.Fatalf("with the grace off, the first repair-tip email did not go out at once: %v", err)
	}
	b.clock.Advance(10 * notify.DefaultDisableAfter)
	if err := b.n.DisableFailing(b.ctx); err != nil {
		t.Fatal(err)
	}
	b.pass(t)
	if f, err := b.st.GetFlow(b.ctx, b.flow.ID); err != nil || !f.Enabled {
		t.Fatalf("with DisableAfter off, a failing flow was turned off: %+v %v", f, err)
	}
	for _, m := range b.outbox(t) {
		if m.Kind == notify.MailFlowTurnedOff {
			t.Fatalf("with DisableAfter off, a turned-off email was queued: %+v", m)
		}
	}
}
