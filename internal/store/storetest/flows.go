package storetest

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// flowTests check flows and their versions.
var flowTests = []test{
	{"CreateAndGet", func(t *testing.T, open opener) {
		st := open(t)
		ctx := t.Context()
		u := createUser(t, st, "")
		before := time.Now()
		f, err := st.CreateFlow(ctx, store.NewFlow{
			Name: "Daily report", OwnerID: u.ID, TriggerType: "webhook", WebhookToken: "tok-1",
			Definition: json.RawMessage(`{"name":"Daily report","actions":[{"id":"a"}]}`), Source: "name: Daily report\n",
		})
		requireNoError(t, err, "CreateFlow")
		after := time.Now()
		if f.ID == 0 || f.Name != "Daily report" || f.OwnerID != u.ID || !f.Enabled || f.Version != 1 || f.TriggerType != "webhook" || f.WebhookToken != "tok-1" {
			t.Fatalf("CreateFlow: got %+v", f)
		}
		requireBetween(t, f.CreatedAt, before, after, "CreateFlow created_at")
		requireBetween(t, f.UpdatedAt, before, after, "CreateFlow updated_at")

		got, err := st.GetFlow(ctx, f.ID)
		requireNoError(t, err, "GetFlow")
		requireSameFlow(t, got, f, "GetFlow")

		v, err := st.GetFlowVersion(ctx, f.ID, 1)
		requireNoError(t, err, "GetFlowVersion")
		if v.FlowID != f.ID || v.Version != 1 || v.Source != "name: Daily report\n" || v.CreatedBy != u.ID {
			t.Fatalf("GetFlowVersion: got %+v", v)
		}
		requireJSON(t, v.Definition, `{"name":"Daily report","actions":[{"id":"a"}]}`, "GetFlowVersion definition")
		requireBetween(t, v.CreatedAt, before, after, "GetFlowVersion created_at")
	}},
	{"NotFound", func(t *testing.T, open opener) {
		b := setup(t, open)
		_, err := b.st.GetFlow(b.ctx, b.flow.ID+1000)
		requireErrorIs(t, err, store.ErrNotFound, "GetFlow(missing)")
		_, err = b.st.GetFlowByName(b.ctx, b.user.ID, "no such flow")
		requireErrorIs(t, err, store.ErrNotFound, "GetFlowByName(missing)")
		_, err = b.st.GetFlowByName(b.ctx, b.user.ID+1000, b.flow.Name)
		requireErrorIs(t, err, store.ErrNotFound, "GetFlowByName(other owner)")
		_, err = b.st.GetFlowByWebhookToken(b.ctx, "no-such-token")
		requireErrorIs(t, err, store.ErrNotFound, "GetFlowByWebhookToken(missing)")
		_, err = b.st.GetFlowVersion(b.ctx, b.flow.ID, 2)
		requireErrorIs(t, err, store.ErrNotFound, "GetFlowVersion(missing version)")
		_, err = b.st.SetFlowEnabled(b.ctx, b.flow.ID+1000, false)
		requireErrorIs(t, err, store.ErrNotFound, "SetFlowEnabled(missing)")
		err = b.st.DeleteFlow(b.ctx, b.flow.ID+1000)
		requireErrorIs(t, err, store.ErrNotFound, "DeleteFlow(missing)")
		_, err = b.st.AddFlowVersion(b.ctx, store.NewFlowVersion{FlowID: b.flow.ID + 1000, CreatedBy: b.user.ID, TriggerType: "manual", Definition: json.RawMessage(`{}`)})
		requireErrorIs(t, err, store.ErrNotFound, "AddFlowVersion(missing)")
	}},
	{"NameUniquePerOwner", func(t *testing.T, open opener) {
		st := open(t)
		ctx := t.Context()
		a, b := createUser(t, st, ""), createUser(t, st, "")
		createFlow(t, st, a.ID, "Sync", nil)
		_, err := st.CreateFlow(ctx, store.NewFlow{Name: "Sync", OwnerID: a.ID, TriggerType: "manual", WebhookToken: randomName("wh-"), Definition: json.RawMessage(`{}`)})
		requireErrorIs(t, err, store.ErrConflict, "CreateFlow(same owner, same name)")
		// Another owner may use the name.
		fb := createFlow(t, st, b.ID, "Sync", nil)
		got, err := st.GetFlowByName(ctx, b.ID, "Sync")
		requireNoError(t, err, "GetFlowByName")
		if got.ID != fb.ID {
			t.Fatalf("GetFlowByName(b, Sync): got flow %d, want %d", got.ID, fb.ID)
		}
	}},
	{"GetByWebhookToken", func(t *testing.T, open opener) {
		b := setup(t, open)
		other := createFlow(t, b.st, b.user.ID, "", nil)
		for _, want := range []store.Flow{b.flow, other} {
			got, err := b.st.GetFlowByWebhookToken(b.ctx, want.WebhookToken)
			requireNoError(t, err, "GetFlowByWebhookToken")
			requireSameFlow(t, got, want, "GetFlowByWebhookToken")
		}
	}},
	{"GetByWebhookTokenSeesEveryChange", func(t *testing.T, open opener) {
		// A store may keep flows by token between calls (the SQLite
		// store does): each change below must show in the next lookup,
		// taken after a lookup that could have cached the old flow.
		b := setup(t, open)
		tok := b.flow.WebhookToken
		lookup := func(what string) store.Flow {
			t.Helper()
			f, err := b.st.GetFlowByWebhookToken(b.ctx, tok)
			requireNoError(t, err, "GetFlowByWebhookToken "+what)
			return f
		}
		lookup("before")
		off, err := b.st.SetFlowEnabled(b.ctx, b.flow.ID, false)
		requireNoError(t, err, "SetFlowEnabled(false)")
		requireSameFlow(t, lookup("after turning off"), off, "lookup after SetFlowEnabled(false)")
		on, err := b.st.SetFlowEnabled(b.ctx, b.flow.ID, true)
		requireNoError(t, err, "SetFlowEnabled(true)")
		requireSameFlow(t, lookup("after turning on"), on, "lookup after SetFlowEnabled(true)")
		waitPast(on.UpdatedAt)
		v2, err := b.st.AddFlowVersion(b.ctx, store.NewFlowVersion{FlowID: b.flow.ID, CreatedBy: b.user.ID, TriggerType: "webhook", Definition: json.RawMessage(`{"v":2}`)})
		requireNoError(t, err, "AddFlowVersion")
		if got := lookup("after a new version"); got.Version != 2 || got.TriggerType != "webhook" {
			t.Fatalf("lookup after AddFlowVersion: got version %d trigger %q, want 2 webhook", got.Version, got.TriggerType)
		}
		turned, err := b.st.TurnOffFlow(b.ctx, b.flow.ID, v2.UpdatedAt)
		requireNoError(t, err, "TurnOffFlow")
		if !turned || lookup("after TurnOffFlow").Enabled {
			t.Fatalf("lookup after TurnOffFlow (%t): still enabled", turned)
		}
		requireNoError(t, b.st.DeleteFlow(b.ctx, b.flow.ID), "DeleteFlow")
		_, err = b.st.GetFlowByWebhookToken(b.ctx, tok)
		requireErrorIs(t, err, store.ErrNotFound, "GetFlowByWebhookToken after DeleteFlow")
	}},
	{"GetByWebhookTokenWhileChanging", func(t *testing.T, open opener) {
		// Lookups racing with changes: once SetFlowEnabled returns, no
		// lookup that starts later sees the flow as it was.
		b := setup(t, open)
		tok := b.flow.WebhookToken
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := b.st.GetFlowByWebhookToken(b.ctx, tok); err != nil {
						t.Errorf("GetFlowByWebhookToken: %v", err)
						return
					}
				}
			}()
		}
		for i := range 100 {
			want := i%2 == 1
			_, err := b.st.SetFlowEnabled(b.ctx, b.flow.ID, want)
			requireNoError(t, err, "SetFlowEnabled")
			f, err := b.st.GetFlowByWebhookToken(b.ctx, tok)
			requireNoError(t, err, "GetFlowByWebhookToken")
			if f.Enabled != want {
				close(stop)
				wg.Wait()
				t.Fatalf("change %d: lookup after SetFlowEnabled(%t) says enabled=%t", i, want, f.Enabled)
			}
		}
		close(stop)
		wg.Wait()
	}},
	{"VersionsBumpNewestFirst", func(t *testing.T, open opener) {
		b := setup(t, open)
		editor := createUser(t, b.st, "")
		var last store.Flow
		for i := 2; i <= 4; i++ {
			waitPast(time.Now())
			f, err := b.st.AddFlowVersion(b.ctx, store.NewFlowVersion{
				FlowID: b.flow.ID, CreatedBy: editor.ID, TriggerType: "webhook",
				Definition: json.RawMessage(fmt.Sprintf(`{"v":%d}`, i)), Source: fmt.Sprintf("v%d", i),
			})
			requireNoError(t, err, "AddFlowVersion")
			if f.ID != b.flow.ID || f.Version != i || f.TriggerType != "webhook" || f.Name != b.flow.Name {
				t.Fatalf("AddFlowVersion %d: got %+v", i, f)
			}
			if !f.UpdatedAt.After(b.flow.UpdatedAt) {
				t.Fatalf("AddFlowVersion %d: updated_at %s not after %s", i, f.UpdatedAt, b.flow.UpdatedAt)
			}
			last = f
		}
		got, err := b.st.GetFlow(b.ctx, b.flow.ID)
		requireNoError(t, err, "GetFlow")
		requireSameFlow(t, got, last, "GetFlow after versions")

		vs, err := b.st.ListFlowVersions(b.ctx, b.flow.ID)
		requireNoError(t, err, "ListFlowVersions")
		if len(vs) != 4 {
			t.Fatalf("ListFlowVersions: got %d versions, want 4", len(vs))
		}
		for i, v := range vs {
			if want := 4 - i; v.Version != want || v.FlowID != b.flow.ID {
				t.Fatalf("ListFlowVersions[%d]: got flow %d version %d, want version %d", i, v.FlowID, v.Version, want)
			}
		}
		if vs[0].CreatedBy != editor.ID || vs[0].Source != "v4" {
			t.Fatalf("ListFlowVersions[0]: got %+v", vs[0])
		}
		requireJSON(t, vs[0].Definition, `{"v":4}`, "newest definition")
		v2, err := b.st.GetFlowVersion(b.ctx, b.flow.ID, 2)
		requireNoError(t, err, "GetFlowVersion(2)")
		requireJSON(t, v2.Definition, `{"v":2}`, "version 2 definition")

		none, err := b.st.ListFlowVersions(b.ctx, b.flow.ID+1000)
		requireNoError(t, err, "ListFlowVersions(missing flow)")
		if len(none) != 0 {
			t.Fatalf("ListFlowVersions(missing flow): got %d versions", len(none))
		}
	}},
	{"ListFlowsByOwner", func(t *testing.T, open opener) {
		st := open(t)
		ctx := t.Context()
		a, b := createUser(t, st, ""), createUser(t, st, "")
		a1 := createFlow(t, st, a.ID, "", nil)
		b1 := createFlow(t, st, b.ID, "", nil)
		a2 := createFlow(t, st, a.ID, "", nil)

		all, err := st.ListFlows(ctx, store.FlowFilter{})
		requireNoError(t, err, "ListFlows")
		requireFlowIDs(t, all, []int64{a1.ID, b1.ID, a2.ID}, "ListFlows(all)")
		mine, err := st.ListFlows(ctx, store.FlowFilter{OwnerID: a.ID})
		requireNoError(t, err, "ListFlows(owner)")
		requireFlowIDs(t, mine, []int64{a1.ID, a2.ID}, "ListFlows(owner a)")
		none, err := st.ListFlows(ctx, store.FlowFilter{OwnerID: createUser(t, st, "").ID})
		requireNoError(t, err, "ListFlows(owner without flows)")
		requireFlowIDs(t, none, nil, "ListFlows(owner without flows)")
	}},
	{"EnableDisable", func(t *testing.T, open opener) {
		b := setup(t, open)
		f, err := b.st.SetFlowEnabled(b.ctx, b.flow.ID, false)
		requireNoError(t, err, "SetFlowEnabled(false)")
		if f.Enabled || f.ID != b.flow.ID || f.Version != b.flow.Version {
			t.Fatalf("SetFlowEnabled(false): got %+v", f)
		}
		got, err := b.st.GetFlow(b.ctx, b.flow.ID)
		requireNoError(t, err, "GetFlow")
		if got.Enabled {
			t.Fatal("GetFlow after disable: still enabled")
		}
		f, err = b.st.SetFlowEnabled(b.ctx, b.flow.ID, true)
		requireNoError(t, err, "SetFlowEnabled(true)")
		if !f.Enabled {
			t.Fatal("SetFlowEnabled(true): not enabled")
		}
		got, err = b.st.GetFlow(b.ctx, b.flow.ID)
		requireNoError(t, err, "GetFlow")
		if !got.Enabled {
			t.Fatal("GetFlow after enable: disabled")
		}
	}},
	{"TurnOffOnce", func(t *testing.T, open opener) {
		b := setup(t, open)
		f, err := b.st.GetFlow(b.ctx, b.flow.ID)
		requireNoError(t, err, "GetFlow")
		var wg sync.WaitGroup
		var mu sync.Mutex
		offs := 0
		for range 6 {
			wg.Go(func() {
				off, err := b.st.TurnOffFlow(b.ctx, f.ID, f.UpdatedAt)
				if err != nil {
					t.Error(err)
				}
				if off {
					mu.Lock()
					offs++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if offs != 1 {
			t.Fatalf("%d callers turned the flow off, want 1", offs)
		}
		got, err := b.st.GetFlow(b.ctx, f.ID)
		requireNoError(t, err, "GetFlow")
		if got.Enabled {
			t.Fatal("flow still enabled")
		}
		on, err := b.st.SetFlowEnabled(b.ctx, f.ID, true)
		requireNoError(t, err, "SetFlowEnabled(true)")
		if off, err := b.st.TurnOffFlow(b.ctx, f.ID, f.UpdatedAt); err != nil || off {
			t.Fatalf("turned off with a stale updated_at: %v %v", off, err)
		}
		if off, err := b.st.TurnOffFlow(b.ctx, f.ID, on.UpdatedAt); err != nil || !off {
			t.Fatalf("not turned off with the current updated_at: %v %v", off, err)
		}
	}},
	{"DeleteCascades", func(t *testing.T, open opener) {
		b := setup(t, open)
		keep := createFlow(t, b.st, b.user.ID, "", nil)
		_, err := b.st.AddFlowVersion(b.ctx, store.NewFlowVersion{FlowID: b.flow.ID, CreatedBy: b.user.ID, TriggerType: "manual", Definition: json.RawMessage(`{}`)})
		requireNoError(t, err, "AddFlowVersion")
		gone := createLeasedRun(t, b.st, b.flow.ID, "w1", time.Now().Add(time.Minute))
		requireNoError(t, b.st.SaveSteps(b.ctx, "w1", gone.ID, "a", []store.Step{{Key: "a", ActionID: "a", Type: "http", Status: "succeeded"}}), "SaveSteps")
		createRun(t, b.st, b.flow.ID, time.Time{})
		kept := createRun(t, b.st, keep.ID, time.Time{})

		requireNoError(t, b.st.DeleteFlow(b.ctx, b.flow.ID), "DeleteFlow")
		_, err = b.st.GetFlow(b.ctx, b.flow.ID)
		requireErrorIs(t, err, store.ErrNotFound, "GetFlow after delete")
		_, err = b.st.GetFlowVersion(b.ctx, b.flow.ID, 1)
		requireErrorIs(t, err, store.ErrNotFound, "GetFlowVersion after delete")
		vs, err := b.st.ListFlowVersions(b.ctx, b.flow.ID)
		requireNoError(t, err, "ListFlowVersions after delete")
		if len(vs) != 0 {
			t.Fatalf("ListFlowVersions after delete: got %d versions", len(vs))
		}
		_, err = b.st.GetRun(b.ctx, gone.ID)
		requireErrorIs(t, err, store.ErrNotFound, "GetRun after flow delete")
		steps, err := b.st.ListSteps(b.ctx, gone.ID)
		requireNoError(t, err, "ListSteps after flow delete")
		if len(steps) != 0 {
			t.Fatalf("ListSteps after flow delete: got %d steps", len(steps))
		}
		runs, err := b.st.ListRuns(b.ctx, store.RunFilter{})
		requireNoError(t, err, "ListRuns after flow delete")
		requireIDs(t, runs, []int64{kept.ID}, "ListRuns after flow delete")
		_, err = b.st.GetFlow(b.ctx, keep.ID)
		requireNoError(t, err, "GetFlow(other flow)")
	}},
}

// scheduleTests check scheduled flows and firing them exactly once.
var scheduleTests = []test{
	{"DueAndNextIgnoreDisabled", func(t *testing.T, open opener) {
		st := open(t)
		ctx := t.Context()
		u := createUser(t, st, "")
		now := time.Now().UTC()

		_, err := st.NextScheduleAt(ctx)
		requireErrorIs(t, err, store.ErrNotFound, "NextScheduleAt(empty)")

		earliest := now.Add(-2 * time.Hour)
		disabled := createFlow(t, st, u.ID, "", &earliest)
		_, err = st.SetFlowEnabled(ctx, disabled.ID, false)
		requireNoError(t, err, "SetFlowEnabled")
		createFlow(t, st, u.ID, "", nil) // not scheduled
		dueAt := now.Add(-time.Minute)
		due := createFlow(t, st, u.ID, "", &dueAt)
		laterAt := now.Add(time.Hour)
		later := createFlow(t, st, u.ID, "", &laterAt)

		scs, err := st.DueSchedules(ctx, now)
		requireNoError(t, err, "DueSchedules")
		if len(scs) != 1 || scs[0].FlowID != due.ID {
			t.Fatalf("DueSchedules: got %+v, want only flow %d", scs, due.ID)
		}
		requireTime(t, scs[0].NextFireAt, dueAt, "DueSchedules next_fire_at")

		next, err := st.NextScheduleAt(ctx)
		requireNoError(t, err, "NextScheduleAt")
		requireTime(t, next, dueAt, "NextScheduleAt")

		scs, err = st.DueSchedules(ctx, laterAt)
		requireNoError(t, err, "DueSchedules(later)")
		if len(scs) != 2 || scs[0].FlowID != due.ID || scs[1].FlowID != later.ID {
			t.Fatalf("DueSchedules(later): got %+v, want flows %d then %d", scs, due.ID, later.ID)
		}

		// Re-enabling brings the disabled flow back.
		_, err = st.SetFlowEnabled(ctx, disabled.ID, true)
		requireNoError(t, err, "SetFlowEnabled(true)")
		next, err = st.NextScheduleAt(ctx)
		requireNoError(t, err, "NextScheduleAt")
		requireTime(t, next, earliest, "NextScheduleAt after enable")

		for _, f := range []store.Flow{disabled, due, later} {
			_, err := st.SetFlowEnabled(ctx, f.ID, false)
			requireNoError(t, err, "SetFlowEnabled(false)")
		}
		_, err = st.NextScheduleAt(ctx)
		requireErrorIs(t, err, store.ErrNotFound, "NextScheduleAt(all disabled)")
		scs, err = st.DueSchedules(ctx, laterAt)
		requireNoError(t, err, "DueSchedules(all disabled)")
		if len(scs) != 0 {
			t.Fatalf("DueSchedules(all disabled): got %+v", scs)
		}
	}},
	{"AddFlowVersionReplacesSchedule", func(t *testing.T, open opener) {
		st := open(t)
		ctx := t.Context()
		u := createUser(t, st, "")
		at := time.Now().UTC().Add(time.Hour)
		f := createFlow(t, st, u.ID, "", &at)
		moved := at.Add(time.Hour)
		_, err := st.AddFlowVersion(ctx, store.NewFlowVersion{FlowID: f.ID, CreatedBy: u.ID, TriggerType: "schedule", Definition: json.RawMessage(`{}`), NextFireAt: &moved})
		requireNoError(t, err, "AddFlowVersion(schedule)")
		next, err := st.NextScheduleAt(ctx)
		requireNoError(t, err, "NextScheduleAt")
		requireTime(t, next, moved, "NextScheduleAt after new version")

		_, err = st.AddFlowVersion(ctx, store.NewFlowVersion{FlowID: f.ID, CreatedBy: u.ID, TriggerType: "manual", Definition: json.RawMessage(`{}`)})
		requireNoError(t, err, "AddFlowVersion(manual)")
		_, err = st.NextScheduleAt(ctx)
		requireErrorIs(t, err, store.ErrNotFound, "NextScheduleAt after schedule removed")
	}},
	{"FireScheduleOnce", func(t *testing.T, open opener) {
		st := open(t)
		ctx := t.Context()
		u := createUser(t, st, "")
		at := time.Now().UTC().Add(-time.Second)
		f := createFlow(t, st, u.ID, "", &at)
		scs, err := st.DueSchedules(ctx, time.Now())
		requireNoError(t, err, "DueSchedules")
		if len(scs) != 1 {
			t.Fatalf("DueSchedules: got %+v, want one", scs)
		}
		expected := scs[0].NextFireAt
		next := expected.Add(time.Hour)

		const nodes = 8
		type result struct {
			fired bool
			run   store.Run
			err   error
		}
		results := make([]result, nodes)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range nodes {
			wg.Go(func() {
				<-start
				fired, r, err := st.FireSchedule(ctx, f.ID, expected, next, store.NewRun{FlowID: f.ID, FlowVersion: 1, TriggerType: "schedule", Input: json.RawMessage(`{"at":"now"}`)})
				results[i] = result{fired, r, err}
			})
		}
		close(start)
		wg.Wait()

		var firedRun store.Run
		firedCount := 0
		for i, res := range results {
			requireNoError(t, res.err, "FireSchedule")
			if res.fired {
				firedCount++
				firedRun = res.run
			} else if res.run.ID != 0 {
				t.Fatalf("FireSchedule %d: not fired but returned run %d", i, res.run.ID)
			}
		}
		if firedCount != 1 {
			t.Fatalf("FireSchedule from %d goroutines: fired %d times, want once", nodes, firedCount)
		}
		if firedRun.ID == 0 || firedRun.FlowID != f.ID || firedRun.Status != store.RunQueued || firedRun.TriggerType != "schedule" {
			t.Fatalf("FireSchedule: got run %+v", firedRun)
		}
		requireJSON(t, firedRun.Input, `{"at":"now"}`, "fired run input")

		runs, err := st.ListRuns(ctx, store.RunFilter{FlowID: f.ID})
		requireNoError(t, err, "ListRuns")
		requireIDs(t, runs, []int64{firedRun.ID}, "runs after FireSchedule")

		got, err := st.NextScheduleAt(ctx)
		requireNoError(t, err, "NextScheduleAt")
		requireTime(t, got, next, "NextScheduleAt after fire")
		scs, err = st.DueSchedules(ctx, time.Now())
		requireNoError(t, err, "DueSchedules after fire")
		if len(scs) != 0 {
			t.Fatalf("DueSchedules after fire: got %+v", scs)
		}

		// A stale expected time fires nothing.
		fired, r, err := st.FireSchedule(ctx, f.ID, expected, next.Add(time.Hour), store.NewRun{FlowID: f.ID, FlowVersion: 1, TriggerType: "schedule"})
		requireNoError(t, err, "FireSchedule(stale)")
		if fired || r.ID != 0 {
			t.Fatalf("FireSchedule(stale): fired=%t run=%d, want nothing", fired, r.ID)
		}
	}},
	{"FireScheduleDisabled", func(t *testing.T, open opener) {
		st := open(t)
		ctx := t.Context()
		u := createUser(t, st, "")
		at := time.Now().UTC().Add(-time.Minute)
		f := createFlow(t, st, u.ID, "", &at)
		_, err := st.SetFlowEnabled(ctx, f.ID, false)
		requireNoError(t, err, "SetFlowEnabled")
		fired, _, err := st.FireSchedule(ctx, f.ID, at, at.Add(time.Hour), store.NewRun{FlowID: f.ID, FlowVersion: 1, TriggerType: "schedule"})
		requireNoError(t, err, "FireSchedule(disabled)")
		if fired {
			t.Fatal("FireSchedule(disabled): fired")
		}
		runs, err := st.ListRuns(ctx, store.RunFilter{FlowID: f.ID})
		requireNoError(t, err, "ListRuns")
		requireIDs(t, runs, nil, "runs of disabled flow")
	}},
}

// requireSameFlow fails unless got and want agree on every field.
func requireSameFlow(t *testing.T, got, want store.Flow, what string) {
	t.Helper()
	if got.ID != want.ID || got.Name != want.Name || got.OwnerID != want.OwnerID || got.Enabled != want.Enabled ||
		got.Version != want.Version || got.TriggerType != want.TriggerType || got.WebhookToken != want.WebhookToken {
		t.Fatalf("%s: got %+v, want %+v", what, got, want)
	}
	requireTime(t, got.CreatedAt, want.CreatedAt, what+" created_at")
	requireTime(t, got.UpdatedAt, want.UpdatedAt, what+" updated_at")
}

// requireFlowIDs fails unless flows have exactly the ids, in order.
func requireFlowIDs(t *testing.T, flows []store.Flow, want []int64, what string) {
	t.Helper()
	ok := len(flows) == len(want)
	got := make([]int64, len(flows))
	for i, f := range flows {
		got[i] = f.ID
		if ok && f.ID != want[i] {
			ok = false
		}
	}
	if !ok {
		t.Fatalf("%s: got flow ids %v, want %v", what, got, want)
	}
}
