package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// queueTests check the run queue: claiming, leases, rescue and parking.
var queueTests = []test{
	{"ClaimOnlyDue", func(t *testing.T, open opener) {
		b := setup(t, open)
		now := time.Now().UTC()
		due2 := createRun(t, b.st, b.flow.ID, now.Add(-time.Minute))
		due1 := createRun(t, b.st, b.flow.ID, now.Add(-time.Hour))
		future := createRun(t, b.st, b.flow.ID, now.Add(time.Hour))

		until := now.Add(5 * time.Minute)
		claimed, err := b.st.ClaimRuns(b.ctx, "node-a", now, until, 10)
		requireNoError(t, err, "ClaimRuns")
		requireIDSet(t, claimed, []int64{due1.ID, due2.ID}, "ClaimRuns(now)")
		for _, r := range claimed {
			if r.Status != store.RunRunning || r.LeaseOwner != "node-a" || r.FlowName != b.flow.Name || r.OwnerID != b.user.ID {
				t.Fatalf("claimed run: got %+v", r)
			}
			requireTimePtr(t, r.LeaseUntil, until, "claimed lease_until")
			requireTimePtr(t, r.StartedAt, now, "claimed started_at")
			requireSameRun(t, getRun(t, b.st, r.ID), r, "GetRun(claimed)")
		}
		if got := getRun(t, b.st, future.ID); got.Status != store.RunQueued || got.LeaseOwner != "" {
			t.Fatalf("future run after claim: got %+v", got)
		}
		again, err := b.st.ClaimRuns(b.ctx, "node-b", now, until, 10)
		requireNoError(t, err, "ClaimRuns(again)")
		requireIDs(t, again, nil, "ClaimRuns(again)")

		later, err := b.st.ClaimRuns(b.ctx, "node-b", now.Add(time.Hour), until, 10)
		requireNoError(t, err, "ClaimRuns(later)")
		requireIDs(t, later, []int64{future.ID}, "ClaimRuns(an hour later)")
	}},
	{"ClaimSaysNoSteps", func(t *testing.T, open opener) {
		// A claimed run that never recorded a step says so (the worker
		// then skips reading its steps); one parked with a step does not.
		b := setup(t, open)
		now := time.Now().UTC()
		fresh := createRun(t, b.st, b.flow.ID, now.Add(-time.Minute))
		parked := createRun(t, b.st, b.flow.ID, now.Add(-time.Hour))
		first, err := b.st.ClaimRuns(b.ctx, "w", now, now.Add(time.Minute), 1)
		requireNoError(t, err, "ClaimRuns")
		requireIDs(t, first, []int64{parked.ID}, "ClaimRuns(oldest)")
		if !first[0].NoSteps {
			t.Fatalf("claimed run %d with no step recorded: NoSteps false", parked.ID)
		}
		done := now
		step := store.Step{Key: "a", ActionID: "a", Type: "compose", Status: "succeeded", Attempts: 1, StartedAt: &done, FinishedAt: &done, Output: []byte(`1`)}
		requireNoError(t, b.st.ParkRun(b.ctx, "w", parked.ID, now.Add(-time.Second), []store.Step{step}), "ParkRun")
		again, err := b.st.ClaimRuns(b.ctx, "w", now, now.Add(time.Minute), 10)
		requireNoError(t, err, "ClaimRuns(again)")
		requireIDSet(t, again, []int64{fresh.ID, parked.ID}, "ClaimRuns(again)")
		for _, r := range again {
			if want := r.ID == fresh.ID; r.NoSteps != want {
				t.Fatalf("claimed run %d: NoSteps %t, want %t", r.ID, r.NoSteps, want)
			}
		}
	}},
	{"ClaimLimit", func(t *testing.T, open opener) {
		b := setup(t, open)
		now := time.Now().UTC()
		// Created latest-due first, so that id order and due order differ:
		// with a limit, the runs due longest are claimed first.
		var byDue []int64
		for i := range 5 {
			byDue = append([]int64{createRun(t, b.st, b.flow.ID, now.Add(-time.Duration(i+1)*time.Second)).ID}, byDue...)
		}
		first, err := b.st.ClaimRuns(b.ctx, "w", now, now.Add(time.Minute), 3)
		requireNoError(t, err, "ClaimRuns(3)")
		requireIDSet(t, first, byDue[:3], "ClaimRuns(limit 3)")
		rest, err := b.st.ClaimRuns(b.ctx, "w", now, now.Add(time.Minute), 3)
		requireNoError(t, err, "ClaimRuns(rest)")
		requireIDSet(t, rest, byDue[3:], "ClaimRuns(rest)")
	}},
	{"ClaimConcurrentlyOnce", func(t *testing.T, open opener) {
		b := setup(t, open)
		const runs, claimers = 200, 4
		now := time.Now().UTC()
		createRuns(t, b.st, b.flow.ID, runs, now.Add(-time.Second))
		var mu sync.Mutex
		claimedBy := map[int64][]string{}
		errs := make(chan error, claimers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for c := range claimers {
			owner := fmt.Sprintf("node-%d", c)
			wg.Go(func() {
				<-start
				for {
					got, err := b.st.ClaimRuns(b.ctx, owner, now, now.Add(time.Minute), 7)
					if err != nil {
						errs <- fmt.Errorf("%s: %w", owner, err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, r := range got {
						if r.LeaseOwner != owner || r.Status != store.RunRunning {
							mu.Unlock()
							errs <- fmt.Errorf("%s claimed run %d with owner %q status %q", owner, r.ID, r.LeaseOwner, r.Status)
							return
						}
						claimedBy[r.ID] = append(claimedBy[r.ID], owner)
					}
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if len(claimedBy) != runs {
			t.Fatalf("claimed %d distinct runs, want %d", len(claimedBy), runs)
		}
		for id, owners := range claimedBy {
			if len(owners) != 1 {
				t.Fatalf("run %d claimed %d times, by %v", id, len(owners), owners)
			}
			if got := getRun(t, b.st, id); got.LeaseOwner != owners[0] {
				t.Fatalf("run %d: lease owner %q, but claimed by %q", id, got.LeaseOwner, owners[0])
			}
		}
	}},
	{"ExtendLeases", func(t *testing.T, open opener) {
		b := setup(t, open)
		now := time.Now().UTC()
		mine1 := createLeasedRun(t, b.st, b.flow.ID, "me", now.Add(time.Minute))
		mine2 := createLeasedRun(t, b.st, b.flow.ID, "me", now.Add(time.Minute))
		theirs := createLeasedRun(t, b.st, b.flow.ID, "them", now.Add(time.Minute))
		queued := createRun(t, b.st, b.flow.ID, time.Time{})

		until := now.Add(10 * time.Minute)
		requireNoError(t, b.st.ExtendLeases(b.ctx, "me", []int64{mine1.ID, mine2.ID, theirs.ID, queued.ID}, until), "ExtendLeases")
		for _, r := range []store.Run{mine1, mine2} {
			requireTimePtr(t, getRun(t, b.st, r.ID).LeaseUntil, until, "extended lease_until")
		}
		got := getRun(t, b.st, theirs.ID)
		if got.LeaseOwner != "them" {
			t.Fatalf("ExtendLeases took another owner's run: %+v", got)
		}
		requireTimePtr(t, got.LeaseUntil, now.Add(time.Minute), "other owner's lease_until")
		if got := getRun(t, b.st, queued.ID); got.Status != store.RunQueued || got.LeaseUntil != nil {
			t.Fatalf("ExtendLeases changed a queued run: %+v", got)
		}
		requireNoError(t, b.st.ExtendLeases(b.ctx, "me", nil, until), "ExtendLeases(none)")

		// Extended leases are not rescued when the old lease would have expired.
		n, err := b.st.RescueRuns(b.ctx, now.Add(5*time.Minute), false)
		requireNoError(t, err, "RescueRuns")
		if n != 1 {
			t.Fatalf("RescueRuns after extend: re-queued %d, want 1 (the other owner's)", n)
		}
	}},
	{"ExtendManyLeases", func(t *testing.T, open opener) {
		b := setup(t, open)
		now := time.Now().UTC()
		var all []int64
		createRuns(t, b.st, b.flow.ID, 520, now.Add(-time.Second))
		for {
			got, err := b.st.ClaimRuns(b.ctx, "me", now, now.Add(time.Minute), 400)
			requireNoError(t, err, "ClaimRuns")
			if len(got) == 0 {
				break
			}
			all = append(all, ids(got)...)
		}
		if len(all) != 520 {
			t.Fatalf("claimed %d runs, want 520", len(all))
		}
		until := now.Add(time.Hour)
		requireNoError(t, b.st.ExtendLeases(b.ctx, "me", all, until), "ExtendLeases")
		n, err := b.st.RescueRuns(b.ctx, now.Add(30*time.Minute), false)
		requireNoError(t, err, "RescueRuns")
		if n != 0 {
			t.Fatalf("RescueRuns after extending every lease: re-queued %d, want 0", n)
		}
	}},
	{"RescueExpiredOnly", func(t *testing.T, open opener) {
		b := setup(t, open)
		now := time.Now().UTC()
		expired := createLeasedRun(t, b.st, b.flow.ID, "dead", now.Add(-time.Minute))
		live := createLeasedRun(t, b.st, b.flow.ID, "alive", now.Add(time.Minute))
		queued := createRun(t, b.st, b.flow.ID, now.Add(time.Hour))
		done := createLeasedRun(t, b.st, b.flow.ID, "alive", now.Add(-time.Minute))
		requireNoError(t, b.st.FinishRun(b.ctx, "alive", done.ID, store.RunFinish{Status: store.RunSucceeded}), "FinishRun")

		n, err := b.st.RescueRuns(b.ctx, now, false)
		requireNoError(t, err, "RescueRuns(expired)")
		if n != 1 {
			t.Fatalf("RescueRuns(expired): re-queued %d, want 1", n)
		}
		got := getRun(t, b.st, expired.ID)
		if got.Status != store.RunQueued || got.LeaseOwner != "" || got.LeaseUntil != nil {
			t.Fatalf("rescued run: got %+v", got)
		}
		if got.NextAttemptAt.After(now.Add(timeTolerance)) {
			t.Fatalf("rescued run: next_attempt_at %s is after now %s", got.NextAttemptAt, now)
		}
		if got := getRun(t, b.st, live.ID); got.Status != store.RunRunning || got.LeaseOwner != "alive" {
			t.Fatalf("live run after rescue: got %+v", got)
		}
		if got := getRun(t, b.st, queued.ID); got.Status != store.RunQueued {
			t.Fatalf("queued run after rescue: got %+v", got)
		}
		if got := getRun(t, b.st, done.ID); got.Status != store.RunSucceeded {
			t.Fatalf("finished run after rescue: got %+v", got)
		}
		// The dead worker has lost it; another claims it.
		err = b.st.SaveSteps(b.ctx, "dead", expired.ID, "a", nil)
		requireErrorIs(t, err, store.ErrLeaseLost, "SaveSteps by the dead worker")
		claimed, err := b.st.ClaimRuns(b.ctx, "new", now, now.Add(time.Minute), 10)
		requireNoError(t, err, "ClaimRuns")
		requireIDs(t, claimed, []int64{expired.ID}, "ClaimRuns after rescue")
	}},
	{"RescueAll", func(t *testing.T, open opener) {
		b := setup(t, open)
		now := time.Now().UTC()
		a := createLeasedRun(t, b.st, b.flow.ID, "x", now.Add(-time.Minute))
		c := createLeasedRun(t, b.st, b.flow.ID, "y", now.Add(time.Hour))
		waiting := createLeasedRun(t, b.st, b.flow.ID, "y", now.Add(time.Hour))
		requireNoError(t, b.st.ParkRun(b.ctx, "y", waiting.ID, now.Add(time.Hour), nil), "ParkRun")

		n, err := b.st.RescueRuns(b.ctx, now, true)
		requireNoError(t, err, "RescueRuns(all)")
		if n != 2 {
			t.Fatalf("RescueRuns(all): re-queued %d, want 2", n)
		}
		for _, r := range []store.Run{a, c} {
			if got := getRun(t, b.st, r.ID); got.Status != store.RunQueued || got.LeaseOwner != "" {
				t.Fatalf("RescueRuns(all): run %d is %+v", r.ID, got)
			}
		}
		if got := getRun(t, b.st, waiting.ID); got.Status != store.RunWaiting {
			t.Fatalf("RescueRuns(all) touched a waiting run: %+v", got)
		}
		n, err = b.st.RescueRuns(b.ctx, now, true)
		requireNoError(t, err, "RescueRuns(all, again)")
		if n != 0 {
			t.Fatalf("RescueRuns(all, again): re-queued %d, want 0", n)
		}
	}},
	{"NextDueAt", func(t *testing.T, open opener) {
		b := setup(t, open)
		now := time.Now().UTC()
		_, err := b.st.NextDueAt(b.ctx)
		requireErrorIs(t, err, store.ErrNotFound, "NextDueAt(empty)")

		createRun(t, b.st, b.flow.ID, now.Add(time.Hour))
		soon := createRun(t, b.st, b.flow.ID, now.Add(time.Minute))
		at, err := b.st.NextDueAt(b.ctx)
		requireNoError(t, err, "NextDueAt")
		requireTime(t, at, now.Add(time.Minute), "NextDueAt")

		// A waiting run counts; a running one does not.
		w := createLeasedRun(t, b.st, b.flow.ID, "w", now.Add(time.Hour))
		requireNoError(t, b.st.ParkRun(b.ctx, "w", w.ID, now.Add(30*time.Second), nil), "ParkRun")
		at, err = b.st.NextDueAt(b.ctx)
		requireNoError(t, err, "NextDueAt")
		requireTime(t, at, now.Add(30*time.Second), "NextDueAt with a waiting run")

		claimed, err := b.st.ClaimRuns(b.ctx, "w", now.Add(2*time.Hour), now.Add(3*time.Hour), 10)
		requireNoError(t, err, "ClaimRuns")
		if len(claimed) != 3 || !slices.Contains(ids(claimed), soon.ID) {
			t.Fatalf("ClaimRuns: got %v, want all three", ids(claimed))
		}
		_, err = b.st.NextDueAt(b.ctx)
		requireErrorIs(t, err, store.ErrNotFound, "NextDueAt(all running)")
	}},
	{"ParkRun", func(t *testing.T, open opener) {
		b := setup(t, open)
		now := time.Now().UTC()
		r := createLeasedRun(t, b.st, b.flow.ID, "w", now.Add(time.Minute))
		at := now.Add(10 * time.Minute)
		started := now.Add(-time.Second)
		wait := []store.Step{{Key: "delay", ActionID: "delay", Type: "delay", Status: store.StepWaiting, StartedAt: &started, NextAttemptAt: &at}}

		err := b.st.ParkRun(b.ctx, "other", r.ID, at, wait)
		requireErrorIs(t, err, store.ErrLeaseLost, "ParkRun(wrong owner)")
		steps, err := b.st.ListSteps(b.ctx, r.ID)
		requireNoError(t, err, "ListSteps")
		if len(steps) != 0 {
			t.Fatalf("ParkRun(wrong owner) wrote %d steps", len(steps))
		}

		requireNoError(t, b.st.ParkRun(b.ctx, "w", r.ID, at, wait), "ParkRun")
		got := getRun(t, b.st, r.ID)
		if got.Status != store.RunWaiting || got.LeaseOwner != "" || got.LeaseUntil != nil {
			t.Fatalf("parked run: got %+v", got)
		}
		requireTime(t, got.NextAttemptAt, at, "parked next_attempt_at")
		steps, err = b.st.ListSteps(b.ctx, r.ID)
		requireNoError(t, err, "ListSteps")
		if len(steps) != 1 || steps[0].Key != "delay" || steps[0].Status != store.StepWaiting {
			t.Fatalf("parked steps: got %+v", steps)
		}
		requireTimePtr(t, steps[0].NextAttemptAt, at, "parked step next_attempt_at")

		// The lease is released: its old owner cannot write.
		err = b.st.SaveSteps(b.ctx, "w", r.ID, "delay", nil)
		requireErrorIs(t, err, store.ErrLeaseLost, "SaveSteps after park")
		err = b.st.ParkRun(b.ctx, "w", r.ID, at, nil)
		requireErrorIs(t, err, store.ErrLeaseLost, "ParkRun twice")

		claimed, err := b.st.ClaimRuns(b.ctx, "w2", at.Add(-time.Second), at.Add(time.Minute), 10)
		requireNoError(t, err, "ClaimRuns(before due)")
		requireIDs(t, claimed, nil, "ClaimRuns before the parked run is due")
		claimed, err = b.st.ClaimRuns(b.ctx, "w2", at, at.Add(time.Minute), 10)
		requireNoError(t, err, "ClaimRuns(due)")
		requireIDs(t, claimed, []int64{r.ID}, "ClaimRuns when the parked run is due")
		// Resuming keeps the first start time.
		requireOptTime(t, claimed[0].StartedAt, r.StartedAt, "resumed started_at")
	}},
}
