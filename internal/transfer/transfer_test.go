package transfer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/store"
	"github.com/sluice/sluice/internal/store/sqlite"
)

// openSQLite opens a fresh SQLite store closed when t ends.
func openSQLite(t testing.TB) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "sluice.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// seed writes a user, a flow and n runs with inputs of size bytes.
func seed(t testing.TB, st store.Store, n, size int) {
	t.Helper()
	ctx := context.Background()
	u, err := st.CreateUser(ctx, store.User{Email: "ada@example.com", PasswordHash: "h", Role: store.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	f, err := st.CreateFlow(ctx, store.NewFlow{Name: "f", OwnerID: u.ID, TriggerType: "manual", WebhookToken: "wh",
		Definition: json.RawMessage(`{}`), Source: "name: f\n"})
	if err != nil {
		t.Fatal(err)
	}
	input, _ := json.Marshal(map[string]string{"pad": strings.Repeat("x", size)})
	for range n {
		if _, err := st.CreateRun(ctx, store.NewRun{FlowID: f.ID, FlowVersion: 1, TriggerType: "manual", Input: input}); err != nil {
			t.Fatal(err)
		}
	}
}

// export returns the stream of st.
func export(t *testing.T, st store.Store) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := Export(t.Context(), st, &buf, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestImportRefusesBadStreams(t *testing.T) {
	src := openSQLite(t)
	seed(t, src, 3, 10)
	stream := export(t, src)
	lines := strings.SplitAfter(string(stream), "\n")
	cut := func(n int) string { return strings.Join(lines[:n], "") }
	wrongSchema := strings.Replace(string(stream), `"schema_version":`, `"schema_version":9`, 1)
	tests := []struct {
		name, stream, want string
	}{
		{"Empty", "", "import: read header: EOF"},
		{"NotAStream", "{\"hello\":1}\n", "line 1: not a sluice export stream"},
		{"NewerFormat", strings.Replace(string(stream), `"format_version":1`, `"format_version":2`, 1), "line 1: stream format version 2"},
		{"OtherSchema", wrongSchema, "export and import with the same sluice version"},
		{"HeaderOnly", cut(1), "line 2: EOF (the stream ends before table users)"},
		{"CutInRuns", cut(len(lines) - 9), "the stream is cut short in table runs"},
		{"NoEndLine", cut(len(lines) - 2), "unexpected EOF (the stream is cut short in table " + store.Tables[len(store.Tables)-1].Name + ")"},
		{"LastLineUnterminated", strings.TrimSuffix(string(stream), "\n"), "the last line has no newline"},
		{"BadValue", strings.Replace(string(stream), `"ada@example.com"`, `7`, 1), "users.email"},
		{"RowCountDiffers", strings.Replace(string(stream), `{"name":"runs","rows":3}`, `{"name":"runs","rows":4}`, 1), "table runs has 3 rows, the header says 4"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dst := openSQLite(t)
			_, err := Import(t.Context(), strings.NewReader(tc.stream), dst, ImportOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Import: %v, want an error containing %q", err, tc.want)
			}
			if n, _ := dst.CountUsers(t.Context()); n != 0 {
				t.Fatalf("a refused import left %d users", n)
			}
		})
	}
}

func TestImportChecksTheKeyFirst(t *testing.T) {
	src := openSQLite(t)
	seed(t, src, 2, 10)
	ctx := t.Context()
	if _, err := src.CreateConnection(ctx, store.Connection{OwnerID: 1, Name: "crm", Type: "bearer", Config: json.RawMessage(`{}`), Secret: []byte("sealed")}); err != nil {
		t.Fatal(err)
	}
	dst := openSQLite(t)
	var runsLoaded int64
	_, err := Import(ctx, bytes.NewReader(export(t, src)), dst, ImportOptions{
		OpenSecret: func([]byte) error { return errors.New("cipher: message authentication failed") },
		Progress:   func(done, _ int64) { runsLoaded = done },
	})
	if !errors.Is(err, ErrKeyMismatch) || !strings.Contains(err.Error(), "SLUICE_SECRET_KEY") {
		t.Fatalf("Import with another key: %v", err)
	}
	// Checked on the first connection, before the runs (after it in
	// store.Tables) were read.
	if runsLoaded > 4 {
		t.Fatalf("%d rows read before the key was checked", runsLoaded)
	}
	if n, _ := dst.CountUsers(ctx); n != 0 {
		t.Fatalf("a refused import left %d users", n)
	}
}

func TestLongLineRefusedEarly(t *testing.T) {
	// An endless line without a newline: refused once it passes the cap,
	// having read little more than the cap.
	var read atomic.Int64
	r := &reader{br: bufioReader(&countingZeros{n: &read}), max: 1 << 20}
	_, err := r.line()
	if err == nil || !strings.Contains(err.Error(), "line longer than 1048576 bytes") {
		t.Fatalf("line: %v", err)
	}
	if n := read.Load(); n > 2<<20 {
		t.Fatalf("read %d bytes before refusing a line over 1 MiB", n)
	}
}

// countingZeros is an endless reader of 'a' that counts what it gave.
type countingZeros struct{ n *atomic.Int64 }

func (c *countingZeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	c.n.Add(int64(len(p)))
	return len(p), nil
}

// TestMemoryBounded exports and imports a store of 64 MiB of run inputs
// through a pipe and checks that the heap never holds more than a fraction
// of it: rows are streamed, one at a time.
func TestMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 64 MiB")
	}
	const runs, size = 256, 256 << 10
	src := openSQLite(t)
	seed(t, src, runs, size)
	dst := openSQLite(t)

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var m runtime.MemStats
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	pr, pw := io.Pipe()
	var exportErr error
	var counted countingWriter
	exported := make(chan struct{})
	go func() {
		defer close(exported)
		_, exportErr = Export(t.Context(), src, io.MultiWriter(pw, &counted), nil)
		pw.CloseWithError(exportErr)
	}()
	h, err := Import(t.Context(), pr, dst, ImportOptions{})
	pr.Close()
	<-exported
	close(stop)
	wg.Wait()
	if err != nil || exportErr != nil {
		t.Fatalf("Import: %v; Export: %v", err, exportErr)
	}
	grew := int64(peak.Load()) - int64(base.HeapInuse)
	t.Logf("streamed %d rows, %.1f MiB; heap in use grew by at most %.1f MiB", h.TotalRows, float64(counted)/(1<<20), float64(grew)/(1<<20))
	if counted < runs*size {
		t.Fatalf("streamed %d bytes, want at least %d", counted, runs*size)
	}
	if limit := int64(counted) / 4; grew > limit {
		t.Fatalf("heap grew by %d bytes moving %d bytes: not streamed (limit %d)", grew, counted, limit)
	}
	if got, _ := dst.CountRuns(t.Context(), store.RunFilter{}); got != runs {
		t.Fatalf("%d runs imported, want %d", got, runs)
	}
}

// countingWriter counts the bytes written.
type countingWriter int64

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}
