package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/sluice/sluice/internal/store"
)

const jobCols = `id, owner_id, kind, params, status, cursor, total, done, failed, error, created_at, updated_at, finished_at`

func scanJob(row interface{ Scan(...any) error }) (store.Job, error) {
	var j store.Job
	var params string
	var created, updated int64
	var finished sql.NullInt64
	if err := row.Scan(&j.ID, &j.OwnerID, &j.Kind, &params, &j.Status, &j.Cursor, &j.Total, &j.Done, &j.Failed, &j.Error, &created, &updated, &finished); err != nil {
		return store.Job{}, err
	}
	j.Params = []byte(params)
	j.CreatedAt, j.UpdatedAt, j.FinishedAt = fromNanos(created), fromNanos(updated), fromNull(finished)
	return j, nil
}

// CreateJob queues a job.
func (s *Store) CreateJob(ctx context.Context, j store.Job) (store.Job, error) {
	now := time.Now().UTC()
	var out store.Job
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO jobs (owner_id, kind, params, status, created_at, updated_at) VALUES (?, ?, ?, 'queued', ?, ?)`,
			j.OwnerID, j.Kind, string(j.Params), nanos(now), nanos(now))
		if err != nil {
			return err
		}
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		out, err = scanJob(tx.QueryRowContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = ?`, id))
		return err
	})
	if err != nil {
		return store.Job{}, fmt.Errorf("create %s job: %w", j.Kind, err)
	}
	return out, nil
}

// GetJob returns a job.
func (s *Store) GetJob(ctx context.Context, id int64) (store.Job, error) {
	j, err := scanJob(s.queryRow(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = ?`, id))
	if err != nil {
		return store.Job{}, notFound(err, fmt.Sprintf("get job %d", id))
	}
	return j, nil
}

// ClaimJob leases the oldest queued job, or a running one whose lease
// expired.
func (s *Store) ClaimJob(ctx context.Context, owner string, now, leaseUntil time.Time) (store.Job, error) {
	var j store.Job
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `UPDATE jobs SET status = 'running', lease_owner = ?, lease_until = ?, updated_at = ? `+
			`WHERE id = (SELECT id FROM jobs WHERE status = 'queued' OR (status = 'running' AND lease_until < ?) ORDER BY id LIMIT 1) RETURNING id`,
			owner, nanos(leaseUntil), nanos(now), nanos(now)).Scan(&id)
		if err != nil {
			return err
		}
		j, err = scanJob(tx.QueryRowContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = ?`, id))
		return err
	})
	if err != nil {
		return store.Job{}, notFound(err, "claim job")
	}
	return j, nil
}

// UpdateJob records progress of a job the owner holds.
func (s *Store) UpdateJob(ctx context.Context, owner string, id int64, p store.JobProgress, leaseUntil time.Time) error {
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		now := time.Now()
		status := p.Status
		if status == "" {
			status = store.JobRunning
		}
		var finished any
		if status == store.JobSucceeded || status == store.JobFailed {
			finished = nanos(now)
		}
		res, err := tx.ExecContext(ctx, `UPDATE jobs SET cursor = ?, total = ?, done = ?, failed = ?, status = ?, error = ?, lease_until = ?, updated_at = ?, finished_at = ? `+
			`WHERE id = ? AND lease_owner = ? AND status = 'running'`,
			p.Cursor, p.Total, p.Done, p.Failed, status, p.Error, nanos(leaseUntil), nanos(now), finished, id, owner)
		if err != nil {
			return err
		}
		if err := changed(res, store.ErrLeaseLost); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("update job %d: %w", id, err)
	}
	return nil
}
