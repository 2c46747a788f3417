package store

import (
	"context"
	"sync"
)

// Waker fans a wake-up out to the channels of its subscribers. Each
// channel holds one wake-up: signals a subscriber has not yet taken merge
// into one, so a slow subscriber never blocks Signal. The zero value is
// ready to use.
type Waker struct {
	mu   sync.Mutex
	subs map[chan struct{}]struct{}
}

// Subscribe returns a channel that receives a value at once (the
// subscription has begun) and after each Signal, until ctx ends. The
// channel is never closed.
func (w *Waker) Subscribe(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{}, 1)
	ch <- struct{}{}
	w.mu.Lock()
	if w.subs == nil {
		w.subs = make(map[chan struct{}]struct{})
	}
	w.subs[ch] = struct{}{}
	w.mu.Unlock()
	context.AfterFunc(ctx, func() {
		w.mu.Lock()
		delete(w.subs, ch)
		w.mu.Unlock()
	})
	return ch
}

// Signal wakes every subscriber.
func (w *Waker) Signal() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
