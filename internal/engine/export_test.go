package engine

import "time"

// ReplayScans returns how many recorded steps the engine's replays have
// looked at since it was created.
func (e *Engine) ReplayScans() int64 { return e.replayScans.Load() }

// SetUnsavedWindow sets how long a new run is worked before it is
// committed anyway.
func SetUnsavedWindow(c *Config, d time.Duration) { c.unsavedWindow = d }

// WaitStarted waits until Run has begun: a run started before that is
// queued rather than worked at once.
func (e *Engine) WaitStarted() { <-e.started }
