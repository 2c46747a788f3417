package flow

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// webhookFlow is a valid flow head; cases append their actions to it.
const webhookFlow = "name: t\ntrigger: {type: webhook}\nactions:\n"

type wantProblem struct {
	path    string
	message string // a prefix of the message
}

func TestParseProblems(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		src  string
		want []wantProblem
	}{
		{"unknown top-level field", "name: t\ntrigger: {type: manual}\nactoins: []\nactions: [{id: a, type: compose, with: {value: 1}}]\n",
			[]wantProblem{{"actoins", `unknown field "actoins" (did you mean "actions"?)`}}},
		{"unknown action field", webhookFlow + "  - {id: a, type: compose, wiht: {value: 1}, with: {value: 1}}\n",
			[]wantProblem{{"actions[0].wiht", `unknown field "wiht" (did you mean "with"?)`}}},
		{"unknown with field", webhookFlow + "  - {id: a, type: http, with: {url: 'https://x.example', methd: GET}}\n",
			[]wantProblem{{"actions[0].with.methd", `unknown field "methd" (did you mean "method"?)`}}},
		{"field given twice", "name: t\nname: u\ntrigger: {type: manual}\nactions: [{id: a, type: compose, with: {value: 1}}]\n",
			[]wantProblem{{"name", `"name" is given twice`}}},
		{"wrong type", webhookFlow + "  - {id: a, type: http, with: {url: [1]}}\n",
			[]wantProblem{{"actions[0].with.url", "must be a string, not a list"}}},
		{"definition not a mapping", "- a\n- b\n",
			[]wantProblem{{"", "a definition must be a mapping with name, trigger and actions, not a list"}}},
		{"missing name trigger actions", "description: x\n",
			[]wantProblem{{"name", "missing; a flow needs a name"}, {"trigger", "missing; a flow needs a trigger"}, {"actions", "missing; a flow needs at least one action"}}},
		{"missing trigger type", "name: t\ntrigger: {cron: '* * * * *'}\nactions: [{id: a, type: compose, with: {value: 1}}]\n",
			[]wantProblem{{"trigger.type", "missing; the trigger type is manual, webhook or schedule"}}},
		{"missing action id and type", webhookFlow + "  - {with: {value: 1}}\n",
			[]wantProblem{{"actions[0].id", "missing; every action needs an id"}, {"actions[0].type", "missing; the action type is one of"}}},
		{"empty actions", "name: t\ntrigger: {type: manual}\nactions: []\n",
			[]wantProblem{{"actions", "must list at least one action"}}},
		{"bad id", webhookFlow + "  - {id: 1abc, type: compose, with: {value: 1}}\n",
			[]wantProblem{{"actions[0].id", `id "1abc" must match ^[a-z_][a-z0-9_]*$`}}},
		{"duplicate id nested", webhookFlow + "  - {id: a, type: compose, with: {value: 1}}\n  - id: s\n    type: scope\n    actions:\n      - {id: a, type: compose, with: {value: 2}}\n",
			[]wantProblem{{"actions[1].actions[0].id", `duplicate id "a", first used at actions[0] (line 4); ids must be unique in the whole flow`}}},
		{"unknown trigger type", "name: t\ntrigger: {type: webhok}\nactions: [{id: a, type: compose, with: {value: 1}}]\n",
			[]wantProblem{{"trigger.type", `unknown trigger type "webhok" (did you mean "webhook"?); use manual, webhook or schedule`}}},
		{"unknown action type", webhookFlow + "  - {id: a, type: compsoe}\n",
			[]wantProblem{{"actions[0].type", `unknown action type "compsoe" (did you mean "compose"?)`}}},
		{"field of another type", webhookFlow + "  - {id: a, type: compose, with: {value: 1}, then: []}\n",
			[]wantProblem{{"actions[0].then", "then does not apply to compose actions; it is for condition actions"}}},
		{"run_after unknown", webhookFlow + "  - {id: get_x, type: compose, with: {value: 1}}\n  - {id: b, type: compose, with: {value: 1}, run_after: {get_y: [failed]}}\n",
			[]wantProblem{{"actions[1].run_after.get_y", `unknown action "get_y" (did you mean "get_x"?)`}}},
		{"run_after later sibling", webhookFlow + "  - {id: a, type: compose, with: {value: 1}, run_after: {b: [failed]}}\n  - {id: b, type: compose, with: {value: 1}, run_after: {a: [failed]}}\n",
			[]wantProblem{{"actions[0].run_after.b", `"b" comes after this action; run_after can only name earlier actions in the same list`}}},
		{"run_after not a sibling", webhookFlow + "  - {id: a, type: compose, with: {value: 1}}\n  - id: s\n    type: scope\n    actions:\n      - {id: b, type: compose, with: {value: 1}, run_after: {a: [succeeded]}}\n",
			[]wantProblem{{"actions[1].actions[0].run_after.a", `"a" is not in the same list as this action`}}},
		{"run_after nested path", webhookFlow + "  - id: c\n    type: condition\n    if: '{{ true }}'\n    then:\n      - {id: b, type: compose, with: {value: 1}, run_after: {get_x: [failed]}}\n",
			[]wantProblem{{"actions[0].then[0].run_after.get_x", `unknown action "get_x"`}}},
		{"run_after status", webhookFlow + "  - {id: a, type: compose, with: {value: 1}}\n  - {id: b, type: compose, with: {value: 1}, run_after: {a: [cancelled]}}\n",
			[]wantProblem{{"actions[1].run_after.a[0]", `unknown status "cancelled"; use succeeded, failed, skipped or timed_out`}}},
		{"run_after not a list", webhookFlow + "  - {id: a, type: compose, with: {value: 1}}\n  - {id: b, type: compose, with: {value: 1}, run_after: {a: failed}}\n",
			[]wantProblem{{"actions[1].run_after.a", "must be a list of statuses such as [failed], not a string"}}},
		{"bad cron", "name: t\ntrigger: {type: schedule, cron: '* * *'}\nactions: [{id: a, type: compose, with: {value: 1}}]\n",
			[]wantProblem{{"trigger.cron", `"* * *" is not a cron expression`}}},
		{"cron never fires", "name: t\ntrigger: {type: schedule, cron: '0 0 30 2 *'}\nactions: [{id: a, type: compose, with: {value: 1}}]\n",
			[]wantProblem{{"trigger.cron", `"0 0 30 2 *" never fires`}}},
		{"cron and every", "name: t\ntrigger: {type: schedule, cron: '@hourly', every: 5m}\nactions: [{id: a, type: compose, with: {value: 1}}]\n",
			[]wantProblem{{"trigger.every", "a schedule has either cron or every, not both"}}},
		{"neither cron nor every", "name: t\ntrigger: {type: schedule}\nactions: [{id: a, type: compose, with: {value: 1}}]\n",
			[]wantProblem{{"trigger", "a schedule trigger needs cron"}}},
		{"cron on webhook", "name: t\ntrigger: {type: webhook, cron: '@daily'}\nactions: [{id: a, type: compose, with: {value: 1}}]\n",
			[]wantProblem{{"trigger.cron", "cron applies only to schedule triggers, not webhook"}}},
		{"unknown timezone", "name: t\ntrigger: {type: schedule, cron: '0 9 * * *', timezone: Europe/Pariss}\nactions: [{id: a, type: compose, with: {value: 1}}]\n",
			[]wantProblem{{"trigger.timezone", `unknown time zone "Europe/Pariss"`}}},
		{"every too short", "name: t\ntrigger: {type: schedule, every: 500ms}\nactions: [{id: a, type: compose, with: {value: 1}}]\n",
			[]wantProblem{{"trigger.every", "must be at least 1s"}}},
		{"bad duration", webhookFlow + "  - {id: a, type: http, with: {url: 'https://x.example'}, timeout: 10 seconds}\n",
			[]wantProblem{{"actions[0].timeout", `"10 seconds" is not a duration`}}},
		{"duration as number", webhookFlow + "  - {id: a, type: http, with: {url: 'https://x.example'}, timeout: 10}\n",
			[]wantProblem{{"actions[0].timeout", `must be a duration such as "30s", "5m" or "1h30m", not a number`}}},
		{"zero timeout", webhookFlow + "  - {id: a, type: http, with: {url: 'https://x.example'}, timeout: 0s}\n",
			[]wantProblem{{"actions[0].timeout", "must be more than 0s"}}},
		{"retry values", webhookFlow + "  - {id: a, type: http, with: {url: 'https://x.example'}, retry: {policy: fixd, count: -1, interval: 1m, max_interval: 1s}}\n",
			[]wantProblem{{"actions[0].retry.policy", `unknown retry policy "fixd" (did you mean "fixed"?)`}, {"actions[0].retry.count", "must be between 0 and 100, not -1"}, {"actions[0].retry.max_interval", "must not be shorter than interval (1m0s)"}}},
		{"retry none with count", webhookFlow + "  - {id: a, type: http, with: {url: 'https://x.example'}, retry: {policy: none, count: 3}}\n",
			[]wantProblem{{"actions[0].retry.count", "count does not apply to policy none"}}},
		{"retry on compose", webhookFlow + "  - {id: a, type: compose, with: {value: 1}, retry: {policy: none}}\n",
			[]wantProblem{{"actions[0].retry", "retry does not apply to compose actions; it is for http or email actions"}}},
		{"concurrency range", webhookFlow + "  - {id: l, type: foreach, foreach: '{{ trigger.body }}', concurrency: 65, actions: [{id: a, type: compose, with: {value: 1}}]}\n",
			[]wantProblem{{"actions[0].concurrency", "must be between 1 and 64, not 65"}}},
		{"http missing url", webhookFlow + "  - {id: a, type: http, with: {method: GET}}\n",
			[]wantProblem{{"actions[0].with.url", "missing; a http action needs with.url"}}},
		{"http missing with", webhookFlow + "  - {id: a, type: http}\n",
			[]wantProblem{{"actions[0].with", "missing; a http action needs with: url"}}},
		{"http method", webhookFlow + "  - {id: a, type: http, with: {url: 'https://x.example', method: FETCH}}\n",
			[]wantProblem{{"actions[0].with.method", `unknown method "FETCH"; use GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS`}}},
		{"http body json form", webhookFlow + "  - {id: a, type: http, with: {url: 'https://x.example', json: {a: 1}, form: {b: 2}}}\n",
			[]wantProblem{{"actions[0].with.form", "body, json and form cannot be combined; json is already given"}}},
		{"http idempotency_key", webhookFlow + "  - {id: a, type: http, with: {url: 'https://x.example', idempotency_key: yes please}}\n",
			[]wantProblem{{"actions[0].with.idempotency_key", "must be true or false, not a string"}}},
		{"email missing to and subject", webhookFlow + "  - {id: a, type: email, with: {body: hi}}\n",
			[]wantProblem{{"actions[0].with.to", "missing; a email action needs with.to"}, {"actions[0].with.subject", "missing; a email action needs with.subject"}}},
		{"email bad address", webhookFlow + "  - {id: a, type: email, with: {to: [ok@example.com, not an address], subject: s}}\n",
			[]wantProblem{{"actions[0].with.to[1]", `"not an address" is not an email address`}}},
		{"compose missing value", webhookFlow + "  - {id: a, type: compose, with: {}}\n",
			[]wantProblem{{"actions[0].with.value", "missing; a compose action needs with.value"}}},
		{"delay too long", webhookFlow + "  - {id: a, type: delay, with: {duration: 721h}}\n",
			[]wantProblem{{"actions[0].with.duration", "must be more than 0s and at most 30 days (720h)"}}},
		{"terminate status", webhookFlow + "  - {id: a, type: terminate, with: {status: faild}}\n",
			[]wantProblem{{"actions[0].with.status", `unknown status "faild" (did you mean "failed"?); use succeeded, failed or cancelled`}}},
		{"respond status", webhookFlow + "  - {id: a, type: respond, with: {status: 99}}\n",
			[]wantProblem{{"actions[0].with.status", "must be an HTTP status between 200 and 599 (a final answer), not 99"}}},
		// The rules the engine applies when the action runs, applied to
		// written values before the flow is saved.
		{"respond status 1xx", webhookFlow + "  - {id: a, type: respond, with: {status: 101}}\n",
			[]wantProblem{{"actions[0].with.status", "must be an HTTP status between 200 and 599 (a final answer), not 101"}}},
		{"respond status text", webhookFlow + "  - {id: a, type: respond, with: {status: lots}}\n",
			[]wantProblem{{"actions[0].with.status", `must be an HTTP status between 200 and 599, not "lots"`}}},
		{"email reply_to list", webhookFlow + "  - {id: a, type: email, with: {to: a@example.com, reply_to: 'b@example.com, c@example.com', subject: s}}\n",
			[]wantProblem{{"actions[0].with.reply_to", `"b@example.com, c@example.com" is not one email address`}}},
		{"email subject two lines", webhookFlow + "  - {id: a, type: email, with: {to: a@example.com, subject: \"one\\ntwo\"}}\n",
			[]wantProblem{{"actions[0].with.subject", "must be one line: a subject cannot hold a line break"}}},
		{"delay seconds too long", webhookFlow + "  - {id: a, type: delay, with: {duration: 2592001}}\n",
			[]wantProblem{{"actions[0].with.duration", "must be more than 0s and at most 30 days (720h)"}}},
		{"delay zero", webhookFlow + "  - {id: a, type: delay, with: {duration: 0s}}\n",
			[]wantProblem{{"actions[0].with.duration", "must be more than 0s and at most 30 days (720h)"}}},
		{"http header line break", webhookFlow + "  - {id: a, type: http, with: {url: 'https://x.example', headers: {X-A: \"one\\ntwo\"}}}\n",
			[]wantProblem{{"actions[0].with.headers.X-A", `must be one line without control characters; byte 3 is '\n'`}}},
		{"email empty to", webhookFlow + "  - {id: a, type: email, with: {to: '', subject: s}}\n",
			[]wantProblem{{"actions[0].with.to", "is empty; write an email address such as ann@example.com"}}},
		{"http url scheme", webhookFlow + "  - {id: a, type: http, with: {url: 'file:///etc/passwd'}}\n",
			[]wantProblem{{"actions[0].with.url", "must start with http:// or https://"}}},
		{"respond headers", webhookFlow + "  - {id: a, type: respond, with: {headers: [x]}}\n",
			[]wantProblem{{"actions[0].with.headers", "must be a mapping, not a list"}}},
		{"respond without webhook", "name: t\ntrigger: {type: manual}\nactions: [{id: a, type: respond}]\n",
			[]wantProblem{{"actions[0].type", "respond works only in flows with a webhook trigger, not manual"}}},
		{"condition missing if", webhookFlow + "  - {id: c, type: condition, then: [{id: a, type: compose, with: {value: 1}}]}\n",
			[]wantProblem{{"actions[0].if", "missing; a condition needs an if template"}}},
		{"condition if not a template", webhookFlow + "  - {id: c, type: condition, if: 'x > 1', else: [{id: a, type: compose, with: {value: 1}}]}\n",
			[]wantProblem{{"actions[0].if", "must be a {{ }} template"}}},
		{"condition without branches", webhookFlow + "  - {id: c, type: condition, if: '{{ true }}'}\n",
			[]wantProblem{{"actions[0]", "a condition needs then, else or both"}}},
		{"foreach missing parts", webhookFlow + "  - {id: l, type: foreach}\n",
			[]wantProblem{{"actions[0].foreach", "missing; a foreach needs a list template"}, {"actions[0].actions", "missing; a foreach needs the actions"}}},
		{"scope empty", webhookFlow + "  - {id: s, type: scope, actions: []}\n",
			[]wantProblem{{"actions[0].actions", "must list at least one action"}}},
		{"bad template", webhookFlow + "  - {id: a, type: compose, with: {value: 'x {{ trigger.body '}}\n",
			[]wantProblem{{"actions[0].with.value", "bad template:"}}},
		{"unknown step", webhookFlow + "  - {id: get_manager, type: compose, with: {value: 1}}\n  - {id: b, type: compose, with: {value: '{{ steps.get_mangr.output }}'}}\n",
			[]wantProblem{{"actions[1].with.value", `unknown step "get_mangr" (did you mean "get_manager"?)`}}},
		{"later step", webhookFlow + "  - {id: a, type: compose, with: {value: '{{ steps.b.output }}'}}\n  - {id: b, type: compose, with: {value: 1}}\n",
			[]wantProblem{{"actions[0].with.value", `step "b" comes after this action`}}},
		{"own step", webhookFlow + "  - {id: a, type: compose, with: {value: '{{ steps.a.output }}'}}\n",
			[]wantProblem{{"actions[0].with.value", `step "a" is this action`}}},
		{"enclosing step", webhookFlow + "  - id: s\n    type: scope\n    actions:\n      - {id: a, type: compose, with: {value: '{{ steps.s.status }}'}}\n",
			[]wantProblem{{"actions[0].actions[0].with.value", `step "s" contains this action`}}},
		{"step inside foreach from outside", webhookFlow + "  - {id: l, type: foreach, foreach: '{{ trigger.body }}', actions: [{id: a, type: compose, with: {value: '{{ item }}'}}]}\n  - {id: b, type: compose, with: {value: '{{ steps.a.output }}'}}\n",
			[]wantProblem{{"actions[1].with.value", `step "a" is inside foreach "l"; outside the loop use steps.l.output`}}},
		{"item outside foreach", webhookFlow + "  - {id: a, type: compose, with: {value: '{{ item.sku }}'}}\n",
			[]wantProblem{{"actions[0].with.value", "item is only available inside the actions of a foreach"}}},
		{"if references later branch", webhookFlow + "  - {id: c, type: condition, if: '{{ steps.a.output }}', then: [{id: a, type: compose, with: {value: 1}}]}\n",
			[]wantProblem{{"actions[0].if", `step "a" comes after this action`}}},
		{"action nesting too deep", webhookFlow + strings.Repeat("  ", 0) + nestedScopes(MaxActionDepth+1),
			[]wantProblem{{strings.TrimSuffix(strings.Repeat("actions[0].", MaxActionDepth)+"actions", "."), "actions are nested deeper than 16 levels"}}},
		{"non-finite number", webhookFlow + "  - {id: a, type: compose, with: {value: .inf}}\n",
			[]wantProblem{{"", "numbers must be finite"}}},
		{"unknown anchor", webhookFlow + "  - {id: a, type: compose, with: {value: *nope}}\n",
			[]wantProblem{{"", `unknown anchor "nope"`}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, got := Parse([]byte(tc.src))
			assertProblems(t, got, tc.want)
		})
	}
}

// nestedScopes returns n scopes nested in one another, the innermost
// holding a compose action.
func nestedScopes(n int) string {
	var b strings.Builder
	for i := range n {
		ind := strings.Repeat("    ", i)
		b.WriteString(ind + "  - id: s" + string(rune('a'+i)) + "\n" + ind + "    type: scope\n" + ind + "    actions:\n")
	}
	b.WriteString(strings.Repeat("    ", n) + "  - {id: leaf, type: compose, with: {value: 1}}\n")
	return b.String()
}

func assertProblems(t *testing.T, got []Problem, want []wantProblem) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d problems, want %d:\n%s", len(got), len(want), formatProblems(got))
		return
	}
	for i, w := range want {
		p := got[i]
		if p.Path != w.path || !strings.HasPrefix(p.Message, w.message) {
			t.Errorf("problem %d = %q: %q, want %q: %q...", i, p.Path, p.Message, w.path, w.message)
		}
		if p.Line == 0 {
			t.Errorf("problem %d (%s) has no line", i, p)
		}
	}
}

func formatProblems(ps []Problem) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString("  " + p.String() + "\n")
	}
	return b.String()
}

func TestParseUnknownStepMessage(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("testdata/unknown-step.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, problems := Parse(src)
	if len(problems) != 1 {
		t.Fatalf("got %d problems, want 1:\n%s", len(problems), formatProblems(problems))
	}
	p := problems[0]
	const want = `actions[2].with.to: unknown step "get_mangr" (did you mean "get_manager"?)`
	if got := p.Path + ": " + p.Message; got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if p.Line != 14 || p.Column != 11 {
		t.Errorf("position = %d:%d, want 14:11", p.Line, p.Column)
	}
}

// TestParseManyProblems checks that every problem of a definition is
// reported, in line order, not only the first.
func TestParseManyProblems(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("testdata/many-problems.yaml")
	if err != nil {
		t.Fatal(err)
	}
	wantText, err := os.ReadFile("testdata/many-problems.want")
	if err != nil {
		t.Fatal(err)
	}
	_, problems := Parse(src)
	var got []string
	for i, p := range problems {
		got = append(got, p.Path+": "+p.Message)
		if i > 0 && p.Line < problems[i-1].Line {
			t.Errorf("problem %d (line %d) comes after line %d", i, p.Line, problems[i-1].Line)
		}
	}
	want := strings.Split(strings.TrimSpace(string(wantText)), "\n")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestParseUnreadable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		src       string
		message   string
		line, col int
	}{
		{"syntax error", "name: t\ntrigger: {type: webhook\nactions: []\n", "not valid YAML or JSON", 3, 1},
		{"bad JSON", `{"name": "t", "trigger": {"type": "webhook"]}`, "not valid YAML or JSON", 1, 44},
		{"empty", "", "the definition is empty", 1, 1},
		{"two documents", "name: a\n---\nname: b\n", "a definition is one YAML document", 2, 1},
		{"too large", "name: " + strings.Repeat("x", MaxSize), "the definition is 1048582 bytes; the limit is 1048576 bytes (1 MiB)", 0, 0},
		{"deep brackets", "name: " + strings.Repeat("[", 10000), "mappings and lists are nested deeper than 64 levels", 1, 7 + MaxNesting - 1},
		{"deep indentation", "a:\n" + deepMapping(MaxNesting+2), "mappings and lists are nested deeper than 64 levels", MaxNesting + 1, 2*MaxNesting + 1},
		{"deep dashes", strings.Repeat("- ", 500_000), "mappings and lists are nested deeper than 64 levels", 1, 2*MaxNesting + 1},
		{"deep alias", "a: &a " + strings.Repeat("[", 40) + strings.Repeat("]", 40) + "\nb: " + strings.Repeat("[", 40) + "*a" + strings.Repeat("]", 40), "nesting is deeper than 64 levels", 1, 0},
		{"too many keys", strings.Repeat("k: v\n", MaxKeys+1), "the definition has 20001 keys; the limit is 20000", 0, 0},
		{"alias bomb", aliasBomb(), "definition has more than 100000 values", 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			def, problems := Parse([]byte(tc.src))
			if def != nil {
				t.Errorf("definition = %+v, want nil", def)
			}
			if len(problems) != 1 {
				t.Fatalf("got %d problems, want 1:\n%s", len(problems), formatProblems(problems))
			}
			p := problems[0]
			if !strings.HasPrefix(p.Message, tc.message) {
				t.Errorf("message = %q, want prefix %q", p.Message, tc.message)
			}
			if tc.line != 0 && tc.col == 0 && p.Line != tc.line {
				t.Errorf("line = %d, want %d", p.Line, tc.line)
			}
			if tc.line != 0 && tc.col != 0 && (p.Line != tc.line || p.Column != tc.col) {
				t.Errorf("position = %d:%d, want %d:%d", p.Line, p.Column, tc.line, tc.col)
			}
		})
	}
}

func deepMapping(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		b.WriteString(strings.Repeat("  ", i) + "a:\n")
	}
	return b.String()
}

// aliasBomb returns a "billion laughs" document: few bytes, exponentially
// many values once aliases are expanded.
func aliasBomb() string {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 10; i++ {
		prev := "*a" + string(rune('0'+i-1))
		b.WriteString("a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [" + strings.Repeat(prev+", ", 9) + prev + "]\n")
	}
	return b.String()
}

func TestParseJSON(t *testing.T) {
	t.Parallel()
	src := `{"name": "t", "trigger": {"type": "webhook"}, "actions": [{"id": "a", "type": "compose", "with": {"value": {"n": 3, "f": 1.5, "ok": true, "none": null}}}]}`
	def, problems := Parse([]byte(src))
	if len(problems) > 0 {
		t.Fatalf("problems:\n%s", formatProblems(problems))
	}
	want := map[string]any{"n": int64(3), "f": 1.5, "ok": true, "none": nil}
	if got := def.Actions[0].With["value"]; !reflect.DeepEqual(got, want) {
		t.Errorf("value = %#v, want %#v", got, want)
	}
}

func TestParseAnchorsAndMerge(t *testing.T) {
	t.Parallel()
	src := webhookFlow + `  - id: a
    type: http
    with: &call
      url: https://x.example
      headers: { Accept: application/json }
  - id: b
    type: http
    with:
      <<: *call
      url: https://y.example
`
	def, problems := Parse([]byte(src))
	if len(problems) > 0 {
		t.Fatalf("problems:\n%s", formatProblems(problems))
	}
	want := map[string]any{"url": "https://y.example", "headers": map[string]any{"Accept": "application/json"}}
	if got := def.Actions[1].With; !reflect.DeepEqual(got, want) {
		t.Errorf("with = %#v, want %#v", got, want)
	}
}

// TestExamples parses and checks every flow in examples/, and checks that
// each survives a trip through its canonical JSON.
func TestExamples(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../../examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 5 {
		t.Fatalf("found %d examples, want at least 5", len(files))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			def, problems := Parse(src)
			for _, p := range problems {
				t.Errorf("%s: %s", file, p)
			}
			if def == nil {
				return
			}
			b, err := def.Canonical()
			if err != nil {
				t.Fatal(err)
			}
			back, err := FromCanonical(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(def, back) {
				t.Errorf("canonical round trip changed the definition:\n%s", b)
			}
			again, err := back.Canonical()
			if err != nil {
				t.Fatal(err)
			}
			if string(again) != string(b) {
				t.Errorf("canonical form is not stable:\n%s\n%s", b, again)
			}
		})
	}
}

// TestParseLimits checks that a large hostile flow is answered quickly with
// a bounded list of problems.
func TestParseLimits(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString(webhookFlow)
	for i := range MaxActions + 10 {
		fmt.Fprintf(&b, "  - {id: a%d, type: compose, with: {value: '{{ steps.zz%d.output }}'}}\n", i, i)
	}
	_, problems := Parse([]byte(b.String()))
	if len(problems) != MaxProblems {
		t.Fatalf("got %d problems, want %d", len(problems), MaxProblems)
	}
	if last := problems[len(problems)-1].Message; !strings.HasSuffix(last, "more problems not shown; fix the ones above first") {
		t.Errorf("last problem = %q", last)
	}
}
