package secret

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
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
