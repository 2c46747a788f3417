package notify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluice/sluice/internal/diagnose"
	"github.com/sluice/sluice/internal/store"
)

// problem is one flow's problem as a repair-tip email tells it.
type problem struct {
	alert store.Alert
	flow  store.Flow
	fail  Failure
	// after are the failures of the latest run that followed from fail.
	after []Failure
	// runGone is true when the latest failed run was pruned since.
	runGone bool
}

// SendAlerts composes the repair-tip emails that are due: for each flow
// and problem that failed since its last email, at most once per Window
// and no sooner than Grace after its first failure, unless it was
// resolved meanwhile (a later run of the flow succeeded). A flow with repair
// emails off, or an owner whose setting is never, gets none (and the
// failures are dropped from the count, so that turning emails back on
// does not report old ones); an owner with immediately gets one email per
// flow and problem; hourly and daily owners get one digest listing every
// problem at most once an hour or a day. Each email goes to the outbox in
// the transaction that marks its alerts sent, and only if no other node
// sent them first; a digest also only if no other node sent the owner one
// within its period, as the store records.
func (n *Notifier) SendAlerts(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.cfg.Now()
	alerts, err := n.st.DueAlerts(ctx, now, n.cfg.Window)
	if err != nil {
		return fmt.Errorf("repair emails: %w", err)
	}
	type digest struct {
		owner    store.User
		period   time.Duration
		problems []problem
	}
	digests := map[int64]*digest{}
	var order []int64
	var errs []error
	// lastDigest caches, for this pass, when each owner last got a
	// digest (the zero time for never).
	lastDigest := map[int64]time.Time{}
	for _, a := range alerts {
		if (n.cfg.Grace > 0 && now.Sub(a.FirstFailedAt) < n.cfg.Grace) || now.Before(n.hold[a.FlowID]) {
			continue
		}
		flow, err := n.st.GetFlow(ctx, a.FlowID)
		if errors.Is(err, store.ErrNotFound) {
			continue // its alerts go with it
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fs, err := n.st.GetFlowSettings(ctx, flow.ID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		owner, err := n.st.GetUser(ctx, flow.OwnerID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		us, err := n.st.GetUserSettings(ctx, owner.ID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		resolved, err := n.resolved(ctx, a)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// A disabled owner is treated as opted out: the failures are
		// not saved up to arrive in a burst if they are enabled again.
		// A problem resolved meanwhile (a later run of the flow, such as
		// the failed run's resubmission, succeeded) is not told at all.
		if resolved || !fs.RepairEmails || us.RepairEmails == repairNever || !told(owner) {
			if resolved {
				n.log.Info("repair email dropped: the problem was resolved", "flow", a.FlowID, "step", a.Step, "code", a.Code, "latest_failed_run", a.LatestRunID)
			}
			if err := n.st.AlertSent(ctx, a.FlowID, a.Step, a.Code, a.Pending, now); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		period := time.Duration(0)
		switch us.RepairEmails {
		case repairHourly:
			period = time.Hour
		case repairDaily:
			period = 24 * time.Hour
		}
		if period > 0 {
			last, ok := lastDigest[owner.ID]
			if !ok {
				if last, err = n.st.LastDigest(ctx, owner.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
					errs = append(errs, fmt.Errorf("repair digest for user %d: %w", owner.ID, err))
					continue
				}
				lastDigest[owner.ID] = last
			}
			if !last.IsZero() && now.Sub(last) < period {
				// Not due: look again when it is, or in a few minutes in
				// case the owner changes the setting.
				n.hold[a.FlowID] = now.Add(min(last.Add(period).Sub(now), holdAtMost))
				continue
			}
		}
		p, err := n.problem(ctx, flow, a)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		switch {
		case period > 0:
			d := digests[owner.ID]
			if d == nil {
				d = &digest{owner: owner, period: period}
				digests[owner.ID] = d
				order = append(order, owner.ID)
			}
			d.problems = append(d.problems, p)
		default: // immediately, and any value this version does not know
			if err := n.sendRepair(ctx, owner, []problem{p}, MailRepairTip, 0, now); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, id := range order {
		d := digests[id]
		if err := n.sendRepair(ctx, d.owner, d.problems, MailRepairDigest, d.period, now); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// resolved reports whether an alert's problem was resolved since its
// latest failure: a later run of its flow succeeded, as `sluice problems`
// says (ongoing: false).
func (n *Notifier) resolved(ctx context.Context, a store.Alert) (bool, error) {
	runs, err := n.st.ListRuns(ctx, store.RunFilter{FlowID: a.FlowID, Status: store.RunSucceeded, AfterID: a.LatestRunID, Limit: 1})
	if err != nil {
		return false, fmt.Errorf("repair email for flow %d: %w", a.FlowID, err)
	}
	return len(runs) > 0, nil
}

// problem loads what an email says about an alert: the diagnosis of its
// latest failed run.
func (n *Notifier) problem(ctx context.Context, flow store.Flow, a store.Alert) (problem, error) {
	p := problem{alert: a, flow: flow}
	fails, anySteps, err := RunFailures(ctx, n.st, a.LatestRunID)
	if err != nil {
		return problem{}, fmt.Errorf("repair email for flow %d: %w", flow.ID, err)
	}
	if !anySteps {
		if _, err := n.st.GetRun(ctx, a.LatestRunID); errors.Is(err, store.ErrNotFound) {
			p.runGone = true
		} else if err != nil {
			return problem{}, fmt.Errorf("repair email for flow %d: %w", flow.ID, err)
		}
	}
	if root, after := RootCause(fails); len(fails) > 0 && root.Step == a.Step && root.Code == a.Code {
		p.fail, p.after = root, after
		return p, nil
	}
	for i := len(fails) - 1; i >= 0; i-- {
		if fails[i].Step == a.Step && fails[i].Code == a.Code {
			p.fail = fails[i]
			return p, nil
		}
	}
	if a.Code == runFailure().Code {
		p.fail = runFailure()
		return p, nil
	}
	p.fail = Failure{Step: a.Step, Key: a.Step, Code: a.Code, Title: "Step " + a.Step + " failed",
		WhatHappened: "Step " + a.Step + " failed (" + a.Code + ").",
		HowToFix:     "Open the run, read the error of step " + a.Step + ", fix the flow or its connection, then resubmit the run."}
	return p, nil
}

// sendRepair puts one repair-tip email in the outbox and marks its
// alerts sent; with a period it is a digest, which the store also records
// as the owner's last and queues only if no other node sent the owner one
// within the period.
func (n *Notifier) sendRepair(ctx context.Context, owner store.User, problems []problem, kind string, period time.Duration, now time.Time) error {
	m, err := n.repairMail(owner, problems, kind, now)
	if err != nil {
		return err
	}
	alerts := make([]store.Alert, len(problems))
	for i, p := range problems {
		alerts[i] = p.alert
	}
	var queued bool
	if period > 0 {
		queued, err = n.st.QueueDigestMail(ctx, owner.ID, period, m, alerts, now)
	} else {
		queued, err = n.st.QueueAlertMail(ctx, m, alerts, now)
	}
	if err != nil {
		return fmt.Errorf("repair email to user %d: %w", owner.ID, err)
	}
	if !queued {
		n.log.Info("repair email already sent by another node", "user", owner.ID, "kind", kind)
		return nil
	}
	n.log.Info("repair email queued", "user", owner.ID, "kind", kind, "problems", len(problems))
	return nil
}

// link returns the URL of a signed link for the owner.
func (n *Notifier) link(purpose string, runID, userID int64, now time.Time) string {
	return n.cfg.BaseURL + "/r/" + SignLink(n.cfg.Key, purpose, runID, userID, now.Add(n.cfg.LinkTTL))
}

// shellQuote quotes s for a POSIX shell when it needs it
// (diagnose.ShellQuote).
func shellQuote(s string) string { return diagnose.ShellQuote(s) }
