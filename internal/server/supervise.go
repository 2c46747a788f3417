package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"
)

// shutdownTimeout bounds how long the HTTP server waits for the requests
// in flight when it shuts down.
const shutdownTimeout = 10 * time.Second

// part is a component of the server that works until its context ends,
// such as the engine or the notifier.
type part struct {
	name string
	run  func(context.Context) error
}

// supervise serves HTTP on ln and runs the parts, all under one group,
// until ctx ends or one of them stops: the server is only worth running
// whole, since an API that accepts runs no engine works would lose them.
// On the way out it stops taking requests first (waiting up to 10s for
// those in flight), then stops the parts. It returns nil when ctx ended,
// else the error of the first thing that stopped, naming it.
func supervise(ctx context.Context, log *slog.Logger, srv *http.Server, ln net.Listener, parts ...part) error {
	g, gctx := errgroup.WithContext(ctx)
	// The parts outlive gctx until the HTTP side has shut down, so that
	// the requests in flight still find them.
	partsCtx, stopParts := context.WithCancel(context.WithoutCancel(ctx))
	defer stopParts()
	for _, p := range parts {
		g.Go(func() error {
			err := p.run(partsCtx)
			if partsCtx.Err() != nil {
				return nil // asked to stop
			}
			if err == nil {
				err = errors.New("returned while the server was running")
			}
			return fmt.Errorf("%s stopped: %w", p.name, err)
		})
	}
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http server stopped: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		if ctx.Err() == nil {
			log.Error("stopping the server: a part of it stopped", "err", context.Cause(gctx))
		}
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(shutdownCtx); err != nil {
			log.Warn("http shutdown", "err", err)
		}
		stopParts()
		return nil
	})
	return g.Wait()
}
