package diagnose

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// corpusCase is one real error answer from testdata/errors. The file
// format is:
//
//	# source: URL of the documentation the answer comes from
//	# expect: CLASS CODE
//	# note: optional remark
//	METHOD URL
//	HTTP STATUS
//	Header-Name: value
//	...
//	(blank line)
//	body, to the end of the file
type corpusCase struct {
	file, source string
	class, code  string
	quote        string // held-out set: text What happened must quote
	url          string
	status       int
	headers      map[string]string
	body         string
}

func readCorpus(t testing.TB) []corpusCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "errors", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus files: %v", err)
	}
	var out []corpusCase
	for _, f := range files {
		c := parseCorpusFile(t, f)
		if c.code == "" {
			t.Fatalf("%s: # expect needs a class and a code", f)
		}
		out = append(out, c)
	}
	return out
}

func parseCorpusFile(t testing.TB, name string) corpusCase {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	c := corpusCase{file: filepath.Base(name), headers: map[string]string{}}
	head, body, _ := strings.Cut(string(b), "\n\n")
	c.body = strings.TrimSuffix(body, "\n")
	sc := bufio.NewScanner(strings.NewReader(head))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "# source: "):
			c.source = strings.TrimPrefix(line, "# source: ")
		case strings.HasPrefix(line, "# expect: "):
			c.class, c.code, _ = strings.Cut(strings.TrimPrefix(line, "# expect: "), " ")
		case strings.HasPrefix(line, "# quote: "):
			c.quote = strings.TrimPrefix(line, "# quote: ")
		case strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "HTTP "):
			if c.status, err = strconv.Atoi(strings.TrimPrefix(line, "HTTP ")); err != nil {
				t.Fatalf("%s: bad status line %q", name, line)
			}
		case c.status == 0:
			_, c.url, _ = strings.Cut(line, " ")
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				t.Fatalf("%s: bad header %q", name, line)
			}
			c.headers[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if c.source == "" || c.class == "" || c.status == 0 || c.url == "" {
		t.Fatalf("%s: needs # source, # expect, a request line and a status line", name)
	}
	return c
}

// input builds what the engine would record: the body decoded when it is
// JSON, as text otherwise.
func (c corpusCase) input() Input {
	in := Input{Kind: KindHTTP, Status: c.status, Headers: c.headers, RawBody: c.body, URL: c.url,
		Connection: "ops-bot", Step: "call_api", Field: "with.url"}
	var v any
	if t := strings.TrimSpace(c.body); strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[") {
		if json.Unmarshal([]byte(t), &v) == nil {
			in.Body = v
			return in
		}
	}
	in.Body = c.body
	return in
}

func TestCorpus(t *testing.T) {
	t.Parallel()
	cases := readCorpus(t)
	if len(cases) < 60 {
		t.Errorf("corpus has %d cases, want at least 60", len(cases))
	}
	cat := Default()
	for _, c := range cases {
		t.Run(strings.TrimSuffix(c.file, ".txt"), func(t *testing.T) {
			t.Parallel()
			d := cat.Diagnose(c.input())
			if d.Class != c.class || d.Code != c.code {
				t.Fatalf("got %s %s, want %s %s\n%+v", d.Class, d.Code, c.class, c.code, d)
			}
			checkTexts(t, d, "ops-bot", "call_api")
			// The same answer as raw text (no decoded body) diagnoses alike.
			in := c.input()
			in.Body = nil
			if d2 := cat.Diagnose(in); d2.Code != d.Code {
				t.Errorf("from raw text: got %s, want %s", d2.Code, d.Code)
			}
		})
	}
}

// checkTexts checks that a diagnosis is complete and names the connection
// (when it suggests fixing it) or the step.
func checkTexts(t *testing.T, d Diagnosis, conn, step string) {
	t.Helper()
	if d.Title == "" || d.WhatHappened == "" || d.HowToFix == "" || len(d.Actions) == 0 {
		t.Errorf("incomplete diagnosis: %+v", d)
	}
	if strings.Contains(d.HowToFix+d.WhatHappened+d.Title, "{{") || strings.Contains(d.HowToFix+d.WhatHappened, "<no value>") {
		t.Errorf("unrendered template: %+v", d)
	}
	fixConn := false
	for _, a := range d.Actions {
		if a == ActionFixConnection {
			fixConn = true
		}
	}
	if fixConn && !strings.Contains(d.HowToFix, `"`+conn+`"`) {
		t.Errorf("how_to_fix suggests fixing the connection but does not name %q: %s", conn, d.HowToFix)
	}
	if !strings.Contains(d.HowToFix, `"`+conn+`"`) && !strings.Contains(d.HowToFix, `"`+step+`"`) && !strings.Contains(d.HowToFix, step) {
		t.Errorf("how_to_fix names neither the connection nor the step: %s", d.HowToFix)
	}
}

func TestCorpusCoverage(t *testing.T) {
	t.Parallel()
	providers := map[string]bool{}
	cat := Default()
	for _, c := range readCorpus(t) {
		if p := cat.providerOf(c.code); p != "" {
			providers[p] = true
		}
	}
	if len(providers) < 12 {
		t.Errorf("corpus covers %d providers, want at least 12: %v", len(providers), providers)
	}
}

// providerOf returns the provider of a built-in provider entry, or "".
func (c *Catalog) providerOf(id string) string {
	for _, e := range c.provider {
		if e.ID == id {
			return e.Provider
		}
	}
	return ""
}
