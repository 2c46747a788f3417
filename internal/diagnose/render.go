package diagnose

import (
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// tipData is what catalog texts can use, as {{.Connection}} and so on.
// The phrase fields always read well in a sentence: they name the thing
// when it is known and fall back to neutral wording when it is not; the
// *Name fields are the bare names, empty when unknown, for {{if}}.
type tipData struct {
	// Connection is `connection "github-bot"` or "the connection this step uses".
	Connection string
	// Step is `step "get_manager"` or "the failed step".
	Step string
	// StepTitle is `Step "get_manager"` or "The step", to start a sentence.
	StepTitle string
	// Field is `field "with.url"` or "the step's settings".
	Field string
	// ConnectionName, StepName and FieldName are the bare names, or "".
	ConnectionName, StepName, FieldName string
	// Status is the HTTP status code, or "".
	Status string
	// Host is the request's host, or "The service" (it starts sentences).
	Host string
	// URL is the request URL without query, or "".
	URL string
	// Provider is the entry's provider, or "the service".
	Provider string
	// Detail is what the other side said about the error, or "".
	Detail string
	// Message is the engine's error message.
	Message string
	// Wait is how long to wait ("30s"), or "a few minutes" when unknown.
	Wait string
	// Reset is the wait the answer names ("12h0m"), or "" when it names
	// none, for texts that must not guess (a quota's reset).
	Reset string
}

func (e *entry) data(r *response) tipData {
	d := tipData{
		Connection:     "the connection this step uses",
		Step:           "the failed step",
		StepTitle:      "The step",
		Field:          "the step's settings",
		ConnectionName: strings.TrimSpace(r.in.Connection),
		StepName:       strings.TrimSpace(r.in.Step),
		FieldName:      strings.TrimSpace(r.in.Field),
		Host:           "The service",
		URL:            r.in.URL,
		Provider:       "the service",
		Detail:         r.detail(),
		Message:        clip(oneLine(r.in.Message), 300),
		Wait:           "a few minutes",
	}
	if d.ConnectionName != "" {
		d.Connection = fmt.Sprintf("connection %q", d.ConnectionName)
	}
	if d.StepName != "" {
		d.Step = fmt.Sprintf("step %q", d.StepName)
		d.StepTitle = fmt.Sprintf("Step %q", d.StepName)
	}
	if d.FieldName != "" {
		d.Field = fmt.Sprintf("field %q", d.FieldName)
	}
	if r.status > 0 {
		d.Status = strconv.Itoa(r.status)
	}
	if r.host != "" {
		d.Host = r.host
	}
	if e.Provider != "" {
		d.Provider = e.Provider
	}
	if w := r.retryAfter(); w > 0 {
		d.Wait = formatWait(w)
		d.Reset = d.Wait
	}
	return d
}

// formatWait shows a wait rounded to what a person cares about.
func formatWait(d time.Duration) string {
	switch {
	case d < time.Second:
		return "a second"
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return strings.TrimSuffix(d.Round(time.Second).String(), "0s")
	default:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	}
}

// render fills the entry's texts for r.
func (e *entry) render(r *response) Diagnosis {
	data := e.data(r)
	d := Diagnosis{
		Class:        e.Class,
		Code:         e.ID,
		Title:        execute(e.title, data, e.Title),
		WhatHappened: execute(e.what, data, e.WhatHappened),
		HowToFix:     execute(e.how, data, e.HowToFix),
		Retryable:    e.Retryable,
		Actions:      append([]string{}, e.Actions...),
		Article:      ArticleFor(e.ID, e.Class),
	}
	// Quote what the service said, unless the text already does.
	if data.Detail != "" && !strings.Contains(d.WhatHappened, data.Detail) {
		end := "."
		if strings.HasSuffix(data.Detail, ".") || strings.HasSuffix(data.Detail, "!") || strings.HasSuffix(data.Detail, "?") {
			end = ""
		}
		d.WhatHappened = strings.TrimSpace(d.WhatHappened) + ` The answer said: "` + data.Detail + `"` + end
	}
	return d
}

// execute runs t, falling back to the raw text should it fail.
func execute(t *template.Template, data tipData, raw string) string {
	if t == nil {
		return raw
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return raw
	}
	return strings.TrimSpace(spaceRE.ReplaceAllString(b.String(), " "))
}

// tipFuncs are the functions catalog texts may call: shell quotes a name
// for a command (ShellQuote).
var tipFuncs = template.FuncMap{"shell": ShellQuote}

// ShellQuote quotes s for a POSIX shell when it needs it, so that a name
// in a suggested command (a connection or flow name with spaces or
// quotes) runs as written when pasted.
func ShellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
