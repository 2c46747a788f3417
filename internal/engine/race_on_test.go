//go:build race

package engine_test

// raceBuild is set when the tests run with -race, which makes them about
// ten times slower: tests of large runs use fewer items then.
const raceBuild = true
