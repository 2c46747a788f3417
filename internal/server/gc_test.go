package server

import (
	"os"
	"runtime/debug"
	"testing"
)

// TestTuneGC checks that the server's GC percentage applies only when
// the environment does not set GOGC.
func TestTuneGC(t *testing.T) {
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)

	t.Setenv("GOGC", "150")
	tuneGC()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC=150 in the environment: GC percent %d, want it left at 100", got)
	}
	t.Setenv("GOGC", "")
	tuneGC()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC set empty: GC percent %d, want it left at 100", got)
	}
}

// TestTuneGCDefault checks the default when GOGC is unset.
func TestTuneGCDefault(t *testing.T) {
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	unsetenv(t, "GOGC")
	tuneGC()
	if got := debug.SetGCPercent(100); got != DefaultGCPercent {
		t.Errorf("with GOGC unset: GC percent %d, want %d", got, DefaultGCPercent)
	}
}

// unsetenv removes name from the environment for the test, restoring it
// afterwards.
func unsetenv(t *testing.T, name string) {
	t.Helper()
	t.Setenv(name, "") // registers the restore
	if err := os.Unsetenv(name); err != nil {
		t.Fatal(err)
	}
}
