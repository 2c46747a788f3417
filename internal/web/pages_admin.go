package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/sluice/sluice/internal/api"
	"github.com/sluice/sluice/internal/auth"
	"github.com/sluice/sluice/internal/store"
)

// maxOutbox caps the outbox page.
const maxOutbox = 100

// adminOnly lets admins through; anyone else gets the 404 page, as for
// a record that is not theirs.
func (p *portal) adminOnly(h pageFunc) pageFunc {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		if c.user.Role != store.RoleAdmin {
			return errNotFound
		}
		return h(w, r, c)
	}
}

// usersPage is the user administration.
type usersPage struct {
	base
	Users []store.User
	Roles []string
	// Password is a generated password, shown this once, for PasswordFor.
	Password, PasswordFor string
	// Email, Name and Role refill the create form after a problem.
	Email, Name, Role string
	Notice, Problem   string
}

// usersView reads the users page's data.
func (p *portal) usersView(r *http.Request, c *call) (usersPage, error) {
	users, err := p.st.ListUsers(r.Context())
	if err != nil {
		return usersPage{}, fmt.Errorf("users: %w", err)
	}
	return usersPage{base: c.base("Users", "admin"), Users: users, Roles: []string{store.RoleMaker, store.RoleAdmin}, Role: store.RoleMaker}, nil
}

// users answers GET /admin/users.
func (p *portal) users(w http.ResponseWriter, r *http.Request, c *call) error {
	v, err := p.usersView(r, c)
	if err != nil {
		return err
	}
	p.render(w, http.StatusOK, "users", v)
	return nil
}

// usersAnswer shows the users page after a form: with err's message
// when it is the account logic's *api.Error, else as edit sets it.
func (p *portal) usersAnswer(w http.ResponseWriter, r *http.Request, c *call, err error, edit func(*usersPage)) error {
	var apiErr *api.Error
	status := http.StatusOK
	if err != nil && (!errors.As(err, &apiErr) || apiErr.Status >= 500) {
		return err
	}
	v, verr := p.usersView(r, c)
	if verr != nil {
		return verr
	}
	if apiErr != nil {
		status, v.Problem = apiErr.Status, strings.ToUpper(apiErr.Message[:1])+apiErr.Message[1:]+"."
	}
	if edit != nil {
		edit(&v)
	}
	p.render(w, status, "users", v)
	return nil
}

// createUser answers POST /admin/users through the API's account logic;
// without a password it generates one and shows it once.
func (p *portal) createUser(w http.ResponseWriter, r *http.Request, c *call) error {
	email, name, role, pw := r.PostFormValue("email"), r.PostFormValue("name"), r.PostFormValue("role"), r.PostFormValue("password")
	generated := ""
	if pw == "" {
		generated = auth.RandomPassword()
		pw = generated
	}
	u, err := p.cfg.Accounts.CreateUser(r.Context(), email, name, pw, role)
	if err != nil {
		return p.usersAnswer(w, r, c, err, func(v *usersPage) { v.Email, v.Name, v.Role = email, name, role })
	}
	p.log.Info("user created in the portal", "user", u.ID, "by", c.user.ID)
	return p.usersAnswer(w, r, c, nil, func(v *usersPage) {
		v.Notice = "User " + u.Email + " was created."
		if generated != "" {
			v.Password, v.PasswordFor = generated, u.Email
		}
	})
}

// lookupUser returns the user of the path's id.
func (p *portal) lookupUser(r *http.Request) (store.User, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return store.User{}, err
	}
	u, err := p.st.GetUser(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, errNotFound
	}
	return u, err
}

// setUserDisabled answers POST /admin/users/{id}/disabled (disabled=1
// disables, anything else enables).
func (p *portal) setUserDisabled(w http.ResponseWriter, r *http.Request, c *call) error {
	u, err := p.lookupUser(r)
	if err != nil {
		return err
	}
	disable := r.PostFormValue("disabled") == "1"
	if u, err = p.cfg.Accounts.SetDisabled(r.Context(), c.user, u, disable); err != nil {
		return p.usersAnswer(w, r, c, err, nil)
	}
	word := "enabled"
	if disable {
		word = "disabled: their sessions ended and their tokens are refused"
	}
	return p.usersAnswer(w, r, c, nil, func(v *usersPage) { v.Notice = "User " + u.Email + " is " + word + "." })
}

// resetPassword answers POST /admin/users/{id}/password: a generated
// password, shown once; the user's sessions and tokens end.
func (p *portal) resetPassword(w http.ResponseWriter, r *http.Request, c *call) error {
	u, err := p.lookupUser(r)
	if err != nil {
		return err
	}
	pw, revoked, err := p.cfg.Accounts.SetPassword(r.Context(), c.user, u, "", true)
	if err != nil {
		return p.usersAnswer(w, r, c, err, nil)
	}
	if u.ID == c.user.ID {
		if err := p.cfg.Sessions.start(r.Context(), w, r, c.user); err != nil {
			return err
		}
	}
	return p.usersAnswer(w, r, c, nil, func(v *usersPage) {
		v.Notice = fmt.Sprintf("The password of %s was reset; %d API %s and every session of theirs ended.", u.Email, revoked, plural(revoked, "token", "tokens"))
		v.Password, v.PasswordFor = pw, u.Email
	})
}

// outboxPage is the mail outbox.
type outboxPage struct {
	base
	Mail []store.Mail
	Max  int
}

// outbox answers GET /admin/outbox: the newest maxOutbox emails, queued
// or sent, with their text (one range of the outbox's primary key).
func (p *portal) outbox(w http.ResponseWriter, r *http.Request, c *call) error {
	mail, err := p.st.ListMail(r.Context(), "", maxOutbox)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	p.render(w, http.StatusOK, "outbox", outboxPage{base: c.base("Outbox", "admin"), Mail: mail, Max: maxOutbox})
	return nil
}
