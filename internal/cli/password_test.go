//go:build linux

package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal: the controller, which the test types
// into and reads the echo from, and the terminal the CLI reads.
func openPTY(t *testing.T) (ctrl, tty *os.File) {
	t.Helper()
	ctrl, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	t.Cleanup(func() { ctrl.Close() })
	if err := unix.IoctlSetPointerInt(int(ctrl.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(int(ctrl.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pseudo-terminal number: %v", err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open the pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { tty.Close() })
	return ctrl, tty
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runOnTTY runs the CLI with a terminal for stdin, types each line when
// the CLI has prompted for it, and returns the result and what the
// terminal echoed.
func (b *bundle) runOnTTY(t *testing.T, lines []string, args ...string) (result, string) {
	t.Helper()
	ctrl, tty := openPTY(t)
	var out bytes.Buffer
	errOut := &syncBuffer{}
	a := newApp(tty, &out, errOut, func(k string) string { return b.env[k] })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- a.main(ctx, args) }()
	for i, line := range lines {
		// Wait for the i-th prompt, then type: a line typed before the
		// prompt would be echoed, since echo is off only while reading.
		for strings.Count(errOut.String(), "Password") <= i {
			select {
			case code := <-done:
				return result{code: code, stdout: out.String(), stderr: errOut.String()}, ""
			case <-time.After(5 * time.Millisecond):
			}
		}
		if _, err := io.WriteString(ctrl, line+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	code := <-done
	tty.Close()
	_ = ctrl.SetReadDeadline(time.Now().Add(time.Second))
	echo, _ := io.ReadAll(ctrl)
	return result{code: code, stdout: out.String(), stderr: errOut.String()}, string(echo)
}

// TestPasswordPrompt: login and users create without --password-stdin
// ask for the password on a terminal, without echo (users create twice);
// anywhere else they say how to give it.
func TestPasswordPrompt(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.env = map[string]string{"XDG_CONFIG_HOME": b.configDir}
	r, echo := b.runOnTTY(t, []string{"s3cret pw"}, "login", "--server", b.api.srv.URL, "--email", "ada@example.com")
	r.check(t, ExitOK, []string{"logged in to " + b.api.srv.URL}, []string{"Password: "})
	if strings.Contains(echo, "s3cret") {
		t.Errorf("the terminal echoed the password: %q", echo)
	}
	b.env["SLUICE_SERVER"], b.env["SLUICE_TOKEN"] = b.api.srv.URL, goodToken
	r, _ = b.runOnTTY(t, []string{"first pw", "other pw"}, "users", "create", "--email", "bo@example.com", "--name", "Bo")
	r.check(t, ExitUsage, nil, []string{"Password again: ", "the two passwords differ"})
	r, echo = b.runOnTTY(t, []string{"long enough pw", "long enough pw"}, "users", "create", "--email", "bo@example.com", "--name", "Bo")
	if r.code == ExitUsage || strings.Contains(echo, "long enough") {
		t.Errorf("users create on a terminal: exit %d, echo %q\n%s", r.code, echo, r.stderr)
	}
	if last := b.api.last(t); !strings.HasSuffix(last.Path, "/users") || last.Body["password"] != "long enough pw" {
		t.Errorf("users create sent %s %v", last.Path, last.Body)
	}
	// Not a terminal, no --password-stdin: a usage error naming it.
	r = b.run(t, "s3cret pw\n", "login", "--server", b.api.srv.URL, "--email", "ada@example.com")
	r.check(t, ExitUsage, nil, []string{"--password-stdin"})
}
