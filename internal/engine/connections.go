package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluice/sluice/internal/connection"
	"github.com/sluice/sluice/internal/diagnose"
	"github.com/sluice/sluice/internal/store"
)

// usedConnection is a connection loaded for one action.
type usedConnection struct {
	rec  store.Connection
	spec connection.Spec
}

// connection loads the flow owner's connection by name, unseals it, and
// registers its secret values with the run's redactor so that they never
// reach a stored step, an error or a log.
func (rs *runState) connection(ctx context.Context, name, want string) (*usedConnection, *StepError) {
	rec, err := rs.e.st.GetConnectionByName(ctx, rs.plan.flow.OwnerID, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &StepError{Kind: KindConfig, Message: fmt.Sprintf("connection %q not found: add it with `sluice connections add %s --type bearer --token-stdin` (other types: `sluice connections add --help`)", name, diagnose.ShellQuote(name))}
	}
	if err != nil {
		return nil, &StepError{Kind: KindNetwork, Retryable: true, Message: fmt.Sprintf("load connection %q: %v", name, err)}
	}
	if rs.e.cfg.Secrets == nil {
		return nil, &StepError{Kind: KindConfig, Message: fmt.Sprintf("connection %q cannot be opened: the server has no secret key", name)}
	}
	spec, err := connection.Open(rs.e.cfg.Secrets, rec.Type, rec.Config, rec.Secret)
	if err != nil {
		return nil, &StepError{Kind: KindConfig, Message: fmt.Sprintf("connection %q cannot be opened (%v): update it with `%s`", name, err, connection.UpdateCommand(name, rec.Type))}
	}
	spec.ID = rec.ID
	rs.redact.Add(spec.Values()...)
	used := &usedConnection{rec: rec, spec: spec}
	rs.mu.Lock()
	if rs.conns == nil {
		rs.conns = map[string]*usedConnection{}
	}
	rs.conns[name] = used
	rs.mu.Unlock()
	if want == "http" && spec.Type == connection.TypeSMTP {
		return nil, &StepError{Kind: KindConfig, Message: fmt.Sprintf("connection %q is an smtp connection; an http action needs a bearer, basic, api_key or oauth2 connection", name)}
	}
	if want == "email" && spec.Type != connection.TypeSMTP {
		return nil, &StepError{Kind: KindConfig, Message: fmt.Sprintf("connection %q is a %s connection; an email action needs an smtp connection", name, spec.Type)}
	}
	return used, nil
}

// used returns the connection an action of this run loaded by name.
func (rs *runState) used(name string) *usedConnection {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.conns[name]
}

// health records what an action learned about its connection: an
// authentication failure marks it needs_attention, a success marks it ok.
// The owner hears about a change once, not on every failure.
func (rs *runState) health(ctx context.Context, c *usedConnection, ok bool, why string) {
	if c == nil {
		return
	}
	health := store.HealthOK
	if !ok {
		health = store.HealthNeedsAttention
	}
	if ok && c.rec.Health == store.HealthOK {
		return
	}
	changed, err := rs.e.st.SetConnectionHealth(context.WithoutCancel(ctx), c.rec.ID, health, rs.redact.String(why), time.Now())
	if err != nil {
		rs.e.log.Error("record connection health", "connection", c.rec.Name, "err", err)
		return
	}
	if changed && !ok {
		rs.e.log.Warn("connection needs attention", "connection", c.rec.Name, "owner_id", c.rec.OwnerID, "run_id", rs.run.ID, "reason", rs.redact.String(why))
	}
}
