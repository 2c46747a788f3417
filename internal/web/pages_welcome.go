package web

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/sluice/sluice/internal/api"
	"github.com/sluice/sluice/internal/connection"
	"github.com/sluice/sluice/internal/sample"
	"github.com/sluice/sluice/internal/store"
)

// welcomePage is the home page of a user with no flows while the sample
// service is on.
type welcomePage struct {
	base
	// Token is the sample payroll's right token, which the page tells.
	Token string
	// Connection is the sample flows' connection name.
	Connection string
}

// welcome renders the welcome page when the sample service is on and the
// user has no flow yet, and reports whether it did. It is asked only
// when the home page has nothing else to show (no problem, broken
// connection or succeeded run), so that one ListFlows is the cost.
func (p *portal) welcome(w http.ResponseWriter, r *http.Request, c *call) (bool, error) {
	if p.cfg.SampleBaseURL == "" || p.cfg.Connections == nil {
		return false, nil
	}
	flows, err := p.st.ListFlows(r.Context(), store.FlowFilter{OwnerID: c.user.ID})
	if err != nil {
		return false, fmt.Errorf("welcome: %w", err)
	}
	if len(flows) > 0 {
		return false, nil
	}
	p.render(w, http.StatusOK, "welcome", welcomePage{base: c.base("Welcome", "home"), Token: sample.Token, Connection: sample.ConnectionName})
	return true, nil
}

// importSamples answers POST /welcome/samples: it adds the sample
// connection (with a wrong token, so that the payroll sample fails with
// a 401; an existing one of that name is kept) and saves the sample
// flows with the portal's flow saver, then goes to the flow list.
func (p *portal) importSamples(w http.ResponseWriter, r *http.Request, c *call) error {
	if p.cfg.SampleBaseURL == "" || p.cfg.Connections == nil {
		return errNotFound
	}
	ctx := r.Context()
	_, err := p.cfg.Connections.Create(ctx, c.user, sample.ConnectionName,
		connection.Spec{Type: connection.TypeBearer, Secret: connection.Secret{Token: sample.WrongToken}})
	var apiErr *api.Error
	if err != nil && !(errors.As(err, &apiErr) && apiErr.Code == api.CodeConflict) {
		return fmt.Errorf("import samples: connection: %w", err)
	}
	for _, src := range sample.Flows() {
		_, _, problems, err := p.cfg.SaveFlow(ctx, c.user, src, 0)
		if err != nil {
			return fmt.Errorf("import samples: %w", err)
		}
		if len(problems) > 0 {
			return fmt.Errorf("import samples: the sample flow has problems: %v", problems)
		}
	}
	p.log.Info("sample flows imported", "user", c.user.ID)
	http.Redirect(w, r, "/flows?samples=1", http.StatusSeeOther)
	return nil
}
