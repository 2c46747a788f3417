package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/sluice/sluice/internal/secret"
	"github.com/sluice/sluice/internal/store"
)

// hookPrefix starts the path of every webhook request, as a run input
// records it.
const hookPrefix = "/hooks/"

// scrubChunk is how many runs ScrubStoredInputs reads, and rewrites in one
// transaction, at a time: an input may be as large as the payload cap, so
// a chunk is small, and the write of one holds the SQLite writer for well
// under a millisecond per run.
const scrubChunk = 32

// ScrubStoredInputs redacts, in place, the run inputs stored before
// WebhookTrigger redacted them: the webhook token in path, and the values
// of the headers and query parameters SensitiveName names. New runs store
// inputs redacted already, and a resubmitted run copies the stored input,
// so after the pass no input holds them. It finds the runs by their input's
// path (one not yet starting with /hooks/[redacted]), so a second pass,
// at the next start, reads nothing it has to change; it is therefore run
// at every start, in the background. It returns how many inputs it changed.
func ScrubStoredInputs(ctx context.Context, st store.Store) (int, error) {
	filter := store.RunFilter{InputPathPrefix: hookPrefix, InputPathExcept: hookPrefix + secret.Mask, Oldest: true, Limit: scrubChunk}
	changed := 0
	for {
		runs, err := st.ListRuns(ctx, filter)
		if err != nil {
			return changed, fmt.Errorf("scrub stored webhook inputs: %w", err)
		}
		inputs := map[int64]json.RawMessage{}
		for _, r := range runs {
			filter.AfterID = r.ID
			if in, ok := ScrubInput(r.Input); ok {
				inputs[r.ID] = in
			}
		}
		if err := st.SetRunInputs(ctx, inputs); err != nil {
			return changed, fmt.Errorf("scrub stored webhook inputs: %w", err)
		}
		changed += len(inputs)
		if len(runs) < scrubChunk {
			return changed, nil
		}
	}
}

// ScrubInput returns a stored webhook input with the webhook token in its
// path and the values of its sensitive headers and query parameters
// replaced by secret.Mask, as WebhookTrigger stores them now, and whether
// it changed anything. The other fields (the body above all) are kept as
// they are. An input that is not a JSON object is left alone.
func ScrubInput(raw json.RawMessage) (json.RawMessage, bool) {
	var in map[string]json.RawMessage
	if err := json.Unmarshal(raw, &in); err != nil || in == nil {
		return raw, false
	}
	changed := false
	var path string
	if json.Unmarshal(in["path"], &path) == nil && strings.HasPrefix(path, hookPrefix) {
		token, rest, _ := strings.Cut(path[len(hookPrefix):], "/")
		if token != secret.Mask {
			if rest != "" {
				rest = "/" + rest
			}
			in["path"], _ = json.Marshal(hookPrefix + secret.Mask + rest)
			changed = true
		}
	}
	for _, field := range []string{"headers", "query"} {
		var m map[string]any
		if json.Unmarshal(in[field], &m) != nil || m == nil {
			continue
		}
		masked := false
		for k, v := range m {
			if SensitiveName(k) && v != secret.Mask {
				m[k], masked = secret.Mask, true
			}
		}
		if masked {
			in[field], _ = json.Marshal(m)
			changed = true
		}
	}
	if !changed {
		return raw, false
	}
	out, err := json.Marshal(in)
	if err != nil {
		return raw, false
	}
	return out, true
}
