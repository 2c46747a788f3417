package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// benchSecretKey is the SLUICE_SECRET_KEY every node of a PostgreSQL
// cluster shares (a benchmark's throw-away key).
var benchSecretKey = strings.Repeat("5e", 32)

// cluster is the Sluice nodes of one scenario: one node on a SQLite data
// folder, or -nodes nodes sharing a schema of the -db PostgreSQL.
type cluster struct {
	nodes []*proc
}

// freshDatabase creates an empty schema in the -db database and returns
// the URL whose connections use it, and a function that drops it. Without
// -db it returns "" (SQLite).
func freshDatabase(ctx context.Context, o options) (db string, drop func(), err error) {
	if o.db == "" {
		return "", func() {}, nil
	}
	conn, err := pgx.Connect(ctx, o.db)
	if err != nil {
		return "", nil, fmt.Errorf("connect to -db: %w", err)
	}
	defer conn.Close(context.Background())
	var b [6]byte
	rand.Read(b[:])
	schema := "sluice_bench_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		return "", nil, fmt.Errorf("create schema %s: %w", schema, err)
	}
	drop = func() {
		c, err := pgx.Connect(context.Background(), o.db)
		if err != nil {
			logf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			logf("drop schema %s: %v", schema, err)
		}
	}
	u, err := url.Parse(o.db)
	if err != nil {
		drop()
		return "", nil, fmt.Errorf("parse -db: %w", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}

// startCluster starts one node on dir/data when db is "", or -nodes nodes
// at once on db (each with its own data folder dir/node-N), and waits for
// all of them to be ready.
func startCluster(ctx context.Context, o options, bin, dir, db, logName string) (*cluster, error) {
	if db == "" {
		p, err := startSluice(ctx, o, bin, filepath.Join(dir, "data"), nil, logName)
		if err != nil {
			return nil, err
		}
		return &cluster{nodes: []*proc{p}}, nil
	}
	c := &cluster{nodes: make([]*proc, max(1, o.nodes))}
	errs := make([]error, len(c.nodes))
	var wg sync.WaitGroup
	for i := range c.nodes {
		wg.Go(func() {
			c.nodes[i], errs[i] = startSluice(ctx, o, bin, filepath.Join(dir, fmt.Sprintf("node-%d", i)),
				[]string{"--db", db}, fmt.Sprintf("node-%d-%s", i, logName))
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, p := range c.nodes {
			if p != nil {
				p.kill()
			}
		}
		return nil, err
	}
	return c, nil
}

// pids returns the nodes' process ids.
func (c *cluster) pids() []int {
	out := make([]int, len(c.nodes))
	for i, p := range c.nodes {
		out[i] = p.cmd.Process.Pid
	}
	return out
}

// urls returns a webhook URL that node 0 gave, once for each node.
func (c *cluster) urls(hook string) []string {
	path := hook[max(0, strings.Index(hook, "/hooks/")):]
	out := make([]string, len(c.nodes))
	for i, p := range c.nodes {
		out[i] = p.base + path
	}
	return out
}

// span returns when the first node was started and when the last one
// answered /healthz.
func (c *cluster) span() (started, ready time.Time) {
	started, ready = c.nodes[0].started, c.nodes[0].ready
	for _, p := range c.nodes[1:] {
		if p.started.Before(started) {
			started = p.started
		}
		if p.ready.After(ready) {
			ready = p.ready
		}
	}
	return started, ready
}

// memory returns the largest VmHWM and VmRSS of the nodes, in MiB.
func (c *cluster) memory() (hwm, rss float64) {
	for _, p := range c.nodes {
		h, r := memory(p.cmd.Process.Pid)
		hwm, rss = max(hwm, h), max(rss, r)
	}
	return hwm, rss
}

// stop stops every node with SIGTERM.
func (c *cluster) stop() error {
	var errs []error
	for _, p := range c.nodes {
		errs = append(errs, p.stop())
	}
	return errors.Join(errs...)
}

// kill ends every node at once.
func (c *cluster) kill() {
	for _, p := range c.nodes {
		p.kill()
	}
}
