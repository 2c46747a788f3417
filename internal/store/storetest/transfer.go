package storetest

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// transferTests check Dump and Load, which `sluice export` and
// `sluice import` are built on.
var transferTests = []test{
	{"RoundTripKeepsEveryRow", func(t *testing.T, open opener) {
		src := open(t)
		p := populate(t, src)
		before := dumpAll(t, src)
		for _, tb := range store.Tables {
			if len(before[tb.Name]) == 0 {
				t.Errorf("populate left table %s empty: the round trip would not cover it", tb.Name)
			}
		}
		dst := open(t)
		loadAll(t, dst, before)
		after := dumpAll(t, dst)
		for _, tb := range store.Tables {
			if !slices.Equal(after[tb.Name], before[tb.Name]) {
				t.Errorf("table %s after the round trip:\n got %q\nwant %q", tb.Name, after[tb.Name], before[tb.Name])
			}
		}
		// The stores read the same through the interface.
		for _, id := range p.runs {
			requireSameRun(t, getRun(t, dst, id), getRun(t, src, id), fmt.Sprintf("run %d", id))
			want, err := src.ListSteps(t.Context(), id)
			requireNoError(t, err, "ListSteps(src)")
			got, err := dst.ListSteps(t.Context(), id)
			requireNoError(t, err, "ListSteps(dst)")
			if len(got) != len(want) {
				t.Fatalf("run %d: %d steps after the round trip, want %d", id, len(got), len(want))
			}
			for i := range want {
				requireSameStep(t, got[i], want[i], id)
			}
		}
		c, err := dst.GetConnection(t.Context(), p.conn.ID)
		requireNoError(t, err, "GetConnection")
		if !bytes.Equal(c.Secret, p.conn.Secret) {
			t.Fatalf("sealed secret after the round trip: %x, want %x", c.Secret, p.conn.Secret)
		}
		tok, u, err := dst.GetTokenByHash(t.Context(), p.tokenHash)
		requireNoError(t, err, "GetTokenByHash")
		if tok.UserID != p.user.ID || u.PasswordHash != p.user.PasswordHash {
			t.Fatalf("token after the round trip: %+v of %+v", tok, u)
		}
		vs, err := dst.ListFlowVersions(t.Context(), p.flow.ID)
		requireNoError(t, err, "ListFlowVersions")
		if len(vs) != 2 {
			t.Fatalf("flow versions after the round trip: %d, want 2", len(vs))
		}
		// New rows take ids past the imported ones (sequences advanced).
		nu := createUser(t, dst, "")
		nr := createRun(t, dst, p.flow.ID, time.Time{})
		if nu.ID <= p.maxUser || nr.ID <= slices.Max(p.runs) {
			t.Fatalf("new ids after the import: user %d (max imported %d), run %d (max imported %d)", nu.ID, p.maxUser, nr.ID, slices.Max(p.runs))
		}
	}},
	{"LoadRefusesAStoreWithRows", func(t *testing.T, open opener) {
		b := setup(t, open)
		err := b.st.Load(b.ctx, func(store.LoadWriter) error { return nil })
		requireErrorIs(t, err, store.ErrConflict, "Load into a store with a user")
	}},
	{"LoadRollsBackOnError", func(t *testing.T, open opener) {
		src := open(t)
		populate(t, src)
		rows := dumpAll(t, src)
		dst := open(t)
		boom := errors.New("stream cut")
		err := dst.Load(t.Context(), func(w store.LoadWriter) error {
			for _, tb := range store.Tables[:3] {
				if err := w.Insert(t.Context(), tb, rowSource(t, tb, rows[tb.Name])); err != nil {
					return err
				}
			}
			return boom
		})
		requireErrorIs(t, err, boom, "Load")
		n, err := dst.CountUsers(t.Context())
		requireNoError(t, err, "CountUsers")
		if n != 0 {
			t.Fatalf("a failed load left %d users", n)
		}
	}},
	{"DumpCountsMatchRows", func(t *testing.T, open opener) {
		st := open(t)
		populate(t, st)
		err := st.Dump(t.Context(), func(d store.DumpReader) error {
			for _, tb := range store.Tables {
				n, err := d.Count(t.Context(), tb)
				if err != nil {
					return err
				}
				var seen int64
				if err := d.Rows(t.Context(), tb, func(row []any) error {
					if len(row) != len(tb.Columns) {
						return fmt.Errorf("%s: row of %d values, want %d", tb.Name, len(row), len(tb.Columns))
					}
					seen++
					return nil
				}); err != nil {
					return err
				}
				if seen != n {
					return fmt.Errorf("%s: Count %d, Rows %d", tb.Name, n, seen)
				}
			}
			return nil
		})
		requireNoError(t, err, "Dump")
		v, err := st.SchemaVersion(t.Context())
		requireNoError(t, err, "SchemaVersion")
		if v < 1 {
			t.Fatalf("SchemaVersion = %d", v)
		}
	}},
}

// populated is what populate wrote.
type populated struct {
	user      store.User
	maxUser   int64
	tokenHash []byte
	flow      store.Flow
	conn      store.Connection
	runs      []int64
}

// populate writes at least one row into every table of store.Tables,
// through the store's own methods.
func populate(t *testing.T, st store.Store) populated {
	t.Helper()
	ctx := t.Context()
	now := time.Now().UTC()
	var p populated
	p.user = createUser(t, st, "")
	other := createUser(t, st, "")
	_, err := st.SetUserDisabled(ctx, other.ID, true)
	requireNoError(t, err, "SetUserDisabled")
	p.maxUser = other.ID
	p.tokenHash = []byte(randomName("hash-"))
	exp := now.Add(time.Hour)
	_, err = st.CreateToken(ctx, store.Token{UserID: p.user.ID, Name: "ci", Hash: p.tokenHash, ExpiresAt: &exp})
	requireNoError(t, err, "CreateToken")
	requireNoError(t, st.SetUserSettings(ctx, p.user.ID, store.UserSettings{RepairEmails: "daily"}), "SetUserSettings")

	p.flow = createFlow(t, st, p.user.ID, "", nil)
	_, err = st.AddFlowVersion(ctx, store.NewFlowVersion{FlowID: p.flow.ID, CreatedBy: p.user.ID, TriggerType: "manual",
		Definition: json.RawMessage(`{"v":2}`), Source: "v: 2\n"})
	requireNoError(t, err, "AddFlowVersion")
	requireNoError(t, st.SetFlowSettings(ctx, p.flow.ID, store.FlowSettings{RepairEmails: false}), "SetFlowSettings")
	p.conn = createConnection(t, st, p.user.ID, "crm")

	failed := failedRun(t, st, p.flow.ID, `{"message":"boom"}`)
	resub, _, err := st.ResubmitRun(ctx, store.NewRun{FlowID: p.flow.ID, FlowVersion: 1, TriggerType: "resubmit",
		Input: failed.Input, ResubmittedFrom: &failed.ID, CopySucceeded: true})
	requireNoError(t, err, "ResubmitRun")
	ok := finishRun(t, st, p.flow.ID, store.RunSucceeded)
	p.runs = []int64{failed.ID, resub.ID, ok.ID}

	_, err = st.CreateJob(ctx, store.Job{OwnerID: p.user.ID, Kind: store.JobResubmit, Params: json.RawMessage(`{"flow_id":1}`), Status: store.JobQueued})
	requireNoError(t, err, "CreateJob")
	_, err = st.AddNotification(ctx, store.Notification{UserID: p.user.ID, Kind: "run_failed", Title: "t", Body: "b", FlowID: p.flow.ID, RunID: failed.ID})
	requireNoError(t, err, "AddNotification")
	_, err = st.EnqueueMail(ctx, store.Mail{To: []string{"a@example.com", "b@example.com"}, Subject: "s", Text: "t", HTML: "h", Kind: "repair_tip"})
	requireNoError(t, err, "EnqueueMail")
	queued, err := st.QueueDigestMail(ctx, p.user.ID, time.Hour, digestMail(p.user), []store.Alert{pendingAlert(t, st, p.user.ID, now)}, now)
	requireNoError(t, err, "QueueDigestMail")
	if !queued {
		t.Fatal("QueueDigestMail: not queued")
	}
	if err := st.CountAlert(ctx, p.flow.ID, "b", "http.500", failed.ID, now); err != nil {
		t.Fatalf("CountAlert: %v", err)
	}
	req, err := st.CreateSupportRequest(ctx, store.SupportRequest{UserID: p.user.ID, ProblemType: "failed_run", Category: "auth",
		Description: "my token", RunID: &failed.ID, Status: "open", CreatedAt: now})
	requireNoError(t, err, "CreateSupportRequest")
	_, err = st.AnswerSupportRequest(ctx, req.ID, store.SupportAnswer{Answer: "renew it", By: other.ID, At: now,
		Note: store.Notification{UserID: p.user.ID, Kind: "support_answer", Title: "t", Body: "b"},
		Mail: store.Mail{To: []string{"a@example.com"}, Subject: "s", Text: "t", Kind: "support_answer"}})
	requireNoError(t, err, "AnswerSupportRequest")
	return p
}

// dumpAll reads every table of st, each row as one comparable string.
func dumpAll(t *testing.T, st store.Store) map[string][]string {
	t.Helper()
	out := make(map[string][]string)
	err := st.Dump(t.Context(), func(d store.DumpReader) error {
		for _, tb := range store.Tables {
			if err := d.Rows(t.Context(), tb, func(row []any) error {
				out[tb.Name] = append(out[tb.Name], rowString(t, tb, row))
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	requireNoError(t, err, "Dump")
	return out
}

// rowString writes a row as text, checking each value has the Go type of
// its column's kind.
func rowString(t *testing.T, tb store.Table, row []any) string {
	t.Helper()
	parts := make([]string, len(row))
	for i, v := range row {
		c := tb.Columns[i]
		var ok bool
		switch x := v.(type) {
		case nil:
			parts[i], ok = "NULL", true
		case int64:
			parts[i], ok = fmt.Sprint(x), c.Kind == store.KindInt
		case string:
			parts[i], ok = fmt.Sprintf("%q", x), c.Kind == store.KindText || c.Kind == store.KindJSON
		case []byte:
			parts[i], ok = "x"+hex.EncodeToString(x), c.Kind == store.KindBytes
		case time.Time:
			parts[i], ok = x.Format(time.RFC3339Nano), c.Kind == store.KindTime && x.Location() == time.UTC
		case bool:
			parts[i], ok = fmt.Sprint(x), c.Kind == store.KindBool
		}
		if !ok {
			t.Fatalf("%s.%s: value %#v does not match the column's kind %d", tb.Name, c.Name, v, c.Kind)
		}
	}
	return strings.Join(parts, " | ")
}

// loadAll loads rows dumped by dumpAll into st. It parses them back from
// their text form, which is enough for the kinds populate writes.
func loadAll(t *testing.T, st store.Store, rows map[string][]string) {
	t.Helper()
	err := st.Load(t.Context(), func(w store.LoadWriter) error {
		for _, tb := range store.Tables {
			if err := w.Insert(t.Context(), tb, rowSource(t, tb, rows[tb.Name])); err != nil {
				return err
			}
		}
		return nil
	})
	requireNoError(t, err, "Load")
}

// rowSource returns the rows (as rowString wrote them) one at a time.
func rowSource(t *testing.T, tb store.Table, rows []string) func() ([]any, error) {
	return func() ([]any, error) {
		if len(rows) == 0 {
			return nil, io.EOF
		}
		parts := strings.Split(rows[0], " | ")
		rows = rows[1:]
		row := make([]any, len(parts))
		for i, s := range parts {
			if s == "NULL" {
				continue
			}
			var err error
			switch tb.Columns[i].Kind {
			case store.KindInt:
				var n int64
				_, err = fmt.Sscan(s, &n)
				row[i] = n
			case store.KindText, store.KindJSON:
				var x string
				_, err = fmt.Sscanf(s, "%q", &x)
				row[i] = x
			case store.KindBytes:
				row[i], err = hex.DecodeString(strings.TrimPrefix(s, "x"))
			case store.KindTime:
				row[i], err = time.Parse(time.RFC3339Nano, s)
			case store.KindBool:
				row[i] = s == "true"
			}
			if err != nil {
				t.Fatalf("%s.%s: parse %q: %v", tb.Name, tb.Columns[i].Name, s, err)
			}
		}
		return row, nil
	}
}
