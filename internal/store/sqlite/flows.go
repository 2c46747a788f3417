package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/sluice/sluice/internal/store"
)

const flowCols = `id, name, owner_id, enabled, version, trigger_type, webhook_token, created_at, updated_at`

func scanFlow(row interface{ Scan(...any) error }) (store.Flow, error) {
	var f store.Flow
	var created, updated int64
	if err := row.Scan(&f.ID, &f.Name, &f.OwnerID, &f.Enabled, &f.Version, &f.TriggerType, &f.WebhookToken, &created, &updated); err != nil {
		return store.Flow{}, err
	}
	f.CreatedAt, f.UpdatedAt = fromNanos(created), fromNanos(updated)
	return f, nil
}

// changed returns none when a statement changed no row, so that a write
// to a missing (or no longer held) record reports it.
func changed(res sql.Result, none error) error {
	n, err := affected(res)
	if err != nil {
		return err
	}
	if n == 0 {
		return none
	}
	return nil
}

// affected returns the rows a statement changed.
// execOne runs a statement that must change a row; store.ErrNotFound
// when it changes none.
func execOne(ctx context.Context, tx *wtx, q string, args ...any) error {
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return err
	}
	return changed(res, store.ErrNotFound)
}

func affected(res sql.Result) (int64, error) {
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("rows affected: %w", err)
	}
	return n, nil
}

// CreateFlow adds a flow with its first version.
func (s *Store) CreateFlow(ctx context.Context, nf store.NewFlow) (store.Flow, error) {
	now := time.Now().UTC()
	var f store.Flow
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO flows (name, owner_id, enabled, version, trigger_type, webhook_token, next_fire_at, created_at, updated_at) VALUES (?, ?, 1, 1, ?, ?, ?, ?, ?)`,
			nf.Name, nf.OwnerID, nf.TriggerType, nf.WebhookToken, nullNanos(nf.NextFireAt), nanos(now), nanos(now))
		if err != nil {
			return err
		}
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO flow_versions (flow_id, version, definition, source, created_by, created_at) VALUES (?, 1, ?, ?, ?, ?)`,
			id, string(nf.Definition), nf.Source, nf.OwnerID, nanos(now)); err != nil {
			return err
		}
		f = store.Flow{ID: id, Name: nf.Name, OwnerID: nf.OwnerID, Enabled: true, Version: 1, TriggerType: nf.TriggerType, WebhookToken: nf.WebhookToken, CreatedAt: now, UpdatedAt: now}
		return nil
	})
	if isUnique(err) {
		return store.Flow{}, fmt.Errorf("create flow %q: a flow with that name exists: %w", nf.Name, store.ErrConflict)
	}
	if err != nil {
		return store.Flow{}, fmt.Errorf("create flow %q: %w", nf.Name, err)
	}
	return f, nil
}

// AddFlowVersion saves a new version of a flow and returns the flow.
func (s *Store) AddFlowVersion(ctx context.Context, v store.NewFlowVersion) (store.Flow, error) {
	now := time.Now().UTC()
	var f store.Flow
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE flows SET version = version + 1, trigger_type = ?, next_fire_at = ?, updated_at = ? WHERE id = ?`,
			v.TriggerType, nullNanos(v.NextFireAt), nanos(now), v.FlowID)
		if err != nil {
			return err
		}
		if err := changed(res, store.ErrNotFound); err != nil {
			return err
		}
		f, err = scanFlow(tx.QueryRowContext(ctx, `SELECT `+flowCols+` FROM flows WHERE id = ?`, v.FlowID))
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO flow_versions (flow_id, version, definition, source, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			v.FlowID, f.Version, string(v.Definition), v.Source, v.CreatedBy, nanos(now))
		return err
	})
	if err != nil {
		return store.Flow{}, fmt.Errorf("add version to flow %d: %w", v.FlowID, err)
	}
	return f, nil
}

// GetFlow returns the flow with that id.
func (s *Store) GetFlow(ctx context.Context, id int64) (store.Flow, error) {
	f, err := scanFlow(s.queryRow(ctx, `SELECT `+flowCols+` FROM flows WHERE id = ?`, id))
	if err != nil {
		return store.Flow{}, notFound(err, fmt.Sprintf("get flow %d", id))
	}
	return f, nil
}

// GetFlowByName returns the owner's flow with that name.
func (s *Store) GetFlowByName(ctx context.Context, ownerID int64, name string) (store.Flow, error) {
	f, err := scanFlow(s.queryRow(ctx, `SELECT `+flowCols+` FROM flows WHERE owner_id = ? AND name = ?`, ownerID, name))
	if err != nil {
		return store.Flow{}, notFound(err, fmt.Sprintf("get flow %q", name))
	}
	return f, nil
}

// GetFlowByWebhookToken returns the flow whose webhook URL carries token,
// from the flow cache when it is there (see flowCache). A token no flow
// has is read from the table every time, so that guessing tokens cannot
// fill the cache.
func (s *Store) GetFlowByWebhookToken(ctx context.Context, token string) (store.Flow, error) {
	if f, ok := s.flows.get(token); ok {
		return f, nil
	}
	gen := s.flows.gen.Load()
	f, err := scanFlow(s.queryRow(ctx, `SELECT `+flowCols+` FROM flows WHERE webhook_token = ?`, token))
	if err != nil {
		return store.Flow{}, notFound(err, "get flow by webhook token")
	}
	s.flows.put(token, f, gen)
	return f, nil
}

// ListFlows returns flows by id.
func (s *Store) ListFlows(ctx context.Context, ff store.FlowFilter) ([]store.Flow, error) {
	q := `SELECT ` + flowCols + ` FROM flows`
	var args []any
	if ff.OwnerID != 0 {
		q += ` WHERE owner_id = ?`
		args = append(args, ff.OwnerID)
	}
	return list(ctx, s, "list flows", scanFlow, q+` ORDER BY id`, args...)
}

// SetFlowEnabled turns a flow on or off.
func (s *Store) SetFlowEnabled(ctx context.Context, id int64, enabled bool) (store.Flow, error) {
	var f store.Flow
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE flows SET enabled = ?, updated_at = ? WHERE id = ?`, enabled, nanos(time.Now()), id)
		if err != nil {
			return err
		}
		if err := changed(res, store.ErrNotFound); err != nil {
			return err
		}
		f, err = scanFlow(tx.QueryRowContext(ctx, `SELECT `+flowCols+` FROM flows WHERE id = ?`, id))
		return err
	})
	if err != nil {
		return store.Flow{}, fmt.Errorf("set flow %d enabled=%t: %w", id, enabled, err)
	}
	return f, nil
}

// TurnOffFlow turns an enabled flow off if unchanged since updatedAt.
func (s *Store) TurnOffFlow(ctx context.Context, id int64, updatedAt time.Time) (bool, error) {
	var n int64
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE flows SET enabled = 0, updated_at = ? WHERE id = ? AND enabled = 1 AND updated_at = ?`, nanos(time.Now()), id, nanos(updatedAt))
		if err != nil {
			return err
		}
		n, err = affected(res)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("turn off flow %d: %w", id, err)
	}
	return n == 1, nil
}

// deleteRunsChunk is how many runs one statement of DeleteFlow deletes.
// The writer keeps its statement journal in memory (temp_store, see
// Open), which holds the pages one statement changes: a flow's runs are
// deleted a chunk per statement, in the same transaction, so that
// deleting a flow with millions of runs does not hold them all there.
const deleteRunsChunk = 100

// DeleteFlow removes a flow, its versions and its runs.
func (s *Store) DeleteFlow(ctx context.Context, id int64) error {
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		for {
			res, err := tx.ExecContext(ctx, `DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE flow_id = ? LIMIT ?)`, id, deleteRunsChunk)
			if err != nil {
				return fmt.Errorf("delete runs: %w", err)
			}
			n, err := affected(res)
			if err != nil {
				return err
			}
			if n < deleteRunsChunk {
				break
			}
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM flows WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if err := changed(res, store.ErrNotFound); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete flow %d: %w", id, err)
	}
	return nil
}

const versionCols = `flow_id, version, definition, source, created_by, created_at`

func scanVersion(row interface{ Scan(...any) error }) (store.FlowVersion, error) {
	var v store.FlowVersion
	var def string
	var created int64
	if err := row.Scan(&v.FlowID, &v.Version, &def, &v.Source, &v.CreatedBy, &created); err != nil {
		return store.FlowVersion{}, err
	}
	v.Definition = []byte(def)
	v.CreatedAt = fromNanos(created)
	return v, nil
}

// GetFlowVersion returns one version of a flow.
func (s *Store) GetFlowVersion(ctx context.Context, flowID int64, version int) (store.FlowVersion, error) {
	v, err := scanVersion(s.queryRow(ctx, `SELECT `+versionCols+` FROM flow_versions WHERE flow_id = ? AND version = ?`, flowID, version))
	if err != nil {
		return store.FlowVersion{}, notFound(err, fmt.Sprintf("get flow %d version %d", flowID, version))
	}
	return v, nil
}

// ListFlowVersions returns a flow's versions, newest first.
func (s *Store) ListFlowVersions(ctx context.Context, flowID int64) ([]store.FlowVersion, error) {
	return list(ctx, s, fmt.Sprintf("list versions of flow %d", flowID), scanVersion, `SELECT `+versionCols+` FROM flow_versions WHERE flow_id = ? ORDER BY version DESC`, flowID)
}

// DueSchedules returns the enabled flows whose schedule is due at now.
func (s *Store) DueSchedules(ctx context.Context, now time.Time) ([]store.Schedule, error) {
	rows, err := s.query(ctx, `SELECT id, next_fire_at FROM flows WHERE next_fire_at IS NOT NULL AND enabled = 1 AND next_fire_at <= ? ORDER BY next_fire_at`, nanos(now))
	if err != nil {
		return nil, fmt.Errorf("due schedules: %w", err)
	}
	defer rows.Close()
	var out []store.Schedule
	for rows.Next() {
		var sc store.Schedule
		var at int64
		if err := rows.Scan(&sc.FlowID, &at); err != nil {
			return nil, fmt.Errorf("due schedules: %w", err)
		}
		sc.NextFireAt = fromNanos(at)
		out = append(out, sc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("due schedules: %w", err)
	}
	return out, nil
}

// NextScheduleAt returns the earliest schedule time of an enabled flow.
func (s *Store) NextScheduleAt(ctx context.Context) (time.Time, error) {
	var at sql.NullInt64
	if err := s.queryRow(ctx, `SELECT MIN(next_fire_at) FROM flows WHERE next_fire_at IS NOT NULL AND enabled = 1`).Scan(&at); err != nil {
		return time.Time{}, fmt.Errorf("next schedule: %w", err)
	}
	if !at.Valid {
		return time.Time{}, fmt.Errorf("next schedule: %w", store.ErrNotFound)
	}
	return fromNanos(at.Int64), nil
}

// FireSchedule moves the flow's schedule from expected to next and creates
// the run, in one transaction; fired is false if another node fired first.
func (s *Store) FireSchedule(ctx context.Context, flowID int64, expected, next time.Time, nr store.NewRun) (bool, store.Run, error) {
	var fired bool
	var r store.Run
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE flows SET next_fire_at = ? WHERE id = ? AND next_fire_at = ? AND enabled = 1`, nanos(next), flowID, nanos(expected))
		if err != nil {
			return err
		}
		n, err := affected(res)
		if err != nil || n == 0 {
			return err
		}
		fired = true
		r, err = s.insertRun(ctx, tx, nr)
		return err
	})
	s.wakeIf(fired && r.Status == store.RunQueued, err)
	if err != nil {
		return false, store.Run{}, fmt.Errorf("fire schedule of flow %d: %w", flowID, err)
	}
	return fired, r, nil
}
