package api

import (
	"encoding/json"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// openAPIDoc is the part of the OpenAPI document the tests read.
type openAPIDoc struct {
	OpenAPI    string                                `json:"openapi"`
	Info       map[string]any                        `json:"info"`
	Servers    []struct{ URL string }                `json:"servers"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components map[string]map[string]json.RawMessage `json:"components"`
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

func loadOpenAPI(t *testing.T) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi = %q, want 3.x", doc.OpenAPI)
	}
	if doc.Info["title"] == nil || doc.Info["version"] == nil {
		t.Fatal("info lacks title or version")
	}
	if len(doc.Paths) == 0 {
		t.Fatal("no paths")
	}
	if len(doc.Servers) != 1 || doc.Servers[0].URL != Prefix {
		t.Fatalf("servers = %+v, want one with url %s", doc.Servers, Prefix)
	}
	return doc
}

// TestOpenAPIRoutes fails when the route table, the mux and the OpenAPI
// document do not list the same operations.
func TestOpenAPIRoutes(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)

	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for key := range item {
			if slices.Contains(httpMethods, key) {
				documented[strings.ToUpper(key)+" "+path] = true
			}
		}
	}
	served := map[string]bool{}
	for _, rt := range routes {
		served[rt.method+" "+rt.path] = true
	}
	for op := range served {
		if !documented[op] {
			t.Errorf("%s is served but not in openapi.json", op)
		}
	}
	for op := range documented {
		if !served[op] {
			t.Errorf("%s is in openapi.json but not served", op)
		}
	}

	// The mux routes each documented operation to its own pattern.
	s := newServer(Config{})
	wild := regexp.MustCompile(`\{[^}]+\}`)
	for op := range documented {
		method, path, _ := strings.Cut(op, " ")
		req := httptest.NewRequest(method, Prefix+wild.ReplaceAllString(path, "1"), nil)
		if _, pattern := s.mux.Handler(req); pattern != method+" "+Prefix+path {
			t.Errorf("%s reaches mux pattern %q", op, pattern)
		}
	}
}

// TestOpenAPIDocument checks that every $ref resolves and every path
// wildcard is declared as a parameter.
func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	refRE := regexp.MustCompile(`"\$ref":\s*"#/components/([^/]+)/([^"]+)"`)
	for _, m := range refRE.FindAllSubmatch(openAPIDocument, -1) {
		if _, ok := doc.Components[string(m[1])][string(m[2])]; !ok {
			t.Errorf("$ref %s/%s does not resolve", m[1], m[2])
		}
	}
	wild := regexp.MustCompile(`\{([^}]+)\}`)
	for path, item := range doc.Paths {
		var declared []string
		collect := func(raw json.RawMessage) {
			var params []struct {
				Ref  string `json:"$ref"`
				Name string `json:"name"`
				In   string `json:"in"`
			}
			_ = json.Unmarshal(raw, &params)
			for _, p := range params {
				if p.Ref != "" {
					var def struct {
						Name string `json:"name"`
						In   string `json:"in"`
					}
					_ = json.Unmarshal(doc.Components["parameters"][strings.TrimPrefix(p.Ref, "#/components/parameters/")], &def)
					p.Name, p.In = def.Name, def.In
				}
				if p.In == "path" {
					declared = append(declared, p.Name)
				}
			}
		}
		collect(item["parameters"])
		for key, raw := range item {
			if !slices.Contains(httpMethods, key) {
				continue
			}
			var o struct {
				Parameters json.RawMessage `json:"parameters"`
			}
			_ = json.Unmarshal(raw, &o)
			collect(o.Parameters)
		}
		for _, m := range wild.FindAllStringSubmatch(path, -1) {
			if !slices.Contains(declared, m[1]) {
				t.Errorf("%s: path parameter %q is not declared", path, m[1])
			}
		}
	}
}
