package web

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// apply rebuilds both texts from a diff, checking its line numbers.
func apply(t *testing.T, lines []diffLine) (old, new []string) {
	t.Helper()
	for _, l := range lines {
		switch l.Op {
		case ' ':
			old, new = append(old, l.Text), append(new, l.Text)
		case '-':
			old = append(old, l.Text)
		case '+':
			new = append(new, l.Text)
		}
		if l.Old != 0 && l.Old != len(old) || l.New != 0 && l.New != len(new) {
			t.Fatalf("line %+v numbered wrong: old %d, new %d", l, len(old), len(new))
		}
	}
	return old, new
}

// lcs is the length of the longest common subsequence, by the textbook
// table, to check that myers finds a shortest edit.
func lcs(a, b []string) int {
	prev := make([]int, len(b)+1)
	for i := range a {
		cur := make([]int, len(b)+1)
		for j := range b {
			if a[i] == b[j] {
				cur[j+1] = prev[j] + 1
			} else {
				cur[j+1] = max(prev[j+1], cur[j])
			}
		}
		prev = cur
	}
	return prev[len(b)]
}

func TestLineDiffIsAShortestEdit(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"a", "b", "c", "d"}
	gen := func() []string {
		out := make([]string, rng.IntN(30))
		for i := range out {
			out[i] = words[rng.IntN(len(words))]
		}
		return out
	}
	for i := 0; i < 500; i++ {
		a, b := gen(), gen()
		sa, sb := strings.Join(a, "\n"), strings.Join(b, "\n")
		got, err := lineDiff(sa, sb)
		if err != nil {
			t.Fatal(err)
		}
		// Unfolded, the diff rebuilds both texts, and it keeps an LCS.
		full, err := myers(toIDs(a, b))
		if err != nil {
			t.Fatal(err)
		}
		kept := strings.Count(string(full), " ")
		if want := lcs(a, b); kept != want {
			t.Fatalf("%q to %q keeps %d lines, the LCS has %d", a, b, kept, want)
		}
		if sa != sb && !hasSkip(got) {
			o, n := apply(t, got)
			if strings.Join(o, "\n") != sa || strings.Join(n, "\n") != sb {
				t.Fatalf("%q to %q: diff rebuilds %q and %q", a, b, o, n)
			}
		}
	}
}

func toIDs(a, b []string) ([]int32, []int32) {
	ids := map[string]int32{}
	num := func(ls []string) []int32 {
		out := make([]int32, len(ls))
		for i, l := range ls {
			if _, ok := ids[l]; !ok {
				ids[l] = int32(len(ids))
			}
			out[i] = ids[l]
		}
		return out
	}
	return num(a), num(b)
}

func hasSkip(lines []diffLine) bool {
	for _, l := range lines {
		if l.Skip > 0 {
			return true
		}
	}
	return false
}

func TestLineDiffFoldsUnchangedLines(t *testing.T) {
	t.Parallel()
	var a []string
	for i := 0; i < 40; i++ {
		a = append(a, "line "+string(rune('A'+i%26)))
	}
	b := append([]string(nil), a...)
	b[20] = "changed"
	got, err := lineDiff(strings.Join(a, "\n")+"\n", strings.Join(b, "\n")+"\n")
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, l := range got {
		if l.Skip > 0 {
			ops = append(ops, "skip")
		} else {
			ops = append(ops, string(l.Op))
		}
	}
	if want := "skip, , , ,-,+, , , ,skip"; strings.Join(ops, ",") != want {
		t.Fatalf("folded diff: %q", ops)
	}
	if got[0].Skip != 17 || got[len(got)-1].Skip != 16 {
		t.Fatalf("skips: %d and %d, want 17 and 16", got[0].Skip, got[len(got)-1].Skip)
	}
	if same, err := lineDiff("x\ny\n", "x\ny\n"); err != nil || same != nil {
		t.Fatalf("same texts: %+v, %v", same, err)
	}
}

// allocated is the bytes one call of fn allocates, as a benchmark
// measures them. Its callers do not run in parallel.
func allocated(fn func()) uint64 {
	return uint64(testing.Benchmark(func(b *testing.B) {
		for range b.N {
			fn()
		}
	}).AllocedBytesPerOp())
}

func TestLineDiffRefusesLargeOrDistantTexts(t *testing.T) {
	// Too many lines: refused on a count of newlines, before splitting.
	long := strings.Repeat("x\n", maxDiffLines+1)
	var err error
	if n := allocated(func() { _, err = lineDiff(long, "x\n") }); n > 4<<10 {
		t.Errorf("refusing %d lines allocated %d bytes; want it refused before splitting", maxDiffLines+1, n)
	}
	var far *tooDifferent
	if !errors.As(err, &far) || !strings.Contains(far.reason, "at most 20000 lines") {
		t.Fatalf("long texts: %v", err)
	}
	// Two texts of the most lines with nothing in common: the search stops
	// at maxDiffEdits, within (D+1)² int32 of trace.
	var a, b strings.Builder
	for i := 0; i < maxDiffLines-1; i++ {
		a.WriteString("a" + strconv.Itoa(i) + "\n")
		b.WriteString("b" + strconv.Itoa(i) + "\n")
	}
	sa, sb := a.String(), b.String()
	n := allocated(func() { _, err = lineDiff(sa, sb) })
	if !errors.As(err, &far) || !strings.Contains(far.reason, "more than 1000 lines") {
		t.Fatalf("distant texts: %v", err)
	}
	// The lines themselves (two slices of strings, the map of ids) plus
	// the trace: bounded far below what an unbounded search would take.
	t.Logf("two distant %d-line texts: refused after %d KiB", maxDiffLines-1, n>>10)
	if limit := uint64(24 << 20); n > limit {
		t.Errorf("refusing two distant %d-line texts allocated %d MiB; want under %d MiB", maxDiffLines, n>>20, limit>>20)
	}
}
