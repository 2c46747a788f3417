package notify

import (
	"fmt"
	"html"
	"strconv"
	"strings"

	"github.com/sluice/sluice/internal/store"
)

// Kinds of what an answer to a support request sends.
const (
	// NoteSupportAnswered is the Activity entry of an answer.
	NoteSupportAnswered = "support_answered"
	// MailSupportAnswer is the outbox kind of an answer's email.
	MailSupportAnswer = "support_answer"
)

// SupportAnswer composes what tells a maker that an admin answered their
// support request: the Activity entry and the email, which
// store.AnswerSupportRequest records with the answer in one transaction
// (the email then goes through the outbox like every other). baseURL
// starts the links to the request's run.
func SupportAnswer(req store.SupportRequest, answer, baseURL string) store.SupportAnswer {
	title := fmt.Sprintf("Support answered your request #%d", req.ID)
	var run int64
	link := ""
	if req.RunID != nil {
		run = *req.RunID
		link = strings.TrimSuffix(baseURL, "/") + "/runs/" + strconv.FormatInt(run, 10)
	}
	text := fmt.Sprintf("You asked (%s, %s):\n\n%s\n\nThe answer:\n\n%s\n", req.ProblemType, req.Category, quote(req.Description), answer)
	body := "<p>You asked (" + html.EscapeString(req.ProblemType+", "+req.Category) + "):</p><blockquote>" + html.EscapeString(req.Description) +
		"</blockquote><p>The answer:</p><p>" + strings.ReplaceAll(html.EscapeString(answer), "\n", "<br>") + "</p>"
	if link != "" {
		text += "\nThe run: " + link + "\n"
		body += `<p><a href="` + html.EscapeString(link) + `">The run</a></p>`
	}
	text += fmt.Sprintf("\n`sluice support show %d` shows the request.\n", req.ID)
	return store.SupportAnswer{
		Answer: answer,
		Note:   store.Notification{UserID: req.UserID, Kind: NoteSupportAnswered, Title: title, Body: answer, RunID: run},
		Mail:   store.Mail{To: []string{req.UserEmail}, Subject: title, Text: text, HTML: body, Kind: MailSupportAnswer},
	}
}

// quote prefixes every line with "> ".
func quote(s string) string {
	return "> " + strings.ReplaceAll(s, "\n", "\n> ")
}
