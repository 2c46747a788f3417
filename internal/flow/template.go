package flow

import (
	"errors"
	"strings"

	"github.com/sluice/sluice/internal/expression"
)

// templateError is a template that does not compile: where in the string
// and why.
type templateError struct {
	Offset  int
	Message string
}

// hasTemplate reports whether s holds a {{ }} template.
func hasTemplate(s string) bool {
	return expression.HasTemplate(s)
}

// compileTemplate compiles a template string with package expression and
// returns the ids of the steps it reads.
func compileTemplate(s string) ([]string, *templateError) {
	t, err := expression.Compile(s)
	if err != nil {
		var xerr *expression.Error
		if errors.As(err, &xerr) {
			return nil, &templateError{Offset: xerr.Offset, Message: xerr.Message}
		}
		return nil, &templateError{Message: err.Error()}
	}
	return t.StepRefs(), nil
}

// loopVariables returns which of item and index the expressions in s use
// as root names. It looks at the text only: names inside string literals,
// after a dot or before a "(" do not count.
func loopVariables(s string) []string {
	var found []string
	seen := map[string]bool{}
	rest := s
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			return found
		}
		j := strings.Index(rest[i+2:], "}}")
		if j < 0 {
			return found
		}
		body := stripStrings(rest[i+2 : i+2+j])
		for k := 0; k < len(body); {
			if !identStart(body[k]) {
				k++
				continue
			}
			e := k
			for e < len(body) && (identStart(body[e]) || body[e] >= '0' && body[e] <= '9') {
				e++
			}
			word := body[k:e]
			before := strings.TrimRight(body[:k], " \t\r\n")
			after := strings.TrimLeft(body[e:], " \t\r\n")
			isRoot := !strings.HasSuffix(before, ".") && !strings.HasPrefix(after, "(") && !strings.HasPrefix(after, ":")
			if (word == "item" || word == "index") && isRoot && !seen[word] {
				seen[word] = true
				found = append(found, word)
			}
			k = e
		}
		rest = rest[i+2+j+2:]
	}
}

func identStart(b byte) bool {
	return b == '_' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

// stripStrings blanks out quoted string literals in an expression.
func stripStrings(s string) string {
	b := []byte(s)
	var quote byte
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case quote != 0 && c == '\\' && i+1 < len(b):
			b[i], b[i+1] = ' ', ' '
			i++
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			b[i] = ' '
		case c == '"' || c == '\'' || c == '`':
			quote = c
		}
	}
	return string(b)
}
