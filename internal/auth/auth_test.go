package auth

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestHashPassword(t *testing.T) {
	t.Parallel()
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	phcRE := regexp.MustCompile(`^\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$`)
	if !phcRE.MatchString(h) {
		t.Fatalf("hash %q is not a PHC argon2id string", h)
	}
	if strings.Contains(h, "correct horse") {
		t.Fatal("hash contains the password")
	}
	h2, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if h == h2 {
		t.Fatal("two hashes of the same password are equal: salt is not random")
	}
	tests := []struct {
		name string
		hash string
		pw   string
		want bool
	}{
		{"right", h, "correct horse", true},
		{"right second hash", h2, "correct horse", true},
		{"wrong", h, "correct horsf", false},
		{"empty", h, "", false},
		{"garbage hash", "nope", "correct horse", false},
		{"empty hash", "", "", false},
		{"bcrypt-like", "$2a$10$abcdefghijklmnopqrstuv", "correct horse", false},
		{"huge memory", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "x", false},
		{"bad version", strings.Replace(h, "v=19", "v=16", 1), "correct horse", false},
		{"extra param", strings.Replace(h, "p=1$", "p=1,x=1$", 1), "correct horse", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CheckPassword(tt.hash, tt.pw); got != tt.want {
				t.Fatalf("CheckPassword = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestHashPasswordTooShort(t *testing.T) {
	t.Parallel()
	for _, pw := range []string{"", "short", "1234567", "ééééééé"} {
		if _, err := HashPassword(pw); !errors.Is(err, ErrPasswordTooShort) {
			t.Errorf("HashPassword(%q) error = %v, want ErrPasswordTooShort", pw, err)
		}
	}
	// Eight characters, counted as characters and not bytes.
	if _, err := HashPassword("éééééééé"); err != nil {
		t.Errorf("eight-character password rejected: %v", err)
	}
}

func TestNewToken(t *testing.T) {
	t.Parallel()
	plain, hash, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(plain, "slc_") {
		t.Fatalf("token %q lacks the slc_ prefix", plain)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(plain, "slc_"))
	if err != nil || len(raw) != 32 {
		t.Fatalf("token body is not 32 bytes of base64url: %v (%d bytes)", err, len(raw))
	}
	want := sha256.Sum256([]byte(plain))
	if !bytes.Equal(hash, want[:]) || !bytes.Equal(HashToken(plain), hash) {
		t.Fatal("hash is not the SHA-256 of the plain token")
	}
	other, _, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if other == plain {
		t.Fatal("two tokens are equal")
	}
}

func TestNewWebhookToken(t *testing.T) {
	t.Parallel()
	tok, err := NewWebhookToken()
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) != 32 {
		t.Fatalf("webhook token %q has %d characters, want 32", tok, len(tok))
	}
	if raw, err := base64.RawURLEncoding.DecodeString(tok); err != nil || len(raw) != 24 {
		t.Fatalf("webhook token is not 24 bytes of base64url: %v", err)
	}
}

func TestRandomPassword(t *testing.T) {
	t.Parallel()
	a, b := RandomPassword(), RandomPassword()
	if len(a) < MinPasswordLength || a == b {
		t.Fatalf("RandomPassword gave %q and %q", a, b)
	}
	if _, err := HashPassword(a); err != nil {
		t.Fatalf("a random password is rejected: %v", err)
	}
}
