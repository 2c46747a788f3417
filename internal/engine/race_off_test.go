//go:build !race

package engine_test

// raceBuild is set when the tests run with -race (see race_on_test.go).
const raceBuild = false
