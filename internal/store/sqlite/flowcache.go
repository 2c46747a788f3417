package sqlite

import (
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sluice/sluice/internal/store"
)

// flowCacheMax caps the flows kept by webhook token; past it the cache
// starts again empty, so that a server with more webhook flows than this
// costs at most a read per webhook, as without a cache.
const flowCacheMax = 10000

// flowCache keeps the flows webhooks look up by token, so that a webhook
// call costs no read of the flows table. One process holds the database
// file and every write of it goes through this Store: a transaction that
// writes the flows table moves gen on once it has committed (see
// writesFlows), and an entry read at an older gen is not used. A reader
// takes gen before it reads the table, so that a row read before a write
// committed is never served after that write returned.
type flowCache struct {
	gen atomic.Int64
	mu  sync.RWMutex
	m   map[string]cachedFlow
}

// cachedFlow is a flow as read while the cache was at gen.
type cachedFlow struct {
	f   store.Flow
	gen int64
}

// get returns the cached flow of token, if it was read at the current gen.
func (c *flowCache) get(token string) (store.Flow, bool) {
	c.mu.RLock()
	e, ok := c.m[token]
	c.mu.RUnlock()
	if !ok || e.gen != c.gen.Load() {
		return store.Flow{}, false
	}
	return e.f, true
}

// put keeps f, read from the table after the caller took gen.
func (c *flowCache) put(token string, f store.Flow, gen int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= flowCacheMax {
		c.m = make(map[string]cachedFlow)
	}
	c.m[token] = cachedFlow{f: f, gen: gen}
}

// invalidate drops every entry: the flows table changed.
func (c *flowCache) invalidate() {
	c.gen.Add(1)
	c.mu.Lock()
	c.m = nil
	c.mu.Unlock()
}

// flowsWrite matches a statement that inserts, changes or deletes rows
// of the flows table.
var flowsWrite = regexp.MustCompile(`(?i)^\s*(INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM|REPLACE\s+INTO)\s+flows\b`)

// writesFlows reports whether the write statement q changes the flows
// table, which empties the flow cache when its transaction commits.
// Most statements do not name the table, which a substring search tells
// far faster than the expression.
func writesFlows(q string) bool {
	if !strings.Contains(q, "flows") && !strings.Contains(q, "FLOWS") && !strings.Contains(q, "Flows") {
		return false
	}
	return flowsWrite.MatchString(q)
}
