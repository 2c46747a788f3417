package web

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// day is the window of the home page's and the flow list's counts.
const day = 24 * time.Hour

// homePage is what needs the user's attention.
type homePage struct {
	base
	// Problems are the open problems of the last 24 hours, worst first.
	Problems []store.Problem
	// Worst is the problem to open first, nil when there is none.
	Worst    *store.Problem
	Failures int
	// Broken are the connections that need attention.
	Broken []store.Connection
	// LastSuccess is the newest succeeded run, nil when there is none.
	LastSuccess *store.Run
}

// scope is the owner filter of a user's lists: their own, or all for an
// admin.
func scope(u store.User) int64 {
	if u.Role == store.RoleAdmin {
		return 0
	}
	return u.ID
}

// home answers GET /: the open problems of the user's flows with their
// counts for the last 24 hours, the worst first, and broken connections.
// Queries: ListProblems (failed steps by the steps_failed index, joined
// to runs since a day), ListConnections (by owner), and one ListRuns of
// succeeded runs (runs_status) when there is nothing to fix.
func (p *portal) home(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	owner := scope(c.user)
	probs, err := p.st.ListProblems(ctx, store.ProblemFilter{OwnerID: owner, Since: p.now().Add(-day), Limit: 50})
	if err != nil {
		return fmt.Errorf("home: %w", err)
	}
	v := homePage{base: c.base("Home", "home")}
	for _, pr := range probs {
		if pr.Ongoing {
			v.Problems = append(v.Problems, pr)
			v.Failures += pr.Count
		}
	}
	slices.SortStableFunc(v.Problems, func(a, b store.Problem) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), b.LastSeen.Compare(a.LastSeen))
	})
	if len(v.Problems) > 0 {
		v.Worst = &v.Problems[0]
	}
	conns, err := p.st.ListConnections(ctx, owner)
	if err != nil {
		return fmt.Errorf("home: %w", err)
	}
	for _, cn := range conns {
		if cn.Health == store.HealthNeedsAttention {
			v.Broken = append(v.Broken, cn)
		}
	}
	if v.Worst == nil && len(v.Broken) == 0 {
		runs, err := p.st.ListRuns(ctx, store.RunFilter{OwnerID: owner, Status: store.RunSucceeded, Limit: 1})
		if err != nil {
			return fmt.Errorf("home: %w", err)
		}
		if len(runs) > 0 {
			v.LastSuccess = &runs[0]
		} else if shown, err := p.welcome(w, r, c); shown || err != nil {
			return err
		}
	}
	p.render(w, http.StatusOK, "home", v)
	return nil
}
