package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sluice/sluice/internal/diagnose"
)

// diagnoseOptions are the options of `sluice diagnose`, which explains a
// failure offline, without a server.
type diagnoseOptions struct {
	// Status is the HTTP status code, as given (validated to 100-599).
	Status string
	// Headers are "Name: value" pairs.
	Headers []string
	// Body is the response body; BodyFile reads it from a file ("-": stdin).
	Body     string
	BodyFile string
	// URL is the request URL, which selects provider-specific entries.
	URL string
	// Kind is the engine's kind of failure; defaults to http.
	Kind string
	// Message is the engine's error message, for network and flow failures.
	Message string
	// Connection, Step and Field name what tips should mention.
	Connection, Step, Field string
	// Catalog is an admin catalog file loaded in front of the built-in one.
	Catalog string
	// JSON prints the diagnosis as JSON.
	JSON bool

	bodySet   bool
	status    int
	headerMap map[string]string
}

var diagnoseKinds = []string{
	diagnose.KindHTTP, diagnose.KindNetwork, diagnose.KindTimeout, diagnose.KindExpression,
	diagnose.KindConfig, diagnose.KindPayload, diagnose.KindFlow, diagnose.KindTerminate,
}

func (o *diagnoseOptions) validate() error {
	if o.Kind != "" && !slices.Contains(diagnoseKinds, o.Kind) {
		return fmt.Errorf("--kind %q is not one of %s", o.Kind, strings.Join(diagnoseKinds, ", "))
	}
	switch {
	case o.Status != "":
		n, err := strconv.Atoi(strings.TrimSpace(o.Status))
		if err != nil || n < 100 || n > 599 {
			return fmt.Errorf("--status %q is not an HTTP status code (a number from 100 to 599)", o.Status)
		}
		o.status = n
	case o.Kind == "" || o.Kind == diagnose.KindHTTP:
		return errors.New("diagnose needs --status CODE (or --kind with --message for a failure without an answer)")
	}
	if o.bodySet && o.BodyFile != "" {
		return errors.New("give --body or --body-file, not both")
	}
	o.headerMap = map[string]string{}
	for _, h := range o.Headers {
		name, value, ok := strings.Cut(h, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return fmt.Errorf("--header %q must look like 'Name: value'", h)
		}
		o.headerMap[name] = strings.TrimSpace(value)
	}
	if o.URL != "" {
		u, err := url.Parse(o.URL)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return fmt.Errorf("--url %q must be an http or https URL such as https://api.github.com/user", o.URL)
		}
	}
	return nil
}

func (a *app) diagnoseCommand() *cobra.Command {
	var o diagnoseOptions
	cmd := &cobra.Command{
		Use:   "diagnose --status CODE [--header 'Name: value']... [--body TEXT | --body-file FILE]",
		Short: "Explain a failed HTTP call or step offline, without a server",
		Long: `Diagnose prints what a failure means and how to fix it, from the status
code, headers and body of the answer (and the request URL, which tells the
API apart). It works offline with the catalog built into sluice, plus the
entries of --catalog FILE.`,
		Example: `  sluice diagnose --status 403 --url https://api.github.com/repos/o/r/issues \
    --header 'X-RateLimit-Remaining: 0' --body '{"message":"API rate limit exceeded"}'
  sluice diagnose --status 200 --body '{"ok":false,"error":"invalid_auth"}' --json`,
		Args: argsRange(0, 0, "no arguments (give the answer with flags)"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.bodySet = cmd.Flags().Changed("body")
			return runValidated(cmd.Context(), &o, a.diagnose)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Status, "status", "", "HTTP status code of the answer (100-599)")
	f.StringArrayVar(&o.Headers, "header", nil, "answer header as 'Name: value' (repeatable)")
	f.StringVar(&o.Body, "body", "", "answer body (JSON, XML, HTML or text)")
	f.StringVar(&o.BodyFile, "body-file", "", "read the answer body from FILE (- for stdin)")
	f.StringVar(&o.URL, "url", "", "request URL, to recognize the API")
	f.StringVar(&o.Kind, "kind", "", "kind of failure: "+strings.Join(diagnoseKinds, ", ")+" (default http)")
	f.StringVar(&o.Message, "message", "", "the step's error message, for failures without an answer")
	f.StringVar(&o.Connection, "connection", "", "name of the step's connection, for the tips")
	f.StringVar(&o.Step, "step", "", "id of the failed step, for the tips")
	f.StringVar(&o.Field, "field", "", "field of the step involved, such as with.url, for the tips")
	f.StringVar(&o.Catalog, "catalog", "", "extra catalog file (JSON) whose entries win over the built-in ones")
	f.BoolVar(&o.JSON, "json", false, "print the diagnosis as JSON")
	return cmd
}

func (a *app) diagnose(_ context.Context, o *diagnoseOptions) error {
	c := diagnose.Default()
	if o.Catalog != "" {
		if err := c.LoadFile(o.Catalog); err != nil {
			return &usageError{err: err}
		}
	}
	body := o.Body
	if o.BodyFile != "" {
		var b []byte
		var err error
		if o.BodyFile == "-" {
			b, err = io.ReadAll(a.stdin)
		} else {
			b, err = os.ReadFile(o.BodyFile)
		}
		if err != nil {
			return &usageError{err: fmt.Errorf("reading --body-file: %w", err)}
		}
		body = string(b)
	}
	u := o.URL
	if parsed, err := url.Parse(u); err == nil && u != "" {
		parsed.RawQuery, parsed.Fragment, parsed.User = "", "", nil
		u = parsed.String()
	}
	d := c.Diagnose(diagnose.Input{
		Kind:       o.Kind,
		Status:     o.status,
		Headers:    o.headerMap,
		RawBody:    body,
		Message:    o.Message,
		URL:        u,
		Connection: o.Connection,
		Step:       o.Step,
		Field:      o.Field,
	})
	if o.JSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(d)
	}
	w := a.stdout
	fmt.Fprintf(w, "Class:         %s\n", d.Class)
	fmt.Fprintf(w, "Code:          %s\n", d.Code)
	fmt.Fprintf(w, "Title:         %s\n", d.Title)
	fmt.Fprintf(w, "Retryable:     %s\n", yesNo(d.Retryable))
	if d.RetryAfter > 0 {
		fmt.Fprintf(w, "Retry after:   %s\n", d.RetryAfter)
	}
	fmt.Fprintf(w, "Actions:       %s\n", strings.Join(d.Actions, ", "))
	fmt.Fprintf(w, "\nWhat happened:\n  %s\n", d.WhatHappened)
	fmt.Fprintf(w, "\nHow do I fix it:\n  %s\n", d.HowToFix)
	return nil
}
