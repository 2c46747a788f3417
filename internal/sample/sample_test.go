package sample_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sluice/sluice/internal/flow"
	"github.com/sluice/sluice/internal/sample"
)

// refuser stands for the network guard: every request it gets fails.
type refuser struct{ got []string }

func (r *refuser) RoundTrip(req *http.Request) (*http.Response, error) {
	r.got = append(r.got, req.URL.String())
	return nil, io.ErrUnexpectedEOF
}

func get(t *testing.T, c *http.Client, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestSampleEndpoints(t *testing.T) {
	next := &refuser{}
	c := &http.Client{Transport: sample.New().Transport("http://localhost:8080/", next)}
	base := "http://localhost:8080/sample"
	for _, tc := range []struct {
		path, token string
		want        int
		body        string
	}{
		{"/staff/ada/manager", "", 200, "Grace Hopper"},
		{"/staff/grace/manager", "", 404, "has no manager"},
		{"/staff/nobody", "", 404, "no person"},
		{"/payroll", "", 401, "bearer token"},
		{"/payroll", sample.WrongToken, 401, "bearer token"},
		{"/payroll", sample.Token, 200, "total"},
		{"/flaky", "", 502, "upstream"},
		{"/flaky", "", 200, "ok"},
		{"/flaky", "", 502, "upstream"},
		{"/nothing", "", 404, "no such sample endpoint"},
	} {
		status, body := get(t, c, base+tc.path, tc.token)
		if status != tc.want || !strings.Contains(body, tc.body) {
			t.Errorf("GET %s: %d %q, want %d with %q", tc.path, status, body, tc.want, tc.body)
		}
	}
	if len(next.got) != 0 {
		t.Fatalf("sample requests went to the network: %v", next.got)
	}
}

// TestTransportDivertsOnlyTheSampleService: another host, scheme or
// port, another path of the server, and a path that climbs out of
// /sample/ are not served in process; a climbing path that stays on the
// sample base is served by the sample service only (a 404), never by the
// server's other routes.
func TestTransportDivertsOnlyTheSampleService(t *testing.T) {
	next := &refuser{}
	c := &http.Client{Transport: sample.New().Transport("http://localhost:8080", next)}
	for _, u := range []string{
		"http://localhost:8081/sample/flaky",
		"https://localhost:8080/sample/flaky",
		"http://127.0.0.1:8080/sample/flaky",
		"http://localhost:8080/api/v1/flows",
		"http://localhost:8080/samples/flaky",
		"http://localhost:8080/sample",
		"http://localhost:8080/sample/../api/v1/flows",
		"https://samples.sluice.invalid/sample/flaky",
		"http://samples.sluice.invalid:8080/sample/flaky",
		"http://samples.sluice.invalid/api/v1/flows",
	} {
		if status, _ := get(t, c, u, ""); status != 0 {
			t.Errorf("GET %s answered %d in process, want it passed on", u, status)
		}
	}
	if len(next.got) != 10 {
		t.Fatalf("passed on %d requests, want 10: %v", len(next.got), next.got)
	}
	// The fixed origin and the base are both served in process.
	for _, u := range []string{sample.Origin + "/sample/staff/ada", "http://LOCALHOST:8080/sample/staff/ada"} {
		if status, body := get(t, c, u, ""); status != 200 || !strings.Contains(body, "Ada Lovelace") {
			t.Errorf("GET %s: %d %q, want the sample's answer", u, status, body)
		}
	}
	if status, body := get(t, c, "http://localhost:8080/sample/staff/../payroll/../../sample/x", ""); status != 404 || !strings.Contains(body, "no such sample") {
		t.Fatalf("a climbing path inside /sample/: %d %q", status, body)
	}
}

func TestFlowsAreValidAndMarked(t *testing.T) {
	flows := sample.Flows()
	if len(flows) != 3 {
		t.Fatalf("%d sample flows, want 3", len(flows))
	}
	for _, src := range flows {
		def, problems := flow.Parse([]byte(src))
		if len(problems) > 0 {
			t.Fatalf("sample flow problems: %v\n%s", problems, src)
		}
		if !strings.HasPrefix(def.Name, "Sample: ") || !strings.Contains(src, sample.Origin+"/sample/") {
			t.Fatalf("sample flow not marked or not on the sample origin:\n%s", src)
		}
	}
}
