package notify

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/sluice/sluice/internal/store"
)

//go:embed templates
var templateFS embed.FS

// The email templates, parsed once; they are embedded, so a parse error is
// a bug that every test run catches.
var (
	htmlTemplates = htmltemplate.Must(htmltemplate.ParseFS(templateFS, "templates/*.html"))
	textTemplates = texttemplate.Must(texttemplate.ParseFS(templateFS, "templates/*.txt"))
)

// repairView is what a repair-tip email or digest shows.
type repairView struct {
	Subject, Name, Intro string
	Problems             []problemView
	FlowCommands         []string
	UserCommand          string
	LinksExpire, BaseURL string
}

// problemView is one flow's problem in a repair-tip email: the four
// sections and the links.
type problemView struct {
	Flow, Step, Connection, Title, Code string
	// Time is when the problem first failed, in UTC, RFC 1123.
	Time                   string
	WhatHappened, HowToFix string
	CountText              string
	RunID                  int64
	RunGone                bool
	RetryURL, FixURL       string
	// LearnURL is the help article that explains the failure.
	LearnURL string
	// Consequences is the sentence naming the steps of the latest run
	// that failed as a consequence of this one, or "".
	Consequences string
}

// noticeView is what a one-off notice (broken connection, flow turned
// off) shows.
type noticeView struct {
	Subject, Name, Heading string
	Paragraphs, Commands   []string
	LinkURL, LinkText      string
	BaseURL                string
}

// render fills the HTML and text templates of the same name.
func render(name string, view any) (html, text string, err error) {
	var hb, tb bytes.Buffer
	if err := htmlTemplates.ExecuteTemplate(&hb, name+".html", view); err != nil {
		return "", "", fmt.Errorf("render %s email: %w", name, err)
	}
	if err := textTemplates.ExecuteTemplate(&tb, name+".txt", view); err != nil {
		return "", "", fmt.Errorf("render %s email: %w", name, err)
	}
	return hb.String(), tb.String(), nil
}

func displayName(u store.User) string {
	if u.Name != "" {
		return u.Name
	}
	return u.Email
}

// countText says how many times a problem failed since it first did.
func countText(n int, since string) string {
	if n == 1 {
		return "It failed 1 time since " + since + "."
	}
	return fmt.Sprintf("It failed %d times since %s.", n, since)
}

// repairMail composes a repair-tip email (one problem) or a digest.
func (n *Notifier) repairMail(owner store.User, problems []problem, kind string, now time.Time) (store.Mail, error) {
	v := repairView{
		Name: displayName(owner), BaseURL: n.cfg.BaseURL,
		UserCommand: UserRepairOffCommand,
		LinksExpire: now.Add(n.cfg.LinkTTL).UTC().Format(time.RFC1123),
	}
	seenFlow := map[int64]bool{}
	total := 0
	for _, p := range problems {
		since := p.alert.FirstFailedAt.UTC().Format(time.RFC1123)
		pv := problemView{
			Flow: p.flow.Name, Step: p.fail.Step, Connection: p.fail.Connection, Title: p.fail.Title, Code: p.fail.Code,
			Time: since, WhatHappened: p.fail.WhatHappened, HowToFix: p.fail.HowToFix,
			CountText: countText(p.alert.Pending, since), RunID: p.alert.LatestRunID, RunGone: p.runGone,
			Consequences: strings.TrimSpace(consequences(p.after)),
		}
		if p.fail.Article != "" {
			pv.LearnURL = strings.TrimSuffix(n.cfg.BaseURL, "/") + "/help/" + p.fail.Article
		}
		if !p.runGone {
			pv.RetryURL = n.link(PurposeRetry, p.alert.LatestRunID, owner.ID, now)
			pv.FixURL = n.link(PurposeFix, p.alert.LatestRunID, owner.ID, now)
		}
		v.Problems = append(v.Problems, pv)
		if !seenFlow[p.flow.ID] {
			seenFlow[p.flow.ID] = true
			v.FlowCommands = append(v.FlowCommands, FlowRepairOffCommand(p.flow.Name))
		}
		total += p.alert.Pending
	}
	if kind == MailRepairDigest {
		v.Subject = fmt.Sprintf("Sluice digest: %d problem%s in your flows (%d failure%s)", len(problems), plural(len(problems)), total, plural(total))
		v.Intro = "These flows failed since your last digest. Each problem says what happened and how to fix it."
	} else {
		p := problems[0]
		v.Subject = fmt.Sprintf("Flow %s failed: %s", p.flow.Name, p.fail.Title)
		v.Intro = fmt.Sprintf("Your flow %s failed at step %s. Here is what happened and how to fix it.", p.flow.Name, p.fail.Step)
	}
	html, text, err := render("repair", v)
	if err != nil {
		return store.Mail{}, err
	}
	return store.Mail{To: []string{owner.Email}, Subject: oneLine(v.Subject), Text: text, HTML: html, Kind: kind}, nil
}

// connectionMail tells an owner that a connection needs attention.
func (n *Notifier) connectionMail(owner store.User, c store.Connection) (store.Mail, error) {
	v := noticeView{
		Subject: "Connection " + c.Name + " needs attention", Name: displayName(owner), BaseURL: n.cfg.BaseURL,
		Heading: "Connection " + c.Name + " needs attention",
		Paragraphs: []string{
			"A step that used connection " + c.Name + " was refused: its credentials are probably wrong, expired or revoked.",
			strings.TrimSpace(c.HealthError),
			"Update the connection's credentials, verify it, then resubmit every run that failed on it since it broke. The update reads the new secret from stdin: paste it and press Ctrl-D, or pipe it in.",
		},
		Commands: ConnectionFixCommands(c.Name, c.Type),
	}
	html, text, err := render("notice", v)
	if err != nil {
		return store.Mail{}, err
	}
	return store.Mail{To: []string{owner.Email}, Subject: oneLine(v.Subject), Text: text, HTML: html, Kind: MailConnectionBroken}, nil
}

// turnedOffMail tells an owner that a flow was turned off.
func (n *Notifier) turnedOffMail(owner store.User, f store.Flow, since time.Time, lastRun int64, now time.Time) (store.Mail, error) {
	v := noticeView{
		Subject: "Sluice turned off flow " + f.Name, Name: displayName(owner), BaseURL: n.cfg.BaseURL,
		Heading: "Sluice turned off your flow " + f.Name,
		Paragraphs: []string{
			fmt.Sprintf("Every run of %s has failed since %s, for more than %s, so Sluice turned the flow off: its triggers no longer start runs.",
				f.Name, since.UTC().Format(time.RFC1123), days(n.cfg.DisableAfter)),
			"Fix the flow or its connection, turn it back on, then resubmit the failed runs you still need.",
		},
		Commands: TurnedOffCommands(f.Name),
		LinkURL:  n.link(PurposeFix, lastRun, owner.ID, now), LinkText: fmt.Sprintf("Fix my flow: open its latest failed run, %d", lastRun),
	}
	html, text, err := render("notice", v)
	if err != nil {
		return store.Mail{}, err
	}
	return store.Mail{To: []string{owner.Email}, Subject: oneLine(v.Subject), Text: text, HTML: html, Kind: MailFlowTurnedOff}, nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// days says a duration in days when it is whole days.
func days(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		n := int(d / (24 * time.Hour))
		return fmt.Sprintf("%d day%s", n, plural(n))
	}
	return d.String()
}

// oneLine keeps a subject on one line, whatever a flow name holds.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
