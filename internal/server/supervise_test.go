package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/engine"
	"github.com/sluice/sluice/internal/notify"
	"github.com/sluice/sluice/internal/store/sqlite"
)

// superviseBundle is a listener and an HTTP server answering /healthz.
type superviseBundle struct {
	ln  net.Listener
	srv *http.Server
	log *slog.Logger
}

func superviseSetup(t *testing.T) *superviseBundle {
	t.Helper()
	cfg := Config{Addr: freeAddr(t), Logger: slog.New(slog.DiscardHandler)}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	ln, err := listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", healthz)
	return &superviseBundle{ln: ln, srv: newHTTPServer(cfg, mux), log: cfg.Logger}
}

// waitStopped waits for supervise to return and checks that the listener
// is closed.
func (b *superviseBundle) waitStopped(t *testing.T, done <-chan error) error {
	t.Helper()
	var err error
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the server kept running after a part of it stopped")
	}
	if c, derr := net.Dial("tcp", b.ln.Addr().String()); derr == nil {
		c.Close()
		t.Fatal("the HTTP listener still accepts connections after a part of the server stopped")
	}
	return err
}

// TestEngineFailureStopsServer runs a real engine whose store fails as it
// starts, with a real notifier beside it: the server must stop serving and
// return the engine's error instead of taking runs nothing will work.
func TestEngineFailureStopsServer(t *testing.T) {
	t.Parallel()
	b := superviseSetup(t)
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "sluice.db"), b.log)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Config{Store: st, Logger: b.log, HTTPClient: http.DefaultClient, SingleNode: true})
	if err != nil {
		t.Fatal(err)
	}
	n, err := notify.New(notify.Config{Store: st, BaseURL: "http://sluice.example.com", Key: make([]byte, 32), Logger: b.log})
	if err != nil {
		t.Fatal(err)
	}
	st.Close() // the database goes away: the engine cannot re-queue runs
	done := make(chan error, 1)
	go func() {
		done <- supervise(context.Background(), b.log, b.srv, b.ln, part{"engine", eng.Run}, part{"notifier", n.Run})
	}()
	err = b.waitStopped(t, done)
	if err == nil || !strings.Contains(err.Error(), "engine stopped") || !strings.Contains(err.Error(), "re-queue runs") {
		t.Fatalf("supervise: got %v, want the engine's error", err)
	}
}

// TestPartEndingStopsServer serves a request, then has one part return
// (with an error, or without one while it was not asked to stop): the
// server stops and says which part stopped.
func TestPartEndingStopsServer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		err     error
		wantErr string
	}{
		{"Error", errors.New("outbox unreachable"), "notifier stopped: outbox unreachable"},
		{"NoError", nil, "notifier stopped: returned while the server was running"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := superviseSetup(t)
			fail := make(chan struct{})
			notifier := func(ctx context.Context) error {
				select {
				case <-fail:
					return tc.err
				case <-ctx.Done():
					return nil
				}
			}
			engineStopped := make(chan struct{})
			eng := func(ctx context.Context) error {
				<-ctx.Done()
				close(engineStopped)
				return nil
			}
			done := make(chan error, 1)
			go func() {
				done <- supervise(context.Background(), b.log, b.srv, b.ln, part{"engine", eng}, part{"notifier", notifier})
			}()
			waitHealthy(t, b.ln.Addr().String())
			close(fail)
			err := b.waitStopped(t, done)
			if err == nil || err.Error() != tc.wantErr {
				t.Fatalf("supervise: got %v, want %q", err, tc.wantErr)
			}
			select {
			case <-engineStopped:
			default:
				t.Fatal("supervise returned with the engine still running")
			}
		})
	}
}

// TestSuperviseStopsOnCancel checks that a cancelled context is a clean
// stop: nil, every part stopped, the listener closed.
func TestSuperviseStopsOnCancel(t *testing.T) {
	t.Parallel()
	b := superviseSetup(t)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	p := func(ctx context.Context) error {
		<-ctx.Done()
		close(stopped)
		return ctx.Err()
	}
	done := make(chan error, 1)
	go func() { done <- supervise(ctx, b.log, b.srv, b.ln, part{"engine", p}) }()
	waitHealthy(t, b.ln.Addr().String())
	cancel()
	if err := b.waitStopped(t, done); err != nil {
		t.Fatalf("supervise after cancel: %v", err)
	}
	<-stopped
}
