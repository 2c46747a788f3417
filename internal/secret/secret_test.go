package secret

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

func TestBoxRoundTrip(t *testing.T) {
	key := bytes.Repeat([]byte{7}, KeySize)
	b, err := NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := b.Seal([]byte("s3cret-token"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("s3cret-token")) {
		t.Fatal("sealed data holds the plaintext")
	}
	again, _ := b.Seal([]byte("s3cret-token"))
	if bytes.Equal(sealed, again) {
		t.Fatal("two seals of one value are equal: nonce reused")
	}
	plain, err := b.Open(sealed)
	if err != nil || string(plain) != "s3cret-token" {
		t.Fatalf("open: %q %v", plain, err)
	}
	other, _ := NewBox(bytes.Repeat([]byte{8}, KeySize))
	if _, err := other.Open(sealed); err == nil {
		t.Fatal("opened with another key")
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := b.Open(sealed); err == nil {
		t.Fatal("opened altered data")
	}
	if _, err := NewBox([]byte("short")); err == nil {
		t.Fatal("accepted a short key")
	}
}

func TestParseKey(t *testing.T) {
	key := bytes.Repeat([]byte{0xab}, KeySize)
	for _, s := range []string{strings.Repeat("ab", 32), base64.StdEncoding.EncodeToString(key), base64.RawURLEncoding.EncodeToString(key)} {
		got, err := ParseKey(s)
		if err != nil || !bytes.Equal(got, key) {
			t.Errorf("ParseKey(%q) = %x, %v", s, got, err)
		}
	}
	if _, err := ParseKey("too short"); err == nil || !strings.Contains(err.Error(), "64 hex digits") {
		t.Errorf("ParseKey(bad) = %v", err)
	}
}

func TestRedactor(t *testing.T) {
	const canary = "tok_CANARY+/=&\"x"
	var r Redactor
	r.Add(canary, "ab") // too short to redact
	j, _ := json.Marshal(map[string]string{"auth": "Bearer " + canary})
	cases := []string{
		"Authorization: Bearer " + canary,
		base64.StdEncoding.EncodeToString([]byte(canary)),
		base64.RawURLEncoding.EncodeToString([]byte(canary)),
		"https://x.example/?key=" + url.QueryEscape(canary),
		"https://x.example/" + url.PathEscape(canary),
		string(j),
	}
	for _, c := range cases {
		got := r.String(c)
		for _, f := range Forms(canary) {
			if strings.Contains(got, f) {
				t.Errorf("String(%q) = %q still holds %q", c, got, f)
			}
		}
		if !strings.Contains(got, Mask) {
			t.Errorf("String(%q) = %q has no mask", c, got)
		}
	}
	if got := r.String("about ab"); got != "about ab" {
		t.Errorf("short value redacted: %q", got)
	}
	var empty *Redactor
	if empty.String("x") != "x" || !empty.Empty() {
		t.Error("nil redactor changed text")
	}
}

// TestRedactorGaps covers the echoes that passed the first redactor: the
// secret in another case, in hex, inside a longer base64 text at each
// alignment (a Basic header of user:password, a base64 body), and cut
// short at the end of a text.
func TestRedactorGaps(t *testing.T) {
	const canary = "Tok-CANARY-5f1d9b"
	var r Redactor
	r.Add(canary)
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name, text, leak string
	}{
		{"upper case", "bad token " + strings.ToUpper(canary), strings.ToUpper(canary)},
		{"lower case", "bad token " + strings.ToLower(canary), strings.ToLower(canary)},
		{"hex", "token=" + hex.EncodeToString([]byte(canary)), hex.EncodeToString([]byte(canary))},
		{"upper hex", "token=" + strings.ToUpper(hex.EncodeToString([]byte(canary))), strings.ToUpper(hex.EncodeToString([]byte(canary)))},
		{"basic pair, offset 1", "Authorization: Basic " + b64("a:"+canary), canary},
		{"basic pair, offset 2", "Authorization: Basic " + b64("ab:"+canary), canary},
		{"basic pair, offset 0", "Authorization: Basic " + b64("abc:"+canary+"xyz"), canary},
		{"base64 url alphabet", base64.RawURLEncoding.EncodeToString([]byte("\xff\xfe" + canary + "\xfb")), canary},
		{"cut at the end", "error: bad token " + canary[:9], canary[:9]},
		{"cut at the end, upper", "error: bad token " + strings.ToUpper(canary[:7]), strings.ToUpper(canary[:7])},
		{"base64 cut at the end", "x " + b64(canary)[:10], b64(canary)[:10]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := r.String(tt.text)
			if !strings.Contains(got, Mask) {
				t.Fatalf("String(%q) = %q: nothing redacted", tt.text, got)
			}
			if strings.Contains(got, tt.leak) {
				t.Errorf("String(%q) = %q still holds %q", tt.text, got, tt.leak)
			}
			// What is left of a base64 text must not decode to the secret.
			for _, field := range strings.FieldsFunc(got, func(c rune) bool { return c == ' ' || c == '[' || c == ']' }) {
				for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
					if d, err := enc.DecodeString(field); err == nil && strings.Contains(strings.ToLower(string(d)), strings.ToLower(canary[:minTail])) {
						t.Errorf("String(%q) = %q: %q decodes to %q", tt.text, got, field, d)
					}
				}
			}
		})
	}
	// Not redacted: an unrelated text, a cut shorter than minTail, and a
	// start of the secret that is not at the end of the text.
	for _, text := range []string{"all is well", "bad token " + canary[:minTail-1], `{"token": "` + canary[:5] + `"}`} {
		if got := r.String(text); got != text {
			t.Errorf("String(%q) = %q, want it unchanged", text, got)
		}
	}
}

// TestRedactorCleanTextIsFree checks that a text without secrets comes
// back as it is, without an allocation, however many secrets are known.
func TestRedactorCleanTextIsFree(t *testing.T) {
	var r Redactor
	for i := range 20 {
		r.Add(fmt.Sprintf("secret-value-%02d-abcdef", i))
	}
	b := []byte(strings.Repeat(`{"id": 12, "name": "Ada Lovelace", "note": "secret values are elsewhere"} `, 100))
	if n := testing.AllocsPerRun(20, func() {
		if got := r.Bytes(b); &got[0] != &b[0] {
			t.Fatal("Bytes copied a clean text")
		}
	}); n != 0 {
		t.Errorf("Bytes of a clean text allocated %v times", n)
	}
	// Adding known values again does not rebuild the matcher.
	m := r.matcher()
	r.Add("secret-value-03-abcdef", "secret-value-07-abcdef")
	if r.matcher() != m {
		t.Error("adding known values rebuilt the matcher")
	}
}

// FuzzRedactor checks that redaction never panics, that no registered
// value is left in the text in any ASCII case, and that a text is
// returned unchanged when it holds no form of the value.
func FuzzRedactor(f *testing.F) {
	f.Add("tok-CANARY-1", "bad token tok-CANARY-1 and TOK-canary-1")
	f.Add("abab", "abababab")
	f.Add("s3cr+t", "Basic dXNlcjpzM2NyK3Q= and 733363722B74 and s3cr")
	f.Add("\xff\xfe\x00x", "\xff\xfe\x00x\xff")
	f.Fuzz(func(t *testing.T, value, text string) {
		var r Redactor
		r.Add(value)
		got := r.String(text)
		if b := r.Bytes([]byte(text)); string(b) != got {
			t.Fatalf("String and Bytes differ: %q, %q", got, b)
		}
		if len(value) < minLen || strings.ContainsAny(value, "[]") {
			return
		}
		if strings.Contains(fold(got), fold(value)) {
			t.Fatalf("String(%q) = %q still holds %q", text, got, value)
		}
		clean := true
		for _, form := range Forms(value) {
			if strings.Contains(fold(text), fold(form[:min(len(form), minTail)])) {
				clean = false
			}
		}
		if clean && got != text {
			t.Fatalf("String(%q) = %q changed a text without the value", text, got)
		}
	})
}
