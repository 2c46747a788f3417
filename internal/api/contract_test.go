package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// This file is the API tests' one way to reach a handler: exchange. Every
// request a test sends under Prefix, and every answer it gets, is checked
// against the OpenAPI document the API serves (GET /api/v1/openapi.json)
// with kin-openapi's validator, so that the document and the server cannot
// drift apart unnoticed. TestTestsUseExchange fails when a test calls
// ServeHTTP itself.

// contract is the served OpenAPI document, loaded and validated once.
type contract struct {
	doc    *openapi3.T
	router routers.Router
	// errorSchema is the schema of every error answer.
	errorSchema *openapi3.Schema
}

// loadContract fetches the document the way a client does and checks it
// is a valid OpenAPI document.
var loadContract = sync.OnceValues(func() (*contract, error) {
	rec := httptest.NewRecorder()
	New(Config{}).ServeHTTP(rec, httptest.NewRequest("GET", Prefix+"/openapi.json", nil))
	if rec.Code != http.StatusOK {
		return nil, fmt.Errorf("GET %s/openapi.json: status %d", Prefix, rec.Code)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(rec.Body.Bytes())
	if err != nil {
		return nil, fmt.Errorf("load openapi.json: %w", err)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		return nil, fmt.Errorf("openapi.json is not a valid OpenAPI document: %w", err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route openapi.json: %w", err)
	}
	errRef := doc.Components.Schemas["Error"]
	if errRef == nil || errRef.Value == nil {
		return nil, errors.New("openapi.json has no Error schema")
	}
	return &contract{doc: doc, router: router, errorSchema: errRef.Value}, nil
})

// maxCapture is how much of a request body exchange keeps to validate; a
// larger body (the tests of the body cap) is not validated, its answer is.
const maxCapture = 1 << 20

// capture is a request body that keeps what the handler reads of it.
type capture struct {
	r    io.ReadCloser
	buf  bytes.Buffer
	over bool
	eof  bool
}

func (c *capture) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if !c.over {
		if c.buf.Len()+n > maxCapture {
			c.over = true
			c.buf = bytes.Buffer{}
		} else {
			c.buf.Write(p[:n])
		}
	}
	if err == io.EOF {
		c.eof = true
	}
	return n, err
}

func (c *capture) Close() error { return c.r.Close() }

// exchange serves req with h and returns the answer. A request under
// Prefix is held to the served OpenAPI document: the answer's status,
// headers and body must be what the document says for the operation; a
// request the document refuses must not succeed; a request to a path or
// method the document does not have must answer a JSON 404 or 405 (with
// Allow). Any drift fails the test.
func exchange(t *testing.T, h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	if req.Body == nil {
		req.Body = http.NoBody
	}
	body := &capture{r: req.Body}
	req.Body = body
	checked := req.Clone(req.Context())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if !strings.HasPrefix(req.URL.Path, Prefix+"/") {
		return rec // a webhook: its body and answer are the flow's
	}
	// What the handler left unread of a body of known, small length is
	// part of the request all the same.
	if !body.eof && !body.over && req.ContentLength >= 0 && req.ContentLength <= maxCapture {
		_, _ = io.Copy(io.Discard, io.LimitReader(body, maxCapture+1))
	}
	c, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.check(checked, body, rec); err != nil {
		t.Errorf("%s %s drifts from openapi.json: %v", req.Method, req.URL.RequestURI(), err)
	}
	return rec
}

// check holds one exchange to the document.
func (c *contract) check(req *http.Request, body *capture, rec *httptest.ResponseRecorder) error {
	ctx := context.Background()
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		want := http.StatusNotFound
		if c.pathExists(req) {
			want = http.StatusMethodNotAllowed
			if rec.Header().Get("Allow") == "" {
				return errors.New("405 without an Allow header")
			}
		}
		if rec.Code != want {
			return fmt.Errorf("not an operation of the document (%v), but answered %d, not %d", err, rec.Code, want)
		}
		var v any
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			return fmt.Errorf("answer is not JSON: %w", err)
		}
		if err := c.errorSchema.VisitJSON(v); err != nil {
			return fmt.Errorf("answer %d is not an Error: %w", rec.Code, err)
		}
		return nil
	}
	complete := body.eof && !body.over
	if complete {
		req.Body = io.NopCloser(bytes.NewReader(body.buf.Bytes()))
	} else {
		req.Body = http.NoBody
	}
	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{
			ExcludeRequestBody:  !complete,
			AuthenticationFunc:  bearerPresent,
			SkipSettingDefaults: true,
		},
	}
	reqErr := openapi3filter.ValidateRequest(ctx, in)
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 rec.Code,
		Header:                 rec.Header(),
		Body:                   io.NopCloser(bytes.NewReader(rec.Body.Bytes())),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return fmt.Errorf("answer %d does not match the document: %w", rec.Code, err)
	}
	if reqErr != nil && rec.Code < 400 {
		return fmt.Errorf("the document refuses the request (%v), but the server answered %d", reqErr, rec.Code)
	}
	return nil
}

// pathExists reports whether the document has req's path for another
// method.
func (c *contract) pathExists(req *http.Request) bool {
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		probe := req.Clone(req.Context())
		probe.Method = m
		if _, _, err := c.router.FindRoute(probe); err == nil {
			return true
		}
	}
	return false
}

// bearerPresent is the validator's check of the bearerAuth scheme: the
// request carries a bearer token (whether it is valid is the server's to
// say, with a documented 401).
func bearerPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	scheme, tok, ok := strings.Cut(in.RequestValidationInput.Request.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return errors.New("no bearer token")
	}
	return nil
}

// allowedToServe reports whether decl is exchange or loadContract, the
// only code of the tests that serves a request itself.
func allowedToServe(decl ast.Decl) bool {
	switch d := decl.(type) {
	case *ast.FuncDecl:
		return d.Recv == nil && d.Name.Name == "exchange"
	case *ast.GenDecl:
		for _, spec := range d.Specs {
			if v, ok := spec.(*ast.ValueSpec); ok && len(v.Names) == 1 && v.Names[0].Name == "loadContract" {
				return true
			}
		}
	}
	return false
}

// TestTestsUseExchange fails when a test of this package serves a request
// other than through exchange, which would send it past the document.
func TestTestsUseExchange(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			if allowedToServe(decl) {
				continue // the one place allowed
			}
			ast.Inspect(decl, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if ok && (sel.Sel.Name == "ServeHTTP" || sel.Sel.Name == "NewRecorder") {
					t.Errorf("%s: %s outside exchange: send requests with exchange (or bundle.do), which checks them against openapi.json",
						fset.Position(sel.Pos()), sel.Sel.Name)
				}
				return true
			})
		}
	}
	if len(files) < 5 {
		t.Fatalf("found only %v", files)
	}
}
