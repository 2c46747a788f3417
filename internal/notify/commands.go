package notify

import "github.com/sluice/sluice/internal/connection"

// The commands that Sluice's emails and notifications suggest. Each one
// runs as written, with the names filled in: a test in internal/cli
// parses every one against the real command tree. A secret is never on
// the command line (where the shell history keeps it): the *-stdin flags
// read it.

// UserRepairOffCommand turns off every repair-tip email of the user who
// runs it.
const UserRepairOffCommand = "sluice users settings --repair-emails never"

// FlowRepairOffCommand turns off the repair-tip emails of one flow.
func FlowRepairOffCommand(flow string) string {
	return "sluice flows settings " + shellQuote(flow) + " --repair-emails off"
}

// ConnectionFixCommands update a connection of type typ with a new secret
// read from stdin, verify it, and resubmit the runs that failed on it
// since it broke.
func ConnectionFixCommands(name, typ string) []string {
	return []string{
		connection.UpdateCommand(name, typ),
		"sluice connections verify " + shellQuote(name),
		"sluice runs resubmit --connection " + shellQuote(name) + " --wait",
	}
}

// TurnedOffCommands list the failed runs of a flow that was turned off,
// and turn it back on.
func TurnedOffCommands(flow string) []string {
	return []string{
		"sluice runs list --flow " + shellQuote(flow) + " --status failed",
		"sluice flows enable " + shellQuote(flow),
	}
}
