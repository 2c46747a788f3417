package secret

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Mask replaces a secret wherever it is redacted.
const Mask = "[redacted]"

// minLen is the shortest value redacted: shorter ones would mangle
// ordinary text and give away little.
const minLen = 4

// minTail is the shortest start of a secret that is redacted at the end of
// a text (a body cut at a size cap in the middle of an echoed secret).
// Shorter starts are left: they match ordinary text too often and give
// away at most 5 characters, often a fixed prefix such as "ghp_".
const minTail = 6

// Redactor replaces known secret values, and their common encodings, in
// text. The zero value redacts nothing; it is safe for concurrent use.
//
// Matching ignores ASCII case, so that an upper-cased echo and upper-case
// hex are caught; docs/security.md lists what is caught and what is not.
type Redactor struct {
	mu     sync.Mutex // serializes Add
	values map[string]bool
	forms  []string
	m      atomic.Pointer[matcher]
}

// Add registers secret values. Each is redacted as it is, and as it
// appears base64-encoded (standard and URL alphabets, with and without
// padding, and inside a longer base64 text at any of the three byte
// alignments), hex-encoded, URL-encoded (query and path forms) and
// JSON-escaped, in any ASCII case. Adding values already known costs a
// map look-up each, so a caller may add on every use.
func (r *Redactor) Add(values ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	grew := false
	for _, v := range values {
		if len(v) < minLen || r.values[v] {
			continue
		}
		if r.values == nil {
			r.values = map[string]bool{}
		}
		r.values[v] = true
		r.forms = append(r.forms, Forms(v)...)
		grew = true
	}
	if grew {
		r.m.Store(newMatcher(r.forms))
	}
}

// Forms returns the ways a secret value may appear in text, each at
// least minLen bytes long. The redactor matches them ignoring ASCII case.
func Forms(v string) []string {
	b := []byte(v)
	forms := []string{
		v,
		base64.StdEncoding.EncodeToString(b),
		base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b),
		base64.RawURLEncoding.EncodeToString(b),
		hex.EncodeToString(b),
		strings.ToUpper(hex.EncodeToString(b)),
		url.QueryEscape(v),
		url.PathEscape(v),
	}
	if j, err := json.Marshal(v); err == nil {
		forms = append(forms, string(j[1:len(j)-1]))
	}
	// Inside a longer base64 text the secret starts at byte offset 0, 1
	// or 2 of a 3-byte group; the characters that depend on its bytes
	// alone are the same whatever surrounds it.
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		for o := range 3 {
			e := enc.EncodeToString(append(make([]byte, o), b...))
			from, to := (8*o+5)/6, 8*(o+len(b))/6
			if to > from {
				forms = append(forms, e[from:to])
			}
		}
	}
	out := make([]string, 0, len(forms))
	for _, f := range forms {
		if len(f) >= minLen && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// String redacts s, returning s itself when nothing was found.
func (r *Redactor) String(s string) string {
	m := r.matcher()
	if m == nil {
		return s
	}
	if out, ok := redact(m, s); ok {
		return string(out)
	}
	return s
}

// Bytes redacts b, returning b itself when nothing was found.
func (r *Redactor) Bytes(b []byte) []byte {
	m := r.matcher()
	if m == nil {
		return b
	}
	if out, ok := redact(m, b); ok {
		return out
	}
	return b
}

// Empty reports whether no secret is registered.
func (r *Redactor) Empty() bool {
	return r.matcher() == nil
}

// matcher returns the current matcher, or nil when nothing is registered.
func (r *Redactor) matcher() *matcher {
	if r == nil {
		return nil
	}
	return r.m.Load()
}

// lower folds ASCII letters to lower case and leaves every other byte.
var lower = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(i)
		if 'A' <= i && i <= 'Z' {
			t[i] = byte(i) + 'a' - 'A'
		}
	}
	return t
}()

// matcher finds the forms of the registered secrets in one pass: a bitset
// of a hash of the (case-folded) first three bytes of every form rejects
// almost every position with a few table look-ups, and only the positions
// it lets through compare the forms whose start has that hash, longest
// first. It is immutable.
type matcher struct {
	first [1 << 16 / 64]uint64
	// starts lists, by startKey, the folded forms, longest first.
	starts map[uint16][]string
}

// newMatcher builds the matcher of forms, folded and without repeats.
func newMatcher(forms []string) *matcher {
	m := &matcher{starts: map[uint16][]string{}}
	seen := map[string]bool{}
	for _, f := range forms {
		f = fold(f)
		if seen[f] {
			continue
		}
		seen[f] = true
		k := startKey(f[0], f[1], f[2])
		m.first[k>>6] |= 1 << (k & 63)
		m.starts[k] = append(m.starts[k], f)
	}
	longestFirst := func(a, b string) int { return len(b) - len(a) }
	for _, fs := range m.starts {
		slices.SortFunc(fs, longestFirst)
	}
	return m
}

// startKey hashes the first three folded bytes of a form to 16 bits.
func startKey(a, b, c byte) uint16 {
	return uint16((uint32(a)<<16 | uint32(b)<<8 | uint32(c)) * 0x9E3779B1 >> 16)
}

// fold returns s with ASCII letters in lower case.
func fold(s string) string {
	b := []byte(s)
	for i, c := range b {
		b[i] = lower[c]
	}
	return string(b)
}

// matchAt returns how many bytes of s from i the folded form f covers: all
// of f, or, when s ends first, the rest of s if that is at least minTail
// bytes (a start of the secret cut at the end of the text). It returns 0
// when f does not match there.
func matchAt[T string | []byte](s T, i int, f string) int {
	n := min(len(f), len(s)-i)
	if n < len(f) && n < minTail {
		return 0
	}
	for j := range n {
		if lower[s[i+j]] != f[j] {
			return 0
		}
	}
	return n
}

// redact replaces in s every form of m, leftmost first and longest first
// at one position, and a start of a form (at least minTail long) that ends
// s. It reports false, without allocating, when there was none.
func redact[T string | []byte](m *matcher, s T) ([]byte, bool) {
	var out []byte
	last := 0
	for i := 0; i+minLen <= len(s); i++ {
		k := startKey(lower[s[i]], lower[s[i+1]], lower[s[i+2]])
		if m.first[k>>6]&(1<<(k&63)) == 0 {
			continue
		}
		for _, f := range m.starts[k] {
			if n := matchAt(s, i, f); n > 0 {
				if out == nil {
					out = make([]byte, 0, len(s))
				}
				out = append(out, s[last:i]...)
				out = append(out, Mask...)
				last = i + n
				i = last - 1
				break
			}
		}
	}
	if out == nil {
		return nil, false
	}
	return append(out, s[last:]...), true
}
