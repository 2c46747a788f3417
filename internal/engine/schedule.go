package engine

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/sluice/sluice/internal/flow"
	"github.com/sluice/sluice/internal/store"
)

// scheduleLoop fires due schedule triggers. Firing moves the flow's next
// time and creates the run in one transaction guarded by the expected
// time, so with several nodes a schedule fires once.
func (e *Engine) scheduleLoop(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		e.fireDue(ctx)
		wait := time.Second
		if at, err := e.st.NextScheduleAt(ctx); err == nil {
			wait = min(wait, max(10*time.Millisecond, time.Until(at)))
		} else if !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil {
			e.log.Error("next schedule", "err", err)
		}
		timer.Reset(wait)
	}
}

// fireDue fires every schedule due now.
func (e *Engine) fireDue(ctx context.Context) {
	now := time.Now()
	due, err := e.st.DueSchedules(ctx, now)
	if err != nil {
		if ctx.Err() == nil {
			e.log.Error("due schedules", "err", err)
		}
		return
	}
	for _, sc := range due {
		if err := e.fire(ctx, sc, now); err != nil && ctx.Err() == nil {
			e.log.Error("fire schedule", "flow_id", sc.FlowID, "err", err)
		}
	}
}

// fire starts one scheduled run and moves the schedule to its next time.
// A schedule that fell behind (the server was down) fires once, not once
// per missed time.
func (e *Engine) fire(ctx context.Context, sc store.Schedule, now time.Time) error {
	f, err := e.st.GetFlow(ctx, sc.FlowID)
	if err != nil {
		return err
	}
	pl, err := e.plans.get(ctx, e.st, f.ID, f.Version)
	if err != nil {
		return err
	}
	next, err := pl.def.Trigger.Next(now)
	if err != nil {
		return err
	}
	input, err := json.Marshal(Trigger{Input: map[string]any{"scheduled_at": sc.NextFireAt.UTC().Format(time.RFC3339Nano)}})
	if err != nil {
		return err
	}
	fired, _, err := e.st.FireSchedule(ctx, f.ID, sc.NextFireAt, next, store.NewRun{
		FlowID: f.ID, FlowVersion: f.Version, TriggerType: flow.TriggerSchedule, Input: input,
	})
	if err != nil {
		return err
	}
	if fired {
		e.notify()
	}
	return nil
}
