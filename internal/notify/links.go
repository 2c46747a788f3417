package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Link purposes: what a link in an email leads to.
const (
	// PurposeRetry leads to a page that resubmits the run with the same
	// input once its owner signs in and confirms.
	PurposeRetry = "retry"
	// PurposeFix leads to the run page, with the failed step and its
	// diagnosis.
	PurposeFix = "fix"
)

// Errors VerifyLink returns; test them with errors.Is.
var (
	// ErrLinkInvalid means the token is malformed or its signature does
	// not match: it was cut, altered or made with another key.
	ErrLinkInvalid = errors.New("link is not valid")
	// ErrLinkExpired means the token is genuine but too old.
	ErrLinkExpired = errors.New("link has expired")
)

// Link is what a signed link token carries.
type Link struct {
	// Purpose is PurposeRetry or PurposeFix.
	Purpose string
	// RunID is the run the link is about.
	RunID int64
	// UserID is the user the link was sent to.
	UserID int64
	// Expires is when the link stops working.
	Expires time.Time
}

const (
	linkVersion = 1
	// linkPayload is version, purpose, run id, user id and expiry.
	linkPayload = 1 + 1 + 8 + 8 + 8
	linkLen     = linkPayload + sha256.Size
)

var purposeCodes = map[string]byte{PurposeRetry: 1, PurposeFix: 2}

func purposeName(c byte) string {
	for name, code := range purposeCodes {
		if code == c {
			return name
		}
	}
	return ""
}

// LinkKey derives the key that signs links from the server's secret key,
// so that the key that seals connection secrets is never used directly
// for anything else.
func LinkKey(secretKey []byte) []byte {
	mac := hmac.New(sha256.New, secretKey)
	mac.Write([]byte("sluice link tokens v1"))
	return mac.Sum(nil)
}

// SignLink returns an opaque token (base64url, no padding) for a link in
// an email: it names the purpose (PurposeRetry or PurposeFix), the run and
// the user it was sent to, stops working at expiry, and is signed with
// HMAC-SHA256 under key so that it cannot be forged or altered. It panics
// on an unknown purpose, which is a programming error.
func SignLink(key []byte, purpose string, runID, userID int64, expiry time.Time) string {
	code, ok := purposeCodes[purpose]
	if !ok {
		panic(fmt.Sprintf("notify: unknown link purpose %q", purpose))
	}
	b := make([]byte, linkPayload, linkLen)
	b[0], b[1] = linkVersion, code
	binary.BigEndian.PutUint64(b[2:], uint64(runID))
	binary.BigEndian.PutUint64(b[10:], uint64(userID))
	binary.BigEndian.PutUint64(b[18:], uint64(expiry.Unix()))
	b = append(b, linkMAC(key, b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

func linkMAC(key, payload []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write(payload)
	return mac.Sum(nil)
}

// VerifyLink checks a token made by SignLink with the same key. A token
// that does not decode or whose signature does not match returns
// ErrLinkInvalid; a genuine token past its expiry returns the Link it
// carries together with ErrLinkExpired, so that a page can still say which
// run it was about. The signature is compared in constant time.
func VerifyLink(key []byte, token string) (Link, error) {
	return verifyLinkAt(key, token, time.Now())
}

func verifyLinkAt(key []byte, token string, now time.Time) (Link, error) {
	if len(token) != base64.RawURLEncoding.EncodedLen(linkLen) {
		return Link{}, fmt.Errorf("%w: wrong length", ErrLinkInvalid)
	}
	// Strict: a token that differs only in unused trailing bits is refused.
	b, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(b) != linkLen {
		return Link{}, fmt.Errorf("%w: not a link token", ErrLinkInvalid)
	}
	payload, sig := b[:linkPayload], b[linkPayload:]
	if !hmac.Equal(sig, linkMAC(key, payload)) {
		return Link{}, fmt.Errorf("%w: signature does not match", ErrLinkInvalid)
	}
	// The signature holds, so the payload is what SignLink wrote.
	purpose := purposeName(payload[1])
	if payload[0] != linkVersion || purpose == "" {
		return Link{}, fmt.Errorf("%w: unknown version or purpose", ErrLinkInvalid)
	}
	l := Link{
		Purpose: purpose,
		RunID:   int64(binary.BigEndian.Uint64(payload[2:])),
		UserID:  int64(binary.BigEndian.Uint64(payload[10:])),
		Expires: time.Unix(int64(binary.BigEndian.Uint64(payload[18:])), 0).UTC(),
	}
	if !now.Before(l.Expires) {
		return l, fmt.Errorf("%w on %s", ErrLinkExpired, l.Expires.Format(time.RFC1123))
	}
	return l, nil
}
