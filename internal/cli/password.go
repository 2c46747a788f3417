package cli

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/term"
)

// stdinTerminal returns the file descriptor of stdin when it is a
// terminal, to read a password from without echo.
func (a *app) stdinTerminal() (int, bool) {
	f, ok := a.stdin.(*os.File)
	if !ok {
		return 0, false
	}
	fd := int(f.Fd())
	return fd, term.IsTerminal(fd)
}

// readPassword reads a password for cmd: the first line of stdin with
// --password-stdin; else, on a terminal, typed without echo after a
// prompt on stderr (twice when confirm, and they must match). Without
// either it is a usage error: a password is never a flag's value, where
// the shell history and ps would show it.
func (a *app) readPassword(cmd string, fromStdin, confirm bool) (string, error) {
	if fromStdin {
		pw, err := readSecretLine(a.stdin)
		if err != nil {
			return "", &usageError{err: fmt.Errorf("reading the password from stdin: %w", err)}
		}
		return pw, nil
	}
	fd, ok := a.stdinTerminal()
	if !ok {
		return "", usagef("%s reads the password from a terminal, or from stdin with --password-stdin (such as: ... --password-stdin < password-file)", cmd)
	}
	pw, err := a.prompt(fd, "Password: ")
	if err != nil {
		return "", err
	}
	if confirm {
		again, err := a.prompt(fd, "Password again: ")
		if err != nil {
			return "", err
		}
		if again != pw {
			return "", usagef("the two passwords differ")
		}
	}
	return pw, nil
}

// prompt reads one password from the terminal fd without echo.
func (a *app) prompt(fd int, label string) (string, error) {
	fmt.Fprint(a.stderr, label)
	b, err := term.ReadPassword(fd)
	fmt.Fprintln(a.stderr)
	if err != nil {
		return "", fmt.Errorf("reading the password from the terminal: %w", err)
	}
	if len(b) == 0 {
		return "", &usageError{err: errors.New("the password is empty")}
	}
	return string(b), nil
}
