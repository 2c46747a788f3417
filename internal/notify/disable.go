package notify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// recentRuns is how many of a flow's newest runs DisableFailing reads to
// find its newest finished one.
const recentRuns = 20

// DisableFailing turns off the enabled flows that have failed continuously
// for DisableAfter, and tells their owners in the feed and by email (an
// owner an admin disabled is not told, but the flow is turned off). A flow
// has failed continuously when its newest finished run failed, the first
// failure after its last success (or, if it was changed or turned on
// since, after that change) is older than DisableAfter, and nothing
// succeeded in between; cancelled and unfinished runs count neither way.
// It costs a few indexed queries per enabled flow and runs once an hour.
func (n *Notifier) DisableFailing(ctx context.Context) error {
	if n.cfg.DisableAfter <= 0 {
		return nil
	}
	now := n.cfg.Now()
	cutoff := now.Add(-n.cfg.DisableAfter)
	flows, err := n.st.ListFlows(ctx, store.FlowFilter{})
	if err != nil {
		return fmt.Errorf("auto-disable: %w", err)
	}
	var errs []error
	for _, f := range flows {
		// A flow saved or turned on within the period has not failed
		// for all of it.
		if !f.Enabled || f.UpdatedAt.After(cutoff) {
			continue
		}
		first, last, failing, err := n.failingSince(ctx, f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !failing || first.CreatedAt.After(cutoff) {
			continue
		}
		if err := n.turnOff(ctx, f, first, last, now); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// failingSince reports whether a flow's newest finished run failed, and
// returns the first failed run after its last success (and after its last
// change) and the newest failed run.
func (n *Notifier) failingSince(ctx context.Context, f store.Flow) (first, last store.Run, failing bool, err error) {
	recent, err := n.st.ListRuns(ctx, store.RunFilter{FlowID: f.ID, Limit: recentRuns})
	if err != nil {
		return first, last, false, fmt.Errorf("auto-disable flow %d: %w", f.ID, err)
	}
	found := false
	for _, r := range recent {
		if r.Status == store.RunSucceeded {
			return first, last, false, nil
		}
		if r.Status == store.RunFailed {
			last, found = r, true
			break
		}
	}
	if !found {
		return first, last, false, nil
	}
	var okID int64
	ok, err := n.st.ListRuns(ctx, store.RunFilter{FlowID: f.ID, Status: store.RunSucceeded, Limit: 1})
	if err != nil {
		return first, last, false, fmt.Errorf("auto-disable flow %d: %w", f.ID, err)
	}
	if len(ok) > 0 {
		okID = ok[0].ID
	}
	fails, err := n.st.ListRuns(ctx, store.RunFilter{FlowID: f.ID, Status: store.RunFailed, AfterID: okID, Since: f.UpdatedAt, Oldest: true, Limit: 1})
	if err != nil {
		return first, last, false, fmt.Errorf("auto-disable flow %d: %w", f.ID, err)
	}
	if len(fails) == 0 {
		return first, last, false, nil
	}
	return fails[0], last, true, nil
}

// turnOff turns a flow off and tells its owner, unless the owner is
// disabled.
func (n *Notifier) turnOff(ctx context.Context, f store.Flow, first, last store.Run, now time.Time) error {
	owner, err := n.st.GetUser(ctx, f.OwnerID)
	if err != nil {
		return fmt.Errorf("auto-disable flow %d: %w", f.ID, err)
	}
	m, err := n.turnedOffMail(owner, f, first.CreatedAt, last.ID, now)
	if err != nil {
		return err
	}
	off, err := n.st.TurnOffFlow(ctx, f.ID, f.UpdatedAt)
	if err != nil {
		return fmt.Errorf("auto-disable flow %d: %w", f.ID, err)
	}
	if !off {
		// Changed since it was read, or another node turned it off.
		return nil
	}
	n.log.Warn("turned off a flow that keeps failing", "flow", f.ID, "name", f.Name, "failing_since", first.CreatedAt, "latest_run", last.ID, "owner_disabled", !told(owner))
	if !told(owner) {
		return nil
	}
	if _, err := n.st.EnqueueMail(ctx, m); err != nil {
		return fmt.Errorf("auto-disable flow %d: %w", f.ID, err)
	}
	_, err = n.st.AddNotification(ctx, store.Notification{
		UserID: owner.ID, Kind: store.NoteFlowTurnedOff, FlowID: f.ID, RunID: last.ID,
		Title: fmt.Sprintf("%s was turned off", f.Name),
		Body: fmt.Sprintf("Every run has failed since %s, so Sluice turned the flow off. Fix it, then turn it on with: %s",
			first.CreatedAt.UTC().Format(time.RFC1123), TurnedOffCommands(f.Name)[1]),
	})
	if err != nil {
		return fmt.Errorf("auto-disable flow %d: %w", f.ID, err)
	}
	return nil
}
