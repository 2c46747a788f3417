package cli

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice/sluice/internal/engine"
	"github.com/sluice/sluice/internal/notify"
	"github.com/sluice/sluice/internal/server"
)

// TestReadmeDefaults checks the defaults in the README's configuration
// table against the constants that hold them, so that a default changed
// in the code cannot leave the README stale.
func TestReadmeDefaults(t *testing.T) {
	want := map[string]string{
		"SLUICE_DATA":                     "./" + server.DefaultDataDir,
		"SLUICE_ADDR":                     server.DefaultAddr,
		"SLUICE_WORKERS":                  strconv.Itoa(engine.DefaultWorkers),
		"SLUICE_RETENTION":                settingDuration(engine.DefaultRetention),
		"SLUICE_ADMIN_EMAIL":              server.DefaultAdminEmail,
		"SLUICE_REPAIR_GRACE":             settingDuration(notify.DefaultGrace),
		"SLUICE_DISABLE_AFTER":            settingDuration(notify.DefaultDisableAfter),
		"SLUICE_READ_HEADER_TIMEOUT":      settingDuration(server.DefaultReadHeaderTimeout),
		"SLUICE_READ_TIMEOUT":             settingDuration(server.DefaultReadTimeout),
		"SLUICE_WRITE_TIMEOUT":            settingDuration(server.DefaultWriteTimeout),
		"SLUICE_IDLE_TIMEOUT":             settingDuration(server.DefaultIdleTimeout),
		"SLUICE_MAX_CONNS":                strconv.Itoa(server.DefaultMaxConns),
		"SLUICE_MAX_CONNS_PER_CLIENT":     strconv.Itoa(server.DefaultMaxConnsPerClient),
		"SLUICE_SESSION_IDLE":             settingDuration(server.DefaultSessionIdle),
		"SLUICE_SESSION_LIFETIME":         settingDuration(server.DefaultSessionLifetime),
		"SLUICE_MAX_RUN_STEPS":            strconv.Itoa(engine.DefaultMaxRunSteps),
		"SLUICE_MAX_RUN_EXPRESSION_STEPS": strconv.Itoa(engine.DefaultMaxRunExpressionSteps),
		"SLUICE_MAX_RUN_EXPRESSION_TIME":  settingDuration(engine.DefaultMaxRunExpressionTime),
		"SLUICE_MAX_RUN_MEMORY":           strconv.Itoa(engine.DefaultMaxRunMemory>>20) + "MiB",
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("^\\| [^|]*`(SLUICE_[A-Z_]+)`[^|]*\\|.*\\| `([^`]*)` \\|$")
	seen := map[string]bool{}
	for line := range strings.Lines(string(readme)) {
		m := row.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		w, ok := want[m[1]]
		if !ok {
			continue
		}
		seen[m[1]] = true
		if m[2] != w {
			t.Errorf("README gives %s the default %q; the code's is %q", m[1], m[2], w)
		}
	}
	for env := range want {
		if !seen[env] {
			t.Errorf("README's configuration table has no row for %s with its default", env)
		}
	}
	// The help of serve says the same.
	help := serveHelp()
	for _, s := range []string{want["SLUICE_REPAIR_GRACE"], want["SLUICE_DISABLE_AFTER"], want["SLUICE_MAX_CONNS"]} {
		if !strings.Contains(help, s) {
			t.Errorf("serve's help does not give the default %q:\n%s", s, help)
		}
	}
}

// TestSettingDuration checks how defaults are written.
func TestSettingDuration(t *testing.T) {
	for d, want := range map[string]string{"336h": "14d", "1m": "1m", "2m": "2m", "90s": "1m30s", "1h": "1h", "30s": "30s", "25h": "25h"} {
		pd, err := parseDuration("test", d, false, "a duration")
		if err != nil {
			t.Fatal(err)
		}
		if got := settingDuration(pd); got != want {
			t.Errorf("settingDuration(%s) = %q, want %q", d, got, want)
		}
	}
}
