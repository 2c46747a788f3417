// Package transfer moves a whole store between databases as a stream:
// Export writes every row of a store as line-delimited JSON, Import loads
// such a stream into an empty store, of the same driver or the other. Both
// hold one row at a time, so memory does not grow with the store's size.
//
// The stream is a header line, then for each table a line naming it and
// its columns followed by one JSON array per row, then an end line:
//
//	{"format":"sluice-export","format_version":1,"schema_version":10,...,"tables":[{"name":"users","rows":2},...]}
//	{"table":"users","columns":["id","email",...]}
//	[1,"ada@example.com",...]
//	{"end":true,"rows":1234}
//
// Times are RFC 3339 strings in UTC, bytes base64 strings. Connections'
// secrets stay sealed with the server's secret key, which the stream does
// not carry: the importing server must use the same key.
package transfer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// Format names the stream in its header.
const Format = "sluice-export"

// FormatVersion is the version of the stream's layout, raised when a
// reader of an older layout could not read it.
const FormatVersion = 1

// MaxLine is the longest line Import reads: a row longer than this (a run
// input or step output of more than 64 MiB) is refused with its line
// number rather than read into memory.
const MaxLine = 64 << 20

// SecretNote is what the header says about the secret key.
const SecretNote = "not included: connections' secrets stay sealed; the importing server must use the same SLUICE_SECRET_KEY (or secret.key)"

// ErrKeyMismatch is returned by Import when the importing server's secret
// key does not open the connections' sealed secrets.
var ErrKeyMismatch = errors.New("the secret key does not open the exported connections' secrets")

// Header is the stream's first line.
type Header struct {
	Format        string      `json:"format"`
	FormatVersion int         `json:"format_version"`
	SchemaVersion int         `json:"schema_version"`
	ExportedAt    time.Time   `json:"exported_at"`
	SecretKey     string      `json:"secret_key"`
	Tables        []TableInfo `json:"tables"`
	TotalRows     int64       `json:"total_rows"`
}

// TableInfo names a table of the stream and its number of rows.
type TableInfo struct {
	Name string `json:"name"`
	Rows int64  `json:"rows"`
}

// section opens a table's rows in the stream; end closes the stream.
type section struct {
	Table   string   `json:"table,omitempty"`
	Columns []string `json:"columns,omitempty"`
	End     bool     `json:"end,omitempty"`
	Rows    int64    `json:"rows,omitempty"`
}

// Progress is told how many rows of the total are done; it may be nil.
type Progress func(done, total int64)

// Export writes every row of st to w, from one snapshot of the store, and
// returns the header it wrote.
func Export(ctx context.Context, st store.Store, w io.Writer, progress Progress) (Header, error) {
	v, err := st.SchemaVersion(ctx)
	if err != nil {
		return Header{}, err
	}
	h := Header{Format: Format, FormatVersion: FormatVersion, SchemaVersion: v, ExportedAt: time.Now().UTC(), SecretKey: SecretNote}
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	err = st.Dump(ctx, func(d store.DumpReader) error {
		for _, t := range store.Tables {
			n, err := d.Count(ctx, t)
			if err != nil {
				return err
			}
			h.Tables = append(h.Tables, TableInfo{Name: t.Name, Rows: n})
			h.TotalRows += n
		}
		if err := enc.Encode(h); err != nil {
			return fmt.Errorf("export: write header: %w", err)
		}
		var done int64
		for _, t := range store.Tables {
			if err := enc.Encode(section{Table: t.Name, Columns: strings.Split(t.ColumnList(), ", ")}); err != nil {
				return fmt.Errorf("export %s: %w", t.Name, err)
			}
			if err := d.Rows(ctx, t, func(row []any) error {
				if err := enc.Encode(row); err != nil {
					return fmt.Errorf("export %s: %w", t.Name, err)
				}
				done++
				if progress != nil {
					progress(done, h.TotalRows)
				}
				return nil
			}); err != nil {
				return err
			}
		}
		if err := enc.Encode(section{End: true, Rows: done}); err != nil {
			return fmt.Errorf("export: write end: %w", err)
		}
		return nil
	})
	if err != nil {
		return Header{}, err
	}
	if err := bw.Flush(); err != nil {
		return Header{}, fmt.Errorf("export: %w", err)
	}
	return h, nil
}

// ImportOptions tune Import.
type ImportOptions struct {
	// OpenSecret opens a sealed secret with the importing server's key.
	// Import calls it on the first connection's secret, before loading
	// further, and stops with ErrKeyMismatch when it fails. Nil skips the
	// check.
	OpenSecret func(sealed []byte) error
	// Progress is told how many rows are loaded. Nil reports nothing.
	Progress Progress
}

// Import loads the stream r into st, which must be empty, in one
// transaction: a stream that is cut short, malformed or refused leaves st
// as it was. It returns the stream's header.
func Import(ctx context.Context, r io.Reader, st store.Store, opts ImportOptions) (Header, error) {
	rd := &reader{br: bufioReader(r), max: MaxLine}
	var h Header
	line, err := rd.line()
	if err != nil {
		return h, fmt.Errorf("import: read header: %w", err)
	}
	if err := json.Unmarshal(line, &h); err != nil || h.Format != Format {
		return h, fmt.Errorf("import: line 1: not a sluice export stream (want a header with \"format\":%q)", Format)
	}
	if h.FormatVersion != FormatVersion {
		return h, fmt.Errorf("import: line 1: stream format version %d, this sluice reads %d", h.FormatVersion, FormatVersion)
	}
	v, err := st.SchemaVersion(ctx)
	if err != nil {
		return h, err
	}
	if h.SchemaVersion != v {
		return h, fmt.Errorf("import: the stream was exported at schema version %d and the target is at %d: export and import with the same sluice version, then upgrade with `sluice migrate`", h.SchemaVersion, v)
	}
	err = st.Load(ctx, func(w store.LoadWriter) error {
		var done int64
		for _, want := range store.Tables {
			line, err := rd.pending()
			if err != nil {
				return fmt.Errorf("import: line %d: %w (the stream ends before table %s)", rd.n, err, want.Name)
			}
			var s section
			if err := json.Unmarshal(line, &s); err != nil || s.Table != want.Name {
				return fmt.Errorf("import: line %d: want the start of table %s", rd.n, want.Name)
			}
			if !slices.Equal(s.Columns, strings.Split(want.ColumnList(), ", ")) {
				return fmt.Errorf("import: line %d: table %s has columns %v, want %v", rd.n, want.Name, s.Columns, want.ColumnList())
			}
			var rows int64
			checkKey := want.Name == "connections" && opts.OpenSecret != nil
			if err := w.Insert(ctx, want, func() ([]any, error) {
				row, err := rd.row(want)
				if err != nil {
					return nil, err
				}
				if row == nil {
					return nil, io.EOF
				}
				if checkKey {
					checkKey = false
					if err := opts.OpenSecret(row[secretColumn(want)].([]byte)); err != nil {
						return nil, fmt.Errorf("import: connection %d: %w: set SLUICE_SECRET_KEY (or copy secret.key into the data folder) to the key of the server the stream was exported from (%v)", row[0], ErrKeyMismatch, err)
					}
				}
				rows++
				done++
				if opts.Progress != nil {
					opts.Progress(done, h.TotalRows)
				}
				return row, nil
			}); err != nil {
				return err
			}
			if n := headerRows(h, want.Name); rows != n {
				return fmt.Errorf("import: table %s has %d rows, the header says %d", want.Name, rows, n)
			}
		}
		line, err := rd.pending()
		if err != nil {
			return fmt.Errorf("import: line %d: %w (the stream is cut short: no end line)", rd.n, err)
		}
		var s section
		if err := json.Unmarshal(line, &s); err != nil || !s.End || s.Rows != done {
			return fmt.Errorf("import: line %d: want the end line for %d rows", rd.n, done)
		}
		return nil
	})
	return h, err
}

// headerRows returns the header's row count of the table.
func headerRows(h Header, table string) int64 {
	for _, t := range h.Tables {
		if t.Name == table {
			return t.Rows
		}
	}
	return -1
}

// secretColumn returns the index of the connections table's secret.
func secretColumn(t store.Table) int {
	for i, c := range t.Columns {
		if c.Name == "secret" {
			return i
		}
	}
	panic("transfer: connections has no secret column")
}

// reader reads the stream a line at a time, counting lines.
type reader struct {
	br *bufio.Reader
	n  int
	// max is the longest line read (MaxLine).
	max int
	// buf holds the current line when it spans several buffers.
	buf []byte
	// held is a line read by row that was not a row, for the next reader.
	held []byte
}

// line returns the next line without its newline; io.EOF at the end. The
// slice is valid until the next call.
func (r *reader) line() ([]byte, error) {
	r.n++
	r.buf = r.buf[:0]
	for {
		chunk, err := r.br.ReadSlice('\n')
		if len(r.buf)+len(chunk) > r.max {
			return nil, fmt.Errorf("line longer than %d bytes", r.max)
		}
		switch {
		case err == nil:
			if len(r.buf) == 0 {
				return bytes.TrimSuffix(chunk, []byte("\n")), nil
			}
			r.buf = append(r.buf, chunk[:len(chunk)-1]...)
			return r.buf, nil
		case errors.Is(err, bufio.ErrBufferFull):
			r.buf = append(r.buf, chunk...)
		case errors.Is(err, io.EOF) && len(r.buf)+len(chunk) > 0:
			return nil, fmt.Errorf("the last line has no newline: %w", io.ErrUnexpectedEOF)
		default:
			return nil, err
		}
	}
}

// bufioReader buffers the stream in 64 KiB reads.
func bufioReader(r io.Reader) *bufio.Reader { return bufio.NewReaderSize(r, 64<<10) }

// pending returns the line row held back, or the next one.
func (r *reader) pending() ([]byte, error) {
	if r.held != nil {
		l := r.held
		r.held = nil
		return l, nil
	}
	return r.line()
}

// row reads the next row of t; it returns nil (and holds the line back)
// when the next line is not a row.
func (r *reader) row(t store.Table) ([]any, error) {
	line, err := r.line()
	if errors.Is(err, io.EOF) {
		// Not the io.EOF that ends a table's rows for LoadWriter.Insert.
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, fmt.Errorf("import: line %d: %w (the stream is cut short in table %s)", r.n, err, t.Name)
	}
	if len(line) == 0 || line[0] != '[' {
		r.held = append([]byte(nil), line...)
		return nil, nil
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(line, &raw); err != nil {
		return nil, fmt.Errorf("import: line %d: table %s: %w", r.n, t.Name, err)
	}
	if len(raw) != len(t.Columns) {
		return nil, fmt.Errorf("import: line %d: table %s: %d values, want %d", r.n, t.Name, len(raw), len(t.Columns))
	}
	row := make([]any, len(raw))
	for i, c := range t.Columns {
		v, err := decode(c, raw[i])
		if err != nil {
			return nil, fmt.Errorf("import: line %d: %s.%s: %w", r.n, t.Name, c.Name, err)
		}
		row[i] = v
	}
	return row, nil
}

// decode reads one value of the column's kind.
func decode(c store.Column, raw json.RawMessage) (any, error) {
	if string(raw) == "null" {
		return nil, nil
	}
	switch c.Kind {
	case store.KindInt:
		return strconv.ParseInt(string(raw), 10, 64)
	case store.KindBool:
		var b bool
		err := json.Unmarshal(raw, &b)
		return b, err
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	switch c.Kind {
	case store.KindBytes:
		return base64.StdEncoding.DecodeString(s)
	case store.KindTime:
		t, err := time.Parse(time.RFC3339Nano, s)
		return t.UTC(), err
	}
	return s, nil
}
