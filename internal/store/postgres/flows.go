package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluice/sluice/internal/store"
)

const flowCols = `id, name, owner_id, enabled, version, trigger_type, webhook_token, created_at, updated_at`

func scanFlow(row rowScanner) (store.Flow, error) {
	var f store.Flow
	if err := row.Scan(&f.ID, &f.Name, &f.OwnerID, &f.Enabled, &f.Version, &f.TriggerType, &f.WebhookToken, &f.CreatedAt, &f.UpdatedAt); err != nil {
		return store.Flow{}, err
	}
	f.CreatedAt, f.UpdatedAt = utc(f.CreatedAt), utc(f.UpdatedAt)
	return f, nil
}

// CreateFlow adds a flow with its first version; ErrConflict if the owner
// already has a flow with that name.
func (s *Store) CreateFlow(ctx context.Context, nf store.NewFlow) (store.Flow, error) {
	now := time.Now().UTC()
	var f store.Flow
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		f, err = scanFlow(tx.QueryRow(ctx, `INSERT INTO flows (name, owner_id, enabled, version, trigger_type, webhook_token, next_fire_at, created_at, updated_at) `+
			`VALUES ($1, $2, true, 1, $3, $4, $5, $6, $6) RETURNING `+flowCols,
			nf.Name, nf.OwnerID, nf.TriggerType, nf.WebhookToken, nf.NextFireAt, now))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO flow_versions (flow_id, version, definition, source, created_by, created_at) VALUES ($1, 1, $2, $3, $4, $5)`,
			f.ID, string(nf.Definition), nf.Source, nf.OwnerID, now)
		return err
	})
	if err != nil {
		return store.Flow{}, wrap(err, fmt.Sprintf("create flow %q", nf.Name))
	}
	return f, nil
}

// AddFlowVersion saves a new version of a flow and returns the flow.
func (s *Store) AddFlowVersion(ctx context.Context, v store.NewFlowVersion) (store.Flow, error) {
	now := time.Now().UTC()
	var f store.Flow
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		f, err = scanFlow(tx.QueryRow(ctx, `UPDATE flows SET version = version + 1, trigger_type = $1, next_fire_at = $2, updated_at = $3 WHERE id = $4 RETURNING `+flowCols,
			v.TriggerType, v.NextFireAt, now, v.FlowID))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO flow_versions (flow_id, version, definition, source, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			v.FlowID, f.Version, string(v.Definition), v.Source, v.CreatedBy, now)
		return err
	})
	if err != nil {
		return store.Flow{}, wrap(err, fmt.Sprintf("add version to flow %d", v.FlowID))
	}
	return f, nil
}

// GetFlow returns the flow with that id.
func (s *Store) GetFlow(ctx context.Context, id int64) (store.Flow, error) {
	f, err := scanFlow(s.pool.QueryRow(ctx, `SELECT `+flowCols+` FROM flows WHERE id = $1`, id))
	if err != nil {
		return store.Flow{}, wrap(err, fmt.Sprintf("get flow %d", id))
	}
	return f, nil
}

// GetFlowByName returns the owner's flow with that name.
func (s *Store) GetFlowByName(ctx context.Context, ownerID int64, name string) (store.Flow, error) {
	f, err := scanFlow(s.pool.QueryRow(ctx, `SELECT `+flowCols+` FROM flows WHERE owner_id = $1 AND name = $2`, ownerID, name))
	if err != nil {
		return store.Flow{}, wrap(err, fmt.Sprintf("get flow %q", name))
	}
	return f, nil
}

// GetFlowByWebhookToken returns the flow whose webhook URL carries token.
func (s *Store) GetFlowByWebhookToken(ctx context.Context, token string) (store.Flow, error) {
	f, err := scanFlow(s.pool.QueryRow(ctx, `SELECT `+flowCols+` FROM flows WHERE webhook_token = $1`, token))
	if err != nil {
		return store.Flow{}, wrap(err, "get flow by webhook token")
	}
	return f, nil
}

// ListFlows returns flows by id.
func (s *Store) ListFlows(ctx context.Context, ff store.FlowFilter) ([]store.Flow, error) {
	var rows pgx.Rows
	var err error
	if ff.OwnerID != 0 {
		rows, err = s.pool.Query(ctx, `SELECT `+flowCols+` FROM flows WHERE owner_id = $1 ORDER BY id`, ff.OwnerID)
	} else {
		rows, err = s.pool.Query(ctx, `SELECT `+flowCols+` FROM flows ORDER BY id`)
	}
	out, err := collect(rows, err, scanFlow)
	if err != nil {
		return nil, wrap(err, "list flows")
	}
	return out, nil
}

// SetFlowEnabled turns a flow on or off.
func (s *Store) SetFlowEnabled(ctx context.Context, id int64, enabled bool) (store.Flow, error) {
	f, err := scanFlow(s.pool.QueryRow(ctx, `UPDATE flows SET enabled = $1, updated_at = $2 WHERE id = $3 RETURNING `+flowCols, enabled, time.Now().UTC(), id))
	if err != nil {
		return store.Flow{}, wrap(err, fmt.Sprintf("set flow %d enabled=%t", id, enabled))
	}
	return f, nil
}

// TurnOffFlow turns an enabled flow off if unchanged since updatedAt.
func (s *Store) TurnOffFlow(ctx context.Context, id int64, updatedAt time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE flows SET enabled = false, updated_at = $1 WHERE id = $2 AND enabled AND updated_at = $3`, time.Now().UTC(), id, updatedAt.UTC())
	if err != nil {
		return false, wrap(err, fmt.Sprintf("turn off flow %d", id))
	}
	return tag.RowsAffected() == 1, nil
}

// DeleteFlow removes a flow, its versions and its runs (the foreign keys
// cascade to versions, runs and steps).
func (s *Store) DeleteFlow(ctx context.Context, id int64) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM flows WHERE id = $1`, id)
	if err == nil && tag.RowsAffected() == 0 {
		err = pgx.ErrNoRows
	}
	return wrap(err, fmt.Sprintf("delete flow %d", id))
}

const versionCols = `flow_id, version, definition, source, created_by, created_at`

func scanVersion(row rowScanner) (store.FlowVersion, error) {
	var v store.FlowVersion
	var def string
	if err := row.Scan(&v.FlowID, &v.Version, &def, &v.Source, &v.CreatedBy, &v.CreatedAt); err != nil {
		return store.FlowVersion{}, err
	}
	v.Definition = []byte(def)
	v.CreatedAt = utc(v.CreatedAt)
	return v, nil
}

// GetFlowVersion returns one version of a flow.
func (s *Store) GetFlowVersion(ctx context.Context, flowID int64, version int) (store.FlowVersion, error) {
	v, err := scanVersion(s.pool.QueryRow(ctx, `SELECT `+versionCols+` FROM flow_versions WHERE flow_id = $1 AND version = $2`, flowID, version))
	if err != nil {
		return store.FlowVersion{}, wrap(err, fmt.Sprintf("get flow %d version %d", flowID, version))
	}
	return v, nil
}

// ListFlowVersions returns a flow's versions, newest first.
func (s *Store) ListFlowVersions(ctx context.Context, flowID int64) ([]store.FlowVersion, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+versionCols+` FROM flow_versions WHERE flow_id = $1 ORDER BY version DESC`, flowID)
	out, err := collect(rows, err, scanVersion)
	if err != nil {
		return nil, wrap(err, fmt.Sprintf("list versions of flow %d", flowID))
	}
	return out, nil
}

// DueSchedules returns the enabled flows whose schedule is due at now.
func (s *Store) DueSchedules(ctx context.Context, now time.Time) ([]store.Schedule, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, next_fire_at FROM flows WHERE next_fire_at IS NOT NULL AND enabled AND next_fire_at <= $1 ORDER BY next_fire_at, id`, now)
	out, err := collect(rows, err, func(row rowScanner) (store.Schedule, error) {
		var sc store.Schedule
		err := row.Scan(&sc.FlowID, &sc.NextFireAt)
		sc.NextFireAt = utc(sc.NextFireAt)
		return sc, err
	})
	if err != nil {
		return nil, wrap(err, "due schedules")
	}
	return out, nil
}

// NextScheduleAt returns the earliest schedule time of an enabled flow;
// ErrNotFound if there is none.
func (s *Store) NextScheduleAt(ctx context.Context) (time.Time, error) {
	var at *time.Time
	if err := s.pool.QueryRow(ctx, `SELECT MIN(next_fire_at) FROM flows WHERE next_fire_at IS NOT NULL AND enabled`).Scan(&at); err != nil {
		return time.Time{}, wrap(err, "next schedule")
	}
	if at == nil {
		return time.Time{}, wrap(pgx.ErrNoRows, "next schedule")
	}
	return utc(*at), nil
}

// FireSchedule moves the flow's schedule from expected to next and creates
// the run, in one transaction. Two nodes firing at once both update the
// same row: the second waits for the first, then finds next_fire_at moved
// and fires nothing.
func (s *Store) FireSchedule(ctx context.Context, flowID int64, expected, next time.Time, nr store.NewRun) (bool, store.Run, error) {
	var fired bool
	var r store.Run
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE flows SET next_fire_at = $1 WHERE id = $2 AND next_fire_at = $3 AND enabled`, next, flowID, expected)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		r, err = s.insertRun(ctx, tx, nr)
		fired = err == nil
		return err
	})
	if err != nil {
		return false, store.Run{}, wrap(err, fmt.Sprintf("fire schedule of flow %d", flowID))
	}
	s.wakeNodesIf(ctx, fired && r.Status == store.RunQueued)
	return fired, r, nil
}
