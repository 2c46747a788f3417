package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// runSelect are a run's columns with its flow's name and owner, the run
// aliased r and its flow f; runCols adds the join.
const runSelect = `r.id, r.flow_id, f.name, r.flow_version, f.owner_id, r.status, r.trigger_type, r.input, r.output, r.error, r.current_step, ` +
	`r.resubmitted_from, r.created_at, r.started_at, r.finished_at, r.next_attempt_at, r.lease_owner, r.lease_until, r.expr_steps, r.expr_nanos `

const runCols = runSelect + `FROM runs r JOIN flows f ON f.id = r.flow_id`

// runsByFlows reads runs through their flows: the owner's flows, then
// each flow's runs in id order from runs_flow (flow_id, id) or, with a
// status, runs_flow_status (flow_id, status, id). SQLite, seeing each
// flow's runs come in the order asked, stops a flow's range once the page
// is full and the next run would not make it, so that a page costs about
// a page of index entries per flow, whether the owner has many runs of
// that status or none. CROSS JOIN keeps that order: without statistics
// SQLite would otherwise walk runs_status, every run of the status.
const runsByFlows = runSelect + `FROM flows f CROSS JOIN runs r ON r.flow_id = f.id`

// byFlows reports whether ListRuns reads rf's runs through the owner's
// flows (runsByFlows): an owner's runs, unless a more selective filter
// (ids, a resubmit's original, a connection's failures, one flow) leads.
func byFlows(rf store.RunFilter) bool {
	return rf.OwnerID != 0 && rf.FlowID == 0 && len(rf.IDs) == 0 && rf.ResubmittedFrom == 0 && rf.FailedOnConnection == ""
}

// runRowCols are the columns of a run's own row, without its flow's name
// and owner, as a RETURNING clause gives them (see scanRunRow).
const runRowCols = `id, flow_id, flow_version, status, trigger_type, input, output, error, current_step, ` +
	`resubmitted_from, created_at, started_at, finished_at, next_attempt_at, lease_owner, lease_until, expr_steps, expr_nanos`

func scanRun(row interface{ Scan(...any) error }) (store.Run, error) {
	return scanRunFields(row, true)
}

// scanRunRow reads runRowCols: a run without its flow's name and owner.
func scanRunRow(row interface{ Scan(...any) error }) (store.Run, error) {
	return scanRunFields(row, false)
}

// alsoScan reads the columns a scan function knows into its destinations
// and the columns after them into more.
type alsoScan struct {
	row  interface{ Scan(...any) error }
	more []any
}

// Scan reads dest, then the extra columns.
func (a alsoScan) Scan(dest ...any) error { return a.row.Scan(append(dest, a.more...)...) }

// scanRunFields reads a run, with its flow's name and owner when
// withFlow (runCols) or without them (runRowCols).
func scanRunFields(row interface{ Scan(...any) error }, withFlow bool) (store.Run, error) {
	var r store.Run
	var input string
	var output, leaseOwner sql.NullString
	var resub, started, finished, leaseUntil sql.NullInt64
	var created, next, exprNanos int64
	head := []any{&r.ID, &r.FlowID, &r.FlowName, &r.FlowVersion, &r.OwnerID}
	if !withFlow {
		head = []any{&r.ID, &r.FlowID, &r.FlowVersion}
	}
	err := row.Scan(append(head, &r.Status, &r.TriggerType, &input, &output, &r.Error, &r.CurrentStep,
		&resub, &created, &started, &finished, &next, &leaseOwner, &leaseUntil, &r.Usage.ExprSteps, &exprNanos)...)
	if err != nil {
		return store.Run{}, err
	}
	r.Input = []byte(input)
	if output.Valid {
		r.Output = []byte(output.String)
	}
	if resub.Valid {
		v := resub.Int64
		r.ResubmittedFrom = &v
	}
	r.CreatedAt, r.NextAttemptAt = fromNanos(created), fromNanos(next)
	r.StartedAt, r.FinishedAt, r.LeaseUntil = fromNull(started), fromNull(finished), fromNull(leaseUntil)
	r.LeaseOwner = leaseOwner.String
	r.Usage.ExprTime = time.Duration(exprNanos)
	return r, nil
}

// seedRunIDs moves lastRunID up to the largest run id in the file, read
// with q: the write connection, or the transaction that found an id
// taken.
func (s *Store) seedRunIDs(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}) error {
	var top int64
	if err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM runs`).Scan(&top); err != nil {
		return fmt.Errorf("read the largest run id: %w", err)
	}
	s.raiseRunIDs(top)
	return nil
}

// raiseRunIDs moves lastRunID up to top, if it is below.
func (s *Store) raiseRunIDs(top int64) {
	for {
		cur := s.lastRunID.Load()
		if cur >= top || s.lastRunID.CompareAndSwap(cur, top) {
			return
		}
	}
}

// ReserveRunID returns the next run id.
func (s *Store) ReserveRunID(ctx context.Context) (int64, error) {
	return s.lastRunID.Add(1), nil
}

// insertRun adds a run inside tx and reads it back.
func (s *Store) insertRun(ctx context.Context, tx *wtx, nr store.NewRun) (store.Run, error) {
	nr.ID, nr.CreatedAt, nr.CurrentStep, nr.Finish = s.lastRunID.Add(1), time.Time{}, "", nil
	err := insertRunRow(ctx, tx, nr)
	if errors.Is(err, store.ErrConflict) {
		// A run written to the file by other means (a tool working on
		// the file directly) holds the id: go past the largest.
		if err := s.seedRunIDs(ctx, tx); err != nil {
			return store.Run{}, err
		}
		nr.ID = s.lastRunID.Add(1)
		err = insertRunRow(ctx, tx, nr)
	}
	if err != nil {
		return store.Run{}, err
	}
	r, err := scanRun(tx.QueryRowContext(ctx, `SELECT `+runCols+` WHERE r.id = ?`, nr.ID))
	if err != nil {
		return store.Run{}, fmt.Errorf("read back run %d: %w", nr.ID, err)
	}
	return r, nil
}

// insertRunRow writes the row of run nr.ID inside tx: queued, running
// under nr's lease, or finished as nr.Finish says.
func insertRunRow(ctx context.Context, tx *wtx, nr store.NewRun) error {
	now := time.Now().UTC()
	created := nr.CreatedAt
	if created.IsZero() {
		created = now
	}
	next := nr.NextAttemptAt
	if next.IsZero() {
		next = created
	}
	status := store.RunQueued
	var owner, until, started, finished, output any
	var msg string
	if nr.LeaseOwner != "" {
		status, owner, until, started = store.RunRunning, nr.LeaseOwner, nanos(nr.LeaseUntil), nanos(created)
	}
	if fin := nr.Finish; fin != nil {
		status, owner, until, finished, output, msg = fin.Status, nil, nil, nanos(now), nullText(fin.Output), fin.Error
		if started == nil {
			started = nanos(created)
		}
	}
	input := string(nr.Input)
	if input == "" {
		input = "{}"
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO runs (id, flow_id, flow_version, status, trigger_type, input, output, error, current_step, resubmitted_from, created_at, started_at, finished_at, next_attempt_at, lease_owner, lease_until) `+
		`VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		nr.ID, nr.FlowID, nr.FlowVersion, status, nr.TriggerType, input, output, msg, nr.CurrentStep, nr.ResubmittedFrom, nanos(created), started, finished, nanos(next), owner, until)
	if isUnique(err) {
		return fmt.Errorf("insert run %d: %w", nr.ID, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("insert run: %w", err)
	}
	return nil
}

// SaveNewRun commits a run worked before it was committed, with its
// first steps and, when it finished, its end, in one transaction.
func (s *Store) SaveNewRun(ctx context.Context, nr store.NewRun) error {
	if len(nr.Steps) > store.StepChunk {
		return fmt.Errorf("save new run %d: %d steps, more than the %d one write takes", nr.ID, len(nr.Steps), store.StepChunk)
	}
	if nr.ID <= 0 {
		return fmt.Errorf("save new run: no id: reserve one with ReserveRunID")
	}
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		if err := insertRunRow(ctx, tx, nr); err != nil {
			return err
		}
		run := &stepsRun{id: nr.ID}
		if !nr.CreatedAt.IsZero() {
			run.flowID, run.created, run.known = nr.FlowID, nanos(nr.CreatedAt), true
		}
		if err := insertSteps(ctx, tx, run, 0, nr.Steps); err != nil {
			return err
		}
		if nr.Finish != nil && nr.Finish.Status == store.RunFailed {
			return addEvent(ctx, tx, store.EventRunFailed, nr.ID, 0)
		}
		return nil
	})
	s.wakeIf(nr.LeaseOwner == "" && nr.Finish == nil, err)
	if errors.Is(err, store.ErrConflict) {
		// The next reservations go past the run that holds the id.
		if serr := s.seedRunIDs(ctx, s.write); serr != nil {
			err = errors.Join(err, serr)
		}
	}
	if err != nil {
		return fmt.Errorf("save new run %d of flow %d: %w", nr.ID, nr.FlowID, err)
	}
	return nil
}

// ResubmitRun creates a resubmitted run, or returns the unfinished run
// already resubmitted from the same original when nr.Dedupe is set. With
// nr.CopySucceeded, the original's succeeded steps are copied in chunks
// (see store.CopyGrace).
func (s *Store) ResubmitRun(ctx context.Context, nr store.NewRun) (store.Run, bool, error) {
	copying := nr.CopySucceeded && nr.ResubmittedFrom != nil
	due := nr.NextAttemptAt
	if copying && nr.LeaseOwner == "" {
		nr.NextAttemptAt = time.Now().Add(store.CopyGrace)
	}
	var r store.Run
	var existing bool
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		if nr.Dedupe && nr.ResubmittedFrom != nil {
			var id int64
			err := tx.QueryRowContext(ctx, `SELECT id FROM runs WHERE resubmitted_from = ? AND status IN ('queued', 'running', 'waiting') ORDER BY id LIMIT 1`, *nr.ResubmittedFrom).Scan(&id)
			if err == nil {
				existing = true
				r, err = scanRun(tx.QueryRowContext(ctx, `SELECT `+runCols+` WHERE r.id = ?`, id))
				return err
			}
			if err != sql.ErrNoRows {
				return err
			}
		}
		var err error
		r, err = s.insertRun(ctx, tx, nr)
		return err
	})
	if err == nil && copying && !existing {
		r, err = s.copySucceeded(ctx, *nr.ResubmittedFrom, r, due)
	}
	s.wakeIf(!existing && r.Status == store.RunQueued, err)
	if err != nil {
		return store.Run{}, false, fmt.Errorf("resubmit run: %w", err)
	}
	return r, existing, nil
}

// copySucceeded copies the succeeded steps of run from to the new run r,
// store.StepChunk at a time, while r is still as ResubmitRun created it
// (queued and due after the grace, or running under the lease it was
// created with). With the last chunk, a queued r becomes due at due (now
// when zero). It returns r as it is then.
func (s *Store) copySucceeded(ctx context.Context, from int64, r store.Run, due time.Time) (store.Run, error) {
	if due.IsZero() {
		due = time.Now()
	}
	hold := nanos(r.NextAttemptAt)
	for after, done := int64(0), false; !done; {
		err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
			var waiting int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM runs WHERE id = ? AND ((status = 'queued' AND next_attempt_at = ?) OR (status = 'running' AND lease_owner = ?))`,
				r.ID, hold, r.LeaseOwner).Scan(&waiting); err != nil {
				return err
			}
			if waiting == 0 {
				// Cancelled, or started after the grace: it runs again
				// what was not copied.
				done = true
				return nil
			}
			var n int
			var last sql.NullInt64
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), MAX(seq) FROM (SELECT seq FROM steps WHERE run_id = ? AND status = 'succeeded' AND seq > ? ORDER BY seq LIMIT ?)`,
				from, after, store.StepChunk).Scan(&n, &last); err != nil {
				return err
			}
			if n > 0 {
				if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO steps (`+stepCols+`, error_flow_id, error_run_created_at) `+
					`SELECT ?, key, seq, action_id, type, status, attempts, started_at, finished_at, input, output, error, next_attempt_at, error_class, error_code, error_connection, attempt_log, `+
					`CASE WHEN error_code IS NOT NULL THEN ? END, CASE WHEN error_code IS NOT NULL THEN ? END `+
					`FROM steps WHERE run_id = ? AND status = 'succeeded' AND seq > ? AND seq <= ?`, r.ID, r.FlowID, nanos(r.CreatedAt), from, after, last.Int64); err != nil {
					return err
				}
			}
			if n == store.StepChunk {
				after = last.Int64
				return nil
			}
			done = true
			_, err := tx.ExecContext(ctx, `UPDATE runs SET next_attempt_at = ? WHERE id = ? AND status = 'queued' AND next_attempt_at = ?`, nanos(due), r.ID, hold)
			return err
		})
		if err != nil {
			return store.Run{}, fmt.Errorf("copy the succeeded steps of run %d: %w", from, err)
		}
	}
	return s.GetRun(ctx, r.ID)
}

// CreateRun commits a new run.
func (s *Store) CreateRun(ctx context.Context, nr store.NewRun) (store.Run, error) {
	var r store.Run
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		var err error
		r, err = s.insertRun(ctx, tx, nr)
		return err
	})
	s.wakeIf(r.Status == store.RunQueued, err)
	if err != nil {
		return store.Run{}, fmt.Errorf("create run of flow %d: %w", nr.FlowID, err)
	}
	return r, nil
}

// GetRun returns a run.
func (s *Store) GetRun(ctx context.Context, id int64) (store.Run, error) {
	r, err := scanRun(s.queryRow(ctx, `SELECT `+runCols+` WHERE r.id = ?`, id))
	if err != nil {
		return store.Run{}, notFound(err, fmt.Sprintf("get run %d", id))
	}
	return r, nil
}

// runWhere builds the WHERE clause of a run filter.
func runWhere(rf store.RunFilter) (string, []any) {
	var where []string
	var args []any
	add := func(cond string, a ...any) {
		where, args = append(where, cond), append(args, a...)
	}
	if rf.OwnerID != 0 {
		add(`f.owner_id = ?`, rf.OwnerID)
	}
	if rf.FlowID != 0 {
		add(`r.flow_id = ?`, rf.FlowID)
	}
	if rf.Status != "" {
		add(`r.status = ?`, rf.Status)
	}
	if !rf.Since.IsZero() {
		add(`r.created_at >= ?`, nanos(rf.Since))
	}
	if !rf.Until.IsZero() {
		add(`r.created_at < ?`, nanos(rf.Until))
	}
	if rf.ResubmittedFrom != 0 {
		add(`r.resubmitted_from = ?`, rf.ResubmittedFrom)
	}
	if rf.BeforeID != 0 {
		add(`r.id < ?`, rf.BeforeID)
	}
	if rf.AfterID != 0 {
		add(`r.id > ?`, rf.AfterID)
	}
	if len(rf.IDs) > 0 {
		ids := make([]any, len(rf.IDs))
		for i, id := range rf.IDs {
			ids[i] = id
		}
		add(`r.id IN (?`+strings.Repeat(`, ?`, len(ids)-1)+`)`, ids...)
	}
	if rf.FailedOnConnection != "" {
		// From the steps_auth_connection index: as many steps as the
		// connection has failures, however many other runs failed.
		add(`r.status = 'failed' AND r.id IN (SELECT s.run_id FROM steps s WHERE s.error_connection = ? `+
			`AND s.error_class = 'auth' AND s.status IN ('failed', 'timed_out'))`, rf.FailedOnConnection)
	}
	if rf.InputPathPrefix != "" {
		add(`json_valid(r.input) AND json_type(r.input, '$.path') = 'text' AND json_extract(r.input, '$.path') LIKE ? ESCAPE '\'`, store.LikePrefix(rf.InputPathPrefix))
	}
	if rf.InputPathExcept != "" {
		add(`NOT (json_valid(r.input) AND json_type(r.input, '$.path') = 'text' AND json_extract(r.input, '$.path') LIKE ? ESCAPE '\')`, store.LikePrefix(rf.InputPathExcept))
	}
	if rf.InputContains != "" {
		add(`r.input LIKE ? ESCAPE '\'`, store.LikeContains(rf.InputContains))
	}
	if len(where) == 0 {
		return "", nil
	}
	return ` WHERE ` + strings.Join(where, ` AND `), args
}

// ListRuns returns runs, newest first (or oldest first).
func (s *Store) ListRuns(ctx context.Context, rf store.RunFilter) ([]store.Run, error) {
	where, args := runWhere(rf)
	limit := rf.Limit
	if limit <= 0 {
		limit = 50
	}
	order := ` ORDER BY r.id DESC LIMIT ?`
	if rf.Oldest {
		order = ` ORDER BY r.id LIMIT ?`
	}
	from := runCols
	if byFlows(rf) {
		from = runsByFlows
	}
	return list(ctx, s, "list runs", scanRun, `SELECT `+from+where+order, append(args, limit)...)
}

// CountRuns counts the runs a filter keeps.
func (s *Store) CountRuns(ctx context.Context, rf store.RunFilter) (int, error) {
	where, args := runWhere(rf)
	var n int
	if err := s.queryRow(ctx, `SELECT COUNT(*) FROM runs r JOIN flows f ON f.id = r.flow_id`+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count runs: %w", err)
	}
	return n, nil
}

const stepCols = `run_id, key, seq, action_id, type, status, attempts, started_at, finished_at, input, output, error, next_attempt_at, error_class, error_code, error_connection, attempt_log`

// ListSteps returns a run's steps in the order they were first recorded.
func (s *Store) ListSteps(ctx context.Context, runID int64) ([]store.Step, error) {
	return s.ListStepsAfter(ctx, runID, 0, 0)
}

// ListStepsAfter returns up to limit (all when 0) of a run's steps after
// seq afterSeq, in order.
func (s *Store) ListStepsAfter(ctx context.Context, runID, afterSeq int64, limit int) ([]store.Step, error) {
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.query(ctx, `SELECT `+stepCols+` FROM steps WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?`, runID, afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("list steps of run %d: %w", runID, err)
	}
	defer rows.Close()
	var out []store.Step
	for rows.Next() {
		var st store.Step
		var started, finished, next sql.NullInt64
		var input, output, serr, class, code, conn, attempts sql.NullString
		if err := rows.Scan(&st.RunID, &st.Key, &st.Seq, &st.ActionID, &st.Type, &st.Status, &st.Attempts, &started, &finished, &input, &output, &serr, &next,
			&class, &code, &conn, &attempts); err != nil {
			return nil, fmt.Errorf("list steps of run %d: %w", runID, err)
		}
		if st.AttemptLog, err = store.DecodeAttempts([]byte(attempts.String)); err != nil {
			return nil, fmt.Errorf("list steps of run %d: step %q: %w", runID, st.Key, err)
		}
		st.StartedAt, st.FinishedAt, st.NextAttemptAt = fromNull(started), fromNull(finished), fromNull(next)
		st.Fault = store.StepFault{Class: class.String, Code: code.String, Connection: conn.String}
		if input.Valid {
			st.Input = []byte(input.String)
		}
		if output.Valid {
			st.Output = []byte(output.String)
		}
		if serr.Valid {
			st.Error = []byte(serr.String)
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list steps of run %d: %w", runID, err)
	}
	return out, nil
}

// claimRunsSQL leases the due runs (owner, lease_until, now, now, limit)
// and returns their rows and whether each has no step recorded yet. The
// due runs are read from runs_due in its order: without statistics
// SQLite would pick runs_status and sort every queued run on each claim,
// which made draining a backlog quadratic (TestQueuePlans).
const claimRunsSQL = `UPDATE runs SET status = 'running', lease_owner = ?, lease_until = ?, started_at = COALESCE(started_at, ?) ` +
	`WHERE id IN (SELECT id FROM runs INDEXED BY runs_due WHERE status IN ('queued', 'waiting') AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?) ` +
	`RETURNING ` + runRowCols + `, NOT EXISTS (SELECT 1 FROM steps WHERE run_id = runs.id)`

// nextDueSQL is the earliest due time of a queued or waiting run: the
// first entry of runs_due, not a scan of the queued runs (TestQueuePlans).
const nextDueSQL = `SELECT MIN(next_attempt_at) FROM runs INDEXED BY runs_due WHERE status IN ('queued', 'waiting')`

// ClaimRuns leases up to limit due queued or waiting runs to owner.
func (s *Store) ClaimRuns(ctx context.Context, owner string, now, leaseUntil time.Time, limit int) ([]store.Run, error) {
	var out []store.Run
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		out = out[:0]
		// The claimed rows come back from the UPDATE itself (see
		// claimRunsSQL); their flows' names and owners are read once per
		// flow.
		rows, err := tx.QueryContext(ctx, claimRunsSQL,
			owner, nanos(leaseUntil), nanos(now), nanos(now), limit)
		if err != nil {
			return err
		}
		for rows.Next() {
			var none bool
			r, err := scanRunRow(alsoScan{rows, []any{&none}})
			if err != nil {
				rows.Close()
				return err
			}
			r.NoSteps = none
			out = append(out, r)
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			return err
		}
		if err := rows.Close(); err != nil {
			return err
		}
		type flowOf struct {
			name  string
			owner int64
		}
		flows := map[int64]flowOf{}
		for i, r := range out {
			f, ok := flows[r.FlowID]
			if !ok {
				if err := tx.QueryRowContext(ctx, `SELECT name, owner_id FROM flows WHERE id = ?`, r.FlowID).Scan(&f.name, &f.owner); err != nil {
					return fmt.Errorf("flow %d of run %d: %w", r.FlowID, r.ID, err)
				}
				flows[r.FlowID] = f
			}
			out[i].FlowName, out[i].OwnerID = f.name, f.owner
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim runs: %w", err)
	}
	return out, nil
}

// queryIDs runs a statement inside tx that returns one column of ids,
// and reads them all.
func queryIDs(ctx context.Context, tx *wtx, q string, args ...any) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return nil, err
	}
	return ids, rows.Close()
}

// ExtendLeases pushes the lease of the owner's running runs to until.
func (s *Store) ExtendLeases(ctx context.Context, owner string, ids []int64, until time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		for chunk := range chunks(ids, 500) {
			args := []any{nanos(until), owner}
			for _, id := range chunk {
				args = append(args, id)
			}
			q := `UPDATE runs SET lease_until = ? WHERE lease_owner = ? AND status = 'running' AND id IN (?` + strings.Repeat(`, ?`, len(chunk)-1) + `)`
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("extend leases: %w", err)
	}
	return nil
}

// chunks yields ids in slices of at most n.
func chunks(ids []int64, n int) func(func([]int64) bool) {
	return func(yield func([]int64) bool) {
		for len(ids) > 0 {
			k := min(n, len(ids))
			if !yield(ids[:k]) {
				return
			}
			ids = ids[k:]
		}
	}
}

// RescueRuns re-queues running runs whose lease expired, or all of them.
func (s *Store) RescueRuns(ctx context.Context, now time.Time, all bool) (int, error) {
	var n int64
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		q := `UPDATE runs SET status = 'queued', lease_owner = NULL, lease_until = NULL, next_attempt_at = ? WHERE status = 'running'`
		args := []any{nanos(now)}
		if !all {
			q += ` AND lease_until < ?`
			args = append(args, nanos(now))
		}
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		n, err = affected(res)
		return err
	})
	s.wakeIf(n > 0, err)
	if err != nil {
		return 0, fmt.Errorf("rescue runs: %w", err)
	}
	return int(n), nil
}

// NextDueAt returns the earliest next_attempt_at of queued or waiting runs.
func (s *Store) NextDueAt(ctx context.Context) (time.Time, error) {
	var at sql.NullInt64
	if err := s.queryRow(ctx, nextDueSQL).Scan(&at); err != nil {
		return time.Time{}, fmt.Errorf("next due run: %w", err)
	}
	if !at.Valid {
		return time.Time{}, fmt.Errorf("next due run: %w", store.ErrNotFound)
	}
	return fromNanos(at.Int64), nil
}

// holdRun checks, inside tx, that owner still holds the run, and records
// the step it is at (unchanged when currentStep is empty).
func holdRun(ctx context.Context, tx *wtx, owner string, runID int64, currentStep string) error {
	res, err := tx.ExecContext(ctx, `UPDATE runs SET current_step = COALESCE(NULLIF(?, ''), current_step) WHERE id = ? AND status = 'running' AND lease_owner = ?`, currentStep, runID, owner)
	if err != nil {
		return err
	}
	n, err := affected(res)
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrLeaseLost
	}
	return nil
}

// upsertSteps writes step results inside tx. A step recorded again keeps
// its place (seq) and its first start time; new steps follow the run's
// last seq, read once from the steps_seq index, so that writing n steps
// costs O(n log n) however many the run already has. The caller holds the
// run's lease, so one writer at a time numbers its steps.
func upsertSteps(ctx context.Context, tx *wtx, runID int64, steps []store.Step) error {
	if len(steps) == 0 {
		return nil
	}
	var seq int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM steps WHERE run_id = ?`, runID).Scan(&seq); err != nil {
		return fmt.Errorf("save steps: last seq: %w", err)
	}
	return insertSteps(ctx, tx, &stepsRun{id: runID}, seq, steps)
}

// stepsRun is the run whose steps insertSteps writes. A failed step with
// a diagnosis code also carries the run's flow and creation time
// (error_flow_id, error_run_created_at), so that ListProblems groups and
// bounds problems from the steps_flow_problems index alone. known says
// flowID and created are set; otherwise they are read from the run once,
// when the first step with a code comes. (Migration 0013 set them with
// triggers, which made SQLite keep a statement journal for every write of
// a step: a tenth of W1's CPU; 0016 dropped them.)
type stepsRun struct {
	id      int64
	flowID  int64
	created int64
	known   bool
}

// problemColumns returns the values of error_flow_id and
// error_run_created_at for a step with diagnosis code code: none without
// a code.
func (r *stepsRun) problemColumns(ctx context.Context, tx *wtx, code string) (any, any, error) {
	if code == "" {
		return nil, nil, nil
	}
	if !r.known {
		if err := tx.QueryRowContext(ctx, `SELECT flow_id, created_at FROM runs WHERE id = ?`, r.id).Scan(&r.flowID, &r.created); err != nil {
			return nil, nil, fmt.Errorf("read the flow of run %d: %w", r.id, err)
		}
		r.known = true
	}
	return r.flowID, r.created, nil
}

// stepRowsMax is how many steps one INSERT writes: a statement per step
// cost a fifth of a new run's write in the group committer. 19
// parameters a row stays far below SQLite's limit of 32,766.
const stepRowsMax = 32

// stepInserts are the INSERT statements of insertSteps by row count
// (index 1 to stepRowsMax), each prepared once. A step written again
// keeps the flow and creation time of its first write with a code, as
// they never change for a run.
var stepInserts = func() (q [stepRowsMax + 1]string) {
	row := `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	for n := 1; n <= stepRowsMax; n++ {
		q[n] = `INSERT INTO steps (` + stepCols + `, error_flow_id, error_run_created_at) VALUES ` + row + strings.Repeat(`, `+row, n-1) + ` ` +
			`ON CONFLICT (run_id, key) DO UPDATE SET status = excluded.status, attempts = excluded.attempts, started_at = COALESCE(steps.started_at, excluded.started_at), ` +
			`finished_at = excluded.finished_at, input = excluded.input, output = excluded.output, error = excluded.error, next_attempt_at = excluded.next_attempt_at, ` +
			`error_class = excluded.error_class, error_code = excluded.error_code, error_connection = excluded.error_connection, attempt_log = excluded.attempt_log, ` +
			`error_flow_id = COALESCE(steps.error_flow_id, excluded.error_flow_id), error_run_created_at = COALESCE(steps.error_run_created_at, excluded.error_run_created_at)`
	}
	return q
}()

// insertSteps writes step results of run inside tx, numbering new steps
// after seq, the run's last (see upsertSteps), up to stepRowsMax steps a
// statement. A step given twice is written twice in order, as one
// statement per step would: the second updates the first.
func insertSteps(ctx context.Context, tx *wtx, run *stepsRun, seq int64, steps []store.Step) error {
	args := make([]any, 0, 19*min(len(steps), stepRowsMax))
	for len(steps) > 0 {
		n := min(len(steps), stepRowsMax)
		args = args[:0]
		for _, st := range steps[:n] {
			seq++
			attempts, err := store.EncodeAttempts(st.AttemptLog)
			if err != nil {
				return fmt.Errorf("save step %q: %w", st.Key, err)
			}
			flowID, created, err := run.problemColumns(ctx, tx, st.Fault.Code)
			if err != nil {
				return fmt.Errorf("save step %q: %w", st.Key, err)
			}
			args = append(args, run.id, st.Key, seq, st.ActionID, st.Type, st.Status, st.Attempts, nullNanos(st.StartedAt), nullNanos(st.FinishedAt),
				nullText(st.Input), nullText(st.Output), nullText(st.Error), nullNanos(st.NextAttemptAt),
				nullText([]byte(st.Fault.Class)), nullText([]byte(st.Fault.Code)), nullText([]byte(st.Fault.Connection)), nullText(attempts), flowID, created)
		}
		if _, err := tx.ExecContext(ctx, stepInserts[n], args...); err != nil {
			if n == 1 {
				return fmt.Errorf("save step %q: %w", steps[0].Key, err)
			}
			return fmt.Errorf("save steps %q to %q: %w", steps[0].Key, steps[n-1].Key, err)
		}
		steps = steps[n:]
	}
	return nil
}

// saveChunk writes one chunk of steps before the last (see
// store.StepChunk) in its own transaction, fenced by the lease.
func (s *Store) saveChunk(ctx context.Context, owner string, runID int64, steps []store.Step) error {
	return s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		if err := holdRun(ctx, tx, owner, runID, ""); err != nil {
			return err
		}
		return upsertSteps(ctx, tx, runID, steps)
	})
}

// nullText stores empty JSON as NULL.
func nullText(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

// SaveSteps records step results of a run the owner holds.
func (s *Store) SaveSteps(ctx context.Context, owner string, runID int64, currentStep string, steps []store.Step) error {
	lead := func(c []store.Step) error { return s.saveChunk(ctx, owner, runID, c) }
	err := store.WriteInChunks(steps, lead, func(last []store.Step) error {
		return s.exec(ctx, func(ctx context.Context, tx *wtx) error {
			if err := holdRun(ctx, tx, owner, runID, currentStep); err != nil {
				return err
			}
			return upsertSteps(ctx, tx, runID, last)
		})
	})
	if err != nil {
		return fmt.Errorf("save steps of run %d: %w", runID, err)
	}
	return nil
}

// ParkRun releases a run until at, writing steps first.
func (s *Store) ParkRun(ctx context.Context, owner string, runID int64, at time.Time, steps []store.Step) error {
	lead := func(c []store.Step) error { return s.saveChunk(ctx, owner, runID, c) }
	err := store.WriteInChunks(steps, lead, func(last []store.Step) error {
		return s.exec(ctx, func(ctx context.Context, tx *wtx) error {
			res, err := tx.ExecContext(ctx, `UPDATE runs SET status = 'waiting', next_attempt_at = ?, lease_owner = NULL, lease_until = NULL WHERE id = ? AND status = 'running' AND lease_owner = ?`,
				nanos(at), runID, owner)
			if err != nil {
				return err
			}
			if err := changed(res, store.ErrLeaseLost); err != nil {
				return err
			}
			return upsertSteps(ctx, tx, runID, last)
		})
	})
	s.wakeIf(true, err)
	if err != nil {
		return fmt.Errorf("park run %d: %w", runID, err)
	}
	return nil
}

// SaveRunUsage records what a run the owner holds has spent.
func (s *Store) SaveRunUsage(ctx context.Context, owner string, runID int64, u store.RunUsage) error {
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE runs SET expr_steps = ?, expr_nanos = ? WHERE id = ? AND status = 'running' AND lease_owner = ?`,
			u.ExprSteps, int64(u.ExprTime), runID, owner)
		if err != nil {
			return err
		}
		return changed(res, store.ErrLeaseLost)
	})
	if err != nil {
		return fmt.Errorf("save usage of run %d: %w", runID, err)
	}
	return nil
}

// FinishRun records a run's final status; the last chunk of its steps and
// the event that reports a failure commit with it.
func (s *Store) FinishRun(ctx context.Context, owner string, runID int64, fin store.RunFinish) error {
	lead := func(c []store.Step) error { return s.saveChunk(ctx, owner, runID, c) }
	err := store.WriteInChunks(fin.Steps, lead, func(last []store.Step) error {
		return s.exec(ctx, func(ctx context.Context, tx *wtx) error {
			res, err := tx.ExecContext(ctx, `UPDATE runs SET status = ?, output = ?, error = ?, finished_at = ?, lease_owner = NULL, lease_until = NULL WHERE id = ? AND status = 'running' AND lease_owner = ?`,
				fin.Status, nullText(fin.Output), fin.Error, nanos(time.Now()), runID, owner)
			if err != nil {
				return err
			}
			if err := changed(res, store.ErrLeaseLost); err != nil {
				return err
			}
			if err := upsertSteps(ctx, tx, runID, last); err != nil {
				return err
			}
			if fin.Status == store.RunFailed {
				return addEvent(ctx, tx, store.EventRunFailed, runID, 0)
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("finish run %d: %w", runID, err)
	}
	return nil
}

// CancelRun cancels a run that has not finished.
func (s *Store) CancelRun(ctx context.Context, id int64) (store.Run, error) {
	var r store.Run
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE runs SET status = 'cancelled', error = 'cancelled', finished_at = ?, lease_owner = NULL, lease_until = NULL `+
			`WHERE id = ? AND status IN ('queued', 'running', 'waiting')`, nanos(time.Now()), id); err != nil {
			return err
		}
		var err error
		r, err = scanRun(tx.QueryRowContext(ctx, `SELECT `+runCols+` WHERE r.id = ?`, id))
		return err
	})
	if err != nil {
		return store.Run{}, notFound(err, fmt.Sprintf("cancel run %d", id))
	}
	return r, nil
}

// SetRunInputs replaces the input of runs in one write transaction.
func (s *Store) SetRunInputs(ctx context.Context, inputs map[int64]json.RawMessage) error {
	if len(inputs) == 0 {
		return nil
	}
	err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
		for id, in := range inputs {
			if _, err := tx.ExecContext(ctx, `UPDATE runs SET input = ? WHERE id = ?`, string(in), id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set the input of %d runs: %w", len(inputs), err)
	}
	return nil
}

// PruneRuns deletes finished runs created before the time, a thousand at a
// time so that one prune never holds the write lock for long.
func (s *Store) PruneRuns(ctx context.Context, before time.Time) (int, error) {
	total := 0
	for {
		var n int64
		err := s.exec(ctx, func(ctx context.Context, tx *wtx) error {
			res, err := tx.ExecContext(ctx, `DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE created_at < ? AND status IN ('succeeded', 'failed', 'cancelled') LIMIT 1000)`, nanos(before))
			if err != nil {
				return err
			}
			n, err = affected(res)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("prune runs: %w", err)
		}
		total += int(n)
		if n < 1000 {
			return total, nil
		}
	}
}
