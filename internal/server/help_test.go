package server

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCommunityURLValidated(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ url, want string }{
		{"https://community.example.com/c/sluice", ""},
		{"ftp://community.example.com", "SLUICE_COMMUNITY_URL"},
		{"community.example.com", "must be an http or https URL"},
	} {
		c := Config{CommunityURL: tc.url}
		err := c.validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("CommunityURL %q: %v, want %q", tc.url, err, tc.want)
		}
	}
}

// TestBadHelpDirRefusesStart: the server does not start on an article it
// cannot read, and says which.
func TestBadHelpDirRefusesStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "vpn.md"), []byte("no front matter"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := Run(t.Context(), Config{DataDir: t.TempDir(), Addr: "127.0.0.1:0", HelpDir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "SLUICE_HELP_DIR") || !strings.Contains(err.Error(), "vpn.md") {
		t.Errorf("Run: %v", err)
	}
}
