package flow

import (
	"strings"
	"testing"
)

func TestCheckConnections(t *testing.T) {
	src := `name: c
trigger: { type: manual }
actions:
  - id: a
    type: http
    connection: directry
    with: { url: "https://example.com" }
  - id: s
    type: scope
    actions:
      - id: b
        type: email
        connection: mail
        with: { to: a@example.com, subject: s, body: b }
      - id: c
        type: http
        connection: Billing
        with: { url: "https://example.com" }
`
	def, ps := Parse([]byte(src))
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	tests := []struct {
		name  string
		known []string
		want  []Problem
	}{
		{"all known", []string{"directry", "mail", "Billing"}, nil},
		{"typo and case", []string{"directory", "mail", "billing"}, []Problem{
			{Path: "actions[0].connection", Line: 6, Column: 17, Message: `no connection named "directry" (did you mean "directory"?); your connections are directory, mail or billing`},
			{Path: "actions[1].actions[1].connection", Line: 17, Column: 21, Message: `no connection named "Billing" (did you mean "billing"?)`},
		}},
		{"none", nil, []Problem{
			{Path: "actions[0].connection", Line: 6, Message: "you have no connections yet"},
			{Path: "actions[1].actions[0].connection", Line: 13, Message: "you have no connections yet"},
			{Path: "actions[1].actions[1].connection", Line: 17, Message: "you have no connections yet"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := def.CheckConnections([]byte(src), tt.known)
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %d problems", got, len(tt.want))
			}
			for i, w := range tt.want {
				g := got[i]
				if g.Path != w.Path || g.Line != w.Line || (w.Column != 0 && g.Column != w.Column) || !strings.Contains(g.Message, w.Message) {
					t.Errorf("problem %d: %+v, want %+v", i, g, w)
				}
			}
		})
	}
}
