package secret

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// benchText returns n bytes of JSON-like text that look like an API answer,
// holding no secret.
func benchText(n int) string {
	r := rand.New(rand.NewPCG(1, 2))
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
	var b strings.Builder
	for b.Len() < n {
		fmt.Fprintf(&b, `{"id":%d,"name":"`, r.IntN(1e6))
		for range 8 + r.IntN(24) {
			b.WriteByte(alphabet[r.IntN(len(alphabet))])
		}
		b.WriteString(`","tags":["alpha","beta"],"note":"the quick brown fox jumps over the lazy dog"},`)
	}
	return b.String()[:n]
}

// BenchmarkRedactor measures redaction of step outputs of several sizes
// with the secrets of five connections registered, as a run that used
// them would have: a bearer token, a basic password and its pair, an API
// key and an OAuth2 client secret and access token.
func BenchmarkRedactor(b *testing.B) {
	var r Redactor
	r.Add("ghp_R4nd0mT0k3nV4lu3AbCdEfGh1234567890", "hunter2-correct-horse", "ann:hunter2-correct-horse",
		"key-9a8b7c6d5e4f3a2b1c0d", "cs-0f1e2d3c4b5a69788796", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl")
	for _, size := range []int{1 << 10, 64 << 10, 1 << 20} {
		text := benchText(size)
		b.Run(fmt.Sprintf("clean/%dKiB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				r.String(text)
			}
		})
		dirty := text[:len(text)/2] + "hunter2-correct-horse" + text[len(text)/2:]
		b.Run(fmt.Sprintf("one-secret/%dKiB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(len(dirty)))
			for b.Loop() {
				r.String(dirty)
			}
		})
	}
}
