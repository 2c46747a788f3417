package flow

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/parser"
)

// CheckConnections returns a problem for each action whose connection is
// not one of known, the names of the connections the flow's owner has,
// with the closest name as a "did you mean". The checker itself knows no
// store: the API passes the owner's connection names when a flow is
// checked or saved, so that a misspelt connection is refused then rather
// than failing the first run. src is the source d was parsed from; the
// problems carry the line and column of each connection field in it.
func (d *Definition) CheckConnections(src []byte, known []string) []Problem {
	var out []Problem
	var walk func(path string, list []*Action)
	walk = func(path string, list []*Action) {
		for i, a := range list {
			p := path + "[" + strconv.Itoa(i) + "]"
			if a.Connection != "" && !slices.Contains(known, a.Connection) {
				out = append(out, Problem{Path: p + ".connection", Message: unknownConnection(a.Connection, known)})
			}
			walk(p+".then", a.Then)
			walk(p+".else", a.Else)
			walk(p+".actions", a.Actions)
		}
	}
	walk("actions", d.Actions)
	if len(out) == 0 {
		return nil
	}
	locate(src, out)
	return sortProblems(out)
}

// unknownConnection says that name is not one of known, and what to do.
func unknownConnection(name string, known []string) string {
	msg := fmt.Sprintf("no connection named %q", name) + didYouMean(name, known)
	switch {
	case len(known) == 0:
		return msg + "; you have no connections yet: create it first (see sluice connections add --help)"
	case len(known) <= 10:
		return msg + "; your connections are " + oneOf(known)
	}
	return msg + "; see sluice connections list"
}

// locate sets the line and column of each problem from its path in src,
// leaving them zero where the path cannot be followed (an alias).
func locate(src []byte, ps []Problem) {
	file, err := parser.ParseBytes(src, 0)
	if err != nil {
		return
	}
	for i := range ps {
		path, err := yaml.PathString("$." + ps[i].Path)
		if err != nil {
			continue
		}
		n, err := path.FilterFile(file)
		if err != nil || n == nil {
			continue
		}
		if tk := n.GetToken(); tk != nil && tk.Position != nil {
			ps[i].Line, ps[i].Column = tk.Position.Line, tk.Position.Column
		}
	}
}
