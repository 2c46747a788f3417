package help

import (
	"cmp"
	"slices"
	"strings"
	"unicode"
)

// phrases are spellings of one thing written several ways; Words writes
// each as its last form, in articles and questions alike, so that both
// sides of a search agree before the database stems them.
var phrases = strings.NewReplacer(
	"timed out", "timeout", "timed-out", "timeout", "time out", "timeout", "time-out", "timeout", "timedout", "timeout",
	"rate limited", "ratelimit", "rate-limited", "ratelimit", "ratelimited", "ratelimit", "rate limits", "ratelimit",
	"rate-limits", "ratelimit", "rate limit", "ratelimit", "rate-limit", "ratelimit", "ratelimits", "ratelimit",
	"web hook", "webhook", "web-hook", "webhook",
	"e-mail", "email", "re-submit", "resubmit", "re-run", "resubmit", "rerun", "resubmit", "re-try", "retry",
	"log in", "login", "sign in", "login", "signin", "login",
	"oauth 2", "oauth2", "oauth2.0", "oauth2", "oauth 2.0", "oauth2",
	"run_after", "runafter", "run after", "runafter", "retry-after", "retryafter", "retry after", "retryafter",
	"auto-disable", "autodisable", "auto disable", "autodisable", "turned off", "turnedoff", "turns off", "turnedoff", "turn off", "turnedoff",
	"api key", "apikey", "not found", "notfound", "too many requests", "ratelimit", "api-key", "apikey", "api_key", "apikey",
)

// stopWords are left out of the index and of questions: they say
// nothing about what a maker needs, and the two databases' lists differ.
var stopWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`a about above after again against all am an and any are as at be because been
		before being below between both but by can could did do does doing down during each few for from further
		had has have having he her here hers herself him himself his how i if in into is it its itself just me more
		most my myself no nor not now of off on once only or other our ours out over own same she should so some
		such than that the their theirs them then there these they this those through to too under until up very
		was we were what when where which while who whom why will with would you your yours yourself get got keep
		keeps getting please help hi hello thanks thank im ive dont doesnt cant isnt wont didnt why whats doesn many long says said
		don isn didn wasn aren won ve ll`) {
		stopWords[w] = true
	}
}

// synonyms are words a maker writes for what the articles call
// otherwise; a question with the key also searches for the values.
var synonyms = map[string][]string{
	"unauthorized": {"401", "auth"}, "unauthenticated": {"401", "auth"}, "401": {"unauthorized"},
	"forbidden": {"403", "permission"}, "403": {"forbidden"}, "denied": {"permission", "403"},
	"ratelimit": {"429", "throttled"}, "throttled": {"ratelimit"}, "throttle": {"ratelimit"}, "429": {"ratelimit"},
	"quota": {"ratelimit"}, "toomany": {"ratelimit"},
	"timeout": {"408"}, "hang": {"timeout"}, "hangs": {"timeout"},
	"creds": {"credentials"}, "credential": {"credentials"}, "password": {"credentials"},
	"cron": {"schedule"}, "scheduled": {"schedule"}, "hook": {"webhook"}, "hooks": {"webhook"},
	"mail": {"email"}, "smtp": {"email"}, "404": {"notfound"}, "missing": {"notfound"}, "notfound": {"404", "missing", "exist"},
	"rerun": {"resubmit"}, "replay": {"resubmit"}, "again": {"resubmit"}, "redo": {"resubmit"},
	"disabled": {"autodisable"}, "turnedoff": {"autodisable"},
	"expired": {"expire"}, "revoked": {"revoke"}, "500": {"5xx"}, "502": {"5xx"}, "503": {"5xx"}, "504": {"5xx"},
	"dns": {"network"}, "refused": {"network"}, "ssl": {"tls"}, "certificate": {"tls"},
}

// Words splits text into the words the index keeps: lower-case letters
// and digits (accents removed), phrases written one way, stop words left
// out. Articles and questions go through it alike.
func Words(text string) []string {
	text = phrases.Replace(strings.ToLower(text))
	var out []string
	for _, w := range strings.FieldsFunc(text, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		w = fold(w)
		if len(w) < 2 || stopWords[w] || len(w) > 40 {
			continue
		}
		out = append(out, w)
	}
	return out
}

// fold drops accents and any letter outside a to z.
func fold(w string) string {
	var b strings.Builder
	for _, r := range w {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case strings.ContainsRune("àáâäãå", r):
			b.WriteByte('a')
		case strings.ContainsRune("èéêë", r):
			b.WriteByte('e')
		case strings.ContainsRune("ìíîï", r):
			b.WriteByte('i')
		case strings.ContainsRune("òóôöõ", r):
			b.WriteByte('o')
		case strings.ContainsRune("ùúûü", r):
			b.WriteByte('u')
		case r == 'ç':
			b.WriteByte('c')
		case r == 'ñ':
			b.WriteByte('n')
		}
	}
	return b.String()
}

// vocabulary is the set of words the index holds, with how many
// documents hold each, and the words by length for the typo search.
type vocabulary struct {
	freq  map[string]int
	byLen map[int][]string
}

func newVocabulary() *vocabulary {
	return &vocabulary{freq: map[string]int{}, byLen: map[int][]string{}}
}

// add counts a document's words.
func (v *vocabulary) add(words []string) {
	seen := map[string]bool{}
	for _, w := range words {
		if seen[w] {
			continue
		}
		seen[w] = true
		if v.freq[w] == 0 {
			v.byLen[len(w)] = append(v.byLen[len(w)], w)
		}
		v.freq[w]++
	}
}

// variants are British endings and their American forms, which the
// articles use.
var variants = []struct{ from, to string }{
	{"isation", "ization"}, {"isations", "izations"}, {"ised", "ized"}, {"ises", "izes"}, {"ise", "ize"},
	{"ising", "izing"}, {"our", "or"}, {"ours", "ors"}, {"lled", "led"}, {"lling", "ling"}, {"tre", "ter"},
}

// expand returns the words a question's words search for: each word,
// its synonyms, and for a word the index does not know, what it was
// likely meant as: its American spelling, the two words it runs
// together, or the known words nearest it by edit distance.
func (v *vocabulary) expand(words []string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(ws ...string) {
		for _, w := range ws {
			if w != "" && !seen[w] {
				seen[w] = true
				out = append(out, w)
			}
		}
	}
	for _, w := range words {
		add(w)
		for _, m := range v.mend(w) {
			add(m)
			add(synonyms[m]...)
		}
		add(synonyms[w]...)
	}
	return out
}

// mend returns what an unknown word was likely meant as; nothing for a
// known or short word.
func (v *vocabulary) mend(w string) []string {
	if v.freq[w] > 0 || len(w) < 4 || isNumber(w) {
		return nil
	}
	for _, r := range variants {
		if stem, ok := strings.CutSuffix(w, r.from); ok && v.freq[stem+r.to] > 0 {
			return []string{stem + r.to}
		}
	}
	for i := 3; i <= len(w)-3; i++ {
		if v.freq[w[:i]] > 0 && v.freq[w[i:]] > 0 {
			return []string{w[:i], w[i:]}
		}
	}
	// A word that is a known word with an ending (the database stems
	// it) needs no mending.
	for i := len(w) - 1; i >= 4 && i >= len(w)-3; i-- {
		if v.freq[w[:i]] > 0 {
			return nil
		}
	}
	limit := 1
	if len(w) >= 7 {
		limit = 2
	}
	var best []string
	bestD := limit + 1
	for n := len(w) - limit; n <= len(w)+limit; n++ {
		for _, c := range v.byLen[n] {
			d := distance(w, c, limit+1)
			switch {
			case d > limit:
			case d < bestD:
				best, bestD = []string{c}, d
			case d == bestD:
				best = append(best, c)
			}
		}
	}
	// The two most common of the nearest words.
	slices.SortFunc(best, func(a, b string) int {
		return cmp.Or(cmp.Compare(v.freq[b], v.freq[a]), cmp.Compare(a, b))
	})
	if len(best) > 2 {
		best = best[:2]
	}
	return best
}

func isNumber(w string) bool {
	return strings.Trim(w, "0123456789") == ""
}

// distance is the edit distance of a and b (insertions, deletions,
// substitutions and swaps of neighbours), or max once it is known to be
// at least max.
func distance(a, b string, max int) int {
	if d := len(a) - len(b); d >= max || -d >= max {
		return max
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			c := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				c = min(c, prev2[j-2]+1)
			}
			cur[j] = c
			rowMin = min(rowMin, c)
		}
		if rowMin >= max {
			return max
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return min(prev[len(b)], max)
}
