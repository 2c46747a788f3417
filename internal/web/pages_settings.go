package web

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/sluice/sluice/internal/api"
	"github.com/sluice/sluice/internal/signin"
	"github.com/sluice/sluice/internal/store"
)

// repairFrequencies are the choices of repair-tip emails, in the order
// the form shows them.
var repairFrequencies = []string{"immediately", "hourly", "daily", "never"}

// tokenExpiries are the token form's choices, in days ("" never).
var tokenExpiries = []string{"30", "90", "365", ""}

// settingsPage is the user's settings.
type settingsPage struct {
	base
	RepairEmails string
	Frequencies  []string
	Expiries     []string
	Tokens       []store.Token
	// NewToken is a token just made, shown this once; NewTokenName its
	// name.
	NewToken, NewTokenName string
	// Notice says what the last form did; Problem what was wrong with it.
	Notice, Problem string
}

// settingsView reads the settings page's data.
func (p *portal) settingsView(r *http.Request, c *call) (settingsPage, error) {
	ctx := r.Context()
	us, err := p.st.GetUserSettings(ctx, c.user.ID)
	if err != nil {
		return settingsPage{}, fmt.Errorf("settings: %w", err)
	}
	toks, err := p.st.ListTokens(ctx, c.user.ID)
	if err != nil {
		return settingsPage{}, fmt.Errorf("settings: %w", err)
	}
	v := settingsPage{base: c.base("Settings", "settings"), RepairEmails: us.RepairEmails, Frequencies: repairFrequencies,
		Expiries: tokenExpiries, Tokens: toks}
	switch r.URL.Query().Get("done") {
	case "notifications":
		v.Notice = "Your repair-tip email setting was saved."
	case "password":
		v.Notice = "Your password was changed. Every other session and every API token of yours has ended."
	case "token-deleted":
		v.Notice = "The token was deleted: it no longer works."
	}
	return v, nil
}

// settings answers GET /settings.
func (p *portal) settings(w http.ResponseWriter, r *http.Request, c *call) error {
	v, err := p.settingsView(r, c)
	if err != nil {
		return err
	}
	p.render(w, http.StatusOK, "settings", v)
	return nil
}

// settingsProblem shows the settings page with what was wrong.
func (p *portal) settingsProblem(w http.ResponseWriter, r *http.Request, c *call, status int, problem string) error {
	v, err := p.settingsView(r, c)
	if err != nil {
		return err
	}
	v.Problem = problem
	p.render(w, status, "settings", v)
	return nil
}

// accountError shows an *api.Error of the account logic on the settings
// page; anything else is returned.
func (p *portal) accountError(w http.ResponseWriter, r *http.Request, c *call, err error) error {
	var apiErr *api.Error
	if errors.As(err, &apiErr) && apiErr.Status < 500 {
		return p.settingsProblem(w, r, c, apiErr.Status, strings.ToUpper(apiErr.Message[:1])+apiErr.Message[1:]+".")
	}
	return err
}

// setNotifications answers POST /settings/notifications.
func (p *portal) setNotifications(w http.ResponseWriter, r *http.Request, c *call) error {
	f := r.PostFormValue("repair_emails")
	if !slices.Contains(repairFrequencies, f) {
		return p.settingsProblem(w, r, c, http.StatusBadRequest, "Choose how often repair tips are emailed: immediately, hourly, daily or never.")
	}
	if err := p.st.SetUserSettings(r.Context(), c.user.ID, store.UserSettings{RepairEmails: f}); err != nil {
		return fmt.Errorf("save settings: %w", err)
	}
	http.Redirect(w, r, "/settings?done=notifications", http.StatusSeeOther)
	return nil
}

// createToken answers POST /settings/tokens: a new API token through the
// API's logic, shown this once on the page it answers with.
func (p *portal) createToken(w http.ResponseWriter, r *http.Request, c *call) error {
	expires := ""
	if d := r.PostFormValue("expires"); d != "" {
		days, err := strconv.Atoi(d)
		if err != nil || !slices.Contains(tokenExpiries, d) {
			return p.settingsProblem(w, r, c, http.StatusBadRequest, "Choose when the token expires from the list.")
		}
		expires = p.now().AddDate(0, 0, days).UTC().Format("2006-01-02T15:04:05Z07:00")
	}
	plain, t, err := p.cfg.Accounts.CreateToken(r.Context(), c.user.ID, r.PostFormValue("name"), expires)
	if err != nil {
		return p.accountError(w, r, c, err)
	}
	p.log.Info("API token created in the portal", "user", c.user.ID, "token", t.ID)
	v, err := p.settingsView(r, c)
	if err != nil {
		return err
	}
	v.NewToken, v.NewTokenName = plain, t.Name
	p.render(w, http.StatusOK, "settings", v)
	return nil
}

// deleteToken answers POST /settings/tokens/{id}/delete: only the
// caller's own tokens.
func (p *portal) deleteToken(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := p.st.DeleteToken(r.Context(), c.user.ID, id); errors.Is(err, store.ErrNotFound) {
		return errNotFound
	} else if err != nil {
		return fmt.Errorf("delete token %d: %w", id, err)
	}
	http.Redirect(w, r, "/settings?done=token-deleted", http.StatusSeeOther)
	return nil
}

// changePassword answers POST /settings/password: the current password
// is checked through the sign-in Checker (throttled as a sign-in), the
// new one set through the API's logic, which ends every session and
// token of the user; this browser then gets a new session.
func (p *portal) changePassword(w http.ResponseWriter, r *http.Request, c *call) error {
	current, next, again := r.PostFormValue("current"), r.PostFormValue("new"), r.PostFormValue("again")
	if next != again {
		return p.settingsProblem(w, r, c, http.StatusBadRequest, "The new password and its repetition differ. Type them again.")
	}
	_, err := p.cfg.SignIn.Check(r.Context(), signin.Attempt{Email: c.user.Email, Password: current, RemoteAddr: r.RemoteAddr, Via: "portal"})
	switch {
	case isThrottled(err):
		return throttledPage(w, err, "password")
	case errors.Is(err, signin.ErrInvalid):
		return p.settingsProblem(w, r, c, http.StatusBadRequest, "The current password is wrong, so the password was not changed.")
	case err != nil:
		return err
	}
	if _, _, err := p.cfg.Accounts.SetPassword(r.Context(), c.user, c.user, next, false); err != nil {
		return p.accountError(w, r, c, err)
	}
	if err := p.cfg.Sessions.start(r.Context(), w, r, c.user); err != nil {
		return err
	}
	http.Redirect(w, r, "/settings?done=password", http.StatusSeeOther)
	return nil
}
