// Package pgtest gives tests a fresh schema in the test PostgreSQL, so
// that tests of several packages (the store, the engine) run at once on
// one database without seeing one another's rows.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultURL is the test database when SLUICE_TEST_POSTGRES_URL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// URL returns the database the tests use: SLUICE_TEST_POSTGRES_URL, or
// DefaultURL.
func URL() string {
	if u := os.Getenv("SLUICE_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return DefaultURL
}

var (
	adminOnce sync.Once
	adminPool *pgxpool.Pool
	adminErr  error
)

// Admin returns a pool on the test database for creating and dropping
// schemas. When PostgreSQL cannot be reached it skips the test, unless
// SLUICE_TEST_POSTGRES is set (as in CI), where it fails.
func Admin(t testing.TB) *pgxpool.Pool {
	t.Helper()
	adminOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		adminPool, adminErr = pgxpool.New(ctx, URL())
		if adminErr == nil {
			if adminErr = adminPool.Ping(ctx); adminErr != nil {
				adminPool.Close()
			}
		}
	})
	if adminErr != nil {
		if os.Getenv("SLUICE_TEST_POSTGRES") != "" {
			t.Fatalf("SLUICE_TEST_POSTGRES is set but PostgreSQL at %s is unreachable: %v", redact(URL()), adminErr)
		}
		t.Skipf("PostgreSQL at %s is unreachable (%v); set SLUICE_TEST_POSTGRES_URL to run these tests, SLUICE_TEST_POSTGRES to require them", redact(URL()), adminErr)
	}
	return adminPool
}

// Close closes the admin pool; a TestMain calls it before looking for
// leaked goroutines.
func Close() {
	if adminPool != nil {
		adminPool.Close()
	}
}

// redact hides a password in a URL for messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(the configured database)"
	}
	return u.Redacted()
}

// FreshSchema creates an empty schema, drops it when t ends and returns a
// URL whose connections use it.
func FreshSchema(t testing.TB) string {
	t.Helper()
	pool := Admin(t)
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := "sluice_test_" + hex.EncodeToString(b[:])
	if _, err := pool.Exec(context.Background(), `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatalf("create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		if _, err := pool.Exec(context.Background(), `DROP SCHEMA `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(URL())
	if err != nil {
		t.Fatalf("parse test url: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
