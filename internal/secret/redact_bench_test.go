package secret

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net/url"
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
//
// The replacer cases measure, in the same run, what redaction cost before
// this redactor: a strings.Replacer of each value's plain, base64, URL and
// JSON forms, case-sensitive.
func BenchmarkRedactor(b *testing.B) {
	values := []string{"ghp_R4nd0mT0k3nV4lu3AbCdEfGh1234567890", "hunter2-correct-horse", "ann:hunter2-correct-horse",
		"key-9a8b7c6d5e4f3a2b1c0d", "cs-0f1e2d3c4b5a69788796", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl"}
	var r Redactor
	r.Add(values...)
	var pairs []string
	for _, v := range values {
		for _, f := range []string{v, base64.StdEncoding.EncodeToString([]byte(v)), base64.RawStdEncoding.EncodeToString([]byte(v)),
			base64.URLEncoding.EncodeToString([]byte(v)), base64.RawURLEncoding.EncodeToString([]byte(v)), url.QueryEscape(v), url.PathEscape(v)} {
			pairs = append(pairs, f, Mask)
		}
	}
	replacer := strings.NewReplacer(pairs...)
	for _, size := range []int{1 << 10, 64 << 10, 1 << 20} {
		clean := benchText(size)
		dirty := clean[:len(clean)/2] + "hunter2-correct-horse" + clean[len(clean)/2:]
		for _, tc := range []struct{ name, text string }{{"clean", clean}, {"one-secret", dirty}} {
			b.Run(fmt.Sprintf("%s/%dKiB/redactor", tc.name, size>>10), func(b *testing.B) {
				b.SetBytes(int64(len(tc.text)))
				for b.Loop() {
					r.String(tc.text)
				}
			})
			b.Run(fmt.Sprintf("%s/%dKiB/replacer", tc.name, size>>10), func(b *testing.B) {
				b.SetBytes(int64(len(tc.text)))
				for b.Loop() {
					replacer.Replace(tc.text)
				}
			})
		}
	}
}
