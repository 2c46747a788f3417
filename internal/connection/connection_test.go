package connection

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluice/sluice/internal/secret"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		want string
	}{
		{"bearer ok", Spec{Type: TypeBearer, Secret: Secret{Token: "t"}}, ""},
		{"bearer without token", Spec{Type: TypeBearer}, "needs token"},
		{"basic without both", Spec{Type: TypeBasic}, "needs username and password"},
		{"api key in body", Spec{Type: TypeAPIKey, Config: Config{KeyIn: "body"}, Secret: Secret{Key: "k"}}, "header or query"},
		{"oauth2 bad url", Spec{Type: TypeOAuth2, Config: Config{TokenURL: "ftp://x", ClientID: "c"}, Secret: Secret{ClientSecret: "s"}}, "http or https"},
		{"smtp user without password", Spec{Type: TypeSMTP, Config: Config{Host: "h", Username: "u"}}, "needs password"},
		{"unknown type", Spec{Type: "kerberos"}, `type "kerberos" is not one of`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.spec.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestSealOpen(t *testing.T) {
	box, err := secret.NewBox(bytes.Repeat([]byte{1}, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := Seal(box, Secret{Password: "hunter22"})
	if err != nil || bytes.Contains(sealed, []byte("hunter22")) {
		t.Fatalf("seal: %v", err)
	}
	spec, err := Open(box, TypeBasic, []byte(`{"username": "ada"}`), sealed)
	if err != nil || spec.Secret.Password != "hunter22" || spec.Config.Username != "ada" {
		t.Fatalf("open: %+v %v", spec, err)
	}
	if got := spec.Values(); len(got) != 2 || got[1] != "ada:hunter22" {
		t.Errorf("Values() = %q", got)
	}
}

func TestApply(t *testing.T) {
	var issued atomic.Int32
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, sec, _ := r.BasicAuth()
		if r.FormValue("grant_type") != "client_credentials" || id != "client" || sec != "s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error": "invalid_client", "error_description": "bad client"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token": "at-%d", "expires_in": 3600}`, issued.Add(1))
	}))
	defer tokens.Close()
	a := &Authorizer{Client: tokens.Client()}
	oauth := Spec{Type: TypeOAuth2, Config: Config{TokenURL: tokens.URL, ClientID: "client", Scopes: []string{"read"}}, Secret: Secret{ClientSecret: "s3cret"}}
	tests := []struct {
		name   string
		spec   Spec
		header string
		value  string
		query  string
	}{
		{"bearer", Spec{Type: TypeBearer, Secret: Secret{Token: "tok"}}, "Authorization", "Bearer tok", ""},
		{"basic", Spec{Type: TypeBasic, Config: Config{Username: "u"}, Secret: Secret{Password: "p"}}, "Authorization", "Basic dTpw", ""},
		{"api key header", Spec{Type: TypeAPIKey, Config: Config{KeyName: "X-Key"}, Secret: Secret{Key: "k"}}, "X-Key", "k", ""},
		{"api key query", Spec{Type: TypeAPIKey, Config: Config{KeyName: "key", KeyIn: "query"}, Secret: Secret{Key: "k"}}, "", "", "key=k"},
		{"oauth2 fetches a token", oauth, "Authorization", "Bearer at-1", ""},
		{"oauth2 reuses the cached token", oauth, "Authorization", "Bearer at-1", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "https://api.example.com/x", nil)
			var redact secret.Redactor
			if err := a.Apply(context.Background(), tc.spec, req, &redact); err != nil {
				t.Fatal(err)
			}
			// Whatever the connection put in the request is redacted.
			for _, v := range append(slices.Collect(maps.Values(req.Header)), req.URL.Query()[tc.spec.Config.KeyName]) {
				for _, h := range v {
					if h != "Sluice" && redact.String(h) == h && len(h) >= 4 {
						t.Errorf("Apply did not register %q", h)
					}
				}
			}
			if tc.header != "" && req.Header.Get(tc.header) != tc.value {
				t.Errorf("%s = %q, want %q", tc.header, req.Header.Get(tc.header), tc.value)
			}
			if req.URL.RawQuery != tc.query {
				t.Errorf("query = %q, want %q", req.URL.RawQuery, tc.query)
			}
		})
	}
	a.Forget(oauth)
	req, _ := http.NewRequest("GET", "https://api.example.com/x", nil)
	var redact secret.Redactor
	if err := a.Apply(context.Background(), oauth, req, &redact); err != nil || req.Header.Get("Authorization") != "Bearer at-2" {
		t.Errorf("after Forget: %q %v", req.Header.Get("Authorization"), err)
	}
	bad := oauth
	bad.Secret.ClientSecret = "wrong"
	err := a.Apply(context.Background(), bad, req, &redact)
	if err == nil || !strings.Contains(err.Error(), "invalid_client: bad client") || strings.Contains(err.Error(), "wrong") {
		t.Errorf("bad client: %v", err)
	}
}

// TestApplyRegistersRuntimeSecrets checks that the tokens a connection
// obtains at run time reach the redactor Apply is given: the access token
// alone (as an API would echo it), the refresh and ID tokens, tokens in a
// refused answer, and a token served from the cache to a second run.
func TestApplyRegistersRuntimeSecrets(t *testing.T) {
	const access, refresh, id = "AT-CANARY-5b7c9d1e", "RT-CANARY-2a4c6e8f", "ID-CANARY-0f9e8d7c"
	var refuse atomic.Bool
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if refuse.Load() {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"error": "invalid_scope", "error_description": "scope refused for %s", "access_token": "%s"}`, access, access)
			return
		}
		fmt.Fprintf(w, `{"access_token": %q, "refresh_token": %q, "id_token": %q, "expires_in": 3600}`, access, refresh, id)
	}))
	defer tokens.Close()
	a := &Authorizer{Client: tokens.Client()}
	oauth := Spec{Type: TypeOAuth2, Config: Config{TokenURL: tokens.URL, ClientID: "client"}, Secret: Secret{ClientSecret: "cs-CANARY-1234"}}
	leaks := func(r *secret.Redactor, values ...string) {
		t.Helper()
		for _, v := range values {
			text := "the API said: " + v + "."
			if got := r.String(text); strings.Contains(got, v) {
				t.Errorf("%q is not redacted: %q", v, got)
			}
		}
	}
	for _, run := range []string{"fetched", "cached"} {
		var redact secret.Redactor
		req, _ := http.NewRequest("GET", "https://api.example.com/x", nil)
		if err := a.Apply(context.Background(), oauth, req, &redact); err != nil {
			t.Fatalf("%s: %v", run, err)
		}
		leaks(&redact, access, "cs-CANARY-1234")
		if run == "fetched" {
			leaks(&redact, refresh, id)
		}
	}
	a.Forget(oauth)
	refuse.Store(true)
	var redact secret.Redactor
	req, _ := http.NewRequest("GET", "https://api.example.com/x", nil)
	err := a.Apply(context.Background(), oauth, req, &redact)
	if err == nil {
		t.Fatal("a refused token request was applied")
	}
	if got := redact.String(err.Error()); strings.Contains(got, access) {
		t.Errorf("the error of a refused token request shows the token after redaction: %q", got)
	}
	if err := a.Apply(context.Background(), oauth, req, nil); err == nil {
		t.Error("Apply without a redactor succeeded")
	}
}
