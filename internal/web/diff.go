package web

import (
	"fmt"
	"strings"
)

// The line diff between two versions of a flow is bounded: sources longer
// than maxDiffLines lines, or further apart than maxDiffEdits changed
// lines, are refused with errTooDifferent rather than compared, so that
// comparing two 1 MiB definitions costs at most O((N+M)·D) steps with
// N+M ≤ 2·maxDiffLines and D ≤ maxDiffEdits, and (D+1)² int32 of memory.
const (
	maxDiffLines = 20000
	maxDiffEdits = 1000
	// diffContext is how many unchanged lines are shown around a change.
	diffContext = 3
)

// diffLine is one line of a diff: Op is ' ' (in both), '-' (only in the
// old text) or '+' (only in the new); Old and New are its 1-based line
// numbers (0 where it has none). A line with Skip stands for Skip
// unchanged lines left out.
type diffLine struct {
	Op       byte
	Old, New int
	Text     string
	Skip     int
}

// tooDifferent says why two texts were not compared.
type tooDifferent struct{ reason string }

func (e *tooDifferent) Error() string { return e.reason }

// lineDiff compares two texts line by line (Myers' algorithm on the lines
// between the common prefix and suffix) and returns every line with its
// operation, runs of more than 2·diffContext unchanged lines folded into
// one Skip line; nil when the texts are the same. It returns a
// *tooDifferent error past its bounds.
func lineDiff(a, b string) ([]diffLine, error) {
	if na, nb := strings.Count(a, "\n"), strings.Count(b, "\n"); na >= maxDiffLines || nb >= maxDiffLines {
		return nil, &tooDifferent{fmt.Sprintf("these versions have %d and %d lines; the portal compares versions of at most %d lines", na+1, nb+1, maxDiffLines)}
	}
	if a == b {
		return nil, nil
	}
	al, bl := splitLines(a), splitLines(b)
	// Lines as numbers, so that the search compares ints.
	ids := map[string]int32{}
	num := func(ls []string) []int32 {
		out := make([]int32, len(ls))
		for i, l := range ls {
			id, ok := ids[l]
			if !ok {
				id = int32(len(ids))
				ids[l] = id
			}
			out[i] = id
		}
		return out
	}
	x, y := num(al), num(bl)
	pre := 0
	for pre < len(x) && pre < len(y) && x[pre] == y[pre] {
		pre++
	}
	suf := 0
	for suf < len(x)-pre && suf < len(y)-pre && x[len(x)-1-suf] == y[len(y)-1-suf] {
		suf++
	}
	ops, err := myers(x[pre:len(x)-suf], y[pre:len(y)-suf])
	if err != nil {
		return nil, err
	}
	all := make([]diffLine, 0, len(x)+len(y))
	i, j := 0, 0
	same := func() {
		all = append(all, diffLine{Op: ' ', Old: i + 1, New: j + 1, Text: al[i]})
		i++
		j++
	}
	for range pre {
		same()
	}
	for _, op := range ops {
		switch op {
		case ' ':
			same()
		case '-':
			all = append(all, diffLine{Op: '-', Old: i + 1, Text: al[i]})
			i++
		case '+':
			all = append(all, diffLine{Op: '+', New: j + 1, Text: bl[j]})
			j++
		}
	}
	for range suf {
		same()
	}
	return fold(all), nil
}

// splitLines splits a text into lines; a final newline ends the last line
// rather than starting an empty one.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// myers returns the shortest edit script from x to y as one op per line
// (' ', '-' or '+'), or a *tooDifferent error when it needs more than
// maxDiffEdits insertions and deletions.
func myers(x, y []int32) ([]byte, error) {
	n, m := len(x), len(y)
	maxD := n + m
	if maxD > maxDiffEdits {
		maxD = maxDiffEdits
	}
	// v[k+off] is the furthest x on diagonal k; trace keeps v after each
	// d for the walk back.
	off := maxD + 1
	v := make([]int32, 2*maxD+3)
	var trace [][]int32
	for d := 0; d <= maxD; d++ {
		for k := -d; k <= d; k += 2 {
			var xi int32
			if k == -d || (k != d && v[k-1+off] < v[k+1+off]) {
				xi = v[k+1+off]
			} else {
				xi = v[k-1+off] + 1
			}
			yi := xi - int32(k)
			for int(xi) < n && int(yi) < m && x[xi] == y[yi] {
				xi++
				yi++
			}
			v[k+off] = xi
			if int(xi) >= n && int(yi) >= m {
				trace = append(trace, append([]int32(nil), v[off-d:off+d+1]...))
				return backtrack(trace, n, m), nil
			}
		}
		trace = append(trace, append([]int32(nil), v[off-d:off+d+1]...))
	}
	return nil, &tooDifferent{fmt.Sprintf("these versions differ in more than %d lines, too many to show line by line", maxDiffEdits)}
}

// backtrack walks the trace of myers back from (n, m) to the start and
// returns the edit script.
func backtrack(trace [][]int32, n, m int) []byte {
	var rev []byte
	x, y := n, m
	for d := len(trace) - 1; d > 0; d-- {
		prev := trace[d-1] // v after d-1, indexed k+(d-1)
		at := func(k int) int { return int(prev[k+d-1]) }
		k := x - y
		var pk int
		if k == -d || (k != d && at(k-1) < at(k+1)) {
			pk = k + 1
		} else {
			pk = k - 1
		}
		px := at(pk)
		py := px - pk
		for x > px && y > py {
			rev = append(rev, ' ')
			x--
			y--
		}
		if x == px {
			rev = append(rev, '+')
		} else {
			rev = append(rev, '-')
		}
		x, y = px, py
	}
	for x > 0 && y > 0 {
		rev = append(rev, ' ')
		x--
		y--
	}
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	return rev
}

// fold replaces each run of unchanged lines longer than 2·diffContext,
// past the context of the changes around it, with one Skip line.
func fold(lines []diffLine) []diffLine {
	out := make([]diffLine, 0, len(lines))
	for i := 0; i < len(lines); {
		if lines[i].Op != ' ' {
			out = append(out, lines[i])
			i++
			continue
		}
		j := i
		for j < len(lines) && lines[j].Op == ' ' {
			j++
		}
		keepHead, keepTail := diffContext, diffContext
		if i == 0 {
			keepHead = 0
		}
		if j == len(lines) {
			keepTail = 0
		}
		if j-i <= keepHead+keepTail+1 {
			out = append(out, lines[i:j]...)
		} else {
			out = append(out, lines[i:i+keepHead]...)
			out = append(out, diffLine{Skip: j - i - keepHead - keepTail})
			out = append(out, lines[j-keepTail:j]...)
		}
		i = j
	}
	return out
}
