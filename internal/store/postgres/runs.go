package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluice/sluice/internal/store"
)

// runCols are a run's columns with its flow's name and owner; the run
// table (or a CTE standing for it) is aliased r and joined to flows f.
const runCols = `r.id, r.flow_id, f.name, r.flow_version, f.owner_id, r.status, r.trigger_type, r.input, r.output, r.error, r.current_step, ` +
	`r.resubmitted_from, r.created_at, r.started_at, r.finished_at, r.next_attempt_at, r.lease_owner, r.lease_until, r.expr_steps, r.expr_nanos`

// runFrom joins runs to their flows.
const runFrom = ` FROM runs r JOIN flows f ON f.id = r.flow_id`

func scanRun(row rowScanner) (store.Run, error) {
	var r store.Run
	var input string
	var output, leaseOwner *string
	var exprNanos int64
	err := row.Scan(&r.ID, &r.FlowID, &r.FlowName, &r.FlowVersion, &r.OwnerID, &r.Status, &r.TriggerType, &input, &output, &r.Error, &r.CurrentStep,
		&r.ResubmittedFrom, &r.CreatedAt, &r.StartedAt, &r.FinishedAt, &r.NextAttemptAt, &leaseOwner, &r.LeaseUntil, &r.Usage.ExprSteps, &exprNanos)
	if err != nil {
		return store.Run{}, err
	}
	r.Input, r.Output = []byte(input), textBytes(output)
	if leaseOwner != nil {
		r.LeaseOwner = *leaseOwner
	}
	r.CreatedAt, r.NextAttemptAt = utc(r.CreatedAt), utc(r.NextAttemptAt)
	r.StartedAt, r.FinishedAt, r.LeaseUntil = utcPtr(r.StartedAt), utcPtr(r.FinishedAt), utcPtr(r.LeaseUntil)
	r.Usage.ExprTime = time.Duration(exprNanos)
	return r, nil
}

// alsoScan reads the columns a scan function knows into its destinations
// and the columns after them into more.
type alsoScan struct {
	row  rowScanner
	more []any
}

// Scan reads dest, then the extra columns.
func (a alsoScan) Scan(dest ...any) error { return a.row.Scan(append(dest, a.more...)...) }

// runRow is the row a new run is written as: queued, running under its
// lease, or finished as its Finish says; created and next default to now.
type runRow struct {
	status, input, msg       string
	owner, output            *string
	created, next            time.Time
	until, started, finished *time.Time
}

// newRunRow is the row of nr (see runRow).
func newRunRow(nr store.NewRun) runRow {
	now := time.Now().UTC()
	w := runRow{status: store.RunQueued, input: string(nr.Input), created: nr.CreatedAt.UTC(), next: nr.NextAttemptAt}
	if nr.CreatedAt.IsZero() {
		w.created = now
	}
	if w.next.IsZero() {
		w.next = w.created
	}
	if w.input == "" {
		w.input = "{}"
	}
	if nr.LeaseOwner != "" {
		w.status, w.owner, w.until, w.started = store.RunRunning, &nr.LeaseOwner, &nr.LeaseUntil, &w.created
	}
	if fin := nr.Finish; fin != nil {
		w.status, w.owner, w.until, w.finished, w.msg = fin.Status, nil, nil, &now, fin.Error
		if len(fin.Output) > 0 {
			o := string(fin.Output)
			w.output = &o
		}
		if w.started == nil {
			w.started = &w.created
		}
	}
	return w
}

// insertRun adds a run inside tx and returns it as stored. The caller
// wakes the nodes (wakeNodes) once tx committed a queued run.
func (s *Store) insertRun(ctx context.Context, tx pgx.Tx, nr store.NewRun) (store.Run, error) {
	w := newRunRow(nr)
	r, err := scanRun(tx.QueryRow(ctx, `WITH r AS (INSERT INTO runs (flow_id, flow_version, status, trigger_type, input, resubmitted_from, created_at, started_at, next_attempt_at, lease_owner, lease_until) `+
		`VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *) SELECT `+runCols+` FROM r JOIN flows f ON f.id = r.flow_id`,
		nr.FlowID, nr.FlowVersion, w.status, nr.TriggerType, w.input, nr.ResubmittedFrom, w.created, w.started, w.next, w.owner, w.until))
	if err != nil {
		return store.Run{}, fmt.Errorf("insert run: %w", err)
	}
	return r, nil
}

// ReserveRunID takes the next id of the runs' sequence.
func (s *Store) ReserveRunID(ctx context.Context) (int64, error) {
	var id int64
	if err := s.pool.QueryRow(ctx, `SELECT nextval(pg_get_serial_sequence('runs', 'id'))`).Scan(&id); err != nil {
		return 0, fmt.Errorf("reserve a run id: %w", err)
	}
	return id, nil
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
	w := newRunRow(nr)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO runs (id, flow_id, flow_version, status, trigger_type, input, output, error, current_step, resubmitted_from, created_at, started_at, finished_at, next_attempt_at, lease_owner, lease_until) `+
			`VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
			nr.ID, nr.FlowID, nr.FlowVersion, w.status, nr.TriggerType, w.input, w.output, w.msg, nr.CurrentStep, nr.ResubmittedFrom, w.created, w.started, w.finished, w.next, w.owner, w.until); err != nil {
			return fmt.Errorf("insert run: %w", err)
		}
		if err := insertSteps(ctx, tx, nr.ID, 0, nr.Steps); err != nil {
			return err
		}
		if nr.Finish != nil && nr.Finish.Status == store.RunFailed {
			return addEvent(ctx, tx, store.EventRunFailed, nr.ID, 0)
		}
		return nil
	})
	if err != nil {
		return wrap(err, fmt.Sprintf("save new run %d of flow %d", nr.ID, nr.FlowID))
	}
	s.wakeNodesIf(ctx, nr.LeaseOwner == "" && nr.Finish == nil)
	return nil
}

// CreateRun commits a new run (the accepted trigger).
func (s *Store) CreateRun(ctx context.Context, nr store.NewRun) (store.Run, error) {
	var r store.Run
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		r, err = s.insertRun(ctx, tx, nr)
		return err
	})
	if err != nil {
		return store.Run{}, wrap(err, fmt.Sprintf("create run of flow %d", nr.FlowID))
	}
	s.wakeNodesIf(ctx, r.Status == store.RunQueued)
	return r, nil
}

// ResubmitRun creates a resubmitted run, or returns the unfinished run
// already resubmitted from the same original when nr.Dedupe is set.
// Resubmits of one original serialise on its row lock, so that two at once
// yield one run.
func (s *Store) ResubmitRun(ctx context.Context, nr store.NewRun) (store.Run, bool, error) {
	copying := nr.CopySucceeded && nr.ResubmittedFrom != nil
	due := nr.NextAttemptAt
	if copying && nr.LeaseOwner == "" {
		nr.NextAttemptAt = time.Now().Add(store.CopyGrace)
	}
	var r store.Run
	var existing bool
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		existing = false
		if nr.Dedupe && nr.ResubmittedFrom != nil {
			var locked int64
			err := tx.QueryRow(ctx, `SELECT id FROM runs WHERE id = $1 FOR UPDATE`, *nr.ResubmittedFrom).Scan(&locked)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("lock original run: %w", err)
			}
			r, err = scanRun(tx.QueryRow(ctx, `SELECT `+runCols+runFrom+` WHERE r.resubmitted_from = $1 AND r.status IN ('queued', 'running', 'waiting') ORDER BY r.id LIMIT 1`,
				*nr.ResubmittedFrom))
			if err == nil {
				existing = true
				return nil
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("find resubmitted run: %w", err)
			}
		}
		var err error
		r, err = s.insertRun(ctx, tx, nr)
		return err
	})
	if err == nil && copying && !existing {
		r, err = s.copySucceeded(ctx, *nr.ResubmittedFrom, r, due)
	}
	if err != nil {
		return store.Run{}, false, wrap(err, "resubmit run")
	}
	s.wakeNodesIf(ctx, !existing && r.Status == store.RunQueued)
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
	hold := r.NextAttemptAt
	for after, done := int64(0), false; !done; {
		err := s.inTx(ctx, func(tx pgx.Tx) error {
			var waiting int64
			err := tx.QueryRow(ctx, `SELECT id FROM runs WHERE id = $1 AND ((status = 'queued' AND next_attempt_at = $2) OR (status = 'running' AND lease_owner = $3)) FOR UPDATE`,
				r.ID, hold, r.LeaseOwner).Scan(&waiting)
			if errors.Is(err, pgx.ErrNoRows) {
				// Cancelled, or started after the grace: it runs again
				// what was not copied.
				done = true
				return nil
			}
			if err != nil {
				return err
			}
			var n int
			var last *int64
			if err := tx.QueryRow(ctx, `SELECT COUNT(*), MAX(seq) FROM (SELECT seq FROM steps WHERE run_id = $1 AND status = 'succeeded' AND seq > $2 ORDER BY seq LIMIT $3) c`,
				from, after, store.StepChunk).Scan(&n, &last); err != nil {
				return err
			}
			if n > 0 {
				if _, err := tx.Exec(ctx, `INSERT INTO steps (`+stepCols+`) SELECT $1, key, seq, action_id, type, status, attempts, started_at, finished_at, input, output, error, next_attempt_at, error_class, error_code, error_connection, attempt_log `+
					`FROM steps WHERE run_id = $2 AND status = 'succeeded' AND seq > $3 AND seq <= $4 ON CONFLICT (run_id, key) DO NOTHING`, r.ID, from, after, *last); err != nil {
					return err
				}
			}
			if n == store.StepChunk {
				after = *last
				return nil
			}
			done = true
			_, err = tx.Exec(ctx, `UPDATE runs SET next_attempt_at = $1 WHERE id = $2 AND status = 'queued'`, due, r.ID)
			return err
		})
		if err != nil {
			return store.Run{}, fmt.Errorf("copy the succeeded steps of run %d: %w", from, err)
		}
	}
	return s.GetRun(ctx, r.ID)
}

// GetRun returns a run.
func (s *Store) GetRun(ctx context.Context, id int64) (store.Run, error) {
	r, err := scanRun(s.pool.QueryRow(ctx, `SELECT `+runCols+runFrom+` WHERE r.id = $1`, id))
	if err != nil {
		return store.Run{}, wrap(err, fmt.Sprintf("get run %d", id))
	}
	return r, nil
}

// runWhere builds the WHERE clause of a run filter, numbering its
// parameters from 1.
func runWhere(rf store.RunFilter) (string, []any) {
	var where []string
	var args []any
	add := func(cond string, a any) {
		args = append(args, a)
		where = append(where, strings.ReplaceAll(cond, "$?", "$"+strconv.Itoa(len(args))))
	}
	if rf.OwnerID != 0 {
		add(`f.owner_id = $?`, rf.OwnerID)
	}
	if rf.FlowID != 0 {
		add(`r.flow_id = $?`, rf.FlowID)
	}
	if rf.Status != "" {
		add(`r.status = $?`, rf.Status)
	}
	if !rf.Since.IsZero() {
		add(`r.created_at >= $?`, rf.Since)
	}
	if !rf.Until.IsZero() {
		add(`r.created_at < $?`, rf.Until)
	}
	if rf.ResubmittedFrom != 0 {
		add(`r.resubmitted_from = $?`, rf.ResubmittedFrom)
	}
	if rf.BeforeID != 0 {
		add(`r.id < $?`, rf.BeforeID)
	}
	if rf.AfterID != 0 {
		add(`r.id > $?`, rf.AfterID)
	}
	if len(rf.IDs) > 0 {
		add(`r.id = ANY($?)`, rf.IDs)
	}
	if rf.FailedOnConnection != "" {
		// From the steps_auth_connection index: as many steps as the
		// connection has failures, however many other runs failed.
		add(`r.status = 'failed' AND r.id IN (SELECT s.run_id FROM steps s WHERE s.error_connection = $? `+
			`AND s.error_class = 'auth' AND s.status IN ('failed', 'timed_out'))`, rf.FailedOnConnection)
	}
	if rf.InputPathPrefix != "" {
		add(`COALESCE(sluice_try_jsonb(r.input) ->> 'path', '') LIKE $? ESCAPE '\'`, store.LikePrefix(rf.InputPathPrefix))
	}
	if rf.InputPathExcept != "" {
		add(`COALESCE(sluice_try_jsonb(r.input) ->> 'path', '') NOT LIKE $? ESCAPE '\'`, store.LikePrefix(rf.InputPathExcept))
	}
	if rf.InputContains != "" {
		add(`r.input ILIKE $? ESCAPE '\'`, store.LikeContains(rf.InputContains))
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
	args = append(args, limit)
	order := ` ORDER BY r.id DESC`
	if rf.Oldest {
		order = ` ORDER BY r.id`
	}
	q := `SELECT ` + runCols + runFrom + where + order + ` LIMIT $` + strconv.Itoa(len(args))
	if byFlows(rf) {
		q, args = runsByFlows(rf, order, limit)
	}
	rows, err := s.pool.Query(ctx, q, args...)
	out, err := collect(rows, err, scanRun)
	if err != nil {
		return nil, wrap(err, "list runs")
	}
	return out, nil
}

// byFlows reports whether ListRuns reads rf's runs through the owner's
// flows (runsByFlows): an owner's runs, unless a more selective filter
// (ids, a resubmit's original, a connection's failures, one flow) leads.
func byFlows(rf store.RunFilter) bool {
	return rf.OwnerID != 0 && rf.FlowID == 0 && len(rf.IDs) == 0 && rf.ResubmittedFrom == 0 && rf.FailedOnConnection == ""
}

// runsByFlows is the query of an owner's runs read through the owner's
// flows: for each flow, the ids of at most a page of its runs in id order
// from runs_flow (flow_id, id) or, with a status, runs_flow_status
// (flow_id, status, id), then the pages merged and the runs read by id. A
// page then costs about a page of index entries per flow of the owner,
// whether the owner has many runs of that status or none. Joined the
// other way, the planner walks every run of the status (runs_status) or
// sorts every run of the owner; and a lateral query of whole rows lets it
// walk the primary key backwards, filtering on the flow, which it prices
// low for a page and which reads every run when the flow has none to
// show. The ids alone come from an index-only scan, priced below that.
func runsByFlows(rf store.RunFilter, order string, limit int) (string, []any) {
	owner := rf.OwnerID
	rf.OwnerID = 0
	where, args := runWhere(rf)
	cond := `r.flow_id = f.id`
	if where != "" {
		cond += ` AND ` + strings.TrimPrefix(where, ` WHERE `)
	}
	args = append(args, owner, limit)
	o, l := `$`+strconv.Itoa(len(args)-1), `$`+strconv.Itoa(len(args))
	return `SELECT ` + runCols + ` FROM flows f CROSS JOIN LATERAL (SELECT r.id FROM runs r WHERE ` + cond + order + ` LIMIT ` + l + `) p ` +
		`JOIN runs r ON r.id = p.id WHERE f.owner_id = ` + o + order + ` LIMIT ` + l, args
}

// CountRuns counts the runs a filter keeps, ignoring its limit.
func (s *Store) CountRuns(ctx context.Context, rf store.RunFilter) (int, error) {
	where, args := runWhere(rf)
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*)`+runFrom+where, args...).Scan(&n); err != nil {
		return 0, wrap(err, "count runs")
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
	var lim any
	if limit > 0 {
		lim = limit
	}
	rows, err := s.pool.Query(ctx, `SELECT `+stepCols+` FROM steps WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, runID, afterSeq, lim)
	out, err := collect(rows, err, func(row rowScanner) (store.Step, error) {
		var st store.Step
		var input, output, serr, class, code, conn, attempts *string
		if err := row.Scan(&st.RunID, &st.Key, &st.Seq, &st.ActionID, &st.Type, &st.Status, &st.Attempts, &st.StartedAt, &st.FinishedAt,
			&input, &output, &serr, &st.NextAttemptAt, &class, &code, &conn, &attempts); err != nil {
			return store.Step{}, err
		}
		var err error
		if st.AttemptLog, err = store.DecodeAttempts(textBytes(attempts)); err != nil {
			return store.Step{}, fmt.Errorf("step %q: %w", st.Key, err)
		}
		st.StartedAt, st.FinishedAt, st.NextAttemptAt = utcPtr(st.StartedAt), utcPtr(st.FinishedAt), utcPtr(st.NextAttemptAt)
		st.Input, st.Output, st.Error = textBytes(input), textBytes(output), textBytes(serr)
		st.Fault = store.StepFault{Class: string(textBytes(class)), Code: string(textBytes(code)), Connection: string(textBytes(conn))}
		return st, nil
	})
	if err != nil {
		return nil, wrap(err, fmt.Sprintf("list steps of run %d", runID))
	}
	return out, nil
}

// ClaimRuns leases up to limit due queued or waiting runs to owner, those
// due longest first. Rows another node is claiming are skipped, not
// waited for, so that many nodes claim at once without handing a run to
// two of them.
func (s *Store) ClaimRuns(ctx context.Context, owner string, now, leaseUntil time.Time, limit int) ([]store.Run, error) {
	rows, err := s.pool.Query(ctx, `WITH due AS (`+
		`SELECT id FROM runs WHERE status IN ('queued', 'waiting') AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED`+
		`), r AS (`+
		`UPDATE runs SET status = 'running', lease_owner = $3, lease_until = $4, started_at = COALESCE(started_at, $1) FROM due WHERE runs.id = due.id RETURNING runs.*`+
		`) SELECT `+runCols+`, NOT EXISTS (SELECT 1 FROM steps s WHERE s.run_id = r.id) FROM r JOIN flows f ON f.id = r.flow_id ORDER BY r.next_attempt_at, r.id`,
		now, limit, owner, leaseUntil)
	out, err := collect(rows, err, func(row rowScanner) (store.Run, error) {
		var none bool
		r, err := scanRun(alsoScan{row, []any{&none}})
		r.NoSteps = none
		return r, err
	})
	if err != nil {
		return nil, wrap(err, "claim runs")
	}
	return out, nil
}

// ExtendLeases pushes the lease of the owner's running runs to until.
func (s *Store) ExtendLeases(ctx context.Context, owner string, ids []int64, until time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := s.pool.Exec(ctx, `UPDATE runs SET lease_until = $1 WHERE lease_owner = $2 AND status = 'running' AND id = ANY($3)`, until, owner, ids)
	return wrap(err, "extend leases")
}

// RescueRuns re-queues running runs whose lease expired before now, or,
// when all is true, every running run.
func (s *Store) RescueRuns(ctx context.Context, now time.Time, all bool) (int, error) {
	q := `UPDATE runs SET status = 'queued', lease_owner = NULL, lease_until = NULL, next_attempt_at = $1 WHERE status = 'running'`
	if !all {
		q += ` AND lease_until < $1`
	}
	tag, err := s.pool.Exec(ctx, q, now)
	if err != nil {
		return 0, wrap(err, "rescue runs")
	}
	n := int(tag.RowsAffected())
	s.wakeNodesIf(ctx, n > 0)
	return n, nil
}

// NextDueAt returns the earliest next_attempt_at of queued or waiting
// runs; ErrNotFound if there is none.
func (s *Store) NextDueAt(ctx context.Context) (time.Time, error) {
	var at *time.Time
	if err := s.pool.QueryRow(ctx, `SELECT MIN(next_attempt_at) FROM runs WHERE status IN ('queued', 'waiting')`).Scan(&at); err != nil {
		return time.Time{}, wrap(err, "next due run")
	}
	if at == nil {
		return time.Time{}, wrap(pgx.ErrNoRows, "next due run")
	}
	return utc(*at), nil
}

// leaseLost reports a write to a run the worker no longer holds.
func leaseLost(tag interface{ RowsAffected() int64 }) error {
	if tag.RowsAffected() == 0 {
		return store.ErrLeaseLost
	}
	return nil
}

// upsertSteps writes step results inside tx. A step recorded again keeps
// its place (seq) and its first start time; new steps follow the run's
// last seq, read once from the steps_seq index, so that writing n steps
// costs O(n log n) however many the run already has. The caller has
// locked the run row, so that seq is computed by one writer at a time.
func upsertSteps(ctx context.Context, tx pgx.Tx, runID int64, steps []store.Step) error {
	if len(steps) == 0 {
		return nil
	}
	var seq int64
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM steps WHERE run_id = $1`, runID).Scan(&seq); err != nil {
		return fmt.Errorf("save steps: last seq: %w", err)
	}
	return insertSteps(ctx, tx, runID, seq, steps)
}

// insertSteps writes step results inside tx in one batch, numbering new
// steps after seq, the run's last (see upsertSteps).
func insertSteps(ctx context.Context, tx pgx.Tx, runID, seq int64, steps []store.Step) error {
	if len(steps) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, st := range steps {
		seq++
		attempts, err := store.EncodeAttempts(st.AttemptLog)
		if err != nil {
			return fmt.Errorf("save step %q: %w", st.Key, err)
		}
		b.Queue(`INSERT INTO steps (`+stepCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) `+
			`ON CONFLICT (run_id, key) DO UPDATE SET status = excluded.status, attempts = excluded.attempts, started_at = COALESCE(steps.started_at, excluded.started_at), `+
			`finished_at = excluded.finished_at, input = excluded.input, output = excluded.output, error = excluded.error, next_attempt_at = excluded.next_attempt_at, `+
			`error_class = excluded.error_class, error_code = excluded.error_code, error_connection = excluded.error_connection, attempt_log = excluded.attempt_log`,
			runID, st.Key, seq, st.ActionID, st.Type, st.Status, st.Attempts, st.StartedAt, st.FinishedAt,
			nullText(st.Input), nullText(st.Output), nullText(st.Error), st.NextAttemptAt,
			nullText([]byte(st.Fault.Class)), nullText([]byte(st.Fault.Code)), nullText([]byte(st.Fault.Connection)), nullText(attempts))
	}
	br := tx.SendBatch(ctx, b)
	for _, st := range steps {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return fmt.Errorf("save step %q: %w", st.Key, err)
		}
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("save steps: %w", err)
	}
	return nil
}

// holdRun locks the run row inside tx if owner still holds the run, and
// records the step it is at (unchanged when currentStep is empty);
// ErrLeaseLost if it does not hold it.
func holdRun(ctx context.Context, tx pgx.Tx, owner string, runID int64, currentStep string) error {
	tag, err := tx.Exec(ctx, `UPDATE runs SET current_step = COALESCE(NULLIF($1, ''), current_step) WHERE id = $2 AND status = 'running' AND lease_owner = $3`, currentStep, runID, owner)
	if err != nil {
		return err
	}
	return leaseLost(tag)
}

// saveChunk writes one chunk of steps before the last (see
// store.StepChunk) in its own transaction, fenced by the lease.
func (s *Store) saveChunk(ctx context.Context, owner string, runID int64, steps []store.Step) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := holdRun(ctx, tx, owner, runID, ""); err != nil {
			return err
		}
		return upsertSteps(ctx, tx, runID, steps)
	})
}

// SaveSteps records step results of a run the owner holds; ErrLeaseLost if
// it does not hold it any more.
func (s *Store) SaveSteps(ctx context.Context, owner string, runID int64, currentStep string, steps []store.Step) error {
	lead := func(c []store.Step) error { return s.saveChunk(ctx, owner, runID, c) }
	err := store.WriteInChunks(steps, lead, func(last []store.Step) error {
		return s.inTx(ctx, func(tx pgx.Tx) error {
			if err := holdRun(ctx, tx, owner, runID, currentStep); err != nil {
				return err
			}
			return upsertSteps(ctx, tx, runID, last)
		})
	})
	return wrap(err, fmt.Sprintf("save steps of run %d", runID))
}

// ParkRun releases a run the owner holds until at (status waiting),
// writing steps first; ErrLeaseLost if it does not hold it.
func (s *Store) ParkRun(ctx context.Context, owner string, runID int64, at time.Time, steps []store.Step) error {
	lead := func(c []store.Step) error { return s.saveChunk(ctx, owner, runID, c) }
	err := store.WriteInChunks(steps, lead, func(last []store.Step) error {
		return s.inTx(ctx, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `UPDATE runs SET status = 'waiting', next_attempt_at = $1, lease_owner = NULL, lease_until = NULL WHERE id = $2 AND status = 'running' AND lease_owner = $3`,
				at, runID, owner)
			if err != nil {
				return err
			}
			if err := leaseLost(tag); err != nil {
				return err
			}
			return upsertSteps(ctx, tx, runID, last)
		})
	})
	s.wakeNodesIf(ctx, err == nil)
	return wrap(err, fmt.Sprintf("park run %d", runID))
}

// SaveRunUsage records what a run the owner holds has spent.
func (s *Store) SaveRunUsage(ctx context.Context, owner string, runID int64, u store.RunUsage) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE runs SET expr_steps = $1, expr_nanos = $2 WHERE id = $3 AND status = 'running' AND lease_owner = $4`,
			u.ExprSteps, int64(u.ExprTime), runID, owner)
		if err != nil {
			return err
		}
		return leaseLost(tag)
	})
	return wrap(err, fmt.Sprintf("save usage of run %d", runID))
}

// FinishRun records a run's final status and its last steps; ErrLeaseLost
// if the owner does not hold it. A failed run writes a run_failed event in
// the same transaction as its status, so that no failure goes unannounced.
func (s *Store) FinishRun(ctx context.Context, owner string, runID int64, fin store.RunFinish) error {
	lead := func(c []store.Step) error { return s.saveChunk(ctx, owner, runID, c) }
	err := store.WriteInChunks(fin.Steps, lead, func(last []store.Step) error {
		return s.inTx(ctx, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `UPDATE runs SET status = $1, output = $2, error = $3, finished_at = $4, lease_owner = NULL, lease_until = NULL WHERE id = $5 AND status = 'running' AND lease_owner = $6`,
				fin.Status, nullText(fin.Output), fin.Error, time.Now().UTC(), runID, owner)
			if err != nil {
				return err
			}
			if err := leaseLost(tag); err != nil {
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
	return wrap(err, fmt.Sprintf("finish run %d", runID))
}

// CancelRun cancels a run that has not finished and returns it as it is
// after the call; a finished run is returned unchanged.
func (s *Store) CancelRun(ctx context.Context, id int64) (store.Run, error) {
	var r store.Run
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE runs SET status = 'cancelled', error = 'cancelled', finished_at = $1, lease_owner = NULL, lease_until = NULL `+
			`WHERE id = $2 AND status IN ('queued', 'running', 'waiting')`, time.Now().UTC(), id); err != nil {
			return err
		}
		var err error
		r, err = scanRun(tx.QueryRow(ctx, `SELECT `+runCols+runFrom+` WHERE r.id = $1`, id))
		return err
	})
	if err != nil {
		return store.Run{}, wrap(err, fmt.Sprintf("cancel run %d", id))
	}
	return r, nil
}

// SetRunInputs replaces the input of runs in one transaction.
func (s *Store) SetRunInputs(ctx context.Context, inputs map[int64]json.RawMessage) error {
	if len(inputs) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		for id, in := range inputs {
			if _, err := tx.Exec(ctx, `UPDATE runs SET input = $1 WHERE id = $2`, string(in), id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return wrap(err, fmt.Sprintf("set the input of %d runs", len(inputs)))
	}
	return nil
}

// PruneRuns deletes finished runs created before the time, with their
// steps, a thousand at a time so that one prune never holds many locks
// for long.
func (s *Store) PruneRuns(ctx context.Context, before time.Time) (int, error) {
	total := 0
	for {
		tag, err := s.pool.Exec(ctx, `DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE created_at < $1 AND status IN ('succeeded', 'failed', 'cancelled') LIMIT 1000)`, before)
		if err != nil {
			return total, wrap(err, "prune runs")
		}
		total += int(tag.RowsAffected())
		if tag.RowsAffected() < 1000 {
			return total, nil
		}
	}
}
