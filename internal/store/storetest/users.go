package storetest

import (
	"bytes"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/store"
)

// userTests check users: creation, lookup and uniqueness of emails.
var userTests = []test{
	{"CreateAndGet", func(t *testing.T, open opener) {
		st := open(t)
		ctx := t.Context()
		before := time.Now()
		u, err := st.CreateUser(ctx, store.User{Email: "Ada@Example.com", Name: "Ada", PasswordHash: "h1", Role: store.RoleAdmin})
		requireNoError(t, err, "CreateUser")
		if u.ID == 0 {
			t.Fatal("CreateUser: id is zero")
		}
		requireBetween(t, u.CreatedAt, before, time.Now(), "CreateUser created_at")

		got, err := st.GetUser(ctx, u.ID)
		requireNoError(t, err, "GetUser")
		if got.ID != u.ID || got.Email != "Ada@Example.com" || got.Name != "Ada" || got.PasswordHash != "h1" || got.Role != store.RoleAdmin {
			t.Fatalf("GetUser: got %+v, want %+v", got, u)
		}
		requireTime(t, got.CreatedAt, u.CreatedAt, "GetUser created_at")
	}},
	{"GetUserNotFound", func(t *testing.T, open opener) {
		st := open(t)
		_, err := st.GetUser(t.Context(), 424242)
		requireErrorIs(t, err, store.ErrNotFound, "GetUser(missing)")
		_, err = st.GetUserByEmail(t.Context(), "nobody@example.com")
		requireErrorIs(t, err, store.ErrNotFound, "GetUserByEmail(missing)")
	}},
	{"GetUserByEmailIgnoresCase", func(t *testing.T, open opener) {
		st := open(t)
		u := createUser(t, st, "Grace.Hopper@Example.com")
		for _, email := range []string{"Grace.Hopper@Example.com", "grace.hopper@example.com", "GRACE.HOPPER@EXAMPLE.COM"} {
			got, err := st.GetUserByEmail(t.Context(), email)
			requireNoError(t, err, "GetUserByEmail("+email+")")
			if got.ID != u.ID {
				t.Fatalf("GetUserByEmail(%q): got user %d, want %d", email, got.ID, u.ID)
			}
		}
	}},
	{"DuplicateEmailConflicts", func(t *testing.T, open opener) {
		st := open(t)
		createUser(t, st, "linus@example.com")
		for _, email := range []string{"linus@example.com", "LINUS@example.COM"} {
			_, err := st.CreateUser(t.Context(), store.User{Email: email, PasswordHash: "h", Role: store.RoleMaker})
			requireErrorIs(t, err, store.ErrConflict, "CreateUser("+email+")")
		}
		n, err := st.CountUsers(t.Context())
		requireNoError(t, err, "CountUsers")
		if n != 1 {
			t.Fatalf("CountUsers after conflicts: got %d, want 1", n)
		}
	}},
	{"ListAndCount", func(t *testing.T, open opener) {
		st := open(t)
		ctx := t.Context()
		n, err := st.CountUsers(ctx)
		requireNoError(t, err, "CountUsers(empty)")
		if n != 0 {
			t.Fatalf("CountUsers(empty): got %d, want 0", n)
		}
		users, err := st.ListUsers(ctx)
		requireNoError(t, err, "ListUsers(empty)")
		if len(users) != 0 {
			t.Fatalf("ListUsers(empty): got %d users", len(users))
		}
		var want []int64
		for range 3 {
			want = append(want, createUser(t, st, "").ID)
		}
		users, err = st.ListUsers(ctx)
		requireNoError(t, err, "ListUsers")
		var got []int64
		for _, u := range users {
			got = append(got, u.ID)
		}
		if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
			t.Fatalf("ListUsers: got ids %v, want %v", got, want)
		}
		n, err = st.CountUsers(ctx)
		requireNoError(t, err, "CountUsers")
		if n != 3 {
			t.Fatalf("CountUsers: got %d, want 3", n)
		}
	}},
}

// tokenTests check API tokens: lookup by hash and per-user deletion.
var tokenTests = []test{
	{"CreateAndGetByHash", func(t *testing.T, open opener) {
		st := open(t)
		ctx := t.Context()
		u := createUser(t, st, "")
		hash := sha256.Sum256([]byte("secret"))
		before := time.Now()
		tok, err := st.CreateToken(ctx, store.Token{UserID: u.ID, Name: "ci", Hash: hash[:]})
		requireNoError(t, err, "CreateToken")
		if tok.ID == 0 || tok.UserID != u.ID || tok.Name != "ci" {
			t.Fatalf("CreateToken: got %+v", tok)
		}
		requireBetween(t, tok.CreatedAt, before, time.Now(), "CreateToken created_at")

		got, gotUser, err := st.GetTokenByHash(ctx, hash[:])
		requireNoError(t, err, "GetTokenByHash")
		if got.ID != tok.ID || got.UserID != u.ID || got.Name != "ci" || !bytes.Equal(got.Hash, hash[:]) {
			t.Fatalf("GetTokenByHash: got token %+v, want %+v", got, tok)
		}
		if gotUser.ID != u.ID || gotUser.Email != u.Email || gotUser.Role != u.Role {
			t.Fatalf("GetTokenByHash: got user %+v, want %+v", gotUser, u)
		}
		if got.LastUsedAt == nil {
			t.Fatal("GetTokenByHash: last_used_at not recorded")
		}
		requireBetween(t, *got.LastUsedAt, before, time.Now(), "GetTokenByHash last_used_at")

		// The use is recorded in the store, not only in the answer.
		toks, err := st.ListTokens(ctx, u.ID)
		requireNoError(t, err, "ListTokens")
		if len(toks) != 1 || toks[0].LastUsedAt == nil {
			t.Fatalf("ListTokens after use: got %+v, want one token with last_used_at", toks)
		}
	}},
	{"GetByHashNotFound", func(t *testing.T, open opener) {
		st := open(t)
		u := createUser(t, st, "")
		_, err := st.CreateToken(t.Context(), store.Token{UserID: u.ID, Name: "a", Hash: []byte("0123456789abcdef0123456789abcdef")})
		requireNoError(t, err, "CreateToken")
		_, _, err = st.GetTokenByHash(t.Context(), []byte("fedcba9876543210fedcba9876543210"))
		requireErrorIs(t, err, store.ErrNotFound, "GetTokenByHash(unknown)")
	}},
	{"ListTokensPerUser", func(t *testing.T, open opener) {
		st := open(t)
		ctx := t.Context()
		a, b := createUser(t, st, ""), createUser(t, st, "")
		for i, name := range []string{"one", "two"} {
			_, err := st.CreateToken(ctx, store.Token{UserID: a.ID, Name: name, Hash: []byte{'a', byte(i)}})
			requireNoError(t, err, "CreateToken")
		}
		_, err := st.CreateToken(ctx, store.Token{UserID: b.ID, Name: "other", Hash: []byte{'b'}})
		requireNoError(t, err, "CreateToken")

		toks, err := st.ListTokens(ctx, a.ID)
		requireNoError(t, err, "ListTokens")
		if len(toks) != 2 || toks[0].Name != "one" || toks[1].Name != "two" {
			t.Fatalf("ListTokens(a): got %+v, want one and two", toks)
		}
		toks, err = st.ListTokens(ctx, createUser(t, st, "").ID)
		requireNoError(t, err, "ListTokens(none)")
		if len(toks) != 0 {
			t.Fatalf("ListTokens(user without tokens): got %+v", toks)
		}
	}},
	{"DeleteToken", func(t *testing.T, open opener) {
		st := open(t)
		ctx := t.Context()
		owner, other := createUser(t, st, ""), createUser(t, st, "")
		tok, err := st.CreateToken(ctx, store.Token{UserID: owner.ID, Name: "x", Hash: []byte("hash-x")})
		requireNoError(t, err, "CreateToken")

		// Another user cannot delete it, and it survives the attempt.
		err = st.DeleteToken(ctx, other.ID, tok.ID)
		requireErrorIs(t, err, store.ErrNotFound, "DeleteToken(another user's)")
		_, _, err = st.GetTokenByHash(ctx, []byte("hash-x"))
		requireNoError(t, err, "GetTokenByHash after foreign delete")

		requireNoError(t, st.DeleteToken(ctx, owner.ID, tok.ID), "DeleteToken")
		_, _, err = st.GetTokenByHash(ctx, []byte("hash-x"))
		requireErrorIs(t, err, store.ErrNotFound, "GetTokenByHash after delete")
		err = st.DeleteToken(ctx, owner.ID, tok.ID)
		requireErrorIs(t, err, store.ErrNotFound, "DeleteToken twice")
	}},
}
