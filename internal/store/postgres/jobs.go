package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/sluice/sluice/internal/store"
)

const jobCols = `id, owner_id, kind, params, status, cursor, total, done, failed, error, created_at, updated_at, finished_at`

func scanJob(row rowScanner) (store.Job, error) {
	var j store.Job
	var params string
	if err := row.Scan(&j.ID, &j.OwnerID, &j.Kind, &params, &j.Status, &j.Cursor, &j.Total, &j.Done, &j.Failed, &j.Error, &j.CreatedAt, &j.UpdatedAt, &j.FinishedAt); err != nil {
		return store.Job{}, err
	}
	j.Params = []byte(params)
	j.CreatedAt, j.UpdatedAt, j.FinishedAt = utc(j.CreatedAt), utc(j.UpdatedAt), utcPtr(j.FinishedAt)
	return j, nil
}

// CreateJob queues a job.
func (s *Store) CreateJob(ctx context.Context, j store.Job) (store.Job, error) {
	now := time.Now().UTC()
	out, err := scanJob(s.pool.QueryRow(ctx, `INSERT INTO jobs (owner_id, kind, params, status, created_at, updated_at) VALUES ($1, $2, $3, 'queued', $4, $4) RETURNING `+jobCols,
		j.OwnerID, j.Kind, string(j.Params), now))
	if err != nil {
		return store.Job{}, wrap(err, fmt.Sprintf("create %s job", j.Kind))
	}
	return out, nil
}

// GetJob returns a job.
func (s *Store) GetJob(ctx context.Context, id int64) (store.Job, error) {
	j, err := scanJob(s.pool.QueryRow(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = $1`, id))
	if err != nil {
		return store.Job{}, wrap(err, fmt.Sprintf("get job %d", id))
	}
	return j, nil
}

// ClaimJob leases the oldest queued job, or a running one whose lease
// expired, to owner; ErrNotFound when there is none. A job another node is
// claiming is skipped.
func (s *Store) ClaimJob(ctx context.Context, owner string, now, leaseUntil time.Time) (store.Job, error) {
	j, err := scanJob(s.pool.QueryRow(ctx, `UPDATE jobs SET status = 'running', lease_owner = $1, lease_until = $2, updated_at = $3 `+
		`WHERE id = (SELECT id FROM jobs WHERE status = 'queued' OR (status = 'running' AND lease_until < $3) ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) `+
		`RETURNING `+jobCols,
		owner, leaseUntil, now))
	if err != nil {
		return store.Job{}, wrap(err, "claim job")
	}
	return j, nil
}

// UpdateJob records progress of a job the owner holds, extending its
// lease; ErrLeaseLost if it does not hold it. A final status finishes the
// job.
func (s *Store) UpdateJob(ctx context.Context, owner string, id int64, p store.JobProgress, leaseUntil time.Time) error {
	now := time.Now().UTC()
	status := p.Status
	if status == "" {
		status = store.JobRunning
	}
	var finished *time.Time
	if status == store.JobSucceeded || status == store.JobFailed {
		finished = &now
	}
	tag, err := s.pool.Exec(ctx, `UPDATE jobs SET cursor = $1, total = $2, done = $3, failed = $4, status = $5, error = $6, lease_until = $7, updated_at = $8, finished_at = $9 `+
		`WHERE id = $10 AND lease_owner = $11 AND status = 'running'`,
		p.Cursor, p.Total, p.Done, p.Failed, status, p.Error, leaseUntil, now, finished, id, owner)
	if err == nil {
		err = leaseLost(tag)
	}
	return wrap(err, fmt.Sprintf("update job %d", id))
}
