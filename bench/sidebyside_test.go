package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The Node-RED flow is one chain on one tab: http in (POST /w1) ->
// function -> http response, every wire to a node that exists.
func TestNodeREDFlows(t *testing.T) {
	data, err := nodeREDFlows()
	if err != nil {
		t.Fatal(err)
	}
	var nodes []struct {
		ID     string     `json:"id"`
		Type   string     `json:"type"`
		Z      string     `json:"z"`
		URL    string     `json:"url"`
		Method string     `json:"method"`
		Func   string     `json:"func"`
		Wires  [][]string `json:"wires"`
	}
	if err := json.Unmarshal(data, &nodes); err != nil {
		t.Fatalf("flows.json: %v\n%s", err, data)
	}
	byID := map[string]int{}
	for i, n := range nodes {
		byID[n.ID] = i
	}
	tab := nodes[0]
	if tab.Type != "tab" {
		t.Fatalf("first node is %q, want the tab", tab.Type)
	}
	var chain []string
	in := -1
	for i, n := range nodes[1:] {
		if n.Z != tab.ID {
			t.Errorf("node %s is on tab %q, want %q", n.ID, n.Z, tab.ID)
		}
		if n.Type == "http in" {
			in = i + 1
		}
	}
	if in < 0 {
		t.Fatal("no http in node")
	}
	if nodes[in].Method != "post" || nodes[in].URL != "/w1" {
		t.Errorf("http in: %s %s, want post /w1", nodes[in].Method, nodes[in].URL)
	}
	for i := in; ; {
		chain = append(chain, nodes[i].Type)
		if len(nodes[i].Wires) == 0 {
			break
		}
		if len(nodes[i].Wires) != 1 || len(nodes[i].Wires[0]) != 1 {
			t.Fatalf("node %s has wires %v, want one", nodes[i].ID, nodes[i].Wires)
		}
		next, ok := byID[nodes[i].Wires[0][0]]
		if !ok {
			t.Fatalf("node %s is wired to %s, which does not exist", nodes[i].ID, nodes[i].Wires[0][0])
		}
		i = next
	}
	if got := strings.Join(chain, " -> "); got != "http in -> function -> http response" {
		t.Fatalf("chain %s", got)
	}
	if fn := nodes[byID["w1fn"]].Func; !strings.Contains(fn, "msg.payload = { n: msg.payload.n }") || !strings.Contains(fn, "return msg") {
		t.Errorf("function body %q", fn)
	}
	if s := nodeREDSettings(41234); !strings.Contains(s, "uiPort: 41234,") || !strings.Contains(s, `flowFile: "flows.json"`) {
		t.Errorf("settings.js:\n%s", s)
	}
}

// The n8n workflow is Webhook (answered by a node) -> Set -> Respond to
// Webhook, active, with every execution saved.
func TestN8nWorkflow(t *testing.T) {
	data, err := n8nWorkflow()
	if err != nil {
		t.Fatal(err)
	}
	var wf struct {
		Active bool `json:"active"`
		Nodes  []struct {
			Name       string         `json:"name"`
			Type       string         `json:"type"`
			Parameters map[string]any `json:"parameters"`
		} `json:"nodes"`
		Connections map[string]struct {
			Main [][]struct {
				Node string `json:"node"`
			} `json:"main"`
		} `json:"connections"`
		Settings map[string]any `json:"settings"`
	}
	if err := json.Unmarshal(data, &wf); err != nil {
		t.Fatal(err)
	}
	if !wf.Active || wf.Settings["saveDataSuccessExecution"] != "all" {
		t.Errorf("active %v, settings %v", wf.Active, wf.Settings)
	}
	types := map[string]string{}
	for _, n := range wf.Nodes {
		types[n.Name] = n.Type
	}
	var chain []string
	for name := "Webhook"; ; {
		chain = append(chain, types[name])
		c, ok := wf.Connections[name]
		if !ok {
			break
		}
		if len(c.Main) != 1 || len(c.Main[0]) != 1 {
			t.Fatalf("%s connects to %+v, want one node", name, c.Main)
		}
		name = c.Main[0][0].Node
		if _, ok := types[name]; !ok {
			t.Fatalf("connection to %s, which is not a node", name)
		}
	}
	if got := strings.Join(chain, " -> "); got != "n8n-nodes-base.webhook -> n8n-nodes-base.set -> n8n-nodes-base.respondToWebhook" {
		t.Fatalf("chain %s", got)
	}
	if p := wf.Nodes[0].Parameters; p["responseMode"] != "responseNode" || p["httpMethod"] != "POST" || p["path"] != "w1" {
		t.Errorf("webhook parameters %v", p)
	}
	env := strings.Join(n8nEnv("/d", 5678, 5679), " ")
	for _, want := range []string{"N8N_USER_FOLDER=/d", "N8N_PORT=5678", "EXECUTIONS_DATA_SAVE_ON_SUCCESS=all", "EXECUTIONS_DATA_PRUNE=false"} {
		if !strings.Contains(env, want) {
			t.Errorf("n8n environment lacks %s", want)
		}
	}
}

func TestRenderSideBySide(t *testing.T) {
	var b strings.Builder
	renderSideBySide(&b, []sideRow{
		{System: "Go echo", Version: "go1.26", RunsPerSec: 22444.6, P50ms: 0.5, P99ms: 3.25, CPUmsPerRun: 0.0234, PeakRSSMiB: 14.04, Persists: "nothing"},
		{System: "n8n", Version: "2.8.4", RunsPerSec: 59.2, P50ms: 310, P99ms: 800.5, Errors: 2, BadBodies: 1, PeakRSSMiB: 400, Persists: "every execution", Failed: "saved 5 for 6"},
		{System: "Node-RED", Version: "4.1.8", Persists: "nothing", Failed: "exited | before\nit was ready"},
	})
	want := `| system   | version | runs/s                  | p50 ms | p99 ms | errors | wrong answers | server CPU ms/run | peak RSS MiB | persists                                |
|---       |---      |--:                      |--:     |--:     |--:     |--:            |--:                |--:           |---                                      |
| Go echo  | go1.26  | 22,445                  | 0.50   | 3.25   | 0      | 0             | 0.023             | 14.0         | nothing                                 |
| n8n      | 2.8.4   | 59.2                    | 310.00 | 800.50 | 2      | 1             | 0.000             | 400.0        | every execution (FAILED: saved 5 for 6) |
| Node-RED | 4.1.8   | failed: exited / before |        |        |        |               |                   |              | nothing                                 |
`
	if b.String() != want {
		t.Fatalf("table:\n%s\nwant:\n%s", b.String(), want)
	}
	for in, want := range map[float64]string{0: "0.0", 1.04: "1.0", 99.94: "99.9", 999.4: "999", 1000: "1,000", 1234567.5: "1,234,568"} {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%v) = %s, want %s", in, got, want)
		}
	}
}

// A scratch folder inside the repository is refused, one outside is
// created.
func TestScratchDir(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := scratchDir(filepath.Join(root, "bench", "npm")); err == nil || !strings.Contains(err.Error(), "inside the repository") {
		t.Fatalf("scratch inside the repository: %v", err)
	}
	out := filepath.Join(t.TempDir(), "s")
	got, err := scratchDir(out)
	if err != nil || got != out {
		t.Fatalf("scratchDir(%s) = %s, %v", out, got, err)
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "bench", "npm")); err == nil {
		t.Fatal("the refused scratch folder was created")
	}
}
