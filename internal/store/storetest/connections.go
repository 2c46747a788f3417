package storetest

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// createConnection adds a bearer connection named name for the owner.
func createConnection(t *testing.T, st store.Store, ownerID int64, name string) store.Connection {
	t.Helper()
	c, err := st.CreateConnection(t.Context(), store.Connection{OwnerID: ownerID, Name: name, Type: "bearer",
		Config: json.RawMessage(`{"header":"Authorization"}`), Secret: []byte{0, 1, 2, 0xff}})
	if err != nil {
		t.Fatalf("CreateConnection(%q): %v", name, err)
	}
	return c
}

// connectionTests check stored credentials and their health.
var connectionTests = []test{
	{"CreateAndGet", func(t *testing.T, open opener) {
		b := setup(t, open)
		before := time.Now()
		c := createConnection(t, b.st, b.user.ID, "crm")
		if c.ID == 0 || c.OwnerID != b.user.ID || c.Name != "crm" || c.Type != "bearer" || !bytes.Equal(c.Secret, []byte{0, 1, 2, 0xff}) ||
			c.Health != store.HealthUnverified || c.HealthError != "" || c.HealthAt != nil || c.BrokenAt != nil {
			t.Fatalf("CreateConnection: got %+v", c)
		}
		requireJSON(t, c.Config, `{"header":"Authorization"}`, "CreateConnection config")
		requireBetween(t, c.CreatedAt, before, time.Now(), "CreateConnection created_at")

		for what, get := range map[string]func() (store.Connection, error){
			"GetConnection":       func() (store.Connection, error) { return b.st.GetConnection(b.ctx, c.ID) },
			"GetConnectionByName": func() (store.Connection, error) { return b.st.GetConnectionByName(b.ctx, b.user.ID, "crm") },
		} {
			got, err := get()
			requireNoError(t, err, what)
			if got.ID != c.ID || got.Name != "crm" || !bytes.Equal(got.Secret, c.Secret) || got.Health != store.HealthUnverified {
				t.Fatalf("%s: got %+v, want %+v", what, got, c)
			}
			requireTime(t, got.CreatedAt, c.CreatedAt, what+" created_at")
		}
		_, err := b.st.GetConnection(b.ctx, c.ID+1000)
		requireErrorIs(t, err, store.ErrNotFound, "GetConnection(missing)")
		_, err = b.st.GetConnectionByName(b.ctx, b.user.ID+1000, "crm")
		requireErrorIs(t, err, store.ErrNotFound, "GetConnectionByName(other owner)")
	}},
	{"NameUniquePerOwner", func(t *testing.T, open opener) {
		b := setup(t, open)
		createConnection(t, b.st, b.user.ID, "crm")
		_, err := b.st.CreateConnection(b.ctx, store.Connection{OwnerID: b.user.ID, Name: "crm", Type: "basic", Config: json.RawMessage(`{}`), Secret: []byte("s")})
		requireErrorIs(t, err, store.ErrConflict, "CreateConnection(duplicate name)")
		createConnection(t, b.st, createUser(t, b.st, "").ID, "crm")
	}},
	{"ListByName", func(t *testing.T, open opener) {
		b := setup(t, open)
		other := createUser(t, b.st, "")
		zed := createConnection(t, b.st, b.user.ID, "zed")
		alpha := createConnection(t, b.st, b.user.ID, "alpha")
		mid := createConnection(t, b.st, other.ID, "mid")

		requireConnNames := func(got []store.Connection, want ...store.Connection) {
			t.Helper()
			ok := len(got) == len(want)
			for i := range got {
				ok = ok && got[i].ID == want[i].ID
			}
			if !ok {
				t.Fatalf("ListConnections: got %+v, want %d connections in name order", got, len(want))
			}
		}
		mine, err := b.st.ListConnections(b.ctx, b.user.ID)
		requireNoError(t, err, "ListConnections(owner)")
		requireConnNames(mine, alpha, zed)
		all, err := b.st.ListConnections(b.ctx, 0)
		requireNoError(t, err, "ListConnections(all)")
		requireConnNames(all, alpha, mid, zed)
	}},
	{"UpdateResetsHealth", func(t *testing.T, open opener) {
		b := setup(t, open)
		c := createConnection(t, b.st, b.user.ID, "crm")
		_, err := b.st.SetConnectionHealth(b.ctx, c.ID, store.HealthNeedsAttention, "401 bad token", time.Now())
		requireNoError(t, err, "SetConnectionHealth")

		c.Type, c.Config, c.Secret = "api_key", json.RawMessage(`{"header":"X-Key"}`), []byte("new sealed")
		got, err := b.st.UpdateConnection(b.ctx, c)
		requireNoError(t, err, "UpdateConnection")
		if got.ID != c.ID || got.Type != "api_key" || !bytes.Equal(got.Secret, []byte("new sealed")) || got.Health != store.HealthUnverified || got.HealthError != "" {
			t.Fatalf("UpdateConnection: got %+v", got)
		}
		requireJSON(t, got.Config, `{"header":"X-Key"}`, "UpdateConnection config")
		if !got.UpdatedAt.After(c.UpdatedAt) && !got.UpdatedAt.Equal(c.UpdatedAt) {
			t.Fatalf("UpdateConnection: updated_at went back from %s to %s", c.UpdatedAt, got.UpdatedAt)
		}
		c.ID += 1000
		_, err = b.st.UpdateConnection(b.ctx, c)
		requireErrorIs(t, err, store.ErrNotFound, "UpdateConnection(missing)")
	}},
	{"Health", func(t *testing.T, open opener) {
		b := setup(t, open)
		c := createConnection(t, b.st, b.user.ID, "crm")
		t1 := time.Now().UTC().Add(-time.Minute)
		changed, err := b.st.SetConnectionHealth(b.ctx, c.ID, store.HealthOK, "", t1)
		requireNoError(t, err, "SetConnectionHealth(ok)")
		if !changed {
			t.Fatal("SetConnectionHealth(unverified -> ok): changed = false")
		}
		changed, err = b.st.SetConnectionHealth(b.ctx, c.ID, store.HealthOK, "", t1.Add(time.Second))
		requireNoError(t, err, "SetConnectionHealth(ok again)")
		if changed {
			t.Fatal("SetConnectionHealth(ok -> ok): changed = true")
		}
		t2 := t1.Add(time.Minute)
		changed, err = b.st.SetConnectionHealth(b.ctx, c.ID, store.HealthNeedsAttention, "401 bad token", t2)
		requireNoError(t, err, "SetConnectionHealth(needs_attention)")
		if !changed {
			t.Fatal("SetConnectionHealth(ok -> needs_attention): changed = false")
		}
		got, err := b.st.GetConnection(b.ctx, c.ID)
		requireNoError(t, err, "GetConnection")
		if got.Health != store.HealthNeedsAttention || got.HealthError != "401 bad token" {
			t.Fatalf("health: got %q %q", got.Health, got.HealthError)
		}
		requireTimePtr(t, got.HealthAt, t2, "health_at")
		requireTimePtr(t, got.BrokenAt, t2, "broken_at")

		// Staying broken keeps the time it broke.
		changed, err = b.st.SetConnectionHealth(b.ctx, c.ID, store.HealthNeedsAttention, "still 401", t2.Add(time.Minute))
		requireNoError(t, err, "SetConnectionHealth(still broken)")
		if changed {
			t.Fatal("SetConnectionHealth(needs_attention -> needs_attention): changed = true")
		}
		got, err = b.st.GetConnection(b.ctx, c.ID)
		requireNoError(t, err, "GetConnection")
		requireTimePtr(t, got.BrokenAt, t2, "broken_at while still broken")
		requireTimePtr(t, got.HealthAt, t2.Add(time.Minute), "health_at while still broken")

		_, err = b.st.SetConnectionHealth(b.ctx, c.ID+1000, store.HealthOK, "", t2)
		requireErrorIs(t, err, store.ErrNotFound, "SetConnectionHealth(missing)")
	}},
	{"Delete", func(t *testing.T, open opener) {
		b := setup(t, open)
		c := createConnection(t, b.st, b.user.ID, "crm")
		requireNoError(t, b.st.DeleteConnection(b.ctx, c.ID), "DeleteConnection")
		_, err := b.st.GetConnection(b.ctx, c.ID)
		requireErrorIs(t, err, store.ErrNotFound, "GetConnection after delete")
		err = b.st.DeleteConnection(b.ctx, c.ID)
		requireErrorIs(t, err, store.ErrNotFound, "DeleteConnection twice")
		// The name is free again.
		createConnection(t, b.st, b.user.ID, "crm")
	}},
}

// jobTests check bulk jobs: queueing, claiming and progress under a lease.
var jobTests = []test{
	{"CreateClaimUpdate", func(t *testing.T, open opener) {
		b := setup(t, open)
		before := time.Now()
		j, err := b.st.CreateJob(b.ctx, store.Job{OwnerID: b.user.ID, Kind: store.JobResubmit, Params: json.RawMessage(`{"flow_id":1}`)})
		requireNoError(t, err, "CreateJob")
		if j.ID == 0 || j.OwnerID != b.user.ID || j.Kind != store.JobResubmit || j.Status != store.JobQueued || j.Cursor != 0 || j.FinishedAt != nil {
			t.Fatalf("CreateJob: got %+v", j)
		}
		requireJSON(t, j.Params, `{"flow_id":1}`, "CreateJob params")
		requireBetween(t, j.CreatedAt, before, time.Now(), "CreateJob created_at")
		got, err := b.st.GetJob(b.ctx, j.ID)
		requireNoError(t, err, "GetJob")
		if got.ID != j.ID || got.Status != store.JobQueued {
			t.Fatalf("GetJob: got %+v", got)
		}
		_, err = b.st.GetJob(b.ctx, j.ID+1000)
		requireErrorIs(t, err, store.ErrNotFound, "GetJob(missing)")

		now := time.Now().UTC()
		claimed, err := b.st.ClaimJob(b.ctx, "w", now, now.Add(time.Minute))
		requireNoError(t, err, "ClaimJob")
		if claimed.ID != j.ID || claimed.Status != store.JobRunning {
			t.Fatalf("ClaimJob: got %+v", claimed)
		}
		_, err = b.st.ClaimJob(b.ctx, "w2", now, now.Add(time.Minute))
		requireErrorIs(t, err, store.ErrNotFound, "ClaimJob(held)")

		err = b.st.UpdateJob(b.ctx, "w2", j.ID, store.JobProgress{Cursor: 5}, now.Add(time.Minute))
		requireErrorIs(t, err, store.ErrLeaseLost, "UpdateJob(wrong owner)")
		requireNoError(t, b.st.UpdateJob(b.ctx, "w", j.ID, store.JobProgress{Cursor: 7, Total: 10, Done: 6, Failed: 1}, now.Add(time.Minute)), "UpdateJob")
		got, err = b.st.GetJob(b.ctx, j.ID)
		requireNoError(t, err, "GetJob")
		if got.Status != store.JobRunning || got.Cursor != 7 || got.Total != 10 || got.Done != 6 || got.Failed != 1 || got.FinishedAt != nil {
			t.Fatalf("GetJob after progress: got %+v", got)
		}

		requireNoError(t, b.st.UpdateJob(b.ctx, "w", j.ID, store.JobProgress{Cursor: 9, Total: 10, Done: 9, Failed: 1, Status: store.JobSucceeded}, now.Add(time.Minute)), "UpdateJob(final)")
		got, err = b.st.GetJob(b.ctx, j.ID)
		requireNoError(t, err, "GetJob")
		if got.Status != store.JobSucceeded || got.Done != 9 || got.FinishedAt == nil {
			t.Fatalf("GetJob after finish: got %+v", got)
		}
		err = b.st.UpdateJob(b.ctx, "w", j.ID, store.JobProgress{Cursor: 10}, now.Add(time.Minute))
		requireErrorIs(t, err, store.ErrLeaseLost, "UpdateJob(finished)")
		_, err = b.st.ClaimJob(b.ctx, "w", now.Add(time.Hour), now.Add(2*time.Hour))
		requireErrorIs(t, err, store.ErrNotFound, "ClaimJob(finished job)")
	}},
	{"ClaimOldestThenExpired", func(t *testing.T, open opener) {
		b := setup(t, open)
		now := time.Now().UTC()
		_, err := b.st.ClaimJob(b.ctx, "w", now, now.Add(time.Minute))
		requireErrorIs(t, err, store.ErrNotFound, "ClaimJob(none)")
		j1, err := b.st.CreateJob(b.ctx, store.Job{OwnerID: b.user.ID, Kind: store.JobCancel, Params: json.RawMessage(`{}`)})
		requireNoError(t, err, "CreateJob")
		j2, err := b.st.CreateJob(b.ctx, store.Job{OwnerID: b.user.ID, Kind: store.JobResubmit, Params: json.RawMessage(`{}`)})
		requireNoError(t, err, "CreateJob")

		first, err := b.st.ClaimJob(b.ctx, "a", now, now.Add(time.Minute))
		requireNoError(t, err, "ClaimJob")
		second, err := b.st.ClaimJob(b.ctx, "b", now, now.Add(time.Minute))
		requireNoError(t, err, "ClaimJob")
		if first.ID != j1.ID || second.ID != j2.ID {
			t.Fatalf("ClaimJob order: got %d then %d, want %d then %d", first.ID, second.ID, j1.ID, j2.ID)
		}
		requireNoError(t, b.st.UpdateJob(b.ctx, "a", j1.ID, store.JobProgress{Cursor: 3}, now.Add(time.Minute)), "UpdateJob")

		// a dies; once its lease expires another worker resumes at the cursor.
		later := now.Add(2 * time.Minute)
		taken, err := b.st.ClaimJob(b.ctx, "c", later, later.Add(time.Minute))
		requireNoError(t, err, "ClaimJob(expired)")
		if taken.ID != j1.ID || taken.Cursor != 3 || taken.Status != store.JobRunning {
			t.Fatalf("ClaimJob(expired): got %+v, want job %d at cursor 3", taken, j1.ID)
		}
		err = b.st.UpdateJob(b.ctx, "a", j1.ID, store.JobProgress{Cursor: 4}, later.Add(time.Minute))
		requireErrorIs(t, err, store.ErrLeaseLost, "UpdateJob(by the old owner)")
		requireNoError(t, b.st.UpdateJob(b.ctx, "c", j1.ID, store.JobProgress{Cursor: 4}, later.Add(time.Minute)), "UpdateJob(new owner)")
	}},
}
