// Package mail sends email for flows (the email action) and for the server
// itself (repair-tip emails). Callers depend on the small Sender interface;
// SMTPSender is the implementation that talks to a real SMTP server, and
// package mailtest provides an in-process SMTP server to test against.
package mail

import (
	"context"
	"errors"
	"fmt"
	netmail "net/mail"
	"strings"
)

// Message is one email to send. From, when empty, is taken from the
// sender's configuration. Text and HTML may both be set, in which case the
// message is multipart/alternative and mail clients pick the one they show.
type Message struct {
	From    string
	To      []string
	Cc      []string
	Bcc     []string
	ReplyTo string
	Subject string
	Text    string
	HTML    string
	// Headers are extra header fields such as "X-Sluice-Run". Fields that
	// Message has a field for (From, To, Subject, ...) and MIME structure
	// fields are refused; "Message-ID" may be set to choose the id, so that
	// a resent message keeps the id of the first attempt.
	Headers map[string]string
}

// Sender sends email. Send returns the Message-ID of the sent message,
// which lets an outbox or a run step record exactly what went out.
type Sender interface {
	Send(ctx context.Context, m Message) (messageID string, err error)
}

// Errors a Send may wrap; test them with errors.Is to tell apart what the
// person who owns the flow must fix.
var (
	// ErrInvalidMessage means the message itself is wrong: a malformed
	// address, no recipient, a forbidden header. Retrying will not help.
	ErrInvalidMessage = errors.New("invalid message")
	// ErrInvalidConfig means the SMTP configuration is incomplete or wrong.
	ErrInvalidConfig = errors.New("invalid SMTP configuration")
	// ErrAuthFailed means the SMTP server refused the username or password.
	ErrAuthFailed = errors.New("SMTP authentication failed")
)

// reservedHeaders are set from Message fields or by the MIME writer.
var reservedHeaders = map[string]string{
	"From": "From", "To": "To", "Cc": "Cc", "Bcc": "Bcc", "Reply-To": "ReplyTo",
	"Subject": "Subject", "Date": "", "Mime-Version": "", "Content-Type": "",
	"Content-Transfer-Encoding": "", "Sender": "From", "Return-Path": "",
}

// parseAddress checks one address and names the field and value when it is
// malformed, e.g. `invalid To address "bob": missing '@'`.
func parseAddress(field, s string) (*netmail.Address, error) {
	a, err := netmail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %s address %q: %s", ErrInvalidMessage, field, s, strings.TrimPrefix(err.Error(), "mail: "))
	}
	return a, nil
}

func parseAddresses(field string, list []string) ([]*netmail.Address, error) {
	out := make([]*netmail.Address, 0, len(list))
	for _, s := range list {
		a, err := parseAddress(field, s)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// checkHeader refuses header names that are not RFC 5322 field names and
// values that could inject further header lines.
func checkHeader(name, value string) error {
	if name == "" {
		return fmt.Errorf("%w: empty header name", ErrInvalidMessage)
	}
	for _, r := range name {
		if r <= ' ' || r > '~' || r == ':' {
			return fmt.Errorf("%w: header name %q has a character not allowed in a header name", ErrInvalidMessage, name)
		}
	}
	if strings.ContainsAny(value, "\r\n") {
		return fmt.Errorf("%w: header %s contains a line break", ErrInvalidMessage, name)
	}
	return nil
}
