package diagnose

import (
	"regexp"
	"strings"
)

// articles maps the prefix of a catalog id (the part before the first
// dot) to the help article that explains that family of errors: one per
// main provider, one for network errors, one per answer format that
// misleads by its status (GraphQL, SOAP). The timeout codes have their own
// article, named in timeoutCodes; every other code is explained by the
// article of its class (see ArticleFor).
var articles = map[string]string{
	"aws":        "aws",
	"discord":    "discord",
	"github":     "github",
	"gitlab":     "gitlab",
	"google":     "google",
	"graphql":    "graphql",
	"jira":       "jira",
	"graph":      "microsoft-graph",
	"salesforce": "salesforce",
	"shopify":    "shopify",
	"slack":      "slack",
	"soap":       "soap",
	"stripe":     "stripe",
	"telegram":   "telegram",
	"twilio":     "twilio",
	"net":        "network-errors",
}

// timeoutCodes are the codes the "timeouts" article explains.
var timeoutCodes = map[string]bool{"net.timeout": true, "http.408": true}

// ArticleFor returns the name of the help article (package help) that
// explains a diagnosis with that code and class: the article of the
// code's provider or family, else the article of its class, such as
// "auth-errors". It is the one place that links a diagnosis to its
// article, so that the run page, `runs show`, the repair-tip email and the
// API all point at the same one.
func ArticleFor(code, class string) string {
	if timeoutCodes[code] {
		return "timeouts"
	}
	if prefix, _, ok := strings.Cut(code, "."); ok {
		if a, ok := articles[prefix]; ok {
			return a
		}
	}
	switch class {
	case ClassAuth, ClassConfig, ClassThrottled, ClassTransient, ClassFlow:
		return class + "-errors"
	}
	return "flow-errors"
}

// Summary is a catalog entry as the help center shows and indexes it:
// its texts as written, with the placeholders for a particular failure
// ({{.Connection}}, {{.Step}}, ...) replaced by neutral words.
type Summary struct {
	// Code is the entry's id, such as "slack.invalid_auth".
	Code string
	// Provider is the service the entry is about, such as "Slack".
	Provider string
	// Class is the diagnosis class.
	Class string
	// Title, WhatHappened and HowToFix are the entry's texts.
	Title, WhatHappened, HowToFix string
	// Article is the help article that explains the entry (ArticleFor).
	Article string
}

// placeholder matches a template action in a catalog text.
var placeholder = regexp.MustCompile(`\{\{[^}]*\}\}`)

// neutral is the word a placeholder reads as in a summary.
var neutral = map[string]string{
	"Connection": "the connection", "Step": "the step", "StepTitle": "The step",
	"Field": "the field", "Status": "the status", "Host": "The service",
	"Provider": "the service", "Detail": "an error", "Wait": "a while",
	"URL": "the URL", "Message": "the error message", "Reset": "the reset time",
}

// neutralText replaces the placeholders of a catalog text by neutral
// words and drops conditionals.
func neutralText(s string) string {
	return strings.Join(strings.Fields(placeholder.ReplaceAllStringFunc(s, func(m string) string {
		name := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(m, "{{"), "}}"))
		name = strings.TrimPrefix(strings.TrimPrefix(name, "- "), ".")
		return neutral[strings.TrimSpace(strings.TrimSuffix(name, " -"))]
	})), " ")
}

// Summaries returns the catalog's entries in the order they are tried,
// for the help center's index.
func (c *Catalog) Summaries() []Summary {
	var out []Summary
	for _, l := range [][]*entry{c.admin, c.provider, c.generic} {
		for _, e := range l {
			out = append(out, Summary{
				Code: e.ID, Provider: e.Provider, Class: e.Class,
				Title: neutralText(e.Title), WhatHappened: neutralText(e.WhatHappened),
				HowToFix: neutralText(e.HowToFix), Article: ArticleFor(e.ID, e.Class),
			})
		}
	}
	return out
}
