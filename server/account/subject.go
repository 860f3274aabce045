package account

import (
	"context"
	"crypto/rand"
	"encoding/base64"
)

// NewSubject returns a new subject id: 16 bytes from crypto/rand (128
// bits, so that two accounts never draw the same one), in base64url. An
// account gets one when it is created and keeps it for life; applications
// signing people in through Sésame know a person by it (OpenID Connect's
// sub). It says nothing about the person: the identifier, which a school
// may rename, and SESAME_SECRET, which a school may change, play no part.
func NewSubject() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand never fails; it crashes the program instead
	return base64.RawURLEncoding.EncodeToString(b)
}

// SubjectAssigner gives a subject id to accounts created before subject
// ids existed.
type SubjectAssigner interface {
	// AssignSubject gives the account id the subject candidate unless it
	// already has one, and returns the one it keeps: concurrent calls with
	// different candidates, on any instance sharing the store, all return
	// the same value. ErrNotFound when there is no such account.
	AssignSubject(ctx context.Context, id, candidate string) (string, error)
}

// SubjectOf returns a's subject id, giving it one first if it has none
// (an account created before subject ids existed).
func SubjectOf(ctx context.Context, s SubjectAssigner, a Account) (string, error) {
	if a.Subject != "" {
		return a.Subject, nil
	}
	return s.AssignSubject(ctx, a.ID, NewSubject())
}
