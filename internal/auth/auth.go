// Package auth holds Sluice's secrets handling: password hashing (argon2id),
// API tokens (only their SHA-256 is stored), webhook tokens and generated
// passwords. It is the one place that decides how a secret is made and
// checked, so that the API, the CLI and the web portal agree.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// MinPasswordLength is the shortest password, in characters, that
// HashPassword accepts.
const MinPasswordLength = 8

// TokenPrefix starts every API token, so that a leaked token is easy to
// recognise (by people and by secret scanners).
const TokenPrefix = "slc_"

// ErrPasswordTooShort is returned by HashPassword for a password shorter
// than MinPasswordLength characters; its text can be shown to the user.
var ErrPasswordTooShort = fmt.Errorf("password must be at least %d characters long", MinPasswordLength)

// Argon2id parameters for new hashes: OWASP's recommended 19 MiB, two
// passes, one lane. CheckPassword reads the parameters from the hash, so
// they can be raised later without breaking stored hashes.
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonSaltLen = 16
	argonKeyLen  = 32
)

// hashing bounds how many argon2 computations run at once, one per CPU,
// so that a flood of sign-in attempts queues instead of allocating
// argonMemory each without limit.
var hashing = make(chan struct{}, max(1, runtime.NumCPU()))

// idKey is argon2.IDKey under the hashing bound.
func idKey(pw, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
	hashing <- struct{}{}
	defer func() { <-hashing }()
	return argon2.IDKey(pw, salt, time, memory, threads, keyLen)
}

// Limits on parameters read from a stored hash, so that a corrupt or
// hostile hash cannot make CheckPassword allocate without bound.
const (
	maxArgonMemory  = 1024 * 1024 // 1 GiB in KiB
	maxArgonTime    = 64
	maxArgonKeyLen  = 1024
	maxArgonSaltLen = 1024
)

var b64 = base64.RawStdEncoding

// HashPassword hashes a password with argon2id and a random salt, and
// returns it in PHC form: $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>. It
// returns ErrPasswordTooShort for a password shorter than
// MinPasswordLength characters.
func HashPassword(pw string) (string, error) {
	if utf8.RuneCountInString(pw) < MinPasswordLength {
		return "", ErrPasswordTooShort
	}
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: read random salt: %w", err)
	}
	key := idKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// CheckPassword reports whether pw matches a hash made by HashPassword. The
// comparison is constant-time; a malformed hash never matches.
func CheckPassword(hash, pw string) bool {
	p, err := parsePHC(hash)
	if err != nil {
		return false
	}
	key := idKey([]byte(pw), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
	return subtle.ConstantTimeCompare(key, p.key) == 1
}

// phc is a parsed argon2id PHC string.
type phc struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

// parsePHC reads "$argon2id$v=19$m=..,t=..,p=..$salt$hash".
func parsePHC(s string) (phc, error) {
	var p phc
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, errors.New("not an argon2id PHC string")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, fmt.Errorf("unsupported argon2 version %q", parts[2])
	}
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return p, fmt.Errorf("bad argon2 parameter %q", kv)
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return p, fmt.Errorf("bad argon2 parameter %q: %w", kv, err)
		}
		switch k {
		case "m":
			p.memory = uint32(n)
		case "t":
			p.time = uint32(n)
		case "p":
			if n > 255 {
				return p, fmt.Errorf("bad argon2 parameter %q", kv)
			}
			p.threads = uint8(n)
		default:
			return p, fmt.Errorf("unknown argon2 parameter %q", k)
		}
	}
	if p.time < 1 || p.time > maxArgonTime || p.threads < 1 ||
		p.memory < 8*uint32(p.threads) || p.memory > maxArgonMemory {
		return p, errors.New("argon2 parameters out of range")
	}
	var err error
	if p.salt, err = b64.DecodeString(parts[4]); err != nil {
		return p, fmt.Errorf("bad argon2 salt: %w", err)
	}
	if p.key, err = b64.DecodeString(parts[5]); err != nil {
		return p, fmt.Errorf("bad argon2 hash: %w", err)
	}
	if len(p.salt) == 0 || len(p.salt) > maxArgonSaltLen || len(p.key) < 16 || len(p.key) > maxArgonKeyLen {
		return p, errors.New("argon2 salt or hash length out of range")
	}
	return p, nil
}

// NewToken makes an API token: plain is what the user keeps ("slc_"
// followed by 32 random bytes in unpadded base64url) and hash is its
// SHA-256, the only form the store keeps.
func NewToken() (plain string, hash []byte, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("new token: read random bytes: %w", err)
	}
	plain = TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return plain, HashToken(plain), nil
}

// HashToken returns the SHA-256 of a plain token, the key under which the
// store finds it. A token carries 256 random bits, so a fast unsalted hash
// is enough.
func HashToken(plain string) []byte {
	sum := sha256.Sum256([]byte(plain))
	return sum[:]
}

// NewWebhookToken makes the unguessable part of a flow's webhook URL: 24
// random bytes (192 bits) as 32 characters of unpadded base64url.
func NewWebhookToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("new webhook token: read random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// RandomPassword returns a new password of 26 base32 characters (130 bits),
// for the first admin account when no password is configured. It cannot
// fail: crypto/rand never returns an error.
func RandomPassword() string {
	return rand.Text()
}
