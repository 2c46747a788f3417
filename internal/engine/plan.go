package engine

import (
	"context"
	"fmt"
	"sync"

	"github.com/sluice/sluice/internal/expression"
	"github.com/sluice/sluice/internal/flow"
	"github.com/sluice/sluice/internal/store"
)

// plan is a flow version ready to run: its definition with every template
// compiled once.
type plan struct {
	flow    store.Flow
	version int
	def     *flow.Definition
	actions map[*flow.Action]*compiled
	// handlers holds the ids of the actions that run after a sibling's
	// failure (flow.Action.Handles).
	handlers map[string]bool
}

// handler reports whether an action runs after a sibling's failure, so
// that its own failure is a consequence of that one.
func (p *plan) handler(id string) bool { return p.handlers[id] }

// compiled holds an action's compiled templates.
type compiled struct {
	with    *expression.Value
	cond    *expression.Template
	foreach *expression.Template
}

// planKey identifies a flow version.
type planKey struct {
	flowID  int64
	version int
}

// plans caches compiled flow versions. Versions never change once saved,
// so entries never go stale; the cache is bounded by dropping everything
// when it grows past its cap, which is rare and cheap to refill.
type plans struct {
	mu    sync.Mutex
	cap   int
	items map[planKey]*plan
}

// get returns the compiled plan of a flow version, loading it on a miss.
// A flow's name never changes, so the cached flow record is good for
// naming the flow in expressions.
func (p *plans) get(ctx context.Context, st store.Store, flowID int64, version int) (*plan, error) {
	key := planKey{flowID, version}
	p.mu.Lock()
	pl, ok := p.items[key]
	p.mu.Unlock()
	if ok {
		return pl, nil
	}
	f, err := st.GetFlow(ctx, flowID)
	if err != nil {
		return nil, fmt.Errorf("load flow %d: %w", flowID, err)
	}
	fv, err := st.GetFlowVersion(ctx, f.ID, version)
	if err != nil {
		return nil, fmt.Errorf("load flow %q version %d: %w", f.Name, version, err)
	}
	pl, err = compilePlan(f, fv)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	if p.items == nil || len(p.items) >= p.cap {
		p.items = make(map[planKey]*plan)
	}
	p.items[key] = pl
	p.mu.Unlock()
	return pl, nil
}

// compilePlan decodes a stored definition and compiles its templates.
func compilePlan(f store.Flow, fv store.FlowVersion) (*plan, error) {
	def, err := flow.FromCanonical(fv.Definition)
	if err != nil {
		return nil, fmt.Errorf("decode flow %q version %d: %w", f.Name, fv.Version, err)
	}
	pl := &plan{flow: f, version: fv.Version, def: def, actions: make(map[*flow.Action]*compiled), handlers: map[string]bool{}}
	var firstErr error
	def.Walk(func(a *flow.Action) {
		if a.Handles() {
			pl.handlers[a.ID] = true
		}
		c := &compiled{}
		var err error
		if a.With != nil {
			if c.with, err = expression.CompileValue(map[string]any(a.With)); err != nil {
				err = fmt.Errorf("action %q: with: %w", a.ID, err)
			}
		}
		if err == nil && a.If != "" {
			if c.cond, err = expression.Compile(a.If); err != nil {
				err = fmt.Errorf("action %q: if: %w", a.ID, err)
			}
		}
		if err == nil && a.Foreach != "" {
			if c.foreach, err = expression.Compile(a.Foreach); err != nil {
				err = fmt.Errorf("action %q: foreach: %w", a.ID, err)
			}
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
		pl.actions[a] = c
	})
	if firstErr != nil {
		return nil, fmt.Errorf("compile flow %q version %d: %w", f.Name, fv.Version, firstErr)
	}
	return pl, nil
}
