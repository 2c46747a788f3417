package cli

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// versionOptions are the options of `sluice version`.
type versionOptions struct{}

func (versionOptions) validate() error { return nil }

func (a *app) versionCommand() *cobra.Command {
	var o versionOptions
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of this sluice binary",
		Long: `Print the version of this sluice binary: its module version, the commit it
was built from (with "modified" when the tree had changes), and the Go
version and platform. Nothing is sent to a server.`,
		Args: argsRange(0, 0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runValidated(cmd.Context(), o, a.version)
		},
	}
}

// version prints what the binary's build information says of it.
func (a *app) version(_ context.Context, _ versionOptions) error {
	fmt.Fprintln(a.stdout, versionLine(debug.ReadBuildInfo()))
	return nil
}

// versionLine describes a build, such as "sluice v1.2.0 (commit 1a2b3c4d5e6f,
// 2026-11-28T10:00:00Z) go1.26.8 linux/amd64". A binary built without
// module information (go run of a file) says "sluice (unknown version)".
func versionLine(info *debug.BuildInfo, ok bool) string {
	v := "(unknown version)"
	var commit, at string
	modified := false
	if ok {
		v = info.Main.Version
		if v == "" {
			v = "(devel)"
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	line := "sluice " + v
	if commit != "" {
		line += " (commit " + commit[:min(len(commit), 12)]
		if at != "" {
			line += ", " + at
		}
		if modified {
			line += ", modified"
		}
		line += ")"
	}
	return line + " " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
}
