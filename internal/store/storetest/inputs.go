package storetest

import (
	"encoding/json"
	"testing"

	"github.com/sluice/sluice/internal/store"
)

// runWithInput creates a queued run of the bundle's flow with that
// trigger input.
func runWithInput(t *testing.T, b *bundle, trigger, input string) store.Run {
	t.Helper()
	r, err := b.st.CreateRun(b.ctx, store.NewRun{FlowID: b.flow.ID, FlowVersion: 1, TriggerType: trigger, Input: json.RawMessage(input)})
	requireNoError(t, err, "CreateRun")
	return r
}

// inputTests check finding runs by the path of their input and replacing
// inputs in place, which the scrub of old webhook inputs uses.
var inputTests = []test{
	{"FindByPathAndReplace", func(t *testing.T, open opener) {
		b := setup(t, open)
		run := func(input string) store.Run { return runWithInput(t, b, "webhook", input) }
		old := run(`{"method":"POST","path":"/hooks/tok-123","headers":{"authorization":"Basic dTpw"}}`)
		run(`{"method":"POST","path":"/hooks/[redacted]","headers":{"authorization":"[redacted]"}}`)
		run(`{"input":{"path":"/hooks/tok-123"}}`) // a manual input: path is not at the top
		run(`{"path":7}`)
		run(`"just text"`)
		resubmitted := run(`{"path":"/hooks/tok-456/extra","query":{"token":"q"}}`)
		under := run(`{"path":"/a_b"}`)
		run(`{"path":"/axb"}`) // _ is not a wildcard

		filter := store.RunFilter{InputPathPrefix: "/hooks/", InputPathExcept: "/hooks/[redacted]", Oldest: true, Limit: 100}
		got, err := b.st.ListRuns(b.ctx, filter)
		requireNoError(t, err, "ListRuns(input path)")
		requireIDs(t, got, []int64{old.ID, resubmitted.ID}, "runs with an unmasked webhook path")
		requireJSON(t, got[0].Input, `{"method":"POST","path":"/hooks/tok-123","headers":{"authorization":"Basic dTpw"}}`, "listed input")

		got, err = b.st.ListRuns(b.ctx, store.RunFilter{InputPathPrefix: "/a_b", Limit: 100})
		requireNoError(t, err, "ListRuns(escaped prefix)")
		requireIDs(t, got, []int64{under.ID}, "runs under /a_b")

		// Paging: AfterID walks past the first.
		filter.AfterID = old.ID
		got, err = b.st.ListRuns(b.ctx, filter)
		requireNoError(t, err, "ListRuns(after)")
		requireIDs(t, got, []int64{resubmitted.ID}, "runs after the first")
		filter.AfterID = 0

		scrubbed := `{"method":"POST","path":"/hooks/[redacted]","headers":{"authorization":"[redacted]"}}`
		err = b.st.SetRunInputs(b.ctx, map[int64]json.RawMessage{
			old.ID: json.RawMessage(scrubbed), resubmitted.ID: json.RawMessage(`{"path":"/hooks/[redacted]/extra","query":{"token":"[redacted]"}}`),
			1 << 40: json.RawMessage(`{}`), // no such run: skipped
		})
		requireNoError(t, err, "SetRunInputs")
		requireJSON(t, getRun(t, b.st, old.ID).Input, scrubbed, "input after SetRunInputs")
		got, err = b.st.ListRuns(b.ctx, filter)
		requireNoError(t, err, "ListRuns(after scrub)")
		requireIDs(t, got, nil, "runs with an unmasked webhook path after the scrub")
		requireNoError(t, b.st.SetRunInputs(b.ctx, nil), "SetRunInputs(none)")
	}},
	{"FindByInputText", func(t *testing.T, open opener) {
		b := setup(t, open)
		run := func(input string) store.Run { return runWithInput(t, b, "manual", input) }
		ann := run(`{"input":{"user":"Ann Lee","note":"100%_done"}}`)
		run(`{"input":{"user":"Bob"}}`)
		annToo := run(`{"input":{"manager":"ANN LEE"}}`)
		run(`{"input":{"note":"100x done"}}`) // % and _ are not wildcards
		got, err := b.st.ListRuns(b.ctx, store.RunFilter{InputContains: "ann lee", Limit: 10})
		requireNoError(t, err, "ListRuns(input text)")
		requireIDs(t, got, []int64{annToo.ID, ann.ID}, "runs whose input contains ann lee, any case")
		got, err = b.st.ListRuns(b.ctx, store.RunFilter{InputContains: "100%_", Limit: 10})
		requireNoError(t, err, "ListRuns(escaped text)")
		requireIDs(t, got, []int64{ann.ID}, "runs whose input contains 100%_")
		got, err = b.st.ListRuns(b.ctx, store.RunFilter{InputContains: "ann", BeforeID: annToo.ID, AfterID: ann.ID - 1, Limit: 10})
		requireNoError(t, err, "ListRuns(text in an id window)")
		requireIDs(t, got, []int64{ann.ID}, "runs in the window whose input contains ann")
		n, err := b.st.CountRuns(b.ctx, store.RunFilter{InputContains: "Bob"})
		requireNoError(t, err, "CountRuns(input text)")
		if n != 1 {
			t.Fatalf("CountRuns(input text Bob) = %d, want 1", n)
		}
	}},
}
