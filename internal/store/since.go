package store

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// SincePattern is the form of a since value, as openapi.json states it:
// days ("7d"), a Go duration of units ("90m", "1h30m"), or an RFC 3339
// time. The API and the CLI check since values with it, so that the CLI
// refuses what the server would.
const SincePattern = `^(?:[0-9]+d|(?:[0-9]+(?:\.[0-9]*)?(?:ns|us|µs|ms|s|m|h))+|[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2}))$`

var sinceRE = regexp.MustCompile(SincePattern)

// ParseSince reads a point in time: a duration back from now such as
// "90m", "24h" or "7d", or an RFC 3339 time. It must fall between 1970 and
// 2200, which every store can hold.
func ParseSince(v string, now time.Time) (time.Time, error) {
	if !sinceRE.MatchString(v) {
		return time.Time{}, fmt.Errorf("%q must be a duration such as 24h or 7d, or an RFC 3339 time such as 2026-01-02T15:04:05Z", v)
	}
	var t time.Time
	if days, ok := strings.CutSuffix(v, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n > 0 && n <= 100*366 {
			t = now.Add(-time.Duration(n) * 24 * time.Hour)
		}
	}
	if d, err := time.ParseDuration(v); t.IsZero() && err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("%q must be a positive duration", v)
		}
		t = now.Add(-d)
	}
	if p, err := time.Parse(time.RFC3339, v); t.IsZero() && err == nil {
		t = p
	}
	if t.IsZero() {
		return time.Time{}, fmt.Errorf("%q must be a duration such as 24h or 7d, or an RFC 3339 time such as 2026-01-02T15:04:05Z", v)
	}
	if t.Year() < 1970 || t.Year() > 2200 {
		return time.Time{}, fmt.Errorf("%q is out of range: give a time between 1970 and 2200", v)
	}
	return t, nil
}
