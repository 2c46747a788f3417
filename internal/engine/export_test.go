package engine

// ReplayScans returns how many recorded steps the engine's replays have
// looked at since it was created.
func (e *Engine) ReplayScans() int64 { return e.replayScans.Load() }
