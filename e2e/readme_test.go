package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReadmeFirstSteps follows the README's First steps in a fresh copy of
// the examples, as one shell script: the same lines, with the freshly
// built binary for `go run ./cmd/sluice` and `go build`, and a free port
// for 8080. It must run to the end: login with the password it exported,
// the webhook's answer, the failure to fix (502 naming the run), and the
// problem no longer ongoing once the caller sends good data.
func TestReadmeFirstSteps(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "## First steps")
	if !ok {
		t.Fatal("README has no First steps")
	}
	_, block, ok := strings.Cut(after, "```sh\n")
	if !ok {
		t.Fatal("First steps has no sh block")
	}
	block, _, _ = strings.Cut(block, "```")
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "examples"), os.DirFS("../examples")); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	script := strings.NewReplacer(
		"go run ./cmd/sluice", binary,
		"go build -o sluice ./cmd/sluice", "ln -s "+binary+" sluice",
		"127.0.0.1:8080", addr,
	).Replace(block)
	cmd := exec.Command("bash", "-e", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SLUICE_ADDR="+addr, "XDG_CONFIG_HOME="+t.TempDir(), "SLUICE_SERVER=", "SLUICE_TOKEN=", "SLUICE_ADMIN_PASSWORD=")
	// A file, not a pipe: the background server keeps its output open
	// after the script ends.
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	// The server the script starts in the background is in its process
	// group, stopped with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	read := func() string {
		b, _ := os.ReadFile(out.Name())
		return string(b)
	}
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("the First steps did not finish:\n%s", read())
	}
	text := read()
	if err != nil {
		t.Fatalf("the First steps failed: %v\n%s", err, text)
	}
	for _, want := range []string{"logged in to http://" + addr, `"price":9`, `"code":"run_failed"`, `"run_id":2`, `"price":13.5`} {
		if !strings.Contains(text, want) {
			t.Errorf("the First steps' output lacks %q:\n%s", want, text)
		}
	}
	if !regexp.MustCompile(`(?m)^Quote a price +quote +expression\.error .* ongoing *$`).MatchString(text) ||
		!regexp.MustCompile(`(?m)^Quote a price +quote +expression\.error .* resolved *$`).MatchString(text) {
		t.Errorf("problems did not show the failure ongoing, then fixed:\n%s", text)
	}
}
