package store

import (
	"context"
	"time"
)

// HelpDoc is one searchable text of the help center: an article or a
// diagnosis catalog entry. The help package prepares its texts (words
// split, variants spelled one way, stop words dropped) so that both
// drivers index the same words; the driver stems and ranks them.
type HelpDoc struct {
	// Key names the document, such as "article:retries" or
	// "diagnosis:slack.invalid_auth".
	Key string
	// Title is ranked above Terms, and Terms above Body.
	Title, Terms, Body string
}

// HelpHit is a document that matched a search, with its relevance: the
// higher Score, the better the match.
type HelpHit struct {
	Key   string
	Score float64
}

// Support request statuses.
const (
	SupportOpen     = "open"
	SupportAnswered = "answered"
	SupportClosed   = "closed"
)

// SupportRequest is a maker's request for help, with the run it is
// about.
type SupportRequest struct {
	ID     int64 `json:"id"`
	UserID int64 `json:"user_id"`
	// UserEmail is the asker's email, read with the request.
	UserEmail   string `json:"user_email"`
	ProblemType string `json:"problem_type"`
	Category    string `json:"category"`
	Description string `json:"description"`
	// RunID is the attached run; nil when none was attached or the run
	// was deleted since.
	RunID *int64 `json:"run_id"`
	// Status is open, answered or closed.
	Status string `json:"status"`
	// Answer is an admin's latest answer, empty until answered.
	Answer     string     `json:"answer"`
	AnsweredBy *int64     `json:"answered_by"`
	AnsweredAt *time.Time `json:"answered_at"`
	ClosedAt   *time.Time `json:"closed_at"`
	CreatedAt  time.Time  `json:"created_at"`
}

// SupportFilter narrows ListSupportRequests. Zero fields do not filter.
type SupportFilter struct {
	UserID int64
	Status string
	// BeforeID keeps requests with a smaller id, for paging.
	BeforeID int64
	// Limit caps the result. Defaults to 50.
	Limit int
}

// SupportAnswer is what AnswerSupportRequest records and sends.
type SupportAnswer struct {
	Answer string
	By     int64
	At     time.Time
	// Note goes to the asker's Activity feed and Mail to the outbox, in
	// the same transaction as the answer, so that an answer is never
	// recorded without the asker being told.
	Note Notification
	Mail Mail
}

// HelpStore keeps the help center's search index and its support
// requests.
type HelpStore interface {
	// ReplaceHelpIndex replaces every document of the help index with
	// docs, in one transaction.
	ReplaceHelpIndex(ctx context.Context, docs []HelpDoc) error
	// SearchHelp returns up to limit documents that hold at least one of
	// terms (words of lower-case letters and digits; others are ignored),
	// stemmed, best first: ranked by bm25 on SQLite and ts_rank on
	// PostgreSQL, a match in the title counting most.
	SearchHelp(ctx context.Context, terms []string, limit int) ([]HelpHit, error)

	// CreateSupportRequest records a new open request.
	CreateSupportRequest(ctx context.Context, r SupportRequest) (SupportRequest, error)
	// GetSupportRequest returns a request.
	GetSupportRequest(ctx context.Context, id int64) (SupportRequest, error)
	// ListSupportRequests returns requests, newest first.
	ListSupportRequests(ctx context.Context, f SupportFilter) ([]SupportRequest, error)
	// AnswerSupportRequest records an answer (replacing an earlier one),
	// marks the request answered, and adds a.Note and a.Mail, in one
	// transaction. ErrConflict if the request is closed.
	AnswerSupportRequest(ctx context.Context, id int64, a SupportAnswer) (SupportRequest, error)
	// CloseSupportRequest closes a request; closing a closed request
	// keeps its first time.
	CloseSupportRequest(ctx context.Context, id int64, at time.Time) (SupportRequest, error)
}

// MaxHelpWords caps the words of one search, so that a long question
// cannot make a query of thousands of alternatives.
const MaxHelpWords = 64

// HelpQuery returns what a driver's SearchHelp searches for: HelpWords
// of terms, and the limit, 20 when it is not positive.
func HelpQuery(terms []string, limit int) ([]string, int) {
	if limit <= 0 {
		limit = 20
	}
	return HelpWords(terms), limit
}

// HelpWords returns the terms a driver searches for: those made only of
// lower-case ASCII letters and digits, once each, at most MaxHelpWords.
// Drivers quote nothing else, so that no term is read as query syntax.
func HelpWords(terms []string) []string {
	seen := make(map[string]bool, len(terms))
	var out []string
	for _, t := range terms {
		if t == "" || seen[t] || len(out) == MaxHelpWords {
			continue
		}
		ok := true
		for i := 0; i < len(t); i++ {
			if c := t[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
				ok = false
				break
			}
		}
		if ok {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// SupportLimit returns the number of support requests a list returns
// for a filter's Limit: 50 when it is not positive.
func SupportLimit(limit int) int {
	if limit <= 0 {
		return 50
	}
	return limit
}
