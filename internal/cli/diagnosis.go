package cli

import (
	"cmp"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/sluice/sluice/internal/diagnose"
)

// apiDiagnosis is the diagnosis inside a failed step's error.
type apiDiagnosis struct {
	Class        string   `json:"class"`
	Code         string   `json:"code"`
	Title        string   `json:"title"`
	WhatHappened string   `json:"what_happened"`
	HowToFix     string   `json:"how_to_fix"`
	Retryable    bool     `json:"retryable"`
	Actions      []string `json:"actions"`
	Article      string   `json:"article"`
}

// stepDiagnoses reads the diagnosis of every step of a run answer whose
// error carries one, in step order.
func stepDiagnoses(raw json.RawMessage) ([]string, []apiDiagnosis) {
	var run struct {
		Steps []struct {
			ID       flexString      `json:"id"`
			ActionID string          `json:"action_id"`
			Error    json.RawMessage `json:"error"`
		} `json:"steps"`
	}
	if json.Unmarshal(raw, &run) != nil {
		return nil, nil
	}
	var (
		ids []string
		out []apiDiagnosis
	)
	for _, st := range run.Steps {
		var e struct {
			Diagnosis *apiDiagnosis `json:"diagnosis"`
		}
		if len(st.Error) == 0 || json.Unmarshal(st.Error, &e) != nil || e.Diagnosis == nil || e.Diagnosis.Code == "" && e.Diagnosis.WhatHappened == "" {
			continue
		}
		ids = append(ids, firstNonEmpty(string(st.ID), st.ActionID))
		out = append(out, *e.Diagnosis)
	}
	return ids, out
}

// printDiagnoses prints, under a run's steps table, what each failed step's
// diagnosis says: its class and code, what happened and how to fix it.
func (a *app) printDiagnoses(raw json.RawMessage) error {
	ids, diags := stepDiagnoses(raw)
	for i, d := range diags {
		fmt.Fprintln(a.stdout)
		title := "Step " + ids[i] + " failed"
		if d.Title != "" {
			title += ": " + d.Title
		}
		fmt.Fprintln(a.stdout, title)
		fmt.Fprintf(a.stdout, "  %-11s %s\n", "Class:", cell(d.Class))
		fmt.Fprintf(a.stdout, "  %-11s %s\n", "Code:", cell(d.Code))
		fmt.Fprintf(a.stdout, "  %-11s %s\n", "Retryable:", yesNo(d.Retryable))
		if len(d.Actions) > 0 {
			fmt.Fprintf(a.stdout, "  %-11s %s\n", "Actions:", strings.Join(d.Actions, ", "))
		}
		fmt.Fprintf(a.stdout, "  What happened:\n%s", indentText(d.WhatHappened, "    "))
		fmt.Fprintf(a.stdout, "  How do I fix:\n%s", indentText(d.HowToFix, "    "))
		// A diagnosis recorded before diagnoses named their article gets
		// it from the same function.
		if article := cmp.Or(d.Article, diagnose.ArticleFor(d.Code, d.Class)); d.Code != "" {
			fmt.Fprintf(a.stdout, "  Learn more: sluice help show %s\n", article)
		}
	}
	return nil
}

// indentText prefixes every line of s, ending with a newline; empty text
// shows as "-".
func indentText(s, prefix string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		s = "-"
	}
	var b strings.Builder
	for line := range strings.SplitSeq(s, "\n") {
		b.WriteString(prefix + strings.TrimRight(line, " \t\r") + "\n")
	}
	return b.String()
}
