package flow

import (
	"errors"
	"fmt"
	"math"
	netmail "net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluice/sluice/internal/expression"
)

// The rules on an action's with values live here, once. The checker applies
// them to the values a maker wrote (those without a {{ }} template) before
// a flow is saved; the engine applies the same functions to every value,
// computed ones included, when the action runs. Each takes a value as Parse
// or an expression gives it (string, int64, float64, bool, map, list) and
// returns an error whose text completes "with.<field> ...".

// RespondStatus reads a respond action's status: a whole number (or its
// decimal text) from 200 to 599. A 1xx is not a final answer: the server
// would send it and wait for a final one the action never gives.
func RespondStatus(v any) (int, error) {
	n, ok := wholeNumber(v)
	if !ok {
		return 0, fmt.Errorf("must be an HTTP status between 200 and 599, not %s", describeValue(v))
	}
	if n < 200 || n > 599 {
		return 0, fmt.Errorf("must be an HTTP status between 200 and 599 (a final answer), not %d", n)
	}
	return int(n), nil
}

// HTTPMethod reads an http action's method, in any letter case, and
// returns it in upper case. It must be one of HTTPMethods.
func HTTPMethod(v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("must be a string, not %s", describeValue(v))
	}
	m := strings.ToUpper(strings.TrimSpace(s))
	if !slices.Contains(HTTPMethods, m) {
		return "", fmt.Errorf("unknown method %q; use %s", s, oneOf(HTTPMethods))
	}
	return m, nil
}

// HTTPURL reads an http action's url: an absolute http or https URL with a
// host.
func HTTPURL(v any) (*url.URL, error) {
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("must be a string, not %s", describeValue(v))
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("not a valid URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("must start with http:// or https://")
	case u.Host == "":
		return nil, errors.New("has no host")
	}
	return u, nil
}

// DelayDuration reads a delay action's duration: a Go duration string such
// as "30s" or "1h30m", or a number of seconds. It may not be longer than
// MaxDelay. A duration of 0s or less is read as it is: a computed one
// (such as the time left until a date that has passed) means no wait; the
// checker refuses a written one, which could only be a mistake.
func DelayDuration(v any) (time.Duration, error) {
	var d time.Duration
	switch x := v.(type) {
	case string:
		p, err := time.ParseDuration(strings.TrimSpace(x))
		if err != nil {
			hint := ""
			if days, err := strconv.Atoi(strings.TrimSuffix(x, "d")); err == nil && strings.HasSuffix(x, "d") && days > 0 && days < 1e6 {
				hint = fmt.Sprintf(" (durations have no days: write %dh)", days*24)
			}
			return 0, fmt.Errorf("%q is not a duration; write it like 30s, 5m or 1h30m%s", x, hint)
		}
		d = p
	case int, int64, float64:
		f := toFloat(x)
		if !(f <= MaxDelay.Seconds()) { // NaN too
			return 0, errDelayRange
		}
		d = time.Duration(f * float64(time.Second))
	default:
		return 0, fmt.Errorf("must be a duration such as \"30s\", \"5m\" or \"1h30m\", or a number of seconds, not %s", describeValue(v))
	}
	if d > MaxDelay {
		return 0, errDelayRange
	}
	return d, nil
}

var errDelayRange = errors.New("must be more than 0s and at most 30 days (720h)")

// EmailAddresses reads the to, cc or bcc of an email action: an address
// list such as "a@example.com, Bo <b@example.com>", or a list of such
// strings. It returns one address a line, as the mailer takes them, so a
// display name holding a comma ("Doe, Jo" <j@example.com>) stays whole.
// Blank strings are skipped (a computed optional address may be empty), so
// the list may be empty.
func EmailAddresses(v any) ([]string, error) {
	var texts []any
	switch x := v.(type) {
	case []any:
		texts = x
	default:
		texts = []any{v}
	}
	var out []string
	for i, t := range texts {
		s, ok := t.(string)
		if !ok {
			return nil, &AddressError{Index: listIndex(v, i), Err: fmt.Errorf("must be an email address, not %s", describeValue(t))}
		}
		if strings.TrimSpace(s) == "" {
			continue
		}
		list, err := netmail.ParseAddressList(s)
		if err != nil {
			return nil, &AddressError{Index: listIndex(v, i), Err: fmt.Errorf("%q is not an email address", s)}
		}
		for _, a := range list {
			out = append(out, a.String())
		}
	}
	return out, nil
}

// AddressError is an email action's address that EmailAddresses refused;
// Index is its place in a list, or -1 when the field is one string.
type AddressError struct {
	Index int
	Err   error
}

// Error returns the reason.
func (e *AddressError) Error() string { return e.Err.Error() }

// Unwrap returns the reason.
func (e *AddressError) Unwrap() error { return e.Err }

func listIndex(v any, i int) int {
	if _, ok := v.([]any); ok {
		return i
	}
	return -1
}

// EmailReplyTo reads an email action's reply_to: exactly one address.
func EmailReplyTo(v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("must be an email address, not %s", describeValue(v))
	}
	a, err := netmail.ParseAddress(s)
	if err != nil {
		return "", fmt.Errorf("%q is not one email address", s)
	}
	return a.String(), nil
}

// EmailSubject checks an email action's subject: one line, since a line
// break would start another header.
func EmailSubject(s string) error {
	if strings.ContainsAny(s, "\r\n") {
		return errors.New("must be one line: a subject cannot hold a line break")
	}
	return nil
}

// HeaderValue checks the value of a header an http action sends: no line
// break or other control character but tab, which HTTP refuses (Go's
// client fails the request).
func HeaderValue(s string) error {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < ' ' && b != '\t' || b == 0x7f {
			return fmt.Errorf("must be one line without control characters; byte %d is %q", i, b)
		}
	}
	return nil
}

// TerminateStatus checks a terminate action's status: one of
// TerminateStatuses.
func TerminateStatus(v any) (string, error) {
	s, ok := v.(string)
	if !ok || !slices.Contains(TerminateStatuses, s) {
		return "", fmt.Errorf("unknown status %s; use %s", describeValue(v), oneOf(TerminateStatuses))
	}
	return s, nil
}

// wholeNumber reads a whole number from a value, or its decimal text.
func wholeNumber(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int64:
		return n, true
	case float64:
		if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
			return int64(n), true
		}
	case string:
		i, err := strconv.ParseInt(strings.TrimSpace(n), 10, 64)
		return i, err == nil
	}
	return 0, false
}

func toFloat(v any) float64 {
	switch n := v.(type) {
	case int:
		return float64(n)
	case int64:
		return float64(n)
	case float64:
		return n
	}
	return 0
}

// describeValue names a value's type for a message, or quotes a short
// string.
func describeValue(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	if n, ok := wholeNumber(v); ok {
		return strconv.FormatInt(n, 10)
	}
	return expression.TypeName(v)
}
