package api

import (
	"testing"
)

func TestFlowSaverIntoAFlowKeepsItsName(t *testing.T) {
	t.Parallel()
	b := setup(t)
	save := NewFlowSaver(Config{Store: b.store, Runner: b.runner})
	a, f := b.users["a"], b.flows["a"]
	for name, tc := range map[string]struct {
		src       string
		line, col int
	}{
		"yaml, name after a nested name": {"description: x\ntrigger: {type: webhook}\nactions:\n  - id: c\n    type: compose\n    with:\n      value:\n        name: inner\nname: other\n", 9, 1},
		"json on one line":               {`{"name": "other", "trigger": {"type": "webhook"}, "actions": [{"id": "c", "type": "compose", "with": {"value": 1}}]}`, 1, 2},
	} {
		_, _, problems, err := save(t.Context(), a, tc.src, f.ID)
		if err != nil || len(problems) != 1 {
			t.Fatalf("%s: %v, %v", name, problems, err)
		}
		if pr := problems[0]; pr.Path != "name" || pr.Line != tc.line || pr.Column != tc.col {
			t.Errorf("%s: problem %+v, want name at %d:%d", name, pr, tc.line, tc.col)
		}
	}
	if got, _ := b.store.GetFlow(t.Context(), f.ID); got.Version != f.Version {
		t.Fatalf("a renamed version was saved: %d", got.Version)
	}
	// The same name is the next version; into 0 is the API's save by name.
	saved, created, problems, err := save(t.Context(), a, flowSource(f.Name, "manual"), f.ID)
	if err != nil || len(problems) > 0 || created || saved.ID != f.ID || saved.Version != f.Version+1 || saved.TriggerType != "manual" {
		t.Fatalf("save into the flow: %+v created=%t %v %v", saved, created, problems, err)
	}
	fresh, created, problems, err := save(t.Context(), a, flowSource("brand new", "manual"), 0)
	if err != nil || len(problems) > 0 || !created || fresh.OwnerID != a.ID {
		t.Fatalf("save a new flow: %+v created=%t %v %v", fresh, created, problems, err)
	}
}
