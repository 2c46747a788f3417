package secret

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"sort"
	"strings"
	"sync"
)

// Mask replaces a secret wherever it is redacted.
const Mask = "[redacted]"

// minLen is the shortest value redacted: shorter ones would mangle
// ordinary text and give away little.
const minLen = 4

// Redactor replaces known secret values, and their common encodings, in
// text. The zero value redacts nothing; it is safe for concurrent use.
type Redactor struct {
	mu       sync.RWMutex
	forms    []string
	replacer *strings.Replacer
}

// Add registers secret values. Each is redacted as it is, and as it
// appears base64-encoded (standard and URL alphabets, with and without
// padding), URL-encoded (query and path forms) and JSON-escaped.
func (r *Redactor) Add(values ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := make(map[string]bool, len(r.forms))
	for _, f := range r.forms {
		seen[f] = true
	}
	for _, v := range values {
		if len(v) < minLen {
			continue
		}
		for _, f := range Forms(v) {
			if !seen[f] {
				seen[f] = true
				r.forms = append(r.forms, f)
			}
		}
	}
	// Longest first, so that a value inside a longer form is not replaced
	// before the longer form is.
	sort.Slice(r.forms, func(i, j int) bool { return len(r.forms[i]) > len(r.forms[j]) })
	pairs := make([]string, 0, 2*len(r.forms))
	for _, f := range r.forms {
		pairs = append(pairs, f, Mask)
	}
	r.replacer = strings.NewReplacer(pairs...)
}

// Forms returns the ways a secret value may appear in text.
func Forms(v string) []string {
	b := []byte(v)
	forms := []string{
		v,
		base64.StdEncoding.EncodeToString(b),
		base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b),
		base64.RawURLEncoding.EncodeToString(b),
		url.QueryEscape(v),
		url.PathEscape(v),
	}
	if j, err := json.Marshal(v); err == nil {
		forms = append(forms, string(j[1:len(j)-1]))
	}
	out := forms[:0]
	for _, f := range forms {
		if len(f) >= minLen {
			out = append(out, f)
		}
	}
	return out
}

// String redacts s.
func (r *Redactor) String(s string) string {
	if r == nil {
		return s
	}
	r.mu.RLock()
	rep := r.replacer
	r.mu.RUnlock()
	if rep == nil {
		return s
	}
	return rep.Replace(s)
}

// Bytes redacts b, returning b itself when nothing was found.
func (r *Redactor) Bytes(b []byte) []byte {
	if r == nil || len(b) == 0 {
		return b
	}
	s := r.String(string(b))
	if len(s) == len(b) && s == string(b) {
		return b
	}
	return []byte(s)
}

// Empty reports whether no secret is registered.
func (r *Redactor) Empty() bool {
	if r == nil {
		return true
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.forms) == 0
}
